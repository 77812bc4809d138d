/**
 * Knet's progress bar for training loops:
 *
 *     ┣█████████████████▎  ┫ [86.83%, 903/1040, 01:36/01:50, 9.42i/s] loss 0.1423 (recent mean)
 *
 * percent done, steps done/total, elapsed/estimated total time, speed and the mean loss
 * since the previous refresh. The step losses are device tensors; they are summed on the
 * device and read back only when the bar refreshes (at most once per `seconds`, default
 * 1 s) and once at the end, so an epoch costs at most 1 + seconds/refresh host syncs.
 * Without a terminal (stderr not a TTY, no `output`), nothing is drawn and the sum is
 * read once, at the end.
 *
 * @module
 */

import { axpy, fill } from "../ops/vector.ts";
import { zeros } from "../tensor/create.ts";
import { readAll, Tensor } from "../tensor/tensor.ts";

/** Where a progress bar is drawn. */
export interface ProgressOutput {
  /** Writes text (no newline added). */
  write(text: string): void;
}

/** Options of {@link progress}. */
export interface ProgressOptions {
  /** Refresh at most once per this many seconds (default 1 when `steps` is not given). */
  seconds?: number;
  /** Refresh every this many steps instead of by time. */
  steps?: number;
  /** Where to draw (default: stderr when it is a terminal, else nowhere). */
  output?: ProgressOutput | null;
  /** The text after the bar (default: `loss <mean since the last refresh> (recent mean)`, once one was read). */
  message?: (p: Progress) => string;
}

const EIGHTHS = [" ", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
const BAR_WIDTH = 20;

function stderrIfTerminal(): ProgressOutput | null {
  try {
    if (!Deno.stderr.isTerminal()) return null;
  } catch {
    return null;
  }
  const enc = new TextEncoder();
  return { write: (s) => void Deno.stderr.writeSync(enc.encode(s)) };
}

/** `mm:ss`, or `hh:mm:ss` from an hour on (Knet's format). */
export function formatTime(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (v: number) => String(v).padStart(2, "0");
  return h > 0 ? `${two(h)}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
}

/** Iterations per second, or seconds per iteration below 1 it/s (Knet's format). */
export function formatSpeed(itPerSecond: number): string {
  return itPerSecond >= 1 || itPerSecond === 0
    ? `${itPerSecond.toFixed(2)}i/s`
    : `${(1 / itPerSecond).toFixed(2)}s/i`;
}

/** The bar itself for `done` of `total` steps: ┣███▍    ┫ (20 cells, eighths). */
export function formatBar(done: number, total: number): string {
  const cell = Math.max(1, total) / BAR_WIDTH;
  const full = Math.min(BAR_WIDTH, Math.floor(done / cell));
  let bar = "█".repeat(full);
  if (full < BAR_WIDTH) {
    bar += EIGHTHS[Math.floor((8 * (done - full * cell)) / cell)];
    bar += " ".repeat(BAR_WIDTH - full - 1);
  }
  return `┣${bar}┫`;
}

/**
 * A progress-reporting pass over a training iterator (see the module doc). Iterate it
 * with `for await`, or call {@link Progress.run} to drain it.
 */
export class Progress implements AsyncIterable<Tensor> {
  readonly #itr: Iterable<Tensor> | AsyncIterable<Tensor>;
  readonly #seconds: number;
  readonly #steps: number;
  readonly #output: ProgressOutput | null;
  readonly #message: (p: Progress) => string;
  /** Steps completed. */
  curriter: number = 0;
  /** Steps in a full pass, when the iterator has a length. */
  readonly total: number | undefined;
  /** Mean loss over the steps since the previous refresh (NaN before the first). */
  lastLoss: number = NaN;
  /** Mean loss over every step read back so far (all steps, after the end). */
  meanLoss: number = NaN;
  /** Host reads of the loss sum so far. */
  reads: number = 0;
  /** Seconds from the first step to the last refresh. */
  elapsed: number = 0;
  #sumRead = 0;
  #stepsRead = 0;
  #window: Tensor | null = null;
  #windowSteps = 0;
  #start = 0;
  #lastTime = 0;
  #lastIter = 0;

  /** See {@link progress}. */
  constructor(itr: Iterable<Tensor> | AsyncIterable<Tensor>, opts: ProgressOptions = {}) {
    if (itr === null || typeof itr !== "object") {
      throw new Error("progress: expected an iterator of step losses (e.g. adam(f, data))");
    }
    const { seconds, steps = 0 } = opts;
    if (seconds !== undefined && !(seconds >= 0)) {
      throw new Error(`progress: seconds must be ≥ 0, got ${seconds}`);
    }
    if (!Number.isInteger(steps) || steps < 0) {
      throw new Error(`progress: steps must be a non-negative integer, got ${steps}`);
    }
    this.#itr = itr;
    this.#steps = steps;
    this.#seconds = seconds ?? (steps > 0 ? 0 : 1);
    this.#output = opts.output === undefined ? stderrIfTerminal() : opts.output;
    this.#message = opts.message ??
      ((p) => (Number.isNaN(p.lastLoss) ? "" : `loss ${p.lastLoss.toPrecision(6)} (recent mean)`));
    const len = (itr as { length?: unknown }).length;
    this.total = typeof len === "number" ? len : undefined;
  }

  /** Yields the wrapped iterator's step losses, accumulating and drawing as it goes. */
  async *[Symbol.asyncIterator](): AsyncIterator<Tensor> {
    this.#start = this.#lastTime = performance.now();
    try {
      for await (const loss of this.#itr) {
        if (!(loss instanceof Tensor)) {
          throw new Error(`progress: expected step losses (tensors), got ${typeof loss}`);
        }
        this.#accumulate(loss);
        this.curriter++;
        yield loss;
        if (this.#due()) await this.#refresh(false);
        else if (this.curriter === 1) this.#draw(false);
      }
      await this.#refresh(true);
    } finally {
      this.#window?.dispose();
      this.#window = null;
    }
  }

  /** Iterates to the end (Knet's `progress!`); returns this, with the final figures. */
  async run(): Promise<Progress> {
    for await (const _ of this) { /* each step trains */ }
    return this;
  }

  #accumulate(loss: Tensor): void {
    if (loss.size !== 1) {
      throw new Error(`progress: a step loss must have one element, got [${loss.shape}]`);
    }
    if (this.#window !== null && this.#window.device !== loss.device) {
      throw new Error(`progress: step losses moved from ${this.#window.device} to ${loss.device}`);
    }
    this.#window ??= zeros([1], { device: loss.device, dtype: loss.dtype });
    axpy(1, loss, this.#window);
    this.#windowSteps++;
  }

  #due(): boolean {
    if (this.#output === null) return false;
    if (this.#steps > 0) return this.curriter - this.#lastIter >= this.#steps;
    return performance.now() - this.#lastTime >= this.#seconds * 1000;
  }

  async #refresh(final: boolean): Promise<void> {
    if (this.#window !== null && this.#windowSteps > 0) {
      const [w] = await readAll([this.#window]);
      this.reads++;
      fill(this.#window, 0);
      this.lastLoss = w[0] / this.#windowSteps;
      this.#sumRead += w[0];
      this.#stepsRead += this.#windowSteps;
      this.meanLoss = this.#sumRead / this.#stepsRead;
      this.#windowSteps = 0;
    }
    this.#draw(final);
  }

  #draw(final: boolean): void {
    const now = performance.now();
    this.elapsed = (now - this.#start) / 1000;
    const speed = final
      ? this.curriter / Math.max(this.elapsed, 1e-9)
      : (this.curriter - this.#lastIter) / Math.max((now - this.#lastTime) / 1000, 1e-9);
    this.#lastIter = this.curriter;
    this.#lastTime = now;
    if (this.#output === null) return;
    let status: string;
    if (this.total !== undefined) {
      const eta = this.curriter === 0
        ? 0
        : (this.total - this.curriter) / (this.curriter / Math.max(this.elapsed, 1e-9));
      const pct = ((this.curriter / Math.max(1, this.total)) * 100).toFixed(2);
      status =
        `${formatBar(this.curriter, this.total)} [${pct}%, ${this.curriter}/${this.total}, ` +
        `${formatTime(this.elapsed)}/${formatTime(this.elapsed + eta)}, ${formatSpeed(speed)}] `;
    } else {
      status = `[${this.curriter}, ${formatTime(this.elapsed)}, ${formatSpeed(speed)}] `;
    }
    this.#output.write(`\r${status}${this.#message(this)}${final ? "\n" : ""}`);
  }
}

/**
 * Knet's `progress(itr)`: wraps a training iterator (sync or async, yielding step losses)
 * and draws a progress bar; `await progress(itr).run()` is Knet's `progress!`.
 */
export function progress(
  itr: Iterable<Tensor> | AsyncIterable<Tensor>,
  opts: ProgressOptions = {},
): Progress {
  return new Progress(itr, opts);
}
