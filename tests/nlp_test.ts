/**
 * The NLP models (src/nlp): `NeuralNLPModel` on a small MLP over real MNIST subsets —
 * obj equals the loss computed directly on the current batch; grad equals diff's
 * gradients placed in their slots (padding zero); objgrad gives both from exactly one
 * forward and one backward pass (dispatch counts); setVars copies unless x is the
 * weights' buffer; the minibatch order (each epoch a seeded permutation, the epoch
 * boundary, version bumps); accuracy with one host sync; errors for x of the wrong
 * length/device. `ADNLPModel`: Rosenbrock and extended Rosenbrock in f64 against their
 * analytic gradients.
 *
 * Tolerances: the same ops on the same data give the same bits (assertExact); the
 * analytic f64 gradients agree with the tape to rounding (1e-12 relative).
 */

import assert from "node:assert/strict";
import { diff } from "../src/autograd/diff.ts";
import { counters } from "../src/gpu/counters.ts";
import { gpuRuntime } from "../src/gpu/runtime.ts";
import { Chain } from "../src/layers/chain.ts";
import { Dense } from "../src/layers/dense.ts";
import { mnist } from "../src/data/mnist.ts";
import { minibatch } from "../src/data/minibatch.ts";
import { accuracy, nll } from "../src/loss.ts";
import { ADNLPModel, NeuralNLPModel } from "../src/nlp/mod.ts";
import { add, mul, square, sub } from "../src/ops/math.ts";
import { slice } from "../src/ops/shape.ts";
import { sum } from "../src/ops/reduce.ts";
import { axpy, copyInto, fill } from "../src/ops/vector.ts";
import { fromArray, zeros } from "../src/tensor/create.ts";
import { Rng } from "../src/tensor/random.ts";
import { readAll, Tensor } from "../src/tensor/tensor.ts";
import { assertClose, assertExact, GPU_TEST, haveGpu } from "./_helpers.ts";
import { DATA_URL, haveData } from "./data_helpers.ts";

const gpu = await haveGpu();
const HAVE_MNIST = haveData("mnist");

const NTRAIN = 600;
const NTEST = 200;

let subsets: Promise<{ train: [Tensor, Tensor]; test: [Tensor, Tensor] }> | null = null;

/** The first 600 training and 200 test images of MNIST (CPU f32), loaded once. */
function mnistSubsets(): Promise<{ train: [Tensor, Tensor]; test: [Tensor, Tensor] }> {
  subsets ??= (async () => {
    const d = await mnist({ dir: new URL("mnist/", DATA_URL).pathname, download: false });
    const cut = (x: Tensor, n: number) =>
      new Tensor([n, ...x.shape.slice(1)], "f32", x.host().slice(0, n * (x.size / x.shape[0])));
    return {
      train: [cut(d.xtrn, NTRAIN), cut(d.ytrn, NTRAIN)],
      test: [cut(d.xtst, NTEST), cut(d.ytst, NTEST)],
    };
  })();
  return subsets;
}

function mlp(device: "cpu" | "gpu", seed = 1): Chain {
  const rng = new Rng(seed);
  return new Chain(
    new Dense(784, 24, { rng, device }),
    new Dense(24, 10, { rng, device, activation: "identity" }),
  );
}

async function neural(device: "cpu" | "gpu", batchSize = 100) {
  const { train, test } = await mnistSubsets();
  const model = mlp(device);
  const nlp = new NeuralNLPModel(model, { train, test, batchSize, seed: 7, name: "mlp" });
  return { model, nlp };
}

for (const device of ["cpu", "gpu"] as const) {
  const opts = device === "gpu" ? { ...GPU_TEST, ignore: !gpu || !HAVE_MNIST } : {
    ignore: !HAVE_MNIST,
  };

  Deno.test({
    name: `NeuralNLPModel (${device}): obj, grad and objgrad equal the loss and diff's gradients`,
    ...opts,
    fn: async () => {
      const { model, nlp } = await neural(device);
      const x = nlp.x;
      assert.equal(nlp.meta.nvar, x.size);
      assert.equal(nlp.meta.name, "mlp");
      assertExact(await nlp.meta.x0.data(), await x.data(), "x0 is a copy of the weights");
      const [xb, yb] = nlp.batch;
      assert.deepEqual(xb.shape, [100, 1, 28, 28]);
      // The loss and gradients computed directly with the model's own Params.
      const J = diff(() => nll(model.forward(xb), yb));
      const f = nlp.obj(x);
      assertExact(await f.data(), await J.value.data(), "obj = nll on the batch");
      const g = zeros([nlp.meta.nvar], { device });
      fill(g, 5); // garbage the padding must not keep
      nlp.grad(x, g);
      const gx = await g.data();
      const { params, offsets } = nlp.packed;
      const inSlot = new Uint8Array(gx.length);
      const want = await readAll(params.map((p) => J.grad(p)!));
      params.forEach((p, i) => {
        assertExact(gx.subarray(offsets[i], offsets[i] + p.size), want[i], `slot ${i}`);
        inSlot.fill(1, offsets[i], offsets[i] + p.size);
      });
      gx.forEach((v, i) => {
        if (!inSlot[i]) assert.equal(v, 0, `gradient padding ${i}`);
      });
      if (device === "cpu") assert.equal(nlp.meta.nvar, 784 * 24 + 24 + 24 * 10 + 10);
      // objgrad: the same value and gradient.
      const g2 = zeros([nlp.meta.nvar], { device });
      const f2 = nlp.objgrad(x, g2);
      assertExact(await f2.data(), await J.value.data(), "objgrad value");
      assertExact(await g2.data(), gx, "objgrad gradient");
      assert.deepEqual(nlp.counters, { neval_obj: 2, neval_grad: 2 });
      // A copy of x goes through setVars: same results.
      const xc = zeros([nlp.meta.nvar], { device });
      copyInto(x, xc);
      const f3 = nlp.obj(xc);
      assertExact(await f3.data(), await J.value.data(), "obj at a copy of x");
      // Another point: x0 scaled by 0 changes f; obj(x0) restores it.
      fill(xc, 0);
      const f4 = nlp.obj(xc);
      assertClose(await f4.data(), [Math.log(10)], { rtol: 1e-6, atol: 0 }, "f(0) = log 10");
      const f5 = nlp.obj(nlp.meta.x0);
      assertExact(await f5.data(), await J.value.data(), "obj(x0)");
      for (const t of [f, f2, f3, f4, f5, g, g2, xc]) t.dispose();
      J.dispose();
      nlp.dispose();
    },
  });

  Deno.test({
    name: `NeuralNLPModel (${device}): gradient steps on x (the weights) lower the loss`,
    ...opts,
    fn: async () => {
      const { nlp } = await neural(device);
      const g = zeros([nlp.meta.nvar], { device });
      const f0 = nlp.objgrad(nlp.x, g);
      for (let k = 0; k < 5; k++) {
        axpy(-0.1, g, nlp.x);
        nlp.grad(nlp.x, g);
      }
      const f1 = nlp.obj(nlp.x);
      const [a, b] = await readAll([f0, f1]);
      assert.ok(b[0] < a[0] - 0.05, `loss ${a[0]} → ${b[0]}`);
      // NaN in x is not checked: f is NaN (solvers report it as a status).
      const bad = zeros([nlp.meta.nvar], { device });
      copyInto(nlp.x, bad);
      axpy(NaN, g, bad);
      const fn = nlp.obj(bad);
      assert.ok(Number.isNaN((await fn.data())[0]), "NaN weights give a NaN objective");
      for (const t of [f0, f1, g, bad, fn]) t.dispose();
      nlp.dispose();
    },
  });

  Deno.test({
    name: `NeuralNLPModel (${device}): accuracy over a split with one host sync`,
    ...opts,
    fn: async () => {
      const { model, nlp } = await neural(device);
      const { train, test } = await mnistSubsets();
      for (const split of ["test", "train"] as const) {
        const [xs, ys] = split === "test" ? test : train;
        const want = await accuracy(model, minibatch(xs, ys, 100, { device, partial: true }));
        const syncs = counters().hostSyncs;
        const got = await nlp.accuracy({ split, batchSize: 128 });
        if (device === "gpu") assert.equal(counters().hostSyncs - syncs, 1, "one host sync");
        assertClose([got], [want], { rtol: 0, atol: 1e-12 }, `${split} accuracy`);
        assert.ok(got >= 0 && got <= 1);
      }
      nlp.dispose();
    },
  });
}

Deno.test({
  name: "NeuralNLPModel (gpu): objgrad is one forward and one backward pass; no copy at x itself",
  ...GPU_TEST,
  ignore: !gpu || !HAVE_MNIST,
  fn: async () => {
    const { model, nlp } = await neural("gpu");
    const g = zeros([nlp.meta.nvar], { device: "gpu" });
    const [xb, yb] = nlp.batch;
    nlp.objgrad(nlp.x, g).dispose(); // compile every pipeline first
    await gpuRuntime().sync();
    const count = (fn: () => void) => {
      const d = counters().dispatches;
      fn();
      return counters().dispatches - d;
    };
    const forward = count(() => nlp.obj(nlp.x).dispose());
    const direct = count(() => diff(() => nll(model.forward(xb), yb)).dispose());
    const og = count(() => nlp.objgrad(nlp.x, g).dispose());
    const gr = count(() => nlp.grad(nlp.x, g));
    assert.ok(forward > 0 && direct > forward);
    assert.equal(
      og,
      direct,
      "objgrad = one diff (one forward + one backward), gradient copies only",
    );
    assert.equal(gr, direct);
    assert.ok(og < forward + gr, "objgrad costs less than obj + grad");
    // setVars at the weights' own buffer copies nothing; a copy elsewhere is no kernel.
    assert.equal(count(() => nlp.setVars(nlp.x)), 0);
    const y = zeros([nlp.meta.nvar], { device: "gpu" });
    copyInto(nlp.x, y);
    assert.equal(count(() => nlp.setVars(y)), 0, "setVars is a buffer copy, not a kernel");
    g.dispose();
    y.dispose();
    nlp.dispose();
  },
});

Deno.test("NeuralNLPModel: minibatches are seeded permutations per epoch; version bumps", () => {
  // x[i] = i: the batches show which instances they hold.
  const n = 10;
  const xs = fromArray(Array.from({ length: n }, (_, i) => i), { shape: [n, 1], device: "cpu" });
  const ys = fromArray(Array.from({ length: n }, (_, i) => i % 2), { device: "cpu" });
  const make = (seed: number) =>
    new NeuralNLPModel(new Dense(1, 2, { rng: new Rng(1), device: "cpu" }), {
      train: [xs, ys],
      batchSize: 3,
      seed,
    });
  const nlp = make(4);
  assert.equal(nlp.nbatches, 3, "⌊10 / 3⌋ batches per epoch");
  const epochs: number[][] = [];
  let seen: number[] = [];
  const v0 = nlp.version;
  for (let step = 0; step < 6; step++) {
    assert.equal(nlp.minibatchIndex, step % 3);
    assert.equal(nlp.epoch, Math.floor(step / 3));
    const b = [...nlp.batch[0].host()];
    assert.deepEqual([...nlp.batch[1].host()], b.map((i) => i % 2), "labels follow instances");
    seen.push(...b);
    const ended = nlp.nextMinibatch();
    assert.equal(ended, step % 3 === 2, `epoch boundary after step ${step}`);
    assert.equal(nlp.version, v0 + step + 1);
    if (ended) {
      epochs.push(seen);
      seen = [];
    }
  }
  for (const e of epochs) {
    assert.equal(e.length, 9);
    assert.equal(new Set(e).size, 9, "no instance twice in an epoch");
  }
  assert.notDeepEqual(epochs[0], epochs[1], "a new order each epoch");
  // Same seed, same sequence; another seed, another one.
  const again = make(4);
  assert.deepEqual([...again.batch[0].host()], epochs[0].slice(0, 3));
  assert.notDeepEqual([...make(5).batch[0].host()], epochs[0].slice(0, 3));
  // reset and random bump the version and stay in range.
  const v = nlp.version;
  nlp.nextMinibatch();
  nlp.resetMinibatch();
  assert.equal(nlp.minibatchIndex, 0);
  assert.equal(nlp.version, v + 2);
  nlp.randomMinibatch();
  assert.equal(nlp.version, v + 3);
  assert.ok(nlp.minibatchIndex >= 0 && nlp.minibatchIndex < 3);
});

Deno.test("NeuralNLPModel: bad x, g and options are errors naming the sizes", () => {
  const xs = fromArray(new Float32Array(8), { shape: [4, 2], device: "cpu" });
  const ys = fromArray([0, 1, 0, 1], { device: "cpu" });
  const nlp = new NeuralNLPModel(new Dense(2, 2, { rng: new Rng(1), device: "cpu" }), {
    train: [xs, ys],
    batchSize: 2,
    name: "tiny",
  });
  assert.equal(nlp.meta.nvar, 6);
  const short = zeros([5], { device: "cpu" });
  const g = zeros([6], { device: "cpu" });
  assert.throws(
    () => nlp.obj(short),
    /NeuralNLPModel\(tiny\)\.setVars: x has length 5 \(shape \[5\]\) but the problem has nvar = 6/,
  );
  assert.throws(() => nlp.objgrad(nlp.x, short), /objgrad \(g\): x has length 5 .*nvar = 6/);
  assert.throws(() => nlp.grad(short, g), /x has length 5/);
  assert.throws(
    () => nlp.obj(zeros([6], { dtype: "f64", device: "cpu" })),
    /x is f64 on cpu but the problem is f32 on cpu/,
  );
  assert.throws(() => nlp.objgrad(nlp.x, nlp.x), /g must not be the weights' buffer/);
  const model = new Dense(2, 2, { rng: new Rng(1), device: "cpu" });
  assert.throws(
    () => new NeuralNLPModel(model, { train: [xs, ys], batchSize: 5 }),
    /batchSize must be an integer in \[1, 4\]/,
  );
  assert.throws(
    () =>
      new NeuralNLPModel(model, {
        train: [xs, fromArray([0, 1], { device: "cpu" })],
        batchSize: 2,
      }),
    /train x \[4,2\] and y \[2\] must have the same positive number of instances/,
  );
  assert.throws(
    () => nlp.accuracy({ split: "test" }),
    /NeuralNLPModel\(tiny\)\.accuracy: the model has no test set/,
  );
});

// ---------------------------------------------------------------------------------------
// ADNLPModel

/** Extended Rosenbrock Σ_{i<n-1} 100(x_{i+1} − x_i²)² + (1 − x_i)² written with tape ops. */
function rosenbrock(x: Tensor): Tensor {
  const n = x.size;
  const a = slice(x, [[0, n - 1]]);
  const b = slice(x, [[1, n]]);
  return sum(add(mul(100, square(sub(b, square(a)))), square(sub(1, a))));
}

function rosenbrockRef(x: ArrayLike<number>): { f: number; g: number[] } {
  const n = x.length;
  let f = 0;
  const g = new Array(n).fill(0);
  for (let i = 0; i < n - 1; i++) {
    const r = x[i + 1] - x[i] * x[i];
    f += 100 * r * r + (1 - x[i]) ** 2;
    g[i] += -400 * x[i] * r - 2 * (1 - x[i]);
    g[i + 1] += 200 * r;
  }
  return { f, g };
}

Deno.test("ADNLPModel: Rosenbrock and extended Rosenbrock (f64) match the analytic gradient", async () => {
  const F64 = { rtol: 1e-12, atol: 1e-12 };
  const starts = [
    [-1.2, 1],
    [1, 1],
    [0.3, -2.5],
    Array.from({ length: 30 }, (_, i) => (i + 1) / 31),
  ];
  for (const s of starts) {
    const x0 = fromArray(s, { dtype: "f64", device: "cpu" });
    const nlp = new ADNLPModel(rosenbrock, x0, { name: "rosenbrock" });
    assert.equal(nlp.meta.nvar, s.length);
    assert.notEqual(nlp.meta.x0, x0, "x0 is copied");
    const ref = rosenbrockRef(s);
    const g = zeros([s.length], { dtype: "f64", device: "cpu" });
    const f = nlp.objgrad(x0, g);
    assertClose(f.host(), [ref.f], F64, "f");
    assertClose(g.host(), ref.g, F64, "∇f");
    assertClose(nlp.obj(x0).host(), [ref.f], F64, "obj");
    const g2 = zeros([s.length], { dtype: "f64", device: "cpu" });
    nlp.grad(nlp.meta.x0, g2);
    assertExact(g2.host(), g.host(), "grad = objgrad's gradient");
    assert.deepEqual(nlp.counters, { neval_obj: 2, neval_grad: 2 });
    assert.equal(nlp.version, 0);
    assertExact(await x0.data(), s, "x untouched");
  }
  const nlp = new ADNLPModel(rosenbrock, fromArray([-1.2, 1], { dtype: "f64", device: "cpu" }));
  assert.equal(nlp.meta.name, "adnlp");
  assert.throws(
    () => nlp.obj(fromArray([1, 2, 3], { dtype: "f64", device: "cpu" })),
    /ADNLPModel\(adnlp\)\.obj: x has length 3 \(shape \[3\]\) but the problem has nvar = 2/,
  );
  assert.throws(
    () =>
      nlp.objgrad(
        fromArray([1, 2], { dtype: "f64", device: "cpu" }),
        zeros([2], { device: "cpu" }),
      ),
    /objgrad \(g\): x is f32 on cpu but the problem is f64 on cpu/,
  );
  // A function that ignores x has a zero gradient (g is overwritten).
  const flat = new ADNLPModel(
    () => fromArray([3], { dtype: "f64", device: "cpu" }),
    fromArray([1, 2], { dtype: "f64", device: "cpu" }),
  );
  const g = fromArray([9, 9], { dtype: "f64", device: "cpu" });
  flat.objgrad(flat.meta.x0, g);
  assertExact(g.host(), [0, 0], "no dependence, zero gradient");
  assert.throws(
    () =>
      new ADNLPModel((x) => x, fromArray([1, 2], { device: "cpu" })).obj(
        fromArray([1, 2], { device: "cpu" }),
      ),
    /f must return a one-element tensor, got shape \[2\]/,
  );
});

Deno.test({
  name: "ADNLPModel on the GPU (f32): Rosenbrock gradient equals the CPU",
  ...GPU_TEST,
  ignore: !gpu,
  fn: async () => {
    const s = Array.from({ length: 30 }, (_, i) => (i + 1) / 31);
    const x0 = fromArray(s, { device: "gpu" });
    const nlp = new ADNLPModel(rosenbrock, x0);
    const g = zeros([30], { device: "gpu" });
    const f = nlp.objgrad(x0, g);
    const ref = rosenbrockRef(Float32Array.from(s));
    const [fv, gv] = await readAll([f, g]);
    assertClose(fv, [ref.f], { rtol: 1e-5, atol: 1e-5 }, "f");
    assertClose(gv, ref.g, { rtol: 1e-5, atol: 1e-4 }, "∇f");
  },
});
