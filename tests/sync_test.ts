/**
 * Host syncs and command batching (src/gpu/runtime.ts through the ops): a chain of 50
 * dispatches followed by one `data()` costs exactly one host sync, `readAll` of several
 * tensors costs one, the dispatch counter equals the kernel launches each op is known to
 * make, and submits stay within ⌈dispatches / maxDispatchesPerSubmit⌉ + 1.
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import { gpuRuntime } from "../src/gpu/runtime.ts";
import { assertClose, F32_TOL, GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

/** Small integers: gemm, add, relu, neg, sums and ×0.5 on them are exact in f32. */
function ints(n: number, rng: dn.Rng): number[] {
  return Array.from({ length: n }, () => rng.int(7) - 3);
}

/**
 * One round of the mixed chain: 10 dispatches (gemm 1, add 1, relu 1, softmax 1,
 * sum over the last axis 1, sum over axis 0 (one strided pass) 1, mul 1, abs 1, neg 1,
 * axpy 1).
 * Returns the tensors it made. Every round reads the same x (values stay small and exact).
 */
function round(x: dn.Tensor, w: dn.Tensor, b: dn.Tensor, acc: dn.Tensor) {
  const mm = dn.matmul(x, w); // [4,8]·[8,8]: 1 (gemm)
  const z = dn.add(mm, b); // broadcast add: 1
  const h = dn.relu(z); // 1
  const p = dn.softmax(h); // last axis: 1
  const rs = dn.sum(h, -1); // trailing axis: 1
  const cs = dn.sum(h, 0); // leading axis, strided: 1
  const half = dn.mul(cs, 0.5); // 1
  const a = dn.abs(half); // 1 (h ≥ 0: a = half)
  const n = dn.neg(a); // 1
  dn.axpy(1, rs, acc); // acc += rs: 1
  return { tensors: [mm, z, h, p, rs, cs, half, a, n], p, n };
}
const DISPATCHES_PER_ROUND = 10;
const ROUNDS = 5;

/** The same chain on the CPU, for the expected values. */
function expectedChain(xv: number[], wv: number[], bv: number[]) {
  const o = { device: "cpu" as const };
  const x = dn.fromArray(xv, { ...o, shape: [4, 8] });
  const w = dn.fromArray(wv, { ...o, shape: [8, 8] });
  const b = dn.fromArray(bv, { ...o, shape: [8] });
  const acc = dn.zeros([4], o);
  let r = round(x, w, b, acc);
  for (let i = 1; i < ROUNDS; i++) r = round(x, w, b, acc);
  return { p: r.p.dataSync(), n: r.n.dataSync(), acc: acc.dataSync() };
}

async function runChain(maxPerSubmit?: number) {
  const rng = new dn.Rng(7);
  const [xv, wv, bv] = [ints(32, rng), ints(64, rng), ints(8, rng).map((v) => v + 2)];
  const o = { device: "gpu" as const };
  const x0 = dn.fromArray(xv, { ...o, shape: [4, 8] });
  const w = dn.fromArray(wv, { ...o, shape: [8, 8] });
  const b = dn.fromArray(bv, { ...o, shape: [8] });
  const acc = dn.zeros([4], o);
  // Compile every pipeline and settle pending uploads first, so only the chain is counted.
  const warm = round(x0, w, b, acc);
  dn.fill(acc, 0);
  await acc.data();
  warm.tensors.forEach((t) => t.dispose());

  const rt = gpuRuntime();
  const saved = rt.maxDispatchesPerSubmit;
  if (maxPerSubmit !== undefined) rt.maxDispatchesPerSubmit = maxPerSubmit;
  try {
    const c0 = dn.counters();
    const made: dn.Tensor[] = [];
    let r = round(x0, w, b, acc);
    made.push(...r.tensors);
    for (let i = 1; i < ROUNDS; i++) {
      r = round(x0, w, b, acc);
      made.push(...r.tensors);
    }
    const c1 = dn.counters();
    assert.equal(c1.hostSyncs - c0.hostSyncs, 0, "no host sync while encoding");
    const n = await r.n.data();
    const c2 = dn.counters();
    const result = { c0, c1, c2, n, p: r.p, acc, expected: expectedChain(xv, wv, bv) };
    return { ...result, cleanup: () => [x0, w, b, acc, ...made].forEach((t) => t.dispose()) };
  } finally {
    rt.maxDispatchesPerSubmit = saved;
  }
}

Deno.test({
  name: "sync: 50 mixed dispatches + one data() = one host sync; dispatch and submit counts",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const { c0, c1, c2, n, p, acc, expected, cleanup } = await runChain();
    const dispatches = c2.dispatches - c0.dispatches;
    assert.equal(dispatches, ROUNDS * DISPATCHES_PER_ROUND, "kernel launches");
    assert.equal(c2.hostSyncs - c0.hostSyncs, 1, "exactly one host sync");
    const max = gpuRuntime().maxDispatchesPerSubmit;
    const submits = c2.submits - c0.submits;
    assert.ok(submits >= 1 && submits <= Math.ceil(dispatches / max) + 1, `submits ${submits}`);
    assert.equal(
      c1.submits - c0.submits,
      Math.floor(dispatches / max),
      "no submit before the threshold",
    );
    assert.equal(c2.pipelinesCompiled - c0.pipelinesCompiled, 0, "pipelines are cached");
    // The values are right (integers are exact; softmax within F32_TOL).
    assertClose(n, expected.n, { rtol: 0, atol: 0 }, "chain result");
    // Reading three more tensors: one more sync, and exactly their bytes.
    const [pv, av, nv] = await dn.readAll([p, acc, dn.neg(dn.fromArray(n, { device: "gpu" }))]);
    const c3 = dn.counters();
    assert.equal(c3.hostSyncs - c2.hostSyncs, 1, "readAll of three tensors = one sync");
    assert.equal(c3.readbackBytes - c2.readbackBytes, (32 + 4 + 8) * 4);
    assertClose(pv, expected.p, F32_TOL, "softmax");
    assertClose(av, expected.acc, { rtol: 0, atol: 0 }, "acc");
    assertClose(nv, Array.from(n, (v) => -v), { rtol: 0, atol: 0 }, "neg");
    cleanup();
  },
});

Deno.test({
  name:
    "sync: with maxDispatchesPerSubmit = 16, 50 dispatches submit at the threshold and sync once",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const { c0, c1, c2, n, expected, cleanup } = await runChain(16);
    const dispatches = c2.dispatches - c0.dispatches;
    assert.equal(dispatches, 50);
    assert.equal(c1.submits - c0.submits, 3, "auto-submits at 16, 32, 48 dispatches");
    const submits = c2.submits - c0.submits;
    assert.ok(submits <= Math.ceil(dispatches / 16) + 1, `submits ${submits}`);
    assert.equal(submits, 4, "the readback submits the remaining 2");
    assert.equal(c2.hostSyncs - c0.hostSyncs, 1, "still exactly one host sync");
    assertClose(n, expected.n, { rtol: 0, atol: 0 }, "chain result across submits");
    cleanup();
  },
});

Deno.test({
  name: "sync: item(), cpu(), readAll of CPU and empty tensors, and no sync for uploads",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const c0 = dn.counters();
    const a = dn.fromArray([1, 2, 3], { device: "gpu" });
    const s = dn.sum(a);
    const e = dn.zeros([0, 3], { device: "gpu" });
    assert.equal(dn.counters().hostSyncs, c0.hostSyncs, "uploads and dispatches do not sync");
    assert.equal(await s.item(), 6);
    assert.equal(dn.counters().hostSyncs - c0.hostSyncs, 1, "item() = one sync");
    const [av, cv, ev] = await dn.readAll([a, dn.fromArray([5], { device: "cpu" }), e]);
    assert.equal(
      dn.counters().hostSyncs - c0.hostSyncs,
      2,
      "readAll with CPU/empty tensors = one sync",
    );
    assert.deepEqual([Array.from(av), Array.from(cv), ev.length], [[1, 2, 3], [5], 0]);
    await dn.readAll([dn.fromArray([1], { device: "cpu" }), e]);
    assert.equal(
      dn.counters().hostSyncs - c0.hostSyncs,
      2,
      "readAll with nothing on the GPU does not sync",
    );
    const ac = await a.cpu();
    assert.equal(ac.device, "cpu");
    assert.equal(dn.counters().hostSyncs - c0.hostSyncs, 3, "cpu() = one sync");
    for (const t of [a, s, e]) t.dispose();
  },
});
