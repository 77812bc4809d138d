/**
 * Hyperparameter search (Knet's src/train20/hyperopt.jl): {@link goldensection} and
 * {@link hyperband}, both with async objectives.
 *
 * @module
 */

export {
  GOLDEN,
  goldensection,
  type GoldenSectionOptions,
  type GoldenSectionResult,
  type HistoryEntry,
} from "./goldensection.ts";
export {
  type HalvingRound,
  hyperband,
  type HyperbandBracket,
  type HyperbandResult,
  hyperbandSchedule,
} from "./hyperband.ts";
