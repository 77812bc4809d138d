/**
 * Knet's MNIST accuracy targets, full size, as asserted benchmark scripts:
 *
 * - `mlp`: one hidden layer of 64, SGD lr 0.5, batch 100, 10 epochs: ≥ 97.3% test
 *   accuracy (Knet 97.35%).
 * - `lenet`: Knet's LeNet, Adam, batch 100: ≥ 97% after 1 epoch (Knet 97.1%) and, when
 *   run for 10 epochs, ≥ 98.8% after the 10th (Knet 98.79%).
 *
 * Run: `deno run -A bench/mnist_accuracy.ts mlp|lenet [--epochs N] [--data DIR]`.
 * Prints each epoch's accuracy and seconds; exits with status 1 when a target is missed.
 */

import { parseArgs } from "node:util";
import { trainLenetMnist } from "../examples/lenet_mnist.ts";
import { trainMlpMnist } from "../examples/mlp_mnist.ts";
import { counters } from "../src/gpu/counters.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { data: { type: "string" }, epochs: { type: "string" } },
});
const which = positionals[0];
if (which !== "mlp" && which !== "lenet") {
  console.error("usage: deno run -A bench/mnist_accuracy.ts mlp|lenet [--epochs N] [--data DIR]");
  Deno.exit(2);
}
const epochs = Number(values.epochs ?? 10);
/** Targets: epoch → minimum test accuracy. */
const targets: Record<number, number> = which === "mlp" ? { 10: 0.973 } : { 1: 0.97, 10: 0.988 };
const train = which === "mlp" ? trainMlpMnist : trainLenetMnist;
const t0 = performance.now();
const accs = await train({
  epochs,
  dir: values.data,
  onEpoch: (e, acc, s) =>
    console.log(`${which} epoch ${e}  test accuracy ${(acc * 100).toFixed(2)}%  ${s.toFixed(1)} s`),
});
console.log(
  `${which}: ${epochs} epochs in ${
    ((performance.now() - t0) / 1000).toFixed(1)
  } s, ${counters().hostSyncs} host syncs`,
);
let failed = false;
for (const [e, min] of Object.entries(targets)) {
  const acc = accs[Number(e) - 1];
  if (acc === undefined) continue;
  const ok = acc >= min;
  failed ||= !ok;
  console.log(
    `${ok ? "PASS" : "FAIL"}: epoch ${e} ${(acc * 100).toFixed(2)}% (target ≥ ${min * 100}%)`,
  );
}
if (failed) Deno.exit(1);
