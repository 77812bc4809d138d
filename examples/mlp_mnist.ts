/**
 * Knet's MLP example on MNIST: one hidden layer of 64 relu units, plain SGD with lr 0.5,
 * minibatches of 100, 10 epochs (Knet reports 97.35% test accuracy).
 *
 *     deno run -A examples/mlp_mnist.ts [--epochs 10] [--lr 0.5] [--limit N]
 *
 * @module
 */

import { mainOf } from "./_main.ts";
import { parseArgs } from "node:util";
import * as dn from "../mod.ts";

/** Options of {@link trainMlpMnist}. */
export interface MnistExampleOptions {
  /** Epochs (default 10). */
  epochs?: number;
  /** Learning rate (default: the example's). */
  lr?: number;
  /** Directory of the MNIST files (default: the data cache). */
  dir?: string;
  /** Train on the first `limit` images only. */
  limit?: number;
  /** Test on the first `testLimit` test images only. */
  testLimit?: number;
  /** Called after every epoch with its test accuracy. */
  onEpoch?: (epoch: number, testAccuracy: number, seconds: number) => void;
}

/** MNIST for the examples: the first `limit` training and `testLimit` test images. */
export async function exampleMnist(opts: MnistExampleOptions): Promise<dn.MnistData> {
  const d = await dn.mnist(opts.dir ? { dir: opts.dir } : {});
  const first = (
    t: dn.Tensor,
    k?: number,
  ) => (k === undefined || k >= t.shape[0] ? t : dn.slice(t, [[0, k]]));
  return {
    xtrn: first(d.xtrn, opts.limit),
    ytrn: first(d.ytrn, opts.limit),
    xtst: first(d.xtst, opts.testLimit),
    ytst: first(d.ytst, opts.testLimit),
  };
}

/**
 * Knet's epoch loop: `trainEpoch()` once per epoch, then the model's test accuracy
 * (one readback); returns the accuracies.
 */
export async function runEpochs(
  opts: MnistExampleOptions,
  epochs: number,
  model: dn.Model,
  data: dn.MnistData,
  trainEpoch: (dtrn: dn.Data<[dn.Tensor, dn.Tensor]>) => Promise<unknown>,
): Promise<number[]> {
  const dtrn = dn.minibatch(data.xtrn, data.ytrn, 100, { shuffle: true });
  const dtst = dn.minibatch(data.xtst, data.ytst, 100);
  const accuracies: number[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const t0 = performance.now();
    await trainEpoch(dtrn);
    accuracies.push(await dn.accuracy(model, dtst));
    opts.onEpoch?.(epoch, accuracies.at(-1)!, (performance.now() - t0) / 1000);
  }
  return accuracies;
}

/** Trains Knet's MLP on MNIST; returns the test accuracy after each epoch. */
export async function trainMlpMnist(opts: MnistExampleOptions = {}): Promise<number[]> {
  const { epochs = 10, lr = 0.5 } = opts;
  await dn.init();
  dn.seed(1);
  const data = await exampleMnist(opts);
  const model = dn.mlpModel({ hidden: 64 }); // Dense(784→64, relu), Dense(64→10)
  return await runEpochs(
    opts,
    epochs,
    model,
    data,
    (dtrn) => dn.progress(dn.sgd((x, y) => model.loss(x, y), dtrn, { lr })).run(),
  );
}

/** Runs an MNIST example from the command line: `--epochs N --lr X --limit N`. */
export async function runExample(
  train: (opts: MnistExampleOptions) => Promise<number[]>,
): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { epochs: { type: "string" }, lr: { type: "string" }, limit: { type: "string" } },
  });
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  await train({
    epochs: num(values.epochs),
    lr: num(values.lr),
    limit: num(values.limit),
    onEpoch: (e, acc, s) =>
      console.log(`epoch ${e}: test accuracy ${(100 * acc).toFixed(2)}% (${s.toFixed(1)} s)`),
  });
}

if (import.meta.main) await mainOf(import.meta.url, () => runExample(trainMlpMnist));
