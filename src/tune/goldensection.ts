/**
 * Knet's `goldensection`: concurrent golden-section search and hill climbing in every
 * dimension, for tuning a few hyperparameters with an expensive (possibly async) f.
 *
 * Semantics (Knet's src/train20/hyperopt.jl): the search starts at the zero vector with
 * step 1 in each dimension and an expected gain of +∞ in each. Each step tries x + dxᵢ
 * in the dimension i with the largest expected gain. A better point is taken, its step
 * grows by `accel` and its expected gain becomes accel·(f0 − f1); steps of the other
 * dimensions that had shrunk below dxmin·accel are raised back to dxmin·accel (keeping
 * their sign) with a nonnegative gain. A worse point reverses and shrinks the step
 * (dxᵢ ← −dxᵢ/accel, gain (f1 − f0)/accel, −1 once |dxᵢ| < dxmin). A NaN f counts as a
 * value worse by the expected gain (f0 + dfᵢ), so f may return NaN outside its domain.
 * The search stops when every |dxᵢ| ≤ dxmin.
 *
 * @module
 */

/** One cached evaluation: the point and f there. */
export interface HistoryEntry {
  /** The point (a copy). */
  x: number[];
  /** f(x). */
  f: number;
}

/** Options of {@link goldensection} (Knet's keyword arguments). */
export interface GoldenSectionOptions {
  /** Smallest step size: the search ends when every step is at most this (default 0.1). */
  dxmin?: number;
  /** Step growth factor, > 1 (default φ = 1.618…, the golden ratio). */
  accel?: number;
  /** Print every step (default false). */
  verbose?: boolean;
  /**
   * The evaluation cache: a point within √eps (relative, Julia's `isapprox`) of a cached
   * one is not evaluated again. Pass an array to read it afterwards or to reuse it across
   * searches; new evaluations are appended.
   */
  history?: HistoryEntry[];
}

/** The result of {@link goldensection}. */
export interface GoldenSectionResult {
  /** The smallest f found. */
  fmin: number;
  /** Where it was found. */
  xmin: number[];
}

/** The golden ratio φ = (1 + √5)/2, Knet's default acceleration. */
export const GOLDEN: number = (1 + Math.sqrt(5)) / 2;

const RTOL = Math.sqrt(2 ** -52);

function norm(a: readonly number[]): number {
  return Math.sqrt(a.reduce((s, v) => s + v * v, 0));
}

/** Julia's `isapprox(x, y)` for vectors: ‖x − y‖ ≤ √eps·max(‖x‖, ‖y‖). */
function isapprox(x: readonly number[], y: readonly number[]): boolean {
  if (x.length !== y.length) return false;
  const d = norm(x.map((v, i) => v - y[i]));
  return d <= RTOL * Math.max(norm(x), norm(y));
}

/**
 * Finds a minimum of `f` over n-vectors (Knet's `goldensection(f, n)`), starting at the
 * zero vector with step 1: scale and shift inside f (e.g. lr = 0.01·exp(x₀)). `f` may be
 * async and may return NaN for inputs out of its range. Throws an Error naming the
 * option for a bad n, dxmin or accel.
 */
export async function goldensection(
  f: (x: number[]) => number | Promise<number>,
  n: number,
  opts: GoldenSectionOptions = {},
): Promise<GoldenSectionResult> {
  const who = "goldensection";
  if (typeof f !== "function") throw new Error(`${who}: f must be a function`);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`${who}: n must be an integer ≥ 1, got ${String(n)}`);
  }
  const dxmin = opts.dxmin ?? 0.1;
  const accel = opts.accel ?? GOLDEN;
  if (typeof dxmin !== "number" || !(dxmin > 0 && dxmin < 1)) {
    throw new Error(`${who}: dxmin must lie in (0, 1), got ${String(dxmin)}`);
  }
  if (typeof accel !== "number" || !(accel > 1 && Number.isFinite(accel))) {
    throw new Error(`${who}: accel must be a finite number > 1, got ${String(accel)}`);
  }
  const history = opts.history ?? [];
  if (!Array.isArray(history)) throw new Error(`${who}: history must be an array`);

  const feval = async (x: number[]): Promise<number> => {
    for (const h of history) if (isapprox(x, h.x)) return h.f;
    const fx = Number(await f(x.slice()));
    history.push({ x: x.slice(), f: fx });
    return fx;
  };

  let x0 = new Array<number>(n).fill(0);
  let f0 = await feval(x0);
  const dx = new Array<number>(n).fill(1);
  const df = new Array<number>(n).fill(Infinity);
  while (Math.max(...dx.map(Math.abs)) > dxmin) {
    let i = 0;
    for (let j = 1; j < n; j++) if (df[j] > df[i]) i = j; // argmax (first on ties)
    const x1 = x0.slice();
    x1[i] += dx[i];
    let f1 = await feval(x1);
    if (opts.verbose) {
      console.log(`goldensection: f0 ${f0} x0 [${x0}] f1 ${f1} x1 [${x1}] dx [${dx}] df [${df}]`);
    }
    if (Number.isNaN(f1)) f1 = f0 + df[i];
    if (f1 < f0) {
      dx[i] *= accel;
      df[i] = accel * (f0 - f1);
      x0 = x1;
      f0 = f1;
      for (let j = 0; j < n; j++) {
        if (Math.abs(dx[j]) < dxmin * accel) {
          dx[j] = Math.sign(dx[j]) * dxmin * accel;
          df[j] = Math.max(df[j], 0);
        }
      }
    } else {
      dx[i] = -dx[i] / accel;
      df[i] = (f1 - f0) / accel;
      if (Math.abs(dx[i]) < dxmin) df[i] = -1;
    }
  }
  return { fmin: f0, xmin: x0 };
}
