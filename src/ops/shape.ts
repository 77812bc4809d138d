/**
 * Data-movement ops: permute/transpose, slicing, concatenation and broadcastTo. All are
 * one strided copy (kernels/strided_copy.wgsl on the GPU, {@link stridedCopyCpu} on the
 * CPU) with different offsets and strides. `reshape` is a view: see Tensor.reshape.
 *
 * @module
 */

import { gpuRuntime } from "../gpu/runtime.ts";
import { grid2d, UniformWriter } from "../gpu/uniforms.ts";
import {
  broadcastShapes,
  broadcastStrides,
  checkRank,
  fmtShape,
  normalizeAxis,
  stridesOf,
} from "../tensor/shape.ts";
import {
  checkShape,
  emptyGpu,
  type HostArray,
  hostArray,
  shapeSize,
  Tensor,
} from "../tensor/tensor.ts";
import { unbroadcast } from "./reduce.ts";
import { checkInputs, defineOp, runOp } from "./registry.ts";
import { type KernelCall, kernelCall } from "../cpu/call.ts";
import { fill } from "./vector.ts";

/** A strided view description: which elements of the source, in which order. */
interface StridedRead {
  /** Output shape. */
  shape: number[];
  /** Source offset, in elements. */
  offset: number;
  /** Source strides per output dimension. */
  strides: number[];
  /** Set by broadcastTo: elements are read several times (zero strides). */
  broadcast?: boolean;
}

/** Where a strided read's gradient goes: the source shape and the read's layout. */
interface StridedWrite extends StridedRead {
  /** Shape of the tensor written (the read's source). */
  target: number[];
}

/**
 * Writes a [shape] tensor into a new tensor of shape `target` at `offset` + Σ t·strides
 * (the gradient of a one-to-one strided read: permute, slice, flip, clone); elements not
 * written are zero.
 */
const scatterOp = defineOp<StridedWrite>({
  name: "strided_write",
  wasm: ([dy], w) =>
    kernelCall("strided_write", (k) => {
      const [dx, pdx] = k.out(w.target);
      // a permutation writes every element; a slice leaves the rest at zero
      if (dy.size !== dx.size) dx.host().fill(0);
      stridedCopyWasm(k, dy, 0, stridesOf(w.shape), pdx, w.offset, w.strides, w.shape);
      return dx;
    }),
  cpu: ([dy], w) => {
    const out = hostArray(dy.dtype, shapeSize(w.target));
    stridedCopyCpu(
      dy.host("strided_write"),
      0,
      stridesOf(w.shape),
      out,
      w.offset,
      w.strides,
      w.shape,
    );
    return new Tensor(w.target, dy.dtype, out);
  },
  gpu: ([dy], w) => {
    const dx = emptyGpu(w.target);
    if (dx.size === 0) return dx;
    // A permutation writes every element; a slice leaves the rest at zero.
    if (dy.size !== dx.size) fill(dx, 0);
    stridedCopyGpu("strided_write", dy, 0, stridesOf(w.shape), dx, w.offset, w.strides, w.shape);
    return dx;
  },
});

/** Copies `src[offset + Σ t·xs]` to `dst[dOffset + Σ t·ys]` for every index t of `shape`. */
export function stridedCopyCpu(
  src: HostArray,
  xOffset: number,
  xStrides: readonly number[],
  dst: HostArray,
  yOffset: number,
  yStrides: readonly number[],
  shape: readonly number[],
): void {
  const n = shapeSize(shape);
  if (n === 0) return;
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let ix = xOffset;
  let iy = yOffset;
  for (let i = 0; i < n; i++) {
    dst[iy] = src[ix];
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      ix += xStrides[d];
      iy += yStrides[d];
      if (idx[d] < shape[d]) break;
      ix -= xStrides[d] * shape[d];
      iy -= yStrides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

/**
 * Encodes a strided copy between two GPU buffers. Strides may be negative: the kernel
 * works in wrapping u32 arithmetic, so `offset + idx·(stride mod 2³²)` lands right.
 */
export function stridedCopyGpu(
  op: string,
  src: Tensor,
  xOffset: number,
  xStrides: readonly number[],
  dst: Tensor,
  yOffset: number,
  yStrides: readonly number[],
  shape: readonly number[],
): void {
  const n = shapeSize(shape);
  if (n === 0) return;
  checkRank(op, shape);
  const w = new UniformWriter().u32(n).u32(shape.length).u32(xOffset).u32(yOffset);
  w.u32Array(shape, 8).u32Array(xStrides, 8).u32Array(yStrides, 8);
  gpuRuntime().dispatch({
    kernel: "strided_copy",
    uniforms: w.build(),
    buffers: [src.binding(op), dst.binding(op)],
    workgroups: grid2d(Math.ceil(n / 256)),
  });
}

/**
 * CPU backend twin of {@link stridedCopyCpu} (kernels/cpu/copy.c) between f32 tensors;
 * `dst` must be a heap tensor fresh from the caller's {@link KernelCall}.
 */
function stridedCopyWasm(
  k: KernelCall,
  src: Tensor,
  xOffset: number,
  xStrides: readonly number[],
  pdst: number,
  yOffset: number,
  yStrides: readonly number[],
  shape: readonly number[],
): void {
  const n = shapeSize(shape);
  if (n === 0) return;
  k.run("strided_copy", [
    n,
    shape.length,
    k.ints(shape),
    k.in(src),
    xOffset,
    k.ints(xStrides),
    pdst,
    yOffset,
    k.ints(yStrides),
  ], n);
}

const gatherOp = defineOp<StridedRead>({
  name: "strided_read",
  wasm: ([x], r) =>
    kernelCall("strided_read", (k) => {
      const [y, py] = k.out(r.shape);
      stridedCopyWasm(k, x, r.offset, r.strides, py, 0, stridesOf(r.shape), r.shape);
      return y;
    }),
  cpu: ([x], r) => {
    const out = hostArray(x.dtype, shapeSize(r.shape));
    stridedCopyCpu(
      x.host("strided_read"),
      r.offset,
      r.strides,
      out,
      0,
      stridesOf(r.shape),
      r.shape,
    );
    return new Tensor(r.shape, x.dtype, out);
  },
  gpu: ([x], r) => {
    const y = emptyGpu(r.shape);
    stridedCopyGpu("strided_read", x, r.offset, r.strides, y, 0, stridesOf(r.shape), r.shape);
    return y;
  },
  backward: (dy, [x], _y, r) => [
    r.broadcast ? unbroadcast(dy, x.shape) : runOp(scatterOp, [dy], { ...r, target: [...x.shape] }),
  ],
});

/** Reorders dimensions: `permute(x, [2, 0, 1])` (output dim i is input dim perm[i]). */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  checkInputs("permute", [x]);
  if (perm.length !== x.rank) {
    throw new Error(
      `permute: permutation [${perm.join(",")}] does not match rank ${x.rank} of ${
        fmtShape(x.shape)
      }`,
    );
  }
  const norm = perm.map((d) => normalizeAxis("permute", d, x.rank));
  if (new Set(norm).size !== norm.length) {
    throw new Error(`permute: [${perm.join(",")}] is not a permutation`);
  }
  const s = stridesOf(x.shape);
  return runOp(gatherOp, [x], {
    shape: norm.map((d) => x.shape[d]),
    offset: 0,
    strides: norm.map((d) => s[d]),
  });
}

/** Swaps two dimensions (default the last two; a rank-0/1 tensor is returned as a view). */
export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  if (x.rank < 2) return x.reshape(x.shape);
  const a = normalizeAxis("transpose", dim0, x.rank);
  const b = normalizeAxis("transpose", dim1, x.rank);
  const perm = x.shape.map((_, i) => i);
  [perm[a], perm[b]] = [perm[b], perm[a]];
  return permute(x, perm);
}

/** A slice along one dimension: an index (drops the dimension), a range, or null (all). */
export type SliceSpec = number | null | readonly [number?, number?, number?];

/**
 * Python-style slicing: `slice(x, [0, [1, 3], null, [null, null, -1]])`. Each spec is
 * an integer index (negative counts from the end; drops that dimension), `[start, stop,
 * step]` with any part omitted/undefined (clamped like Python), or null for the whole
 * dimension. Missing trailing specs take whole dimensions.
 */
export function slice(x: Tensor, specs: readonly SliceSpec[]): Tensor {
  checkInputs("slice", [x]);
  if (specs.length > x.rank) {
    throw new Error(
      `slice: ${specs.length} slice specs for a tensor of rank ${x.rank} ${fmtShape(x.shape)}`,
    );
  }
  const s = stridesOf(x.shape);
  let offset = 0;
  const shape: number[] = [];
  const strides: number[] = [];
  x.shape.forEach((n, d) => {
    const spec = specs[d] ?? null;
    if (typeof spec === "number") {
      if (!Number.isInteger(spec) || spec < -n || spec >= n) {
        throw new Error(`slice: index ${spec} is out of range for dimension ${d} of size ${n}`);
      }
      offset += (spec < 0 ? spec + n : spec) * s[d];
      return;
    }
    const [start, stop, step = 1] = spec ?? [];
    if (!Number.isInteger(step) || step === 0) {
      throw new Error(`slice: step must be a non-zero integer in dimension ${d}, got ${step}`);
    }
    const clamp = (v: number | undefined | null, dflt: number, lo: number, hi: number) => {
      if (v === undefined || v === null) return dflt;
      if (!Number.isInteger(v)) {
        throw new Error(`slice: bound ${v} in dimension ${d} is not an integer`);
      }
      const w = v < 0 ? v + n : v;
      return Math.min(Math.max(w, lo), hi);
    };
    const b = step > 0 ? clamp(start, 0, 0, n) : clamp(start, n - 1, -1, n - 1);
    const e = step > 0 ? clamp(stop, n, 0, n) : clamp(stop, -1, -1, n - 1);
    const len = Math.max(0, Math.ceil((e - b) / step));
    if (len > 0) offset += b * s[d];
    shape.push(len);
    strides.push(step * s[d]);
  });
  if (shapeSize(shape) === 0) offset = 0;
  return runOp(gatherOp, [x], { shape, offset, strides });
}

/** Reverses the order of elements along the given dimensions. */
export function flip(x: Tensor, dims: number | readonly number[]): Tensor {
  const list = (typeof dims === "number" ? [dims] : [...dims]).map((d) =>
    normalizeAxis("flip", d, x.rank)
  );
  return slice(
    x,
    x.shape.map((_, d) => (list.includes(d) ? [undefined, undefined, -1] as const : null)),
  );
}

const concatOp = defineOp<{ axis: number }>({
  name: "concat",
  backward: (dy, xs, _y, { axis }, needs) => {
    let at = 0;
    return xs.map((x, i) => {
      const part = needs[i]
        ? slice(dy, dy.shape.map((_, d) => (d === axis ? [at, at + x.shape[axis]] as const : null)))
        : null;
      at += x.shape[axis];
      return part;
    });
  },
  wasm: (xs, { axis }) =>
    kernelCall("concat", (k) => {
      const shape = concatShape(xs, axis);
      const [y, py] = k.out(shape);
      const ys = stridesOf(shape);
      let at = 0;
      for (const x of xs) {
        stridedCopyWasm(k, x, 0, stridesOf(x.shape), py, at * ys[axis], ys, x.shape);
        at += x.shape[axis];
      }
      return y;
    }),
  cpu: (xs, { axis }) => {
    const shape = concatShape(xs, axis);
    const out = hostArray(xs[0].dtype, shapeSize(shape));
    const ys = stridesOf(shape);
    let at = 0;
    for (const x of xs) {
      stridedCopyCpu(x.host("concat"), 0, stridesOf(x.shape), out, at * ys[axis], ys, x.shape);
      at += x.shape[axis];
    }
    return new Tensor(shape, xs[0].dtype, out);
  },
  gpu: (xs, { axis }) => {
    const shape = concatShape(xs, axis);
    const y = emptyGpu(shape);
    const ys = stridesOf(shape);
    let at = 0;
    for (const x of xs) {
      stridedCopyGpu("concat", x, 0, stridesOf(x.shape), y, at * ys[axis], ys, x.shape);
      at += x.shape[axis];
    }
    return y;
  },
});

function concatShape(xs: readonly Tensor[], axis: number): number[] {
  const ref = xs[0].shape;
  let total = 0;
  for (const x of xs) {
    if (x.rank !== ref.length || x.shape.some((d, i) => i !== axis && d !== ref[i])) {
      throw new Error(
        `concat: shapes ${xs.map((t) => fmtShape(t.shape)).join(", ")} differ outside axis ${axis}`,
      );
    }
    total += x.shape[axis];
  }
  const shape = [...ref];
  shape[axis] = total;
  return shape;
}

/** Concatenates tensors along an existing axis (default 0). */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new Error("concat: no tensors given");
  if (xs[0].rank === 0) {
    throw new Error("concat: cannot concatenate scalars (shape []); reshape them to [1] first");
  }
  const a = normalizeAxis("concat", axis, xs[0].rank);
  return runOp(concatOp, xs, { axis: a });
}

/** Materialises `x` broadcast to `shape` (NumPy rules). */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  checkInputs("broadcastTo", [x]);
  checkShape("broadcastTo", shape);
  const full = broadcastShapes("broadcastTo", x.shape, shape);
  if (full.length !== shape.length || full.some((d, i) => d !== shape[i])) {
    throw new Error(`broadcastTo: cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  }
  return runOp(gatherOp, [x], {
    shape: [...shape],
    offset: 0,
    strides: broadcastStrides(x.shape, shape),
    broadcast: true,
  });
}

/** A contiguous copy of a tensor on the same device. */
export function clone(x: Tensor): Tensor {
  checkInputs("clone", [x]);
  return runOp(gatherOp, [x], { shape: [...x.shape], offset: 0, strides: stridesOf(x.shape) });
}
