/**
 * One call of the CPU backend's kernels from an op: pointers to the inputs (in place when
 * a tensor's storage lies in the heap, else a staged copy), fresh heap tensors for the
 * outputs, scratch, and the kernel runs, with every temporary freed at the end even when
 * a kernel fails.
 *
 * @module
 */

import { type HeapBlock, heapBlockOf, inHeapMemory } from "./heap.ts";
import { type CpuRuntime, cpuRuntime } from "./runtime.ts";
import { type HostArray, shapeSize, Tensor } from "../tensor/tensor.ts";

/** Work (multiply-adds or element visits) above which a kernel runs on every thread. */
export const PARALLEL_WORK = 64 * 1024;

/** A kernel call in progress: `using` it (or calling {@link done}) frees its temporaries. */
export class KernelCall {
  readonly rt: CpuRuntime;
  readonly op: string;
  readonly #temps: HeapBlock[] = [];

  constructor(op: string) {
    this.op = op;
    this.rt = cpuRuntime();
  }

  /** Byte offset of an f32 host array's data in the kernels' memory (copied in if needed). */
  ptr(values: HostArray): number {
    if (!(values instanceof Float32Array)) {
      throw new Error(`${this.op}: the CPU kernels take f32 data, got ${values.constructor.name}`);
    }
    if (values.length === 0) return 0;
    if (inHeapMemory(values)) return values.byteOffset;
    const b = this.#temp(values.length * 4);
    new Float32Array(this.rt.memory.buffer, b.offset, values.length).set(values);
    return b.offset;
  }

  /** Byte offset of a CPU f32 tensor's data (copied in if it lies outside the heap). */
  in(t: Tensor): number {
    return this.ptr(t.host(this.op));
  }

  /** A fresh f32 CPU tensor in the heap (uninitialised) and its byte offset. */
  out(shape: readonly number[]): [Tensor, number] {
    const n = shapeSize(shape);
    const arr = this.rt.heap.array(n);
    if (n > 0 && heapBlockOf(arr) === undefined) {
      throw new Error(
        `${this.op}: the CPU heap is full (4 GiB); dispose tensors you no longer need`,
      );
    }
    return [new Tensor(shape, "f32", arr), n > 0 ? arr.byteOffset : 0];
  }

  /** Byte offset of `bytes` bytes of scratch, freed at {@link done}. */
  scratch(bytes: number): number {
    return bytes > 0 ? this.#temp(bytes).offset : 0;
  }

  /** Byte offset of a scratch copy of `values` as i32 (a kernel's parameter block). */
  ints(values: readonly number[]): number {
    const at = this.scratch(values.length * 4);
    new Int32Array(this.rt.memory.buffer, at, values.length).set(values);
    return at;
  }

  #temp(bytes: number): HeapBlock {
    const b = this.rt.heap.alloc(bytes);
    if (b === null) {
      throw new Error(
        `${this.op}: the CPU heap is full (4 GiB); dispose tensors you no longer need`,
      );
    }
    this.#temps.push(b);
    return b;
  }

  /** Runs kernel `name`; on every thread when `work` is above {@link PARALLEL_WORK}. */
  run(name: string, args: readonly number[], work: number): void {
    this.rt.run(this.op, name, args, work >= PARALLEL_WORK);
  }

  /** Frees the call's temporaries. */
  done(): void {
    for (const b of this.#temps) this.rt.heap.free(b);
    this.#temps.length = 0;
  }

  [Symbol.dispose](): void {
    this.done();
  }
}

/** Runs `body` with a {@link KernelCall} for `op`, freeing its temporaries afterwards. */
export function kernelCall<T>(op: string, body: (k: KernelCall) => T): T {
  const k = new KernelCall(op);
  try {
    return body(k);
  } finally {
    k.done();
  }
}
