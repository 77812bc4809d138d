/**
 * The CPU backend's heap: f32 tensor storage inside the kernels' shared WebAssembly
 * memory, so kernels read and write tensors in place (no copy in or out). A block is
 * reference-counted by the tensors over it (reshaped views and flat-parameter slices
 * share one) and returns to a size-class free list when the last tensor is disposed, or,
 * as a safety net, when the tensors or a never-adopted array are garbage-collected.
 *
 * Arrays over the heap are plain Float32Arrays, so the TypeScript twins work on them
 * unchanged. When the memory cannot grow any further, {@link CpuHeap.array} returns an
 * ordinary array instead and kernels copy it in (slower, never wrong).
 *
 * @module
 */

/** A block of the heap. */
export class HeapBlock {
  /** Byte offset in the memory. */
  readonly offset: number;
  /** Bytes reserved (the size class). */
  readonly bytes: number;
  /** Tensors owning the block (0 while only its creating array holds it). */
  refs = 0;
  /** Whether a tensor took the block over from its creating array. */
  adopted = false;
  /** Whether the block went back to the free list. */
  freed = false;
  readonly heap: CpuHeap;

  constructor(heap: CpuHeap, offset: number, bytes: number) {
    this.heap = heap;
    this.offset = offset;
    this.bytes = bytes;
  }

  /** A tensor takes a reference (the first one takes over from the creating array). */
  adopt(): void {
    if (this.freed) throw new Error("internal: a tensor over a freed CPU heap block");
    if (!this.adopted) {
      this.adopted = true;
      arrayFinalizer.unregister(this);
    }
    this.refs++;
  }

  /** A tensor drops its reference; the last one frees the block. */
  release(): void {
    if (this.freed) return;
    if (--this.refs <= 0) this.heap.free(this);
  }
}

/** The block under every live heap array (module-wide: tensors look their storage up). */
const blocks = new WeakMap<ArrayBufferView, HeapBlock>();
/** Every buffer object a heap's memory has had (growing a memory makes a new one). */
const heapBuffers = new WeakSet<ArrayBufferLike>();

/** The heap block under an array (undefined for an ordinary array). */
export function heapBlockOf(arr: ArrayBufferView): HeapBlock | undefined {
  return blocks.get(arr);
}

/** Whether an array lies in a CPU heap's memory. */
export function inHeapMemory(arr: ArrayBufferView): boolean {
  return heapBuffers.has(arr.buffer);
}

const arrayFinalizer = new FinalizationRegistry<HeapBlock>((b) => {
  if (!b.adopted) b.heap.free(b);
});

/** Heap blocks come in size classes: multiples of 64 bytes, then 8 classes per octave. */
export function heapSizeClass(bytes: number): number {
  if (bytes <= 4096) return Math.max(64, Math.ceil(bytes / 64) * 64);
  const octave = 2 ** Math.floor(Math.log2(bytes));
  const step = octave / 8;
  return Math.ceil(bytes / step) * step;
}

const PAGE = 65536;

/** Live figures of a heap. */
export interface HeapStats {
  /** Bytes in blocks that are in use. */
  liveBytes: number;
  /** Blocks in use. */
  liveBlocks: number;
  /** Bytes of the memory. */
  memoryBytes: number;
  /** Arrays handed out as ordinary arrays because the memory was full. */
  fallbacks: number;
}

/** The allocator over one shared WebAssembly.Memory. */
export class CpuHeap {
  readonly memory: WebAssembly.Memory;
  #top: number;
  readonly #limit: number;
  /** Free offsets by size class (a freed HeapBlock object is never reused). */
  readonly #free = new Map<number, number[]>();
  #live = 0;
  #liveBlocks = 0;
  #fallbacks = 0;

  /** A heap over `memory` from byte `base` up to `limit` bytes. */
  constructor(memory: WebAssembly.Memory, base: number, limit: number) {
    this.memory = memory;
    this.#top = Math.ceil(base / 64) * 64;
    this.#limit = limit;
    heapBuffers.add(memory.buffer);
  }

  /** Reserves a block of at least `bytes` (null when the memory cannot grow). */
  alloc(bytes: number): HeapBlock | null {
    const size = heapSizeClass(bytes);
    let offset = this.#free.get(size)?.pop();
    if (offset === undefined) {
      if (this.#top + size > this.#limit) return null;
      const need = this.#top + size - this.memory.buffer.byteLength;
      if (need > 0) {
        try {
          // grow by at least a quarter of the memory to keep grows rare
          const pages = Math.max(
            Math.ceil(need / PAGE),
            Math.ceil(this.memory.buffer.byteLength / 4 / PAGE),
          );
          const maxPages = Math.floor(this.#limit / PAGE);
          const cur = this.memory.buffer.byteLength / PAGE;
          this.memory.grow(Math.min(pages, maxPages - cur));
        } catch {
          return null;
        }
        heapBuffers.add(this.memory.buffer);
      }
      offset = this.#top;
      this.#top += size;
    }
    const b = new HeapBlock(this, offset, size);
    this.#live += size;
    this.#liveBlocks++;
    return b;
  }

  /** Returns a block to its free list. */
  free(b: HeapBlock): void {
    if (b.freed) return;
    b.freed = true;
    arrayFinalizer.unregister(b);
    this.#live -= b.bytes;
    this.#liveBlocks--;
    let list = this.#free.get(b.bytes);
    if (!list) this.#free.set(b.bytes, list = []);
    list.push(b.offset);
  }

  /**
   * A Float32Array of n elements over a fresh block (an ordinary array when the memory
   * is full). The block lives until the tensors adopting it are disposed, or the array is
   * collected if no tensor ever adopts it.
   */
  array(n: number): Float32Array {
    const b = n > 0 ? this.alloc(n * 4) : null;
    if (b === null) {
      if (n > 0) this.#fallbacks++;
      return new Float32Array(n);
    }
    const arr = new Float32Array(this.memory.buffer, b.offset, n);
    blocks.set(arr, b);
    arrayFinalizer.register(arr, b, b);
    return arr;
  }

  /** A Float32Array over elements [start, end) of a heap array, sharing its block. */
  view(arr: Float32Array, start: number, end: number): Float32Array {
    const sub = arr.subarray(start, end);
    const b = blocks.get(arr);
    if (b) blocks.set(sub, b);
    return sub;
  }

  /** Current figures. */
  stats(): HeapStats {
    return {
      liveBytes: this.#live,
      liveBlocks: this.#liveBlocks,
      memoryBytes: this.memory.buffer.byteLength,
      fallbacks: this.#fallbacks,
    };
  }
}
