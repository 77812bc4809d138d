/**
 * Convolution: Knet's `conv4` and `deconv4` for 2-D images (1-D through a singleton
 * height), with padding, stride, dilation, groups, both modes and a scale α.
 *
 * Layout (row-major, memory-compatible with Knet's column-major dims): x [N,C,H,W], filter
 * w [O, C/group, kH, kW], y [N,O,Ho,Wo] with
 * Ho = 1 + ⌊(H + 2·P − ((kH − 1)·D + 1)) / S⌋ (likewise Wo). Mode 0 (Knet's default) is
 * true convolution: the filter is flipped in both spatial dims; mode 1 is
 * cross-correlation (PyTorch's `conv2d`).
 *
 * `deconv4(w, x)` is the transposed convolution, Knet's definition translated to
 * row-major: its result is conv4's input gradient for the filter w. Knet's deconv filter
 * (kW,kH,O,I) is our w [I, O/group, kH, kW]; x [N,I,H,W] gives y [N,O,Y_H,Y_W] with
 * Y = S·(X − 1) + (k − 1)·D + 1 − 2·P, and conv4(w, deconv4(w, x)) has x's shape.
 *
 * Three primitives implement everything, each with a CPU twin (direct loops accumulating
 * in f64, f32 and f64) and a GPU path:
 * - `conv4` (forward; backward: dw by `conv4_w`, dx by `deconv4`),
 * - `deconv4` (conv4's input gradient; backward: dw by `conv4_w`, dx by `conv4`),
 * - `conv4_w` (conv4's filter gradient; no gradient of its own, Knet's `@zerograd conv4w`).
 *
 * GPU path: im2col + the register-blocked GEMM of src/ops/matmul.ts
 * (kernels/im2col.wgsl). Forward: cols [Nc, C·kH·kW, Ho·Wo] = im2col(x), then one batched
 * GEMM with the filter as a shared [O, C·kH·kW] matrix gives [Nc, O, Ho·Wo], which is y's
 * layout (with one group and one chunk that output is y itself; src/ops/conv_bias.ts has
 * the GEMM add the bias and apply relu as it writes). dx: dcols = wᵀ·dy (one batched GEMM), then col2im, a gather kernel (each x
 * element sums the column entries that came from it: deterministic, no atomics). dw: for
 * outputs of at least {@link convConfig}.splitDwMinPixels pixels, one small GEMM per image
 * (and more than one image per chunk) dy_n·cols_nᵀ summed over the images (gemmGpuBatchSum), reusing the forward pass's columns
 * when a tape recorded w's gradient ({@link ConvGeom.saved}: no second im2col); below
 * that the columns are written K-major, [C·kH·kW, Nc·Ho·Wo], and dy is permuted to
 * [O, Nc·Ho·Wo], so dw = dy·colsᵀ is ONE GEMM over all stacked batch entries (its inner
 * dimension Nc·Ho·Wo is long enough for the big tiles). The batch is processed in chunks of Nc so
 * that the columns buffer stays under {@link convConfig}.colsBytes (256 MB). group > 1 loops
 * over groups: the kernels take a channel offset, the GEMM gets that group's filter rows.
 *
 * Why im2col + GEMM and not implicit GEMM: the GEMM kernel is the one tuned piece of code
 * we have (17–21 GFLOP/s at 1024³ on llvmpipe, where every per-lane load is scalarised and
 * loads dominate); im2col reuses it unchanged for all three products, and its extra pass
 * costs memory traffic proportional to K·P, small beside the 2·O·K·P flops. An implicit-GEMM
 * kernel would need its own register-blocked tiling with the index arithmetic inside the
 * inner loads, where llvmpipe is weakest; it was not written or measured. Measured against
 * the direct kernel (kernels/conv_naive.wgsl, one output per invocation) with
 * bench/conv_bench.ts on llvmpipe (2 cores), forward + backward GFLOP/s, im2col+GEMM vs
 * naive: LeNet conv1 x[100,1,28,28] w[20,1,5,5] 0.23 vs 0.22 (K = 25 and O = 20 leave the
 * 128×128 GEMM tiles mostly idle); LeNet conv2 x[100,20,12,12] w[50,20,5,5] 2.2 vs 0.27;
 * VGG-like x[16,64,32,32] w[64,64,3,3] pad 1 4.0 vs 0.39.
 *
 * @module
 */

import { activeTape, type Tape } from "../autograd/tape.ts";
import { gpuProfile } from "../gpu/profile.ts";
import { kernelCall } from "../cpu/call.ts";
import { gpuRuntime, type StorageBinding } from "../gpu/runtime.ts";
import { grid2d, UniformWriter } from "../gpu/uniforms.ts";
import { keep } from "../tensor/scope.ts";
import { emptyGpu, hostArray, shapeSize, Tensor } from "../tensor/tensor.ts";
import { gemm, type GemmEpilogue, gemmGpu, gemmGpuBatchSum } from "./matmul.ts";
import { checkInputs, defineOp, describe, runOp } from "./registry.ts";
import { binary } from "./elementwise.ts";
import { stridedCopyGpu } from "./shape.ts";
import { fill } from "./vector.ts";

/** A spatial option: one number for both dims or [height, width]. */
export type Pair = number | readonly [number, number];

/** Options of {@link conv4} and {@link deconv4} (Knet's keywords and defaults). */
export interface ConvOptions {
  /** Zeros implicitly added at both ends of each spatial dim (default 0). */
  padding?: Pair;
  /** Step between filter applications (default 1). */
  stride?: Pair;
  /** Spacing between filter taps (default 1). */
  dilation?: Pair;
  /** 0: convolution, the filter flipped (default, as Knet); 1: cross-correlation. */
  mode?: 0 | 1;
  /** Scale of the result (default 1). */
  alpha?: number;
  /** Number of channel groups: input and output channels must both be divisible (default 1). */
  group?: number;
  /**
   * GPU algorithm: "im2col" (default, im2col + GEMM) or "naive" (the direct
   * one-output-per-invocation kernels; a baseline and test oracle). CPU ignores it.
   */
  algo?: "im2col" | "naive";
}

/** Tunables of the GPU path. */
export const convConfig: { colsBytes: number; keptColsBytes: number; splitDwMinPixels: number } = {
  /** Largest im2col buffer in bytes; the batch is processed in chunks that fit. */
  colsBytes: 256 * 1024 * 1024,
  /**
   * Most bytes of im2col columns that forward passes keep at once for their filter
   * gradients (see {@link ConvGeom.saved}); past it a backward pass runs im2col again.
   */
  keptColsBytes: 256 * 1024 * 1024,
  /**
   * The filter gradient is computed per image (a batched GEMM and a sum) when an output
   * map has at least this many pixels, else as one stacked GEMM (Infinity: always stacked).
   */
  splitDwMinPixels: 32,
};

/** Fully resolved convolution geometry (always in conv4's terms: x → y). */
export interface ConvGeom {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  G: number;
  kH: number;
  kW: number;
  Ho: number;
  Wo: number;
  pH: number;
  pW: number;
  sH: number;
  sW: number;
  dH: number;
  dW: number;
  flip: boolean;
  alpha: number;
  algo: "im2col" | "naive";
  /**
   * Set by the GPU forward pass while a tape records a gradient for w: the im2col columns
   * of x ([N, K, Ho·Wo]), which the filter gradient of the same x reuses instead of
   * running im2col again. The tape frees them when it closes.
   */
  saved?: { x: XData; cols: Tensor };
  /** The tape recording w's gradient, set by conv4/conv4Bias: the forward keeps `saved`. */
  keepFor?: Tape;
}

function pair(op: string, name: string, v: Pair | undefined, def: number, min: number) {
  const raw = v ?? def;
  const p = typeof raw === "number" ? [raw, raw] : raw;
  if (
    !Array.isArray(p) || p.length !== 2 ||
    !p.every((e) => typeof e === "number" && Number.isInteger(e) && e >= min)
  ) {
    throw new Error(
      `${op}: ${name} must be an integer ≥ ${min} or a pair [h, w] of them, got ${
        JSON.stringify(v)
      }`,
    );
  }
  return p as [number, number];
}

interface Resolved {
  pad: [number, number];
  stride: [number, number];
  dil: [number, number];
  flip: boolean;
  alpha: number;
  G: number;
  algo: "im2col" | "naive";
}

function resolve(op: string, o: ConvOptions): Resolved {
  if (o === null || typeof o !== "object") throw new Error(`${op}: options must be an object`);
  const known = new Set(["padding", "stride", "dilation", "mode", "alpha", "group", "algo"]);
  for (const k of Object.keys(o)) {
    if (!known.has(k)) throw new Error(`${op}: unknown option '${k}'`);
  }
  const mode = o.mode ?? 0;
  if (mode !== 0 && mode !== 1) {
    throw new Error(`${op}: mode must be 0 (convolution) or 1 (cross-correlation), got ${mode}`);
  }
  const alpha = o.alpha ?? 1;
  if (typeof alpha !== "number" || !Number.isFinite(alpha)) {
    throw new Error(`${op}: alpha must be a finite number, got ${alpha}`);
  }
  const G = o.group ?? 1;
  if (!Number.isInteger(G) || G < 1) {
    throw new Error(`${op}: group must be a positive integer, got ${G}`);
  }
  const algo = o.algo ?? "im2col";
  if (algo !== "im2col" && algo !== "naive") {
    throw new Error(`${op}: algo must be "im2col" or "naive", got ${algo}`);
  }
  return {
    pad: pair(op, "padding", o.padding, 0, 0),
    stride: pair(op, "stride", o.stride, 1, 1),
    dil: pair(op, "dilation", o.dilation, 1, 1),
    flip: mode === 0,
    alpha,
    G,
    algo,
  };
}

function check4d(op: string, t: Tensor, what: string, layout: string): void {
  if (t.rank !== 4) {
    throw new Error(`${op}: ${what} must be 4-D ${layout}, got ${describe(t)}`);
  }
}

function makeGeom(
  r: Resolved,
  x: readonly number[],
  w: readonly number[],
  O: number,
): ConvGeom {
  const [N, C, H, W] = x;
  const [, , kH, kW] = w;
  const win = (k: number, d: number) => (k - 1) * d + 1;
  const Ho = 1 + Math.floor((H + 2 * r.pad[0] - win(kH, r.dil[0])) / r.stride[0]);
  const Wo = 1 + Math.floor((W + 2 * r.pad[1] - win(kW, r.dil[1])) / r.stride[1]);
  return {
    N,
    C,
    H,
    W,
    O,
    G: r.G,
    kH,
    kW,
    Ho,
    Wo,
    pH: r.pad[0],
    pW: r.pad[1],
    sH: r.stride[0],
    sW: r.stride[1],
    dH: r.dil[0],
    dW: r.dil[1],
    flip: r.flip,
    alpha: r.alpha,
    algo: r.algo,
  };
}

// ---------------------------------------------------------------- CPU twins (f64 accumulation)

/** Visits every (n, o, oh, ow, c-in-group, kh, kw) term with its x and w indices. */
function forEachTerm(
  g: ConvGeom,
  visit: (yi: number, wi: number, xi: number) => void,
): void {
  const { N, C, H, W, O, G, kH, kW, Ho, Wo } = g;
  const Cg = C / G;
  const Og = O / G;
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const c0 = Math.floor(o / Og) * Cg;
      for (let oh = 0; oh < Ho; oh++) {
        for (let ow = 0; ow < Wo; ow++) {
          const yi = ((n * O + o) * Ho + oh) * Wo + ow;
          for (let c = 0; c < Cg; c++) {
            for (let kh = 0; kh < kH; kh++) {
              const ih = oh * g.sH - g.pH + (g.flip ? kH - 1 - kh : kh) * g.dH;
              if (ih < 0 || ih >= H) continue;
              for (let kw = 0; kw < kW; kw++) {
                const iw = ow * g.sW - g.pW + (g.flip ? kW - 1 - kw : kw) * g.dW;
                if (iw < 0 || iw >= W) continue;
                visit(
                  yi,
                  ((o * Cg + c) * kH + kh) * kW + kw,
                  ((n * C + c0 + c) * H + ih) * W + iw,
                );
              }
            }
          }
        }
      }
    }
  }
}

function finish(shape: number[], dtype: Tensor["dtype"], acc: Float64Array, alpha: number) {
  const out = hostArray(dtype, acc.length);
  for (let i = 0; i < acc.length; i++) out[i] = alpha * acc[i];
  return new Tensor(shape, dtype, out);
}

function yShape(g: ConvGeom) {
  return [g.N, g.O, g.Ho, g.Wo];
}
function xShape(g: ConvGeom) {
  return [g.N, g.C, g.H, g.W];
}
function wShape(g: ConvGeom) {
  return [g.O, g.C / g.G, g.kH, g.kW];
}

function fwdCpu([w, x]: readonly Tensor[], g: ConvGeom): Tensor {
  const Wv = w.host("conv4");
  const X = x.host("conv4");
  const acc = new Float64Array(g.N * g.O * g.Ho * g.Wo);
  forEachTerm(g, (yi, wi, xi) => (acc[yi] += Wv[wi] * X[xi]));
  return finish(yShape(g), x.dtype, acc, g.alpha);
}

function dxCpu([w, dy]: readonly Tensor[], g: ConvGeom): Tensor {
  const Wv = w.host("deconv4");
  const D = dy.host("deconv4");
  const acc = new Float64Array(g.N * g.C * g.H * g.W);
  forEachTerm(g, (yi, wi, xi) => (acc[xi] += Wv[wi] * D[yi]));
  return finish(xShape(g), dy.dtype, acc, g.alpha);
}

function dwCpu([x, dy]: readonly Tensor[], g: ConvGeom): Tensor {
  const X = x.host("conv4_w");
  const D = dy.host("conv4_w");
  const acc = new Float64Array(g.O * (g.C / g.G) * g.kH * g.kW);
  forEachTerm(g, (yi, wi, xi) => (acc[wi] += X[xi] * D[yi]));
  return finish(wShape(g), x.dtype, acc, g.alpha);
}

// ---------------------------------------------------------------- CPU backend (kernels/cpu/conv.c)

/** Images of the filter gradient summed per fixed run (independent of the thread count). */
const DW_CHUNKS = 8;

function geomInts(g: ConvGeom): number[] {
  return [
    g.N,
    g.C,
    g.H,
    g.W,
    g.O,
    g.G,
    g.kH,
    g.kW,
    g.Ho,
    g.Wo,
    g.pH,
    g.pW,
    g.sH,
    g.sW,
    g.dH,
    g.dW,
    g.flip ? 1 : 0,
  ];
}

/** Runs one of conv.c's kernels with per-thread cols scratch; returns the output. */
function convWasm(
  op: string,
  kernel: "conv_fwd" | "conv_dx",
  [a, b]: readonly Tensor[],
  g: ConvGeom,
  shape: number[],
): Tensor {
  return kernelCall(op, (k) => {
    const [y, py] = k.out(shape);
    if (y.size === 0) return y;
    const p = k.ints(geomInts(g));
    const threads = k.rt.pool.size;
    const cols = k.scratch(k.rt.kernels.conv_cols_floats(p) as number * 4 * threads);
    const work = g.N * g.O * g.Ho * g.Wo * (g.C / g.G) * g.kH * g.kW;
    k.run(
      kernel,
      [p, g.alpha, k.in(a), k.in(b), py, cols, k.rt.gemmWork, k.rt.gemmWorkFloats],
      g.N > 1 ? work : 0,
    );
    return y;
  });
}

function fwdWasm(inputs: readonly Tensor[], g: ConvGeom): Tensor {
  return convWasm("conv4", "conv_fwd", inputs, g, yShape(g));
}

function dxWasm(inputs: readonly Tensor[], g: ConvGeom): Tensor {
  return convWasm("deconv4", "conv_dx", inputs, g, xShape(g));
}

function dwWasm([x, dy]: readonly Tensor[], g: ConvGeom): Tensor {
  return kernelCall("conv4_w", (k) => {
    const [dw, pdw] = k.out(wShape(g));
    const wsize = dw.size;
    const p = k.ints(geomInts(g));
    const chunks = Math.max(1, Math.min(DW_CHUNKS, g.N));
    const runs = k.scratch(chunks * wsize * 4);
    const threads = k.rt.pool.size;
    const cols = k.scratch(k.rt.kernels.conv_cols_floats(p) as number * 4 * threads);
    const work = g.N * g.O * g.Ho * g.Wo * (g.C / g.G) * g.kH * g.kW;
    k.run(
      "conv_dw",
      [p, g.alpha, k.in(x), k.in(dy), runs, chunks, cols, k.rt.gemmWork, k.rt.gemmWorkFloats],
      chunks > 1 ? work : 0,
    );
    k.run("sum_runs", [wsize, chunks, runs, pdw, 0], wsize * chunks);
    return dw;
  });
}

// ---------------------------------------------------------------- GPU

/**
 * The naive convolution: the reduction rows (see kernels/conv_naive.wgsl) are split over
 * dispatches of at most the profile's `convNaiveBudget` loop iterations each (software
 * adapters cut an invocation's loops short after about 65 535 iterations).
 */
function naiveGpu(entry: "main" | "dx" | "dw", a: Tensor, b: Tensor, g: ConvGeom): Tensor {
  const shape = entry === "main" ? yShape(g) : entry === "dx" ? xShape(g) : wShape(g);
  const out = emptyGpu(shape);
  if (out.size === 0) return out;
  const rt = gpuRuntime();
  const op = entry === "main" ? "conv4" : entry === "dx" ? "deconv4" : "conv4_w";
  // Reduction rows and the inner loop length of each row (kernels/conv_naive.wgsl).
  const [rows, inner] = entry === "main"
    ? [(g.C / g.G) * g.kH, g.kW]
    : entry === "dx"
    ? [(g.O / g.G) * g.kH, g.kW]
    : [g.N * g.Ho, g.Wo];
  const budget = gpuProfile().convNaiveBudget;
  if (inner + 1 > budget) {
    throw new Error(
      `${op} (naive): an inner loop of ${inner} (kW ${g.kW}, Wo ${g.Wo}) exceeds the naive ` +
        `kernel's per-dispatch loop budget of ${budget - 1}; use the default algorithm`,
    );
  }
  const step = Math.floor(budget / (inner + 1));
  for (let r0 = 0; r0 < Math.max(rows, 1); r0 += step) {
    rt.dispatch({
      kernel: "conv_naive",
      entryPoint: entry,
      constants: { FLIP: g.flip },
      uniforms: new UniformWriter()
        .u32(g.N).u32(g.C).u32(g.H).u32(g.W)
        .u32(g.O).u32(g.G).u32(g.kH).u32(g.kW)
        .u32(g.Ho).u32(g.Wo).i32(g.pH).i32(g.pW)
        .i32(g.sH).i32(g.sW).i32(g.dH).i32(g.dW)
        .f32(g.alpha).u32(out.size).u32(r0).u32(Math.min(rows, r0 + step))
        .build(),
      buffers: [
        a.size > 0 ? a.binding(op) : rt.dummy,
        b.size > 0 ? b.binding(op) : rt.dummy,
        out.binding(op),
      ],
      workgroups: grid2d(Math.ceil(out.size / 256)),
    });
  }
  return out;
}

/** Dispatches im2col ("main") or col2im for batch entries n0..n0+nc−1 of group gi. */
function im2colDispatch(
  entry: "main" | "col2im",
  src: StorageBinding,
  dst: StorageBinding,
  g: ConvGeom,
  n0: number,
  nc: number,
  gi: number,
  colStrideN: number,
  colStrideK: number,
): void {
  const Cg = g.C / g.G;
  const total = entry === "main" ? nc * Cg * g.kH * g.kW * g.Ho * g.Wo : nc * Cg * g.H * g.W;
  gpuRuntime().dispatch({
    kernel: "im2col",
    entryPoint: entry,
    constants: { FLIP: g.flip },
    uniforms: new UniformWriter()
      .u32(g.C).u32(g.H).u32(g.W).u32(Cg)
      .u32(g.kH).u32(g.kW).u32(g.Ho).u32(g.Wo)
      .i32(g.pH).i32(g.pW).i32(g.sH).i32(g.sW)
      .i32(g.dH).i32(g.dW).u32(n0).u32(gi * Cg)
      .u32(colStrideN).u32(colStrideK).u32(total).u32(0)
      .build(),
    buffers: [src, dst],
    workgroups: grid2d(Math.ceil(total / 256)),
  });
}

let keptColumns = 0;
let keptBytes = 0;

/** Where a tensor's data lies: x's storage, which the tape's alias keeps alive. */
interface XData {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

function dataOf(x: Tensor): XData {
  return { buffer: x.buffer("conv4"), offset: x.byteOffset("conv4"), size: x.size };
}

/** @internal How many im2col column buffers forward passes hold for their tapes now. */
export function keptColumnsCount(): number {
  return keptColumns;
}

/**
 * Whether `g` holds the forward pass's columns of x: the same data (the tape hands the
 * backward pass an alias of x, not x itself, and keeps that storage until it closes,
 * when `saved` goes).
 */
function savedColsOf(g: ConvGeom, x: Tensor): boolean {
  const s = g.saved;
  if (s === undefined || s.cols.disposed) return false;
  const d = dataOf(x);
  return s.x.buffer === d.buffer && s.x.offset === d.offset && s.x.size === d.size;
}

/**
 * Whether the filter gradient of a chunk of nc images takes the per-image path: output
 * maps of at least `splitDwMinPixels` pixels, and the nc per-image products [nc, Og, K]
 * within the columns budget (else the stacked GEMM, which needs no such buffer).
 */
function splitDw(g: ConvGeom, nc: number): boolean {
  const products = nc * (g.O / g.G) * (g.C / g.G) * g.kH * g.kW * 4;
  return g.Ho * g.Wo >= convConfig.splitDwMinPixels && nc > 1 && products <= colsBudget();
}

/** Bytes one columns (or per-image products) buffer may take. */
function colsBudget(): number {
  return Math.min(convConfig.colsBytes, gpuRuntime().info.limits.maxStorageBufferBindingSize);
}

/**
 * im2col of batch entries n0..n0+nc−1 of group gi of x into a new columns tensor:
 * [nc, K, P] (image-major, a batched GEMM's operand) or [K, nc·P] with `kMajor` (one
 * stacked GEMM's operand); K = C/G·kH·kW, P = Ho·Wo.
 */
function columnsOf(
  x: Tensor,
  g: ConvGeom,
  n0: number,
  nc: number,
  gi: number,
  kMajor: boolean,
): Tensor {
  const K = (g.C / g.G) * g.kH * g.kW;
  const P = g.Ho * g.Wo;
  const cols = emptyGpu(kMajor ? [K, nc * P] : [nc, K, P]);
  const [strideN, strideK] = kMajor ? [P, nc * P] : [K * P, P];
  im2colDispatch(
    "main",
    x.binding("im2col"),
    cols.binding("im2col"),
    g,
    n0,
    nc,
    gi,
    strideN,
    strideK,
  );
  return cols;
}

/** Batch entries per chunk so that one columns buffer stays within the budget. */
function chunkOf(g: ConvGeom): number {
  const K = (g.C / g.G) * g.kH * g.kW;
  const per = K * g.Ho * g.Wo * 4;
  return Math.max(1, Math.min(g.N, Math.floor(colsBudget() / Math.max(per, 1))));
}

/**
 * Calls `step(n0, nc, gi)` for every batch chunk (entries n0 … n0+nc−1, sized by
 * {@link chunkOf}) and every group gi: the loop shared by the im2col paths.
 */
function forChunks(g: ConvGeom, step: (n0: number, nc: number, gi: number) => void): void {
  const chunk = chunkOf(g);
  for (let n0 = 0; n0 < g.N; n0 += chunk) {
    const nc = Math.min(chunk, g.N - n0);
    for (let gi = 0; gi < g.G; gi++) step(n0, nc, gi);
  }
}

/** Group gi's filter rows as a [Og, K] tensor (a view when there is one group). */
function filterRows(w: Tensor, g: ConvGeom, gi: number): Tensor {
  const Og = g.O / g.G;
  const K = (g.C / g.G) * g.kH * g.kW;
  if (g.G === 1) return w.reshape(g.O, K);
  const out = emptyGpu([Og, K]);
  gpuRuntime().copy(
    w.buffer("conv4"),
    w.byteOffset("conv4") + gi * Og * K * 4,
    out.buffer("conv4"),
    out.byteOffset("conv4"),
    Og * K * 4,
  );
  return out;
}

/** Copies dy[n0:n0+nc, group gi's channels] into a new [nc, Og, P] tensor, or
 *  permuted to [Og, nc·P] when `oMajor`. */
function dySlice(dy: Tensor, g: ConvGeom, n0: number, nc: number, gi: number, oMajor: boolean) {
  const Og = g.O / g.G;
  const P = g.Ho * g.Wo;
  const out = emptyGpu(oMajor ? [Og, nc * P] : [nc, Og, P]);
  stridedCopyGpu(
    "conv4",
    dy,
    (n0 * g.O + gi * Og) * P,
    oMajor ? [P, g.O * P, 1] : [g.O * P, P, 1],
    out,
    0,
    oMajor ? [nc * P, P, 1] : [Og * P, P, 1],
    oMajor ? [Og, nc, P] : [nc, Og, P],
  );
  return out;
}

/**
 * im2col + one batched GEMM per batch chunk and group. With `epi` (one group only) the
 * GEMM adds the bias per channel and applies relu as it writes. With one group and one
 * chunk the GEMM's output is y itself (no copy).
 */
export function fwdGpu([w, x]: readonly Tensor[], g: ConvGeom, epi?: GemmEpilogue): Tensor {
  if (g.algo === "naive") return naiveGpu("main", w, x, g);
  if (shapeSize(yShape(g)) === 0) return emptyGpu(yShape(g));
  const rt = gpuRuntime();
  const Og = g.O / g.G;
  const K = (g.C / g.G) * g.kH * g.kW;
  const P = g.Ho * g.Wo;
  const whole = g.G === 1 && chunkOf(g) >= g.N;
  let y = whole ? null : emptyGpu(yShape(g));
  const rows = Array.from({ length: g.G }, (_, gi) => filterRows(w, g, gi));
  // The columns are kept for the filter gradient when it takes the per-image path in one
  // chunk (the same [N, K, P] layout) and a tape records w's gradient.
  const tape = g.keepFor;
  const colsBytes = g.N * K * P * 4;
  const keepCols = tape !== undefined && !g.saved && whole && splitDw(g, g.N) &&
    keptBytes + colsBytes <= convConfig.keptColsBytes;
  try {
    forChunks(g, (n0, nc, gi) => {
      const cols = columnsOf(x, g, n0, nc, gi, false);
      const yg = epi
        ? gemmGpu([rows[gi], cols], {
          M: Og,
          N: P,
          K,
          batch: nc,
          strideA: 0,
          strideB: K * P,
          transA: false,
          transB: false,
          alpha: g.alpha,
          beta: 0,
          outShape: [nc, Og, P],
        }, epi)
        : gemm(rows[gi], cols, { alpha: g.alpha });
      if (keepCols) {
        g.saved = { x: dataOf(x), cols: keep(cols) };
        keptColumns++;
        keptBytes += colsBytes;
        tape!.onClose(() => {
          cols.dispose();
          g.saved = undefined;
          keptColumns--;
          keptBytes -= colsBytes;
        });
      } else {
        cols.dispose();
      }
      if (y === null) {
        y = yg.reshape(...yShape(g));
      } else if (g.G === 1) {
        rt.copy(
          yg.buffer("conv4"),
          yg.byteOffset("conv4"),
          y.buffer("conv4"),
          y.byteOffset("conv4") + n0 * g.O * P * 4,
          nc * g.O * P * 4,
        );
      } else {
        const dst = [g.O * P, P, 1];
        stridedCopyGpu("conv4", yg, 0, [Og * P, P, 1], y, (n0 * g.O + gi * Og) * P, dst, [
          nc,
          Og,
          P,
        ]);
      }
      yg.dispose();
    });
  } finally {
    for (const r of rows) r.dispose();
  }
  return y!;
}

function dxGpu([w, dy]: readonly Tensor[], g: ConvGeom): Tensor {
  if (g.algo === "naive") return naiveGpu("dx", w, dy, g);
  const dx = emptyGpu(xShape(g));
  if (dx.size === 0) return dx;
  const K = (g.C / g.G) * g.kH * g.kW;
  const P = g.Ho * g.Wo;
  const rows = Array.from({ length: g.G }, (_, gi) => filterRows(w, g, gi));
  try {
    forChunks(g, (n0, nc, gi) => {
      const dyg = g.G === 1 && nc === g.N
        ? dy.reshape(g.N, g.O, P)
        : dySlice(dy, g, n0, nc, gi, false);
      const dcols = gemm(rows[gi], dyg, { transA: true, alpha: g.alpha });
      dyg.dispose();
      im2colDispatch(
        "col2im",
        dcols.binding("deconv4"),
        dx.binding("deconv4"),
        g,
        n0,
        nc,
        gi,
        K * P,
        P,
      );
      dcols.dispose();
    });
  } finally {
    for (const r of rows) r.dispose();
  }
  return dx;
}

function dwGpu([x, dy]: readonly Tensor[], g: ConvGeom): Tensor {
  if (g.algo === "naive") return naiveGpu("dw", x, dy, g);
  const dw = emptyGpu(wShape(g));
  if (dw.size === 0) return dw;
  const rt = gpuRuntime();
  const Og = g.O / g.G;
  const K = (g.C / g.G) * g.kH * g.kW;
  const P = g.Ho * g.Wo;
  const acc: (Tensor | null)[] = Array(g.G).fill(null);
  try {
    forChunks(g, (n0, nc, gi) => {
      const prev = acc[gi];
      let part: Tensor;
      if (splitDw(g, nc)) {
        // Split over images: one small GEMM per image (dy_n · cols_nᵀ, [Og, K] each) in
        // one batched dispatch summed over the images (gemmGpuBatchSum: with split-K, one
        // reduction sums both). dy is used in place, and the forward pass's columns when
        // it kept them. The stacked form below has an inner dimension of nc·P but only
        // ⌈Og/64⌉·⌈K/64⌉ output tiles, i.e. almost no parallelism for small filters
        // (LeNet's first layer: one tile).
        const reuse = nc === g.N && savedColsOf(g, x);
        const cols = reuse ? g.saved!.cols : columnsOf(x, g, n0, nc, gi, false);
        const dyn = g.G === 1 && nc === g.N
          ? dy.reshape(g.N, g.O, P)
          : dySlice(dy, g, n0, nc, gi, false);
        part = gemmGpuBatchSum(dyn, cols, {
          M: Og,
          N: K,
          K: P,
          batch: nc,
          strideA: Og * P,
          strideB: K * P,
          transA: false,
          transB: true,
          alpha: g.alpha,
          beta: 0,
          outShape: [nc, Og, K],
        });
        if (!reuse) cols.dispose();
        dyn.dispose();
      } else {
        // Columns K-major [K, nc·P] and dy as [Og, nc·P]: dw_g = dy·colsᵀ is one GEMM.
        const cols = columnsOf(x, g, n0, nc, gi, true);
        const dyp = dySlice(dy, g, n0, nc, gi, true);
        part = gemm(dyp, cols, { transB: true, alpha: g.alpha });
        cols.dispose();
        dyp.dispose();
      }
      if (prev) {
        acc[gi] = binary("add", prev, part);
        prev.dispose();
        part.dispose();
      } else acc[gi] = part;
    });
    if (g.G === 1 && acc[0]) {
      // One group: the sum is the gradient (no copy).
      dw.dispose();
      return acc[0].reshape(...wShape(g));
    }
    for (let gi = 0; gi < g.G; gi++) {
      const a = acc[gi];
      if (a) {
        rt.copy(
          a.buffer("conv4_w"),
          a.byteOffset("conv4_w"),
          dw.buffer("conv4_w"),
          dw.byteOffset("conv4_w") + gi * Og * K * 4,
          Og * K * 4,
        );
      }
    }
  } finally {
    for (const a of acc) a?.dispose();
  }
  if (g.N === 0) fill(dw, 0); // an empty batch: the gradient is zero
  return dw;
}

// ---------------------------------------------------------------- ops

const conv4wOp = defineOp<ConvGeom>({
  name: "conv4_w",
  cpu: dwCpu,
  gpu: dwGpu,
  wasm: dwWasm,
});

const deconv4Op = defineOp<ConvGeom>({
  name: "deconv4",
  cpu: dxCpu,
  gpu: dxGpu,
  wasm: dxWasm,
  // inputs [w, x] with x in conv4's output shape; the result has conv4's input shape.
  backward: (dy, [w, x], _y, g, needs) => [
    needs[0] ? runOp(conv4wOp, [dy, x], g) : null,
    needs[1] ? runOp(conv4Op, [w, dy], g) : null,
  ],
});

/** The convolution op (inputs [w, x]). */
export const conv4Op: ReturnType<typeof defineOp<ConvGeom>> = defineOp<ConvGeom>({
  name: "conv4",
  cpu: fwdCpu,
  gpu: fwdGpu,
  wasm: fwdWasm,
  backward: (dy, [w, x], _y, g, needs) => [
    needs[0] ? runOp(conv4wOp, [x, dy], g) : null,
    needs[1] ? runOp(deconv4Op, [w, dy], g) : null,
  ],
});

function checkFilter(op: string, w: Tensor): void {
  check4d(op, w, "the filter w", "[O, C/group, kH, kW]");
  if (w.shape.some((d) => d === 0)) {
    throw new Error(`${op}: the filter w must not have an empty dimension, got ${describe(w)}`);
  }
}

/**
 * Knet's `conv4(w, x; padding, stride, dilation, mode, alpha, group)`: the 2-D
 * convolution of x [N,C,H,W] with the filters w [O, C/group, kH, kW], giving
 * y [N,O,Ho,Wo] with Ho = 1 + ⌊(H + 2P − ((kH−1)·D + 1)) / S⌋ (likewise Wo). Mode 0
 * flips the filter (true convolution, Knet's default), mode 1 does not
 * (cross-correlation). For a 1-D convolution use H = kH = 1. Differentiable in w and x.
 */
export function conv4(w: Tensor, x: Tensor, opts: ConvOptions = {}): Tensor {
  return runOp(conv4Op, [w, x], keepColsFor(convGeom("conv4", w, x, opts), w));
}

/**
 * Marks `g` to keep its im2col columns for the filter gradient when a tape is recording
 * a gradient for w (see {@link ConvGeom.saved}). Returns `g`.
 */
export function keepColsFor(g: ConvGeom, w: Tensor): ConvGeom {
  const tape = activeTape();
  if (tape !== null && tape.tracks(w)) g.keepFor = tape;
  return g;
}

/**
 * conv4's checks of w, x and the options (Errors name `op` and the shapes) and the
 * resolved geometry.
 */
export function convGeom(op: string, w: Tensor, x: Tensor, opts: ConvOptions): ConvGeom {
  checkInputs(op, [w, x]);
  const r = resolve(op, opts);
  checkFilter(op, w);
  check4d(op, x, "x", "[N, C, H, W]");
  const [O, Cg] = w.shape;
  const C = x.shape[1];
  if (O % r.G !== 0) {
    throw new Error(
      `${op}: group ${r.G} does not divide the ${O} output channels of w ${describe(w)}`,
    );
  }
  if (C % r.G !== 0) {
    throw new Error(`${op}: group ${r.G} does not divide the ${C} channels of x ${describe(x)}`);
  }
  if (Cg * r.G !== C) {
    throw new Error(
      `${op}: channel mismatch: x ${describe(x)} has ${C} channels but w ${
        describe(w)
      } expects ${Cg}·group = ${Cg * r.G}`,
    );
  }
  const g = makeGeom(r, x.shape, w.shape, O);
  if (g.Ho < 1 || g.Wo < 1) {
    throw new Error(
      `${op}: the filter window ${(g.kH - 1) * g.dH + 1}×${(g.kW - 1) * g.dW + 1} (w ${
        describe(w)
      }, dilation [${g.dH},${g.dW}]) is larger than the padded input ${g.H + 2 * g.pH}×${
        g.W + 2 * g.pW
      } (x ${describe(x)}, padding [${g.pH},${g.pW}])`,
    );
  }
  return g;
}

/**
 * Knet's `deconv4(w, x; ...)`: the transposed convolution, i.e. conv4's input gradient.
 * x [N,I,H,W] and w [I, O/group, kH, kW] (Knet's (kW,kH,O,I)) give y [N,O,Yh,Yw] with
 * Y = S·(X − 1) + (k − 1)·D + 1 − 2P; conv4(w, y) with the same options has x's shape.
 * Differentiable in w and x.
 */
export function deconv4(w: Tensor, x: Tensor, opts: ConvOptions = {}): Tensor {
  checkInputs("deconv4", [w, x]);
  const r = resolve("deconv4", opts);
  checkFilter("deconv4", w);
  check4d("deconv4", x, "x", "[N, I, H, W]");
  const [I, Og, kH, kW] = w.shape;
  const [N, Cx, Hx, Wx] = x.shape;
  if (Cx !== I) {
    throw new Error(
      `deconv4: channel mismatch: x ${describe(x)} has ${Cx} channels but w ${
        describe(w)
      } has ${I} input channels (its first dim)`,
    );
  }
  if (I % r.G !== 0) {
    throw new Error(`deconv4: group ${r.G} does not divide the ${I} channels of x ${describe(x)}`);
  }
  const Yh = r.stride[0] * (Hx - 1) + (kH - 1) * r.dil[0] + 1 - 2 * r.pad[0];
  const Yw = r.stride[1] * (Wx - 1) + (kW - 1) * r.dil[1] + 1 - 2 * r.pad[1];
  if (Yh < 1 || Yw < 1) {
    throw new Error(
      `deconv4: the padding [${r.pad}] is too large: the output of x ${describe(x)} with w ${
        describe(w)
      } would be ${Yh}×${Yw}`,
    );
  }
  const g = makeGeom(r, [N, Og * r.G, Yh, Yw], w.shape, I);
  return runOp(deconv4Op, [w, x], g);
}
