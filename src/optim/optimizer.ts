/**
 * The interface every optimizer implements (Knet's `SGD`, `Momentum`, `Nesterov`,
 * `Adagrad`, `Rmsprop`, `Adadelta`, `Adam`). An optimizer object holds hyperparameters
 * and the per-parameter state of ONE parameter: `minimize` attaches a `clone()` of the
 * configured optimizer to each Param's `opt` field, as Knet does.
 *
 * @module
 */

import type { Tensor } from "../tensor/tensor.ts";

/** Hyperparameters and scalar state of an optimizer, as plain numbers (JSON-safe). */
export type OptimizerConfig = Record<string, number>;

/** A per-parameter optimizer (see the module doc). */
export interface Optimizer {
  /** The algorithm's name as Knet spells it: "SGD", "Momentum", ..., "Adam". */
  readonly name: string;
  /** Learning rate. */
  lr: number;
  /** Per-parameter gradient clipping: when ‖g‖ > gclip > 0, g is scaled to norm gclip. */
  gclip: number;
  /** A copy with the same hyperparameters and empty state (Knet's `clone`). */
  clone(): Optimizer;
  /**
   * w ← the algorithm's update from gradient g (same shape and device as w), in place;
   * state is created on w's device at the first call. No host sync on the GPU. `g` is
   * not modified.
   */
  update(w: Tensor, g: Tensor): void;
  /** Hyperparameters and scalar state (e.g. Adam's step count `t`). */
  config(): OptimizerConfig;
  /** State tensors by field name (e.g. `{ fstm, scndm }`); empty before the first update. */
  stateTensors(): Record<string, Tensor>;
  /**
   * Restores hyperparameters, scalar state and state tensors (copied; the caller keeps
   * ownership of `tensors`). Validates names and shapes against `like` (the parameter)
   * before changing anything, and throws an Error naming what is wrong.
   */
  loadState(config: OptimizerConfig, tensors: Record<string, Tensor>, like: Tensor): void;
  /** Releases the state tensors. */
  dispose(): void;
}
