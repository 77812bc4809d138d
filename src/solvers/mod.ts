/**
 * Solvers for min f(x) on a {@link SmoothNLP} (JSOSolvers.jl's role): `R2`/`fomo`/`TR`, `lbfgs`,
 * `adam` and `trunk` (trunk-lsr1), their `ExecutionStats` and JSO statuses, and the
 * limited-memory quasi-Newton operators and models they build on.
 *
 * @module
 */

export type { SmoothNLP } from "../nlp/nlp.ts";
export {
  type CheckResult,
  type DeviceLoop,
  epsOf,
  ExecutionStats,
  type SolverCallback,
  type SolverOptions,
  type SolverSpecific,
  type SolverState,
  type SolverStatus,
  type StatsCounters,
  STATUSES,
} from "./stats.ts";
export {
  type FirstOrderVariant,
  fomo,
  R2,
  type R2Options,
  type R2Params,
  type R2SolveOptions,
  R2Solver,
  type R2State,
  TR,
} from "./r2.ts";
export { lbfgs, type LBFGSSolverOptions, type LBFGSState } from "./lbfgs.ts";
export { adam, type AdamSolverOptions, type AdamState } from "./adam.ts";
export { trunk, type TrunkOptions, type TrunkState } from "./trunk.ts";
export {
  LBFGSOperator,
  type LBFGSOptions,
  type LBFGSPushOptions,
  LSR1Operator,
  type LSR1Options,
  PairOperator,
  type PushOptions,
  type QuasiNewtonOperator,
  type QuasiNewtonOptions,
} from "./operators.ts";
export {
  LBFGSModel,
  type LBFGSModelOptions,
  LSR1Model,
  type LSR1ModelOptions,
  type QuasiNewtonModel,
  type QuasiNewtonNLP,
} from "./qn_models.ts";
