/**
 * minibatch: Knet's batch counts with and without `partial`, shuffling (each instance once
 * per pass, a new order per pass, reproducible with a seed), re-iteration, y aligned with
 * x, dtypes, the ownership rule (batches disposed as the iterator advances), GPU batches
 * equal to CPU ones with flat GPU memory and no host syncs, and the argument errors.
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import { type Data, minibatch } from "../src/data/mod.ts";
import { GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

/** x [n, 3] with row i = [3i, 3i+1, 3i+2]; y [n] with y[i] = i. */
function toy(n: number, dtype: dn.DType = "f32"): { x: dn.Tensor; y: dn.Tensor } {
  const xv = Array.from({ length: n * 3 }, (_, k) => k);
  const yv = Array.from({ length: n }, (_, i) => i);
  return {
    x: dn.fromArray(xv, { shape: [n, 3], dtype, device: "cpu" }),
    y: dn.fromArray(yv, { shape: [n], dtype, device: "cpu" }),
  };
}

/** The y values of every batch of one pass (CPU data), checking x rows match them. */
function pass(d: Data<[dn.Tensor, dn.Tensor]>): number[][] {
  const out: number[][] = [];
  for (const [xb, yb] of d) {
    const xs = xb.dataSync();
    const ys = Array.from(yb.dataSync());
    assert.deepEqual(xb.shape, [ys.length, 3]);
    ys.forEach((i, r) => {
      assert.deepEqual(Array.from(xs.subarray(3 * r, 3 * r + 3)), [3 * i, 3 * i + 1, 3 * i + 2]);
    });
    out.push(ys);
  }
  return out;
}

Deno.test("minibatch: batch counts and sizes with and without partial (Knet's floor/ceil)", () => {
  const { x, y } = toy(10);
  const d = minibatch(x, y, 3, { device: "cpu" });
  assert.equal(d.length, 3);
  assert.equal(d.n, 10);
  assert.equal(d.batchSize, 3);
  assert.deepEqual(pass(d), [[0, 1, 2], [3, 4, 5], [6, 7, 8]]);
  const p = minibatch(x, y, 3, { partial: true, device: "cpu" });
  assert.equal(p.length, 4);
  assert.deepEqual(pass(p), [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]);
  const exact = minibatch(x, y, 5, { partial: true, device: "cpu" });
  assert.equal(exact.length, 2);
  assert.deepEqual(pass(exact).map((b) => b.length), [5, 5]);
});

Deno.test("minibatch: x alone yields tensors; trailing dims of x and y are kept", () => {
  const x = dn.fromArray(Array.from({ length: 6 * 4 }, (_, k) => k), {
    shape: [6, 1, 2, 2],
    device: "cpu",
  });
  const batches = [...minibatch(x, 4, { partial: true, device: "cpu" })];
  assert.equal(batches.length, 2);
  assert.ok(batches[0] instanceof dn.Tensor);
  assert.deepEqual(batches.map((b) => b.shape), [[4, 1, 2, 2], [2, 1, 2, 2]]);

  const y2 = dn.fromArray(Array.from({ length: 12 }, (_, k) => k), {
    shape: [6, 2],
    device: "cpu",
  });
  const it = minibatch(x, y2, 4, { device: "cpu" })[Symbol.iterator]();
  const first = it.next();
  assert.ok(!first.done);
  const [xb, yb] = first.value;
  assert.deepEqual(xb.shape, [4, 1, 2, 2]);
  assert.deepEqual(yb.shape, [4, 2]);
  assert.deepEqual(Array.from(yb.dataSync()), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(Array.from(xb.dataSync()).slice(12), [12, 13, 14, 15]);
  it.return();
});

Deno.test("minibatch: shuffle covers each instance once per pass, a new order each pass", () => {
  const n = 50;
  const { x, y } = toy(n);
  const d = minibatch(x, y, 7, { shuffle: true, partial: true, seed: 42, device: "cpu" });
  const passes = [pass(d), pass(d), pass(d)];
  for (const p of passes) {
    assert.equal(p.length, 8);
    const all = p.flat().sort((a, b) => a - b);
    assert.deepEqual(all, Array.from({ length: n }, (_, i) => i), "each instance exactly once");
  }
  assert.notDeepEqual(passes[0], passes[1], "pass 2 reshuffled");
  assert.notDeepEqual(passes[1], passes[2], "pass 3 reshuffled");
  assert.notDeepEqual(passes[0].flat(), Array.from({ length: n }, (_, i) => i), "not in order");

  // Reproducible: the same seed gives the same sequence of passes; another seed does not.
  const again = minibatch(x, y, 7, { shuffle: true, partial: true, seed: 42, device: "cpu" });
  assert.deepEqual([pass(again), pass(again), pass(again)], passes);
  const other = minibatch(x, y, 7, { shuffle: true, partial: true, seed: 43, device: "cpu" });
  assert.notDeepEqual(pass(other), passes[0]);
  // An explicit rng works the same way as a seed.
  const withRng = minibatch(x, y, 7, {
    shuffle: true,
    partial: true,
    rng: new dn.Rng(42),
    device: "cpu",
  });
  assert.deepEqual(pass(withRng), passes[0]);
});

Deno.test("minibatch: shuffled without partial drops a different remainder each pass", () => {
  const { x, y } = toy(10);
  const d = minibatch(x, y, 4, { shuffle: true, seed: 7, device: "cpu" });
  const seen = new Set<string>();
  for (let k = 0; k < 5; k++) {
    const p = pass(d);
    assert.equal(p.length, 2);
    const flat = p.flat();
    assert.equal(new Set(flat).size, 8, "no instance twice in a pass");
    seen.add(flat.sort((a, b) => a - b).join(","));
  }
  assert.ok(seen.size > 1, "the dropped instances vary between passes");
});

Deno.test("minibatch: re-iteration starts over; passes interleave independently", () => {
  const { x, y } = toy(6);
  const d = minibatch(x, y, 2, { device: "cpu" });
  assert.deepEqual(pass(d), pass(d));
  const a = d[Symbol.iterator]();
  const b = d[Symbol.iterator]();
  const a1 = a.next();
  const b1 = b.next();
  const a2 = a.next();
  assert.ok(!a1.done && !b1.done && !a2.done);
  assert.deepEqual(Array.from(b1.value[1].dataSync()), [0, 1]);
  assert.deepEqual(Array.from(a2.value[1].dataSync()), [2, 3]);
  a.return();
  b.return();
});

Deno.test("minibatch: a batch is disposed when the iterator advances, finishes or breaks", () => {
  const { x, y } = toy(6);
  const d = minibatch(x, y, 2, { device: "cpu" });
  const kept: dn.Tensor[] = [];
  let clone: dn.Tensor | null = null;
  for (const [xb, yb] of d) {
    assert.ok(!xb.disposed && !yb.disposed, "valid while current");
    for (const t of kept) assert.ok(t.disposed, "the previous batch was disposed");
    if (clone === null) clone = dn.clone(xb);
    kept.push(xb, yb);
  }
  assert.equal(kept.length, 6);
  assert.ok(kept.every((t) => t.disposed), "the last batch is disposed when the pass ends");
  assert.deepEqual(Array.from(clone!.dataSync()), [0, 1, 2, 3, 4, 5], "a clone survives");

  let last: dn.Tensor | null = null;
  for (const [xb] of d) {
    last = xb;
    break;
  }
  assert.ok(last!.disposed, "break disposes the current batch");
  // The source is untouched.
  assert.ok(!x.disposed && !y.disposed);
  assert.equal(x.dataSync()[17], 17);
});

Deno.test("minibatch: CPU batches keep the source dtype (f64 stays f64)", () => {
  const { x, y } = toy(5, "f64");
  const [xb, yb] = [...minibatch(x, y, 5, { device: "cpu" })][0];
  assert.equal(xb.dtype, "f64");
  assert.equal(yb.dtype, "f64");
  assert.ok(xb.disposed, "spread drained the pass, so the batch was disposed");
  const it = minibatch(x, y, 5, { device: "cpu" })[Symbol.iterator]();
  const r = it.next();
  assert.ok(!r.done);
  assert.ok(r.value[0].dataSync() instanceof Float64Array);
  it.return();
});

Deno.test("minibatch: fewer instances than batchSize shrinks the batch with a warning (Knet)", () => {
  const { x, y } = toy(3);
  const warn = console.warn;
  const messages: string[] = [];
  console.warn = (m: string) => void messages.push(m);
  try {
    const d = minibatch(x, y, 8, { device: "cpu" });
    assert.equal(d.batchSize, 3);
    assert.equal(d.length, 1);
  } finally {
    console.warn = warn;
  }
  assert.equal(messages.length, 1);
  assert.match(messages[0], /minibatch: 3 instances are fewer than batchSize 8/);
});

Deno.test("minibatch: argument errors name minibatch and the values", () => {
  const { x, y } = toy(4);
  for (const b of [0, -2, 2.5, NaN, Infinity]) {
    assert.throws(
      () => minibatch(x, y, b),
      new RegExp(`minibatch: batchSize must be a positive integer, got ${b}`),
    );
  }
  assert.throws(
    () => minibatch(x, y, "2" as unknown as number),
    /minibatch: batchSize must be a positive integer, got 2/,
  );
  const y5 = dn.zeros([5], { device: "cpu" });
  assert.throws(
    () => minibatch(x, y5, 2),
    /minibatch: x and y have different numbers of instances: x \[4,3\] has 4, y \[5\] has 5/,
  );
  assert.throws(
    () => minibatch(dn.zeros([0, 3], { device: "cpu" }), 2),
    /minibatch: no data: x \[0,3\] has 0 instances/,
  );
  assert.throws(() => minibatch(dn.zeros([], { device: "cpu" }), 1), /minibatch: x is a scalar/);
  assert.throws(
    () => minibatch(x, y, 2, { seed: 1, rng: new dn.Rng(1) }),
    /minibatch: pass either seed or rng/,
  );
  assert.throws(
    () => minibatch(x, y, 2, { device: "tpu" as dn.DeviceName }),
    /minibatch: unknown device "tpu"/,
  );
  const dead = dn.zeros([4, 3], { device: "cpu" });
  dead.dispose();
  assert.throws(() => minibatch(dead, 2), /minibatch: x \[4,3\] was disposed/);
});

Deno.test({
  name: "minibatch: GPU batches equal CPU batches (f64 source uploaded as f32), no host sync",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const { x, y } = toy(23, "f64");
    const opts = { shuffle: true, partial: true, seed: 5 } as const;
    const cpu = minibatch(x, y, 6, { ...opts, device: "cpu" });
    const dev = minibatch(x, y, 6, { ...opts, device: "gpu" });
    const expected: number[][][] = [];
    for (const [xb, yb] of cpu) {
      expected.push([Array.from(xb.dataSync()), Array.from(yb.dataSync())]);
    }
    const got: dn.Tensor[][] = [];
    const syncsBefore = dn.counters().hostSyncs;
    const it = dev[Symbol.iterator]();
    for (let r = it.next(); !r.done; r = it.next()) {
      const [xb, yb] = r.value;
      assert.equal(xb.device, "gpu");
      assert.equal(xb.dtype, "f32");
      // Keep copies (the batches themselves are disposed when the iterator advances).
      got.push([dn.clone(xb), dn.clone(yb)]);
    }
    assert.equal(dn.counters().hostSyncs, syncsBefore, "iterating made no host sync");
    assert.equal(got.length, 4);
    const values = await dn.readAll(got.flat());
    got.forEach((_, k) => {
      assert.deepEqual(got[k][0].shape, [expected[k][1].length, 3]);
      assert.deepEqual(Array.from(values[2 * k]), expected[k][0], `x of batch ${k}`);
      assert.deepEqual(Array.from(values[2 * k + 1]), expected[k][1], `y of batch ${k}`);
    });
    for (const t of got.flat()) t.dispose();
  },
});

Deno.test({
  name: "minibatch: GPU memory stays flat over 3 passes; buffers recycled after the first",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const { x, y } = toy(40);
    const d = minibatch(x, y, 8, { shuffle: true, partial: true, seed: 1, device: "gpu" });
    await dn.gpuRuntime().sync();
    const base = dn.counters().liveBytes;
    const afterPass: number[] = [];
    const misses: number[] = [];
    let checksum = 0;
    for (let epoch = 0; epoch < 3; epoch++) {
      for (const [xb, yb] of d) {
        // Use the batch on the device, as a training step would.
        dn.tidy(() => {
          checksum += dn.add(dn.sum(xb), dn.sum(yb)).size;
        });
        assert.ok(dn.counters().liveBytes > base, "the current batch is live");
      }
      afterPass.push(dn.counters().liveBytes);
      misses.push(dn.counters().poolMisses);
    }
    assert.equal(checksum, 15, "5 batches × 3 passes");
    assert.deepEqual(afterPass, [base, base, base], "liveBytes back to the baseline every pass");
    assert.equal(misses[2], misses[1], "no new GPU buffers in the third pass");
    assert.equal(misses[1], misses[0], "no new GPU buffers in the second pass");
  },
});

Deno.test("minibatch: device gpu without an initialised GPU is a clear error", {
  ignore: gpu,
}, () => {
  const { x } = toy(4);
  assert.throws(() => minibatch(x, 2, { device: "gpu" }), /minibatch: device gpu was requested/);
});
