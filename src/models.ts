/**
 * The classifiers of Knet's MNIST examples, as {@link Chain}s: `softmaxModel` (linear
 * scores, Knet's softmax example), `mlpModel` (one hidden relu layer of 64) and
 * `lenetModel` (Knet's LeNet: conv 5×5×20, pool, conv 5×5×50, pool, dense 500, dense 10,
 * relu). They take [N,1,28,28] (or [N,784]) inputs and return [N,10] scores.
 *
 * @module
 */

import { gaussian, type Initializer } from "./init.ts";
import { Chain } from "./layers/chain.ts";
import { Conv } from "./layers/conv.ts";
import { Dense } from "./layers/dense.ts";
import { Flatten } from "./layers/flatten.ts";
import type { LayerInitOptions } from "./layers/layer.ts";
import { Pool } from "./layers/pool.ts";

/** The names `cli.ts train --model` accepts. */
export const MODEL_NAMES = ["softmax", "mlp", "lenet"] as const;

/** One of {@link MODEL_NAMES}. */
export type ModelName = typeof MODEL_NAMES[number];

/** Options of the model builders. */
export interface ModelOptions extends LayerInitOptions {
  /** Input features per instance (default 784) — channels for LeNet are fixed at 1. */
  inputs?: number;
  /** Number of classes (default 10). */
  classes?: number;
}

/** Normal weights with standard deviation 0.1 (Knet's examples' `0.1*randn`). */
const randn01: Initializer = (shape, opts) => gaussian([...shape], { ...opts, std: 0.1 });

/** Knet's softmax classifier: scores = x·w + b, w ~ 0.1·randn as in Knet's example. */
export function softmaxModel(opts: ModelOptions = {}): Chain {
  const { inputs = 784, classes = 10, ...init } = opts;
  return new Chain(
    new Dense(inputs, classes, { ...init, activation: "identity", init: randn01 }),
  );
}

/** An MLP with one hidden relu layer (`hidden`, default 64), xavier-initialised. */
export function mlpModel(opts: ModelOptions & { hidden?: number } = {}): Chain {
  const { inputs = 784, classes = 10, hidden = 64, ...init } = opts;
  return new Chain(
    new Dense(inputs, hidden, { ...init, activation: "relu" }),
    new Dense(hidden, classes, { ...init, activation: "identity" }),
  );
}

/** Knet's LeNet for 28×28 single-channel images. */
export function lenetModel(opts: Omit<ModelOptions, "inputs"> = {}): Chain {
  const { classes = 10, ...init } = opts;
  return new Chain(
    new Conv(5, 5, 1, 20, init),
    new Pool(),
    new Conv(5, 5, 20, 50, init),
    new Pool(),
    new Flatten(),
    new Dense(800, 500, init),
    new Dense(500, classes, { ...init, activation: "identity" }),
  );
}

/** The model called `name` (see {@link MODEL_NAMES}); an Error names the known ones. */
export function buildModel(name: string, opts: ModelOptions = {}): Chain {
  switch (name) {
    case "softmax":
      return softmaxModel(opts);
    case "mlp":
      return mlpModel(opts);
    case "lenet":
      return lenetModel(opts);
    default:
      throw new Error(`unknown model '${name}' (expected one of: ${MODEL_NAMES.join(", ")})`);
  }
}
