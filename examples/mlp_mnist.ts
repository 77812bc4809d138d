/**
 * Knet's MLP example on MNIST: one hidden layer of 64 relu units, plain SGD with lr 0.5,
 * minibatches of 100, 10 epochs (Knet reports 97.35% test accuracy).
 *
 *     deno run -A examples/mlp_mnist.ts [--epochs 10] [--lr 0.5] [--limit N]
 *
 * @module
 */

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

/** Trains Knet's MLP on MNIST; returns the test accuracy after each epoch. */
export async function trainMlpMnist(opts: MnistExampleOptions = {}): Promise<number[]> {
  const { epochs = 10, lr = 0.5 } = opts;
  await dn.init();
  dn.seed(1);
  const { xtrn, ytrn, xtst, ytst } = await dn.mnist(opts.dir ? { dir: opts.dir } : {});
  const n = Math.min(opts.limit ?? xtrn.shape[0], xtrn.shape[0]);
  const model = dn.mlpModel({ hidden: 64 }); // Dense(784→64, relu), Dense(64→10)
  const dtrn = dn.minibatch(dn.slice(xtrn, [[0, n]]), dn.slice(ytrn, [[0, n]]), 100, {
    shuffle: true,
  });
  const m = Math.min(opts.testLimit ?? xtst.shape[0], xtst.shape[0]);
  const dtst = dn.minibatch(dn.slice(xtst, [[0, m]]), dn.slice(ytst, [[0, m]]), 100);
  const accuracies: number[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const t0 = performance.now();
    await dn.progress(dn.sgd((x, y) => model.loss(x, y), dtrn, { lr })).run();
    accuracies.push(await dn.accuracy(model, dtst));
    opts.onEpoch?.(epoch, accuracies.at(-1)!, (performance.now() - t0) / 1000);
  }
  return accuracies;
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

if (import.meta.main) await runExample(trainMlpMnist);
