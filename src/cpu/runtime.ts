/**
 * The CPU backend's runtime: the WebAssembly kernels of kernels/cpu (relaxed SIMD where
 * V8 validates it, plain 128-bit SIMD otherwise), one shared memory holding the heap of
 * f32 tensors ({@link CpuHeap}), and a pool of worker threads over it
 * ({@link ThreadPool}). Created on first use, synchronously, so CPU ops work without
 * `init()`; `init()` also waits for the workers (until then jobs run on the threads that
 * are ready, with the same results).
 *
 * `DENET_THREADS` sets the thread count (default: the machine's cores);
 * `DENET_CPU_KERNELS=reference` runs the TypeScript twins instead of the kernels.
 *
 * @module
 */

import { CpuHeap, type HeapStats } from "./heap.ts";
import { ThreadPool } from "./threads.ts";
import { WASM_PLAIN, WASM_RELAXED } from "./wasm_binary.ts";

/** A kernel export: numbers in (pointers are byte offsets), nothing out. */
type KernelFn = (...args: number[]) => number | void;

/** Bytes of stack each worker thread gets. */
const STACK_BYTES = 256 * 1024;
/** The memory the heap may grow to (wasm32's 4 GiB less a page). */
const HEAP_LIMIT = 65535 * 65536;

function decode(b64: string): Uint8Array<ArrayBuffer> {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function envString(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no env permission
  }
}

/** Threads to use: DENET_THREADS, else the core count. */
function threadCount(): number {
  const v = envString("DENET_THREADS");
  if (v !== undefined && v !== "") {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 64) {
      throw new Error(`DENET_THREADS must be an integer from 1 to 64, got "${v}"`);
    }
    return n;
  }
  return Math.max(1, Math.min(64, navigator.hardwareConcurrency ?? 1));
}

/** The loaded kernels, their memory, heap and threads. */
export class CpuRuntime {
  /** Whether the relaxed-SIMD build loaded (fused multiply-add). */
  readonly relaxed: boolean;
  /** The kernels' exports. */
  readonly kernels: Record<string, KernelFn>;
  readonly memory: WebAssembly.Memory;
  readonly heap: CpuHeap;
  readonly pool: ThreadPool;
  /** Per-thread GEMM scratch (byte offset) and its floats per thread. */
  readonly gemmWork: number;
  readonly gemmWorkFloats: number;
  /** Byte offset of the kernels' shared work counter (zeroed before each call). */
  readonly #jobCounter: number;
  /** A view of that counter (remade when a memory grow replaces the buffer). */
  #counterView: Int32Array | null = null;

  constructor() {
    const relaxedBytes = decode(WASM_RELAXED);
    this.relaxed = WebAssembly.validate(relaxedBytes);
    const module = new WebAssembly.Module(this.relaxed ? relaxedBytes : decode(WASM_PLAIN));
    this.memory = new WebAssembly.Memory({ initial: 256, maximum: 65536, shared: true });
    const instance = new WebAssembly.Instance(module, { env: { memory: this.memory } });
    const exports = instance.exports as Record<string, unknown>;
    this.kernels = {};
    for (const [name, v] of Object.entries(exports)) {
      if (typeof v === "function") this.kernels[name] = v as KernelFn;
    }
    const base = (exports.__heap_base as WebAssembly.Global).value as number;
    this.heap = new CpuHeap(this.memory, base, HEAP_LIMIT);
    const threads = threadCount();
    const stacks = this.#reserve(STACK_BYTES * threads, "thread stacks");
    this.gemmWorkFloats = this.kernels.gemm_work_floats() as number;
    this.#jobCounter = this.kernels.job_counter_addr() as number;
    this.gemmWork = this.#reserve(this.gemmWorkFloats * 4 * threads, "GEMM scratch");
    this.pool = ThreadPool.start(
      threads,
      module,
      this.memory,
      Object.keys(this.kernels),
      (tid) => stacks + STACK_BYTES * (tid + 1) - 16,
    );
  }

  #reserve(bytes: number, what: string): number {
    const b = this.heap.alloc(bytes);
    if (b === null) throw new Error(`denet cpu: cannot reserve ${bytes} bytes for ${what}`);
    b.adopt(); // held for the runtime's life
    return b.offset;
  }

  /** Threads a parallel job runs on now. */
  get threads(): number {
    return this.pool.active();
  }

  /**
   * Runs kernel `name` (its trailing tid, nt arguments added here) on all threads when
   * `parallel`, else on the caller's alone. Errors name `op`.
   */
  run(op: string, name: string, args: readonly number[], parallel: boolean): void {
    const fn = this.kernels[name];
    if (fn === undefined) throw new Error(`${op}: unknown CPU kernel '${name}'`);
    // the threads of this call take their chunks from the counter (see denet.h's grab)
    if (this.#counterView?.buffer !== this.memory.buffer) {
      this.#counterView = new Int32Array(this.memory.buffer, this.#jobCounter, 1);
    }
    Atomics.store(this.#counterView, 0, 0);
    if (parallel) {
      this.pool.run(op, name, fn, args);
      return;
    }
    try {
      fn(...args, 0, 1);
    } catch (e) {
      throw new Error(`${op}: CPU kernel ${name} failed: ${e}`);
    }
  }

  /** The heap's figures. */
  stats(): HeapStats {
    return this.heap.stats();
  }
}

let runtime: CpuRuntime | null = null;
let disabled: boolean | null = null;

/** The CPU runtime, created on first use. */
export function cpuRuntime(): CpuRuntime {
  return runtime ??= new CpuRuntime();
}

/** Creates the CPU runtime and waits for its worker threads. */
export async function initCpu(): Promise<CpuRuntime> {
  const rt = cpuRuntime();
  await rt.pool.ready();
  return rt;
}

/**
 * Whether f32 CPU ops run the WebAssembly kernels (true unless
 * `DENET_CPU_KERNELS=reference` or {@link useCpuKernels}(false)).
 */
export function cpuKernelsEnabled(): boolean {
  if (disabled === null) {
    const v = envString("DENET_CPU_KERNELS");
    if (v !== undefined && v !== "" && v !== "wasm" && v !== "reference") {
      throw new Error(`DENET_CPU_KERNELS must be "wasm" or "reference", got "${v}"`);
    }
    disabled = v === "reference";
  }
  return !disabled;
}

/** Turns the WebAssembly kernels on or off (off: the TypeScript twins run). */
export function useCpuKernels(on: boolean): void {
  disabled = !on;
}

/**
 * A fresh host array for a new CPU tensor's storage: in the kernels' heap for f32 while
 * they are on (the kernels then read it in place), else an ordinary typed array. Wrap it
 * in a Tensor at once: the heap block lives as long as the tensors over it.
 */
export function cpuStorage(dtype: "f32" | "f64", n: number): Float32Array | Float64Array {
  if (dtype === "f32" && cpuKernelsEnabled()) return cpuRuntime().heap.array(n);
  return dtype === "f64" ? new Float64Array(n) : new Float32Array(n);
}

/** Runs `fn` with the TypeScript reference twins (the WebAssembly kernels off). */
export function withReferenceKernels<T>(fn: () => T): T {
  const before = cpuKernelsEnabled();
  useCpuKernels(false);
  try {
    return fn();
  } finally {
    useCpuKernels(before);
  }
}
