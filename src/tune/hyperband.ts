/**
 * Knet's `hyperband` (Li et al. 2016, "Hyperband: a novel bandit-based approach to
 * hyperparameter optimization"): brackets of successive halving over random
 * configurations, trading the number of configurations against the resource (e.g.
 * epochs) each one gets.
 *
 * With R = maxresource and η = reduction: s_max = ⌊log_η R⌋, B = (s_max + 1)R; bracket
 * s = s_max, …, 0 draws n = ⌈(B/R)·η^s/(s + 1)⌉ configurations and starts them at
 * r = R/η^s; round i = 0, …, s evaluates ⌊n/η^i⌋ of them at r·η^i and keeps the best
 * ⌊n/η^(i+1)⌋ (Knet's `halving`). The answer is the smallest loss seen, with its
 * resource and configuration. s_max is computed with integers (the largest s with
 * η^s ≤ R), so exact powers such as R = 81, η = 3 are not lost to log rounding.
 *
 * @module
 */

/** One round of successive halving: how many configurations, at what resource. */
export interface HalvingRound {
  /** Configurations evaluated in this round. */
  n: number;
  /** The resource each one gets. */
  r: number;
}

/** One bracket of {@link hyperbandSchedule}. */
export interface HyperbandBracket {
  /** The bracket index s (s_max first). */
  s: number;
  /** Configurations drawn at its start. */
  n: number;
  /** Their starting resource. */
  r: number;
  /** Its rounds (s + 1 of them). */
  rounds: HalvingRound[];
}

/** The best result of {@link hyperband}. */
export interface HyperbandResult<C> {
  /** The smallest loss seen (Infinity when every loss was NaN). */
  loss: number;
  /** The resource it was measured at. */
  resource: number;
  /** The configuration. */
  config: C | null;
}

function checkArgs(maxresource: number, reduction: number): void {
  if (typeof maxresource !== "number" || !(maxresource >= 1 && Number.isFinite(maxresource))) {
    throw new Error(`hyperband: maxresource must be a finite number ≥ 1, got ${maxresource}`);
  }
  if (!Number.isInteger(reduction) || reduction < 2) {
    throw new Error(`hyperband: reduction must be an integer ≥ 2, got ${reduction}`);
  }
}

/**
 * The brackets and rounds {@link hyperband} runs for `maxresource` and `reduction`
 * (the paper's Table 1 for 81 and 3). Throws an Error naming a bad argument.
 */
export function hyperbandSchedule(maxresource = 27, reduction = 3): HyperbandBracket[] {
  checkArgs(maxresource, reduction);
  let smax = 0;
  while (reduction ** (smax + 1) <= maxresource) smax++;
  const B = (smax + 1) * maxresource;
  const brackets: HyperbandBracket[] = [];
  for (let s = smax; s >= 0; s--) {
    const n = Math.ceil((B / maxresource) * (reduction ** s / (s + 1)));
    const r = maxresource / reduction ** s;
    const rounds: HalvingRound[] = [];
    for (let i = 0; i <= s; i++) {
      rounds.push({ n: Math.floor(n / reduction ** i), r: r * reduction ** i });
    }
    brackets.push({ s, n, r, rounds });
  }
  return brackets;
}

/**
 * Hyperparameter search by hyperband (Knet's `hyperband(getconfig, getloss, 27, 3)`).
 * `getconfig()` draws a random configuration; `getloss(c, r)` trains c with resource r
 * (e.g. epochs) and returns its loss (NaN counts as worst). Both may be async;
 * evaluations run one at a time, in Knet's order.
 */
export async function hyperband<C>(
  getconfig: () => C | Promise<C>,
  getloss: (config: C, resource: number) => number | Promise<number>,
  maxresource = 27,
  reduction = 3,
): Promise<HyperbandResult<C>> {
  if (typeof getconfig !== "function" || typeof getloss !== "function") {
    throw new Error("hyperband: getconfig and getloss must be functions");
  }
  const best: HyperbandResult<C> = { loss: Infinity, resource: NaN, config: null };
  const key = (v: number) => (Number.isNaN(v) ? Infinity : v);
  for (const bracket of hyperbandSchedule(maxresource, reduction)) {
    let T: C[] = [];
    for (let k = 0; k < bracket.n; k++) T.push(await getconfig());
    for (let i = 0; i <= bracket.s; i++) {
      const { r } = bracket.rounds[i];
      const L: number[] = [];
      for (const c of T) L.push(Number(await getloss(c, r)));
      const order = L.map((_, k) => k).sort((a, b) => key(L[a]) - key(L[b]) || a - b);
      const top = order[0];
      if (top !== undefined && key(L[top]) < best.loss) {
        best.loss = L[top];
        best.resource = r;
        best.config = T[top];
      }
      const keep = i < bracket.s ? bracket.rounds[i + 1].n : 0;
      T = order.slice(0, keep).map((k) => T[k]);
    }
  }
  return best;
}
