/**
 * Layers (src/layers): each layer's forward equals the composition of the raw ops it
 * stands for (CPU f64, bitwise), hand-computed values, output shapes, the GPU against the
 * CPU for the same parameters, gradients reaching every Param (and f64 gradient checks
 * of small Dense, Conv, BatchNorm and Embedding chains), Chain's params, names, loss and
 * summary, errors naming the layer and the shapes, dropout and batchnorm modes, Knet's
 * LeNet, and GPU memory across forward calls.
 *
 * GPU tolerance: F32_TOL applied to the magnitude of each result, as in gemm_test and
 * conv_test: |ŷ − y| ≤ atol + rtol·E with E the same computation on |x| and |w| (for
 * Dense and Conv) or max|y| (for deeper chains, as grad_gpu_test does): the GPU's f32
 * sums may cancel to ~0 where no rtol on y itself is meaningful.
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import type { Tensor } from "../internals.ts";
import {
  BatchNorm,
  Chain,
  Conv,
  Dense,
  Dropout,
  Embedding,
  Flatten,
  Pool,
  Sequential,
} from "../src/layers/mod.ts";
import { assertClose, assertExact, F32_TOL, GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

type Placement = { device: "cpu" | "gpu"; dtype: "f32" | "f64" };
const F64: Placement = { device: "cpu", dtype: "f64" };
const CPU32: Placement = { device: "cpu", dtype: "f32" };
const GPU32: Placement = { device: "gpu", dtype: "f32" };

function randnAt(shape: number[], place: Placement, seed: number): Tensor {
  return dn.randn(shape, { ...place, rng: new dn.Rng(seed) });
}

/** Overwrites a Param (e.g. a zero bias) with seeded normal values, outside diff. */
function fillRandn(p: Tensor, seed: number): void {
  const src = dn.randn([...p.shape], { dtype: p.dtype, device: p.device, rng: new dn.Rng(seed) });
  dn.copyInto(src, p);
  src.dispose();
}

async function values(t: Tensor): Promise<Float64Array> {
  return Float64Array.from(await t.data());
}

/** The message of the Error `fn` throws. */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof Error, "an Error is thrown");
    return e.message;
  }
  assert.fail("expected an Error");
}

function lenet(opts: { device?: "cpu" | "gpu"; dtype?: "f32" | "f64"; seed?: number } = {}) {
  const rng = new dn.Rng(opts.seed ?? 1);
  const o = { device: opts.device, dtype: opts.dtype, rng };
  return new Chain(
    new Conv(5, 5, 1, 20, o),
    new Pool(),
    new Conv(5, 5, 20, 50, o),
    new Pool(),
    new Flatten(),
    new Dense(800, 500, o),
    new Dense(500, 10, { ...o, activation: "identity" }),
  );
}

// ---------------------------------------------------------------------------------------
// Dense

Deno.test("Dense: hand-computed relu(x·w + b) in f64, with a custom initialiser", async () => {
  const d = new Dense(3, 2, {
    ...F64,
    init: (shape, o) =>
      dn.fromArray([1, 2, 3, 4, 5, 6], { shape, dtype: o.dtype, device: o.device }),
  });
  assert.deepEqual(d.w.shape, [3, 2]);
  assert.deepEqual(d.b!.shape, [2]);
  assert.deepEqual(Array.from(await d.b!.data()), [0, 0], "the bias starts at zero");
  dn.copyInto(dn.fromArray([1, 20], { dtype: "f64" }), d.b!);
  const x = dn.fromArray([[1, -1, 2], [0, 1, -3]], { dtype: "f64" });
  // x·w = [[8, 10], [-12, -14]]; + b = [[9, 30], [-11, 6]]; relu → [[9, 30], [0, 6]].
  assertExact(await values(d.forward(x)), [9, 30, 0, 6], "relu(x·w + b)");
  const lin = new Dense(3, 2, { ...F64, activation: "identity", init: () => d.w.value });
  assertExact(await values(lin.forward(x)), [8, 10, -12, -14], "identity, zero bias");
});

Deno.test("Dense: forward equals the raw ops (f64, exact) for each activation, bias and 4-D input", async () => {
  const cases = [
    { opts: {}, act: dn.relu },
    { opts: { activation: "sigm" as const }, act: dn.sigm },
    { opts: { activation: "tanh" as const }, act: dn.tanh },
    { opts: { activation: "identity" as const }, act: (t: Tensor) => t },
    { opts: { activation: (t: Tensor) => dn.mul(t, t) }, act: (t: Tensor) => dn.mul(t, t) },
  ];
  for (const [k, c] of cases.entries()) {
    for (const bias of [true, false]) {
      const d = new Dense(8, 5, { ...F64, ...c.opts, bias, rng: new dn.Rng(k) });
      if (bias) fillRandn(d.b!, 100 + k);
      else assert.equal(d.b, null);
      for (const shape of [[4, 8], [3, 2, 2, 2]]) {
        const x = randnAt(shape, F64, 7);
        const y = d.forward(x);
        assert.deepEqual(y.shape, [shape[0], 5]);
        const z = dn.matmul(dn.mat(x), d.w);
        const want = c.act(bias ? dn.add(z, d.b!) : z);
        assertExact(await values(y), await values(want), `case ${k} bias ${bias} x [${shape}]`);
      }
    }
  }
});

Deno.test("Dense: a vector is n instances of one feature (as mat reads it)", async () => {
  const d = new Dense(1, 3, { ...F64, activation: "identity" });
  const x = dn.fromArray([1, 2], { dtype: "f64" });
  const y = d.forward(x);
  assert.deepEqual(y.shape, [2, 3]);
  const w = await values(d.w);
  assertExact(await values(y), [...w, ...w.map((v) => 2 * v)], "x[i]·w");
});

Deno.test("Dense: wrong feature count, device, options → Errors naming the layer and shapes", () => {
  const d = new Dense(800, 500);
  assert.equal(
    errorOf(() => d.forward(dn.zeros([100, 20, 4, 4]))),
    "Dense(800→500): expected 800 features per instance, got x [100,20,4,4] (320)",
  );
  assert.equal(
    errorOf(() => d.forward(dn.zeros([100, 799]))),
    "Dense(800→500): expected 800 features per instance, got x [100,799] (799)",
  );
  const small = new Dense(3, 2);
  assert.match(
    errorOf(() => small.forward(dn.zeros([2, 3], { dtype: "f64" }))),
    /^Dense\(3→2\): x f64\[2,3\] cpu and the layer's parameters \(f32\[3,2\] cpu\) differ in device or dtype/,
  );
  const gone = dn.zeros([2, 3]);
  gone.dispose();
  assert.equal(errorOf(() => small.forward(gone)), "Dense(3→2): x f32[2,3] cpu was disposed");
  assert.equal(errorOf(() => new Dense(0, 2)), "Dense: input must be a positive integer, got 0");
  assert.equal(
    errorOf(() => new Dense(2, 2.5)),
    "Dense: output must be a positive integer, got 2.5",
  );
  assert.match(
    errorOf(() => new Dense(2, 2, { activation: "softmax" as "relu" })),
    /^Dense\(2→2\): unknown activation "softmax" \(expected one of relu, sigm, tanh/,
  );
  assert.equal(
    errorOf(() => new Dense(2, 2, { pdrop: 1 })),
    "Dense(2→2): pdrop must be a probability in [0, 1), got 1",
  );
});

Deno.test("Dense with pdrop: identity outside diff, the dropout op's mask inside diff (f64, exact)", async () => {
  const x = randnAt([6, 10], F64, 3);
  const d = new Dense(10, 4, { ...F64, pdrop: 0.5, rng: new dn.Rng(9) });
  fillRandn(d.b!, 4);
  const plain = dn.relu(dn.add(dn.matmul(x, d.w), d.b!));
  assertExact(await values(d.forward(x)), await values(plain), "no dropout outside diff");
  // The layer draws its init from rng, then one mask seed per call: replay that stream.
  const r = new dn.Rng(9);
  dn.xavierUniform(10, 4, { rng: r, dtype: "f64" });
  let y: Tensor | null = null;
  let want: Tensor | null = null;
  const J = dn.diff(() => {
    y = d.forward(x);
    want = dn.relu(dn.add(dn.matmul(dn.dropout(x, 0.5, { rng: r }), d.w), d.b!));
    return dn.sum(y);
  });
  assertExact(await values(y!), await values(want!), "dropout(x) inside diff");
  assert.notDeepEqual(Array.from(await values(y!)), Array.from(await values(plain)));
  assert.ok(J.grad(d.w) && J.grad(d.b!));
  J.dispose();
});

// ---------------------------------------------------------------------------------------
// Conv, Pool, Flatten

Deno.test("Conv: forward equals act(conv4(w, x) + b) (f64, exact) with options; shapes", async () => {
  const cases = [
    { opts: {}, out: [2, 4, 5, 6] },
    { opts: { padding: 1, stride: 2 }, out: [2, 4, 4, 4] },
    { opts: { padding: [2, 1] as const, dilation: 2, mode: 1 as const }, out: [2, 4, 7, 7] },
    { opts: { activation: "identity" as const, bias: false }, out: [2, 4, 5, 6] },
  ];
  for (const [k, c] of cases.entries()) {
    const conv = new Conv(3, 2, 3, 4, { ...F64, ...c.opts, rng: new dn.Rng(k) });
    assert.deepEqual(conv.w.shape, [4, 3, 3, 2]);
    if (conv.b) {
      assert.deepEqual(conv.b.shape, [1, 4, 1, 1]);
      fillRandn(conv.b, 50 + k);
    }
    const x = randnAt([2, 3, 7, 7], F64, 11);
    const y = conv.forward(x);
    assert.deepEqual(y.shape, c.out, `case ${k} shape`);
    const { activation: _a, bias: _b, ...convOpts } = c.opts as Record<string, unknown>;
    const z = dn.conv4(conv.w, x, convOpts);
    const pre = conv.b ? dn.add(z, conv.b) : z;
    const want = "activation" in c.opts ? pre : dn.relu(pre);
    assertExact(await values(y), await values(want), `case ${k}`);
  }
});

Deno.test("Conv: wrong rank, channels, options → Errors naming the layer and shapes", () => {
  const c = new Conv(5, 5, 1, 20);
  assert.equal(
    errorOf(() => c.forward(dn.zeros([2, 784]))),
    "Conv(5×5, 1→20): expected x [N,1,H,W] (rank 4), got x f32[2,784] cpu (rank 2)",
  );
  assert.equal(
    errorOf(() => c.forward(dn.zeros([2, 3, 28, 28]))),
    "Conv(5×5, 1→20): expected x [N,1,H,W] with 1 channels, got x f32[2,3,28,28] cpu (3 channels)",
  );
  // An op error inside the layer is prefixed with the layer's name.
  assert.match(
    errorOf(() => c.forward(dn.zeros([2, 1, 3, 3]))),
    /^Conv\(5×5, 1→20\): conv4Bias: the filter window 5×5 .* is larger than the padded input 3×3/,
  );
  assert.equal(
    errorOf(() => new Conv(3, 3, 1, 2, { stride: 0 })),
    "Conv(3×3, 1→2): stride must be an integer ≥ 1 or a pair [h, w] of them, got 0",
  );
  assert.equal(
    errorOf(() => new Conv(3, 3, 1, 2, { mode: 2 as 0 })),
    "Conv(3×3, 1→2): mode must be 0 or 1, got 2",
  );
});

Deno.test("Pool and Flatten: equal pool(x, opts) and mat(x) (f64, exact); errors", async () => {
  const x = randnAt([2, 3, 6, 7], F64, 5);
  for (
    const opts of [{}, { window: 3, stride: 1, mode: 1 as const }, {
      window: [2, 3] as const,
      padding: 1,
      mode: 2 as const,
    }]
  ) {
    const y = new Pool(opts).forward(x);
    const want = dn.pool(x, opts);
    assert.deepEqual(y.shape, want.shape);
    assertExact(await values(y), await values(want), `pool ${JSON.stringify(opts)}`);
  }
  assert.deepEqual(new Pool().forward(x).shape, [2, 3, 3, 3]);
  assert.equal(
    errorOf(() => new Pool().forward(dn.zeros([2, 6]))),
    "Pool(window=2): expected x [N,C,H,W] (rank 4), got x f32[2,6] cpu",
  );
  assert.match(errorOf(() => new Pool({ window: 9 }).forward(x)), /^Pool\(window=9\): pool: /);
  const f = new Flatten().forward(x);
  assert.deepEqual(f.shape, [2, 126]);
  assertExact(await values(f), await values(x), "flatten keeps the order");
  assert.deepEqual(new Flatten().forward(dn.zeros([5])).shape, [5, 1]);
  assert.match(errorOf(() => new Flatten().forward(dn.fromArray(3))), /^Flatten\(\): .*scalar/);
});

// ---------------------------------------------------------------------------------------
// Dropout

Deno.test("Dropout: x itself outside diff; inside diff drops ≈ p and scales by 1/(1 − p)", async () => {
  const drop = new Dropout(0.25, { rng: new dn.Rng(2) });
  const x = dn.ones([4000], { dtype: "f64" });
  assert.equal(drop.forward(x), x, "inactive outside diff");
  const w = new dn.Param(x);
  let y: Tensor | null = null;
  const J = dn.diff(() => {
    y = drop.forward(w);
    return dn.sum(y);
  });
  const v = await values(y!);
  const kept = v.filter((e) => e !== 0);
  assert.ok(kept.every((e) => e === 1 / 0.75), "survivors scaled by 1/(1 − p)");
  const frac = 1 - kept.length / v.length;
  assert.ok(Math.abs(frac - 0.25) < 0.03, `dropped fraction ${frac} ≈ 0.25`);
  assertExact(await values(J.grad(w)!), v, "gradient: the same mask");
  J.dispose();
  assert.equal(errorOf(() => new Dropout(1)), "Dropout: p must be a probability in [0, 1), got 1");
});

// ---------------------------------------------------------------------------------------
// BatchNorm

Deno.test("BatchNorm: equals batchnorm(x, moments, params) in both modes (f64, exact)", async () => {
  for (const shape of [[5, 3], [4, 3, 2, 3]]) {
    const bn = new BatchNorm(3, { ...F64, training: true });
    assert.deepEqual(bn.params.shape, [6]);
    assertExact(await values(bn.params), [1, 1, 1, 0, 0, 0], "γ = 1, β = 0");
    fillRandn(bn.params, 8);
    const ref = dn.bnmoments();
    const x = randnAt(shape, F64, 9);
    const y = bn.forward(x);
    assert.deepEqual(y.shape, shape);
    const want = dn.batchnorm(x, ref, bn.params, { training: true });
    assertExact(await values(y), await values(want), `training [${shape}]`);
    assertExact(await values(bn.moments.mean!), await values(ref.mean!), "running mean");
    bn.training = false;
    const yi = bn.forward(x);
    const wanti = dn.batchnorm(x, ref, bn.params, { training: false });
    assertExact(await values(yi), await values(wanti), `inference [${shape}]`);
  }
});

Deno.test("BatchNorm: running statistics change only while diff records", async () => {
  const bn = new BatchNorm(2, F64);
  const x = dn.fromArray([[1, 10], [3, 30], [5, 20]], { dtype: "f64" });
  const y0 = bn.forward(x); // inference: running mean 0, var 1
  assertExact(await values(bn.moments.mean!), [0, 0], "mean unchanged outside diff");
  assertExact(await values(bn.moments.var!), [1, 1], "var unchanged outside diff");
  const eps = 1e-5;
  assertClose(
    await values(y0),
    [1, 10, 3, 30, 5, 20].map((v) => v / Math.sqrt(1 + eps)),
    { rtol: 1e-15, atol: 0 },
    "x/√(1+ε)",
  );
  const J = dn.diff(() => dn.sum(bn.forward(x)));
  // Batch means [3, 20], biased variances [8/3, 200/3]; momentum 0.1.
  assertClose(await values(bn.moments.mean!), [0.3, 2], { rtol: 1e-15, atol: 0 }, "mean");
  assertClose(
    await values(bn.moments.var!),
    [0.1 * 8 / 3 + 0.9, 0.1 * 200 / 3 + 0.9],
    { rtol: 1e-15, atol: 0 },
    "var",
  );
  assert.ok(J.grad(bn.params), "the params get a gradient");
  J.dispose();
});

Deno.test("BatchNorm: wrong rank or channels → Error naming the layer and shapes", () => {
  const bn = new BatchNorm(16);
  assert.equal(
    errorOf(() => bn.forward(dn.zeros([4, 8, 5, 5]))),
    "BatchNorm(16): expected x [N,16] or [N,16,H,W], got x f32[4,8,5,5] cpu",
  );
  assert.equal(
    errorOf(() => bn.forward(dn.zeros([4, 16, 5]))),
    "BatchNorm(16): expected x [N,16] or [N,16,H,W], got x f32[4,16,5] cpu",
  );
  assert.equal(
    errorOf(() => new BatchNorm(0)),
    "BatchNorm: channels must be a positive integer, got 0",
  );
});

// ---------------------------------------------------------------------------------------
// Embedding

Deno.test("Embedding: take(w, indices, 0) shaped [...indices.shape, dim]; bad index → Error", async () => {
  const e = new Embedding(10, 4, { ...F64, rng: new dn.Rng(3) });
  assert.deepEqual(e.w.shape, [10, 4]);
  const idx = dn.fromArray([[1, 0, 9], [3, 3, 2]]);
  const y = e.forward(idx);
  assert.deepEqual(y.shape, [2, 3, 4]);
  const w = await values(e.w);
  const want = [1, 0, 9, 3, 3, 2].flatMap((i) => Array.from(w.slice(4 * i, 4 * i + 4)));
  assertExact(await values(y), want, "rows of w");
  assertExact(await values(e.forward([9, 1])), [...w.slice(36, 40), ...w.slice(4, 8)], "host ids");
  assert.match(errorOf(() => e.forward(dn.fromArray([1, 10]))), /^Embedding\(10→4\): take: .*10/);
  assert.match(errorOf(() => e.forward([-1])), /^Embedding\(10→4\): take: .*-1/);
  assert.match(errorOf(() => e.forward([0.5])), /^Embedding\(10→4\): take: .*0\.5/);
});

// ---------------------------------------------------------------------------------------
// Chain

Deno.test("Chain: params, namedParams, paramCount and the summary of Knet's LeNet", () => {
  const net = lenet();
  assert.equal(dn.params(net).length, 8);
  assert.deepEqual(dn.namedParams(net).map(([n]) => n), [
    "layers.0.w",
    "layers.0.b",
    "layers.2.w",
    "layers.2.b",
    "layers.5.w",
    "layers.5.b",
    "layers.6.w",
    "layers.6.b",
  ]);
  // 20·1·25 + 20, 50·20·25 + 50, 800·500 + 500, 500·10 + 10
  assert.equal(net.paramCount, 520 + 25050 + 400500 + 5010);
  const lines = String(net).split("\n");
  assert.equal(lines[0], "Chain(7 layers, 431080 parameters, f32 cpu)");
  assert.equal(lines.length, 8);
  assert.match(lines[1], /^ {2}0: Conv\(5×5, 1→20, relu\): w \[20,1,5,5\], b \[1,20,1,1\] +520$/);
  assert.match(lines[2], /^ {2}1: Pool\(window=2\) +0$/);
  assert.match(lines[5], /^ {2}4: Flatten\(\) +0$/);
  assert.match(lines[6], /^ {2}5: Dense\(800→500, relu\): w \[800,500\], b \[500\] +400500$/);
  assert.match(lines[7], /^ {2}6: Dense\(500→10, identity\): w \[500,10\], b \[10\] +5010$/);
  assert.equal(Deno.inspect(net), String(net), "console.log shows the summary");
});

Deno.test("layers' toString: options and parameters", () => {
  assert.equal(
    String(new Dense(3, 2, { pdrop: 0.5, bias: false, activation: "tanh" })),
    "Dense(3→2, tanh, pdrop=0.5, bias=false): w [3,2] f32 cpu",
  );
  assert.equal(
    String(new Conv(3, 3, 1, 2, { padding: 1, stride: [2, 1], mode: 1, ...F64 })),
    "Conv(3×3, 1→2, relu, padding=1, stride=[2,1], mode=1): w [2,1,3,3], b [1,2,1,1] f64 cpu",
  );
  assert.equal(String(new Pool({ window: 3, mode: 1 })), "Pool(window=3, mode=1)");
  assert.equal(String(new Dropout(0.3)), "Dropout(0.3)");
  assert.equal(String(new Flatten()), "Flatten()");
  assert.equal(String(new BatchNorm(4)), "BatchNorm(4, momentum=0.1): params [8] f32 cpu");
  assert.equal(String(new Embedding(100, 8)), "Embedding(100→8): w [100,8] f32 cpu");
  function double(t: Tensor): Tensor {
    return dn.mul(t, 2);
  }
  const s = String(new Sequential(new Dense(2, 2), double));
  assert.match(
    s,
    /^Sequential\(2 layers, 6 parameters, f32 cpu\)\n {2}0: Dense\(2→2, relu\): w \[2,2\], b \[2\] +6\n {2}1: double \(function\) +0$/,
  );
});

Deno.test("Chain: forward composes layers and functions; loss = nll(forward(x), y); Sequential alike", async () => {
  const d1 = new Dense(6, 5, { ...F64, rng: new dn.Rng(1) });
  const d2 = new Dense(5, 3, { ...F64, activation: "identity", rng: new dn.Rng(2) });
  const half = (t: Tensor) => dn.mul(t, 0.5);
  const c = new Chain(d1, half, d2);
  const s = new Sequential(d1, half, d2);
  const x = randnAt([4, 6], F64, 3);
  const y = dn.fromArray([0, 2, 1, -1], { dtype: "f64" });
  const want = d2.forward(half(d1.forward(x)));
  assertExact(await values(c.forward(x)), await values(want), "Chain");
  assertExact(await values(s.forward(x)), await values(want), "Sequential");
  assertExact(await values(c.loss(x, y)), await values(dn.nll(want, y)), "loss");
  assert.equal(dn.params(s).length, 4);
  // The dataset form averages over all batches (one readback at the end).
  const data = [[x, y], [x, y]] as const;
  const total = await c.loss(data);
  assertClose([total], await values(dn.nll(want, y)), { rtol: 1e-12, atol: 0 }, "loss(data)");
  assert.match(
    errorOf(() => new Chain(d1, 3 as unknown as Dense)),
    /^Chain: layer 1 is not a Layer \(an object with forward\(x\)\) or a function/,
  );
  assert.match(
    errorOf(() => new Chain(d1, (() => 1) as unknown as Dense).forward(x)),
    /^Chain layer 1 \(\(function\)\) returned number, not a Tensor$/,
  );
  assert.equal(
    errorOf(() => c.forward(randnAt([4, 7], F64, 1))),
    "Chain layer 0: Dense(6→5): expected 6 features per instance, got x [4,7] (7)",
  );
});

// ---------------------------------------------------------------------------------------
// Gradients

Deno.test("Gradients reach every Param of LeNet with a BatchNorm (cpu f32)", () => {
  const net = lenet({ dtype: "f32", device: "cpu", seed: 4 });
  net.layers.splice(1, 0, new BatchNorm(20));
  const x = randnAt([3, 1, 28, 28], CPU32, 5);
  const y = dn.fromArray([3, 0, 9]);
  const J = dn.diff(() => net.loss(x, y));
  const ps = dn.namedParams(net);
  assert.equal(ps.length, 9);
  for (const [name, p] of ps) {
    const g = J.grad(p);
    assert.ok(g, `${name} has a gradient`);
    assert.deepEqual(g.shape, p.shape, `${name} gradient shape`);
  }
  J.dispose();
});

Deno.test("gcheck (f64): Dense, Conv, BatchNorm and Embedding chains", async () => {
  const o = { ...F64 };
  const dense = new Chain(
    new Dense(6, 5, { ...o, activation: "tanh", rng: new dn.Rng(1) }),
    new Dense(5, 3, { ...o, activation: "identity", rng: new dn.Rng(2) }),
  );
  fillRandn((dense.layers[0] as Dense).b!, 3);
  const conv = new Chain(
    new Conv(3, 3, 2, 3, { ...o, activation: "tanh", padding: 1, rng: new dn.Rng(4) }),
    new Pool(),
    new Flatten(),
    new Dense(12, 4, { ...o, activation: "identity", rng: new dn.Rng(5) }),
  );
  fillRandn((conv.layers[0] as Conv).b!, 6);
  const bn2 = new Chain(
    new Dense(4, 6, { ...o, activation: "identity", rng: new dn.Rng(7) }),
    new BatchNorm(6, { ...o, training: true }),
    dn.tanh,
    new Dense(6, 3, { ...o, activation: "identity", rng: new dn.Rng(8) }),
  );
  const bn4 = new Chain(
    new Conv(2, 2, 2, 3, { ...o, activation: "identity", rng: new dn.Rng(9) }),
    new BatchNorm(3, { ...o, training: true }),
    new Flatten(),
    new Dense(27, 3, { ...o, activation: "identity", rng: new dn.Rng(10) }),
  );
  fillRandn((bn2.layers[1] as BatchNorm).params, 11);
  fillRandn((bn4.layers[1] as BatchNorm).params, 12);
  const emb = new Chain(
    new Embedding(7, 3, { ...o, rng: new dn.Rng(13) }),
    new Flatten(),
    new Dense(6, 4, { ...o, activation: "identity", rng: new dn.Rng(14) }),
  );
  const xs = {
    dense: [randnAt([4, 6], F64, 20), dn.fromArray([0, 2, 1, 2], { dtype: "f64" })],
    conv: [randnAt([2, 2, 4, 4], F64, 21), dn.fromArray([3, 1], { dtype: "f64" })],
    bn2: [randnAt([5, 4], F64, 22), dn.fromArray([0, 1, 2, 1, 0], { dtype: "f64" })],
    bn4: [randnAt([3, 2, 4, 4], F64, 23), dn.fromArray([2, 0, 1], { dtype: "f64" })],
    emb: [
      dn.fromArray([[1, 6], [0, 1], [5, 5]], { dtype: "f64" }),
      dn.fromArray([3, 0, 2], { dtype: "f64" }),
    ],
  };
  const models = { dense, conv, bn2, bn4, emb };
  for (const [name, model] of Object.entries(models)) {
    const [x, y] = xs[name as keyof typeof xs];
    const ok = await dn.gcheck((m: Chain) => m.loss(x, y), model, { nsample: 30, seed: 3 });
    assert.ok(ok, `${name}: gradients agree with central differences`);
  }
  // A layer with a wrong gradient would fail: the check is not vacuous.
  const wrong = new Chain(new Dense(6, 3, { ...o, activation: "identity", rng: new dn.Rng(1) }));
  const [x, y] = xs.dense;
  const bad = await dn.gcheck(
    (m: Chain) =>
      dn.add(
        m.loss(x, y),
        dn.mul(dn.sum(dn.mul((m.layers[0] as Dense).w.value, (m.layers[0] as Dense).w.value)), 1),
      ),
    wrong,
    { verbose: false },
  );
  assert.equal(bad, false, "a term invisible to diff is detected");
});

// ---------------------------------------------------------------------------------------
// GPU

/** |gpu − cpu| ≤ atol + rtol·mag elementwise. */
function assertWithin(
  gpuV: ArrayLike<number>,
  cpuV: ArrayLike<number>,
  mag: ArrayLike<number>,
  what: string,
) {
  assert.equal(gpuV.length, cpuV.length, `${what}: length`);
  for (let i = 0; i < cpuV.length; i++) {
    const bound = F32_TOL.atol + F32_TOL.rtol * mag[i];
    if (!(Math.abs(gpuV[i] - cpuV[i]) <= bound)) {
      assert.fail(`${what}: element ${i}: gpu ${gpuV[i]}, cpu ${cpuV[i]}, bound ${bound}`);
    }
  }
}

Deno.test({
  name:
    "GPU = CPU (f32) for Dense (with dropout in diff), Conv, Pool, Flatten, Embedding, BatchNorm",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    // Dense, pdrop 0.3 inside diff: the same rng stream gives the same weights and mask.
    const dc = new Dense(37, 9, { ...CPU32, pdrop: 0.3, rng: new dn.Rng(5) });
    const dg = new Dense(37, 9, { ...GPU32, pdrop: 0.3, rng: new dn.Rng(5) });
    fillRandn(dc.b!, 6);
    dn.copyInto(dc.b!.gpu(), dg.b!);
    const xc = randnAt([5, 37], CPU32, 7);
    const xg = xc.gpu();
    const run = (d: Dense, x: Tensor) => {
      let y: Tensor | null = null;
      const J = dn.diff(() => {
        y = dn.keep(d.forward(x));
        return dn.sum(y);
      });
      J.dispose();
      return y! as Tensor;
    };
    const yc = run(dc, xc);
    const yg = run(dg, xg);
    const x64 = xc.asType("f64");
    const w64 = dc.w.value.asType("f64");
    const b64 = dc.b!.value.asType("f64");
    // |ŷ − y| ≤ atol + rtol·(|dropout(x)|·|w| + |b|) ≤ atol + rtol·(|x|/(1 − p)·|w| + |b|).
    const magDense = await values(
      dn.add(dn.mul(dn.matmul(dn.abs(x64), dn.abs(w64)), 1 / 0.7), dn.abs(b64)),
    );
    const [gy] = await dn.readAll([yg]);
    assertWithin(gy, await values(yc), magDense, "Dense with dropout");
    assert.ok((await values(yc)).some((v) => v !== 0));
    yg.dispose();

    // Conv with padding and stride.
    const cc = new Conv(3, 3, 4, 6, { ...CPU32, padding: 1, stride: 2, rng: new dn.Rng(8) });
    const cg = new Conv(3, 3, 4, 6, { ...GPU32, padding: 1, stride: 2, rng: new dn.Rng(8) });
    fillRandn(cc.b!, 9);
    dn.copyInto(cc.b!.gpu(), cg.b!);
    const ic = randnAt([3, 4, 9, 8], CPU32, 10);
    const ycc = cc.forward(ic);
    const ycg = cg.forward(ic.gpu());
    assert.deepEqual(ycg.shape, [3, 6, 5, 4]);
    const magC = await values(
      dn.add(
        dn.conv4(dn.abs(cc.w.value.asType("f64")), dn.abs(ic.asType("f64")), {
          padding: 1,
          stride: 2,
        }),
        dn.abs(cc.b!.value.asType("f64")),
      ),
    );
    assertWithin(await ycg.data(), await values(ycc), magC, "Conv");

    // Pool (max: exact; average: within F32_TOL of the window sum's magnitude) and Flatten.
    // (on the same input: the CPU conv output, uploaded).
    const ycu = ycc.gpu();
    const pmax = new Pool();
    assertExact(await pmax.forward(ycu).data(), await values(pmax.forward(ycc)), "max Pool");
    const pavg = new Pool({ window: 3, stride: 1, padding: 1, mode: 2 });
    const magP = await values(pavg.forward(dn.abs(ycc)));
    assertWithin(await pavg.forward(ycu).data(), await values(pavg.forward(ycc)), magP, "avg Pool");
    const fg = new Flatten().forward(ycg);
    assert.deepEqual(fg.shape, [3, 120]);

    // Embedding with CPU indices (validated, then uploaded): exact.
    const ec = new Embedding(50, 7, { ...CPU32, rng: new dn.Rng(11) });
    const eg = new Embedding(50, 7, { ...GPU32, rng: new dn.Rng(11) });
    const ids = dn.fromArray([[4, 49, 0], [4, 7, 13]]);
    const yeg = eg.forward(ids);
    assert.deepEqual(yeg.shape, [2, 3, 7]);
    assertExact(await yeg.data(), await values(ec.forward(ids)), "Embedding");
    assert.match(errorOf(() => eg.forward(dn.fromArray([50]))), /^Embedding\(50→7\): take: /);

    // BatchNorm in training (inside diff) and then inference, 4-D.
    const bc = new BatchNorm(6, CPU32);
    const bg = new BatchNorm(6, GPU32);
    fillRandn(bc.params, 12);
    dn.copyInto(bc.params.gpu(), bg.params);
    for (const [bn, x] of [[bc, ycc], [bg, ycg]] as const) {
      const J = dn.diff(() => dn.sum(bn.forward(x)));
      assert.ok(J.grad(bn.params));
      J.dispose();
    }
    const [mg, vg] = await dn.readAll([bg.moments.mean!, bg.moments.var!]);
    assertClose(
      mg,
      await values(bc.moments.mean!),
      { rtol: F32_TOL.rtol, atol: 1e-5 },
      "running mean",
    );
    assertClose(vg, await values(bc.moments.var!), F32_TOL, "running var");
    const ybc = await values(bc.forward(ycc));
    const scale = Math.max(...ybc.map(Math.abs));
    assertWithin(await bg.forward(ycg).data(), ybc, ybc.map(() => scale), "BatchNorm inference");

    // Placement errors.
    assert.match(
      errorOf(() => dc.forward(xg)),
      /^Dense\(37→9\): x f32\[5,37\] gpu and the layer's parameters \(f32\[37,9\] cpu\) differ/,
    );
    for (const l of [dg, cg, eg, bg]) l.dispose();
  },
});

Deno.test({
  name: "LeNet maps [2,1,28,28] to [2,10] on CPU and GPU; GPU = CPU; gradients on the GPU",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const nc = lenet({ device: "cpu", dtype: "f32", seed: 3 });
    const ng = lenet({ device: "gpu", seed: 3 });
    const x = dn.rand([2, 1, 28, 28], { rng: new dn.Rng(4) });
    const yc = nc.forward(x);
    const yg = ng.forward(x.gpu());
    assert.deepEqual(yc.shape, [2, 10]);
    assert.deepEqual(yg.shape, [2, 10]);
    assert.equal(yg.device, "gpu");
    const c = await values(yc);
    const scale = Math.max(...c.map(Math.abs));
    assertWithin(await yg.data(), c, c.map(() => scale), "LeNet scores");
    const labels = dn.fromArray([7, 2]);
    const J = dn.diff(() => ng.loss(x.gpu(), labels.gpu()));
    for (const [name, p] of dn.namedParams(ng)) {
      assert.ok(J.grad(p), `${name} has a gradient on the GPU`);
    }
    J.dispose();
    yg.dispose();
    ng.dispose();
  },
});

Deno.test({
  name:
    "GPU memory: 20 LeNet forward calls inside tidy leak nothing; a forward leaves only its result",
  ignore: !gpu,
  ...GPU_TEST,
  fn() {
    const net = lenet({ device: "gpu", seed: 5 });
    net.layers.splice(3, 0, new BatchNorm(50, { device: "gpu" }), new Dropout(0.5));
    const x = dn.randn([4, 1, 28, 28], { device: "gpu", rng: new dn.Rng(6) });
    const y = dn.fromArray([1, 2, 3, 4], { device: "gpu" });
    dn.tidy(() => {
      net.forward(x); // creates the BatchNorm's running statistics once (kept)
    });
    const before = dn.counters().liveBytes;
    for (let i = 0; i < 20; i++) {
      dn.tidy(() => {
        net.forward(x);
      });
    }
    assert.equal(dn.counters().liveBytes, before, "forward in tidy: no leak");
    const out = net.forward(x);
    assert.ok(dn.counters().liveBytes > before, "the result is live");
    out.dispose();
    assert.equal(dn.counters().liveBytes, before, "the result was the only live tensor");
    // Each layer on its own, outside any tidy, leaves only its result alive.
    let h = x;
    for (const [i, l] of net.layers.entries()) {
      const next = typeof l === "function" ? l(h) : l.forward(h);
      if (h !== x && next !== h) h.dispose();
      h = next;
      assert.ok(dn.counters().liveBytes > before, `layer ${i}: its result is live`);
    }
    h.dispose();
    assert.equal(dn.counters().liveBytes, before, "no layer left an intermediate alive");
    for (let i = 0; i < 20; i++) {
      const J = dn.diff(() => net.loss(x, y));
      J.dispose();
    }
    assert.equal(dn.counters().liveBytes, before, "20 diff steps: no leak");
    net.dispose();
    x.dispose();
    y.dispose();
  },
});
