/**
 * Minibatches over a dataset held on the host, after Knet's `minibatch`.
 *
 * `minibatch(x, y, batchSize, opts)` and `minibatch(x, batchSize, opts)` return a
 * {@link Data}: a re-iterable sequence of batches `[xb, yb]` (or `xb`) on the chosen
 * device. Instances are the leading dimension (row-major, Knet's last dimension): `x` is
 * `[N, ...]`, `y` is `[N]` or `[N, ...]`, and a batch is `[b, ...]`.
 *
 * ```ts
 * const dtrn = minibatch(xtrn, ytrn, 100, { shuffle: true, seed: 1 });
 * for (let epoch = 0; epoch < 10; epoch++) {
 *   for (const [x, y] of dtrn) step(x, y); // x, y are disposed when the loop advances
 * }
 * ```
 *
 * @module
 */

import { defaultDevice } from "../tensor/device.ts";
import { globalRng, Rng } from "../tensor/random.ts";
import { type DeviceName, type HostArray, Tensor } from "../tensor/tensor.ts";
import { cpuStorage } from "../cpu/runtime.ts";
import { backendOf } from "../backend.ts";

/** Options of {@link minibatch}. */
export interface MinibatchOptions {
  /** A new random order of the instances at the start of every pass (default false). */
  shuffle?: boolean;
  /** Keep the last, smaller batch when `batchSize` does not divide N (default false). */
  partial?: boolean;
  /**
   * Seed of the shuffling generator: two `Data` with the same seed give the same
   * sequence of permutations. Without `seed` or `rng`, the global generator is used
   * (see `seed()`).
   */
  seed?: number;
  /** The generator to shuffle with (instead of `seed`). */
  rng?: Rng;
  /** Where the batches go (default: `defaultDevice()` at the time of the call). */
  device?: DeviceName;
}

/** What a {@link Data} yields: `[xb, yb]` with labels, `xb` without. */
export type Batch = Tensor | [Tensor, Tensor];

function fmt(shape: readonly number[]): string {
  return `[${shape.join(",")}]`;
}

/** Elements of one instance of a tensor whose leading dimension counts instances. */
function rowSize(t: Tensor): number {
  return t.shape.length <= 1 ? 1 : t.size / t.shape[0];
}

/** A random permutation of 0..n−1 drawn from `rng` (Fisher–Yates). */
export function shuffledOrder(n: number, rng: Rng): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/**
 * A re-iterable sequence of minibatches over `x` (and `y`), made by {@link minibatch}.
 *
 * Each `for ... of` (each call of `[Symbol.iterator]()`) is a new pass over the data;
 * with `shuffle` every pass draws a new permutation. A batch is gathered on the host
 * into a reusable staging array and, for the GPU, uploaded with `writeBuffer` (no host
 * sync; the queue copies the staging data at once, so several passes may run side by
 * side). GPU batches are f32; CPU batches keep the dtype of the source (f32 or f64) and
 * get fresh arrays of their own.
 *
 * **Ownership**: a yielded batch stays valid until its iterator advances to the next
 * batch or finishes (the pass ends, or the loop exits by `break`, `return` or a throw);
 * then the iterator disposes it, so a long training loop does not leak GPU memory. To
 * keep a batch beyond that, clone it (`clone(xb)`). When moving on from a GPU batch the
 * iterator also submits the pending GPU work (one submit per step, no host sync), so
 * the released buffers are recycled for the next batch.
 */
export class Data<B extends Batch = Batch> implements Iterable<B> {
  /** The instances, `[N, ...]` (a CPU tensor; not copied). */
  readonly x: Tensor;
  /** The labels or targets, `[N]` or `[N, ...]`, or null. */
  readonly y: Tensor | null;
  /** Number of instances N. */
  readonly n: number;
  /** Instances per batch (the last batch may be smaller with `partial`). */
  readonly batchSize: number;
  /** Whether each pass uses a new random order. */
  readonly shuffle: boolean;
  /** Whether the last, smaller batch is kept. */
  readonly partial: boolean;
  /** Where the batches are placed. */
  readonly device: DeviceName;
  readonly #rng: Rng;
  #xStage: Float32Array | null = null;
  #yStage: Float32Array | null = null;

  /** Use {@link minibatch} to create one (it validates the arguments). @internal */
  constructor(
    x: Tensor,
    y: Tensor | null,
    batchSize: number,
    opts: { shuffle: boolean; partial: boolean; rng: Rng; device: DeviceName },
  ) {
    this.x = x;
    this.y = y;
    this.n = x.shape[0];
    this.batchSize = batchSize;
    this.shuffle = opts.shuffle;
    this.partial = opts.partial;
    this.device = opts.device;
    this.#rng = opts.rng;
  }

  /** Number of batches in a pass: ⌊N / batchSize⌋, or ⌈N / batchSize⌉ with `partial`. */
  get length(): number {
    return this.partial ? Math.ceil(this.n / this.batchSize) : Math.floor(this.n / this.batchSize);
  }

  /** Starts a new pass (with `shuffle`, over a new permutation). */
  [Symbol.iterator](): DataIterator<B> {
    return new DataIterator<B>(this, this.shuffle ? shuffledOrder(this.n, this.#rng) : null);
  }

  /** @internal Builds batch `k` of a pass with the given order (null: 0..N-1). */
  makeBatch(k: number, order: Int32Array | null): Tensor[] {
    const start = k * this.batchSize;
    const b = Math.min(this.batchSize, this.n - start);
    const out = [this.#gather(this.x, start, b, order, "x")];
    if (this.y !== null) out.push(this.#gather(this.y, start, b, order, "y"));
    return out;
  }

  #gather(
    t: Tensor,
    start: number,
    b: number,
    order: Int32Array | null,
    which: "x" | "y",
  ): Tensor {
    const src = t.host("minibatch");
    const rs = rowSize(t);
    const shape = [b, ...t.shape.slice(1)];
    let dst: HostArray;
    if (this.device === "gpu") {
      let stage = which === "x" ? this.#xStage : this.#yStage;
      if (stage === null) {
        stage = new Float32Array(this.batchSize * rs);
        if (which === "x") this.#xStage = stage;
        else this.#yStage = stage;
      }
      dst = stage.subarray(0, b * rs);
    } else {
      dst = cpuStorage(t.dtype, b * rs); // f32: in the CPU kernels' heap, read in place
    }
    if (order === null) {
      dst.set(src.subarray(start * rs, (start + b) * rs));
    } else if (rs === 1) {
      for (let i = 0; i < b; i++) dst[i] = src[order[start + i]];
    } else {
      for (let i = 0; i < b; i++) {
        const r = order[start + i] * rs;
        dst.set(src.subarray(r, r + rs), i * rs);
      }
    }
    if (this.device === "gpu") return backendOf("gpu").upload(shape, dst);
    return new Tensor(shape, t.dtype, dst);
  }
}

/**
 * One pass over a {@link Data}. Disposes each batch when it advances past it, and the
 * last one when the pass finishes or the loop exits early (`return()`).
 */
export class DataIterator<B extends Batch = Batch> implements Iterator<B, undefined> {
  readonly #data: Data<B>;
  readonly #order: Int32Array | null;
  #next = 0;
  #current: Tensor[] = [];
  #done = false;

  /** Created by `Data[Symbol.iterator]()`. @internal */
  constructor(data: Data<B>, order: Int32Array | null) {
    this.#data = data;
    this.#order = order;
  }

  #release(): void {
    if (this.#current.length === 0) return;
    for (const t of this.#current) t.dispose();
    this.#current = [];
    // Submit the work that used the batch so its buffers are reusable for the next upload.
    backendOf(this.#data.device).flush();
  }

  /** Disposes the previous batch and yields the next one. */
  next(): IteratorResult<B, undefined> {
    this.#release();
    if (this.#done || this.#next >= this.#data.length) {
      this.#done = true;
      return { done: true, value: undefined };
    }
    const ts = this.#data.makeBatch(this.#next++, this.#order);
    this.#current = ts;
    const value = (this.#data.y === null ? ts[0] : [ts[0], ts[1]]) as B;
    return { done: false, value };
  }

  /** Ends the pass early (called by `break` in `for ... of`): disposes the current batch. */
  return(): IteratorResult<B, undefined> {
    this.#release();
    this.#done = true;
    return { done: true, value: undefined };
  }

  /** The iterator itself (so a pass can be used where an iterable is expected). */
  [Symbol.iterator](): DataIterator<B> {
    return this;
  }
}

function checkSource(what: "x" | "y", t: unknown): Tensor {
  if (!(t instanceof Tensor)) {
    throw new Error(`minibatch: ${what} must be a Tensor, got ${typeof t}`);
  }
  if (t.disposed) throw new Error(`minibatch: ${what} ${fmt(t.shape)} was disposed`);
  if (t.device !== "cpu") {
    throw new Error(
      `minibatch: ${what} ${fmt(t.shape)} is on the gpu; pass the dataset as a CPU tensor ` +
        `(batches are gathered on the host and uploaded to opts.device)`,
    );
  }
  if (t.rank === 0) {
    throw new Error(`minibatch: ${what} is a scalar; it needs a leading instance dimension`);
  }
  return t;
}

/**
 * Minibatches of `(x, y)` pairs, after Knet's `minibatch(x, y, batchsize; shuffle, partial)`.
 *
 * `x` is `[N, ...]` and `y` is `[N]` or `[N, ...]` (CPU tensors, f32 or f64; they are
 * the host source of the batches and are not copied). Each step of a pass yields
 * `[xb, yb]`, shaped `[b, ...]`, on `opts.device` (default `defaultDevice()`); see
 * {@link Data} for the ownership rule (batches are disposed when the iterator advances).
 * When N < batchSize the batch size is reduced to N with a warning, as Knet does.
 *
 * @param x instances, `[N, ...]`
 * @param y labels or targets, `[N]` or `[N, ...]`
 * @param batchSize instances per batch, a positive integer
 * @param opts `shuffle` (false), `partial` (false), `seed`, `rng`, `device`
 * @returns the re-iterable batches
 */
export function minibatch(
  x: Tensor,
  y: Tensor,
  batchSize: number,
  opts?: MinibatchOptions,
): Data<[Tensor, Tensor]>;
/**
 * Minibatches of `x` alone, after Knet's `minibatch(x, batchsize; shuffle, partial)`.
 *
 * @param x instances, `[N, ...]`
 * @param batchSize instances per batch, a positive integer
 * @param opts `shuffle` (false), `partial` (false), `seed`, `rng`, `device`
 * @returns the re-iterable batches
 */
export function minibatch(x: Tensor, batchSize: number, opts?: MinibatchOptions): Data<Tensor>;
export function minibatch(
  x: Tensor,
  a: Tensor | number,
  b?: number | MinibatchOptions,
  c?: MinibatchOptions,
): Data<[Tensor, Tensor]> | Data<Tensor> {
  let y: Tensor | null;
  let batchSize: unknown;
  let opts: MinibatchOptions;
  if (typeof a === "number") {
    y = null;
    batchSize = a;
    if (b !== undefined && (typeof b !== "object" || b === null)) {
      throw new Error(
        `minibatch: expected (x, batchSize, opts) or (x, y, batchSize, opts); the third ` +
          `argument is ${typeof b}`,
      );
    }
    opts = (b as MinibatchOptions | undefined) ?? {};
  } else {
    y = checkSource("y", a);
    batchSize = b;
    opts = c ?? {};
  }
  checkSource("x", x);
  if (typeof batchSize !== "number" || !Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`minibatch: batchSize must be a positive integer, got ${String(batchSize)}`);
  }
  const n = x.shape[0];
  if (y !== null && y.shape[0] !== n) {
    throw new Error(
      `minibatch: x and y have different numbers of instances: x ${fmt(x.shape)} has ${n}, ` +
        `y ${fmt(y.shape)} has ${y.shape[0]}`,
    );
  }
  if (n === 0) {
    throw new Error(`minibatch: no data: x ${fmt(x.shape)} has 0 instances`);
  }
  const device = opts.device ?? defaultDevice();
  if (device !== "cpu" && device !== "gpu") {
    throw new Error(`minibatch: unknown device "${device}" (expected cpu or gpu)`);
  }
  if (!backendOf(device).ready()) {
    throw new Error(
      "minibatch: device gpu was requested but the GPU is not initialised; call `await init()`",
    );
  }
  if (opts.seed !== undefined && opts.rng !== undefined) {
    throw new Error("minibatch: pass either seed or rng, not both");
  }
  if (opts.seed !== undefined && !Number.isInteger(opts.seed)) {
    throw new Error(`minibatch: seed must be an integer, got ${opts.seed}`);
  }
  const rng = opts.rng ?? (opts.seed !== undefined ? new Rng(opts.seed) : globalRng);
  let bs = batchSize;
  if (n < bs) {
    console.warn(
      `minibatch: ${n} instances are fewer than batchSize ${bs}; using batchSize ${n} (as Knet does)`,
    );
    bs = n;
  }
  const cfg = { shuffle: opts.shuffle ?? false, partial: opts.partial ?? false, rng, device };
  return y === null
    ? new Data<Tensor>(x, null, bs, cfg)
    : new Data<[Tensor, Tensor]>(x, y, bs, cfg);
}
