/**
 * Reductions over all or given axes: sum, mean, prod, max, min, argmax, argmin, var, std,
 * and the fused dot / nrm2 used by solvers. The reduced axes are moved last (one strided
 * copy when they are not already trailing; none when they are a block of middle axes, read
 * strided, or the axes around one kept block, read gathering), then rows are reduced by
 * kernels/reduce.wgsl (a workgroup per row chunk, vec4 loads where rows allow, or one
 * invocation per row for many short rows; long rows of few-row inputs split into chunks
 * and a second pass). CPU twin: {@link reduceRowsCpu}, accumulating in f64.
 *
 * @module
 */

import { gpuProfile } from "../gpu/profile.ts";
import { kernelCall } from "../cpu/call.ts";
import { gpuRuntime, type StorageBinding } from "../gpu/runtime.ts";
import { grid2d, UniformWriter } from "../gpu/uniforms.ts";
import { fmtShape, normalizeAxes } from "../tensor/shape.ts";
import { emptyGpu, hostArray, shapeSize, Tensor } from "../tensor/tensor.ts";
import { binary, unary } from "./elementwise.ts";
import { checkInputs, defineOp, runOp } from "./registry.ts";
import { broadcastTo, permute } from "./shape.ts";

/** Row reduction kinds (the override OP in reduce.wgsl). */
export const REDUCE_KINDS = { sum: 0, prod: 1, max: 2, min: 3, argmax: 4, argmin: 5 } as const;
/** A row reduction kind. */
export type ReduceKind = keyof typeof REDUCE_KINDS;
/** Map applied to elements before reducing (the override MAP): x, x², x·y, |x|. */
export const REDUCE_MAPS = { id: 0, square: 1, mul: 2, abs: 3 } as const;
/** An element map. */
export type ReduceMap = keyof typeof REDUCE_MAPS;

/** What a row reduction computes: result = final(reduce(map(x))) · scale. */
export interface RowReduce {
  kind: ReduceKind;
  map: ReduceMap;
  /** Take the square root of the reduced value (nrm2). */
  sqrt: boolean;
  /** Multiply the result by this (1/n for means). */
  scale: number;
  rows: number;
  len: number;
  /**
   * Stride between a row's elements (default 1: contiguous rows). With inner > 1 the
   * input is [outer, len, inner] and row r = o·inner + i reads x[o, :, i].
   */
  inner?: number;
  /**
   * With tail = t > 0 the reduced axes surround the rows: the input is [len / t, rows, t]
   * and row r reduces x[:, r, :] (element j at (j / t)·rows·t + r·t + j % t), e.g. a
   * convolution's bias gradient, the sum of [N, C, H·W] over N and H·W. GPU only.
   */
  tail?: number;
  /** Output shape (rows elements). */
  outShape: number[];
}

function mapFn(map: ReduceMap): (x: number, y: number) => number {
  switch (map) {
    case "square":
      return (x) => x * x;
    case "mul":
      return (x, y) => x * y;
    case "abs":
      return (x) => Math.abs(x);
    default:
      return (x) => x;
  }
}

/**
 * CPU twin of reduce.wgsl: reduces the rows of x in any of its layouts (contiguous
 * [rows, len], strided with `inner`, gathered with `tail`).
 */
export function reduceRowsCpu(x: Tensor, x2: Tensor | null, r: RowReduce): Tensor {
  const xs = x.host("reduce");
  const ys = x2?.host("reduce") ?? xs;
  const out = hostArray(x.dtype, r.rows);
  const m = mapFn(r.map);
  const inner = r.inner ?? 1;
  const tail = r.tail ?? 0;
  // Offset of element j of a row from the row's base.
  const at = tail > 0
    ? (j: number) => Math.floor(j / tail) * r.rows * tail + (j % tail)
    : (j: number) => j * inner;
  for (let row = 0; row < r.rows; row++) {
    const base = tail > 0 ? row * tail : Math.floor(row / inner) * r.len * inner + (row % inner);
    let acc: number;
    switch (r.kind) {
      case "sum": {
        acc = 0;
        for (let j = 0; j < r.len; j++) acc += m(xs[base + at(j)], ys[base + at(j)]);
        break;
      }
      case "prod": {
        acc = 1;
        for (let j = 0; j < r.len; j++) acc *= m(xs[base + at(j)], ys[base + at(j)]);
        break;
      }
      case "max":
      case "min": {
        const sgn = r.kind === "max" ? 1 : -1;
        acc = -Infinity * sgn;
        for (let j = 0; j < r.len; j++) {
          const v = m(xs[base + at(j)], ys[base + at(j)]);
          if (sgn * v > sgn * acc || v !== v) acc = v; // NaN wins, as Julia's maximum
        }
        break;
      }
      default: {
        const sgn = r.kind === "argmax" ? 1 : -1;
        let best = -Infinity * sgn;
        acc = 0;
        for (let j = 0; j < r.len; j++) {
          const v = m(xs[base + at(j)], ys[base + at(j)]);
          // The first NaN wins, as Julia's findmax/findmin.
          if (sgn * v > sgn * best || (v !== v && best === best)) {
            best = v;
            acc = j;
          }
        }
      }
    }
    if (r.kind !== "argmax" && r.kind !== "argmin") {
      if (r.sqrt) acc = Math.sqrt(acc);
      acc *= r.scale;
    }
    out[row] = acc;
  }
  return new Tensor(r.outShape, x.dtype, out);
}

/** Outputs from which a middle-axis reduction runs strided in place instead of permuting. */
const STRIDED_MIN_ROWS = 256;

/**
 * Shape rules (llvmpipe, 2 cores, GB/s vs the one-invocation-per-row naive kernel, noisy):
 * - len <= SHORT_ROW and rows >= SHORT_MIN_ROWS: one invocation per row (`main_strided`,
 *   inner = 1); [100000,10] went from ~0.01 to ~1.1 GB/s (naive ~0.9). Rows that short
 *   stay within a few cache lines, so this is fine on a GPU too.
 * - otherwise a workgroup per row chunk (the profile's `reduceWorkgroup` threads: 64 on
 *   software adapters, 256 with a tree combine on hardware GPUs), 8-lane contiguous
 *   segments: all-sum 2^20 ~0.7 -> ~1.1, rows [1024,1024] ~0.45 -> ~0.8 on llvmpipe.
 * - fewer rows than the profile's `reduceSplitRows` with len > 2 · `reduceChunk`: chunks of
 *   `reduceChunk` plus a second pass, so that a few long rows still fill the device.
 */
const SHORT_ROW = 64;
const SHORT_MIN_ROWS = 256;
/**
 * Loop-iteration bounds per shader invocation. llvmpipe (Mesa's software adapter) caps the
 * loop iterations of one invocation at about 65 535, all its loops together, and silently
 * cuts the loops short beyond (no error), so no invocation may loop longer:
 * - `main` runs ceil(chunkLen / 64) + 64 iterations per thread on the software profile
 *   (`main_vec4` 5 per 4 elements): chunks are at most the profile's `reduceMaxChunk` long
 *   (2²⁰: 16 448 iterations, vec4 20 544). Without this bound only adapters with storage
 *   bindings over 2²⁶ elements could exceed the cap (rows ≥ 64 keep one chunk per row).
 * - `main_strided` runs len iterations per invocation: the axis is covered in slices of
 *   the profile's `reduceStridedSlice` (unbounded on hardware GPUs), one dispatch each,
 *   every slice resuming from the partial result.
 */

/**
 * GPU: reduces the rows of x (one or two dispatches): strided layouts by `main_strided`,
 * contiguous or gathered ones by `main` (vec4 loads by `main_vec4` where rows allow),
 * long rows of few-row inputs in chunks and a second pass.
 */
export function reduceRowsGpu(x: Tensor, x2: Tensor | null, r: RowReduce): Tensor {
  const rt = gpuRuntime();
  const isArg = r.kind === "argmax" || r.kind === "argmin";
  const out = emptyGpu(r.outShape);
  if (r.rows === 0) return out;
  const tail = r.tail ?? 0;
  if ((r.inner ?? 1) > 1) return reduceStridedGpu(x, x2, r, out);
  if (!tail && r.len <= SHORT_ROW && r.rows >= SHORT_MIN_ROWS) {
    return reduceStridedGpu(x, x2, r, out);
  }
  const profile = gpuProfile();
  const { reduceChunk } = profile;
  const split = r.rows < profile.reduceSplitRows && r.len > 2 * reduceChunk;
  let chunks = Math.max(
    split ? Math.min(256, Math.ceil(r.len / reduceChunk)) : 1,
    Math.ceil(r.len / profile.reduceMaxChunk),
  );
  // vec4 loads (main_vec4) for contiguous rows of a multiple of 4 at 16-byte offsets.
  const aligned = (t: Tensor | null) => t === null || t.byteOffset("reduce") % 16 === 0;
  const vec4 = profile.reduceVec4 && !tail && r.len % 4 === 0 && r.len > 0 && aligned(x) &&
    aligned(x2);
  const chunkLen = vec4 ? Math.ceil(r.len / chunks / 4) * 4 : Math.ceil(r.len / chunks);
  chunks = Math.ceil(r.len / Math.max(chunkLen, 1)) || 1;
  const OP = REDUCE_KINDS[r.kind];
  const FINAL = r.sqrt ? 1 : 0;
  const xBuf = x.size > 0 ? x.binding("reduce") : rt.dummy;
  const x2Buf = x2 && x2.size > 0 ? x2.binding("reduce") : xBuf;
  const pass = (
    input: StorageBinding,
    inputIdx: StorageBinding,
    second: boolean,
    len: number,
    nChunks: number,
    cLen: number,
    values: StorageBinding,
    indices: StorageBinding,
  ) => {
    rt.dispatch({
      kernel: "reduce",
      entryPoint: vec4 && !second ? "main_vec4" : "main",
      constants: {
        OP,
        MAP: second ? 0 : REDUCE_MAPS[r.map],
        FINAL,
        SECOND: second,
        GATHER: !second && tail > 0,
        WG: profile.reduceWorkgroup,
        TREE: profile.reduceWorkgroup > 64,
      },
      uniforms: new UniformWriter().u32(r.rows).u32(len).u32(nChunks).u32(cLen).f32(r.scale)
        .u32(1).u32(0).u32(0).u32(tail).u32(r.rows * tail).u32(0).u32(0)
        .build(),
      buffers: [input, second ? input : x2Buf, inputIdx, values, indices],
      workgroups: grid2d(r.rows * nChunks),
    });
  };
  if (chunks === 1) {
    const idx = isArg ? out.binding("reduce") : rt.sink;
    if (isArg) {
      // The kernel writes values to Y and indices to YI; keep the indices.
      const vals = rt.alloc(r.rows * 4);
      pass(xBuf, xBuf, false, r.len, 1, chunkLen, vals, idx);
      rt.free(vals);
    } else {
      pass(xBuf, xBuf, false, r.len, 1, chunkLen, out.binding("reduce"), idx);
    }
    return out;
  }
  const partial = rt.alloc(r.rows * chunks * 4);
  const partialIdx = isArg ? rt.alloc(r.rows * chunks * 4) : null;
  pass(xBuf, xBuf, false, r.len, chunks, chunkLen, partial, partialIdx ?? rt.sink);
  if (partialIdx) {
    const vals = rt.alloc(r.rows * 4);
    pass(partial, partialIdx, true, chunks, 1, chunks, vals, out.binding("reduce"));
    rt.free(vals);
    rt.free(partialIdx);
  } else {
    pass(partial, partial, true, chunks, 1, chunks, out.binding("reduce"), rt.sink);
  }
  rt.free(partial);
  return out;
}

/**
 * GPU: reduces a middle axis in place (reduce.wgsl `main_strided`), one thread per output,
 * the axis in slices of the profile's `reduceStridedSlice` (one dispatch each).
 */
function reduceStridedGpu(x: Tensor, x2: Tensor | null, r: RowReduce, out: Tensor): Tensor {
  const rt = gpuRuntime();
  const isArg = r.kind === "argmax" || r.kind === "argmin";
  const xBuf = x.size > 0 ? x.binding("reduce") : rt.dummy;
  const slice = gpuProfile().reduceStridedSlice;
  const sliced = r.len > slice;
  // Arg ops carry their partial values between slices in a scratch buffer.
  const scratch = isArg && sliced ? rt.alloc(r.rows * 4) : null;
  const values = isArg ? scratch ?? rt.sink : out.binding("reduce");
  for (let j0 = 0; j0 < Math.max(r.len, 1); j0 += slice) {
    rt.dispatch({
      kernel: "reduce",
      entryPoint: "main_strided",
      constants: { OP: REDUCE_KINDS[r.kind], MAP: REDUCE_MAPS[r.map], FINAL: r.sqrt ? 1 : 0 },
      uniforms: new UniformWriter()
        .u32(r.rows).u32(r.len).u32(1).u32(r.len).f32(r.scale).u32(r.inner ?? 1)
        .u32(j0).u32(Math.min(r.len, j0 + slice)).u32(0).u32(0).u32(0).u32(0)
        .build(),
      buffers: [
        xBuf,
        x2 && x2.size > 0 ? x2.binding("reduce") : xBuf,
        null, // XI: unused by main_strided
        values,
        isArg ? out.binding("reduce") : rt.sink,
      ],
      workgroups: grid2d(Math.ceil(r.rows / 64)),
    });
  }
  if (scratch) rt.free(scratch);
  return out;
}

/**
 * Gradient of a row reduction. With x viewed as [outer, len, inner] and dy, y as
 * [outer, 1, inner]: sum → dy·scale broadcast (times 2x for squares, x₂ or x₁ for dot,
 * sign(x) for |x|; a final √ divides by 2y first), prod → dy·Π_{j≠i} x_j (exact at
 * zeros, unlike Knet's dy·y/x), max/min → dy where x equals the extremum (every tied
 * element gets it, as in Knet). Arg-reductions have none.
 */
function reduceRowsBackward(
  dy: Tensor,
  inputs: readonly Tensor[],
  y: Tensor,
  r: RowReduce,
  needs: readonly boolean[],
): (Tensor | null)[] {
  if (r.kind === "argmax" || r.kind === "argmin") return inputs.map(() => null);
  const [x, x2] = inputs;
  const inner = r.inner ?? 1;
  const tail = r.tail ?? 0;
  // x as `full`, and the shape dy and y broadcast from against it.
  const full = tail > 0 ? [r.len / tail, r.rows, tail] : [r.rows / inner, r.len, inner];
  const kept = tail > 0 ? [1, r.rows, 1] : [r.rows / inner, 1, inner];
  const xv = x.reshape(full);
  let dyb = dy.reshape(kept);
  const yb = y.reshape(kept);
  const back = (g: Tensor, like: Tensor) => {
    const b = g.shape.every((d, i) => d === full[i]) ? g : broadcastTo(g, full);
    return b.reshape(like.shape);
  };
  switch (r.kind) {
    case "prod": {
      // dy·Π_{j≠i} x_j, also where x has zeros (Knet's dy·y/x gives NaN there, 0/0). With
      // z = [x = 0] and p = the product of the nonzero x: p/x in rows without a zero, p at
      // the zero of rows with exactly one, 0 elsewhere.
      const z = binary("eq", xv, 0);
      const over = tail > 0 ? [0, 2] : 1;
      const zeros = sum(z, over, { keepdims: true });
      const x1 = binary("add", xv, z);
      const p = prod(x1, over, { keepdims: true });
      const none = binary("mul", binary("div", p, x1), binary("eq", zeros, 0));
      const one = binary("mul", binary("mul", z, p), binary("eq", zeros, 1));
      return [back(binary("mul", dyb, binary("add", none, one)), x)];
    }
    case "max":
    case "min":
      return [back(binary("mul", dyb, binary("eq", xv, yb)), x)];
  }
  if (r.sqrt) dyb = binary("div", binary("mul", dyb, 0.5), yb);
  if (r.scale !== 1) dyb = binary("mul", dyb, r.scale);
  switch (r.map) {
    case "square":
      return [back(binary("mul", xv, binary("mul", dyb, 2)), x)];
    case "abs":
      return [back(binary("mul", unary("sign", xv), dyb), x)];
    case "mul":
      return [
        needs[0] ? back(binary("mul", x2.reshape(full), dyb), x) : null,
        needs[1] ? back(binary("mul", xv, dyb), x2) : null,
      ];
    default:
      return [back(dyb, x)];
  }
}

/**
 * Chunk of a long row that one unit of kernels/cpu/reduce.c `reduce_part` reduces: rows
 * longer than 2·WASM_CHUNK split into fixed chunks (never by the thread count), so a
 * single long row (dot, nrm2, sum of all) still runs on every thread.
 */
const WASM_CHUNK = 16384;

/**
 * CPU backend twin of {@link reduceRowsCpu} (kernels/cpu/reduce.c), except that max/min
 * follow Julia (NaN wins) and argmax/argmin give the first NaN's index when there is one.
 */
function reduceRowsWasm(x: Tensor, x2: Tensor | null, r: RowReduce): Tensor {
  return kernelCall("reduce", (k) => {
    const [out, po] = k.out(r.outShape);
    if (r.rows === 0) return out;
    const chunks = r.len > 2 * WASM_CHUNK ? Math.ceil(r.len / WASM_CHUNK) : 1;
    const chunkLen = chunks > 1 ? WASM_CHUNK : r.len;
    const units = r.rows * chunks;
    const vals = k.scratch(units * 8);
    const idx = k.scratch(units * 4);
    const px = x.size > 0 ? k.in(x) : 0;
    const px2 = x2 && x2.size > 0 ? k.in(x2) : px;
    const kind = REDUCE_KINDS[r.kind];
    const p = [kind, REDUCE_MAPS[r.map], r.rows, r.len, r.inner ?? 1, chunks, chunkLen];
    if (r.tail) throw new Error("reduce: the tail layout is GPU-only (reduceAxes permutes here)");
    const strided = (r.inner ?? 1) > 1 && chunks === 1;
    k.run(strided ? "reduce_cols" : "reduce_part", [k.ints(p), px, px2, vals, idx], x.size);
    k.run("reduce_final", [kind, r.rows, chunks, r.sqrt ? 1 : 0, r.scale, vals, idx, po], units);
    return out;
  });
}

const reduceRowsOp = defineOp<RowReduce>({
  name: "reduce_rows",
  cpu: ([x, x2], r) => reduceRowsCpu(x, x2 ?? null, r),
  wasm: ([x, x2], r) => reduceRowsWasm(x, x2 ?? null, r),
  gpu: ([x, x2], r) => reduceRowsGpu(x, x2 ?? null, r),
  backward: reduceRowsBackward,
});

/**
 * Sums a broadcast result `g` back to `shape` (the gradient of broadcasting): over the
 * leading dimensions `shape` lacks and the ones where it has size 1. `g` itself when the
 * shapes agree.
 */
export function unbroadcast(g: Tensor, shape: readonly number[]): Tensor {
  if (g.rank === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  if (lead < 0) {
    throw new Error(
      `unbroadcast: ${fmtShape(g.shape)} has fewer dimensions than ${fmtShape(shape)}`,
    );
  }
  const axes = g.shape.map((_, i) => i).filter((i) =>
    i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)
  );
  const s = sum(g, axes, { keepdims: true });
  const out = s.reshape(shape);
  s.dispose();
  return out;
}

/** Options of the axis reductions. */
export interface ReduceOptions {
  /** Keep reduced dimensions with size 1 (default false). */
  keepdims?: boolean;
}

/** Axes to reduce: one, several, or undefined for all. */
export type Axes = number | readonly number[] | undefined;

function reduceAxes(
  op: string,
  x: Tensor,
  axes: Axes,
  opts: ReduceOptions,
  kind: ReduceKind,
  extra: Partial<Pick<RowReduce, "map" | "sqrt">> & { mean?: boolean } = {},
): Tensor {
  checkInputs(op, [x]);
  const ax = normalizeAxes(op, axes, x.rank);
  const kept = x.shape.map((_, i) => i).filter((i) => !ax.includes(i));
  const len = shapeSize(ax.map((a) => x.shape[a]));
  const rows = shapeSize(kept.map((a) => x.shape[a]));
  if (len === 0 && rows > 0 && kind !== "sum" && kind !== "prod") {
    throw new Error(
      `${op}: cannot reduce over an empty dimension (shape ${fmtShape(x.shape)}, axes [${
        ax.join(",")
      }])`,
    );
  }
  const outShape = opts.keepdims
    ? x.shape.map((d, i) => (ax.includes(i) ? 1 : d))
    : kept.map((a) => x.shape[a]);
  const attrs = {
    kind,
    map: extra.map ?? "id",
    sqrt: extra.sqrt ?? false,
    scale: extra.mean ? 1 / len : 1,
    rows,
    len,
    outShape,
  } as const;
  // One contiguous block of axes with enough outputs: reduce it in place, strided.
  const block = ax.length > 0 && ax[ax.length - 1] - ax[0] === ax.length - 1;
  const inner = block ? shapeSize(x.shape.slice(ax[ax.length - 1] + 1)) : 1;
  const shortLen = x.device === "gpu" ? gpuProfile().reduceStridedShortLen : 0;
  if (block && inner > 1 && (rows >= STRIDED_MIN_ROWS || len <= shortLen)) {
    return runOp(reduceRowsOp, [x], { ...attrs, inner });
  }
  // Leading and trailing axes around a kept block (a bias gradient over batch and space):
  // one gathering pass instead of a permute and a row reduction.
  const around = kept.length > 0 && kept[kept.length - 1] - kept[0] === kept.length - 1 &&
    kept[0] > 0 && kept[kept.length - 1] < x.rank - 1;
  if (around && x.device === "gpu" && len > SHORT_ROW) {
    return runOp(reduceRowsOp, [x], { ...attrs, tail: shapeSize(x.shape.slice(kept.at(-1)! + 1)) });
  }
  const perm = [...kept, ...ax];
  const moved = perm.every((p, i) => p === i) ? x : permute(x, perm);
  const out = runOp(reduceRowsOp, [moved], attrs);
  if (moved !== x) moved.dispose();
  return out;
}

/** Sum over `axes` (all when omitted). */
export function sum(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  return reduceAxes("sum", x, axes, opts, "sum");
}

/** Mean over `axes` (all when omitted). */
export function mean(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  return reduceAxes("mean", x, axes, opts, "sum", { mean: true });
}

/** Product over `axes` (all when omitted). */
export function prod(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  return reduceAxes("prod", x, axes, opts, "prod");
}

/** Maximum over `axes` (all when omitted): PyTorch's `max`, Julia's `maximum` (NaN when any element is). */
export function max(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  return reduceAxes("max", x, axes, opts, "max");
}

/** Minimum over `axes` (all when omitted): PyTorch's `min`, Julia's `minimum` (NaN when any element is). */
export function min(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  return reduceAxes("min", x, axes, opts, "min");
}

/**
 * 0-based index of the maximum over `axes` (first one on ties), as f32 values; over
 * several axes it is the row-major flat index within them. Exact up to 2²⁴. A NaN counts
 * as the maximum: the index of the first NaN (Julia's `argmax`/`findmax`).
 */
export function argmax(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  return reduceAxes("argmax", x, axes, opts, "argmax");
}

/** 0-based index of the minimum over `axes` (first on ties; the first NaN, as Julia's `argmin`), like {@link argmax}. */
export function argmin(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  return reduceAxes("argmin", x, axes, opts, "argmin");
}

/** Options of {@link variance} and {@link std}. */
export interface VarOptions extends ReduceOptions {
  /** Divide by n − 1 (default true, as Julia's `var`) instead of n. */
  corrected?: boolean;
}

/** Variance over `axes` (two-pass: mean, then mean squared deviation). */
export function variance(x: Tensor, axes?: Axes, opts: VarOptions = {}): Tensor {
  checkInputs("var", [x]);
  const ax = normalizeAxes("var", axes, x.rank);
  const n = shapeSize(ax.map((a) => x.shape[a]));
  const m = mean(x, ax, { keepdims: true });
  const dev = binary("sub", x, m);
  const ss = reduceAxes("var", dev, ax, opts, "sum", { map: "square" });
  m.dispose();
  dev.dispose();
  const denom = (opts.corrected ?? true) ? n - 1 : n;
  const out = binary("div", ss, denom);
  ss.dispose();
  return out;
}

/** Standard deviation over `axes`: √{@link variance}. */
export function std(x: Tensor, axes?: Axes, opts: VarOptions = {}): Tensor {
  const v = variance(x, axes, opts);
  // sqrt, not pow(v, 0.5): correctly rounded, and NaN (n = 1, corrected) stays NaN on
  // the GPU (pow's exp2∘log2 gave 0 for NaN on llvmpipe).
  const out = unary("sqrt", v);
  v.dispose();
  return out;
}

function checkVectors(op: string, x: Tensor, y: Tensor): void {
  checkInputs(op, [x, y]);
  if (x.size !== y.size) {
    throw new Error(
      `${op}: vectors of different lengths ${fmtShape(x.shape)} and ${fmtShape(y.shape)}`,
    );
  }
}

/** Dot product of two tensors of equal size, as a 1-element tensor on their device (no sync). */
export function dot(x: Tensor, y: Tensor): Tensor {
  checkVectors("dot", x, y);
  return runOp(reduceRowsOp, [x, y], {
    kind: "sum",
    map: "mul",
    sqrt: false,
    scale: 1,
    rows: 1,
    len: x.size,
    outShape: [],
  });
}

/** Euclidean norm, as a 1-element tensor on the input's device (no sync). */
export function nrm2(x: Tensor): Tensor {
  checkInputs("nrm2", [x]);
  return runOp(reduceRowsOp, [x], {
    kind: "sum",
    map: "square",
    sqrt: true,
    scale: 1,
    rows: 1,
    len: x.size,
    outShape: [],
  });
}
