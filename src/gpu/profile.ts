/**
 * Adapter profiles: every tuning constant and workaround of the GPU ops that depends on
 * the kind of adapter, in one place. The runtime picks a profile when it starts
 * ({@link profileFor}); `DENET_GPU_PROFILE=software|integrated|discrete` or
 * {@link setGpuProfile} overrides it.
 *
 * - **software** (Mesa's llvmpipe, SwiftShader, WARP: any fallback adapter): llvmpipe
 *   silently cuts an invocation's loops short after about 65 535 iterations in all, so
 *   long loops are sliced over several dispatches (GEMM's inner dimension, strided
 *   reductions, softmax and cross-entropy rows, scatter-add, pooling, naive convolution).
 * - **integrated** and **discrete** (hardware GPUs): no loop cap, so each of those is one
 *   dispatch; GEMM by kernels/gemm_gpu.wgsl, 256-thread tree reductions, online softmax.
 *   They differ in how many workgroups a GEMM should launch before it splits K (32 / 128).
 *   These hardware settings are reasoned from GPU architecture, not yet measured on one
 *   (no GPU was available to the project so far).
 *
 * @module
 */

import type { GpuInfo } from "./device.ts";

/** The adapter classes. */
export type GpuProfileName = "software" | "integrated" | "discrete";

/** The names {@link setGpuProfile} and DENET_GPU_PROFILE accept. */
export const GPU_PROFILE_NAMES: readonly GpuProfileName[] = ["software", "integrated", "discrete"];

/** The tuning of one adapter class (loop bounds are iterations per shader invocation). */
export interface GpuProfile {
  /** The class. */
  readonly name: GpuProfileName;
  /** Longest inner-dimension slice one GEMM dispatch sums (longer K: several dispatches). */
  readonly gemmKSlice: number;
  /**
   * GEMM by kernels/gemm_gpu.wgsl (≤ 64 accumulators per invocation, 64- or 128-wide
   * tiles, split-K) instead of llvmpipe's register-blocked gemm.wgsl and gemm_naive.wgsl.
   */
  readonly gemmGpuKernel: boolean;
  /** Workgroups a GEMM should launch to fill the device (split-K below; 0: never split). */
  readonly gemmMinWorkgroups: number;
  /** Longest slice of the reduced axis one strided-reduction dispatch covers. */
  readonly reduceStridedSlice: number;
  /** Longest row chunk of one row-reduction workgroup. */
  readonly reduceMaxChunk: number;
  /** Threads of a row-reduction workgroup (above 64: a log-depth tree combines them). */
  readonly reduceWorkgroup: number;
  /**
   * Row reductions with fewer rows than this split rows longer than 2 · `reduceChunk` into
   * chunks of `reduceChunk` and a second pass, so that a few long rows fill the device.
   */
  readonly reduceSplitRows: number;
  /** See {@link GpuProfile.reduceSplitRows}. */
  readonly reduceChunk: number;
  /** Contiguous rows of a multiple of 4 elements are read as vec4s (reduce.wgsl main_vec4). */
  readonly reduceVec4: boolean;
  /**
   * A reduction over a block of middle (or leading) axes runs strided in place, one
   * thread per output, instead of permuting first, when the reduced length is at most
   * this (as well as when there are at least 256 outputs): bias gradients (sums over
   * the batch axis) then take one dispatch. Measured on llvmpipe (sum over axis 0, same
   * run): [100,64] 474 → 120 µs and [1000,64] 3 400 → 200 µs against permute + row
   * reduction; outputs ≥ 256 take the strided kernel anyway.
   */
  readonly reduceStridedShortLen: number;
  /** Rows longer than this are softmax-ed by composed ops instead of softmax.wgsl. */
  readonly softmaxLongRow: number;
  /** Rows longer than this take xent.wgsl's sliced entry points, this many columns each. */
  readonly xentSlice: number;
  /**
   * xent.wgsl's long rows in one pass (online max and sum) instead of two: half the reads
   * where memory bounds the pass (hardware GPUs). Off on software adapters, where it
   * measured no faster (llvmpipe, nll forward + backward: [256,1000] 10.6 → 12.2 ms,
   * [64,10000] 15.0 → 13.5 ms, noisy).
   */
  readonly onlineSoftmax: boolean;
  /** Most indices one scatter-add dispatch walks. */
  readonly scatterSlice: number;
  /** Loop iterations one pooling invocation may run per dispatch. */
  readonly poolBudget: number;
  /** Loop iterations one naive-convolution invocation may run per dispatch. */
  readonly convNaiveBudget: number;
}

/** No bound in practice (every such loop length fits a u32 uniform). */
const UNBOUNDED = 2 ** 30;

const SOFTWARE: GpuProfile = Object.freeze({
  name: "software",
  gemmKSlice: 8192,
  gemmGpuKernel: false,
  gemmMinWorkgroups: 0,
  reduceStridedSlice: 16384,
  reduceMaxChunk: 1 << 20,
  reduceWorkgroup: 64,
  reduceSplitRows: 8,
  reduceChunk: 16384,
  reduceVec4: true,
  reduceStridedShortLen: 2048,
  softmaxLongRow: 1 << 20,
  xentSlice: 1 << 18,
  onlineSoftmax: false,
  scatterSlice: 16384,
  poolBudget: 16384,
  convNaiveBudget: 16384,
});

const HARDWARE = {
  gemmKSlice: UNBOUNDED,
  gemmGpuKernel: true,
  reduceStridedSlice: UNBOUNDED,
  reduceMaxChunk: 1 << 20,
  reduceWorkgroup: 256,
  reduceSplitRows: 64,
  reduceChunk: 65536,
  reduceVec4: true,
  reduceStridedShortLen: 2048,
  softmaxLongRow: UNBOUNDED,
  xentSlice: UNBOUNDED,
  onlineSoftmax: true,
  scatterSlice: UNBOUNDED,
  poolBudget: UNBOUNDED,
  convNaiveBudget: UNBOUNDED,
};

/** Every profile by name. */
export const GPU_PROFILES: Readonly<Record<GpuProfileName, GpuProfile>> = Object.freeze({
  software: SOFTWARE,
  integrated: Object.freeze({ name: "integrated", ...HARDWARE, gemmMinWorkgroups: 32 }),
  discrete: Object.freeze({ name: "discrete", ...HARDWARE, gemmMinWorkgroups: 128 }),
});

const DISCRETE_VENDORS = /nvidia|geforce|quadro|tesla|rtx|amd|radeon|\bati\b/i;

/**
 * The profile of an adapter and why: software for a fallback adapter or a known software
 * rasteriser (llvmpipe, lavapipe, SwiftShader, WARP, softpipe); discrete for NVIDIA and
 * AMD; integrated otherwise (Apple, Intel, ARM, Qualcomm, ...).
 */
export function profileFor(info: GpuInfo): { profile: GpuProfile; reason: string } {
  const text = `${info.vendor} ${info.architecture} ${info.description}`;
  if (
    info.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader|softpipe|warp|software/i.test(text)
  ) {
    return { profile: SOFTWARE, reason: `software adapter (${info.description || info.vendor})` };
  }
  if (DISCRETE_VENDORS.test(text)) {
    return { profile: GPU_PROFILES.discrete, reason: `discrete GPU vendor (${text.trim()})` };
  }
  return {
    profile: GPU_PROFILES.integrated,
    reason: `not a known discrete vendor (${text.trim()})`,
  };
}

let current: GpuProfile = SOFTWARE;
let currentReason = "no GPU started yet";

/** The active profile (software until a GPU starts). */
export function gpuProfile(): GpuProfile {
  return current;
}

/** Why the active profile was chosen. */
export function gpuProfileReason(): string {
  return currentReason;
}

/** Checks a profile name; an Error lists the names. */
function checkName(name: string, source: string): GpuProfileName {
  if (!(GPU_PROFILE_NAMES as readonly string[]).includes(name)) {
    throw new Error(
      `${source}: unknown GPU profile '${name}' (expected ${GPU_PROFILE_NAMES.join(", ")})`,
    );
  }
  return name as GpuProfileName;
}

/**
 * Forces profile `name` (tests and benchmarks compare profiles on one adapter). A
 * hardware profile on a software adapter runs loops longer than llvmpipe executes: only
 * sizes below its cap give right results there.
 */
export function setGpuProfile(name: GpuProfileName): void {
  current = GPU_PROFILES[checkName(name, "setGpuProfile")];
  currentReason = `set by setGpuProfile("${name}")`;
}

/** DENET_GPU_PROFILE, checked (an Error names the accepted values), or undefined. */
export function envProfile(): GpuProfileName | undefined {
  let forced: string | undefined;
  try {
    forced = Deno.env.get("DENET_GPU_PROFILE") || undefined;
  } catch {
    return undefined; // no env permission
  }
  return forced === undefined ? undefined : checkName(forced, "DENET_GPU_PROFILE");
}

/**
 * Picks the profile for a starting runtime: DENET_GPU_PROFILE when set, else
 * {@link profileFor}. Called by the runtime.
 */
export function selectProfile(info: GpuInfo): GpuProfile {
  const forced = envProfile();
  if (forced !== undefined) {
    current = GPU_PROFILES[forced];
    currentReason = `DENET_GPU_PROFILE=${forced}`;
  } else {
    const { profile, reason } = profileFor(info);
    current = profile;
    currentReason = reason;
  }
  return current;
}
