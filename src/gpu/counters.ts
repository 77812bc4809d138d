/**
 * Runtime counters: what the GPU runtime did since the last {@link resetCounters}.
 *
 * Tests and benchmarks read them to assert on dispatches, submits and host syncs
 * (a host sync costs ≥ 10 ms in Deno, so they matter more than kernel time).
 *
 * @module
 */

/** A snapshot of the runtime counters. */
export interface Counters {
  /** Compute dispatches encoded. */
  dispatches: number;
  /** Command buffers submitted to the queue. */
  submits: number;
  /** Times the host waited for the device (readbacks and explicit syncs). */
  hostSyncs: number;
  /** Bytes of GPU storage held by live tensors (not counting the pool's free buffers). */
  liveBytes: number;
  /** Bytes of GPU storage sitting free in the buffer pool. */
  pooledBytes: number;
  /** Buffer requests served from the pool. */
  poolHits: number;
  /** Buffer requests that had to create a new GPU buffer. */
  poolMisses: number;
  /** Compute pipelines compiled (one per kernel specialisation). */
  pipelinesCompiled: number;
  /** Bind groups created (the rest of the dispatches found theirs in the cache). */
  bindGroupsCreated: number;
  /** Bytes uploaded from the host. */
  uploadBytes: number;
  /** Bytes read back to the host. */
  readbackBytes: number;
}

/** The live counters object, mutated by the runtime. Read it through {@link counters}. */
export const liveCounters: Counters = {
  dispatches: 0,
  submits: 0,
  hostSyncs: 0,
  liveBytes: 0,
  pooledBytes: 0,
  poolHits: 0,
  poolMisses: 0,
  pipelinesCompiled: 0,
  bindGroupsCreated: 0,
  uploadBytes: 0,
  readbackBytes: 0,
};

/** A copy of the current counters. */
export function counters(): Counters {
  return { ...liveCounters };
}

/**
 * Resets the event counters (dispatches, submits, syncs, pool hits/misses, transfers)
 * to zero. The level counters `liveBytes` and `pooledBytes` describe current state and
 * are kept.
 */
export function resetCounters(): void {
  liveCounters.dispatches = 0;
  liveCounters.submits = 0;
  liveCounters.hostSyncs = 0;
  liveCounters.poolHits = 0;
  liveCounters.poolMisses = 0;
  liveCounters.pipelinesCompiled = 0;
  liveCounters.bindGroupsCreated = 0;
  liveCounters.uploadBytes = 0;
  liveCounters.readbackBytes = 0;
}
