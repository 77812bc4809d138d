/**
 * The CPU backend's worker threads: `n − 1` workers (Node's worker_threads, unref'd so
 * they never keep a finished program alive), each with its own instance of the kernel
 * module over the one shared memory. A job is a kernel name and its arguments; every
 * thread (the caller's included, as thread 0) runs the kernel with its (tid, nt) and
 * the caller returns when all are done. Hand-off is through a small shared control block
 * with Atomics: workers spin briefly after a job, then sleep in Atomics.wait — in slices
 * of {@link WAIT_SLICE_MS} that re-check the job sequence, and the caller re-notifies
 * while it waits, so a wake-up lost under heavy load delays a job instead of hanging the
 * process (seen twice on a 2-core machine shared with llvmpipe). A job that still has not
 * finished after {@link STALL_MS} throws an Error saying which workers never saw it.
 *
 * @module
 */

import { Worker } from "node:worker_threads";

/** Control block layout (Int32 slots). */
const SEQ = 0, PENDING = 1, ERROR = 2, FN = 3, ARGC = 4, ERR_TID = 5, NT = 6;
/** Error text: up to 64 UTF-16 code units from this slot on. */
const MSG = 8, MSG_LEN = 64;
/** Ready flags of workers 1..: slot READY + tid. */
const READY = 72;
/** Most threads (ready-flag slots). */
const READY_SLOTS = 64;
/** The job sequence number each worker last took up: slot SEEN + tid. */
const SEEN = READY + READY_SLOTS;
/** Arguments (f64 slots) start at this byte. */
const ARGS_BYTE = 4 * (SEEN + READY_SLOTS);
/** Longest single sleep of an idle worker before it re-checks the sequence (ms). */
export const WAIT_SLICE_MS = 50;
/** How long a job may wait for its workers before run() gives up with an Error (ms). */
export const STALL_MS = 120_000;
/** Most arguments a job takes. */
export const MAX_ARGS = 32;

/** The worker's program, run from source text so it loads from a bundle or a binary too. */
function workerMain(): void {
  // deno-lint-ignore no-explicit-any
  const { parentPort, workerData } = (globalThis as any).require("node:worker_threads");
  const { module, memory, ctl, tid, stackTop, names } = workerData;
  const inst = new WebAssembly.Instance(module, { env: { memory } });
  // deno-lint-ignore no-explicit-any
  const ex = inst.exports as any;
  ex.__stack_pointer.value = stackTop;
  const fns = names.map((n: string) => ex[n]);
  const I = new Int32Array(ctl);
  const A = new Float64Array(ctl, workerData.argsByte);
  let seq = Atomics.load(I, 0);
  Atomics.store(I, 72 + tid, 1);
  parentPort.postMessage("ready");
  for (;;) {
    // spin a little (the next job usually follows within microseconds), then sleep:
    // spinning longer starves other processes when the machine is oversubscribed
    const until = performance.now() + 0.2;
    let spins = 0;
    while (Atomics.load(I, 0) === seq && (++spins & 1023 || performance.now() < until));
    while (Atomics.load(I, 0) === seq) Atomics.wait(I, 0, seq, workerData.waitSlice);
    seq = Atomics.load(I, 0);
    Atomics.store(I, workerData.seen + tid, seq);
    const fn = Atomics.load(I, 3);
    if (fn < 0) break;
    const nt = I[6];
    if (tid >= nt) continue;
    const argc = I[4];
    const args: number[] = [];
    for (let i = 0; i < argc; i++) args.push(A[i]);
    try {
      fns[fn](...args, tid, nt);
    } catch (e) {
      const msg = String(e).slice(0, 64);
      if (Atomics.compareExchange(I, 2, 0, 1) === 0) {
        I[5] = tid;
        for (let i = 0; i < 64; i++) I[8 + i] = i < msg.length ? msg.charCodeAt(i) : 0;
      }
    }
    if (Atomics.sub(I, 1, 1) === 1) Atomics.notify(I, 1);
  }
}

/** A pool of worker threads running kernels of one module over one shared memory. */
export class ThreadPool {
  /** Threads a job may run on (workers + the caller). */
  readonly size: number;
  readonly #ready: Promise<void>;
  readonly #index: ReadonlyMap<string, number>;
  readonly #ctl: Int32Array;
  readonly #args: Float64Array;
  readonly #workers: Worker[] = [];

  private constructor(
    size: number,
    names: readonly string[],
    ctl: SharedArrayBuffer,
    start: (pool: ThreadPool) => Promise<void>[],
  ) {
    this.size = size;
    this.#index = new Map(names.map((n, i) => [n, i]));
    this.#ctl = new Int32Array(ctl);
    this.#args = new Float64Array(ctl, ARGS_BYTE, MAX_ARGS);
    this.#ready = Promise.all(start(this)).then(() => {});
  }

  /**
   * Starts `size − 1` workers over `memory` (without waiting: jobs use the workers that
   * are ready, see {@link ready}); `stackTop(i)` gives worker i (1-based) the top of its
   * own stack in that memory. `names` are the kernels jobs may name.
   */
  static start(
    size: number,
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    names: readonly string[],
    stackTop: (tid: number) => number,
  ): ThreadPool {
    if (size > READY_SLOTS) size = READY_SLOTS;
    const ctl = new SharedArrayBuffer(ARGS_BYTE + MAX_ARGS * 8);
    const source = `(${workerMain.toString()})()`;
    const pool = new ThreadPool(size, names, ctl, (pool) => {
      const ready: Promise<void>[] = [];
      for (let tid = 1; tid < size; tid++) {
        const w = new Worker(source, {
          eval: true,
          workerData: {
            module,
            memory,
            ctl,
            tid,
            stackTop: stackTop(tid),
            names,
            argsByte: ARGS_BYTE,
            seen: SEEN,
            waitSlice: WAIT_SLICE_MS,
          },
        });
        pool.#workers.push(w);
        // referenced while starting (so awaiting ready() keeps the program alive), then
        // unref'd: idle workers never keep a finished program running
        ready.push(
          new Promise((resolve, reject) => {
            w.once("message", () => {
              w.unref();
              resolve();
            });
            w.once("error", (e: unknown) => {
              w.unref();
              reject(e);
            });
          }),
        );
      }
      return ready;
    });
    globalThis.addEventListener("unload", () => pool.stop());
    return pool;
  }

  /** Resolves when every worker is ready. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Threads a job runs on now: the caller and the leading run of ready workers. */
  active(): number {
    let n = 1;
    while (n < this.size && Atomics.load(this.#ctl, READY + n) === 1) n++;
    return n;
  }

  /**
   * Runs kernel `name` with `args` (then tid, nt) on every thread; `self` is the caller's
   * own function (thread 0). Throws an Error naming `op` when any thread failed.
   */
  run(op: string, name: string, self: (...a: number[]) => void, args: readonly number[]): void {
    const I = this.#ctl;
    const nt = this.active();
    if (nt === 1) {
      try {
        self(...args, 0, 1);
      } catch (e) {
        throw new Error(`${op}: CPU kernel ${name} failed: ${e}`);
      }
      return;
    }
    const fn = this.#index.get(name) ?? -1;
    if (fn < 0) throw new Error(`${op}: unknown CPU kernel '${name}'`);
    if (args.length > MAX_ARGS) throw new Error(`${op}: too many kernel arguments`);
    for (let i = 0; i < args.length; i++) this.#args[i] = args[i];
    I[ARGC] = args.length;
    I[FN] = fn;
    I[ERROR] = 0;
    I[NT] = nt;
    Atomics.store(I, PENDING, nt - 1);
    Atomics.add(I, SEQ, 1);
    Atomics.notify(I, SEQ);
    let own: unknown = null;
    try {
      self(...args, 0, nt);
    } catch (e) {
      own = e;
    }
    const start = performance.now();
    const until = start + 0.2;
    let spins = 0;
    let renotified = start;
    while (Atomics.load(I, PENDING) !== 0) {
      if ((++spins & 1023) === 0 && performance.now() > until) {
        Atomics.wait(I, PENDING, Atomics.load(I, PENDING), 1);
        const now = performance.now();
        if (now - renotified > WAIT_SLICE_MS) {
          Atomics.notify(I, SEQ); // a worker that missed the wake-up takes the job now
          renotified = now;
        }
        if (now - start > STALL_MS) throw new Error(this.#stalled(op, name, nt));
      }
    }
    if (own !== null) throw new Error(`${op}: CPU kernel ${name} failed: ${own}`);
    if (I[ERROR] !== 0) {
      let msg = "";
      for (let i = 0; i < MSG_LEN && I[MSG + i] !== 0; i++) msg += String.fromCharCode(I[MSG + i]);
      throw new Error(`${op}: CPU kernel ${name} failed in worker ${I[ERR_TID]}: ${msg}`);
    }
  }

  /** The Error text of a job whose workers did not all finish within STALL_MS. */
  #stalled(op: string, name: string, nt: number): string {
    const I = this.#ctl;
    const seq = Atomics.load(I, SEQ);
    const behind: string[] = [];
    for (let tid = 1; tid < nt; tid++) {
      const seen = Atomics.load(I, SEEN + tid);
      if (seen !== seq) behind.push(`worker ${tid} last took job ${seen}`);
    }
    return `${op}: CPU kernel ${name} (job ${seq}) did not finish within ${STALL_MS / 1000} s: ` +
      `${Atomics.load(I, PENDING)} of ${nt - 1} workers still running` +
      (behind.length > 0 ? ` (${behind.join(", ")})` : " (every worker took the job)");
  }

  /**
   * Tells the workers to leave their loop (synchronous: they end on their own). Done at
   * the program's unload, so no worker is still spinning while the process tears down.
   */
  stop(): void {
    const I = this.#ctl;
    Atomics.store(I, FN, -1);
    Atomics.add(I, SEQ, 1);
    Atomics.notify(I, SEQ);
  }

  /** Stops the workers and waits until they have ended. */
  async close(): Promise<void> {
    this.stop();
    await Promise.all(this.#workers.map((w) => w.terminate()));
    this.#workers.length = 0;
  }
}
