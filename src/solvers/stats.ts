/**
 * What every solver in src/solvers shares: JSO's statuses and `ExecutionStats`
 * (SolverCore's `GenericExecutionStats`), the common options (tolerances, limits,
 * callback), JSO's `get_status` priority, and the device-side helpers the solvers use to
 * keep their decisions on the device (scalars are one-element tensors; a decision is a
 * 0/1 tensor used as a mask or a coefficient).
 *
 * Host reads: a solver reads its stopping quantities (f, ‖∇f‖, device flags) with one
 * {@link readAll} only when a check is due: when the callback runs and every
 * `checkEvery` iterations (default 1 on the CPU, where reads are free, and 10 on the
 * GPU). Between checks the iterate is frozen on the device once a device-side stop
 * (first order, unbounded, step underflow) is reached, and the iteration at which it
 * happened is counted on the device, so a larger `checkEvery` changes the evaluation
 * counters and the elapsed time but not the returned solution, objective or `iter`.
 *
 * @module
 */

import { where, whereInto } from "../ops/where.ts";
import type { NLPCounters, SmoothNLP } from "../nlp/nlp.ts";
import { counters } from "../gpu/counters.ts";
import { mul } from "../ops/math.ts";
import { sum } from "../ops/reduce.ts";
import { copyInto } from "../ops/vector.ts";
import { checkOptionNames } from "../options.ts";
import { full, zeros } from "../tensor/create.ts";
import { tidy } from "../tensor/scope.ts";
import { type DType, readAll, Tensor } from "../tensor/tensor.ts";

/** JSO's solver statuses (SolverCore's `STATUSES` keys used by unconstrained solvers). */
export type SolverStatus =
  | "first_order"
  | "max_eval"
  | "max_iter"
  | "max_time"
  | "small_step"
  | "unbounded"
  | "not_desc"
  | "neg_pred"
  | "stalled"
  | "user"
  | "exception"
  | "unknown";

/** The descriptions SolverCore prints for each status. */
export const STATUSES: Readonly<Record<SolverStatus, string>> = Object.freeze({
  first_order: "first-order stationary",
  max_eval: "maximum number of function evaluations",
  max_iter: "maximum iteration",
  max_time: "maximum elapsed time",
  small_step: "step too small",
  unbounded: "objective function may be unbounded from below",
  not_desc: "not a descent direction",
  neg_pred: "negative predicted reduction",
  stalled: "stalled",
  user: "user-requested stop",
  exception: "unhandled exception",
  unknown: "unknown",
});

/** A snapshot of the problem's evaluation counters plus the runtime's host syncs. */
export interface StatsCounters extends NLPCounters {
  /** Host syncs since the solver started (GPU readbacks; 0 on the CPU). */
  hostSyncs: number;
}

/** Solver-specific outputs (step parameters, line-search counts, sync figures). */
export type SolverSpecific = Record<string, number | string | boolean>;

/**
 * The output of a solver (SolverCore's `GenericExecutionStats`). During the run the
 * callback sees it updated at each check; `solution` is then the solver's own iterate
 * (read it, don't keep it). When the solver returns, `solution` is a copy the caller
 * owns (dispose it when done on the GPU).
 */
export class ExecutionStats {
  /** The status; the callback may set it to "user" to stop the solver. */
  status: SolverStatus = "unknown";
  /** The iterate (see the class comment for ownership). */
  solution: Tensor | null = null;
  /** f(solution). */
  objective: number = Infinity;
  /** ‖∇f(solution)‖₂. */
  dualFeas: number = Infinity;
  /** Iterations done. */
  iter: number = -1;
  /** Seconds since the solver started. */
  elapsedTime: number = Infinity;
  /** Evaluation counts and host syncs at the last update. */
  counters: StatsCounters = { neval_obj: 0, neval_grad: 0, hostSyncs: 0 };
  /** Solver-specific values (e.g. R2's σ, `hostSyncsPerIter`, `reason` for exceptions). */
  solverSpecific: SolverSpecific = {};

  /**
   * The description of {@link status} (SolverCore's `getStatus`), followed by
   * `solverSpecific.reason` when the solver gave one (e.g. "unhandled exception: NaN at
   * x0: f(x0) = NaN, ‖∇f(x0)‖ = NaN").
   */
  get message(): string {
    const m = STATUSES[this.status] ?? `invalid status '${String(this.status)}'`;
    const why = this.solverSpecific.reason;
    return why === undefined ? m : `${m}: ${why}`;
  }

  /** A one-line summary. */
  toString(): string {
    return `ExecutionStats(${this.status}: ${this.message}; iter ${this.iter}, ` +
      `f ${this.objective}, ‖∇f‖ ${this.dualFeas}, ${this.elapsedTime.toFixed(3)} s)`;
  }
}

/**
 * The callback: called at iteration 0 and after every `callbackEvery`-th iteration (and
 * after the last one). It may stop the solver by setting `stats.status = "user"` and
 * may change the problem (e.g. move a stochastic model to its next minibatch; the solver
 * sees `nlp.version` change and re-evaluates f and ∇f at its iterate).
 */
export type SolverCallback<S = SolverState> = (
  nlp: SmoothNLP,
  solver: S,
  stats: ExecutionStats,
) => void | Promise<void>;

/** What every solver exposes to the callback (live tensors: read, don't modify or keep). */
export interface SolverState {
  /** The solver's name ("R2", "lbfgs", "adam", "trunk-lsr1"). */
  readonly name: string;
  /** The current iterate. */
  readonly x: Tensor;
  /** The gradient at x. */
  readonly g: Tensor;
}

/** Options every solver takes (JSO's keyword arguments, camel-cased). */
export interface SolverOptions {
  /** Starting point (default `nlp.meta.x0`; copied, never modified). */
  x0?: Tensor;
  /** Absolute tolerance: stop when ‖∇f‖ ≤ atol + rtol·‖∇f(x0)‖ (default √eps(dtype)). */
  atol?: number;
  /** Relative tolerance (default √eps(dtype)). */
  rtol?: number;
  /** Stop when the objective evaluations exceed this (−1, the default: no limit). */
  maxEval?: number;
  /** Stop when the iterations exceed this (−1, the default: no limit). */
  maxIter?: number;
  /** Stop when the elapsed seconds exceed this (default 30, as JSO). */
  maxTime?: number;
  /**
   * See {@link SolverCallback} (declared as a method so that each solver's options can
   * narrow the solver argument to its own state type).
   */
  callback?(nlp: SmoothNLP, solver: SolverState, stats: ExecutionStats): void | Promise<void>;
  /** Call the callback every this many iterations (default 1). */
  callbackEvery?: number;
  /**
   * Called after every step with nothing read back (no host sync, unlike the callback):
   * for work that needs no statistics, such as moving a stochastic model to its next
   * minibatch (KnetNLPModels' usage). `step` counts steps from 1. The solver sees
   * `nlp.version` change and re-evaluates f and ∇f at its iterate before the next step.
   * Returning `true` asks for a check and a callback right after this step (e.g. at the
   * end of an epoch), whatever `checkEvery` and `callbackEvery` say.
   */
  onStep?(nlp: SmoothNLP, solver: SolverState, step: number): void | boolean;
  /**
   * Read the stopping quantities every this many iterations (default 1 on the CPU, 10
   * on the GPU). Device-side stops freeze the iterate, so results do not depend on it.
   */
  checkEvery?: number;
  /** Log a line every this many checked iterations (0, the default: silent). */
  verbose?: number;
}

/** The machine epsilon of a dtype (2⁻⁵² for f64, 2⁻²³ for f32). */
export function epsOf(dtype: DType): number {
  return dtype === "f64" ? 2 ** -52 : 2 ** -23;
}

/** Options resolved against the problem. */
export interface ResolvedOptions {
  /** The solver's name, for messages. */
  who: string;
  eps: number;
  atol: number;
  rtol: number;
  maxEval: number;
  maxIter: number;
  maxTime: number;
  callback: SolverCallback<SolverState> | null;
  callbackEvery: number;
  onStep: ((nlp: SmoothNLP, solver: SolverState, step: number) => void | boolean) | null;
  checkEvery: number;
  verbose: number;
}

function intOpt(who: string, name: string, v: number | undefined, def: number, min: number) {
  const x = v ?? def;
  if (typeof x !== "number" || !Number.isInteger(x) || x < min) {
    throw new Error(`${who}: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
  }
  return x;
}

function posOpt(who: string, name: string, v: number | undefined, def: number) {
  const x = v ?? def;
  if (typeof x !== "number" || !(x >= 0)) {
    throw new Error(`${who}: ${name} must be a number ≥ 0, got ${String(v)}`);
  }
  return x;
}

/** The option names of {@link SolverOptions}. */
const COMMON_OPTIONS = [
  "x0",
  "atol",
  "rtol",
  "maxEval",
  "maxIter",
  "maxTime",
  "callback",
  "callbackEvery",
  "onStep",
  "checkEvery",
  "verbose",
];

/**
 * Validates the problem and the options (`own`: the solver's option names beside the
 * common ones; any other name is an Error), and returns the common options with their
 * defaults plus a copy of the starting point (owned by the solver): a new tensor, or
 * `into` (a solver's own iterate, reused across solves) when given. Throws an Error
 * naming the solver when x0 has the wrong length, dtype or device, before any copy.
 */
export function resolveOptions(
  who: string,
  nlp: SmoothNLP,
  opts: SolverOptions,
  own: readonly string[] = [],
  into?: Tensor,
): { o: ResolvedOptions; x: Tensor } {
  if (opts === null || typeof opts !== "object") {
    throw new Error(`${who}: options must be an object, got ${String(opts)}`);
  }
  checkOptionNames(who, opts, [...COMMON_OPTIONS, ...own]);
  if (!nlp || typeof nlp !== "object" || !nlp.meta || !(nlp.meta.x0 instanceof Tensor)) {
    throw new Error(`${who}: expected a SmoothNLP (with meta.x0), got ${String(nlp)}`);
  }
  const ref = nlp.meta.x0;
  const x0 = opts.x0 ?? ref;
  if (!(x0 instanceof Tensor)) throw new Error(`${who}: x0 must be a Tensor`);
  if (x0.disposed) throw new Error(`${who}: x0 was disposed`);
  if (x0.size !== nlp.meta.nvar) {
    throw new Error(
      `${who}: x0 has length ${x0.size} (shape [${x0.shape.join(",")}]) but ` +
        `${nlp.meta.name} has nvar = ${nlp.meta.nvar}`,
    );
  }
  if (x0.dtype !== ref.dtype || x0.device !== ref.device) {
    throw new Error(
      `${who}: x0 is ${x0.dtype} on ${x0.device} but ${nlp.meta.name} is ${ref.dtype} on ` +
        ref.device,
    );
  }
  const eps = epsOf(ref.dtype);
  const gpu = ref.device === "gpu";
  const o: ResolvedOptions = {
    who,
    eps,
    atol: posOpt(who, "atol", opts.atol, Math.sqrt(eps)),
    rtol: posOpt(who, "rtol", opts.rtol, Math.sqrt(eps)),
    maxEval: intOpt(who, "maxEval", opts.maxEval, -1, -1),
    maxIter: intOpt(who, "maxIter", opts.maxIter, -1, -1),
    maxTime: posOpt(who, "maxTime", opts.maxTime, 30),
    callback: (opts.callback as SolverCallback<SolverState> | undefined) ?? null,
    callbackEvery: intOpt(who, "callbackEvery", opts.callbackEvery, 1, 1),
    onStep: (opts.onStep as ResolvedOptions["onStep"] | undefined) ?? null,
    checkEvery: intOpt(who, "checkEvery", opts.checkEvery, gpu ? 10 : 1, 1),
    verbose: intOpt(who, "verbose", opts.verbose, 0, 0),
  };
  if (o.onStep !== null && typeof o.onStep !== "function") {
    throw new Error(`${who}: onStep must be a function`);
  }
  if (o.callback !== null && typeof o.callback !== "function") {
    throw new Error(`${who}: callback must be a function`);
  }
  if (into && (into.size !== x0.size || into.dtype !== x0.dtype || into.device !== x0.device)) {
    throw new Error(
      `${who}: the solver was built for ${into.size} ${into.dtype} variables on ${into.device}, ` +
        `but ${nlp.meta.name} has ${x0.size} ${x0.dtype} variables on ${x0.device}`,
    );
  }
  const x = into ?? zeros([nlp.meta.nvar], { dtype: ref.dtype, device: ref.device });
  copyInto(x0, x);
  return { o, x };
}

/** Host-side limits, JSO's `get_status` order after the device-side reasons. */
export function limitStatus(
  nlp: SmoothNLP,
  o: ResolvedOptions,
  iter: number,
  elapsed: number,
): SolverStatus {
  if (o.maxIter >= 0 && iter > o.maxIter) return "max_iter";
  if (o.maxEval >= 0 && nlp.counters.neval_obj > o.maxEval) return "max_eval";
  if (elapsed > o.maxTime) return "max_time";
  return "unknown";
}

/** Reads one-element tensors with one host sync (free on the CPU). */
export async function readScalars(ts: readonly Tensor[]): Promise<number[]> {
  const arrs = await readAll(ts);
  return arrs.map((a) => a[0]);
}

/**
 * The exception reason when x0, f(x0) or ∇f(x0) holds NaN or Inf (read at iteration 0),
 * naming which value is not finite: "NaN at x0: f(x0) = NaN, ‖∇f(x0)‖ = NaN (...)".
 */
export function startReason(f: number, gnorm: number): string {
  const what = Number.isNaN(f) || Number.isNaN(gnorm)
    ? "NaN"
    : Number.isFinite(f) && Number.isFinite(gnorm)
    ? "NaN or Inf in x0"
    : "Inf";
  return `${what} at x0: f(x0) = ${f}, ‖∇f(x0)‖ = ${gnorm} (x0, f(x0) or ∇f(x0) holds NaN or Inf)`;
}

/**
 * A device tensor that is NaN when `x` holds a NaN or an infinity and 0 otherwise
 * (Σ 0·xᵢ): read it with the other start-up values to validate x0 in the same sync.
 */
export function nonFiniteProbe(x: Tensor): Tensor {
  return tidy(() => sum(mul(x, 0)).reshape(1));
}

/**
 * `c ? a : b` for a 0/1 one-element tensor `c` and two tensors of one shape, without a
 * host sync and NaN-safe (a select, not `b + c·(a − b)`, so a rejected NaN never leaks
 * in): one `whereInto` dispatch when `out` is `a` or `b`, else a copy and one dispatch.
 * Writes into `out` and returns it.
 */
export function selectInto(c: Tensor, a: Tensor, b: Tensor, out: Tensor): Tensor {
  if (out === b) return whereInto(c, a, out);
  if (out === a) return whereInto(c, b, out, true);
  copyInto(b, out);
  return whereInto(c, a, out);
}

/**
 * `c ? a : b` as a new one-element tensor for a 0/1 one-element `c` (exact and NaN-safe:
 * a gather); numbers become constants of `like`'s dtype and device.
 */
export function pick(c: Tensor, a: Tensor | number, b: Tensor | number, like: Tensor): Tensor {
  const opts = { dtype: like.dtype, device: like.device };
  const t = (v: Tensor | number) => typeof v === "number" ? full([1], v, opts) : v.reshape(1);
  return where(c.reshape(1), t(a), t(b));
}

/** Assigns a one-element result to a persistent one-element state tensor. */
export function assign(dst: Tensor, value: Tensor): void {
  copyInto(value, dst);
}

/** The problem's evaluation counters plus host syncs since `syncs0`. */
export function snapshotCounters(nlp: SmoothNLP, syncs0: number): StatsCounters {
  return {
    neval_obj: nlp.counters.neval_obj,
    neval_grad: nlp.counters.neval_grad,
    hostSyncs: counters().hostSyncs - syncs0,
  };
}

/** Whether a read of the stopping quantities is due after step `step`. */
export function checkDue(o: ResolvedOptions, step: number): boolean {
  return step % o.checkEvery === 0 || (o.callback !== null && step % o.callbackEvery === 0);
}

/** Seconds since `t0` (a `performance.now()` value). */
export function since(t0: number): number {
  return (performance.now() - t0) / 1000;
}

/** Julia's `%w.pe`: a two-digit exponent at least, right-aligned to width w. */
function fmtE(v: number, w: number, p: number): string {
  const t = Number.isFinite(v)
    ? v.toExponential(p).replace(/e([+-])(\d)$/, "e$10$2")
    : String(v).replace("Infinity", "Inf");
  return t.padStart(w);
}

/**
 * JSO's verbose table (`@sprintf "%5s  %9s  %7s  %7s ..."`): the header, then one row
 * per logged check: iter, f, ‖∇f‖ and the solver's own columns (σ or Δ, ρ, the step's
 * status, ...), numbers as `%7.1e` and text as is.
 */
export function logTable(
  columns: readonly string[],
  stats: ExecutionStats,
  values: readonly (number | string)[] | null,
): string {
  const cell = (v: number | string) => typeof v === "number" ? fmtE(v, 7, 1) : v.padStart(7);
  if (values === null) {
    return ["iter".padStart(5), "f".padStart(9), "‖∇f‖".padStart(7)]
      .concat(columns.map((c) => c.padStart(7))).join("  ");
  }
  return [String(stats.iter).padStart(5), fmtE(stats.objective, 9, 2), fmtE(stats.dualFeas, 7, 1)]
    .concat(values.map(cell)).join("  ");
}

/** What a check reads back and how a solver's loop reports it. */
export interface CheckResult {
  /** f at the iterate. */
  f: number;
  /** ‖∇f‖ at the iterate. */
  gnorm: number;
  /**
   * The status the device reached (iterate frozen), or "unknown" while it runs. The
   * solver maps its device flags to JSO's statuses here.
   */
  status: SolverStatus;
  /** The iteration count kept on the device (where it froze, once it has). */
  iter: number;
  /** Why the status is "exception" (e.g. "f is NaN"). */
  reason?: string;
  /** Solver-specific values to publish (σ, radius, ...). */
  specific?: SolverSpecific;
  /** The verbose table's solver columns for this check (see {@link DeviceLoop.columns}). */
  log?: (number | string)[];
}

/** A solver's device-side iteration, driven by {@link runLoop}. */
export interface DeviceLoop {
  /**
   * Whether one {@link step} is one iteration (R2, Adam: the host applies `maxIter`).
   * When false (L-BFGS: a step is one line-search evaluation) the solver counts
   * iterations and applies `maxIter` on the device.
   */
  readonly stepIsIteration: boolean;
  /** One step, queued on the device without a host sync. */
  step(): void;
  /** Re-evaluates f and ∇f at the iterate after the problem changed (`nlp.version`). */
  refresh(): void;
  /** The one-element tensors a check reads, in the order {@link decode} expects. */
  probes(): Tensor[];
  /** Interprets the values read from {@link probes}. */
  decode(values: number[]): CheckResult;
  /** The verbose table's solver columns after iter, f and ‖∇f‖ (e.g. σ, ρk, step). */
  readonly columns?: readonly string[];
}

function applyCheck(stats: ExecutionStats, r: CheckResult): void {
  stats.objective = r.f;
  stats.dualFeas = r.gnorm;
  stats.iter = r.iter;
  if (r.specific) Object.assign(stats.solverSpecific, r.specific);
  if (r.reason !== undefined) stats.solverSpecific.reason = r.reason;
}

/**
 * The host side of every solver: the iteration-0 check and callback, then steps queued
 * on the device, with a read (one host sync) only when a check is due (every
 * `checkEvery` steps, every `callbackEvery` steps when there is a callback, and when a
 * host limit is hit), and JSO's status order: device-side reasons (first_order,
 * unbounded, small_step, not_desc, exception, and max_iter when counted on the device)
 * before the host limits (max_iter, max_eval, max_time). The callback runs at
 * iteration 0, at checks where `callbackEvery` iterations completed since its last
 * call, and once when the solver stops. Returns the stats with the final solution
 * copied (see {@link ExecutionStats}).
 */
export async function runLoop(
  nlp: SmoothNLP,
  o: ResolvedOptions,
  state: SolverState,
  loop: DeviceLoop,
  stats: ExecutionStats,
  t0: number,
  syncs0: number,
): Promise<ExecutionStats> {
  const cb = o.callback;
  const hostMaxIter = loop.stepIsIteration ? o : { ...o, maxIter: -1 };
  stats.solution = state.x;
  stats.elapsedTime = 0;
  const first = loop.decode(await readScalars(loop.probes()));
  applyCheck(stats, first);
  stats.status = first.status !== "unknown" ? first.status : limitStatus(nlp, hostMaxIter, 0, 0);
  stats.counters = snapshotCounters(nlp, syncs0);
  const cols = loop.columns ?? [];
  const log = (r: CheckResult) => console.log(logTable(cols, stats, r.log ?? []));
  if (o.verbose > 0) {
    console.log(logTable(cols, stats, null));
    log(first);
  }
  if (cb) await cb(nlp, state, stats);
  let lastCb = stats.iter;
  let lastLog = stats.iter; // a row per iteration at most (a step may not end one)
  let version = nlp.version;
  let ran = 0;
  while (stats.status === "unknown") {
    if (nlp.version !== version) {
      loop.refresh();
      version = nlp.version;
    }
    loop.step();
    ran++;
    const asked = o.onStep?.(nlp, state, ran) === true;
    const limit = limitStatus(nlp, hostMaxIter, ran, since(t0));
    if (!asked && !checkDue(o, ran) && limit === "unknown") continue;
    const r = loop.decode(await readScalars(loop.probes()));
    applyCheck(stats, r);
    stats.status = r.status !== "unknown" ? r.status : limit;
    stats.elapsedTime = since(t0);
    stats.counters = snapshotCounters(nlp, syncs0);
    const due = stats.iter % o.verbose === 0 && stats.iter !== lastLog;
    if (o.verbose > 0 && (due || stats.status !== "unknown")) {
      lastLog = stats.iter;
      log(r);
    }
    if (
      cb && (asked || stats.iter - lastCb >= o.callbackEvery || stats.status !== "unknown")
    ) {
      lastCb = stats.iter;
      await cb(nlp, state, stats);
    }
  }
  stats.solverSpecific.steps = ran;
  return finish(stats, nlp, state.x, t0, syncs0, ran);
}

/** Fills the final fields: a copy of x as the solution, counters, time, sync figures. */
export function finish(
  stats: ExecutionStats,
  nlp: SmoothNLP,
  x: Tensor,
  t0: number,
  syncs0: number,
  ran: number,
): ExecutionStats {
  const sol = zeros(x.shape, { dtype: x.dtype, device: x.device });
  copyInto(x, sol);
  stats.solution = sol;
  stats.elapsedTime = since(t0);
  stats.counters = snapshotCounters(nlp, syncs0);
  stats.solverSpecific.hostSyncs = stats.counters.hostSyncs;
  // Per step run (with a frozen iterate the device may run a few steps past stats.iter).
  stats.solverSpecific.hostSyncsPerStep = ran > 0
    ? stats.counters.hostSyncs / ran
    : stats.counters.hostSyncs;
  return stats;
}
