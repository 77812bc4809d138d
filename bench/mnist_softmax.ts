/**
 * Knet's softmax classifier on MNIST, full size: 10 epochs, batch 100, SGD lr 0.5.
 * Asserts ≥ 91.5% test accuracy (Knet reports 91.53%) and prints each epoch's accuracy
 * and seconds. Exits with status 1 when the threshold is missed.
 *
 * Run: `deno run -A bench/mnist_softmax.ts [--device cpu|gpu] [--data DIR]`.
 */

import * as dn from "../internals.ts";
import { trainMnistSoftmax } from "../examples/mnist_softmax.ts";

const { parseArgs } = await import("node:util");
const { values } = parseArgs({
  args: Deno.args,
  options: { data: { type: "string" }, device: { type: "string" } },
});
const device = await dn.init(values.device ? { device: values.device as dn.DeviceName } : {});
const t0 = performance.now();
const accs = await trainMnistSoftmax({
  epochs: 10,
  device,
  dir: values.data,
  onEpoch: (e, acc, s) =>
    console.log(`epoch ${e}  test accuracy ${(acc * 100).toFixed(2)}%  ${s.toFixed(1)} s`),
});
const final = accs[accs.length - 1];
console.log(
  `final ${(final * 100).toFixed(2)}% (Knet 91.53%), ${
    ((performance.now() - t0) / 1000).toFixed(1)
  } s on ${device}, ${dn.counters().hostSyncs} host syncs`,
);
if (final < 0.915) {
  console.error(`FAILED: test accuracy ${final} < 0.915`);
  Deno.exit(1);
}
