/**
 * Elementwise select: `where(c, a, b)` is `c ≠ 0 ? a : b` element by element (PyTorch's
 * `torch.where`, NumPy's `np.where`), differentiable in `a` and `b`; `whereInto(c, a, out)`
 * is the in-place `out ← c ≠ 0 ? a : out` the solvers use for their device-side decisions
 * (one dispatch, no host sync). GPU: kernels/where.wgsl; the CPU twin below serves both the
 * reference and the CPU backend (a memory-bound loop over host arrays).
 *
 * A NaN condition counts as true (it is not 0). Only the chosen value is read: a NaN in
 * the branch not taken does not reach the result, and its gradient there is 0.
 *
 * @module
 */

import { gpuRuntime } from "../gpu/runtime.ts";
import { grid2d, UniformWriter } from "../gpu/uniforms.ts";
import { full } from "../tensor/create.ts";
import { broadcastShapes, fmtShape } from "../tensor/shape.ts";
import { emptyGpu, Tensor } from "../tensor/tensor.ts";
import { unbroadcast } from "./reduce.ts";
import { checkInputs, defineOp, runOp } from "./registry.ts";
import { broadcastTo } from "./shape.ts";

interface WhereAttrs {
  /** Output elements. */
  n: number;
  /** Output shape. */
  shape: readonly number[];
}

/** The element of a length-`len` operand (len 1: broadcast) for output `i`. */
const at = (len: number, i: number) => (len === 1 ? 0 : i);

const whereOp = defineOp<WhereAttrs>({
  name: "where",
  cpu: ([c, a, b], w) => {
    const cs = c.host("where"), as = a.host("where"), bs = b.host("where");
    const out = a.dtype === "f64" ? new Float64Array(w.n) : new Float32Array(w.n);
    for (let i = 0; i < w.n; i++) {
      out[i] = cs[at(c.size, i)] !== 0 ? as[at(a.size, i)] : bs[at(b.size, i)];
    }
    return new Tensor(w.shape, a.dtype, out);
  },
  gpu: ([c, a, b], w) => {
    const out = emptyGpu(w.shape);
    if (w.n === 0) return out;
    gpuRuntime().dispatch({
      kernel: "where",
      uniforms: new UniformWriter().u32(w.n).u32(c.size).u32(a.size).u32(b.size).build(),
      buffers: [c.binding("where"), a.binding("where"), b.binding("where"), out.binding("where")],
      workgroups: grid2d(Math.ceil(w.n / 256)),
    });
    return out;
  },
  backward: (dy, [c, a, b], _y, _w, needs) => {
    const zero = full([1], 0, { dtype: dy.dtype, device: dy.device });
    try {
      const part = (first: Tensor, second: Tensor, shape: readonly number[]) => {
        const g = where(c, first, second);
        const r = unbroadcast(g, shape);
        if (r !== g) g.dispose();
        return r;
      };
      return [
        null,
        needs[1] ? part(dy, zero, a.shape) : null,
        needs[2] ? part(zero, dy, b.shape) : null,
      ];
    } finally {
      zero.dispose();
    }
  },
});

/** `x` with `n` elements or one, else broadcast (materialised) to `shape`. */
function operand(x: Tensor, shape: readonly number[], n: number): [Tensor, boolean] {
  if (x.size === n || x.size === 1) return [x, false];
  return [broadcastTo(x, shape), true];
}

/**
 * `c ≠ 0 ? a : b` elementwise, with NumPy broadcasting of the three shapes (numbers are
 * scalars of `c`'s dtype and device). Differentiable in `a` and `b` (the gradient flows to
 * the branch chosen at each element); `c` gets none.
 *
 * ```ts
 * const y = where(greater(x, 0), x, 0); // relu
 * ```
 */
export function where(c: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  if (!(c instanceof Tensor)) throw new Error("where: the condition must be a Tensor");
  const scalar = (v: number) => full([1], v, { dtype: c.dtype, device: c.device });
  const at = typeof a === "number" ? scalar(a) : a;
  const bt = typeof b === "number" ? scalar(b) : b;
  const made: Tensor[] = [];
  if (at !== a) made.push(at);
  if (bt !== b) made.push(bt);
  try {
    checkInputs("where", [c, at, bt]);
    const shape = broadcastShapes(
      "where",
      broadcastShapes("where", c.shape, at.shape),
      bt.shape,
    );
    const n = shape.reduce((p, d) => p * d, 1);
    const ops = [c, at, bt].map((x) => {
      const [t, copied] = operand(x, shape, n);
      if (copied) made.push(t);
      return t;
    });
    return runOp(whereOp, ops, { n, shape });
  } finally {
    made.forEach((t) => t.dispose());
  }
}

interface AssignAttrs {
  /** `out ← c ? out : a` instead of `out ← c ? a : out`. */
  invert: boolean;
}

const whereAssignOp = defineOp<AssignAttrs>({
  name: "where_into",
  inPlace: true,
  cpu: ([c, a, out], w) => {
    const cs = c.host("whereInto"), as = a.host("whereInto"), os = out.host("whereInto");
    for (let i = 0; i < os.length; i++) {
      if ((cs[at(c.size, i)] !== 0) !== w.invert) os[i] = as[at(a.size, i)];
    }
    return out;
  },
  gpu: ([c, a, out], w) => {
    out.invalidateHostMirror();
    if (out.size === 0) return out;
    const rt = gpuRuntime();
    rt.dispatch({
      kernel: "where",
      entryPoint: "assign",
      constants: { INVERT: w.invert },
      uniforms: new UniformWriter().u32(out.size).u32(c.size).u32(a.size).u32(1).build(),
      buffers: [c.binding("whereInto"), a.binding("whereInto"), null, out.binding("whereInto")],
      workgroups: grid2d(Math.ceil(out.size / 256)),
    });
    return out;
  },
});

/**
 * In place: `out ← c ≠ 0 ? a : out` elementwise (with `invert`, `out ← c ≠ 0 ? out : a`),
 * where `c` and `a` have `out`'s number of elements or one. Not recorded (it changes
 * `out`); returns `out`.
 */
export function whereInto(c: Tensor, a: Tensor, out: Tensor, invert = false): Tensor {
  checkInputs("whereInto", [c, a, out]);
  for (const [what, t] of [["c", c], ["a", a]] as const) {
    if (t.size !== out.size && t.size !== 1) {
      throw new Error(
        `whereInto: ${what} ${fmtShape(t.shape)} must have out's ${out.size} elements ` +
          `(${fmtShape(out.shape)}) or one`,
      );
    }
  }
  if (a === out || c === out) throw new Error("whereInto: c and a must not be out itself");
  return runOp(whereAssignOp, [c, a, out], { invert });
}
