/**
 * Grouped GPU updates (src/optim/grouped.ts, kernels/optim.wgsl `multi`): every rule's
 * grouped update is bitwise equal to one dispatch per parameter, at odd sizes and with
 * empty slots; settings that differ are not mixed; a parameter updated twice in one
 * scope sees its first update; clipped updates still run (alone); updates made before a
 * throw are kept; and the dispatch counts.
 */

import assert from "node:assert/strict";
import { counters, resetCounters } from "../src/gpu/counters.ts";
import { groupUpdates } from "../src/optim/grouped.ts";
import type { Optimizer } from "../src/optim/optimizer.ts";
import {
  Adadelta,
  Adagrad,
  Adam,
  Momentum,
  Nesterov,
  type OptimizerBase,
  Rmsprop,
  SGD,
  update,
} from "../src/optim/mod.ts";
import { fromArray } from "../src/tensor/create.ts";
import { Rng } from "../src/tensor/random.ts";
import { readAll, type Tensor } from "../src/tensor/tensor.ts";
import { assertExact, GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();
const SIZES = [1, 7, 33, 257, 1000, 3];

const RULES: [string, () => OptimizerBase][] = [
  ["SGD", () => new SGD({ lr: 0.1 })],
  ["Momentum", () => new Momentum({ lr: 0.1, gamma: 0.9 })],
  ["Nesterov", () => new Nesterov({ lr: 0.1, gamma: 0.9 })],
  ["Adagrad", () => new Adagrad({ lr: 0.1 })],
  ["Rmsprop", () => new Rmsprop({ lr: 0.01 })],
  ["Adadelta", () => new Adadelta({ lr: 0.5 })],
  ["Adam", () => new Adam({ lr: 0.01 })],
];

function tensors(rng: Rng, scale = 1): Tensor[] {
  return SIZES.map((n) =>
    fromArray(Float32Array.from({ length: n }, () => scale * rng.normal()), {
      shape: [n],
      device: "gpu",
    })
  );
}

/** Weights and optimizer states after `steps` updates, grouped or one dispatch each. */
async function run(
  make: () => OptimizerBase,
  grouped: boolean,
  steps: number,
): Promise<{ values: Float32Array[]; dispatches: number }> {
  const rng = new Rng(42);
  const ws = tensors(rng);
  const opts = ws.map(() => make());
  let dispatches = 0;
  for (let s = 0; s < steps; s++) {
    const gs = tensors(rng, 0.5);
    resetCounters();
    if (grouped) update(ws, gs, opts);
    else ws.forEach((w, i) => opts[i].update(w, gs[i]));
    dispatches += counters().dispatches;
    for (const g of gs) g.dispose();
  }
  const all = [...ws, ...opts.flatMap((o) => Object.values(o.stateTensors()))];
  const values = (await readAll(all)).map((v) => Float32Array.from(v));
  for (const w of ws) w.dispose();
  return { values, dispatches };
}

Deno.test({
  name: "grouped updates: every rule bitwise equal to per-parameter dispatches, 4 per dispatch",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    for (const [name, make] of RULES) {
      const one = await run(make, false, 3);
      const grouped = await run(make, true, 3);
      assert.equal(one.values.length, grouped.values.length);
      one.values.forEach((v, i) => assertExact(grouped.values[i], v, `${name}: tensor ${i}`));
      assert.equal(one.dispatches, 3 * SIZES.length, `${name}: one dispatch per parameter`);
      assert.equal(grouped.dispatches, 3 * 2, `${name}: six parameters in two dispatches`);
    }
  },
});

Deno.test({
  name: "grouped updates: different settings apart, a repeated parameter in order, clipping alone",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const results: Float32Array[][] = [];
    const counts: number[] = [];
    for (const grouped of [false, true]) {
      const rng = new Rng(3);
      const [a, b, c] = tensors(rng).slice(1, 4);
      const [ga, gb, gc] = tensors(rng).slice(1, 4);
      const sgd1 = new SGD({ lr: 0.1 });
      const sgd2 = new SGD({ lr: 0.2 });
      const clipped = new SGD({ lr: 0.1, gclip: 0.01 });
      const steps = () => {
        sgd1.update(a, ga);
        sgd2.update(b, gb);
        sgd1.update(a, ga); // a again: it must see its first update
        clipped.update(c, gc);
      };
      resetCounters();
      if (grouped) groupUpdates(steps);
      else steps();
      counts.push(counters().dispatches);
      results.push((await readAll([a, b, c])).map((v) => Float32Array.from(v)));
      for (const t of [a, b, c, ga, gb, gc]) t.dispose();
    }
    results[0].forEach((v, i) => assertExact(results[1][i], v, `tensor ${i}`));
    // One at a time: 3 updates + the clipped one's norm and update. Grouped: the clipped
    // pair at once, a (lr 0.1) and b (lr 0.2) apart, the repeated a after a flush.
    assert.deepEqual(counts, [5, 5]);
    const rng = new Rng(3);
    const [a0] = tensors(rng).slice(1, 2);
    const [ga0] = tensors(rng).slice(1, 2);
    const [w0, g0] = await readAll([a0, ga0]);
    results[1][0].forEach((v, i) => {
      const want = w0[i] - 0.2 * g0[i];
      assert.ok(Math.abs(v - want) < 1e-6, `a[${i}] took both steps: ${v} vs ${want}`);
    });
    a0.dispose();
    ga0.dispose();
  },
});

Deno.test({
  name: "grouped updates: updates queued before a throw are still applied",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rng = new Rng(9);
    const [w, g] = [tensors(rng)[2], tensors(rng)[2]];
    const before = await w.data();
    const opt: Optimizer = new SGD({ lr: 1 });
    assert.throws(
      () =>
        groupUpdates(() => {
          opt.update(w, g);
          throw new Error("boom");
        }),
      /boom/,
    );
    const [after, gv] = await readAll([w, g]);
    after.forEach((v, i) => assert.ok(Math.abs(v - (before[i] - gv[i])) < 1e-6, `w[${i}]`));
    w.dispose();
    g.dispose();
  },
});
