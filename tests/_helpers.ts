/**
 * Shared test helpers: numeric comparison with one stated f32 tolerance, and GPU
 * availability (GPU tests fail instead of skipping when DENET_REQUIRE_GPU=1).
 */

import { gpuProfile, setGpuProfile } from "../src/gpu/profile.ts";
import assert from "node:assert/strict";
import { init, setDefaultDevice } from "../internals.ts";
import { gpuReady } from "../src/gpu/runtime.ts";

/** The f32 tolerance for GPU-vs-CPU comparisons, stated once: |a − e| ≤ atol + rtol·|e|. */
export const F32_TOL = { rtol: 1e-5, atol: 1e-6 } as const;

/** Tolerances of {@link assertClose}. */
export interface Tol {
  rtol: number;
  atol: number;
}

/**
 * Asserts elementwise |actual − expected| ≤ atol + rtol·|expected| (NaN matches NaN,
 * infinities must match exactly), reporting the worst element.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tol = F32_TOL,
  what = "values",
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: length ${actual.length} != expected ${expected.length}`);
  }
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      if (a !== e) {
        worst = i;
        worstExcess = Infinity;
        break;
      }
      continue;
    }
    const excess = Math.abs(a - e) - (tol.atol + tol.rtol * Math.abs(e));
    if (excess > worstExcess || (excess > 0 && worst < 0)) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
        `(rtol ${tol.rtol}, atol ${tol.atol}; ${actual.length} elements)`,
    );
  }
}

/** Whether GPU tests must run (CI sets DENET_REQUIRE_GPU=1). */
export const REQUIRE_GPU = Deno.env.get("DENET_REQUIRE_GPU") === "1";

let gpuProbe: Promise<boolean> | null = null;

/**
 * Initialises the GPU once per test file. Returns false (tests skip) when no adapter is
 * found, unless DENET_REQUIRE_GPU=1, where it throws.
 */
export function haveGpu(): Promise<boolean> {
  gpuProbe ??= (async () => {
    try {
      await init({ device: "gpu" });
      setDefaultDevice("cpu");
      return gpuReady();
    } catch (e) {
      if (REQUIRE_GPU) throw new Error(`DENET_REQUIRE_GPU=1 but no GPU: ${(e as Error).message}`);
      console.warn(`GPU tests skipped: ${(e as Error).message}`);
      return false;
    }
  })();
  return gpuProbe;
}

/** Sizes every kernel is tested on (non-multiples of any tile, plus a large one). */
export const EDGE_SIZES = [1, 7, 33, 257, 1000, 100_003] as const;

/** Options for GPU tests: WebGPU keeps handles open, so resource sanitizers are off. */
export const GPU_TEST = { sanitizeOps: false, sanitizeResources: false } as const;

/** Asserts two arrays are identical element by element (Object.is: NaN equals NaN, −0 ≠ 0). */
export function assertExact(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

/**
 * Runs `f` under the software and then the discrete GPU tuning profile (the two kernel
 * choices a GPU test must cover) and restores the profile in force before.
 */
export async function onGpuProfiles(
  f: (profile: "software" | "discrete") => Promise<void> | void,
): Promise<void> {
  const before = gpuProfile().name;
  try {
    for (const p of ["software", "discrete"] as const) {
      setGpuProfile(p);
      await f(p);
    }
  } finally {
    setGpuProfile(before);
  }
}
