/**
 * GPU memory stays flat over long loops: 10 000 iterations of y = relu(x·w + b), s = sum(y)
 * inside `tidy` (and a shorter loop with explicit dispose) leave `counters().liveBytes`
 * exactly where it was, and the buffer pool is recycled: `poolMisses` stop growing after the
 * first iterations. Small tensors keep this quick on the software adapter.
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import { assertClose, GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

const ITERS = 10_000;
/** Iteration after which the pool must serve every request (a few submit batches in). */
const WARMUP = 1_000;

/** Small integer-valued data: every product and sum below is exact in f32. */
function ints(n: number, rng: dn.Rng): number[] {
  return Array.from({ length: n }, () => rng.int(7) - 3);
}

function setup() {
  const rng = new dn.Rng(1);
  const [xv, wv, bv] = [ints(4 * 8, rng), ints(8 * 16, rng), ints(16, rng)];
  const host = {
    x: dn.fromArray(xv, { device: "cpu", shape: [4, 8] }),
    w: dn.fromArray(wv, { device: "cpu", shape: [8, 16] }),
    b: dn.fromArray(bv, { device: "cpu", shape: [16] }),
  };
  // The expected s, from the CPU ops (exact for these integers).
  const s = dn.sum(dn.relu(dn.add(dn.matmul(host.x, host.w), host.b))).dataSync()[0];
  assert.ok(s > 0, "the test data has a non-trivial sum");
  return { host, s };
}

Deno.test({
  name:
    "memory: 10 000 tidy iterations of relu(x·w + b) and sum keep liveBytes flat, pool recycled",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const { host, s } = setup();
    const x = host.x.gpu();
    const w = host.w.gpu();
    const b = host.b.gpu();
    const acc = dn.zeros([], { device: "gpu" });
    await acc.data(); // settle: nothing pending before the baseline
    const before = dn.counters();
    let missesAfterWarmup = -1;
    let last: dn.Tensor | null = null;
    for (let i = 0; i < ITERS; i++) {
      const keepLast = i === ITERS - 1;
      const out = dn.tidy(() => {
        const y = dn.relu(dn.add(dn.matmul(x, w), b));
        const si = dn.sum(y);
        dn.axpy(1, si, acc); // acc lives outside the scope: updated in place
        return keepLast ? si : null;
      });
      if (out) last = out;
      if (i === WARMUP) missesAfterWarmup = dn.counters().poolMisses;
    }
    assert.ok(last !== null);
    const [sv, av] = await dn.readAll([last, acc]);
    last.dispose();
    const after = dn.counters();
    assert.equal(sv[0], s, "the last iteration's sum");
    // acc adds the same exact s 10 000 times in f32: a sequential sum of n terms is within
    // (n−1)·u·|total| (u = 2⁻²⁴), exact here while the total stays below 2²⁴.
    assertClose(av, [ITERS * s], { rtol: (ITERS - 1) * 2 ** -24, atol: 0 }, "acc = Σ s");
    assert.equal(after.liveBytes, before.liveBytes, "liveBytes after == before");
    assert.equal(after.poolMisses, missesAfterWarmup, "no new GPU buffers after warm-up");
    // 5 dispatches per iteration: gemm, add, relu, sum, axpy (none dropped).
    assert.equal(after.dispatches - before.dispatches, 5 * ITERS);
    assert.ok(
      after.poolHits - before.poolHits >= 4 * (ITERS - WARMUP),
      "buffers came from the pool",
    );
    for (const t of [x, w, b, acc]) t.dispose();
  },
});

Deno.test({
  name: "memory: explicit dispose keeps liveBytes flat; disposing the inputs returns their bytes",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const { host, s } = setup();
    const settle = dn.zeros([1], { device: "gpu" });
    await settle.data(); // nothing pending before the baseline
    settle.dispose();
    const base = dn.counters().liveBytes;
    const x = host.x.gpu();
    const w = host.w.gpu();
    const b = host.b.gpu();
    const withInputs = dn.counters().liveBytes;
    assert.ok(withInputs > base, "inputs hold GPU memory");
    let missesAfterWarmup = -1;
    let sv = NaN;
    for (let i = 0; i < 2_000; i++) {
      const mm = dn.matmul(x, w);
      const z = dn.add(mm, b);
      mm.dispose();
      const y = dn.relu(z);
      z.dispose();
      const si = dn.sum(y);
      y.dispose();
      if (i % 500 === 499) sv = (await si.data())[0]; // occasional readbacks in between
      si.dispose();
      if (i === 600) missesAfterWarmup = dn.counters().poolMisses;
    }
    assert.equal(sv, s);
    assert.equal(dn.counters().liveBytes, withInputs, "liveBytes back to the inputs' bytes");
    assert.equal(dn.counters().poolMisses, missesAfterWarmup, "no new GPU buffers after warm-up");
    // Views share storage: the bytes return only when the last owner goes.
    const v = x.reshape(8, 4);
    x.dispose();
    assert.equal(dn.counters().liveBytes, withInputs, "a live view keeps the buffer");
    v.dispose();
    w.dispose();
    b.dispose();
    assert.equal(dn.counters().liveBytes, base, "all bytes returned");
    assert.throws(() => dn.relu(x), /relu: input 0 .* was disposed/);
  },
});

Deno.test({
  name: "memory: tidy keeps returned and kept tensors, disposes the rest, also on throw",
  ignore: !gpu,
  ...GPU_TEST,
  fn: () => {
    const base = dn.counters().liveBytes;
    const a = dn.ones([256], { device: "gpu" });
    const [r, k] = dn.tidy(() => {
      const t = dn.mul(a, 2);
      const kept = dn.keep(dn.add(t, 1));
      return [dn.exp(t), kept];
    });
    assert.equal(a.disposed, false, "inputs from outside the scope survive");
    assert.equal(r.disposed, false);
    assert.equal(k.disposed, false);
    assert.equal(dn.counters().liveBytes - base, 3 * 1024, "a, r and k are live; t was released");
    assert.throws(() =>
      dn.tidy(() => {
        dn.mul(a, 3);
        throw new Error("boom");
      }), /boom/);
    assert.equal(
      dn.counters().liveBytes - base,
      3 * 1024,
      "tensors of a throwing scope are released",
    );
    for (const t of [a, r, k]) t.dispose();
    assert.equal(dn.counters().liveBytes, base);
  },
});
