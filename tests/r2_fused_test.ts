/**
 * The fused GPU step of R2 and TR without momentum (src/solvers/r2_fused.ts,
 * kernels/r2_step.wgsl) against the generic path it replaces, run on the same GPU: the
 * same iterates bit for bit, the same statuses, σ/Δ and counts, on an MLP over real MNIST
 * minibatches (the stochastic R2 of KnetNLPModels, moving to the next batch every step)
 * and on a fixed batch; and the dispatches per iteration besides the objgrad evaluations
 * (issue 12's target: at most 15).
 */

import assert from "node:assert/strict";
import { counters, resetCounters } from "../src/gpu/counters.ts";
import { Chain } from "../src/layers/chain.ts";
import { Dense } from "../src/layers/dense.ts";
import { mnist } from "../src/data/mnist.ts";
import { NeuralNLPModel } from "../src/nlp/mod.ts";
import { R2, TR } from "../src/solvers/r2.ts";
import { setFusedR2 } from "../src/solvers/r2_fused.ts";
import { Rng } from "../src/tensor/random.ts";
import { zeros } from "../src/tensor/create.ts";
import { Tensor } from "../src/tensor/tensor.ts";
import { assertExact, GPU_TEST, haveGpu } from "./_helpers.ts";
import { DATA_URL, haveData } from "./data_helpers.ts";

const ok = (await haveGpu()) && haveData("mnist");

async function train(): Promise<[Tensor, Tensor]> {
  const d = await mnist({ dir: new URL("mnist/", DATA_URL).pathname, download: false });
  const n = 500;
  return [
    new Tensor([n, 1, 28, 28], "f32", d.xtrn.host().slice(0, n * 784)),
    new Tensor([n], "f32", d.ytrn.host().slice(0, n)),
  ];
}

function model(): Chain {
  const rng = new Rng(3);
  return new Chain(
    new Dense(784, 32, { rng, device: "gpu" }),
    new Dense(32, 10, { rng, device: "gpu", activation: "identity" }),
  );
}

interface Run {
  x: Float32Array;
  summary: string;
  dispatchesPerIter: number;
  /** Dispatches per iteration besides the objgrad evaluations. */
  solverPerIter: number;
}

async function run(
  fused: boolean,
  solve: typeof R2,
  data: [Tensor, Tensor],
  stochastic: boolean,
  extra: Record<string, number> = {},
): Promise<Run> {
  setFusedR2(fused);
  try {
    const m = model();
    const nlp = new NeuralNLPModel(m, { train: data, batchSize: 100, seed: 1 });
    // One forward + backward on its own, for the solver's share of the dispatches.
    const g0 = zeros([nlp.meta.nvar], { device: "gpu" });
    nlp.objgrad(nlp.meta.x0, g0).dispose();
    resetCounters();
    nlp.objgrad(nlp.meta.x0, g0).dispose();
    const perObjgrad = counters().dispatches;
    g0.dispose();
    const evals0 = nlp.counters.neval_obj;
    const maxIter = 12;
    resetCounters();
    const s = await solve(nlp, {
      maxIter,
      maxTime: Infinity,
      checkEvery: 4,
      onStep: stochastic ? () => void nlp.nextMinibatch() : undefined,
      ...extra,
    });
    const dispatches = counters().dispatches;
    const x = Float32Array.from(await s.solution!.data());
    const summary = JSON.stringify({
      status: s.status,
      iter: s.iter,
      f: s.objective,
      g: s.dualFeas,
      specific: s.solverSpecific,
      obj: nlp.counters.neval_obj,
    });
    s.solution!.dispose();
    m.dispose();
    const evals = nlp.counters.neval_obj - evals0;
    const solverPerIter = (dispatches - evals * perObjgrad) / s.iter;
    return { x, summary, dispatchesPerIter: dispatches / maxIter, solverPerIter };
  } finally {
    setFusedR2(true);
  }
}

Deno.test({
  name:
    "fused R2/TR step == the generic path bit for bit (MLP on MNIST, stochastic and fixed batch)",
  ignore: !ok,
  ...GPU_TEST,
  fn: async () => {
    const data = await train();
    for (const [name, solve] of [["R2", R2], ["TR", TR]] as const) {
      for (const stochastic of [true, false]) {
        const what = `${name} ${stochastic ? "stochastic" : "fixed batch"}`;
        const generic = await run(false, solve, data, stochastic);
        const fused = await run(true, solve, data, stochastic);
        assert.equal(fused.summary, generic.summary, what);
        assertExact(fused.x, generic.x, `${what}: final x`);
        assert.ok(JSON.parse(fused.summary).iter >= 12, `${what}: ${fused.summary}`);
        // An objgrad (forward + backward) is ~11 dispatches here; the fused step adds
        // trial, ‖∇f(xt)‖ (two passes above 32 768 entries), decide and accept.
        assert.ok(
          fused.dispatchesPerIter < generic.dispatchesPerIter - 20,
          `${what}: ${fused.dispatchesPerIter} vs ${generic.dispatchesPerIter} dispatches/iter`,
        );
        // Issue 12's target: an R2 step ≤ 2·(forward + backward) + 15 dispatches.
        assert.ok(fused.solverPerIter <= 15, `${what}: ${fused.solverPerIter} besides objgrad`);
      }
    }
  },
});
