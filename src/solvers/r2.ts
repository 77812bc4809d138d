/**
 * R2, fomo and TR: JSOSolvers' first-order methods (`fo`/`fomo` with `r2_step()` or
 * `tr_step()`), every decision on the device. `R2(nlp)` is JSO's `R2` (no momentum),
 * `fomo(nlp)` adds momentum (β = 0.9), `TR(nlp)` takes the trust-region step; all three
 * accept every option (`beta`, `M`, `variant`), and {@link R2Solver} keeps the buffers for
 * repeated solves (JSO's `FomoSolver` with `solve!`/`reset!`).
 *
 * Each iteration steps along d, where d = ∇f without momentum and
 * d = (1 − βmax)∇f + βmax·m with it (m the momentum, m ← (1 − β)∇f + βm at each
 * accepted step, βmax ≤ β chosen by JSO's `find_beta` so that d stays gradient-related):
 * c = x − μd with μ = α (R2: α = 1/σ) or μ = α/‖d‖ (TR: α = Δ, so ‖c − x‖ = Δ). With
 * f_M the largest f over the last M accepted iterates (M = 1: f(x)), the ratio
 * ρ = (f_M − f(c)) / (f_M − f(x) + μ∇fᵀd) accepts the step when ρ ≥ η1; ρ ≥ η2 grows α
 * by γ2 (capped at αmax), ρ < η1 shrinks it by γ1 and, with momentum, βmax by γ3.
 * α0 = 1/2^round(log2(‖∇f0‖ + 1)) for R2 and ‖∇f0‖ times that for TR (the same first
 * step). The tests, the α/βmax updates, the masked accept and the objective memory are
 * elementwise ops on one-element tensors: no host sync per iteration.
 *
 * Deviations from JSO (and why):
 * - f and ∇f are evaluated together at every trial point (`objgrad`: one forward and
 *   one backward), so `neval_grad` counts rejected trials too. JSO evaluates ∇f only
 *   after an accepted step; doing so here would need the accept decision on the host.
 * - ‖d‖ (TR's μ) is that of the current d: JSO's released fomo.jl updates it only after
 *   an accepted step with momentum, so its `TR` without momentum divides by ‖∇f(x0)‖ at
 *   every iteration and its fomo-TR keeps a stale ‖d‖ after a rejection (JSO's
 *   development branch fixes both the same way).
 * - A NaN ratio (a trial where f is NaN) counts as a failure (α shrinks). JSO leaves α
 *   unchanged on NaN and would retry the same trial forever.
 * - A stochastic problem (`nlp.version` changed, e.g. by the callback moving to the
 *   next minibatch) gets f and ∇f re-evaluated at x on the new batch before the next
 *   ratio test, as in KnetNLPModels' stochastic R2 usage; with momentum, βmax and d are
 *   recomputed there, and the objective memory restarts at the new f.
 *
 * Statuses: first_order, unbounded (a trial f below min(−1, f(x0))/eps), small_step
 * (x − μd == x in every entry), exception (α underflowed to 0, or f / ∇f NaN or
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
  gt as greater,
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
import { dot, max, nrm2 } from "../ops/reduce.ts";
import { concat, slice } from "../ops/shape.ts";
import { axpby, axpy, copyInto, fill, scal } from "../ops/vector.ts";
import { zeros } from "../tensor/create.ts";
import { tidy } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { counters } from "../gpu/counters.ts";
import { backendOf } from "../backend.ts";
import { fusedR2Enabled, FusedR2Step } from "./r2_fused.ts";
import {
  assign,
  type CheckResult,
  type DeviceLoop,
  epsOf,
  ExecutionStats,
  nonFiniteProbe,
  pick,
  resolveOptions,
  runLoop,
  selectInto,
  type SolverOptions,
  type SolverState,
  startReason,
} from "./stats.ts";

/**
 * One-element state tensors of {@link R2Solver}, in this order (kernels/r2_step.wgsl
 * names the slots it uses): f ‖∇f‖ α ϵ fmin done iter βmax m·∇f ‖d‖ f_M ρ step Σβ
 * iters-with-β first_order unbounded small_step α=0 bad, then the fused step's accept.
 */
const SCALARS = 24;

/** The step of {@link R2Params.variant}: quadratic regularization or trust region. */
export type FirstOrderVariant = "r2" | "tr";

/** The algorithm's parameters (JSO's `FOMOParameterSet`, camel-cased; JSO's defaults). */
export interface R2Params {
  /** Acceptance threshold, in (0, 1) (default eps^(1/4)). */
  eta1?: number;
  /** Very-successful threshold, in (0, 1), ≥ eta1 (default 0.95). */
  eta2?: number;
  /** α factor on failure, in (0, 1) (default 1/2: σ doubles). */
  gamma1?: number;
  /** α factor on a very successful step, > 1 (default 2: σ halves). */
  gamma2?: number;
  /** βmax factor on failure, in [0, 1] (default 1/2). */
  gamma3?: number;
  /** Largest α (1/σ or Δ), ≥ 1 (default 1/eps). */
  alphaMax?: number;
  /** Momentum β, in [0, 1) (default 0 for R2 and TR, 0.9 for fomo; 0: no momentum). */
  beta?: number;
  /** find_beta's descent factor θ1, in [0, 1] (default 0.1). */
  theta1?: number;
  /** find_beta's norm factor θ2, in [0, 1) (default eps^(1/3)). */
  theta2?: number;
  /** Nonmonotone memory: the ratio compares with the largest of the last M f (default 1). */
  M?: number;
  /** "r2" (quadratic regularization, the default) or "tr" (first-order trust region). */
  variant?: FirstOrderVariant;
}

/** The names of {@link R2Params} (also accepted by a solve, which ignores them). */
const R2_PARAM_NAMES: readonly string[] = [
  "eta1",
  "eta2",
  "gamma1",
  "gamma2",
  "gamma3",
  "alphaMax",
  "beta",
  "theta1",
  "theta2",
  "M",
  "variant",
];

/** Options of {@link R2}, {@link fomo} and {@link TR}: the parameters and the solve's. */
export interface R2Options extends SolverOptions, R2Params {
  /** See {@link SolverCallback}; the solver argument is an {@link R2State}. */
  callback?(nlp: SmoothNLP, solver: R2State, stats: ExecutionStats): void | Promise<void>;
}

/** Options of {@link R2Solver.solve} (the parameters are the solver's). */
export interface R2SolveOptions extends SolverOptions {
  /** See {@link SolverCallback}; the solver argument is an {@link R2State}. */
  callback?(nlp: SmoothNLP, solver: R2State, stats: ExecutionStats): void | Promise<void>;
}

/** What R2 shows the callback (live device tensors). */
export interface R2State extends SolverState {
  /** α (1/σ for R2, Δ for TR), one element. */
  readonly alpha: Tensor;
  /** f(x), one element. */
  readonly f: Tensor;
  /** The step direction (∇f without momentum). */
  readonly d: Tensor;
  /** The momentum m (zeros without momentum). */
  readonly m: Tensor;
}

/** Checks a parameter lies in an interval (open or closed at each end). */
function inRange(
  name: string,
  v: unknown,
  lo: number,
  hi: number,
  loOpen = true,
  hiOpen = true,
): number {
  const ok = typeof v === "number" && (loOpen ? v > lo : v >= lo) && (hiOpen ? v < hi : v <= hi);
  if (!ok) {
    const iv = `${loOpen ? "(" : "["}${lo}, ${hi}${hiOpen ? ")" : "]"}`;
    throw new Error(`R2: ${name} must lie in ${iv}, got ${String(v)}`);
  }
  return v as number;
}

interface Resolved {
  eta1: number;
  eta2: number;
  gamma1: number;
  gamma2: number;
  gamma3: number;
  alphaMax: number;
  beta: number;
  theta1: number;
  theta2: number;
  M: number;
  tr: boolean;
}

function resolveParams(p: R2Params, eps: number): Resolved {
  const eta1 = inRange("eta1", p.eta1 ?? eps ** 0.25, 0, 1);
  const eta2 = inRange("eta2", p.eta2 ?? 0.95, 0, 1);
  if (eta1 > eta2) throw new Error(`R2: eta1 = ${eta1} must be ≤ eta2 = ${eta2}`);
  const M = p.M ?? 1;
  if (typeof M !== "number" || !Number.isInteger(M) || M < 1) {
    throw new Error(`R2: M must be an integer ≥ 1, got ${String(M)}`);
  }
  const variant = p.variant ?? "r2";
  if (variant !== "r2" && variant !== "tr") {
    throw new Error(`R2: variant must be "r2" or "tr", got ${JSON.stringify(variant)}`);
  }
  return {
    eta1,
    eta2,
    gamma1: inRange("gamma1", p.gamma1 ?? 0.5, 0, 1),
    gamma2: inRange("gamma2", p.gamma2 ?? 2, 1, Infinity),
    gamma3: inRange("gamma3", p.gamma3 ?? 0.5, 0, 1, false, false),
    alphaMax: inRange("alphaMax", p.alphaMax ?? 1 / eps, 1, Infinity, false, true),
    beta: inRange("beta", p.beta ?? 0, 0, 1, false, true),
    theta1: inRange("theta1", p.theta1 ?? 0.1, 0, 1, false, false),
    theta2: inRange("theta2", p.theta2 ?? eps ** (1 / 3), 0, 1, false, true),
    M,
    tr: variant === "tr",
  };
}

/**
 * A reusable R2/fomo/TR solver (JSO's `FomoSolver`/`FoSolver`): the constructor checks
 * the parameters (an Error naming the bad one, before anything is allocated) and
 * allocates every buffer once for problems of `nlp`'s size, dtype and device;
 * {@link solve} runs from any x0 without reallocating; {@link reset} clears the
 * momentum and the objective memory; {@link dispose} frees the buffers.
 */
export class R2Solver {
  /** The resolved parameters. */
  readonly params: Readonly<Required<R2Params>>;
  readonly #p: Resolved;
  readonly #x: Tensor;
  readonly #vecs: Tensor[];
  readonly #flat: Tensor;
  readonly #scalars: Tensor[];
  readonly #mem: Tensor;
  readonly #fused: FusedR2Step | null;
  #disposed = false;

  /** Checks the parameters, then allocates for `nlp` (its nvar, dtype and device). */
  constructor(nlp: SmoothNLP, params: R2Params = {}) {
    const x0 = nlp?.meta?.x0;
    if (!x0 || typeof x0 !== "object" || !("dtype" in x0)) {
      throw new Error(`R2: expected a SmoothNLP (with meta.x0), got ${String(nlp)}`);
    }
    const p = resolveParams(params, epsOf(x0.dtype));
    this.#p = p;
    this.params = Object.freeze({ ...p, variant: p.tr ? "tr" : "r2" });
    const like = { dtype: x0.dtype, device: x0.device };
    const n = nlp.meta.nvar;
    this.#x = zeros([n], like);
    this.#vecs = Array.from({ length: 7 }, () => zeros([n], like)); // g xt gt m d tmp p
    // The one-element state tensors are views of one flat buffer (slot k at k·stride),
    // which the fused GPU step reads and writes whole.
    const be = backendOf(x0.device);
    const stride = be.viewAlignment();
    this.#flat = zeros([SCALARS * stride], like);
    this.#scalars = Array.from({ length: SCALARS }, (_, k) => be.view(this.#flat, k * stride, [1]));
    this.#mem = zeros([p.M], like);
    const fast = fusedR2Enabled() && x0.device === "gpu" && x0.dtype === "f32";
    this.#fused = fast && p.beta === 0 && p.M === 1
      ? new FusedR2Step(this.#flat, stride, n, p)
      : null;
  }

  /** Clears the momentum and the objective memory (JSO's `reset!`). */
  reset(): void {
    if (this.#disposed) throw new Error("R2Solver.reset: the solver was disposed");
    fill(this.#vecs[3], 0);
    fill(this.#mem, -Infinity);
  }

  /** Frees the solver's buffers (idempotent). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const t of [this.#x, ...this.#vecs, ...this.#scalars, this.#flat, this.#mem]) t.dispose();
    this.#fused?.dispose();
  }

  /**
   * Minimizes `nlp` (of the size, dtype and device the solver was built for) from
   * `opts.x0 ?? nlp.meta.x0` (JSO's `solve!`). Throws an Error for bad options or a
   * mismatched problem; everything else ends in a status.
   */
  async solve(nlp: SmoothNLP, opts: R2SolveOptions = {}): Promise<ExecutionStats> {
    if (this.#disposed) throw new Error("R2Solver.solve: the solver was disposed");
    const who = this.#p.tr ? "TR" : this.#p.beta > 0 ? "fomo" : "R2";
    const syncs0 = counters().hostSyncs;
    const t0 = performance.now();
    const { o, x } = resolveOptions(who, nlp, opts, R2_PARAM_NAMES, this.#x);
    this.reset();
    const loop = this.#loop(who, nlp, o.eps, o.rtol, o.atol, x);
    return await runLoop(nlp, o, loop.state, loop, new ExecutionStats(), t0, syncs0);
  }

  /** The device-side iteration on this solver's buffers. */
  #loop(who: string, nlp: SmoothNLP, eps: number, rtol: number, atol: number, x: Tensor) {
    const P = this.#p;
    const [g, xt, gt, m, dm, tmp, pv] = this.#vecs;
    const [f, gn, alpha, epsT, fmin, done, iterDev, betaMax, mdot, normD] = this.#scalars;
    const [fM, rhoT, stepT, betaSum, siter, optF, unbF, smallF, zeroF, badF] = this.#scalars
      .slice(10);
    const mem = this.#mem;
    const fused = this.#fused;
    const momentum = P.beta > 0;
    const d = momentum ? dm : g; // without momentum d is ∇f itself
    const nd = momentum ? normD : gn;
    for (const t of [iterDev, betaMax, mdot, rhoT, stepT, betaSum, siter, smallF, zeroF]) {
      fill(t, 0);
    }
    /** μ: α for R2, α/‖d‖ for TR. */
    const mult = () => P.tr ? div(alpha, nd) : alpha;
    /** The objective memory after f(x) was pushed; f_M its largest entry. */
    const pushMem = (accept: Tensor | null) => {
      if (P.M === 1) return;
      const shifted = concat([slice(mem, [[1]]), f.reshape(1)], 0);
      if (accept) selectInto(accept, shifted, mem, mem);
      else copyInto(shifted, mem);
      assign(fM, max(mem).reshape(1));
    };
    /** JSO's find_beta at x with step multiplier `mu`: βmax, then d and ‖d‖. */
    const findBeta = (mu: Tensor) => {
      assign(mdot, dot(m, g).reshape(1));
      copyInto(m, pv);
      axpy(-1, g, pv); // p = m − ∇f
      const g2 = mul(gn, gn);
      const n1 = sub(g2, mdot);
      const n2 = nrm2(pv).reshape(1);
      const fRef = P.M === 1 ? f : fM;
      const b1 = div(sub(mul(g2, 1 - P.theta1), div(sub(f, fRef), mu)), n1);
      const b2 = div(mul(gn, 1 - P.theta2), n2);
      const beta1 = pick(gt0(n1), b1, P.beta, x);
      const beta2 = pick(ne(n2, 0), b2, P.beta, x);
      assign(betaMax, minimum(minimum(beta1, beta2), P.beta));
      setDirection();
    };
    const gt0 = (t: Tensor) => greater(t, 0);
    /** d ← (1 − βmax)∇f + βmax·m, ‖d‖. */
    const setDirection = () => {
      copyInto(g, dm);
      scal(sub(1, betaMax), dm);
      axpy(betaMax, m, dm);
      assign(normD, nrm2(dm).reshape(1));
    };

    // Iteration 0, on the device: f, ∇f, α0, ϵ, fmin, the memory, d = ∇f.
    tidy(() => {
      assign(f, nlp.objgrad(x, g).reshape(1));
      assign(gn, nrm2(g).reshape(1));
      const k = round(div(log(add(gn, 1)), Math.LN2));
      const a0 = pow(2, mul(k, -1));
      assign(alpha, P.tr ? mul(gn, a0) : a0);
      assign(epsT, add(mul(gn, rtol), atol));
      assign(fmin, div(minimum(f, -1), eps));
      pushMem(null);
      if (momentum) {
        copyInto(g, dm);
        assign(normD, gn);
      }
      // NaN/Inf anywhere in x0, f(x0) or ∇f(x0) (‖∇f‖ is NaN/Inf then too).
      const s = add(add(nonFiniteProbe(x), mul(gn, 0)), mul(f, 0));
      assign(badF, ne(s, 0));
      assign(unbF, lt(f, fmin));
      assign(optF, mul(le(gn, epsT), sub(1, badF)));
      assign(done, maximum(maximum(optF, unbF), badF));
    });

    const state: R2State = { name: who, x, g, alpha, f, d, m };
    const loop: DeviceLoop & { state: R2State } = {
      state,
      stepIsIteration: true,
      columns: [P.tr ? "Δ" : "σ", "ρk", ...(momentum ? ["βmax"] : []), "step"],
      step(): void {
        if (fused) {
          // The same decisions in three dispatches (./r2_fused.ts; d is ∇f here).
          tidy(() => {
            fused.trial(x, g, xt);
            const ft = nlp.objgrad(xt, gt).reshape(1);
            fused.decide(ft, nrm2(gt).reshape(1));
            fused.accept(x, xt, g, gt);
          });
          return;
        }
        tidy(() => {
          const active = sub(1, done);
          const mu = mult();
          copyInto(x, xt);
          axpy(mul(mu, -1), d, xt);
          const underflow = mul(active, eq(nrm2(sub(xt, x)).reshape(1), 0));
          const g2 = mul(gn, gn);
          const slope = momentum
            ? add(mul(sub(1, betaMax), g2), mul(betaMax, mdot)) // ∇fᵀd
            : g2;
          const ft = nlp.objgrad(xt, gt).reshape(1);
          const fRef = P.M === 1 ? f : fM;
          const rho = div(sub(fRef, ft), add(sub(fRef, f), mul(slope, mu)));
          const acc = mul(ge(rho, P.eta1), active);
          const very = mul(ge(rho, P.eta2), active);
          const fail = sub(active, acc);
          const factor = add(add(mul(very, P.gamma2 - 1), mul(fail, P.gamma1 - 1)), 1);
          assign(alpha, minimum(mul(alpha, factor), P.alphaMax));
          selectInto(active, rho, rhoT, rhoT);
          selectInto(active, add(acc, very), stepT, stepT);
          if (momentum) {
            // A failure: βmax ← γ3·βmax and d, ‖d‖ with it (∇f and m are unchanged).
            assign(betaMax, mul(betaMax, add(mul(fail, P.gamma3 - 1), 1)));
            copyInto(dm, tmp);
            setDirection();
            selectInto(fail, dm, tmp, dm);
            // An accept: m ← (1 − β)∇f(x) + βm before ∇f moves on.
            copyInto(m, tmp);
            axpby(1 - P.beta, g, P.beta, tmp);
            selectInto(acc, tmp, m, m);
          }
          selectInto(acc, xt, x, x);
          selectInto(acc, ft, f, f);
          selectInto(acc, gt, g, g);
          assign(gn, nrm2(g).reshape(1));
          pushMem(acc);
          if (momentum) {
            const keep = [betaMax, mdot, normD].map((t) => add(t, 0));
            copyInto(dm, tmp);
            findBeta(mu);
            selectInto(acc, dm, tmp, dm);
            [betaMax, mdot, normD].forEach((t, i) => selectInto(acc, t, keep[i], t));
            assign(betaSum, add(betaSum, mul(acc, betaMax)));
            assign(siter, add(siter, acc));
          }
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
          if (P.M > 1) {
            fill(mem, -Infinity);
            pushMem(null);
          }
          if (momentum) findBeta(mult());
        });
      },
      probes: (): Tensor[] => [
        f,
        gn,
        alpha,
        iterDev,
        optF,
        unbF,
        smallF,
        zeroF,
        badF,
        rhoT,
        stepT,
        betaMax,
        betaSum,
        siter,
      ],
      decode(v: number[]): CheckResult {
        const [fv, gv, av, it, opt, unb, small, zero, bad, rho, st, bm, bsum, si] = v;
        const param = P.tr ? av : 1 / av;
        const r: CheckResult = {
          f: fv,
          gnorm: gv,
          iter: it,
          status: "unknown",
          specific: P.tr ? { radius: av, alpha: av } : { sigma: 1 / av, alpha: av },
        };
        if (momentum) {
          r.specific!.betaMax = bm;
          r.specific!.avgBetaMax = si > 0 ? bsum / si : 0;
        }
        const step = it === 0 ? "" : ["fail", "succ", "very"][st] ?? "?";
        r.log = [param, it === 0 ? "" : rho, ...(momentum ? [bm] : []), step];
        if (bad) {
          r.status = "exception";
          r.reason = startReason(fv, gv);
        } else if (opt) r.status = "first_order";
        else if (unb) r.status = "unbounded";
        else if (small) r.status = "small_step";
        else if (zero) {
          r.status = "exception";
          r.reason = "α underflowed to 0";
        } else if (Number.isNaN(fv) || Number.isNaN(gv)) {
          r.status = "exception";
          r.reason = `f = ${fv}, ‖∇f‖ = ${gv} at an accepted iterate`;
        }
        return r;
      },
    };
    return loop;
  }
}

/** Builds an {@link R2Solver} with `opts`' parameters, solves once, frees it. */
async function solveOnce(nlp: SmoothNLP, opts: R2Options): Promise<ExecutionStats> {
  const solver = new R2Solver(nlp, opts);
  try {
    return await solver.solve(nlp, opts);
  } finally {
    solver.dispose();
  }
}

/**
 * Minimizes `nlp` by JSO's R2 (`fo` with `r2_step()`, β = 0 unless given) from
 * `opts.x0 ?? nlp.meta.x0`. Throws an Error naming a bad option (nothing is left
 * allocated) or an x0 of the wrong length/dtype/device; everything else ends in a status.
 */
export function R2(nlp: SmoothNLP, opts: R2Options = {}): Promise<ExecutionStats> {
  return solveOnce(nlp, opts);
}

/** JSO's `fomo`: {@link R2} with momentum β = 0.9 unless given. */
export function fomo(nlp: SmoothNLP, opts: R2Options = {}): Promise<ExecutionStats> {
  return solveOnce(nlp, { ...opts, beta: opts.beta ?? 0.9 });
}

/** JSO's `TR`: {@link R2} with the first-order trust-region step (`variant: "tr"`). */
export function TR(nlp: SmoothNLP, opts: R2Options = {}): Promise<ExecutionStats> {
  return solveOnce(nlp, { ...opts, variant: opts.variant ?? "tr" });
}
