/**
 * Layers in Knet's style: models stay plain code; a layer is a small object holding
 * Params with a `forward(x)` method, working on CPU (f32/f64) and GPU tensors.
 *
 * - {@link Dense}: fully connected, y = f(mat(x)·w + b) (Knet's `Dense`).
 * - {@link Conv}: 2-D convolution, y = f(conv4(w, x) + b) (Knet's `Conv`).
 * - {@link Pool}: max or average pooling (Knet's `pool`).
 * - {@link Dropout}: dropout, active only inside `diff`.
 * - {@link Flatten}: [N, ...] → [N, rest] (Knet's `mat`).
 * - {@link BatchNorm}: batch normalization with running statistics.
 * - {@link Embedding}: a lookup table, rows taken by token id.
 * - {@link RNN}: Knet's recurrent layer (relu, tanh, LSTM, GRU; stacked, bidirectional,
 *   `batchSizes`), with {@link rnnparam} / {@link rnnparams} for its gate matrices.
 * - {@link Chain} / {@link Sequential}: layers and functions applied in turn, with
 *   `loss(x, y)`, `paramCount` and a readable summary.
 *
 * Every layer takes an activation by name ({@link ActivationName}) or as a function
 * where it has one, places its Params with `device`/`dtype` and draws them from `rng`,
 * and releases its intermediates: a forward call leaves only its result alive.
 *
 * ```ts
 * const model = new Chain(new Dense(784, 64), new Dense(64, 10, { activation: "identity" }));
 * const J = diff(() => model.loss(x, y));
 * ```
 *
 * @module
 */

export {
  type Activation,
  type ActivationName,
  ACTIVATIONS,
  type Layer,
  type LayerInitOptions,
} from "./layer.ts";
export { Dense, type DenseOptions } from "./dense.ts";
export { Conv, type ConvLayerOptions } from "./conv.ts";
export { Pool } from "./pool.ts";
export { Dropout, type DropoutLayerOptions } from "./dropout.ts";
export { Flatten } from "./flatten.ts";
export { BatchNorm, type BatchNormOptions } from "./batchnorm.ts";
export { Embedding, type EmbeddingOptions } from "./embedding.ts";
export { Chain, type ChainElement, Sequential } from "./chain.ts";
export {
  RNN,
  type RnnForwardOptions,
  type RnnOptions,
  type RnnState,
  type RnnWeights,
} from "./rnn.ts";
export { rnnparam, rnnparams } from "./rnn_params.ts";
export type { RnnMode } from "../ops/rnn_cell.ts";
