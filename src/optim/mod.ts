/**
 * Optimizers (Knet's SGD, Momentum, Nesterov, Adagrad, Rmsprop, Adadelta, Adam), their
 * fused GPU update, `update` in Knet's forms and standalone gradient clipping.
 *
 * @module
 */

export type { Optimizer, OptimizerConfig } from "./optimizer.ts";
export {
  Adadelta,
  Adagrad,
  type AdagradOptions,
  Adam,
  type AdamOptions,
  gclip,
  Momentum,
  type MomentumOptions,
  Nesterov,
  OptimizerBase,
  type OptimizerClass,
  optimizerFromConfig,
  type OptimizerOptions,
  OPTIMIZERS,
  Rmsprop,
  type RmspropOptions,
  SGD,
  type SGDOptions,
} from "./optimizers.ts";
export { isOptimizer, update } from "./update.ts";
