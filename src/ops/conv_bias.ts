/**
 * A convolution layer's forward map as one op: `act(conv4(w, x) + b)` with one bias per
 * output channel (b [1, O, 1, 1], Knet's layout, or [O]). On the GPU (im2col, one group)
 * the GEMM adds the bias and applies relu as it writes y (the per-row EPI epilogue of
 * kernels/gemm*.wgsl), so the forward pass is im2col + one GEMM per batch chunk instead
 * of that plus a broadcast add and a relu pass. The backward pass is the composition's:
 * relu's gradient from the output, the bias's sum over batch and space, and conv4's own
 * gradients.
 *
 * Elsewhere (the CPU, the naive GPU algorithm, grouped convolutions) it is that
 * composition.
 *
 * @module
 */

import type { Tensor } from "../tensor/tensor.ts";
import { conv4Op, type ConvGeom, convGeom, type ConvOptions, fwdGpu, keepColsFor } from "./conv.ts";
import { sum } from "./reduce.ts";
import { defineOp, describe, runOp } from "./registry.ts";
import { addBiasAct, type LinearActivation, preActivationGrad } from "./linear.ts";

interface ConvBiasAttrs {
  g: ConvGeom;
  activation: LinearActivation;
}

function composed([w, x, b]: readonly Tensor[], a: ConvBiasAttrs): Tensor {
  const b4 = b.reshape(1, a.g.O, 1, 1);
  try {
    return addBiasAct(runOp(conv4Op, [w, x], a.g), b4, a.activation);
  } finally {
    if (b4 !== b) b4.dispose();
  }
}

const convBiasOp = defineOp<ConvBiasAttrs>({
  name: "conv4_bias",
  cpu: composed,
  wasm: composed,
  gpu: (inputs, a) =>
    a.g.algo === "im2col" && a.g.G === 1
      ? fwdGpu(inputs, a.g, { bias: inputs[2], relu: a.activation === "relu", perRow: true })
      : composed(inputs, a),
  backward: (dy, [w, x, b], y, a, needs) => {
    const dz = preActivationGrad(dy, y, a.activation);
    const [dw, dx] = needs[0] || needs[1]
      ? conv4Op.backward!(dz, [w, x], y, a.g, [needs[0], needs[1]])
      : [null, null];
    // The sum over batch and space: on the GPU one gathering pass (see reduce.ts); on the
    // CPU over space (contiguous rows), then over the batch, which beats a permute there.
    let db: Tensor | null = null;
    if (needs[2]) {
      const perImage = dz.device === "gpu" ? null : sum(dz, [2, 3]);
      const total = perImage ? sum(perImage, 0) : sum(dz, [0, 2, 3]);
      perImage?.dispose();
      db = total.reshape(...b.shape);
      if (db !== total) total.dispose();
    }
    if (dz !== dy) dz.dispose();
    return [dw, dx, db];
  },
});

/**
 * `act(conv4(w, x, opts) + b)` for a bias of one value per output channel (b [1, O, 1, 1]
 * or [O]) and `activation` "identity" (default) or "relu": a convolution layer's forward
 * map, one GEMM per batch chunk on the GPU (see the module doc). Differentiable in w, x
 * and b; conv4's errors, plus one naming a bias of the wrong size.
 */
export function conv4Bias(
  w: Tensor,
  x: Tensor,
  b: Tensor,
  opts: ConvOptions = {},
  activation: LinearActivation = "identity",
): Tensor {
  const g = keepColsFor(convGeom("conv4Bias", w, x, opts), w);
  if (b.size !== g.O || !(b.rank === 1 || (b.rank === 4 && b.shape[1] === g.O))) {
    throw new Error(
      `conv4Bias: the bias must be [1, ${g.O}, 1, 1] or [${g.O}] (one per output channel of ` +
        `w ${describe(w)}), got b ${describe(b)}`,
    );
  }
  if (activation !== "identity" && activation !== "relu") {
    throw new Error(
      `conv4Bias: unknown activation "${activation}" (expected "identity" or "relu")`,
    );
  }
  return runOp(convBiasOp, [w, x, b], { g, activation });
}
