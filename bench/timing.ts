/**
 * Timing helpers for GPU benchmarks. A host sync costs ≥ 10 ms in Deno, so each
 * measurement encodes many launches and waits once, doubling the repetitions until the
 * timed span is long enough for that one sync to be noise.
 */

import { gpuRuntime } from "../src/gpu/runtime.ts";
import type { Tensor } from "../src/tensor/tensor.ts";

/** Result of {@link timeGpu}. */
export interface Timing {
  /** Milliseconds per launch of `run`. */
  ms: number;
  /** Launches in the final timed span. */
  reps: number;
}

/**
 * Times `run` on the GPU: each call may return a tensor, disposed right away (its buffer
 * is recycled only after the submit, so this is safe).
 */
export async function timeGpu(run: () => Tensor | void, minMs = 300): Promise<Timing> {
  const rt = gpuRuntime();
  run()?.dispose();
  await rt.sync();
  let reps = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) run()?.dispose();
    await rt.sync();
    const dt = performance.now() - t0;
    if (dt >= minMs || reps >= 1 << 14) return { ms: dt / reps, reps };
    reps *= Math.max(2, Math.min(16, Math.ceil(minMs / Math.max(dt, 1))));
  }
}

/** GFLOP/s of an M×N×K GEMM taking `ms`. */
export function gemmGflops(m: number, n: number, k: number, ms: number): number {
  return (2 * m * n * k) / (ms * 1e6);
}

/** GB/s for `bytes` moved in `ms`. */
export function gbps(bytes: number, ms: number): number {
  return bytes / (ms * 1e6);
}
