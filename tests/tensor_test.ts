/**
 * The Tensor (src/tensor/*): creation, transfers, readback and host syncs, the default
 * device, pretty printing, dispose semantics and tidy scopes.
 */

import assert from "node:assert/strict";
import {
  add,
  arange,
  counters,
  defaultDevice,
  exp,
  fromArray,
  full,
  init,
  keep,
  mul,
  ones,
  rand,
  randn,
  readAll,
  relu,
  resetCounters,
  Rng,
  seed,
  setDefaultDevice,
  type Tensor,
  tidy,
  zeros,
} from "../internals.ts";
import { GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

// ---------------------------------------------------------------------------------------
// Creation

Deno.test("zeros / ones / full: shape, dtype, device and values", async () => {
  const z = zeros([2, 3]);
  assert.deepEqual(z.shape, [2, 3]);
  assert.equal(z.size, 6);
  assert.equal(z.rank, 2);
  assert.equal(z.dtype, "f32");
  assert.equal(z.device, "cpu");
  assert.deepEqual(await z.toArray(), [[0, 0, 0], [0, 0, 0]]);
  assert.deepEqual(await ones(3).toArray(), [1, 1, 1]);
  const f = full([2, 2], 7.5, { dtype: "f64" });
  assert.equal(f.dtype, "f64");
  assert.ok(f.dataSync() instanceof Float64Array);
  assert.deepEqual(await f.toArray(), [[7.5, 7.5], [7.5, 7.5]]);
  // f64 keeps values f32 cannot hold.
  assert.equal(full([1], 0.1, { dtype: "f64" }).dataSync()[0], 0.1);
  assert.equal(full([1], 0.1).dataSync()[0], Math.fround(0.1));
  // Scalars and empty shapes.
  assert.deepEqual(zeros([]).shape, []);
  assert.equal(zeros([]).size, 1);
  assert.equal(await ones([]).item(), 1);
  assert.equal(zeros([3, 0]).size, 0);
  assert.deepEqual(await zeros([3, 0]).toArray(), [[], [], []]);
});

Deno.test("fromArray: nested, flat with shape, typed arrays, numbers, f64", async () => {
  const a = fromArray([[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(a.shape, [2, 3]);
  assert.deepEqual(Array.from(a.dataSync()), [1, 2, 3, 4, 5, 6]);
  const b = fromArray([1, 2, 3, 4, 5, 6], { shape: [3, 2] });
  assert.deepEqual(await b.toArray(), [[1, 2], [3, 4], [5, 6]]);
  const c = fromArray(new Float64Array([0.1, 0.2]));
  assert.equal(c.dtype, "f32");
  assert.deepEqual(c.shape, [2]);
  assert.equal(c.dataSync()[0], Math.fround(0.1));
  const d = fromArray(new Float32Array([1, 2, 3, 4]), { shape: [2, 1, 2], dtype: "f64" });
  assert.equal(d.dtype, "f64");
  assert.deepEqual(await d.toArray(), [[[1, 2]], [[3, 4]]]);
  const e = fromArray([[[0.1]]], { dtype: "f64" });
  assert.deepEqual(e.shape, [1, 1, 1]);
  assert.equal(e.dataSync()[0], 0.1);
  const s = fromArray(3.5);
  assert.deepEqual(s.shape, []);
  assert.equal(await s.item(), 3.5);
  assert.deepEqual(fromArray([]).shape, [0]);
  assert.deepEqual(fromArray([[], []]).shape, [2, 0]);
  // The input is copied.
  const src = [1, 2];
  const t = fromArray(src);
  src[0] = 9;
  assert.equal(t.dataSync()[0], 1);
});

Deno.test("arange like NumPy", async () => {
  assert.deepEqual(await arange(5).toArray(), [0, 1, 2, 3, 4]);
  assert.deepEqual(await arange(2, 8, 2).toArray(), [2, 4, 6]);
  assert.deepEqual(await arange(2, 9, 2).toArray(), [2, 4, 6, 8]);
  assert.deepEqual(await arange(5, 0, -1.5).toArray(), [5, 3.5, 2, 0.5]);
  assert.deepEqual(await arange(0, 1, 0.25).toArray(), [0, 0.25, 0.5, 0.75]);
  assert.deepEqual(arange(3, 3).shape, [0]);
  assert.deepEqual(arange(3, 1).shape, [0]);
  assert.equal(arange(3, undefined, 1, { dtype: "f64" }).dtype, "f64");
});

Deno.test("rand / randn are reproducible with a seed and have the right distribution", () => {
  seed(123);
  const a = rand([1000]).dataSync();
  const n1 = randn([1000]).dataSync();
  seed(123);
  const b = rand([1000]).dataSync();
  const n2 = randn([1000]).dataSync();
  assert.deepEqual(a, b);
  assert.deepEqual(n1, n2);
  seed(124);
  assert.notDeepEqual(rand([1000]).dataSync(), a);
  // An explicit generator is independent of the global one.
  const r1 = rand([50], { rng: new Rng(9) }).dataSync();
  seed(0);
  const r2 = rand([50], { rng: new Rng(9) }).dataSync();
  assert.deepEqual(r1, r2);
  // Ranges and moments (deterministic given the seed).
  const u = Array.from(rand([20000], { rng: new Rng(1), dtype: "f64" }).dataSync());
  assert.ok(u.every((v) => v >= 0 && v < 1));
  const um = u.reduce((s, v) => s + v, 0) / u.length;
  assert.ok(Math.abs(um - 0.5) < 0.01, `uniform mean ${um}`);
  assert.ok(u.some((v) => v !== Math.fround(v)), "f64 draws use the full precision");
  const z = Array.from(randn([20000], { rng: new Rng(2) }).dataSync());
  const zm = z.reduce((s, v) => s + v, 0) / z.length;
  const zv = z.reduce((s, v) => s + (v - zm) ** 2, 0) / z.length;
  assert.ok(Math.abs(zm) < 0.03, `normal mean ${zm}`);
  assert.ok(Math.abs(zv - 1) < 0.04, `normal variance ${zv}`);
  assert.deepEqual(rand([2, 3]).shape, [2, 3]);
});

// ---------------------------------------------------------------------------------------
// Transfers and readback

Deno.test({
  name: ".gpu() / await .cpu() round trip keeps shape and exact f32 values",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const x = randn([33, 7], { rng: new Rng(3) });
    const g = x.gpu();
    assert.equal(g.device, "gpu");
    assert.equal(g.dtype, "f32");
    assert.deepEqual(g.shape, [33, 7]);
    assert.equal(g.gpu(), g, "a gpu tensor's .gpu() is itself");
    const c = await g.cpu();
    assert.equal(c.device, "cpu");
    assert.deepEqual(c.shape, [33, 7]);
    assert.deepEqual(c.dataSync(), x.dataSync());
    assert.equal(await x.cpu(), x, "a cpu tensor's .cpu() is itself");
    // Scalars and empty tensors survive the trip.
    const s = await fromArray(2.5).gpu().cpu();
    assert.deepEqual(s.shape, []);
    assert.equal(await s.item(), 2.5);
    const e = fromArray([], { shape: [0, 4] }).gpu();
    assert.equal(e.device, "gpu");
    assert.deepEqual((await e.cpu()).shape, [0, 4]);
    g.dispose();
  },
});

Deno.test({
  name: "data() / toArray() / item() on gpu tensors",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const g = fromArray([[1, 2], [3, 4]], { device: "gpu" });
    const d = await g.data();
    assert.ok(d instanceof Float32Array);
    assert.deepEqual(Array.from(d), [1, 2, 3, 4]);
    d[0] = 100; // a copy
    assert.deepEqual(await g.toArray(), [[1, 2], [3, 4]]);
    assert.equal(await add(g, 1).reshape(4).data().then((v) => v[3]), 5);
    assert.equal(await fromArray([[42]], { device: "gpu" }).item(), 42);
    await assert.rejects(() => g.item(), /item: expected a one-element tensor, got shape \[2,2\]/);
    // dataSync is CPU-only and says so.
    assert.throws(() => g.dataSync(), /dataSync: expected a cpu tensor, got a gpu tensor \[2,2\]/);
    g.dispose();
  },
});

Deno.test("data() of a cpu tensor is a copy", async () => {
  const x = fromArray([1, 2, 3]);
  const d = await x.data();
  d[0] = 7;
  assert.equal(x.dataSync()[0], 1);
  assert.equal(await fromArray([[5]]).item(), 5);
});

Deno.test({
  name: "readAll of several gpu tensors is exactly one host sync",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const a = fromArray([1, 2, 3], { device: "gpu" });
    const b = mul(a, 2); // pending work, not yet submitted
    const c = add(b, fromArray([[10], [20]], { device: "gpu" }));
    const cpuT = fromArray([9]);
    resetCounters();
    const before = counters().hostSyncs;
    const [av, bv, cv, dv] = await readAll([a, b, c, cpuT]);
    assert.equal(counters().hostSyncs - before, 1, "one host sync for three gpu tensors");
    assert.deepEqual(Array.from(av), [1, 2, 3]);
    assert.deepEqual(Array.from(bv), [2, 4, 6]);
    assert.deepEqual(Array.from(cv), [12, 14, 16, 22, 24, 26]);
    assert.deepEqual(Array.from(dv), [9]);
    // Reading one at a time costs one sync each.
    const mid = counters().hostSyncs;
    await a.data();
    await b.data();
    await c.data();
    assert.equal(counters().hostSyncs - mid, 3);
    // Only cpu tensors: no sync at all.
    const end = counters().hostSyncs;
    await readAll([cpuT, fromArray([1])]);
    assert.equal(counters().hostSyncs, end);
    for (const t of [a, b, c]) t.dispose();
  },
});

// ---------------------------------------------------------------------------------------
// Default device

Deno.test({
  name: "setDefaultDevice and init choose where creation functions put tensors",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    try {
      setDefaultDevice("gpu");
      assert.equal(defaultDevice(), "gpu");
      const g = zeros([2]);
      assert.equal(g.device, "gpu");
      assert.equal(randn([3]).device, "gpu");
      assert.equal(fromArray([1, 2]).device, "gpu");
      assert.equal(arange(3).device, "gpu");
      assert.equal(zeros([2], { device: "cpu" }).device, "cpu", "explicit device wins");
      setDefaultDevice("cpu");
      assert.equal(ones([2]).device, "cpu");
      assert.equal(await init({ device: "cpu" }), "cpu");
      assert.equal(defaultDevice(), "cpu");
      assert.equal(await init({ device: "gpu" }), "gpu");
      assert.equal(defaultDevice(), "gpu");
      assert.equal(full([1], 3).device, "gpu");
      assert.throws(
        () => setDefaultDevice("tpu" as "cpu"),
        /setDefaultDevice: expected "cpu" or "gpu", got "tpu"/,
      );
      assert.equal(defaultDevice(), "gpu", "a rejected device leaves the default unchanged");
    } finally {
      setDefaultDevice("cpu");
    }
  },
});

// ---------------------------------------------------------------------------------------
// Printing

Deno.test("printing a cpu tensor shows dtype, shape, device and aligned values", () => {
  const t = fromArray([[1, 2], [3, -40]]);
  assert.equal(Deno.inspect(t), "Tensor f32[2,2] cpu\n[[  1,   2],\n [  3, -40]]");
  assert.equal(String(t), "Tensor f32[2,2] cpu");
  const f = fromArray([0.5, 1e-7, NaN, -Infinity], { dtype: "f64" });
  const s = Deno.inspect(f);
  assert.match(s, /^Tensor f64\[4\] cpu\n/);
  assert.match(s, /0\.5/);
  assert.match(s, /1\.0000e-7/);
  assert.match(s, /NaN/);
  assert.match(s, /-Inf/);
  assert.equal(Deno.inspect(fromArray(2.5)), "Tensor f32[] cpu\n2.5");
  assert.equal(Deno.inspect(zeros([0, 3])), "Tensor f32[0,3] cpu\n[]");
  const r3 = Deno.inspect(arange(8).reshape(2, 2, 2));
  assert.equal(r3, "Tensor f32[2,2,2] cpu\n[[[0, 1],\n  [2, 3]],\n\n [[4, 5],\n  [6, 7]]]");
});

Deno.test("printing a large tensor elides the middle with ...", () => {
  const t = arange(10000).reshape(100, 100);
  const s = Deno.inspect(t);
  assert.match(s, /^Tensor f32\[100,100\] cpu\n/);
  assert.ok(s.includes("..."), "elided");
  const lines = s.split("\n");
  assert.ok(lines.length <= 10, `${lines.length} lines`);
  assert.ok(s.length < 400, `${s.length} characters`);
  // First and last rows and columns are shown.
  assert.match(lines[1], /^\[\[\s*0,\s*1,\s*2, \.\.\., \s*97,\s*98,\s*99\],$/);
  assert.match(s, /9997, 9998, 9999\]\]$/);
  assert.ok(!s.includes("5050"), "a middle value is not printed");
});

Deno.test({
  name: "printing a gpu tensor: a hint before readback, the values after",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const g = fromArray([1, 2, 3], { device: "gpu" });
    assert.match(Deno.inspect(g), /^Tensor f32\[3\] gpu\n.*`await show\(t\)` prints them/);
    await g.data();
    assert.equal(Deno.inspect(g), "Tensor f32[3] gpu\n[1, 2, 3]");
    g.dispose();
    assert.equal(Deno.inspect(g), "Tensor f32[3] gpu (disposed)");
  },
});

// ---------------------------------------------------------------------------------------
// Dispose

Deno.test("a disposed cpu tensor throws errors naming the op; dispose is idempotent", async () => {
  const x = fromArray([[1, 2, 3], [4, 5, 6]]);
  const v = x.reshape(3, 2);
  x.dispose();
  assert.ok(x.disposed);
  x.dispose(); // idempotent
  assert.ok(x.disposed);
  assert.throws(() => add(x, 1), /add: input 0 \(f32\[2,3\] cpu\) was disposed/);
  assert.throws(() => relu(x), /relu: input 0 \(f32\[2,3\] cpu\) was disposed/);
  assert.throws(() => x.dataSync(), /dataSync: tensor \[2,3\] was disposed/);
  assert.throws(() => x.reshape(6), /reshape: tensor \[2,3\] was disposed/);
  await assert.rejects(() => x.data(), /data: tensor \[2,3\] was disposed/);
  await assert.rejects(() => x.toArray(), /toArray: tensor \[2,3\] was disposed/);
  const one = fromArray([[1]]);
  one.dispose();
  await assert.rejects(() => one.item(), /item: tensor \[1,1\] was disposed/);
  await assert.rejects(() => readAll([x]), /readAll: tensor 0 \[2,3\] was disposed/);
  assert.equal(Deno.inspect(x), "Tensor f32[2,3] cpu (disposed)");
  // A view made before dispose keeps its data.
  assert.deepEqual(await v.toArray(), [[1, 2], [3, 4], [5, 6]]);
});

Deno.test({
  name: "gpu dispose frees the buffer once; a reshape view keeps it alive",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const start = counters().liveBytes;
    const g = fromArray([1, 2, 3, 4, 5, 6], { device: "gpu" });
    const held = counters().liveBytes - start;
    assert.ok(held >= 24, `a live buffer is counted (${held} bytes)`);
    const v = g.reshape(2, 3);
    assert.equal(counters().liveBytes - start, held, "a view allocates nothing");
    g.dispose();
    assert.equal(counters().liveBytes - start, held, "the view keeps the buffer alive");
    assert.throws(() => mul(g, g), /mul: input 0 \(f32\[6\] gpu\) was disposed/);
    await assert.rejects(() => g.data(), /data: tensor \[6\] was disposed/);
    assert.deepEqual(await v.toArray(), [[1, 2, 3], [4, 5, 6]]);
    const w = add(v, 1);
    assert.deepEqual(await w.data(), new Float32Array([2, 3, 4, 5, 6, 7]));
    w.dispose();
    // Measured around synchronous code only: across the awaits above, the finalizer of a
    // tensor an earlier test dropped may release its buffer and move liveBytes.
    const before = counters().liveBytes;
    v.dispose();
    assert.equal(counters().liveBytes, before - held, "released after the last owner");
    v.dispose();
    g.dispose();
    assert.equal(counters().liveBytes, before - held, "idempotent: nothing released twice");
  },
});

// ---------------------------------------------------------------------------------------
// tidy

Deno.test({
  name: "tidy disposes intermediates, keeps results and keep()-ed tensors",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const x = fromArray([-1, 0, 2], { device: "gpu" });
    const start = counters().liveBytes;
    let a!: Tensor;
    let b!: Tensor;
    let k!: Tensor;
    let inner!: Tensor;
    const out = tidy(() => {
      a = mul(x, 2);
      b = add(a, 1);
      k = keep(exp(a));
      const r = tidy(() => {
        inner = mul(b, 3);
        return add(inner, 1); // moves to the outer scope...
      });
      assert.ok(inner.disposed, "inner intermediate disposed by the inner tidy");
      assert.ok(!r.disposed);
      return { y: relu(b), list: [b], map: new Map([["r", r]]) };
    });
    assert.ok(a.disposed, "intermediate disposed");
    assert.ok(!b.disposed, "returned inside an array: kept");
    assert.ok(!k.disposed, "keep()-ed: kept");
    assert.ok(!out.y.disposed);
    assert.ok(!out.map.get("r")!.disposed, "returned inside a Map: kept");
    assert.ok(!x.disposed, "created outside: untouched");
    const [y, bv, kv, r] = await readAll([out.y, b, k, out.map.get("r")!]);
    assert.deepEqual(Array.from(y), [0, 1, 5]);
    assert.deepEqual(Array.from(bv), [-1, 1, 5]);
    assert.equal(kv[1], 1);
    assert.deepEqual(Array.from(r), [-2, 4, 16]);
    for (const t of [out.y, b, k, out.map.get("r")!]) t.dispose();
    assert.equal(counters().liveBytes, start, "liveBytes back to the start");
    x.dispose();
  },
});

Deno.test({
  name: "tidy: a throwing function disposes its tensors; async functions are refused",
  ignore: !gpu,
  ...GPU_TEST,
  fn() {
    const x = fromArray([1, 2, 3], { device: "gpu" });
    const start = counters().liveBytes;
    assert.throws(() =>
      tidy(() => {
        mul(x, x);
        add(x, 1);
        throw new Error("boom");
      }), /boom/);
    assert.equal(counters().liveBytes, start);
    assert.throws(
      () => tidy(() => Promise.resolve(add(x, 1)) as unknown as Tensor),
      /tidy: the function must be synchronous/,
    );
    assert.equal(counters().liveBytes, start);
    // Hundreds of steps in tidy keep liveBytes flat.
    for (let i = 0; i < 300; i++) tidy(() => relu(add(mul(x, 2), -1))).dispose();
    assert.equal(counters().liveBytes, start);
    x.dispose();
  },
});
