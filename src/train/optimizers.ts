/**
 * Knet's optimizer shorthands: `sgd(f, data; lr, gclip, params)`, `momentum`, `nesterov`,
 * `adagrad`, `rmsprop`, `adadelta` and `adam` are `minimize(f, data, Optimizer(opts))`
 * with the optimizer's hyperparameters and Knet's defaults.
 *
 * @module
 */

import {
  Adadelta,
  Adagrad,
  type AdagradOptions,
  Adam,
  type AdamOptions,
  Momentum,
  type MomentumOptions,
  Nesterov,
  Rmsprop,
  type RmspropOptions,
  SGD,
  type SGDOptions,
} from "../optim/optimizers.ts";
import {
  type LossFunction,
  minimize,
  type MinimizeOptions,
  type TrainBatch,
  type Trainer,
} from "./minimize.ts";

/** `minimize(f, data, new SGD(opts))`: w ← w − lr·g (lr 0.1). */
export function sgd(
  f: LossFunction,
  data: Iterable<TrainBatch>,
  opts: SGDOptions & MinimizeOptions = {},
): Trainer {
  const { params, ...hyper } = opts;
  return minimize(f, data, new SGD(hyper), { params });
}

/** `minimize(f, data, new Momentum(opts))` (lr 0.05, gamma 0.95). */
export function momentum(
  f: LossFunction,
  data: Iterable<TrainBatch>,
  opts: MomentumOptions & MinimizeOptions = {},
): Trainer {
  const { params, ...hyper } = opts;
  return minimize(f, data, new Momentum(hyper), { params });
}

/** `minimize(f, data, new Nesterov(opts))` (lr 0.05, gamma 0.95). */
export function nesterov(
  f: LossFunction,
  data: Iterable<TrainBatch>,
  opts: MomentumOptions & MinimizeOptions = {},
): Trainer {
  const { params, ...hyper } = opts;
  return minimize(f, data, new Nesterov(hyper), { params });
}

/** `minimize(f, data, new Adagrad(opts))` (lr 0.05, eps 1e-6). */
export function adagrad(
  f: LossFunction,
  data: Iterable<TrainBatch>,
  opts: AdagradOptions & MinimizeOptions = {},
): Trainer {
  const { params, ...hyper } = opts;
  return minimize(f, data, new Adagrad(hyper), { params });
}

/** `minimize(f, data, new Rmsprop(opts))` (lr 0.01, rho 0.9, eps 1e-6). */
export function rmsprop(
  f: LossFunction,
  data: Iterable<TrainBatch>,
  opts: RmspropOptions & MinimizeOptions = {},
): Trainer {
  const { params, ...hyper } = opts;
  return minimize(f, data, new Rmsprop(hyper), { params });
}

/** `minimize(f, data, new Adadelta(opts))` (lr 1, rho 0.9, eps 1e-6). */
export function adadelta(
  f: LossFunction,
  data: Iterable<TrainBatch>,
  opts: RmspropOptions & MinimizeOptions = {},
): Trainer {
  const { params, ...hyper } = opts;
  return minimize(f, data, new Adadelta(hyper), { params });
}

/** `minimize(f, data, new Adam(opts))` (lr 0.001, beta1 0.9, beta2 0.999, eps 1e-8). */
export function adam(
  f: LossFunction,
  data: Iterable<TrainBatch>,
  opts: AdamOptions & MinimizeOptions = {},
): Trainer {
  const { params, ...hyper } = opts;
  return minimize(f, data, new Adam(hyper), { params });
}
