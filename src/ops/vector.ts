/**
 * In-place vector ops for solvers (BLAS level 1) on flat tensors of equal size:
 * axpy, axpby, scal, fill, copy; `dot` and `nrm2` live with the reductions. The
 * coefficient may be a number or a 1-element tensor on the same device, so a
 * step length computed on the GPU is used without a host sync. GPU:
 * kernels/vector.wgsl; CPU twins below.
 *
 * @module
 */

import { activeTape } from "../autograd/tape.ts";
import { gpuRuntime } from "../gpu/runtime.ts";
import { grid2d, UniformWriter } from "../gpu/uniforms.ts";
import { fmtShape } from "../tensor/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { checkInputs, defineOp, runOp } from "./registry.ts";

/** The in-place kinds (the override OP in vector.wgsl). */
const VECTOR_KINDS = { axpy: 0, scal: 1, fill: 2, axpby: 3 } as const;
type VectorKind = keyof typeof VECTOR_KINDS;

interface VectorAttrs {
  kind: VectorKind;
  /** Host coefficient (multiplies the device coefficient when there is one). */
  a: number;
  b: number;
  /** Whether inputs include a 1-element coefficient tensor (last input). */
  aOnDevice: boolean;
  /** Whether inputs include x (first input). */
  hasX: boolean;
}

function split(inputs: readonly Tensor[], v: VectorAttrs) {
  let i = 0;
  const x = v.hasX ? inputs[i++] : null;
  const y = inputs[i++];
  const coef = v.aOnDevice ? inputs[i] : null;
  return { x, y, coef };
}

const vectorOp = defineOp<VectorAttrs>({
  name: "vector_inplace",
  inPlace: true,
  cpu: (inputs, v) => {
    const { x, y, coef } = split(inputs, v);
    const ys = y.host(v.kind);
    const xs = x?.host(v.kind);
    const a = v.a * (coef ? coef.host(v.kind)[0] : 1);
    switch (v.kind) {
      case "axpy":
        for (let i = 0; i < ys.length; i++) ys[i] += a * xs![i];
        break;
      case "scal":
        for (let i = 0; i < ys.length; i++) ys[i] *= a;
        break;
      case "fill":
        ys.fill(a);
        break;
      case "axpby":
        for (let i = 0; i < ys.length; i++) ys[i] = a * xs![i] + v.b * ys[i];
        break;
    }
    return y;
  },
  gpu: (inputs, v) => {
    const { x, y, coef } = split(inputs, v);
    y.invalidateHostMirror();
    if (y.size === 0) return y;
    const rt = gpuRuntime();
    rt.dispatch({
      kernel: "vector",
      constants: { OP: VECTOR_KINDS[v.kind], A_ON_DEVICE: v.aOnDevice },
      uniforms: new UniformWriter().u32(y.size).f32(v.a).f32(v.b).build(),
      buffers: [
        x ? x.binding(v.kind) : rt.dummy,
        coef ? coef.binding(v.kind) : rt.dummy,
        y.binding(v.kind),
      ],
      workgroups: grid2d(Math.ceil(y.size / 256)),
    });
    return y;
  },
});

function run(kind: VectorKind, a: number | Tensor, x: Tensor | null, y: Tensor, b = 0): Tensor {
  const inputs = [...(x ? [x] : []), y, ...(typeof a === "number" ? [] : [a])];
  checkInputs(kind, inputs);
  if (x && x.size !== y.size) {
    throw new Error(`${kind}: x ${fmtShape(x.shape)} and y ${fmtShape(y.shape)} differ in length`);
  }
  if (x === y) throw new Error(`${kind}: x and y must be different tensors`);
  if (typeof a !== "number" && a.size !== 1) {
    throw new Error(
      `${kind}: a device coefficient must have one element, got ${fmtShape(a.shape)}`,
    );
  }
  return runOp(vectorOp, inputs, {
    kind,
    a: typeof a === "number" ? a : 1,
    b,
    aOnDevice: typeof a !== "number",
    hasX: x !== null,
  });
}

/** y ← a·x + y, in place. Returns y. */
export function axpy(a: number | Tensor, x: Tensor, y: Tensor): Tensor {
  return run("axpy", a, x, y);
}

/** y ← a·x + b·y, in place. Returns y. */
export function axpby(a: number | Tensor, x: Tensor, b: number, y: Tensor): Tensor {
  return run("axpby", a, x, y, b);
}

/** x ← a·x, in place. Returns x. */
export function scal(a: number | Tensor, x: Tensor): Tensor {
  return run("scal", a, null, x);
}

/** x ← v everywhere, in place. Returns x. */
export function fill(x: Tensor, v: number | Tensor): Tensor {
  return run("fill", v, null, x);
}

/** dst ← src (equal sizes, same device), in place. Returns dst. */
export function copyInto(src: Tensor, dst: Tensor): Tensor {
  checkInputs("copy", [src, dst]);
  if (src.size !== dst.size) {
    throw new Error(
      `copy: src ${fmtShape(src.shape)} and dst ${fmtShape(dst.shape)} differ in length`,
    );
  }
  if (activeTape()?.tracks(dst)) {
    throw new Error(
      "copy: in-place update of a tensor that diff is recording; use out-of-place ops inside diff",
    );
  }
  if (src === dst) return dst;
  if (src.device === "cpu") {
    dst.host("copy").set(src.host("copy"));
  } else if (src.size > 0) {
    dst.invalidateHostMirror();
    gpuRuntime().copy(
      src.buffer("copy"),
      src.byteOffset("copy"),
      dst.buffer("copy"),
      dst.byteOffset("copy"),
      src.size * 4,
    );
  }
  return dst;
}
