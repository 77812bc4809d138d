/**
 * Knet's `converge(itr; alpha=0.1)`: passes a training iterator's step losses through
 * until they stop falling. With x the step loss it keeps, as Knet does,
 *
 *     p = x − avgx;  avgx = α·x + (1−α)·avgx;  avgp = α·p + (1−α)·avgp
 *
 * and stops at the first step where avgp > 0 (that step's loss is not passed on). The averages and a sticky "stop" flag are
 * updated on the loss's device at every step (four tiny dispatches, no host sync); the
 * host reads the flag once per `seconds` (default 1) or `steps`, so on the GPU up to one
 * interval of extra steps may run after the stopping step (`stoppedAt` reports the
 * stopping step itself). CPU losses are checked at every step, exactly as Knet.
 *
 * @module
 */

import { binary } from "../ops/elementwise.ts";
import { axpby, copyInto } from "../ops/vector.ts";
import { zeros } from "../tensor/create.ts";
import { readAll, Tensor } from "../tensor/tensor.ts";

/** Options of {@link converge}. */
export interface ConvergeOptions {
  /** Weight of the newest value in the exponential averages (Knet's default 0.1). */
  alpha?: number;
  /** Read the stop flag at most once per this many seconds on the GPU (default 1). */
  seconds?: number;
  /** Read the stop flag every this many steps instead of by time. */
  steps?: number;
}

/** The iterator {@link converge} returns. */
export class Converge implements AsyncIterable<Tensor> {
  readonly #itr: Iterable<Tensor> | AsyncIterable<Tensor>;
  readonly #alpha: number;
  readonly #seconds: number;
  readonly #steps: number;
  /** Steps passed through. */
  steps: number = 0;
  /** Whether the losses stopped falling (false when the input ran out first). */
  converged: boolean = false;
  /** The step (1-based) at which avgp first went above 0; 0 while running. */
  stoppedAt: number = 0;

  /** See {@link converge}. */
  constructor(itr: Iterable<Tensor> | AsyncIterable<Tensor>, opts: ConvergeOptions = {}) {
    const { alpha = 0.1, seconds = 1, steps = 0 } = opts;
    if (!(alpha > 0 && alpha <= 1)) {
      throw new Error(`converge: alpha must be in (0, 1], got ${alpha}`);
    }
    if (!(seconds >= 0)) throw new Error(`converge: seconds must be ≥ 0, got ${seconds}`);
    if (!Number.isInteger(steps) || steps < 0) {
      throw new Error(`converge: steps must be a non-negative integer, got ${steps}`);
    }
    this.#itr = itr;
    this.#alpha = alpha;
    this.#seconds = seconds;
    this.#steps = steps;
  }

  /** Yields step losses until convergence is detected (see the module doc). */
  async *[Symbol.asyncIterator](): AsyncIterator<Tensor> {
    const a = this.#alpha;
    // state = [avgx, avgp, stop flag, first step at which the flag rose]
    let avgx: Tensor | null = null;
    let avgp: Tensor | null = null;
    let flag: Tensor | null = null;
    let firstStop: Tensor | null = null;
    let lastCheck = performance.now();
    let lastCheckStep = 0;
    try {
      for await (const x of this.#itr) {
        if (!(x instanceof Tensor) || x.size !== 1) {
          throw new Error("converge: expected one-element step losses (e.g. from adam(f, data))");
        }
        this.steps++;
        if (avgx === null) {
          const opts = { device: x.device, dtype: x.dtype };
          avgx = zeros([1], opts);
          avgp = zeros([1], opts);
          flag = zeros([1], opts);
          firstStop = zeros([1], opts);
          copyInto(x, avgx);
        }
        const p = binary("sub", x, avgx);
        axpby(a, x, 1 - a, avgx);
        axpby(a, p, 1 - a, avgp!);
        p.dispose();
        // flag ← max(flag, avgp > 0); firstStop records the step where it first rose.
        const rose = binary("gt", avgp!, 0);
        const newly = binary("gt", rose, flag!);
        axpby(this.steps, newly, 1, firstStop!);
        axpby(1, newly, 1, flag!);
        rose.dispose();
        newly.dispose();
        const now = performance.now();
        const due = x.device === "cpu" ||
          (this.#steps > 0
            ? this.steps - lastCheckStep >= this.#steps
            : now - lastCheck >= this.#seconds * 1000);
        if (due) {
          lastCheck = now;
          lastCheckStep = this.steps;
          const [f, s] = await readAll([flag!, firstStop!]);
          if (f[0] > 0) {
            // As Knet: the item at which the rule fires is not passed on.
            this.converged = true;
            this.stoppedAt = s[0];
            return;
          }
        }
        yield x;
      }
    } finally {
      for (const t of [avgx, avgp, flag, firstStop]) t?.dispose();
    }
  }

  /** Iterates to the end (Knet's `converge!`); returns this. */
  async run(): Promise<Converge> {
    for await (const _ of this) { /* each step trains */ }
    return this;
  }
}

/**
 * Knet's `converge(itr; alpha)`: the step losses of `itr` until they stop falling, e.g.
 * `await progress(converge(adam(f, cycle(data)))).run()`.
 */
export function converge(
  itr: Iterable<Tensor> | AsyncIterable<Tensor>,
  opts: ConvergeOptions = {},
): Converge {
  return new Converge(itr, opts);
}
