/**
 * Numerical gradient checks in f64 on the CPU for every differentiable op (the catalogue
 * in tests/grad_cases.ts), and tests of the checker itself (`gcheck` must reject wrong
 * gradients, including slightly wrong ones).
 *
 * Tolerance: gcheck compares diff's gradient with (F(w+δ) − F(w−δ))/2δ, where F = Σ f·r
 * (r a fixed random projection). With δ = 1e-6 in f64 the truncation error is
 * δ²/6·|F'''| ≈ 2e-13·|F'''| and the rounding error ≈ ε·|F|/δ ≈ 2e-10·|F|; |F| stays
 * below ~100 for these inputs, so the difference quotient is good to ~2e-8 (measured worst
 * over all cases: 6e-8, the 33×17×20 GEMM). We require |analytic − numeric| ≤
 * max(1e-6, 1e-6·|numeric|): ≥ 15× above that noise, yet a gradient off by one part in
 * 10⁵ fails (tested below). Every element of every argument is checked (nsample ≥ size).
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import type { Tensor } from "../internals.ts";
import { getOp } from "../src/ops/registry.ts";
import { type GradCase, gradCases, sample } from "./grad_cases.ts";

/** gcheck options for f64 (see the module doc for why these values). */
const F64_GCHECK = { atol: 1e-6, rtol: 1e-6, delta: 1e-6 } as const;

/** Ops with a backward that are owned (and gradient-checked) by other test files. */
const TESTED_ELSEWHERE = new Set([
  "dropout",
  "take",
  "xent",
  "xent_total", // tests/loss_test.ts: f64 gcheck of nll, GPU gradient against the CPU
  "pool",
  "unpool",
  "conv4",
  "conv4_bias", // tests/conv_bias_test.ts: f64 gcheck, GPU against the CPU
  "deconv4",
  "rnn_layer", // tests/rnn_test.ts: f64 gcheck of every element; tests/rnn_gpu_test.ts: GPU = CPU
]);

function inputs(c: GradCase, rng: dn.Rng): Tensor[] {
  return c.args.map((a) => {
    const n = a.shape.reduce((p, q) => p * q, 1);
    return dn.fromArray(sample(a.domain ?? "normal", n, rng), {
      shape: a.shape,
      dtype: "f64",
      device: "cpu",
    });
  });
}

Deno.test("gcheck f64: every differentiable op, every element, against central differences", async () => {
  const rng = new dn.Rng(20240611);
  const cases = gradCases(rng);
  const failed: string[] = [];
  for (const c of cases) {
    const xs = inputs(c, rng);
    const nsample = Math.max(...xs.map((x) => x.size));
    const ok = await dn.gcheck(c.f, ...xs, { ...F64_GCHECK, nsample, seed: 3 });
    if (!ok) failed.push(c.name);
  }
  assert.deepEqual(failed, [], `gradient mismatches in: ${failed.join("; ")}`);
  assert.ok(cases.length > 200, `the catalogue has ${cases.length} cases`);
});

Deno.test("gcheck f64: the catalogue exercises the backward rule of every differentiable op", () => {
  const rng = new dn.Rng(5);
  const ran = new Set<string>();
  let strided = 0;
  const transposes = new Set<string>();
  const wrapped: [any, unknown][] = [];
  for (const name of dn.registeredOps()) {
    const op = getOp(name) as any;
    if (!op.backward) continue;
    const orig = op.backward;
    wrapped.push([op, orig]);
    op.backward = (dy: Tensor, xs: Tensor[], y: Tensor, attrs: any, needs: boolean[]) => {
      ran.add(name);
      if (name === "reduce_rows" && (attrs.inner ?? 1) > 1) strided++;
      if (name === "gemm") transposes.add(`${attrs.transA}${attrs.transB}`);
      return orig(dy, xs, y, attrs, needs);
    };
  }
  try {
    for (const c of gradCases(rng)) {
      const ps = inputs(c, rng).map((x) => new dn.Param(x));
      const J = dn.diff(() => dn.sum(c.f(...ps)));
      for (const p of ps) {
        assert.ok(J.grad(p) !== null, `${c.name}: every argument gets a gradient`);
      }
      J.dispose();
    }
  } finally {
    for (const [op, orig] of wrapped) op.backward = orig;
  }
  const differentiable = dn.registeredOps().filter((n) => getOp(n).backward);
  const missing = differentiable.filter((n) => !ran.has(n) && !TESTED_ELSEWHERE.has(n));
  assert.deepEqual(missing, [], "differentiable ops without a gradient check");
  // Spot checks that the catalogue reaches the special paths it claims to.
  for (const n of ["abs", "rsqrt", "pow", "minimum", "reduce_rows", "softmax_rows", "concat"]) {
    assert.ok(ran.has(n), n);
  }
  assert.ok(strided >= 14, `the strided middle-axis reduction ran ${strided} times`);
  assert.deepEqual([...transposes].sort(), ["falsefalse", "falsetrue", "truefalse", "truetrue"]);
});

/** x² as a primitive whose backward is `grad(dy, x)` (for testing gcheck). */
function squareWith(name: string, grad: (dy: Tensor, x: Tensor) => Tensor) {
  const op = dn.defineOp<Record<string, never>>({
    name,
    cpu: ([x]) => dn.mul(x, x),
    gpu: ([x]) => dn.mul(x, x),
    backward: (dy, [x]) => [grad(dy, x)],
  });
  return (x: Tensor) => dn.runOp(op, [x], {});
}

Deno.test("gcheck itself: accepts a right gradient, rejects wrong ones", async () => {
  const rng = new dn.Rng(9);
  const x = () =>
    dn.fromArray(sample("normal", 12, rng), { shape: [3, 4], dtype: "f64", device: "cpu" });
  const opts = { ...F64_GCHECK, nsample: 12, verbose: false };

  const right = squareWith("test_gcheck_square_right", (dy, x) => dn.mul(dn.mul(dy, x), 2));
  assert.equal(await dn.gcheck(right, x(), opts), true, "2x·dy is right");

  const wrong = squareWith("test_gcheck_square_wrong", (dy, x) => dn.mul(dy, x));
  assert.equal(await dn.gcheck(wrong, x(), opts), false, "x·dy (factor 2 missing) is wrong");

  // One part in 10⁵ off: well above f64 difference noise, so the tolerance must catch it.
  const slightly = squareWith(
    "test_gcheck_square_slightly",
    (dy, x) => dn.mul(dn.mul(dy, x), 2 * (1 + 1e-5)),
  );
  assert.equal(await dn.gcheck(slightly, x(), opts), false, "2(1 + 1e-5)x·dy is wrong");

  // Wrong in one element only: found because every element is sampled.
  const mask = dn.fromArray([...Array(11).fill(0), 1], {
    shape: [3, 4],
    dtype: "f64",
    device: "cpu",
  });
  const oneOff = squareWith(
    "test_gcheck_square_one_element",
    (dy, x) => dn.add(dn.mul(dn.mul(dy, x), 2), mask),
  );
  assert.equal(await dn.gcheck(oneOff, x(), opts), false, "wrong in the last element");

  // A primitive without a backward (Knet's @zerograd) has no gradient: gcheck sees 0.
  const zg = dn.defineOp<Record<string, never>>({
    name: "test_gcheck_square_zerograd",
    cpu: ([x]) => dn.mul(x, x),
    gpu: ([x]) => dn.mul(x, x),
  });
  assert.equal(await dn.gcheck((t: Tensor) => dn.runOp(zg, [t], {}), x(), opts), false);

  // Params inside a model object are found; the wrong gradient of one of them is caught.
  const model = { w: new dn.Param(x()), inner: [new dn.Param(x())] };
  const loss = (m: typeof model) => dn.sum(dn.mul(right(m.w), dn.tanh(m.inner[0])));
  assert.equal(await dn.gcheck(loss, model, opts), true);
  const badLoss = (m: typeof model) => dn.sum(dn.mul(m.w, wrong(m.inner[0])));
  assert.equal(await dn.gcheck(badLoss, model, opts), false);
});

Deno.test("gcheck: a non-scalar output is projected; a throwing f leaves the Params as they were", async () => {
  // A non-scalar f: the projection Σ f·r makes every output element count.
  const x = dn.fromArray([0.5, -1, 2], { dtype: "f64", device: "cpu" });
  assert.equal(await dn.gcheck((t: Tensor) => dn.exp(t), x, F64_GCHECK), true);
  await assert.rejects(
    () => dn.gcheck(() => dn.zeros([1], { device: "cpu" }), 3),
    /no Params or Tensors/,
  );
  // f fails on its 4th call, i.e. during a perturbed evaluation.
  let calls = 0;
  const flaky = (t: Tensor) => {
    if (++calls === 4) throw new Error("flaky f");
    return dn.sum(dn.square(t));
  };
  await assert.rejects(() => dn.gcheck(flaky, x, F64_GCHECK), /flaky f/);
  assert.deepEqual(Array.from(x.dataSync()), [0.5, -1, 2], "the perturbed element was restored");
});
