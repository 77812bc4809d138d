/**
 * Solver iterations against the plain training loop on the same LeNet and the same
 * minibatches: R2 through the NLP model (decisions on the device, the minibatch rotated
 * every step) against `adam(f, data)` (one diff + update per step). With the batch
 * changing every step, R2 does two forward+backward passes per step: f and ∇f at x on
 * the new batch (the stochastic R2), then at the trial point. Prints steps per
 * second, host syncs and dispatches per step for each, in the same run.
 *
 * Run: `deno run -A bench/solver_steps.ts [--steps 30] [--data DIR]`.
 */

import { parseArgs } from "node:util";
import * as dn from "../internals.ts";
import { gpuReady, gpuRuntime } from "../src/gpu/runtime.ts";

/** Waits for the device (one host sync on the GPU). */
async function settle(): Promise<void> {
  if (gpuReady()) await gpuRuntime().sync();
}

const { values } = parseArgs({
  args: Deno.args,
  options: { data: { type: "string" }, steps: { type: "string" } },
});
const steps = Number(values.steps ?? 30);
const device = await dn.init();
const { xtrn, ytrn } = await dn.mnist(values.data ? { dir: values.data } : {});
const n = (steps + 3) * 100;
const x = dn.slice(xtrn, [[0, n]]);
const y = dn.slice(ytrn, [[0, n]]);

interface Row {
  name: string;
  seconds: number;
  syncs: number;
  dispatches: number;
}

async function timed(name: string, run: () => void | Promise<void>): Promise<Row> {
  await settle();
  const c0 = dn.counters();
  const t0 = performance.now();
  await run();
  await settle(); // counted below: subtract it
  const c1 = dn.counters();
  return {
    name,
    seconds: (performance.now() - t0) / 1000,
    syncs: c1.hostSyncs - c0.hostSyncs - (gpuReady() ? 1 : 0),
    dispatches: c1.dispatches - c0.dispatches,
  };
}

const rows: Row[] = [];
// The plain loop: Knet's adam(f, data) over `steps` minibatches (warm-up: 2 steps).
{
  dn.seed(1);
  const lenet = dn.lenetModel();
  const data = dn.minibatch(x, y, 100);
  dn.drain(dn.limit(dn.adam((a, b) => lenet.loss(a, b), data), 2));
  rows.push(
    await timed("adam(f, data) training loop", () => {
      dn.drain(dn.limit(dn.adam((a, b) => lenet.loss(a, b), data), steps));
    }),
  );
}
// R2 on the NLP model (warm-up: a 2-iteration solve).
{
  dn.seed(1);
  const nlp = new dn.NeuralNLPModel(dn.lenetModel(), { train: [x, y], batchSize: 100, seed: 1 });
  const opts = { maxTime: Infinity, onStep: () => void nlp.nextMinibatch() };
  (await dn.R2(nlp, { ...opts, maxIter: 2 })).solution?.dispose();
  let stats: dn.ExecutionStats | null = null;
  rows.push(
    await timed("R2 on NeuralNLPModel", async () => {
      stats = await dn.R2(nlp, { ...opts, maxIter: steps - 1 });
    }),
  );
  const st = stats as dn.ExecutionStats | null;
  console.log(
    `R2: ${st?.status}, ${st?.iter} iterations, solver-reported syncs ${st?.counters.hostSyncs}`,
  );
  st?.solution?.dispose();
}
console.log(`\nLeNet, batch 100, ${steps} steps on ${device}:\n`);
console.log("| loop | steps/s | host syncs/step | dispatches/step |");
console.log("|---|---|---|---|");
for (const r of rows) {
  console.log(
    `| ${r.name} | ${(steps / r.seconds).toFixed(2)} | ${(r.syncs / steps).toFixed(3)} | ${
      (r.dispatches / steps).toFixed(1)
    } |`,
  );
}
