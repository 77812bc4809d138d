/**
 * lbfgs: JSOSolvers' limited-memory BFGS line-search method (`lbfgs(nlp; mem = 5)`):
 * d = −H∇f with H the inverse L-BFGS operator with scaling ({@link LBFGSOperator},
 * `inverse: true`), and SolverTools' `armijo_wolfe` line search (τ0 = max(1e-4, √eps),
 * τ1 = 0.9999, t ← 5t while the loose Wolfe condition fails and Armijo holds, at most
 * bW_max = 5 times; then t ← 0.4t until Armijo holds, enriched by Hager–Zhang's test
 * f(x+td) ≤ f + eps^(3/5)|f| and ∇f(x+td)ᵀd ≤ −0.8∇fᵀd, at most bk_max = 25 times, after
 * which the step is taken anyway).
 *
 * The line search is a device-side state machine: each host step queues exactly one
 * evaluation (f and ∇f at x + td) and the device decides — with 0/1 tensors — whether
 * to grow t, backtrack, or accept (x ← x + td, the pair pushed, d ← −H∇f). No host
 * sync per step; the iteration count (completed line searches) lives on the device.
 *
 * The pair (s, y) = (x₊ − x, ∇f(x₊) − ∇f(x)) is pushed at every step with the device
 * flag "this step ended the line search" as the operator's `accept` mask: a step that
 * did not end one leaves the operator bit-for-bit unchanged and consumes no memory
 * slot, and the operator's own rule (yᵀs > eps) skips the rest, so the memory holds
 * exactly JSO's newest `mem` accepted pairs.
 *
 * Given an {@link LBFGSModel} that the caller built, lbfgs uses the model's operator as
 * its memory (the direction is its `applyInverse`, i.e. H = B⁻¹ by the two-loop
 * recursion, and the accepted pairs go to it): `mem` and the scaling are the model's,
 * and the model keeps its pairs after the solve (neither reset nor disposed). Any other
 * problem, an {@link LSR1Model} included, is used through f and ∇f only, as in JSO.
 *
 * Deviations from JSO (and why):
 * - Every trial evaluates f and ∇f together (`objgrad`), so `neval_grad` = `neval_obj`.
 * - When bk_max backtracks still end at a NaN or infinite f, the step is not taken:
 *   status exception ("line search found no finite point"); JSO would take it.
 * - When a line search ends at the growth cap (t grew bW_max times) with the Wolfe test
 *   still failing, the next one starts from that t instead of 1, so the step keeps
 *   growing where f does not curve up (JSO restarts at 1 and, on f = −Σx, creeps
 *   towards fmin forever; here it reaches fmin and reports unbounded).
 * - `maxIter` counts iterations (line searches) on the device; `checkEvery` counts
 *   steps (evaluations); the callback runs at a check once `callbackEvery` iterations
 *   have completed since its last call.
 *
 * Statuses: first_order, not_desc (∇fᵀd ≥ 0), unbounded (f below min(−1, f(x0))/eps),
 * exception (see above, or NaN/Inf in x0, f(x0), ∇f(x0)), max_iter, max_eval,
 * max_time, user.
 *
 * @module
 */

import type { SmoothNLP } from "../nlp/nlp.ts";
import { counters } from "../gpu/counters.ts";
import {
  abs,
  add,
  eq,
  ge,
  gt as greater,
  le,
  lt,
  maximum,
  minimum,
  mul,
  ne,
  sub,
} from "../ops/math.ts";
import { dot, nrm2 } from "../ops/reduce.ts";
import { axpy, copyInto, scal } from "../ops/vector.ts";
import { zeros } from "../tensor/create.ts";
import { tidy } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { LBFGSOperator } from "./operators.ts";
import { LBFGSModel } from "./qn_models.ts";
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

/** Options of {@link lbfgs} (JSO's defaults). */
export interface LBFGSSolverOptions extends SolverOptions {
  /** Pairs kept by the inverse L-BFGS operator (default 5; not with an LBFGSModel). */
  mem?: number;
  /** Armijo slope factor (default max(1e-4, √eps)). */
  tau0?: number;
  /** Loose Wolfe slope factor, > tau0 (default 0.9999). */
  tau1?: number;
  /** Most backtracks per line search (default 25, JSO lbfgs's). */
  bkMax?: number;
  /** Most step increases per line search (default 5, SolverTools'). */
  bWMax?: number;
  /** See {@link SolverCallback}; the solver argument is an {@link LBFGSState}. */
  callback?(nlp: SmoothNLP, solver: LBFGSState, stats: ExecutionStats): void | Promise<void>;
}

/** What lbfgs shows the callback (live device tensors). */
export interface LBFGSState extends SolverState {
  /** The search direction −H∇f. */
  readonly d: Tensor;
  /** The L-BFGS operator (inverse, or an LBFGSModel's forward one used through H·v). */
  readonly H: LBFGSOperator;
  /** The step length of the next trial, one element. */
  readonly t: Tensor;
}

/**
 * Minimizes `nlp` by L-BFGS from `opts.x0 ?? nlp.meta.x0`. Throws an Error for bad
 * options or an x0 of the wrong length/dtype/device; everything else ends in a status.
 */
export async function lbfgs(
  nlp: SmoothNLP,
  opts: LBFGSSolverOptions = {},
): Promise<ExecutionStats> {
  const who = "lbfgs";
  const given = nlp instanceof LBFGSModel ? nlp : null;
  if (given && opts.mem !== undefined) {
    throw new Error(`${who}: mem is the LBFGSModel's (${given.op.mem}); build the model with it`);
  }
  const syncs0 = counters().hostSyncs;
  const t0 = performance.now();
  const { o, x } = resolveOptions(who, nlp, opts, ["mem", "tau0", "tau1", "bkMax", "bWMax"]);
  let tau0: number, tau1: number, bkMax: number, bWMax: number, mem: number;
  try {
    tau0 = opts.tau0 ?? Math.max(1e-4, Math.sqrt(o.eps));
    tau1 = opts.tau1 ?? 0.9999;
    if (!(tau0 > 0 && tau0 < tau1 && tau1 < 1)) {
      throw new Error(`${who}: need 0 < tau0 < tau1 < 1, got tau0 = ${tau0}, tau1 = ${tau1}`);
    }
    const intIn = (name: string, v: number) => {
      if (!Number.isInteger(v) || v < 0) {
        throw new Error(`${who}: ${name} must be an integer ≥ 0, got ${v}`);
      }
      return v;
    };
    bkMax = intIn("bkMax", opts.bkMax ?? 25);
    bWMax = intIn("bWMax", opts.bWMax ?? 5);
    mem = given ? given.op.mem : opts.mem ?? 5;
    if (!Number.isInteger(mem) || mem < 1) {
      throw new Error(`${who}: mem must be an integer ≥ 1, got ${mem}`);
    }
  } catch (e) {
    x.dispose(); // the copy of x0 resolveOptions made
    throw e;
  }
  const hz = o.eps ** 0.6;

  const n = nlp.meta.nvar;
  const like = { dtype: x.dtype, device: x.device };
  const vec = () => zeros([n], like);
  const [g, d, xt, gt, sv, yv] = [vec(), vec(), vec(), vec(), vec(), vec()];
  const sc = () => zeros([1], like);
  const [f, gn, slope, t, phase, nbW, nbk, epsT, fmin, done, iterDev] = Array.from(
    { length: 11 },
    sc,
  );
  const [optF, unbF, descF, badF, lsF, maxitF] = Array.from({ length: 6 }, sc);
  const H = given ? given.op : new LBFGSOperator(n, { mem, scaling: true, inverse: true, ...like });
  const applyH = (v: Tensor, out: Tensor) => given ? H.applyInverse(v, out) : H.apply(v, out);
  const owned = [x, g, d, xt, gt, sv, yv, f, gn, slope, t, phase, nbW, nbk, epsT, fmin];
  owned.push(done, iterDev, optF, unbF, descF, badF, lsF, maxitF);

  /** d ← −H∇f, slope ← ∇fᵀd, t ← 1, line-search counters ← 0 (masked by `m`). */
  const newDirection = (m: Tensor | null) => {
    const dn = vec();
    applyH(g, dn);
    scal(-1, dn);
    if (m) selectInto(m, dn, d, d);
    else copyInto(dn, d);
    dn.dispose();
    const sl = dot(d, g).reshape(1);
    if (m) {
      selectInto(m, sl, slope, slope);
      assign(t, add(t, mul(m, sub(1, t))));
    } else {
      assign(slope, sl);
      assign(t, add(mul(t, 0), 1));
    }
  };

  try {
    tidy(() => {
      assign(f, nlp.objgrad(x, g).reshape(1));
      assign(gn, nrm2(g).reshape(1));
      assign(epsT, add(mul(gn, o.rtol), o.atol));
      assign(fmin, mul(minimum(f, -1), 1 / o.eps));
      newDirection(null);
      const s = add(add(nonFiniteProbe(x), mul(gn, 0)), mul(f, 0));
      assign(badF, ne(s, 0));
      assign(unbF, lt(f, fmin));
      const ok = sub(1, badF);
      assign(optF, mul(le(gn, epsT), ok));
      assign(descF, mul(mul(ge(slope, 0), ok), sub(1, optF)));
      assign(done, maximum(maximum(maximum(optF, unbF), badF), descF));
    });

    const state: LBFGSState = { name: who, x, g, d, H, t };

    const loop = {
      stepIsIteration: false,
      step(): void {
        tidy(() => {
          const active = sub(1, done);
          copyInto(x, xt);
          axpy(t, d, xt);
          const ft = nlp.objgrad(xt, gt).reshape(1);
          const st = dot(d, gt).reshape(1);
          const armT = le(ft, add(f, mul(mul(t, slope), tau0)));
          const hzOk = mul(le(ft, add(f, mul(abs(f), hz))), le(st, mul(slope, -0.8)));
          const armijo = maximum(armT, hzOk);
          const inc = mul(mul(mul(sub(1, phase), lt(st, mul(slope, tau1))), armT), lt(nbW, bWMax));
          const noInc = sub(1, inc);
          const back = mul(mul(noInc, sub(1, armijo)), lt(nbk, bkMax));
          const take = mul(mul(noInc, sub(1, back)), active);
          const finite = eq(mul(ft, 0), 0);
          const acc = mul(take, finite);
          const lsFail = mul(take, sub(1, finite));
          // Accepted at the growth cap with the Wolfe test still failing (f as steep at
          // x + td as at x): the next line search starts from this t, not from 1.
          const capped = mul(mul(acc, ge(nbW, bWMax)), lt(st, mul(slope, tau1)));
          // Step-length state for the next trial (kept as is once frozen).
          const tNext = mul(t, add(add(mul(inc, 4), mul(back, -0.6)), 1));
          const upd = (dst: Tensor, v: Tensor) => assign(dst, add(dst, mul(active, sub(v, dst))));
          upd(t, tNext);
          upd(nbW, mul(add(nbW, inc), sub(1, acc)));
          upd(nbk, mul(add(nbk, back), sub(1, acc)));
          upd(phase, mul(maximum(phase, back), sub(1, acc)));
          // The pair, pushed only if the line search ended here (a masked push is a
          // no-op, NaN-safe).
          copyInto(xt, sv);
          axpy(-1, x, sv);
          copyInto(gt, yv);
          axpy(-1, g, yv);
          H.push(sv, yv, { accept: acc });
          axpy(mul(acc, tNext), d, x);
          selectInto(acc, ft, f, f);
          selectInto(acc, gt, g, g);
          assign(gn, nrm2(g).reshape(1));
          newDirection(acc);
          assign(t, add(t, mul(capped, sub(tNext, t))));
          assign(iterDev, add(iterDev, acc));
          const opt = mul(acc, le(gn, epsT));
          const unb = mul(mul(acc, lt(f, fmin)), sub(1, opt));
          const desc = mul(mul(acc, ge(slope, 0)), sub(1, opt));
          const maxit = o.maxIter >= 0 ? mul(acc, greater(iterDev, o.maxIter)) : mul(acc, 0);
          assign(optF, maximum(optF, opt));
          assign(unbF, maximum(unbF, unb));
          assign(descF, maximum(descF, desc));
          assign(lsF, maximum(lsF, lsFail));
          assign(maxitF, maximum(maxitF, maxit));
          const stop = maximum(maximum(opt, unb), maximum(maximum(desc, lsFail), maxit));
          assign(done, maximum(done, stop));
        });
      },
      refresh(): void {
        // The problem changed (a new minibatch): f, ∇f and the direction at x; the line
        // search restarts there from the step length it had reached (not from 1), so a
        // stochastic run, whose batch changes every step, can still backtrack.
        tidy(() => {
          const reached = add(t, 0);
          assign(f, nlp.objgrad(x, g).reshape(1));
          assign(gn, nrm2(g).reshape(1));
          newDirection(null);
          assign(t, reached);
          for (const s of [phase, nbW, nbk]) assign(s, mul(s, 0));
        });
      },
      columns: ["t"],
      probes: (): Tensor[] => [f, gn, iterDev, optF, unbF, descF, badF, lsF, maxitF, t],
      decode(v: number[]): CheckResult {
        const [fv, gv, it, opt, unb, desc, bad, ls, maxit, tv] = v;
        const r: CheckResult = { f: fv, gnorm: gv, iter: it, status: "unknown" };
        r.specific = { t: tv };
        r.log = [tv];
        if (bad) {
          r.status = "exception";
          r.reason = startReason(fv, gv);
        } else if (opt) r.status = "first_order";
        else if (unb) r.status = "unbounded";
        else if (desc) r.status = "not_desc";
        else if (ls) {
          r.status = "exception";
          r.reason = `line search found no finite point after ${bkMax} backtracks`;
        } else if (maxit) r.status = "max_iter";
        else if (Number.isNaN(fv) || Number.isNaN(gv)) {
          r.status = "exception";
          r.reason = `f = ${fv}, ‖∇f‖ = ${gv} at an accepted iterate`;
        }
        return r;
      },
    };
    return await runLoop(nlp, o, state, loop, new ExecutionStats(), t0, syncs0);
  } finally {
    for (const s of owned) s.dispose();
    if (!given) H.dispose();
  }
}
