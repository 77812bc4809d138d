/**
 * adam: Adam (Knet's `Adam`, the fused kernel of src/optim) as a solver on a
 * {@link SmoothNLP}, with the same stats, statuses, limits and callback as R2 and lbfgs.
 *
 * Iteration k: x ← Adam step from ∇f(x) (lr, beta1, beta2, eps; bias-corrected), then
 * f and ∇f at the new x (one `objgrad`). Stops at first_order when ‖∇f‖ ≤ atol +
 * rtol·‖∇f(x0)‖. Adam has no acceptance test: a NaN or infinite f or ∇f at an iterate
 * ends the run with status exception; f below min(−1, f(x0))/eps with unbounded.
 *
 * No host sync per iteration. With `checkEvery` > 1 (the GPU default) the iterate is
 * frozen on the device once a stop is reached (the step is undone by a gather, not
 * applied), so extra iterations before the check change nothing but the counters.
 *
 * Adam with a constant learning rate is not a method that converges fast to a
 * stationary point: near one its step is about lr·sign(∇f) until the second-moment
 * average decays, so reaching ‖∇f‖ ≤ 1e-6 can take many thousands of iterations.
 *
 * @module
 */

import type { SmoothNLP } from "../nlp/nlp.ts";
import { counters } from "../gpu/counters.ts";
import { add, le, lt, maximum, minimum, mul, ne, sub } from "../ops/math.ts";
import { nrm2 } from "../ops/reduce.ts";
import { Adam } from "../optim/optimizers.ts";
import { copyInto } from "../ops/vector.ts";
import { zeros } from "../tensor/create.ts";
import { tidy } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";
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

/** Options of {@link adam} (Knet's Adam defaults). */
export interface AdamSolverOptions extends SolverOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** First-moment decay (default 0.9). */
  beta1?: number;
  /** Second-moment decay (default 0.999). */
  beta2?: number;
  /** Added to the root of the second moment (default 1e-8). */
  eps?: number;
  /** See {@link SolverCallback}; the solver argument is an {@link AdamState}. */
  callback?(nlp: SmoothNLP, solver: AdamState, stats: ExecutionStats): void | Promise<void>;
}

/** What adam shows the callback. */
export interface AdamState extends SolverState {
  /** The optimizer (its moments and step count). */
  readonly optimizer: Adam;
}

/**
 * Minimizes `nlp` by Adam from `opts.x0 ?? nlp.meta.x0`. Throws an Error for bad
 * options or an x0 of the wrong length/dtype/device; everything else ends in a status.
 */
export async function adam(
  nlp: SmoothNLP,
  opts: AdamSolverOptions = {},
): Promise<ExecutionStats> {
  const who = "adam";
  const syncs0 = counters().hostSyncs;
  const t0 = performance.now();
  const { o, x } = resolveOptions(who, nlp, opts, ["lr", "beta1", "beta2", "eps"]);
  let opt: Adam;
  try {
    opt = new Adam({
      lr: opts.lr ?? 1e-3,
      beta1: opts.beta1 ?? 0.9,
      beta2: opts.beta2 ?? 0.999,
      eps: opts.eps ?? 1e-8,
    });
  } catch (e) {
    x.dispose();
    throw new Error(`${who}: ${(e as Error).message}`);
  }
  const freeze = o.checkEvery > 1;
  const n = nlp.meta.nvar;
  const like = { dtype: x.dtype, device: x.device };
  const g = zeros([n], like);
  const xs = zeros([freeze ? n : 0], like);
  const sc = () => zeros([1], like);
  const [f, gn, epsT, fmin, done, iterDev, optF, unbF, badF, nanF] = Array.from(
    { length: 10 },
    sc,
  );
  const owned = [x, g, xs, f, gn, epsT, fmin, done, iterDev, optF, unbF, badF, nanF];

  /** f, ‖∇f‖ at x and the stop flags (masked by `active`). */
  const evaluate = (active: Tensor | null) => {
    assign(f, nlp.objgrad(x, g).reshape(1));
    assign(gn, nrm2(g).reshape(1));
    if (!active) return;
    const nan = mul(active, ne(add(mul(f, 0), mul(gn, 0)), 0));
    const ok = sub(1, nan);
    const op = mul(mul(active, le(gn, epsT)), ok);
    const unb = mul(mul(active, lt(f, fmin)), ok);
    assign(nanF, maximum(nanF, nan));
    assign(optF, maximum(optF, op));
    assign(unbF, maximum(unbF, unb));
    assign(done, maximum(maximum(done, nan), maximum(op, unb)));
  };

  try {
    tidy(() => {
      evaluate(null);
      assign(epsT, add(mul(gn, o.rtol), o.atol));
      assign(fmin, mul(minimum(f, -1), 1 / o.eps));
      const s = add(add(nonFiniteProbe(x), mul(gn, 0)), mul(f, 0));
      assign(badF, ne(s, 0));
      assign(unbF, lt(f, fmin));
      assign(optF, mul(le(gn, epsT), sub(1, badF)));
      assign(done, maximum(maximum(optF, unbF), badF));
    });
    const state: AdamState = { name: who, x, g, optimizer: opt };
    const loop = {
      stepIsIteration: true,
      step(): void {
        tidy(() => {
          const active = sub(1, done);
          if (freeze) copyInto(x, xs);
          opt.update(x, g);
          if (freeze) selectInto(active, x, xs, x);
          evaluate(active);
          assign(iterDev, add(iterDev, active));
        });
      },
      refresh(): void {
        tidy(() => evaluate(null));
      },
      probes: (): Tensor[] => [f, gn, iterDev, optF, unbF, badF, nanF],
      decode(v: number[]): CheckResult {
        const [fv, gv, it, op, unb, bad, nan] = v;
        const r: CheckResult = { f: fv, gnorm: gv, iter: it, status: "unknown" };
        if (bad) {
          r.status = "exception";
          r.reason = startReason(fv, gv);
        } else if (op) r.status = "first_order";
        else if (unb) r.status = "unbounded";
        else if (nan || Number.isNaN(fv) || Number.isNaN(gv)) {
          r.status = "exception";
          r.reason = `f = ${fv}, ‖∇f‖ = ${gv}: NaN or Inf at an iterate`;
        }
        return r;
      },
    };
    return await runLoop(nlp, o, state, loop, new ExecutionStats(), t0, syncs0);
  } finally {
    for (const t of owned) t.dispose();
    for (const t of Object.values(opt.stateTensors())) t.dispose();
  }
}
