/**
 * LeNet on MNIST trained through the NLP model (NeuralNLPModel + a solver, the
 * minibatch rotated every step), full size, with the issues' asserted targets: after 5
 * epochs R2 ≥ 97.5% test accuracy (a published stochastic-R2 run: ~97.5% at epoch 5)
 * and the Adam solver ≥ 98%; after 1 epoch fomo (R2 with momentum β = 0.9) ≥ 97%.
 *
 * Run: `deno run -A bench/nlp_accuracy.ts r2|adam|fomo [--epochs 5|5|1] [--data DIR]`.
 * Prints each epoch's line (loss, accuracies, seconds, host syncs); exits 1 on a miss.
 */

import { parseArgs } from "node:util";
import { formatEpoch, trainClassifier } from "../src/app/classify.ts";
import { init } from "../src/tensor/device.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { data: { type: "string" }, epochs: { type: "string" } },
});
const solver = positionals[0];
const TARGETS: Record<string, [epoch: number, accuracy: number]> = {
  r2: [5, 0.975],
  adam: [5, 0.98],
  fomo: [1, 0.97],
};
if (!(solver in TARGETS)) {
  console.error("usage: deno run -A bench/nlp_accuracy.ts r2|adam|fomo [--epochs N] [--data DIR]");
  Deno.exit(2);
}
const [at, target] = TARGETS[solver];
const epochs = Number(values.epochs ?? at);
console.log(`LeNet on MNIST by ${solver} through the NLP model on ${await init()}`);
const reports = await trainClassifier({
  model: "lenet",
  solver,
  epochs,
  dataDir: values.data,
  log: (line) => console.log(line),
  progressBar: false,
});
for (const r of reports) {
  console.log(`  epoch ${r.epoch}: ${r.hostSyncs} host syncs, ${r.dispatches} dispatches`);
}
const last = reports.at(-1)!;
if (epochs >= at) {
  const acc = reports[at - 1].testAccuracy;
  const ok = acc >= target;
  console.log(
    `${ok ? "PASS" : "FAIL"}: epoch ${at} ${(100 * acc).toFixed(2)}% (target ≥ ${target * 100}%)`,
  );
  if (!ok) Deno.exit(1);
} else {
  console.log(`(no target checked before epoch ${at}; last: ${formatEpoch(last)})`);
}
