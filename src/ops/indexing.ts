/**
 * Indexing ops: {@link take} gathers slices by integer indices along one axis (Knet's
 * `x[:, idx]`, an embedding lookup), with a deterministic scatter-add as its gradient;
 * {@link mat} flattens a tensor to a matrix (Knet's `mat`). GPU: kernels/gather.wgsl
 * (entry points `main` and `scatter_add`); CPU twins {@link takeCpu} and
 * {@link scatterAddCpu}.
 *
 * Indices are 0-based integers stored as floats (f32 holds integers exactly up to 2²⁴).
 *
 * @module
 */

import { gpuProfile } from "../gpu/profile.ts";
import { kernelCall } from "../cpu/call.ts";
import { gpuRuntime } from "../gpu/runtime.ts";
import { grid2d, UniformWriter } from "../gpu/uniforms.ts";
import { fromArray } from "../tensor/create.ts";
import { fmtShape, normalizeAxis } from "../tensor/shape.ts";
import { emptyGpu, hostArray, shapeSize, Tensor } from "../tensor/tensor.ts";
import { checkInputs, defineOp, describe, runOp } from "./registry.ts";

/** Attrs of the gather (take) and scatter-add (take_grad) ops: x viewed as [outer, n, inner]. */
export interface TakeAttrs {
  /** The (normalised) axis indexed. */
  axis: number;
  /** Shape of the indexed tensor x. */
  xShape: readonly number[];
  /** Shape of the index tensor. */
  idxShape: readonly number[];
}

/** [outer, n, inner] of `xShape` around `axis`, and the number of indices m. */
function dims(a: TakeAttrs): { outer: number; n: number; inner: number; m: number } {
  return {
    outer: shapeSize(a.xShape.slice(0, a.axis)),
    n: a.xShape[a.axis],
    inner: shapeSize(a.xShape.slice(a.axis + 1)),
    m: shapeSize(a.idxShape),
  };
}

/** Output shape of take: x.shape[:axis] ++ idx.shape ++ x.shape[axis+1:]. */
function takeShape(a: TakeAttrs): number[] {
  return [...a.xShape.slice(0, a.axis), ...a.idxShape, ...a.xShape.slice(a.axis + 1)];
}

/** Whether `k` is a valid index along an axis of length n (the kernel's `valid`). */
function validIndex(k: number, n: number): boolean {
  return k >= 0 && k < n && Math.floor(k) === k;
}

/** Largest integer that f32 (the GPU's index type) holds exactly, with all below it. */
const F32_EXACT = 16777216;

/**
 * Throws unless every index is an integer in [0, n) and, for a GPU x (`f32` true), at
 * most 2²⁴ (larger ones would round to a neighbouring index when stored as f32).
 */
function checkIndices(
  op: string,
  idx: ArrayLike<number>,
  n: number,
  x: readonly number[],
  axis: number,
  f32: boolean,
): void {
  for (let j = 0; j < idx.length; j++) {
    const k = idx[j];
    if (!validIndex(k, n)) {
      throw new Error(
        `${op}: index ${k} (at position ${j}) is ${
          Number.isInteger(k) ? "out of range" : "not an integer"
        } for axis ${axis} of size ${n} (x ${fmtShape(x)}); indices are 0-based`,
      );
    }
    if (f32 && k > F32_EXACT) {
      throw new Error(
        `${op}: index ${k} (at position ${j}) exceeds 2^24, the largest index f32 holds ` +
          `exactly on the gpu (axis ${axis} of size ${n}, x ${fmtShape(x)})`,
      );
    }
  }
}

/**
 * CPU twin of gather.wgsl `main`: y[o, j, i] = x[o, idx[j], i]. Invalid indices read
 * as 0 (the public {@link take} rejects them before they get here).
 */
export function takeCpu(x: Tensor, idx: Tensor, a: TakeAttrs): Tensor {
  const { outer, n, inner, m } = dims(a);
  const xs = x.host("take");
  const ks = idx.host("take");
  const out = hostArray(x.dtype, outer * m * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      const k = ks[j];
      if (!validIndex(k, n)) continue;
      const src = (o * n + k) * inner;
      const dst = (o * m + j) * inner;
      for (let i = 0; i < inner; i++) out[dst + i] = xs[src + i];
    }
  }
  return new Tensor(takeShape(a), x.dtype, out);
}

/**
 * CPU twin of gather.wgsl `scatter_add`: dx[o, k, i] = Σ_{j: idx[j] = k} dy[o, j, i],
 * summed in increasing j (invalid indices are skipped).
 */
export function scatterAddCpu(dy: Tensor, idx: Tensor, a: TakeAttrs): Tensor {
  const { outer, n, inner, m } = dims(a);
  const ds = dy.host("take_grad");
  const ks = idx.host("take_grad");
  const out = hostArray(dy.dtype, outer * n * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      const k = ks[j];
      if (!validIndex(k, n)) continue;
      const dst = (o * n + k) * inner;
      const src = (o * m + j) * inner;
      for (let i = 0; i < inner; i++) out[dst + i] += ds[src + i];
    }
  }
  return new Tensor(a.xShape, dy.dtype, out);
}

function gatherUniforms(a: TakeAttrs, jBegin = 0, jEnd = 0): ArrayBuffer {
  const { outer, n, inner, m } = dims(a);
  return new UniformWriter().u32(outer).u32(n).u32(m).u32(inner).u32(jBegin).u32(jEnd).build();
}

/** The gradient of take: scatter-add of dy (inputs [dy, idx]) into zeros of x's shape. */
/**
 * CPU backend twins of {@link takeCpu} and {@link scatterAddCpu} (kernels/cpu/gather.c
 * `take` / `scatter_add`, bitwise equal): `input` is x or dy.
 */
function gatherWasm(kernel: "take" | "scatter_add", input: Tensor, idx: Tensor, a: TakeAttrs) {
  const op = kernel === "take" ? "take" : "take_grad";
  return kernelCall(op, (k) => {
    const [y, py] = k.out(kernel === "take" ? takeShape(a) : a.xShape);
    if (y.size === 0) return y;
    const { outer, n, inner, m } = dims(a);
    const px = input.size > 0 ? k.in(input) : 0;
    const pi = idx.size > 0 ? k.in(idx) : 0;
    // take reads only the rows it copies; scatter_add zeroes dx and reads all of dy.
    const work = kernel === "take" ? 2 * y.size : y.size + input.size;
    k.run(kernel, [k.ints([outer, n, inner, m]), px, pi, py], work);
    return y;
  });
}

const scatterAddOp = defineOp<TakeAttrs>({
  name: "take_grad",
  cpu: ([dy, idx], a) => scatterAddCpu(dy, idx, a),
  wasm: ([dy, idx], a) => gatherWasm("scatter_add", dy, idx, a),
  gpu: ([dy, idx], a) => {
    const dx = emptyGpu(a.xShape);
    if (dx.size === 0) return dx;
    const { outer, inner, m } = dims(a);
    const rt = gpuRuntime();
    rt.clear(dx.buffer("take_grad"), dx.byteOffset("take_grad"), dx.size * 4);
    // Slices of the index list, in order, each adding onto dx (zeroed just above): each
    // invocation loops over its slice's indices, bounded on software adapters.
    const slice = gpuProfile().scatterSlice;
    for (let j0 = 0; j0 < m; j0 += slice) {
      rt.dispatch({
        kernel: "gather",
        entryPoint: "scatter_add",
        uniforms: gatherUniforms(a, j0, Math.min(m, j0 + slice)),
        buffers: [dy.binding("take_grad"), idx.binding("take_grad"), dx.binding("take_grad")],
        workgroups: grid2d(Math.ceil((outer * inner) / 64)),
      });
    }
    return dx;
  },
});

/** Gather along an axis (inputs [x, idx]); the index input gets no gradient. */
const takeOp = defineOp<TakeAttrs>({
  name: "take",
  cpu: ([x, idx], a) => takeCpu(x, idx, a),
  wasm: ([x, idx], a) => gatherWasm("take", x, idx, a),
  gpu: ([x, idx], a) => {
    const y = emptyGpu(takeShape(a));
    if (y.size === 0) return y;
    const rt = gpuRuntime();
    rt.dispatch({
      kernel: "gather",
      uniforms: gatherUniforms(a),
      // An empty x (axis of length 0) has no buffer: every index is invalid, none is read.
      buffers: [x.size > 0 ? x.binding("take") : rt.dummy, idx.binding("take"), y.binding("take")],
      workgroups: grid2d(Math.ceil(y.size / 256)),
    });
    return y;
  },
  backward: (dy, [_x, idx], _y, a, needs) => [
    needs[0] ? runOp(scatterAddOp, [dy, idx], a) : null,
    null,
  ],
});

/** Indices for {@link take}: a tensor of integer values, or a host array of integers. */
export type Indices = Tensor | readonly number[] | Int32Array;

/**
 * Gathers slices of `x` along `axis` by 0-based integer indices (Knet's `x[:, idx]`
 * along Knet's dims; an embedding lookup is `take(embeddings, tokens)` with the
 * embeddings as [vocab, dim]). The result has shape
 * `x.shape[:axis] ++ indices.shape ++ x.shape[axis+1:]`; repeated indices repeat
 * slices, and the gradient sums them back (a deterministic scatter-add).
 *
 * `indices` is a tensor holding integer values (its dtype may differ from x's: it is
 * converted; it gets no gradient) or a host array (`number[]`/`Int32Array`, shape
 * [length]), which is validated and moved to x's device. A CPU index tensor may index a
 * GPU x (it is validated, then uploaded); a GPU index tensor needs a GPU x.
 *
 * Invalid indices (negative, ≥ the axis length, fractional, NaN) throw an Error naming
 * the index, unless they live on the GPU: checking device-resident values would cost a
 * host sync, so there they read as 0 (and get no gradient), and the kernel never reads
 * out of bounds. Indices on the GPU are f32: host-given indices above 2²⁴ (which f32
 * cannot hold exactly) are refused for a GPU x.
 */
export function take(x: Tensor, indices: Indices, axis = 0): Tensor {
  checkInputs("take", [x]);
  if (x.rank === 0) {
    throw new Error(`take: cannot index a scalar (x ${describe(x)}); reshape it first`);
  }
  const ax = normalizeAxis("take", axis, x.rank);
  const n = x.shape[ax];
  let idx: Tensor;
  if (indices instanceof Tensor) {
    checkInputs("take", [indices]);
    if (indices.device === "cpu") {
      checkIndices("take", indices.host("take"), n, x.shape, ax, x.device === "gpu");
      idx = x.device === "gpu"
        ? (indices.dtype === "f32" ? indices : indices.asType("f32")).gpu()
        : indices.asType(x.dtype);
    } else if (x.device !== "gpu") {
      throw new Error(
        `take: indices (${describe(indices)}) are on the gpu but x (${describe(x)}) is on ` +
          "the cpu; move the indices with `await indices.cpu()`",
      );
    } else {
      idx = indices;
    }
  } else if (Array.isArray(indices) || indices instanceof Int32Array) {
    checkIndices("take", indices, n, x.shape, ax, x.device === "gpu");
    idx = fromArray(indices as ArrayLike<number>, { dtype: x.dtype, device: x.device });
  } else {
    throw new Error(
      `take: indices must be a Tensor, a number[] or an Int32Array, got ${String(indices)}`,
    );
  }
  try {
    return runOp(takeOp, [x, idx], { axis: ax, xShape: [...x.shape], idxShape: [...idx.shape] });
  } finally {
    // A converted index tensor is ours (the tape keeps its own alias when it records).
    if (idx !== indices) idx.dispose();
  }
}

/**
 * Knet's `mat(x; dims = ndims(x) - 1)`: `x` reshaped (no copy) to a matrix. In our
 * row-major layout Knet's first `dims` dimensions are our last `dims`, so the result is
 * `[prod(x.shape[:rank-dims]), prod(x.shape[rank-dims:])]`; with the default
 * `dims = rank - 1` that is `[x.shape[0], rest]`: instances stay leading, features are
 * flattened (a conv output [N,C,H,W] becomes [N, C·H·W]). A vector [n] becomes [n, 1]
 * (Knet's `mat` of a vector is the 1×n row, our [n, 1]: n instances of one feature); a
 * scalar becomes [1, 1]. `dims = 0` gives [size, 1] and `dims = rank` gives [1, size].
 * A reshape, so it is differentiable and shares x's storage.
 */
export function mat(x: Tensor, dims: number = Math.max(x.rank - 1, 0)): Tensor {
  checkInputs("mat", [x]);
  if (!Number.isInteger(dims) || dims < 0 || dims > x.rank) {
    throw new Error(
      `mat: dims ${dims} must be an integer in [0, ${x.rank}] for x ${describe(x)}`,
    );
  }
  const cut = x.rank - dims;
  return x.reshape(shapeSize(x.shape.slice(0, cut)), shapeSize(x.shape.slice(cut)));
}
