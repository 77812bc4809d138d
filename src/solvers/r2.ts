/**
 * R2: JSOSolvers' first-order quadratic-regularization method (`R2(nlp)`, i.e. `fo`
 * with `r2_step()` and no momentum), every decision on the device.
 *
 * Each iteration takes the step s = −α∇f(x) (α = 1/σ), evaluates f and ∇f at x + s,
 * and tests ρ = (f(x) − f(x+s)) / (α‖∇f(x)‖²): ρ ≥ η1 accepts the step, ρ ≥ η2 doubles
 * α (halves σ, capped at αmax), ρ < η1 halves α. The tests, the α update and the masked
 * accept (x ← x + acc·s, f and ∇f gathered from the trial when acc = 1) are
 * elementwise ops on one-element tensors: no host sync per iteration.
 *
 * Deviations from JSO (and why):
 * - f and ∇f are evaluated together at every trial point (`objgrad`: one forward and
 *   one backward), so `neval_grad` counts rejected trials too. JSO evaluates ∇f only
 *   after an accepted step; doing so here would need the accept decision on the host.
 * - A NaN ratio (a trial where f is NaN) counts as a failure (α halves). JSO leaves α
 *   unchanged on NaN and would retry the same trial forever.
 * - A stochastic problem (`nlp.version` changed, e.g. by the callback moving to the
 *   next minibatch) gets f and ∇f re-evaluated at x on the new batch before the next
 *   ratio test, as in KnetNLPModels' stochastic R2 usage.
 *
 * Statuses: first_order, unbounded (a trial f below min(−1, f(x0))/eps), small_step
 * (x + s == x in every entry), exception (α underflowed to 0, or f / ∇f NaN or
 * infinite at x0, or x0 holding NaN/Inf: `solverSpecific.reason` says which),
 * max_iter, max_eval, max_time, user.
 *
 * @module
 */

import type { SmoothNLP } from "../nlp/nlp.ts";
import {
  add,
  div,
  eq,
  ge,
  le,
  log,
  lt,
  maximum,
  minimum,
  mul,
  ne,
  pow,
  round,
  sub,
} from "../ops/math.ts";
import { nrm2 } from "../ops/reduce.ts";
import { axpy, copyInto } from "../ops/vector.ts";
import { zeros } from "../tensor/create.ts";
import { tidy } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { counters } from "../gpu/counters.ts";
import {
  assign,
  type CheckResult,
  ExecutionStats,
  nonFiniteProbe,
  resolveOptions,
  runLoop,
  selectInto,
  type SolverOptions,
  type SolverState,
  startReason,
} from "./stats.ts";

/** Options of {@link R2} (JSO's defaults). */
export interface R2Options extends SolverOptions {
  /** Acceptance threshold (default eps^(1/4)). */
  eta1?: number;
  /** Very-successful threshold (default 0.95). */
  eta2?: number;
  /** α factor on failure, in (0, 1) (default 1/2: σ doubles). */
  gamma1?: number;
  /** α factor on a very successful step, > 1 (default 2: σ halves). */
  gamma2?: number;
  /** Largest α = 1/σ (default 1/eps). */
  alphaMax?: number;
  /** See {@link SolverCallback}; the solver argument is an {@link R2State}. */
  callback?(nlp: SmoothNLP, solver: R2State, stats: ExecutionStats): void | Promise<void>;
}

/** What R2 shows the callback (live device tensors). */
export interface R2State extends SolverState {
  /** α = 1/σ, one element. */
  readonly alpha: Tensor;
  /** f(x), one element. */
  readonly f: Tensor;
}

function scalar(x: Tensor): Tensor {
  return zeros([1], { dtype: x.dtype, device: x.device });
}

/** Checks a parameter lies in an open interval. */
function inOpen(who: string, name: string, v: number, lo: number, hi: number): number {
  if (typeof v !== "number" || !(v > lo && v < hi)) {
    throw new Error(`${who}: ${name} must lie in (${lo}, ${hi}), got ${String(v)}`);
  }
  return v;
}

/**
 * Minimizes `nlp` by R2 from `opts.x0 ?? nlp.meta.x0`. Throws an Error for bad options
 * or an x0 of the wrong length/dtype/device; everything else ends in a status.
 */
export async function R2(nlp: SmoothNLP, opts: R2Options = {}): Promise<ExecutionStats> {
  const who = "R2";
  const syncs0 = counters().hostSyncs;
  const t0 = performance.now();
  const { o, x } = resolveOptions(who, nlp, opts, ["eta1", "eta2", "gamma1", "gamma2", "alphaMax"]);
  let eta1: number, eta2: number, gamma1: number, gamma2: number, alphaMax: number;
  try {
    eta1 = inOpen(who, "eta1", opts.eta1 ?? o.eps ** 0.25, 0, 1);
    eta2 = inOpen(who, "eta2", opts.eta2 ?? 0.95, 0, 1);
    if (eta1 > eta2) throw new Error(`${who}: eta1 = ${eta1} must be ≤ eta2 = ${eta2}`);
    gamma1 = inOpen(who, "gamma1", opts.gamma1 ?? 0.5, 0, 1);
    gamma2 = inOpen(who, "gamma2", opts.gamma2 ?? 2, 1, Infinity);
    alphaMax = opts.alphaMax ?? 1 / o.eps;
    if (!(alphaMax >= 1)) throw new Error(`${who}: alphaMax must be ≥ 1, got ${alphaMax}`);
  } catch (e) {
    x.dispose(); // the copy of x0 resolveOptions made
    throw e;
  }

  const n = nlp.meta.nvar;
  const like = { dtype: x.dtype, device: x.device };
  const g = zeros([n], like);
  const xt = zeros([n], like);
  const gt = zeros([n], like);
  const [f, gn, alpha, epsT, fmin, done, iterDev] = Array.from({ length: 7 }, () => scalar(x));
  const [optF, unbF, smallF, zeroF, badF] = Array.from({ length: 5 }, () => scalar(x));
  const owned = [x, g, xt, gt, f, gn, alpha, epsT, fmin, done, iterDev];
  owned.push(optF, unbF, smallF, zeroF, badF);

  try {
    // Iteration 0, on the device: f, ∇f, α0 = 1/2^round(log2(‖∇f‖ + 1)), ϵ, fmin.
    tidy(() => {
      assign(f, nlp.objgrad(x, g).reshape(1));
      assign(gn, nrm2(g).reshape(1));
      const k = round(div(log(add(gn, 1)), Math.LN2));
      assign(alpha, pow(2, mul(k, -1)));
      assign(epsT, add(mul(gn, o.rtol), o.atol));
      assign(fmin, div(minimum(f, -1), o.eps));
      // NaN/Inf anywhere in x0, f(x0) or ∇f(x0) (‖∇f‖ is NaN/Inf then too).
      const s = add(add(nonFiniteProbe(x), mul(gn, 0)), mul(f, 0));
      assign(badF, ne(s, 0));
      assign(unbF, lt(f, fmin));
      assign(optF, mul(le(gn, epsT), sub(1, badF)));
      assign(done, maximum(maximum(optF, unbF), badF));
    });

    const state: R2State = { name: who, x, g, alpha, f };

    const loop = {
      stepIsIteration: true,
      step(): void {
        tidy(() => {
          const active = sub(1, done);
          const negA = mul(alpha, -1);
          copyInto(x, xt);
          axpy(negA, g, xt);
          const ft = nlp.objgrad(xt, gt).reshape(1);
          const underflow = mul(active, eq(nrm2(sub(xt, x)).reshape(1), 0));
          const rho = div(sub(f, ft), mul(mul(gn, gn), alpha));
          const acc = mul(ge(rho, eta1), active);
          const very = mul(ge(rho, eta2), active);
          const fail = sub(active, acc);
          const factor = add(add(mul(very, gamma2 - 1), mul(fail, gamma1 - 1)), 1);
          assign(alpha, minimum(mul(alpha, factor), alphaMax));
          axpy(mul(negA, acc), g, x);
          selectInto(acc, ft, f, f);
          selectInto(acc, gt, g, g);
          assign(gn, nrm2(g).reshape(1));
          const unb = mul(active, lt(ft, fmin));
          const opt = mul(active, le(gn, epsT));
          const zero = mul(active, eq(alpha, 0));
          assign(unbF, maximum(unbF, unb));
          assign(optF, maximum(optF, opt));
          assign(smallF, maximum(smallF, underflow));
          assign(zeroF, maximum(zeroF, zero));
          assign(iterDev, add(iterDev, active));
          assign(done, maximum(maximum(maximum(done, opt), maximum(unb, underflow)), zero));
        });
      },
      refresh(): void {
        tidy(() => {
          assign(f, nlp.objgrad(x, g).reshape(1));
          assign(gn, nrm2(g).reshape(1));
        });
      },
      probes: (): Tensor[] => [f, gn, alpha, iterDev, optF, unbF, smallF, zeroF, badF],
      decode(v: number[]): CheckResult {
        const [fv, gv, av, it, opt, unb, small, zero, bad] = v;
        const r: CheckResult = {
          f: fv,
          gnorm: gv,
          iter: it,
          status: "unknown",
          specific: { sigma: 1 / av, alpha: av },
        };
        if (bad) {
          r.status = "exception";
          r.reason = startReason(fv, gv);
        } else if (opt) r.status = "first_order";
        else if (unb) r.status = "unbounded";
        else if (small) r.status = "small_step";
        else if (zero) {
          r.status = "exception";
          r.reason = "α = 1/σ underflowed to 0";
        } else if (Number.isNaN(fv) || Number.isNaN(gv)) {
          r.status = "exception";
          r.reason = `f = ${fv}, ‖∇f‖ = ${gv} at an accepted iterate`;
        }
        return r;
      },
    };
    return await runLoop(nlp, o, state, loop, new ExecutionStats(), t0, syncs0);
  } finally {
    for (const t of owned) t.dispose();
  }
}
