/**
 * Knet's LeNet on MNIST: conv 5×5×20, pool, conv 5×5×50, pool, dense 500, dense 10, relu
 * activations, Adam (lr 0.001), minibatches of 100 (Knet reports 97.1% test accuracy
 * after 1 epoch and 98.79% after 10).
 *
 *     deno run -A examples/lenet_mnist.ts [--epochs 10] [--lr 0.001] [--limit N]
 *
 * @module
 */

import * as dn from "../mod.ts";
import { type MnistExampleOptions, runExample } from "./mlp_mnist.ts";

/** Trains Knet's LeNet on MNIST; returns the test accuracy after each epoch. */
export async function trainLenetMnist(opts: MnistExampleOptions = {}): Promise<number[]> {
  const { epochs = 10, lr = 0.001 } = opts;
  await dn.init();
  dn.seed(1);
  const { xtrn, ytrn, xtst, ytst } = await dn.mnist(opts.dir ? { dir: opts.dir } : {});
  const n = Math.min(opts.limit ?? xtrn.shape[0], xtrn.shape[0]);
  const lenet = dn.lenetModel();
  console.error(String(lenet)); // the layers, their parameter shapes and count
  const dtrn = dn.minibatch(dn.slice(xtrn, [[0, n]]), dn.slice(ytrn, [[0, n]]), 100, {
    shuffle: true,
  });
  const m = Math.min(opts.testLimit ?? xtst.shape[0], xtst.shape[0]);
  const dtst = dn.minibatch(dn.slice(xtst, [[0, m]]), dn.slice(ytst, [[0, m]]), 100);
  const accuracies: number[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const t0 = performance.now();
    await dn.progress(dn.adam((x, y) => lenet.loss(x, y), dtrn, { lr })).run();
    accuracies.push(await dn.accuracy(lenet, dtst));
    opts.onEpoch?.(epoch, accuracies.at(-1)!, (performance.now() - t0) / 1000);
  }
  return accuracies;
}

if (import.meta.main) await runExample(trainLenetMnist);
