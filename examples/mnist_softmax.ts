/**
 * Knet's softmax classifier on MNIST: scores = mat(x)·w + b with w = 0.1·randn(784, 10),
 * b = 0, the nll loss, minibatches of 100 and plain SGD with lr 0.5. Knet reports
 * 91.53% test accuracy after 10 epochs.
 *
 * The training loop reads nothing back: losses and updates stay on the device, and the
 * only host syncs are the accuracy readouts at the end of each epoch.
 *
 * Run: `deno run -A examples/mnist_softmax.ts [--epochs 10] [--data DIR] [--device cpu|gpu]`.
 */

import { mainOf } from "./_main.ts";
import * as dn from "../mod.ts";

/** Options of {@link trainMnistSoftmax}. */
export interface SoftmaxRunOptions {
  /** Passes over the training set (default 10). */
  epochs?: number;
  /** SGD learning rate (default 0.5). */
  lr?: number;
  /** Minibatch size (default 100). */
  batch?: number;
  /** Seed of the initialization and the shuffling (default 1). */
  seed?: number;
  /** Where to train (default: the default device). */
  device?: dn.DeviceName;
  /** The MNIST directory (default: the loaders' resolution). */
  dir?: string;
  /** Called after each epoch with its number (1-based) and test accuracy. */
  onEpoch?: (epoch: number, testAccuracy: number, seconds: number) => void;
}

/** Trains the softmax classifier; returns the test accuracy after each epoch. */
export async function trainMnistSoftmax(opts: SoftmaxRunOptions = {}): Promise<number[]> {
  const { epochs = 10, lr = 0.5, batch = 100, seed = 1 } = opts;
  const device = opts.device ?? dn.defaultDevice();
  const { xtrn, ytrn, xtst, ytst } = await dn.mnist({ dir: opts.dir });
  const rng = new dn.Rng(seed);
  const dtrn = dn.minibatch(xtrn, ytrn, batch, { shuffle: true, rng, device });
  const dtst = dn.minibatch(xtst, ytst, batch, { device });
  const w = new dn.Param(dn.mul(dn.randn([784, 10], { rng, device }), 0.1));
  const b = new dn.Param(dn.zeros([10], { device }));
  const model = (x: dn.Tensor) => dn.add(dn.matmul(dn.mat(x), w), b);
  const accuracies: number[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const t0 = performance.now();
    for (const [x, y] of dtrn) {
      const J = dn.diff(() => dn.nll(model(x), y));
      for (const p of [w, b]) dn.axpy(-lr, J.grad(p)!, p);
      J.dispose();
    }
    const acc = await dn.accuracy(model, dtst);
    accuracies.push(acc);
    opts.onEpoch?.(epoch, acc, (performance.now() - t0) / 1000);
  }
  w.dispose();
  b.dispose();
  return accuracies;
}

if (import.meta.main) {
  await mainOf(import.meta.url, async () => {
    const { parseArgs } = await import("node:util");
    const { values } = parseArgs({
      args: Deno.args,
      options: {
        epochs: { type: "string", default: "10" },
        data: { type: "string" },
        device: { type: "string" },
      },
    });
    const device = await dn.init(values.device ? { device: values.device as dn.DeviceName } : {});
    await trainMnistSoftmax({
      epochs: Number(values.epochs),
      device,
      dir: values.data,
      onEpoch: (e, acc, s) =>
        console.log(`epoch ${e}  test accuracy ${(acc * 100).toFixed(2)}%  ${s.toFixed(1)} s`),
    });
  });
}
