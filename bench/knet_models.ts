/**
 * The four trainings of Knet's benchmark table, written the Knet way: a model is a few
 * Params and a plain `predict` function, the loss is a plain function of the batch, and
 * training is `sgd(loss, data, { lr })`.
 *
 * Knet's table (Knet.jl `docs/src/tutorial.md`, section "Benchmarks"; seconds to train on
 * an AWS g2.2xlarge GPU, code at github.com/ozanarkancan/Knet8-Benchmarks, `knet/benchmark.jl`):
 *
 * | model   | dataset | epochs | batch | Knet | Theano | Torch | Caffe | TFlow |
 * | ------- | ------- | ------ | ----- | ---- | ------ | ----- | ----- | ----- |
 * | LinReg  | Housing | 10K    | 506   | 2.84 | 1.88   | 2.66  | 2.35  | 5.92  |
 * | Softmax | MNIST   | 10     | 100   | 2.35 | 1.40   | 2.88  | 2.45  | 5.57  |
 * | MLP     | MNIST   | 10     | 100   | 3.68 | 2.31   | 4.03  | 3.69  | 6.94  |
 * | LeNet   | MNIST   | 1      | 100   | 3.59 | 3.03   | 1.69  | 3.54  | 8.77  |
 *
 * The trainings, as in those benchmark scripts (`examples/housing.jl`, `mnist.jl`,
 * `lenet.jl` run with `--fast --seed 1`; `knet/housing2.jl`, `mnist2.jl`, `lenet2.jl`):
 * - LinReg: `w = 0.1·randn(1,13)`, `b = 0`, loss `sumabs2(y − (w·x .+ b)) / N` (the mean
 *   squared error, our `mse`), full batch of 506, plain SGD lr 0.1, 10 000 epochs.
 * - Softmax: `w = 0.1·randn(10,784)`, `b = 0`, `nll` of `w·x .+ b`, lr 0.5.
 * - MLP: one hidden layer of 64 relu units (the table's note: "The MLP uses a single hidden
 *   layer of 64 units"), every weight `0.1·randn`, biases 0, lr 0.5.
 * - LeNet: conv(5×5, 20) → relu → pool → conv(5×5, 50) → relu → pool → dense 500 relu →
 *   dense 10, lr 0.1, weights `xavier`, biases 0. (The 2016 scripts used an older xavier,
 *   uniform in ±√(2/(fanin+fanout)) with fanout = O for filters; we use today's Knet
 *   `xavier` = `xavier_uniform`, ±√(6/(fanin+fanout)), which is denet's `xavierUniform`.)
 * - MNIST minibatches of 100 in file order (no shuffling, the last partial batch dropped),
 *   as the benchmark's `minibatch` made them.
 *
 * The initial weights are drawn once on the host ({@link initialWeights}) in denet's
 * row-major layout, so that every framework of `bench/knet_table.ts` starts from the very
 * same numbers.
 *
 * @module
 */

import type { Param } from "../src/autograd/param.ts";
import { gaussian, param, xavierUniform } from "../src/init.ts";
import { mse, nll } from "../src/loss.ts";
import { conv4Bias } from "../src/ops/conv_bias.ts";
import { mat } from "../src/ops/indexing.ts";
import { linear } from "../src/ops/linear.ts";
import { pool } from "../src/ops/pool.ts";
import { fromArray } from "../src/tensor/create.ts";
import { Rng } from "../src/tensor/random.ts";
import type { DeviceName, Tensor } from "../src/tensor/tensor.ts";

/** The rows of Knet's benchmark table that run here (CharLM is not one of them). */
export type RowName = "linreg" | "softmax" | "mlp" | "lenet";

/** Every row, in the table's order. */
export const ROW_NAMES: readonly RowName[] = ["linreg", "softmax", "mlp", "lenet"];

/** One row of Knet's table: what is trained, how, and Knet's published time. */
export interface RowSpec {
  /** The key used on the command line. */
  name: RowName;
  /** The model's name as Knet's table prints it. */
  model: string;
  /** The dataset's name as Knet's table prints it. */
  dataset: "Housing" | "MNIST";
  /** Passes over the training set. */
  epochs: number;
  /** Minibatch size (506 for LinReg: the whole set). */
  batch: number;
  /** Plain SGD learning rate. */
  lr: number;
  /** The loss: mean squared error or negative log-likelihood of the softmax. */
  loss: "mse" | "nll";
  /** Knet's published seconds for the whole training (g2.2xlarge, 2016). */
  knetSeconds: number;
}

/** Knet's table, row by row (see the module doc for the sources). */
export const ROWS: Readonly<Record<RowName, RowSpec>> = Object.freeze({
  linreg: {
    name: "linreg",
    model: "LinReg",
    dataset: "Housing",
    epochs: 10000,
    batch: 506,
    lr: 0.1,
    loss: "mse",
    knetSeconds: 2.84,
  },
  softmax: {
    name: "softmax",
    model: "Softmax",
    dataset: "MNIST",
    epochs: 10,
    batch: 100,
    lr: 0.5,
    loss: "nll",
    knetSeconds: 2.35,
  },
  mlp: {
    name: "mlp",
    model: "MLP",
    dataset: "MNIST",
    epochs: 10,
    batch: 100,
    lr: 0.5,
    loss: "nll",
    knetSeconds: 3.68,
  },
  lenet: {
    name: "lenet",
    model: "LeNet",
    dataset: "MNIST",
    epochs: 1,
    batch: 100,
    lr: 0.1,
    loss: "nll",
    knetSeconds: 3.59,
  },
});

/** One initial weight array, in denet's row-major layout. */
export interface HostWeight {
  /** The weight's role: "w1", "b1", ... */
  name: string;
  /**
   * Its denet shape: dense weights [in, out], dense biases [out], filters [O, I, kH, kW],
   * filter biases [1, O, 1, 1].
   */
  shape: number[];
  /** Its values (f32), row-major. */
  values: Float32Array;
}

function weight(name: string, t: Tensor): HostWeight {
  const values = Float32Array.from(t.host("initialWeights"));
  const w = { name, shape: [...t.shape], values };
  t.dispose();
  return w;
}

function zerosW(name: string, shape: number[]): HostWeight {
  return { name, shape, values: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
}

/**
 * The initial weights of `row` (Knet's init, see the module doc), drawn on the host from a
 * generator seeded with `seed`: the same numbers for every framework.
 */
export function initialWeights(row: RowName, seed = 1): HostWeight[] {
  const rng = new Rng(seed);
  const g = (...dims: number[]) => gaussian(dims, { std: 0.1, rng, device: "cpu" });
  const xv = (...dims: number[]) => xavierUniform(dims, { rng, device: "cpu" });
  switch (row) {
    case "linreg":
      return [weight("w", g(13, 1)), zerosW("b", [1])];
    case "softmax":
      return [weight("w", g(784, 10)), zerosW("b", [10])];
    case "mlp":
      return [
        weight("w1", g(784, 64)),
        zerosW("b1", [64]),
        weight("w2", g(64, 10)),
        zerosW("b2", [10]),
      ];
    case "lenet":
      return [
        weight("w1", xv(20, 1, 5, 5)),
        zerosW("b1", [1, 20, 1, 1]),
        weight("w2", xv(50, 20, 5, 5)),
        zerosW("b2", [1, 50, 1, 1]),
        weight("w3", xv(800, 500)),
        zerosW("b3", [500]),
        weight("w4", xv(500, 10)),
        zerosW("b4", [10]),
      ];
    default:
      throw new Error(`initialWeights: unknown row "${String(row)}" (expected ${ROW_NAMES})`);
  }
}

/** A denet model of one row: its Params, its prediction and its loss. */
export interface KnetModel {
  /** The Params, in the order of {@link initialWeights}. */
  params: Param[];
  /** Scores (or, for LinReg, predictions) of a batch x. */
  predict(x: Tensor): Tensor;
  /** The scalar training loss of a batch (x, y): the `f` handed to `sgd`. */
  loss(x: Tensor, y: Tensor): Tensor;
  /** Releases the Params. */
  dispose(): void;
}

/** Number of weight arrays of each row. */
const ARITY: Record<RowName, number> = { linreg: 2, softmax: 2, mlp: 4, lenet: 8 };

/** Knet's `predict` of each row, as plain functions of the Params `w` and a batch `x`. */
const PREDICT: Record<RowName, (w: Param[], x: Tensor) => Tensor> = {
  // x [N, 13] → [N, 1]
  linreg: ([w, b], x) => linear(x, w, b),
  // x [N, 1, 28, 28] → [N, 10]
  softmax: ([w, b], x) => linear(mat(x), w, b),
  mlp: ([w1, b1, w2, b2], x) => linear(linear(mat(x), w1, b1, "relu"), w2, b2),
  lenet: ([w1, b1, w2, b2, w3, b3, w4, b4], x0) => {
    const x1 = pool(conv4Bias(w1, x0, b1, {}, "relu")); // [N, 20, 12, 12]
    const x2 = pool(conv4Bias(w2, x1, b2, {}, "relu")); // [N, 50, 4, 4]
    const x3 = linear(mat(x2), w3, b3, "relu"); // [N, 500]
    return linear(x3, w4, b4); // [N, 10]
  },
};

/**
 * The denet model of `row` with Params holding `weights` (from {@link initialWeights}) on
 * `device`.
 */
export function knetModel(
  row: RowName,
  weights: readonly HostWeight[],
  device: DeviceName,
): KnetModel {
  const spec = ROWS[row];
  if (!spec) throw new Error(`knetModel: unknown row "${String(row)}" (expected ${ROW_NAMES})`);
  if (weights.length !== ARITY[row]) {
    throw new Error(
      `knetModel: ${row} takes ${ARITY[row]} weight arrays, got ${weights.length} ` +
        `(${weights.map((w) => w.name).join(", ")})`,
    );
  }
  const params = weights.map((w) => {
    const t = fromArray(w.values, { shape: w.shape, device: "cpu" });
    const p = param(t, { device });
    if (device !== "cpu") t.dispose(); // copied to the GPU; on the CPU p shares t's storage
    return p;
  });
  const predict = (x: Tensor) => PREDICT[row](params, x);
  const loss = spec.loss === "mse"
    ? (x: Tensor, y: Tensor) => mse(predict(x), y)
    : (x: Tensor, y: Tensor) => nll(predict(x), y);
  return {
    params,
    predict,
    loss,
    dispose: () => params.forEach((p) => p.dispose()),
  };
}
