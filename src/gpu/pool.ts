/**
 * A GPU buffer pool keyed by size class.
 *
 * Requests are rounded up to a size class (multiples of 256 bytes, then quarter steps
 * between powers of two, so at most 25 % is wasted). A buffer released while encoded work
 * may still read it goes to a "retiring" list until the runtime submits: it may be reused
 * at once as the output of later encoded GPU work (the queue runs that work in order, after
 * the readers), but not as the target of a `queue.writeBuffer`, which would land *before*
 * the pending work. Uploads therefore take only buffers freed by an earlier submit.
 *
 * @module
 */

import { liveCounters } from "./counters.ts";

/** Rounds a byte size up to its size class. */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 256) * 256);
  if (b <= 4096) return b;
  const p = 2 ** Math.floor(Math.log2(b));
  const quarter = p / 4;
  return Math.ceil(b / quarter) * quarter;
}

/** Pooled GPU buffers of one usage. */
export class BufferPool {
  readonly #device: GPUDevice;
  readonly #usage: GPUBufferUsageFlags;
  readonly #label: string;
  readonly #free = new Map<number, GPUBuffer[]>();
  #retiring: GPUBuffer[] = [];
  #freeBytes = 0;
  /** Free bytes above which released buffers are destroyed instead of kept. */
  readonly maxFreeBytes: number;
  /** Whether this pool's buffers count in `liveBytes`/`pooledBytes`. */
  readonly #counted: boolean;

  /** A pool creating buffers with `usage`; `counted` pools update liveBytes/pooledBytes. */
  constructor(
    device: GPUDevice,
    usage: GPUBufferUsageFlags,
    label: string,
    opts: { maxFreeBytes?: number; counted?: boolean } = {},
  ) {
    this.#device = device;
    this.#usage = usage;
    this.#label = label;
    this.maxFreeBytes = opts.maxFreeBytes ?? 512 * 1024 * 1024;
    this.#counted = opts.counted ?? true;
  }

  /** Bytes held free in the pool. */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  /**
   * A buffer of at least `bytes` bytes (its size is the size class). With `forUpload`,
   * never one released since the last submit (see the module doc).
   */
  acquire(bytes: number, forUpload = false): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.#free.get(size);
    let reused = list?.pop();
    if (reused) {
      this.#freeBytes -= size;
    } else if (!forUpload) {
      // The most recently released one (LIFO, as the free lists): a training step then
      // gets the same buffers as the step before, so its bind groups come from the cache.
      const i = this.#retiring.findLastIndex((b) => b.size === size);
      if (i >= 0) reused = this.#retiring.splice(i, 1)[0];
    }
    if (reused) {
      if (this.#counted) {
        liveCounters.poolHits++;
        liveCounters.pooledBytes -= size;
        liveCounters.liveBytes += size;
      }
      return reused;
    }
    if (this.#counted) {
      liveCounters.poolMisses++;
      liveCounters.liveBytes += size;
    }
    return this.#device.createBuffer({ size, usage: this.#usage, label: this.#label });
  }

  /** Gives a buffer back; it becomes reusable after the next submit ({@link retire}). */
  release(buffer: GPUBuffer): void {
    if (this.#counted) liveCounters.liveBytes -= buffer.size;
    this.#retiring.push(buffer);
    if (this.#counted) liveCounters.pooledBytes += buffer.size;
  }

  /** Called by the runtime after a submit: retiring buffers become free. */
  retire(): void {
    for (const buffer of this.#retiring) {
      const size = buffer.size;
      if (this.#freeBytes + size > this.maxFreeBytes) {
        if (this.#counted) liveCounters.pooledBytes -= size;
        buffer.destroy();
        continue;
      }
      let list = this.#free.get(size);
      if (!list) this.#free.set(size, list = []);
      list.push(buffer);
      this.#freeBytes += size;
    }
    this.#retiring = [];
  }

  /** Destroys every free buffer (live ones stay with their owners). */
  clear(): void {
    this.retire();
    for (const list of this.#free.values()) {
      for (const b of list) {
        if (this.#counted) liveCounters.pooledBytes -= b.size;
        b.destroy();
      }
    }
    this.#free.clear();
    this.#freeBytes = 0;
  }
}
