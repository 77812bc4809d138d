/**
 * The affine map of a dense layer as one op: `act(x·w + b)` for x [N, K], w [K, O] and
 * b [O] (PyTorch's `F.linear` with the activation fused; Knet writes `f.(w*x .+ b)`). On
 * the GPU the bias and relu are applied by the GEMM kernel as it writes its output (the
 * EPI epilogue of kernels/gemm*.wgsl), so the forward pass is one dispatch instead of
 * three. The backward pass is the composition's: relu's gradient (from the output: y > 0
 * exactly where x·w + b > 0), two GEMMs and the bias's column sum.
 *
 * On the CPU (both backends, f32 and f64) it is that composition of gemm, add and relu.
 *
 * @module
 */

import { checkInputs, defineOp, describe, getOp, runOp } from "./registry.ts";
import { gemm, type GemmAttrs, gemmGpu } from "./matmul.ts";
import { add, relu } from "./math.ts";
import { sum } from "./reduce.ts";
import type { Tensor } from "../tensor/tensor.ts";

/** The activations {@link linear} fuses. */
export type LinearActivation = "identity" | "relu";

interface LinearAttrs {
  gemm: GemmAttrs;
  activation: LinearActivation;
}

/** `act(z + b)` from ops, consuming z: the composed form of the fused layer ops. */
export function addBiasAct(z: Tensor, b: Tensor, activation: LinearActivation): Tensor {
  const zb = add(z, b);
  z.dispose();
  if (activation === "identity") return zb;
  const y = relu(zb);
  zb.dispose();
  return y;
}

/**
 * The gradient at the pre-activation z given the output y = act(z): dy itself for
 * "identity"; for relu, dy where y > 0 (exactly where z > 0; NaN: neither), from y alone.
 */
export function preActivationGrad(dy: Tensor, y: Tensor, activation: LinearActivation): Tensor {
  return activation === "relu" ? getOp("relu").backward!(dy, [y], y, {}, [true])[0]! : dy;
}

function composed([x, w, b]: readonly Tensor[], a: LinearAttrs): Tensor {
  return addBiasAct(gemm(x, w), b, a.activation);
}

const linearOp = defineOp<LinearAttrs>({
  name: "linear",
  cpu: composed,
  wasm: composed,
  gpu: ([x, w, b], a) => gemmGpu([x, w], a.gemm, { bias: b, relu: a.activation === "relu" }),
  backward: (dy, [x, w], y, a, needs) => {
    const dz = preActivationGrad(dy, y, a.activation);
    const dx = needs[0] ? gemm(dz, w, { transB: true }) : null;
    const dw = needs[1] ? gemm(x, dz, { transA: true }) : null;
    const db = needs[2] ? sum(dz, 0) : null;
    if (dz !== dy) dz.dispose();
    return [dx, dw, db];
  },
});

/**
 * `act(x·w + b)`: x [N, K], w [K, O], b [O] → [N, O], with `activation` "identity"
 * (default) or "relu", differentiable in all three. One GPU dispatch forward (see the
 * module doc). Errors name the shapes.
 */
export function linear(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  activation: LinearActivation = "identity",
): Tensor {
  checkInputs("linear", [x, w, b]);
  if (
    x.rank !== 2 || w.rank !== 2 || b.rank !== 1 || x.shape[1] !== w.shape[0] ||
    b.shape[0] !== w.shape[1]
  ) {
    throw new Error(
      `linear: expected x [N, K], w [K, O] and b [O], got x ${describe(x)}, w ${describe(w)}, ` +
        `b ${describe(b)}`,
    );
  }
  if (activation !== "identity" && activation !== "relu") {
    throw new Error(`linear: unknown activation "${activation}" (expected "identity" or "relu")`);
  }
  const [M, K] = x.shape;
  const N = w.shape[1];
  const g: GemmAttrs = {
    M,
    N,
    K,
    batch: 1,
    strideA: 0,
    strideB: 0,
    transA: false,
    transB: false,
    alpha: 1,
    beta: 0,
    outShape: [M, N],
  };
  return runOp(linearOp, [x, w, b], { gemm: g, activation });
}
