/**
 * GEMM: C = α·op(A)·op(B) + β·C with optional transposes, batched (bmm) and with
 * NumPy-style batch broadcasting (matmul). GPU: kernels/gemm.wgsl (register-blocked
 * tiles); CPU twin: {@link gemmCpu}, accumulating in f64.
 *
 * @module
 */

import { gpuProfile } from "../gpu/profile.ts";
import { kernelCall } from "../cpu/call.ts";
import { gpuRuntime, type StorageBinding } from "../gpu/runtime.ts";
import { UniformWriter } from "../gpu/uniforms.ts";
import { broadcastShapes, fmtShape } from "../tensor/shape.ts";
import { emptyGpu, hostArray, shapeSize, Tensor } from "../tensor/tensor.ts";
import { checkInputs, defineOp, describe, runOp } from "./registry.ts";
import { binary } from "./elementwise.ts";
import { reduceRowsGpu, sum } from "./reduce.ts";
import { broadcastTo } from "./shape.ts";

/** Output tile of kernels/gemm.wgsl: dispatch x = ceil(N / GEMM_TILE_N), y = ceil(M / GEMM_TILE_M). */
export const GEMM_TILE_M = 128;
/** See {@link GEMM_TILE_M}. */
export const GEMM_TILE_N = 128;

/**
 * Below this many rows or columns of C the register-blocked kernel's 128×128 tiles are
 * mostly idle and the one-thread-per-output kernel is faster (measured on llvmpipe at
 * K = N = 1024: M = 1 ran 0.05 vs 0.63 GFLOP/s, M = 8 0.41 vs 0.57, M = 32 1.67 vs 0.66).
 */
export const GEMM_SKINNY = 16;

/**
 * Whether the one-thread-per-output kernel beats the 128×128-tile kernel for an M×N
 * output: when C is skinny (see {@link GEMM_SKINNY}) or when under a tenth of the tiles'
 * area holds real outputs (e.g. LeNet's per-image filter gradients, 20×25: 3%).
 */
function preferNaive(M: number, N: number): boolean {
  const used = (M / (Math.ceil(M / GEMM_TILE_M) * GEMM_TILE_M)) *
    (N / (Math.ceil(N / GEMM_TILE_N) * GEMM_TILE_N));
  return Math.min(M, N) <= GEMM_SKINNY || used < 0.1;
}

/** A fully resolved (batched) GEMM problem. */
export interface GemmAttrs {
  M: number;
  N: number;
  K: number;
  batch: number;
  /** Batch strides in elements (0 = the operand is shared by every batch entry). */
  strideA: number;
  strideB: number;
  transA: boolean;
  transB: boolean;
  alpha: number;
  beta: number;
  outShape: number[];
  /**
   * GPU kernel: by default the adapter profile's choice (hardware GPUs: "gemm_gpu";
   * software adapters: the register-blocked "gemm", or the one-thread-per-output
   * "gemm_naive" for skinny outputs, see {@link GEMM_SKINNY}); forcing one compares them.
   */
  kernel?: GemmKernel;
}

/** The GPU GEMM kernels (see {@link GemmAttrs.kernel}). */
export type GemmKernel = "gemm" | "gemm_naive" | "gemm_gpu";

/** CPU twin of gemm.wgsl. Inputs: A, B and optionally C (same shape as the output). */
export function gemmCpu(inputs: readonly Tensor[], g: GemmAttrs): Tensor {
  const [a, b, c] = inputs;
  const A = a.host("gemm");
  const B = b.host("gemm");
  const out = hostArray(a.dtype, g.batch * g.M * g.N);
  const { M, N, K } = g;
  const row = new Float64Array(N);
  for (let bi = 0; bi < g.batch; bi++) {
    const oa = bi * g.strideA;
    const ob = bi * g.strideB;
    for (let i = 0; i < M; i++) {
      row.fill(0);
      for (let k = 0; k < K; k++) {
        const av = g.transA ? A[oa + k * M + i] : A[oa + i * K + k];
        if (av === 0) continue;
        if (g.transB) { for (let j = 0; j < N; j++) row[j] += av * B[ob + j * K + k]; }
        else for (let j = 0; j < N; j++) row[j] += av * B[ob + k * N + j];
      }
      const oc = (bi * M + i) * N;
      if (c && g.beta !== 0) {
        const C = c.host("gemm");
        for (let j = 0; j < N; j++) out[oc + j] = g.alpha * row[j] + g.beta * C[oc + j];
      } else {
        for (let j = 0; j < N; j++) out[oc + j] = g.alpha * row[j];
      }
    }
  }
  return new Tensor(g.outShape, a.dtype, out);
}

/**
 * CPU backend: kernels/cpu/gemm.c (packed panels, a register-blocked SIMD micro-kernel),
 * rows or batch entries split over the threads.
 */
export function gemmWasm(inputs: readonly Tensor[], g: GemmAttrs): Tensor {
  const [a, b, c] = inputs;
  return kernelCall("gemm", (k) => {
    const [y, py] = k.out(g.outShape);
    if (y.size === 0) return y;
    const beta = c !== undefined ? g.beta : 0;
    if (beta !== 0) y.host().set(c.host("gemm"));
    const pa = k.in(a), pb = k.in(b);
    const work = g.batch * g.M * g.N * g.K;
    const w = k.rt.gemmWork;
    if (g.batch === 1) {
      k.run("gemm", [g.M, g.N, g.K, pa, +g.transA, pb, +g.transB, py, g.alpha, beta, w], work);
    } else {
      k.run("gemm_batched", [
        g.batch,
        g.M,
        g.N,
        g.K,
        pa,
        g.strideA,
        +g.transA,
        pb,
        g.strideB,
        +g.transB,
        py,
        g.M * g.N,
        g.alpha,
        beta,
        1,
        w,
      ], work);
    }
    return y;
  });
}

/**
 * A fused GEMM epilogue (the override EPI of the gemm kernels): add `bias` (one value per
 * output column, or per row) and, with `relu`, apply relu, as the output is written.
 */
export interface GemmEpilogue {
  /** [N]: added to every row of the product ([M] with `perRow`: added to every column). */
  bias: Tensor;
  /** Apply relu after the bias. */
  relu: boolean;
  /** One bias value per row m (a convolution's channels) instead of per column n. */
  perRow?: boolean;
}

/** The EPI override of an epilogue (0: none). */
function epiCode(epi: GemmEpilogue | undefined): number {
  if (!epi) return 0;
  return (epi.relu ? 2 : 1) + (epi.perRow ? 2 : 0);
}

/**
 * GPU: one dispatch of gemm.wgsl (plus a copy of C when β ≠ 0), with the bias and relu
 * of `epi` applied as the output is written.
 */
export function gemmGpu(inputs: readonly Tensor[], g: GemmAttrs, epi?: GemmEpilogue): Tensor {
  const [a, b, c] = inputs;
  const y = emptyGpu(g.outShape);
  if (y.size === 0) return y;
  const rt = gpuRuntime();
  const useBeta = c !== undefined && g.beta !== 0;
  if (useBeta) {
    rt.copy(
      c.buffer("gemm"),
      c.byteOffset("gemm"),
      y.buffer("gemm"),
      y.byteOffset("gemm"),
      y.size * 4,
    );
  }
  const profile = gpuProfile();
  const kernel = g.kernel ??
    (profile.gemmGpuKernel ? "gemm_gpu" : preferNaive(g.M, g.N) ? "gemm_naive" : "gemm");
  const biasBuf = epi ? epi.bias.binding("gemm") : rt.dummy;
  if (kernel === "gemm_gpu") {
    return gemmGpuTiled(a, b, y, g, useBeta, profile.gemmMinWorkgroups, epi, biasBuf);
  }
  const naive = kernel === "gemm_naive";
  const tm = naive ? 16 : GEMM_TILE_M;
  const tn = naive ? 16 : GEMM_TILE_N;
  // K = 0: op(A)·op(B) is all zeros; bind the output twice is not allowed, so use dummies.
  const aBuf = a.size > 0 ? a.binding("gemm") : rt.dummy;
  const bBuf = b.size > 0 ? b.binding("gemm") : rt.dummy;
  // The inner dimension is summed in slices of at most the profile's gemmKSlice per dispatch, each
  // slice after the first adding onto C: llvmpipe caps the loop iterations of one shader
  // invocation (about 65 536, all loops together) and silently returns garbage beyond.
  const kSlice = gpuProfile().gemmKSlice;
  for (let k0 = 0; k0 < Math.max(g.K, 1); k0 += kSlice) {
    const first = k0 === 0;
    const last = k0 + kSlice >= g.K;
    const accumulate = first ? useBeta : true;
    rt.dispatch({
      kernel,
      constants: {
        TRANS_A: g.transA,
        TRANS_B: g.transB,
        USE_BETA: accumulate,
        EPI: last ? epiCode(epi) : 0,
      },
      uniforms: new UniformWriter()
        .u32(g.M).u32(g.N).u32(g.K).u32(g.batch)
        .u32(g.strideA).u32(g.strideB).u32(g.M * g.N).u32(k0)
        .f32(g.alpha).f32(first ? (useBeta ? g.beta : 0) : 1).u32(Math.min(g.K, k0 + kSlice))
        .u32(0)
        .build(),
      buffers: [aBuf, bBuf, y.binding("gemm"), biasBuf],
      workgroups: [Math.ceil(g.N / tn), Math.ceil(g.M / tm), g.batch],
    });
  }
  return y;
}

/**
 * GPU: Σ over the batch of α·op(A_b)·op(B_b) as one [M, N] tensor (a convolution's filter
 * gradient summed over the images). With the hardware kernel the batch sum and a split-K
 * sum are one strided reduction; otherwise the batched product, then the sum. The
 * product must not be empty.
 */
export function gemmGpuBatchSum(a: Tensor, b: Tensor, g: GemmAttrs): Tensor {
  const profile = gpuProfile();
  const kernel = g.kernel ??
    (profile.gemmGpuKernel ? "gemm_gpu" : preferNaive(g.M, g.N) ? "gemm_naive" : "gemm");
  if (g.batch * g.M * g.N === 0) {
    throw new Error(`gemmGpuBatchSum: an empty product (batch ${g.batch}, ${g.M}×${g.N})`);
  }
  if (kernel === "gemm_gpu") {
    const dummy = gpuRuntime().dummy;
    return gemmGpuTiled(a, b, null, g, false, profile.gemmMinWorkgroups, undefined, dummy, true);
  }
  const perImage = gemmGpu([a, b], { ...g, kernel });
  try {
    return reduceRowsGpu(perImage, null, {
      kind: "sum",
      map: "id",
      sqrt: false,
      scale: 1,
      rows: g.M * g.N,
      len: g.batch,
      inner: g.M * g.N,
      outShape: [g.M, g.N],
    });
  } finally {
    perImage.dispose();
  }
}

/** Largest split-K factor of {@link gemmGpuTiled}. */
const MAX_SPLITS = 16;

/**
 * kernels/gemm_gpu.wgsl (with the epilogue `epi`, bias bound at `biasBuf`): 64×64 tiles (4×4 outputs per invocation) or, when those would
 * launch over `minWorkgroups` · 4 workgroups, 128×128 tiles (8×8); when the tiles do not
 * reach `minWorkgroups` and K is long, split-K over up to {@link MAX_SPLITS} workgroups
 * per tile into a scratch summed by one strided reduction. `y` holds C₀ when `useBeta`.
 * With `sumBatch` (y null) the result is the [M, N] sum over the batch entries, the
 * batch folded into that reduction.
 */
function gemmGpuTiled(
  a: Tensor,
  b: Tensor,
  y: Tensor | null,
  g: GemmAttrs,
  useBeta: boolean,
  minWorkgroups: number,
  epi: GemmEpilogue | undefined,
  biasBuf: StorageBinding,
  sumBatch = false,
): Tensor {
  const rt = gpuRuntime();
  const tiles = (t: number) => Math.ceil(g.M / t) * Math.ceil(g.N / t) * g.batch;
  const TB = tiles(128) >= minWorkgroups ? 8 : 4;
  const T = 16 * TB;
  // The epilogue needs the whole sum in one workgroup: no split-K then.
  const mn = g.M * g.N;
  // The partial sums [splits, batch·M·N] must fit one storage binding.
  const maxSplits = Math.floor(rt.info.limits.maxStorageBufferBindingSize / (g.batch * mn * 4));
  const splits = useBeta || epi ? 1 : Math.max(
    1,
    Math.min(
      MAX_SPLITS,
      maxSplits,
      Math.ceil(minWorkgroups / tiles(T)),
      Math.floor(g.K / 64),
    ),
  );
  const parts = splits > 1 || sumBatch ? emptyGpu([splits, g.batch * mn]) : null;
  rt.dispatch({
    kernel: "gemm_gpu",
    constants: {
      TRANS_A: g.transA,
      TRANS_B: g.transB,
      USE_BETA: useBeta,
      TB,
      SPLITS: splits,
      EPI: epiCode(epi),
    },
    uniforms: new UniformWriter()
      .u32(g.M).u32(g.N).u32(g.K).u32(g.batch)
      .u32(g.strideA).u32(g.strideB).u32(mn).u32(0)
      .f32(g.alpha).f32(useBeta ? g.beta : 0).u32(g.K).u32(g.batch * mn)
      .build(),
    buffers: [
      a.size > 0 ? a.binding("gemm") : rt.dummy,
      b.size > 0 ? b.binding("gemm") : rt.dummy,
      parts ? parts.binding("gemm") : y!.binding("gemm"),
      biasBuf,
    ],
    workgroups: [Math.ceil(g.N / T), Math.ceil(g.M / T), g.batch * splits],
  });
  if (parts) {
    // y = Σ over the splits: [splits, batch·M·N] summed along the first axis, strided;
    // with sumBatch also over the batch: [splits·batch, M·N] along the first axis.
    const outer = sumBatch ? splits * g.batch : splits;
    const r = reduceRowsGpu(parts, null, {
      kind: "sum",
      map: "id",
      sqrt: false,
      scale: 1,
      rows: (g.batch * splits * mn) / outer,
      len: outer,
      inner: (g.batch * splits * mn) / outer,
      outShape: sumBatch ? [g.M, g.N] : g.outShape,
    });
    parts.dispose();
    y?.dispose();
    return r;
  }
  return y!;
}

/**
 * Gradient of C = α·op(A)·op(B) + β·C₀. With Ā = op(A), B̄ = op(B): dĀ = α·dC·B̄ᵀ and
 * dB̄ = α·Āᵀ·dC, each written as one GEMM with the transposes that give the stored
 * layout; dC₀ = β·dC. A 2-D operand shared by a batch gets the sum over the batch.
 */
function gemmBackward(
  dc: Tensor,
  inputs: readonly Tensor[],
  _y: Tensor,
  g: GemmAttrs,
  needs: readonly boolean[],
): (Tensor | null)[] {
  const [a, b] = inputs;
  const opts = (transA: boolean, transB: boolean) => ({ transA, transB, alpha: g.alpha });
  const shared = (
    t: Tensor,
    grad: Tensor,
  ) => (t.rank === 2 && grad.rank === 3 ? sum(grad, 0) : grad);
  let da: Tensor | null = null;
  let db: Tensor | null = null;
  if (needs[0]) {
    da = g.transA ? gemm(b, dc, opts(g.transB, true)) : gemm(dc, b, opts(false, !g.transB));
    da = shared(a, da);
  }
  if (needs[1]) {
    if (b.rank === 2 && a.rank === 3 && !g.transA && !g.transB) {
      // Shared B and a batched, untransposed A: one GEMM over the stacked rows.
      db = gemm(a.reshape(g.batch * g.M, g.K), dc.reshape(g.batch * g.M, g.N), opts(true, false));
    } else {
      db = g.transB ? gemm(dc, a, opts(true, g.transA)) : gemm(a, dc, opts(!g.transA, false));
      db = shared(b, db);
    }
  }
  const dc0 = inputs.length === 3 && needs[2] ? binary("mul", dc, g.beta) : null;
  return inputs.length === 3 ? [da, db, dc0] : [da, db];
}

const gemmOp = defineOp<GemmAttrs>({
  name: "gemm",
  cpu: gemmCpu,
  gpu: gemmGpu,
  wasm: gemmWasm,
  backward: gemmBackward,
});

/** Options of {@link gemm}. */
export interface GemmOptions {
  /** Use Aᵀ (A stored as [K,M]). */
  transA?: boolean;
  /** Use Bᵀ (B stored as [N,K]). */
  transB?: boolean;
  /** Scale of the product (default 1). */
  alpha?: number;
  /** Scale of C (default 0; C must be given when β ≠ 0). */
  beta?: number;
  /** The C operand (not modified: the result is a new tensor). */
  c?: Tensor;
  /** GPU kernel (default: the adapter profile's, chosen by shape); forcing one compares them. */
  kernel?: GemmKernel;
}

function dims(op: string, t: Tensor, trans: boolean, which: string): [number, number] {
  const r = t.shape[t.rank - 2];
  const c = t.shape[t.rank - 1];
  if (r === undefined || c === undefined) {
    throw new Error(`${op}: operand ${which} must have at least 2 dimensions, got ${describe(t)}`);
  }
  return trans ? [c, r] : [r, c];
}

/**
 * General matrix multiply: α·op(A)·op(B) + β·C for 2-D operands, or batched 3-D ones
 * ([batch, rows, cols]; a 2-D operand is shared by the batch). Returns a new tensor.
 */
export function gemm(a: Tensor, b: Tensor, opts: GemmOptions = {}): Tensor {
  const inputs = opts.c ? [a, b, opts.c] : [a, b];
  checkInputs("gemm", inputs);
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  for (const [t, w] of [[a, "A"], [b, "B"]] as const) {
    if (t.rank !== 2 && t.rank !== 3) {
      throw new Error(`gemm: operand ${w} must be 2-D or 3-D, got ${describe(t)}`);
    }
  }
  const [M, K] = dims("gemm", a, transA, "A");
  const [K2, N] = dims("gemm", b, transB, "B");
  if (K !== K2) {
    throw new Error(
      `gemm: inner dimensions differ: op(A) is ${M}×${K}, op(B) is ${K2}×${N} (A ${
        fmtShape(a.shape)
      }${transA ? "ᵀ" : ""}, B ${fmtShape(b.shape)}${transB ? "ᵀ" : ""})`,
    );
  }
  const ba = a.rank === 3 ? a.shape[0] : 1;
  const bb = b.rank === 3 ? b.shape[0] : 1;
  if (a.rank === 3 && b.rank === 3 && ba !== bb) {
    throw new Error(`gemm: batch sizes differ: A ${fmtShape(a.shape)}, B ${fmtShape(b.shape)}`);
  }
  const batched = a.rank === 3 || b.rank === 3;
  const batch = Math.max(ba, bb);
  const outShape = batched ? [batch, M, N] : [M, N];
  const beta = opts.beta ?? 0;
  if (beta !== 0 && !opts.c) throw new Error("gemm: beta ≠ 0 needs the C operand (opts.c)");
  if (
    opts.c && (opts.c.rank !== outShape.length || opts.c.shape.some((d, i) => d !== outShape[i]))
  ) {
    throw new Error(`gemm: C has shape ${fmtShape(opts.c.shape)}, expected ${fmtShape(outShape)}`);
  }
  return runOp(gemmOp, inputs, {
    M,
    N,
    K,
    batch,
    strideA: a.rank === 3 ? M * K : 0,
    strideB: b.rank === 3 ? K * N : 0,
    transA,
    transB,
    alpha: opts.alpha ?? 1,
    beta,
    outShape,
    kernel: opts.kernel,
  });
}

/**
 * Batched matrix multiply of 3-D tensors [batch, M, K] · [batch, K, N] → [batch, M, N]
 * (Knet's `bmm`), with optional transposes of the matrices.
 */
export function bmm(
  a: Tensor,
  b: Tensor,
  opts: { transA?: boolean; transB?: boolean } = {},
): Tensor {
  if (a.rank !== 3 || b.rank !== 3) {
    throw new Error(`bmm: operands must be 3-D, got ${describe(a)} and ${describe(b)}`);
  }
  return gemm(a, b, opts);
}

/**
 * Matrix product with NumPy semantics: 1-D operands are promoted (and the added
 * dimension removed), leading batch dimensions broadcast.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkInputs("matmul", [a, b]);
  if (a.rank === 0 || b.rank === 0) {
    throw new Error(
      `matmul: operands must have at least 1 dimension, got ${describe(a)} and ${describe(b)}`,
    );
  }
  const av = a.rank === 1 ? a.reshape(1, a.size) : a;
  const bv = b.rank === 1 ? b.reshape(b.size, 1) : b;
  const [M, K] = [av.shape[av.rank - 2], av.shape[av.rank - 1]];
  const [K2, N] = [bv.shape[bv.rank - 2], bv.shape[bv.rank - 1]];
  const release: Tensor[] = [];
  if (av !== a) release.push(av);
  if (bv !== b) release.push(bv);
  try {
    if (K !== K2) {
      throw new Error(
        `matmul: inner dimensions differ: ${fmtShape(a.shape)} · ${
          fmtShape(b.shape)
        } (${K} vs ${K2})`,
      );
    }
    const batchA = av.shape.slice(0, -2);
    const batchB = bv.shape.slice(0, -2);
    const batchShape = broadcastShapes("matmul", batchA, batchB);
    const batch = shapeSize(batchShape);
    const as3 = toBatch3(av, batchA, batchShape, batch, release);
    const bs3 = toBatch3(bv, batchB, batchShape, batch, release);
    const out = gemm(as3, bs3);
    release.push(out);
    let shape = [...batchShape, M, N];
    if (a.rank === 1) shape = [...batchShape, N];
    if (b.rank === 1) shape = a.rank === 1 ? [...batchShape] : [...batchShape, M];
    return out.reshape(shape);
  } finally {
    for (const t of release) t.dispose();
  }
}

/** A 2-D view (shared by the batch) or a contiguous [batch, r, c] view of an operand. */
function toBatch3(
  t: Tensor,
  own: readonly number[],
  full: readonly number[],
  batch: number,
  release: Tensor[],
): Tensor {
  const [r, c] = [t.shape[t.rank - 2], t.shape[t.rank - 1]];
  if (shapeSize(own) === 1 && batch !== 1) {
    const v = t.reshape(r, c);
    release.push(v);
    return v;
  }
  const sameBatch = own.length === full.length && own.every((d, i) => d === full[i]);
  const src = sameBatch ? t : broadcastTo(t, [...full, r, c]);
  if (src !== t) release.push(src);
  const v = src.reshape(batch, r, c);
  release.push(v);
  return v;
}
