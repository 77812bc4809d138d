/**
 * trunk: JSOSolvers' `trunk` trust-region method on a quasi-Newton model of the problem,
 * monotone variant, every decision on the device. `trunk(nlp)` builds an L-SR1 model
 * itself (the solver "trunk-lsr1"); `trunk(new LSR1Model(nlp))` and
 * `trunk(new LBFGSModel(nlp))` ("trunk-lbfgs") use the model the caller built, as
 * JSOSolvers does: its operator receives the pairs (it is neither reset nor disposed, so
 * it carries what it learned into the next solve; call `model.reset()` for a fresh start).
 *
 * Each iteration solves min gᵀs + ½sᵀBs, ‖s‖ ≤ Δ approximately by Steihaug–Toint
 * truncated CG (Krylov.jl's `cg` with `radius` and `atol`, `rtol` = cgtol: stop on the
 * boundary at nonpositive curvature or when the next CG step leaves the region, or when
 * ‖r‖ ≤ atol + cgtol‖g‖; cgtol = max(rtol, min(0.1, √‖g‖, 0.9·cgtol))), computes
 * ared/pred with SolverTools' `aredpred` round-off guards (neg_pred when pred ≥ 0),
 * backtracks along s (α ← α/1.2, at most bk_max = 10 times, Armijo factor eps^(1/4))
 * when the ratio is below 1e-4 (not_desc when sᵀg ≥ 0), and updates Δ by SolverTools'
 * `TrustRegion`: ratio < 1e-4 → Δ = α‖s‖/3; ratio ≥ 0.95 → Δ = min(1/√eps, max(Δ,
 * 1.5α‖s‖)). Δ0 = min(max(‖g0‖/10, 1), 100). On an accepted step the pair
 * (αs, ∇f₊ − ∇f) goes to the L-SR1 operator.
 *
 * On the device: a host step queues exactly one evaluation (f and ∇f at x + αs), like
 * lbfgs's line search. A step that starts an iteration first queues the CG: a fixed
 * block of `cgItmax` CG iterations whose exits (boundary, nonpositive curvature,
 * convergence) are 0/1 masks, so the iterations after the exit are exact no-ops; a
 * step inside a backtracking search leaves s as it is. The device then decides —
 * with 0/1 tensors — between accepting (x ← x + αs, the pair pushed with the operator's
 * `accept` mask), rejecting, backtracking once more, or stopping, and updates Δ. The
 * host reads the state only when a check or the callback is due (`checkEvery`,
 * `callbackEvery`; see src/solvers/stats.ts): no host sync per iteration or per CG
 * iteration.
 *
 * Deviations from JSO (and why):
 * - CG cap: JSO gives Krylov's `cg` at most max(2n, 50) iterations. Here every queued CG
 *   iteration costs device work even after the exit, and the host cannot see the exit
 *   without a sync, so the default cap is min(max(2n, 50), 2(mem + 1)): B = I/γ + a
 *   rank-≤ mem L-SR1 term has at most mem + 1 distinct eigenvalues, so CG ends within
 *   mem + 1 iterations in exact arithmetic and the cap leaves the same again for
 *   rounding. `solverSpecific.cgCapHits` counts the iterations whose CG was stopped by
 *   the cap (0 means the run is the one JSO's cap gives); `cgItmax` sets it.
 * - Every trial evaluates f and ∇f together (`objgrad`), so `neval_grad` = `neval_obj`
 *   (JSO evaluates ∇f at accepted points and in the round-off branch of `aredpred`).
 * - A NaN or infinite trial f does not end the backtracking (JSO's `ft > f + βαslope`
 *   is false for NaN), and a NaN ratio counts as a failure (Δ = α‖s‖/3; JSO leaves Δ
 *   unchanged and would solve the same subproblem again).
 * - `maxIter` counts iterations on the device; `checkEvery` counts steps
 *   (evaluations); the callback runs at a check once `callbackEvery` iterations have
 *   completed since its last call.
 *
 * - Unbounded: f below min(−1, f(x0))/eps ends the run as in R2, lbfgs and adam.
 *   (On f = −Σx the L-SR1 model never learns the zero curvature, y = 0 pairs are
 *   skipped, so Δ stops growing and trunk creeps as JSO's does: max_time.)
 *
 * Statuses: first_order, unbounded, neg_pred (pred ≥ 0), not_desc (a backtrack along an ascent
 * direction), exception (NaN/Inf in x0, f(x0), ∇f(x0), or at an accepted iterate),
 * max_iter, max_eval, max_time, user.
 *
 * @module
 */

import type { SmoothNLP } from "../nlp/nlp.ts";
import { counters } from "../gpu/counters.ts";
import {
  abs,
  add,
  div,
  ge,
  gt as greater,
  le,
  lt,
  maximum,
  minimum,
  mul,
  ne,
  neg,
  sqrt,
  sub,
} from "../ops/math.ts";
import { dot, nrm2 } from "../ops/reduce.ts";
import { axpy, copyInto, scal } from "../ops/vector.ts";
import { full, zeros } from "../tensor/create.ts";
import { tidy } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { LBFGSModel, LSR1Model, type QuasiNewtonNLP } from "./qn_models.ts";
import {
  assign,
  type CheckResult,
  ExecutionStats,
  nonFiniteProbe,
  pick as pickScalar,
  resolveOptions,
  runLoop,
  selectInto,
  type SolverOptions,
  type SolverState,
  startReason,
} from "./stats.ts";

/** Options of {@link trunk} (JSO's defaults). */
export interface TrunkOptions extends SolverOptions {
  /** Pairs kept by the L-SR1 operator trunk builds (default 5; not with a model given). */
  mem?: number;
  /** Most backtracks along a rejected step (default 10). */
  bkMax?: number;
  /**
   * CG iterations queued per trust-region iteration (default min(max(2n, 50),
   * 2(mem + 1)) for L-SR1 and min(max(2n, 50), 2(2mem + 1)) for L-BFGS, whose B has up
   * to 2mem + 1 distinct eigenvalues; JSO's cap is max(2n, 50), see the module doc).
   */
  cgItmax?: number;
  /** See {@link SolverCallback}; the solver argument is a {@link TrunkState}. */
  callback?(nlp: SmoothNLP, solver: TrunkState, stats: ExecutionStats): void | Promise<void>;
}

/** What trunk shows the callback (live device tensors). */
export interface TrunkState extends SolverState {
  /** The quasi-Newton model (its operator is `model.op`). */
  readonly model: QuasiNewtonNLP;
  /** The trust-region radius Δ, one element. */
  readonly radius: Tensor;
  /** f(x), one element. */
  readonly f: Tensor;
}

/**
 * Minimizes `nlp` by trunk from `opts.x0 ?? nlp.meta.x0`, on the quasi-Newton model
 * `nlp` when it is an {@link LSR1Model} or {@link LBFGSModel}, else on an L-SR1 model
 * built (and freed) here. Throws an Error for bad options (`mem` with a model given is
 * one: the model's operator fixes it) or an x0 of the wrong length/dtype/device;
 * everything else ends in a status.
 */
export async function trunk(nlp: SmoothNLP, opts: TrunkOptions = {}): Promise<ExecutionStats> {
  const given = nlp instanceof LSR1Model || nlp instanceof LBFGSModel ? nlp : null;
  const lbfgsB = given instanceof LBFGSModel;
  const who = lbfgsB ? "trunk-lbfgs" : "trunk-lsr1";
  if (given && opts.mem !== undefined) {
    throw new Error(`${who}: mem is the model's (${given.op.mem}); build the model with it`);
  }
  const syncs0 = counters().hostSyncs;
  const t0 = performance.now();
  const { o, x } = resolveOptions(who, nlp, opts, ["mem", "bkMax", "cgItmax"]);
  const n = nlp.meta.nvar;
  const mem = given ? given.op.mem : opts.mem ?? 5;
  const bkMax = opts.bkMax ?? 10;
  const distinct = lbfgsB ? 2 * mem + 1 : mem + 1; // B's distinct eigenvalues, at most
  const cgItmax = opts.cgItmax ?? Math.min(Math.max(2 * n, 50), 2 * distinct);
  let model: QuasiNewtonNLP;
  try {
    if (!Number.isInteger(bkMax) || bkMax < 0) {
      throw new Error(`${who}: bkMax must be an integer ≥ 0, got ${bkMax}`);
    }
    if (!Number.isInteger(cgItmax) || cgItmax < 1) {
      throw new Error(`${who}: cgItmax must be an integer ≥ 1, got ${cgItmax}`);
    }
    model = given ?? new LSR1Model(nlp, { mem });
  } catch (e) {
    x.dispose();
    throw e;
  }
  const like = { dtype: x.dtype, device: x.device };
  const vec = () => zeros([n], like);
  const [g, gt, xt, s, sa, r, p, ap, hs, y] = Array.from({ length: 10 }, vec);
  const sc = () => zeros([1], like);
  const [f, gn, radius, cgtol, epsT, phase, alpha, bk, slope, curv, sNorm] = Array.from(
    { length: 11 },
    sc,
  );
  const [iterDev, done, gam, tolCG, cgRun, cgIt, cgHits, bkLast] = Array.from({ length: 8 }, sc);
  const [optF, negPredF, notDescF, badF, excF, maxitF, unbF, fmin] = Array.from(
    { length: 8 },
    sc,
  );
  const owned = [x, g, gt, xt, s, sa, r, p, ap, hs, y, f, gn, radius, cgtol, epsT, phase];
  owned.push(alpha, bk, slope, curv, sNorm, iterDev, done, gam, tolCG, cgRun, cgIt, cgHits);
  owned.push(bkLast, optF, negPredF, notDescF, badF, excF, maxitF, unbF, fmin);
  const eps = o.eps;
  const beta = eps ** 0.25;
  const maxRadius = 1 / Math.sqrt(eps);

  /** `c ? a : b` as a new one-element tensor (exact and NaN-safe: a gather). */
  const pick = (c: Tensor, a: Tensor | number, b: Tensor | number) => pickScalar(c, a, b, x);

  /**
   * One Steihaug–Toint CG iteration on B s = −g, masked by cgRun (0: an exact no-op on
   * s; r and p stay finite).
   */
  const cgIteration = () => {
    model.hprod(x, p, ap);
    const pAp = dot(p, ap).reshape(1);
    const pp = dot(p, p).reshape(1);
    const sp = dot(s, p).reshape(1);
    const ss = dot(s, s).reshape(1);
    const a = div(gam, pAp);
    // The step σ ≥ 0 to the boundary: ‖s + σp‖ = Δ.
    const disc = add(mul(sp, sp), mul(pp, sub(mul(radius, radius), ss)));
    const sigma = div(add(neg(sp), sqrt(maximum(disc, 0))), pp);
    const bnd = maximum(le(pAp, 0), greater(a, sigma));
    const step = pick(cgRun, pick(bnd, sigma, a), 0);
    axpy(step, p, s);
    axpy(neg(step), ap, r);
    const gNew = dot(r, r).reshape(1);
    const conv = le(sqrt(gNew), tolCG);
    assign(cgIt, add(cgIt, cgRun));
    const cont = mul(cgRun, mul(sub(1, bnd), sub(1, conv)));
    scal(pick(cont, div(gNew, gam), 0), p); // p ← r + βp
    axpy(1, r, p);
    selectInto(cont, gNew, gam, gam);
    assign(cgRun, cont);
  };

  try {
    tidy(() => {
      assign(f, nlp.objgrad(x, g).reshape(1));
      assign(gn, nrm2(g).reshape(1));
      assign(epsT, add(mul(gn, o.rtol), o.atol));
      assign(radius, minimum(maximum(div(gn, 10), 1), 100));
      assign(cgtol, full([1], 1, like));
      assign(fmin, mul(minimum(f, -1), 1 / o.eps));
      const bad = add(add(nonFiniteProbe(x), mul(gn, 0)), mul(f, 0));
      assign(badF, ne(bad, 0));
      assign(optF, mul(le(gn, epsT), sub(1, badF)));
      assign(done, maximum(optF, badF));
    });

    const state: TrunkState = { name: who, x, g, model, radius, f };

    const loop = {
      stepIsIteration: false,
      step(): void {
        tidy(() => {
          const active = sub(1, done);
          const np = mul(active, sub(1, phase)); // this step starts an iteration
          // The subproblem (an exact no-op on s unless np).
          const ct = maximum(o.rtol, minimum(minimum(sqrt(gn), 0.1), mul(cgtol, 0.9)));
          selectInto(np, ct, cgtol, cgtol);
          scal(sub(1, np), s);
          copyInto(g, r);
          scal(-1, r);
          copyInto(r, p);
          assign(gam, dot(r, r).reshape(1));
          assign(tolCG, add(mul(sqrt(gam), cgtol), o.atol));
          assign(cgRun, mul(np, greater(sqrt(gam), tolCG)));
          assign(cgIt, mul(cgIt, sub(1, np)));
        });
        for (let k = 0; k < cgItmax; k++) tidy(cgIteration);
        tidy(() => {
          const active = sub(1, done);
          const np = mul(active, sub(1, phase));
          const bt = mul(active, phase); // this step is a backtracking trial
          assign(cgHits, add(cgHits, cgRun));
          // The model along s (new iteration) and the trial point x + αs.
          model.hprod(x, s, hs);
          selectInto(np, nrm2(s).reshape(1), sNorm, sNorm);
          selectInto(np, dot(s, g).reshape(1), slope, slope);
          selectInto(np, dot(s, hs).reshape(1), curv, curv);
          assign(alpha, pick(np, 1, alpha));
          assign(bk, mul(bk, sub(1, np)));
          copyInto(s, sa);
          scal(alpha, sa);
          copyInto(x, xt);
          axpy(1, sa, xt);
          const ft = nlp.objgrad(xt, gt).reshape(1);
          // aredpred (SolverTools) for the step αs.
          const slopeA = mul(slope, alpha);
          const dq = add(slopeA, mul(mul(mul(alpha, alpha), curv), 0.5));
          const absf = abs(f);
          const guard = mul(maximum(absf, 1), 10 * eps);
          const pred = sub(dq, guard);
          const aredF = add(sub(ft, f), guard);
          const roundoff = maximum(lt(abs(dq), 1e4 * eps), lt(abs(aredF), mul(absf, 1e4 * eps)));
          const aredG = mul(add(dot(sa, gt).reshape(1), slopeA), 0.5);
          const ratio = div(pick(roundoff, aredG, aredF), pred);
          const predBad = ge(pred, 0);
          const good = ge(ratio, 1e-4); // 0 for NaN
          const armijoFails = sub(1, le(ft, add(f, mul(slopeA, beta)))); // 1 for NaN
          // A new iteration: accept, stop (neg_pred, not_desc), or backtrack.
          const neg0 = mul(np, predBad);
          const fail0 = mul(mul(np, sub(1, predBad)), sub(1, good));
          const notDesc = mul(fail0, ge(slope, 0));
          const desc0 = sub(fail0, notDesc);
          const more0 = bkMax > 0 ? mul(desc0, armijoFails) : mul(desc0, 0);
          const fin0 = sub(sub(np, neg0), add(notDesc, more0));
          // A backtracking trial: backtrack again, or end the search.
          const more1 = mul(mul(bt, armijoFails), lt(bk, bkMax));
          const end1 = sub(bt, more1);
          const neg1 = mul(end1, predBad);
          const fin = add(fin0, sub(end1, neg1));
          const acc = mul(fin, good);
          const more = add(more0, more1);
          // Accept: the pair first (it needs the old ∇f), then x, f, ∇f.
          copyInto(gt, y);
          axpy(-1, g, y);
          model.op.push(sa, y, { accept: acc });
          selectInto(acc, xt, x, x);
          selectInto(acc, ft, f, f);
          selectInto(acc, gt, g, g);
          assign(gn, nrm2(g).reshape(1));
          // Δ (TrustRegion's update!) after a finished iteration.
          const sn = mul(sNorm, alpha);
          const shrink = mul(fin, sub(1, good));
          const grow = mul(fin, ge(ratio, 0.95));
          const dGrow = minimum(maximum(radius, mul(sn, 1.5)), maxRadius);
          selectInto(shrink, div(sn, 3), pick(grow, dGrow, radius), radius);
          // Backtracking state for the next step.
          assign(alpha, pick(more, div(alpha, 1.2), alpha));
          assign(bk, add(bk, more));
          assign(phase, add(mul(phase, sub(1, active)), more));
          selectInto(fin, bk, bkLast, bkLast);
          assign(iterDev, add(iterDev, fin));
          // Stops.
          const opt = mul(acc, le(gn, epsT));
          const exc = mul(acc, ne(add(mul(f, 0), mul(gn, 0)), 0)); // NaN/Inf f or ‖∇f‖
          const maxit = o.maxIter >= 0 ? mul(fin, greater(iterDev, o.maxIter)) : mul(fin, 0);
          const negp = add(neg0, neg1);
          // Unbounded: f below fmin = min(−1, f(x0))/eps, as R2, lbfgs and adam test it.
          const unb = mul(mul(acc, sub(1, opt)), lt(f, fmin));
          assign(unbF, maximum(unbF, unb));
          assign(optF, maximum(optF, opt));
          assign(negPredF, maximum(negPredF, negp));
          assign(notDescF, maximum(notDescF, notDesc));
          assign(excF, maximum(excF, exc));
          assign(maxitF, maximum(maxitF, maxit));
          const stop = maximum(
            maximum(maximum(opt, negp), maximum(notDesc, exc)),
            maximum(maxit, unb),
          );
          assign(done, maximum(done, stop));
        });
      },
      refresh(): void {
        // The problem changed (a new minibatch): f and ∇f at x, a new iteration.
        tidy(() => {
          assign(f, nlp.objgrad(x, g).reshape(1));
          assign(gn, nrm2(g).reshape(1));
          assign(phase, mul(phase, 0));
        });
      },
      columns: ["Δ", "inner", "bk"],
      probes: (): Tensor[] => [
        f,
        gn,
        iterDev,
        optF,
        negPredF,
        notDescF,
        badF,
        excF,
        maxitF,
        radius,
        cgIt,
        cgHits,
        bkLast,
        unbF,
      ],
      decode(v: number[]): CheckResult {
        const [fv, gv, it, opt, negp, nd, bad, exc, maxit, rad, cgi, hits, bks, unb] = v;
        const r: CheckResult = { f: fv, gnorm: gv, iter: it, status: "unknown" };
        r.specific = { radius: rad, cgIters: cgi, cgCapHits: hits, backtracks: bks };
        r.log = [rad, it === 0 ? "" : String(cgi), it === 0 ? "" : String(bks)];
        if (bad) {
          r.status = "exception";
          r.reason = startReason(fv, gv);
        } else if (opt) r.status = "first_order";
        else if (unb) r.status = "unbounded";
        else if (negp) r.status = "neg_pred";
        else if (nd) r.status = "not_desc";
        else if (exc) {
          r.status = "exception";
          r.reason = `f = ${fv}, ‖∇f‖ = ${gv} at an accepted iterate`;
        } else if (maxit) r.status = "max_iter";
        return r;
      },
    };
    return await runLoop(nlp, o, state, loop, new ExecutionStats(), t0, syncs0);
  } finally {
    for (const t of owned) t.dispose();
    if (!given) model.dispose();
  }
}
