/**
 * GPU memory stays flat over a long training loop with autograd: 10 000 steps of
 * `diff` on a small MLP-like function (x·w1 → tanh → ·w2 → sum of squares), an SGD update
 * w ← w − 0.01·g with axpy outside diff, then `J.dispose()`. `counters().liveBytes` is the
 * same after step 100 and after step 10 000 (the tape's saved tensors, the intermediates
 * and the gradients are all released), and the buffer pool serves every request after the
 * warm-up (`poolMisses` stop growing). The loop never syncs with the host, so no
 * finalizer can run during it: a leaked tensor would show up in liveBytes.
 *
 * The optimisation itself is checked too: the loss falls, and the GPU's loss after 100
 * steps equals a CPU f32 run of the same 100 steps.
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import type { DeviceName, Tensor } from "../internals.ts";
import { GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

const STEPS = 10_000;
const LR = 0.01;

function setup(device: DeviceName) {
  const rng = new dn.Rng(17);
  const x = dn.randn([6, 8], { rng, device });
  const w1 = new dn.Param(dn.mul(dn.randn([8, 16], { rng, device }), 0.3));
  const w2 = new dn.Param(dn.mul(dn.randn([16, 4], { rng, device }), 0.3));
  const loss = () => dn.sum(dn.square(dn.matmul(dn.tanh(dn.matmul(x, w1)), w2)));
  /** One SGD step; returns the step's loss (a tensor the caller disposes) when asked. */
  const step = (keepLoss: boolean): Tensor | null => {
    const J = dn.diff(loss);
    dn.axpy(-LR, dn.grad(J, w1)!, w1);
    dn.axpy(-LR, dn.grad(J, w2)!, w2);
    const out = keepLoss ? dn.clone(J.value) : null;
    J.dispose();
    return out;
  };
  return { x, w1, w2, step };
}

Deno.test({
  name: "grad memory: 10 000 diff + SGD steps keep liveBytes flat and the pool recycled",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    // The CPU reference of the first 100 steps (f32).
    const cpu = setup("cpu");
    const cpuLoss: number[] = [];
    for (let i = 0; i < 100; i++) cpuLoss.push(cpu.step(true)!.dataSync()[0]);

    const baseline = dn.counters().liveBytes;
    const { x, w1, w2, step } = setup("gpu");
    const kept: Tensor[] = [];
    // Losses kept at steps 1, 100 and the last; liveBytes compared between steps 101 and
    // STEPS − 1, where the same two kept losses are alive.
    let live101 = -1;
    let liveEnd = -1;
    let misses1000 = -1;
    const t0 = performance.now();
    for (let i = 1; i <= STEPS; i++) {
      const l = step(i === 1 || i === 100 || i === STEPS);
      if (l) kept.push(l);
      if (i === 101) live101 = dn.counters().liveBytes;
      if (i === STEPS - 1) liveEnd = dn.counters().liveBytes;
      if (i === 1000) misses1000 = dn.counters().poolMisses;
    }
    const after = dn.counters();
    const seconds = (performance.now() - t0) / 1000;
    console.log(`grad memory: ${STEPS} steps in ${seconds.toFixed(1)} s`);
    assert.ok(live101 > baseline, "the weights and inputs are live");
    assert.equal(liveEnd, live101, "liveBytes at the end == after step 100");
    assert.equal(after.poolMisses, misses1000, "no new GPU buffers after step 1000");

    const [first, at100, last] = (await dn.readAll(kept)).map((v) => v[0]);
    // 100 steps on both devices: same f32 arithmetic up to rounding, a smooth map.
    assert.ok(
      Math.abs(first - cpuLoss[0]) <= 1e-5 * cpuLoss[0],
      `first loss ${first} vs cpu ${cpuLoss[0]}`,
    );
    assert.ok(
      Math.abs(at100 - cpuLoss[99]) <= 1e-4 * cpuLoss[99],
      `loss at step 100: ${at100} vs cpu ${cpuLoss[99]}`,
    );
    assert.ok(at100 < first && last < 0.01 * first, `loss falls: ${first} → ${at100} → ${last}`);

    for (const t of [...kept, x, w1, w2]) t.dispose();
    assert.equal(dn.counters().liveBytes, baseline, "everything released at the end");
  },
});
