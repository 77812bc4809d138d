/**
 * Knet's LeNet on MNIST: conv 5×5×20, pool, conv 5×5×50, pool, dense 500, dense 10, relu
 * activations, Adam (lr 0.001), minibatches of 100 (Knet reports 97.1% test accuracy
 * after 1 epoch and 98.79% after 10).
 *
 *     deno run -A examples/lenet_mnist.ts [--epochs 10] [--lr 0.001] [--limit N]
 *
 * @module
 */

import { mainOf } from "./_main.ts";
import * as dn from "../mod.ts";
import { exampleMnist, type MnistExampleOptions, runEpochs, runExample } from "./mlp_mnist.ts";

/** Trains Knet's LeNet on MNIST; returns the test accuracy after each epoch. */
export async function trainLenetMnist(opts: MnistExampleOptions = {}): Promise<number[]> {
  const { epochs = 10, lr = 0.001 } = opts;
  await dn.init();
  dn.seed(1);
  const data = await exampleMnist(opts);
  const lenet = dn.lenetModel();
  console.error(String(lenet)); // the layers, their parameter shapes and count
  return await runEpochs(
    opts,
    epochs,
    lenet,
    data,
    (dtrn) => dn.progress(dn.adam((x, y) => lenet.loss(x, y), dtrn, { lr })).run(),
  );
}

if (import.meta.main) await mainOf(import.meta.url, () => runExample(trainLenetMnist));
