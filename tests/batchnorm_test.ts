/**
 * batchnorm, bnmoments, bnparams (src/ops/batchnorm.ts): normalisation in training mode,
 * the running-statistics recurrence (biased variance, as Knet's CPU code), inference
 * with the running statistics, the training default following `diff`, f64 gradient
 * checks in both modes, GPU = CPU for values and gradients, flat GPU memory over 100
 * training steps without host syncs, and errors.
 *
 * References are computed here in f64 JavaScript from the definitions.
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import type { DeviceName, DType, Tensor } from "../internals.ts";
import { batchnorm, BNMoments, bnmoments, bnparams } from "../src/ops/batchnorm.ts";
import { assertClose, GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

/** gcheck options for f64 (as tests/grad_ops_test.ts). */
const F64_GCHECK = { atol: 1e-6, rtol: 1e-6, delta: 1e-6 } as const;
/** f64 CPU against the f64 reference: only rounding differs. */
const F64_TOL = { rtol: 1e-12, atol: 1e-12 } as const;
/**
 * GPU f32 against CPU f32: reductions run in another order and normalisation divides by
 * a standard deviation, so allow a few f32 ulps of relative error on O(1) values.
 */
const GPU_TOL = { rtol: 1e-4, atol: 2e-5 } as const;

const EPS = 1e-5;

function channelOf(shape: readonly number[]): (i: number) => number {
  const c = shape[1];
  const inner = shape.length === 4 ? shape[2] * shape[3] : 1;
  return (i) => Math.floor(i / inner) % c;
}

/** Per-channel mean and biased variance, in f64. */
function stats(x: ArrayLike<number>, shape: readonly number[]) {
  const c = shape[1];
  const ch = channelOf(shape);
  const n = x.length / c;
  const mu = new Float64Array(c);
  const v = new Float64Array(c);
  for (let i = 0; i < x.length; i++) mu[ch(i)] += x[i] / n;
  for (let i = 0; i < x.length; i++) v[ch(i)] += (x[i] - mu[ch(i)]) ** 2 / n;
  return { mu, v };
}

/** y = g·(x − mu)/√(v + eps) + b per channel, in f64 (g = 1, b = 0 when omitted). */
function normRef(
  x: ArrayLike<number>,
  shape: readonly number[],
  mu: ArrayLike<number>,
  v: ArrayLike<number>,
  gb?: ArrayLike<number>,
): Float64Array {
  const c = shape[1];
  const ch = channelOf(shape);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const k = ch(i);
    const g = gb ? gb[k] : 1;
    const b = gb ? gb[c + k] : 0;
    y[i] = g * (x[i] - mu[k]) / Math.sqrt(v[k] + EPS) + b;
  }
  return y;
}

/** Random x with a different offset and spread per channel. */
function input(
  shape: number[],
  rng: dn.Rng,
  opts: { dtype?: DType; device?: DeviceName } = {},
): Tensor {
  const ch = channelOf(shape);
  const n = shape.reduce((a, b) => a * b, 1);
  const z = dn.randn([n], { rng, dtype: "f64", device: "cpu" }).dataSync();
  const v = Array.from(z, (e, i) => (ch(i) + 1) * 0.7 * e + 2 * ch(i) - 1.5);
  return dn.fromArray(v, { shape, dtype: opts.dtype ?? "f64", device: opts.device ?? "cpu" });
}

/** A params vector with non-trivial scale and bias: γ_k = 1.5 + 0.5k, β_k = 0.25 − k. */
function affine(c: number, opts: { dtype?: DType; device?: DeviceName } = {}): Tensor {
  const v = [...Array(c)].map((_, k) => 1.5 + 0.5 * k).concat(
    [...Array(c)].map((_, k) => 0.25 - k),
  );
  return dn.fromArray(v, { dtype: opts.dtype ?? "f64", device: opts.device ?? "cpu" });
}

const SHAPES: number[][] = [[6, 3], [3, 2, 4, 5]];

Deno.test("batchnorm training: per-channel mean 0 and variance σ²/(σ²+eps) ≈ 1, 2-D and 4-D", () => {
  const rng = new dn.Rng(1);
  for (const shape of SHAPES) {
    const x = input(shape, rng);
    const xs = x.dataSync();
    const y = batchnorm(x, null, null, { training: true }).dataSync();
    const s = stats(xs, shape);
    const ys = stats(y, shape);
    assertClose(ys.mu, new Float64Array(shape[1]), F64_TOL, `${shape} mean of y`);
    // Exactly σ²/(σ²+eps) (the biased batch variance normalises), hence ≈ 1.
    assertClose(ys.v, s.v.map((v) => v / (v + EPS)), F64_TOL, `${shape} variance of y`);
    assertClose(ys.v, new Float64Array(shape[1]).fill(1), { rtol: 0, atol: 1e-4 }, "≈ 1");
    assertClose(y, normRef(xs, shape, s.mu, s.v), F64_TOL, `${shape} y`);
  }
});

Deno.test("batchnorm training with params: channel k has mean β_k and variance γ_k²", () => {
  const rng = new dn.Rng(2);
  for (const shape of SHAPES) {
    const c = shape[1];
    const x = input(shape, rng);
    const p = affine(c);
    const gb = p.dataSync();
    const y = batchnorm(x, null, p, { training: true }).dataSync();
    const s = stats(x.dataSync(), shape);
    const ys = stats(y, shape);
    assertClose(ys.mu, gb.slice(c), F64_TOL, `${shape} mean = bias`);
    assertClose(
      ys.v,
      s.v.map((v, k) => gb[k] ** 2 * v / (v + EPS)),
      F64_TOL,
      `${shape} variance = scale²`,
    );
    assertClose(y, normRef(x.dataSync(), shape, s.mu, s.v, gb), F64_TOL, `${shape} y`);
  }
});

Deno.test("bnmoments: running stats after 3 training steps follow the recurrence (biased var)", () => {
  const rng = new dn.Rng(3);
  for (const shape of [[4, 3], [2, 3, 2, 2]]) {
    const c = shape[1];
    const momentum = 0.3;
    const m = bnmoments({ momentum });
    assert.equal(m.mean, null);
    const mean = new Float64Array(c); // meaninit = zeros
    const vr = new Float64Array(c).fill(1); // varinit = ones
    for (let step = 0; step < 3; step++) {
      const x = input(shape, rng);
      batchnorm(x, m, null, { training: true });
      const s = stats(x.dataSync(), shape);
      for (let k = 0; k < c; k++) {
        mean[k] = momentum * s.mu[k] + (1 - momentum) * mean[k];
        vr[k] = momentum * s.v[k] + (1 - momentum) * vr[k];
      }
    }
    assert.deepEqual(m.mean!.shape, shape.length === 2 ? [1, c] : [1, c, 1, 1]);
    assert.deepEqual(m.var!.shape, m.mean!.shape);
    assert.equal(m.mean!.dtype, "f64");
    assertClose(m.mean!.dataSync(), mean, F64_TOL, `${shape} running mean`);
    assertClose(m.var!.dataSync(), vr, F64_TOL, `${shape} running var`);
  }
});

Deno.test("bnmoments: custom meaninit/varinit and momentum 0 keep the initial values", () => {
  const m = bnmoments({
    momentum: 0,
    meaninit: (shape, o) => dn.full(shape, 0.5, o),
    varinit: (shape, o) => dn.full(shape, 4, o),
  });
  const x = input([5, 2], new dn.Rng(4));
  batchnorm(x, m, null, { training: true });
  assert.deepEqual([...m.mean!.dataSync()], [0.5, 0.5]);
  assert.deepEqual([...m.var!.dataSync()], [4, 4]);
});

Deno.test("batchnorm inference: uses the running statistics (f64 formula), moments unchanged", () => {
  const rng = new dn.Rng(5);
  for (const shape of SHAPES) {
    const c = shape[1];
    const mu = [...Array(c)].map((_, k) => 0.3 * k - 0.2);
    const v = [...Array(c)].map((_, k) => 0.5 + k);
    const m = bnmoments({
      mean: dn.fromArray(mu, { dtype: "f64", device: "cpu" }),
      var: dn.fromArray(v, { dtype: "f64", device: "cpu" }),
    });
    const x = input(shape, rng);
    const p = affine(c);
    const y = batchnorm(x, m, p, { training: false }).dataSync();
    assertClose(y, normRef(x.dataSync(), shape, mu, v, p.dataSync()), F64_TOL, `${shape} y`);
    const y0 = batchnorm(x, m, null, { training: false }).dataSync();
    assertClose(y0, normRef(x.dataSync(), shape, mu, v), F64_TOL, `${shape} y, no params`);
    assert.deepEqual([...m.mean!.dataSync()], mu);
    assert.deepEqual([...m.var!.dataSync()], v);
  }
});

Deno.test("batchnorm inference with fresh moments: lazily zeros/ones, as Knet", () => {
  const x = input([4, 3], new dn.Rng(6));
  const m = bnmoments();
  const y = batchnorm(x, m, null, { training: false }).dataSync();
  const xs = x.dataSync();
  assertClose(y, xs.map((e) => e / Math.sqrt(1 + EPS)), F64_TOL, "y = x/√(1+eps)");
  assert.deepEqual([...m.mean!.dataSync()], [0, 0, 0]);
  assert.deepEqual([...m.var!.dataSync()], [1, 1, 1]);
});

Deno.test("batchnorm: training defaults to true inside diff and false outside", () => {
  const shape = [5, 3];
  const c = 3;
  const x = input(shape, new dn.Rng(7));
  const xs = x.dataSync();
  const s = stats(xs, shape);
  const m = bnmoments({ momentum: 0.25 });
  const p = bnparams(c, { dtype: "f64", device: "cpu" });
  const gb = p.dataSync();
  let inside: Float64Array | null = null;
  const J = dn.diff(() => {
    assert.equal(dn.isRecording(), true);
    const y = batchnorm(x, m, p);
    inside = y.dataSync() as Float64Array;
    return dn.sum(dn.square(y));
  });
  J.dispose();
  // Inside diff: batch statistics, and the moments moved from (0, 1) towards them.
  assertClose(inside!, normRef(xs, shape, s.mu, s.v, gb), F64_TOL, "y inside diff");
  const rm = s.mu.map((u) => 0.25 * u);
  const rv = s.v.map((v) => 0.25 * v + 0.75);
  assertClose(m.mean!.dataSync(), rm, F64_TOL, "mean updated inside diff");
  assertClose(m.var!.dataSync(), rv, F64_TOL, "var updated inside diff");
  // Outside diff: the running statistics, and no update.
  assert.equal(dn.isRecording(), false);
  const y = batchnorm(x, m, p).dataSync();
  assertClose(y, normRef(xs, shape, rm, rv, gb), F64_TOL, "y outside diff");
  assertClose(m.mean!.dataSync(), rm, F64_TOL, "mean unchanged outside diff");
  assertClose(m.var!.dataSync(), rv, F64_TOL, "var unchanged outside diff");
  // An explicit training flag wins over the default, inside diff too.
  const J2 = dn.diff(() => {
    const out = batchnorm(x, m, p, { training: false });
    inside = out.dataSync() as Float64Array;
    return dn.sum(out);
  });
  J2.dispose();
  assertClose(inside!, normRef(xs, shape, rm, rv, gb), F64_TOL, "training: false inside diff");
  assertClose(m.mean!.dataSync(), rm, F64_TOL, "no update with training: false");
});

Deno.test("bnparams: a Param of length 2C, scale ones then bias zeros", () => {
  const p = bnparams(3, { dtype: "f64", device: "cpu" });
  assert.ok(p instanceof dn.Param);
  assert.equal(p.dtype, "f64");
  assert.deepEqual(p.shape, [6]);
  assert.deepEqual([...p.dataSync()], [1, 1, 1, 0, 0, 0]);
  // With default params the output equals the parameterless one.
  const x = input([4, 3], new dn.Rng(8));
  assertClose(
    batchnorm(x, null, p, { training: true }).dataSync(),
    batchnorm(x, null, null, { training: true }).dataSync(),
    F64_TOL,
    "identity affine",
  );
});

Deno.test("gcheck f64: batchnorm w.r.t. x and params, training and inference, 2-D and 4-D", async () => {
  const rng = new dn.Rng(9);
  const failed: string[] = [];
  for (const shape of [[5, 3], [3, 2, 3, 2]]) {
    const c = shape[1];
    const x = input(shape, rng);
    const p = dn.fromArray(
      dn.randn([2 * c], { rng, dtype: "f64", device: "cpu" }).dataSync().map((e) => e + 1),
      { dtype: "f64", device: "cpu" },
    );
    const f64 = { dtype: "f64", device: "cpu" } as const;
    // Training updates its moments on every call; inference reads fixed ones.
    const mTrain = bnmoments();
    const m = bnmoments({
      mean: dn.fromArray([...Array(c)].map((_, k) => 0.4 * k - 0.3), f64),
      var: dn.fromArray([...Array(c)].map((_, k) => 0.6 + 0.5 * k), f64),
    });
    const nsample = x.size;
    const cases: [string, (...a: Tensor[]) => Tensor, Tensor[]][] = [
      ["train x,params", (a, b) => batchnorm(a, mTrain, b, { training: true }), [x, p]],
      ["train x", (a) => batchnorm(a, null, null, { training: true }), [x]],
      ["infer x,params", (a, b) => batchnorm(a, m, b, { training: false }), [x, p]],
      ["infer x", (a) => batchnorm(a, m, null, { training: false }), [x]],
    ];
    for (const [name, f, args] of cases) {
      const ok = await dn.gcheck(f, ...args, { ...F64_GCHECK, nsample, seed: 4 });
      if (!ok) failed.push(`${shape} ${name}`);
    }
  }
  assert.deepEqual(failed, [], `gradient mismatches: ${failed.join("; ")}`);
});

Deno.test("batchnorm: a wrong gradient would be caught (sanity of the training-mode check)", async () => {
  // Treating the batch statistics as constants (a common bug) gives a different
  // gradient; gcheck must reject it, so the test above can fail. The function below has
  // batchnorm's values (so its numerical gradient is batchnorm's) but the frozen
  // statistics' analytic gradient.
  const x = input([5, 3], new dn.Rng(10));
  const s = stats(x.dataSync(), [5, 3]);
  const frozen = (a: Tensor) => {
    const mu = dn.fromArray(s.mu, { shape: [1, 3], dtype: "f64", device: "cpu" });
    const v = dn.fromArray(s.v, { shape: [1, 3], dtype: "f64", device: "cpu" });
    // Forward value equals batchnorm's at x, but mean/var do not follow x.
    return dn.div(dn.sub(a, mu), dn.sqrt(dn.add(v, EPS)));
  };
  const bad = await dn.gcheck(
    (a: Tensor) => {
      const y = batchnorm(a, null, null, { training: true });
      return dn.add(dn.value(y), dn.sub(frozen(a), dn.value(frozen(a))));
    },
    x,
    { ...F64_GCHECK, nsample: x.size, seed: 4, verbose: false },
  );
  assert.equal(bad, false, "frozen-statistics gradient must not pass as batchnorm's");
});

async function gpuCpuCase(shape: number[], training: boolean) {
  const rng = new dn.Rng(11 + shape.length);
  const c = shape[1];
  const x32 = input(shape, rng, { dtype: "f32" });
  const p32 = affine(c, { dtype: "f32" });
  const r32 = dn.randn(shape, { rng, dtype: "f32", device: "cpu" });
  const run = (device: DeviceName) => {
    const mv = (v: number[]) => dn.fromArray(v, { device });
    const m = bnmoments({
      momentum: 0.2,
      mean: mv([...Array(c)].map((_, k) => 0.1 * k)),
      var: mv([...Array(c)].map((_, k) => 1 + 0.3 * k)),
    });
    const x = new dn.Param(device === "gpu" ? x32.gpu() : x32);
    const p = new dn.Param(device === "gpu" ? p32.gpu() : p32);
    const r = device === "gpu" ? r32.gpu() : r32;
    let y: Tensor | null = null;
    const J = dn.diff(() => {
      const out = batchnorm(x, m, p, { training });
      y = dn.keep(dn.clone(dn.value(out)));
      return dn.sum(dn.mul(out, r));
    });
    return [y!, J.grad(x)!, J.grad(p)!, m.mean!, m.var!];
  };
  const cpu = run("cpu").map((t) => t.dataSync());
  const gpuT = run("gpu");
  assert.ok(gpuT.every((t) => t.device === "gpu"));
  const g = await dn.readAll(gpuT);
  const names = ["y", "dx", "dparams", "running mean", "running var"];
  names.forEach((n, i) => assertClose(g[i], cpu[i], GPU_TOL, `${shape} training=${training} ${n}`));
}

Deno.test({
  name: "batchnorm GPU = CPU: forward, gradients and running stats, 2-D and 4-D, both modes",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    for (const shape of [[7, 5], [1, 3, 1, 1], [3, 4, 5, 6]]) {
      for (const training of [true, false]) {
        if (training && shape[0] === 1) continue; // one value per channel: variance 0
        await gpuCpuCase(shape, training);
      }
    }
  },
});

Deno.test({
  name: "batchnorm GPU: 100 training steps keep liveBytes flat and never sync with the host",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rng = new dn.Rng(12);
    const shape = [8, 4, 3, 3];
    const x = input(shape, rng, { dtype: "f32", device: "cpu" }).gpu();
    const p = bnparams(4, { device: "gpu" });
    const m = bnmoments();
    const r = dn.randn(shape, { rng, device: "gpu" });
    let live10 = -1;
    let syncs10 = -1;
    for (let step = 1; step <= 100; step++) {
      const J = dn.diff(() => dn.sum(dn.mul(batchnorm(x, m, p), r)));
      dn.axpy(-0.01, J.grad(p)!, p);
      J.dispose();
      batchnorm(x, m, p).dispose(); // inference outside diff
      if (step === 10) {
        live10 = dn.counters().liveBytes;
        syncs10 = dn.counters().hostSyncs;
      }
    }
    assert.equal(dn.counters().liveBytes, live10, "liveBytes after step 100 = after step 10");
    assert.equal(dn.counters().hostSyncs, syncs10, "no host sync in the loop");
    // The loop did train: the running mean moved off zeros and params changed.
    const [mean, pv] = await dn.readAll([m.mean!, p]);
    assert.ok(mean.some((v) => Math.abs(v) > 0.1), `running mean ${mean}`);
    assert.ok(pv.some((v, i) => Math.abs(v - (i < 4 ? 1 : 0)) > 1e-3), `params ${pv}`);
    m.dispose();
    assert.equal(m.mean, null);
  },
});

Deno.test("batchnorm errors name the op and the shapes; bad input changes no state", () => {
  const x = input([4, 3], new dn.Rng(13));
  assert.throws(
    () =>
      batchnorm(dn.zeros([2, 3, 4], { dtype: "f64", device: "cpu" }), null, null, {
        training: true,
      }),
    /batchnorm: x must be 2-D \[N,C\] or 4-D \[N,C,H,W\], got f64\[2,3,4\] cpu/,
  );
  const m = bnmoments();
  assert.throws(
    () => batchnorm(x, m, dn.zeros([7], { dtype: "f64", device: "cpu" }), { training: true }),
    /batchnorm: params f64\[7\] cpu must have 2C = 6 elements \(C = 3 channels of x f64\[4,3\]/,
  );
  assert.equal(m.mean, null, "moments not initialised by a failed call");
  const bad = bnmoments({ mean: dn.zeros([4], { dtype: "f64", device: "cpu" }) });
  assert.throws(
    () => batchnorm(x, bad, null, { training: true }),
    /batchnorm: moments.mean f64\[4\] cpu must have C = 3 elements .*x f64\[4,3\] cpu/,
  );
  assert.equal(bad.var, null, "var not created when mean is wrong");
  const badInit = bnmoments({ varinit: (_s, o) => dn.ones([2], o) });
  assert.throws(
    () => batchnorm(x, badInit, null, { training: true }),
    /batchnorm: moments.var f64\[2\] cpu must have C = 3/,
  );
  assert.equal(badInit.mean, null, "no half-initialised moments");
  assert.throws(
    () => batchnorm(x, null, null, { training: false }),
    /batchnorm: moments must be provided in inference mode .*f64\[4,3\]/,
  );
  assert.throws(
    () => batchnorm(x, null, dn.zeros([6], { dtype: "f32", device: "cpu" }), { training: true }),
    /batchnorm: params f32\[6\] cpu and x f64\[4,3\] cpu differ/,
  );
  assert.throws(() => bnmoments({ momentum: 1.5 }), /bnmoments: momentum .* got 1.5/);
  assert.throws(() => bnparams(0), /bnparams: channels must be a positive integer, got 0/);
  assert.throws(
    () => batchnorm(x, null, null, { training: true, eps: -1 }),
    /batchnorm: eps .* got -1/,
  );
  assert.ok(m instanceof BNMoments);
});
