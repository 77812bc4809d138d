/**
 * Truncated back-propagation-through-time minibatches of a token sequence (Knet's CharLM
 * tutorial): the text is cut into `batch` contiguous streams of equal length, read side by
 * side in windows of `seqLength` steps, each target the next token of its input. A
 * window's inputs and targets are [seqLength, batch], time first (the RNN layout here:
 * Knet's column-major (B, T) windows are row-major [T, B]), so that the hidden state at
 * the end of one window continues the same streams in the next.
 *
 * @module
 */

import { fromArray } from "../tensor/create.ts";
import type { DeviceName, Tensor } from "../tensor/tensor.ts";

/** One BPTT window as host arrays: `x[t·B + b]` and `y[t·B + b]` of stream b at step t. */
export interface BpttWindow {
  /** Input token ids, [T, B] row-major. */
  x: Int32Array;
  /** Target token ids (each the token after its input), [T, B] row-major. */
  y: Int32Array;
}

/** Options of {@link bptt}. */
export interface BpttOptions {
  /** Device of the tensors {@link BpttBatches.tensors} makes (default: the CPU). */
  device?: DeviceName;
}

/**
 * The windows of a token sequence, in stream order. `length` windows of `seqLength` steps
 * and `batch` streams; the tail that does not fill a window is dropped (as Knet's
 * `minibatch` drops a partial batch), and so are the last `len − 1 − batch·streamLength`
 * tokens that do not fill a stream.
 */
export class BpttBatches implements Iterable<BpttWindow> {
  /** The token sequence. */
  readonly data: Int32Array;
  /** Streams per window (B). */
  readonly batch: number;
  /** Time steps per window (T). */
  readonly seqLength: number;
  /** Tokens of each stream that are inputs (each is followed by its target). */
  readonly streamLength: number;
  /** Whole windows. */
  readonly length: number;
  readonly #device: DeviceName;

  /** See {@link bptt}. */
  constructor(data: Int32Array, batch: number, seqLength: number, opts: BpttOptions = {}) {
    for (const [what, v] of [["batch", batch], ["seqLength", seqLength]] as const) {
      if (!Number.isInteger(v) || v < 1) {
        throw new Error(`bptt: ${what} must be a positive integer, got ${v}`);
      }
    }
    if (!(data instanceof Int32Array)) {
      throw new Error("bptt: data must be an Int32Array of token ids");
    }
    this.data = data;
    this.batch = batch;
    this.seqLength = seqLength;
    this.streamLength = Math.floor((data.length - 1) / batch);
    this.length = Math.floor(this.streamLength / seqLength);
    if (this.length === 0) {
      throw new Error(
        `bptt: ${data.length} tokens make no window of ${seqLength} steps × ${batch} streams ` +
          `(at least ${batch * seqLength + 1} tokens are needed)`,
      );
    }
    this.#device = opts.device ?? "cpu";
  }

  /** Window `w` (0 ≤ w < length) as host arrays. */
  window(w: number): BpttWindow {
    if (!Number.isInteger(w) || w < 0 || w >= this.length) {
      throw new Error(`bptt: window ${w} is not in 0..${this.length - 1}`);
    }
    const { batch: B, seqLength: T, streamLength: N, data } = this;
    const x = new Int32Array(T * B), y = new Int32Array(T * B);
    for (let b = 0; b < B; b++) {
      const start = b * N + w * T;
      for (let t = 0; t < T; t++) {
        x[t * B + b] = data[start + t];
        y[t * B + b] = data[start + t + 1];
      }
    }
    return { x, y };
  }

  /** The windows in order. */
  *[Symbol.iterator](): Iterator<BpttWindow> {
    for (let w = 0; w < this.length; w++) yield this.window(w);
  }

  /**
   * The windows as tensors on the chosen device: inputs [T, B] and targets [T·B] (the
   * labels of scores [T·B, vocab]), token ids as f32 values. As with `minibatch`, a pair
   * is disposed when the iteration advances or ends: keep or copy what must outlive it.
   * The iterable has a `length` (the windows), so progress bars know the total.
   */
  tensors(): Iterable<[x: Tensor, y: Tensor]> & { length: number } {
    const { batch: B, seqLength: T, length } = this;
    const device = this.#device;
    const window = (w: number) => this.window(w);
    return {
      length,
      *[Symbol.iterator]() {
        let current: [Tensor, Tensor] | null = null;
        const release = () => {
          current?.forEach((t) => t.dispose());
          current = null;
        };
        try {
          for (let w = 0; w < length; w++) {
            const { x, y } = window(w);
            release();
            current = [
              fromArray(Float32Array.from(x), { shape: [T, B], device }),
              fromArray(Float32Array.from(y), { shape: [T * B], device }),
            ];
            yield current;
          }
        } finally {
          release();
        }
      },
    };
  }
}

/**
 * BPTT windows of `data`: `batch` streams of ⌊(len − 1)/batch⌋ tokens each, read
 * `seqLength` steps at a time (see {@link BpttBatches}).
 *
 * ```ts
 * const windows = bptt(corpus.data, 128, 100);   // 128 streams, 100 steps
 * for (const [x, y] of windows.tensors()) ...    // x [100,128], y [12800]
 * ```
 */
export function bptt(
  data: Int32Array,
  batch: number,
  seqLength: number,
  opts: BpttOptions = {},
): BpttBatches {
  return new BpttBatches(data, batch, seqLength, opts);
}

/**
 * The corpus split in two at `1 − fraction` of its length: the first part for training,
 * the last `fraction` (default 0.1) held out. Views, no copies.
 */
export function splitHeldOut(
  data: Int32Array,
  fraction = 0.1,
): { train: Int32Array; heldOut: Int32Array } {
  if (!(fraction > 0 && fraction < 1)) {
    throw new Error(`splitHeldOut: fraction must be in (0, 1), got ${fraction}`);
  }
  const cut = data.length - Math.round(data.length * fraction);
  if (cut < 2 || data.length - cut < 2) {
    throw new Error(
      `splitHeldOut: ${data.length} tokens are too few to hold out ${fraction} of them`,
    );
  }
  return { train: data.subarray(0, cut), heldOut: data.subarray(cut) };
}
