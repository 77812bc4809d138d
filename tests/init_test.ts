/**
 * Initialisers (src/init.ts): shapes and argument forms, Knet's fan-in/fan-out for our
 * row-major dims, xavier bounds and sample variances against theory on large draws,
 * gaussian moments, reproducibility with seeded generators, bilinear filters computed by
 * hand, param / param0, GPU placement, and the errors.
 *
 * Statistical tolerances: a sample variance of n draws has relative standard error
 * √((κ − 1)/n) (κ = 9/5 for a uniform, 3 for a normal); the bounds below are ≥ 6 such
 * errors, and the draws are seeded, so the tests are deterministic.
 */

import assert from "node:assert/strict";
import { Param } from "../src/autograd/param.ts";
import {
  bilinear,
  fans,
  gaussian,
  param,
  param0,
  xavier,
  xavierNormal,
  xavierUniform,
} from "../src/init.ts";
import { fromArray, zeros } from "../src/tensor/create.ts";
import { globalRng, Rng, seed } from "../src/tensor/random.ts";
import type { Tensor } from "../src/tensor/tensor.ts";
import { assertClose, GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

function moments(v: ArrayLike<number>): { mean: number; variance: number; maxAbs: number } {
  let s = 0;
  let maxAbs = 0;
  for (let i = 0; i < v.length; i++) {
    s += v[i];
    maxAbs = Math.max(maxAbs, Math.abs(v[i]));
  }
  const mean = s / v.length;
  let q = 0;
  for (let i = 0; i < v.length; i++) q += (v[i] - mean) ** 2;
  return { mean, variance: q / (v.length - 1), maxAbs };
}

const near = (got: number, want: number, rel: number, what: string) =>
  assert.ok(Math.abs(got - want) <= rel * Math.abs(want), `${what}: ${got} vs ${want} (±${rel})`);

Deno.test("fans: Knet's fan-in/fan-out for row-major dims", () => {
  assert.deepEqual(fans([7]), [7, 1]);
  assert.deepEqual(fans([784, 100]), [784, 100]); // dense [in, out]
  assert.deepEqual(fans([8, 3, 5, 5]), [75, 200]); // conv [O, I, kH, kW]
  assert.deepEqual(fans([8, 3, 5]), [15, 40]); // conv1d [O, I, k]
  assert.deepEqual(fans([8, 3, 2, 3, 4]), [72, 192]); // conv3d
});

Deno.test("initialisers: shapes, argument forms, dtype and default device", () => {
  const forms: [string, Tensor, number[]][] = [
    ["xavierUniform(3, 4)", xavierUniform(3, 4), [3, 4]],
    ["xavierUniform([3, 4])", xavierUniform([3, 4]), [3, 4]],
    ["xavier(2, 3, 4, 5, opts)", xavier(2, 3, 4, 5, { gain: 2 }), [2, 3, 4, 5]],
    ["xavierNormal(6)", xavierNormal(6), [6]],
    ["gaussian([2, 2], opts)", gaussian([2, 2], { std: 1 }), [2, 2]],
    ["gaussian(5, 0)", gaussian(5, 0), [5, 0]],
  ];
  for (const [what, t, shape] of forms) {
    assert.deepEqual(t.shape, shape, what);
    assert.equal(t.dtype, "f32", what);
    assert.equal(t.device, "cpu", what);
  }
  const d = xavierUniform(3, 4, { dtype: "f64" });
  assert.equal(d.dtype, "f64");
  assert.equal(xavier, xavierUniform);
});

Deno.test("xavierUniform: within ±gain·√(6/(fanin+fanout)), variance 2·gain²/(fanin+fanout)", () => {
  const rng = new Rng(1);
  const cases: [number[], number, number][] = [
    [[400, 600], 1000, 1], // dense: fanin + fanout = 400 + 600
    [[64, 32, 3, 3], (32 + 64) * 9, 1], // conv [O, I, kH, kW]: (I + O)·kH·kW
    [[200, 300], 500, 2.5],
  ];
  for (const [shape, fsum, gain] of cases) {
    const v = xavierUniform(shape, { rng, gain, dtype: "f64" }).dataSync();
    const limit = gain * Math.sqrt(6 / fsum);
    const m = moments(v);
    assert.ok(m.maxAbs <= limit, `[${shape}]: max |w| ${m.maxAbs} ≤ ${limit}`);
    assert.ok(m.maxAbs > 0.999 * limit, `[${shape}]: the range is used up to ${limit}`);
    const rse = Math.sqrt(0.8 / v.length);
    near(m.variance, limit * limit / 3, 6 * rse, `[${shape}] variance`);
    assert.ok(Math.abs(m.mean) < 6 * limit / Math.sqrt(3 * v.length), `[${shape}] mean ${m.mean}`);
  }
  // f32: rounded values stay within the f32-rounded limit.
  const w = xavierUniform(50, 70, { rng });
  const limit = Math.fround(Math.sqrt(6 / 120));
  assert.ok(w.dataSync().every((x) => Math.abs(x) <= limit));
});

Deno.test("xavierNormal: mean 0, std gain·√(2/(fanin+fanout)), normal tails", () => {
  const rng = new Rng(2);
  for (const [shape, fsum, gain] of [[[400, 600], 1000, 1], [[64, 32, 3, 3], 864, 3]] as const) {
    const v = xavierNormal([...shape], { rng, gain, dtype: "f64" }).dataSync();
    const sd = gain * Math.sqrt(2 / fsum);
    const m = moments(v);
    near(m.variance, sd * sd, 6 * Math.sqrt(2 / v.length), `[${shape}] variance`);
    assert.ok(Math.abs(m.mean) < 6 * sd / Math.sqrt(v.length), `[${shape}] mean ${m.mean}`);
    assert.ok(m.maxAbs > 3 * sd, `[${shape}]: normal tails (a uniform stops at 1.73 sd)`);
  }
});

Deno.test("gaussian: default mean 0 and std 0.01; custom mean and std", () => {
  const rng = new Rng(3);
  const n = 200_000;
  const a = moments(gaussian(n, { rng, dtype: "f64" }).dataSync());
  near(Math.sqrt(a.variance), 0.01, 6 * Math.sqrt(0.5 / n), "default std");
  assert.ok(Math.abs(a.mean) < 6 * 0.01 / Math.sqrt(n), `default mean ${a.mean}`);
  const b = moments(gaussian(n, { rng, mean: 5, std: 2, dtype: "f64" }).dataSync());
  near(Math.sqrt(b.variance), 2, 6 * Math.sqrt(0.5 / n), "std 2");
  assert.ok(Math.abs(b.mean - 5) < 6 * 2 / Math.sqrt(n), `mean 5: ${b.mean}`);
  assert.ok(gaussian(10, { std: 0, mean: 3 }).dataSync().every((v) => v === 3));
});

Deno.test("reproducible: the same seed gives the same values, another seed others", () => {
  for (const f of [xavierUniform, xavierNormal, gaussian]) {
    const a = f(30, 40, { rng: new Rng(7) }).dataSync();
    const b = f(30, 40, { rng: new Rng(7) }).dataSync();
    const c = f(30, 40, { rng: new Rng(8) }).dataSync();
    assert.deepEqual(a, b, `${f.name}: same seed`);
    assert.notDeepEqual(a, c, `${f.name}: another seed`);
  }
  // The global generator, through seed().
  seed(11);
  const a = xavierUniform(5, 5).dataSync();
  const p = param(5, 5).dataSync();
  seed(11);
  assert.deepEqual(xavierUniform(5, 5).dataSync(), a);
  assert.deepEqual(param(5, 5).dataSync(), p);
  assert.notDeepEqual(a, p, "the generator advances");
  // Values are a function of the draws: u → 2su − s.
  const r = new Rng(9);
  const s = Math.sqrt(6 / 7);
  const want = Array.from({ length: 12 }, () => 2 * s * r.uniform() - s);
  assertClose(xavierUniform(3, 4, { rng: new Rng(9), dtype: "f64" }).dataSync(), want, {
    rtol: 1e-15,
    atol: 0,
  });
  assert.ok(globalRng instanceof Rng);
});

Deno.test("bilinear: Knet's upsampling filters, computed by hand", () => {
  // factor 2: k = 4, centre 1.5, 1-D weights 1 − |u − 1.5|/2 = [1/4, 3/4, 3/4, 1/4].
  const w = bilinear(2, 2, { dtype: "f64" });
  assert.deepEqual(w.shape, [2, 2, 4, 4]);
  const k1 = [0.25, 0.75, 0.75, 0.25];
  const kernel = k1.flatMap((a) => k1.map((b) => a * b));
  const v = w.dataSync();
  for (let o = 0; o < 2; o++) {
    for (let i = 0; i < 2; i++) {
      const block = Array.from(v.subarray((o * 2 + i) * 16, (o * 2 + i + 1) * 16));
      assert.deepEqual(block, o === i ? kernel : Array(16).fill(0), `channel pair (${o}, ${i})`);
    }
  }
  // factor 3: k = 5, centre 2, weights 1 − |u − 2|/3 = [1/3, 2/3, 1, 2/3, 1/3].
  const k3 = [1 / 3, 2 / 3, 1, 2 / 3, 1 / 3];
  const w3 = bilinear(3, 1, { dtype: "f64" });
  assert.deepEqual(w3.shape, [1, 1, 5, 5]);
  assertClose(w3.dataSync(), k3.flatMap((a) => k3.map((b) => a * b)), { rtol: 1e-15, atol: 0 });
  // factor 1: the identity filter [1].
  assert.deepEqual(Array.from(bilinear(1, 3).dataSync()), [1, 0, 0, 0, 1, 0, 0, 0, 1]);
});

Deno.test("param, param0: Params with the initialiser, dtype and device asked for", () => {
  const p = param(3, 4, { rng: new Rng(5) });
  assert.ok(p instanceof Param);
  assert.deepEqual(p.shape, [3, 4]);
  assert.deepEqual(p.dataSync(), xavierUniform(3, 4, { rng: new Rng(5) }).dataSync(), "default");
  const g = param([3, 4], { rng: new Rng(5), init: gaussian, dtype: "f64" });
  assert.equal(g.dtype, "f64");
  assert.deepEqual(g.dataSync(), gaussian(3, 4, { rng: new Rng(5), dtype: "f64" }).dataSync());
  const custom = param(2, 2, { init: (s, o) => gaussian(s, { ...o, std: 0, mean: 7 }) });
  assert.deepEqual(Array.from(custom.dataSync()), [7, 7, 7, 7]);
  const z = param0(2, 3, { dtype: "f64" });
  assert.ok(z instanceof Param);
  assert.equal(z.dtype, "f64");
  assert.deepEqual(Array.from(z.dataSync()), [0, 0, 0, 0, 0, 0]);
  // param(tensor) wraps it, sharing storage (Knet's Param(array)).
  const t = fromArray([1, 2, 3], { device: "cpu" });
  const q = param(t);
  assert.ok(q instanceof Param);
  q.host()[0] = 9;
  assert.equal(t.dataSync()[0], 9, "shared storage");
  assert.equal(param(t, { dtype: "f64" }).dtype, "f64");
  assert.ok(param(bilinear(2, 4)) instanceof Param);
});

Deno.test({
  name: "initialisers and param on the GPU: same values as on the CPU",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    for (const f of [xavierUniform, xavierNormal, gaussian]) {
      const a = f(17, 9, { rng: new Rng(4), device: "gpu" });
      assert.equal(a.device, "gpu");
      assert.deepEqual(await a.data(), f(17, 9, { rng: new Rng(4) }).dataSync(), f.name);
      a.dispose();
    }
    const p = param(8, 3, 3, 3, { rng: new Rng(4), device: "gpu" });
    assert.ok(p instanceof Param);
    assert.equal(p.device, "gpu");
    assert.deepEqual(await p.data(), xavierUniform(8, 3, 3, 3, { rng: new Rng(4) }).dataSync());
    const z = param0(4, { device: "gpu" });
    assert.deepEqual(Array.from(await z.data()), [0, 0, 0, 0]);
    const b = bilinear(2, 3, { device: "gpu" });
    assert.deepEqual(await b.data(), bilinear(2, 3).dataSync());
    // param(cpu tensor, { device: "gpu" }) moves a copy (f64 converted to f32).
    const m = param(fromArray([1.5, 2.5], { dtype: "f64", device: "cpu" }), { device: "gpu" });
    assert.equal(m.device, "gpu");
    assert.deepEqual(Array.from(await m.data()), [1.5, 2.5]);
    const onGpu = zeros(2, { device: "gpu" });
    assert.throws(() => param(onGpu, { device: "cpu" }), /param: .* needs a host sync/);
    assert.throws(
      () => xavierUniform(2, 2, { device: "gpu", dtype: "f64" }),
      /xavierUniform: .*f32 only/,
    );
    for (const t of [p, z, b, m, onGpu]) t.dispose();
  },
});

Deno.test("initialisers: errors name the function and the bad argument", () => {
  assert.throws(() => xavierUniform(), /xavierUniform: needs at least one dimension/);
  assert.throws(() => gaussian(3, -1), /gaussian: invalid shape \[3,-1\]/);
  assert.throws(() => xavierNormal(2.5, 3), /xavierNormal: invalid shape/);
  assert.throws(() => param0([]), /param0: needs at least one dimension/);
  assert.throws(() => xavier(3, 3, { gain: NaN }), /xavierUniform: gain must be a finite number/);
  assert.throws(() => gaussian(3, { std: -1 }), /gaussian: .* std finite and ≥ 0/);
  assert.throws(() => bilinear(0, 3), /bilinear: factor must be a positive integer, got 0/);
  assert.throws(() => bilinear(2, 1.5), /bilinear: channels must be a non-negative integer/);
  assert.throws(
    () => param(2, 2, { init: () => zeros([3]) }),
    /param: init returned shape \[3\] for dims \[2,2\]/,
  );
  const t = zeros([2], { device: "cpu" });
  assert.throws(
    () => xavierUniform(t as unknown as number),
    /xavierUniform: expected dimensions, got a Tensor/,
  );
});
