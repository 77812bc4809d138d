/**
 * Training in Knet's style: `minimize(f, data, optimizer)` and the shorthands `sgd`,
 * `momentum`, `nesterov`, `adagrad`, `rmsprop`, `adadelta`, `adam` are lazy iterators that
 * train as they are iterated; `progress` draws Knet's progress bar, `converge` stops when
 * the loss stops falling; `ncycle`, `cycle` and `limit` shape the data stream.
 *
 * @module
 */

export { Converge, converge, type ConvergeOptions } from "./converge.ts";
export { cycle, limit, ncycle } from "./iterators.ts";
export {
  drain,
  type LossFunction,
  minimize,
  type MinimizeOptions,
  type TrainBatch,
  Trainer,
} from "./minimize.ts";
export { adadelta, adagrad, adam, momentum, nesterov, rmsprop, sgd } from "./optimizers.ts";
export {
  formatBar,
  formatSpeed,
  formatTime,
  Progress,
  progress,
  type ProgressOptions,
  type ProgressOutput,
} from "./progress.ts";
