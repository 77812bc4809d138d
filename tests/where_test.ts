// where(c, a, b) and whereInto(c, a, out): against a direct loop at odd sizes with every
// broadcast form, NaN handling, f64 gradients, GPU = CPU, and bad input.

import assert from "node:assert/strict";
import { gcheck } from "../src/autograd/gcheck.ts";
import { diff } from "../src/autograd/diff.ts";
import { Param } from "../src/autograd/param.ts";
import { gt as greater, mul } from "../src/ops/math.ts";
import { sum } from "../src/ops/reduce.ts";
import { where, whereInto } from "../src/ops/where.ts";
import { fromArray, randn } from "../src/tensor/create.ts";
import { init } from "../src/tensor/device.ts";
import { Rng } from "../src/tensor/random.ts";
import type { Tensor } from "../src/tensor/tensor.ts";
import { assertExact, GPU_TEST, haveGpu } from "./_helpers.ts";

await init({ device: "cpu" });

/** A 0/1 condition (with some exact zeros and a NaN-free mix) of `n` elements. */
function cond(n: number, rng: Rng, device: "cpu" | "gpu" = "cpu"): Tensor {
  return fromArray(
    Array.from({ length: n }, () => (rng.uniform() < 0.5 ? 0 : rng.uniform() + 0.5)),
    {
      shape: [n],
      device,
    },
  );
}

/** The expected values by a direct loop (numbers broadcast, size-1 operands broadcast). */
function expected(c: ArrayLike<number>, a: ArrayLike<number>, b: ArrayLike<number>, n: number) {
  const at = (x: ArrayLike<number>, i: number) => x.length === 1 ? x[0] : x[i];
  return Float32Array.from({ length: n }, (_, i) => at(c, i) !== 0 ? at(a, i) : at(b, i));
}

Deno.test("where: c ≠ 0 ? a : b at odd sizes, each operand full or broadcast, numbers as scalars", async () => {
  const rng = new Rng(3);
  for (const n of [1, 7, 33, 257, 1000]) {
    const c = cond(n, rng), a = randn([n], { rng }), b = randn([n], { rng });
    const one = randn([1], { rng });
    const cs = c.host(), as = a.host(), bs = b.host(), os = one.host();
    assertExact(await where(c, a, b).data(), expected(cs, as, bs, n), `n ${n}`);
    assertExact(await where(c, one, b).data(), expected(cs, os, bs, n), `a scalar, n ${n}`);
    assertExact(await where(c, a, 2.5).data(), expected(cs, as, [2.5], n), `b number, n ${n}`);
    const c1 = fromArray([1]);
    assertExact(await where(c1, a, b).data(), as, `c scalar true, n ${n}`);
  }
  // Broadcasting of shapes: c [3,1], a [1,4], b [] → [3,4].
  const c = fromArray([[1], [0], [1]]), a = fromArray([[1, 2, 3, 4]]), b = fromArray(9);
  const y = where(c, a, b);
  assert.deepEqual(y.shape, [3, 4]);
  assert.deepEqual([...await y.data()], [1, 2, 3, 4, 9, 9, 9, 9, 1, 2, 3, 4]);
});

Deno.test("where: the branch not taken never leaks NaN; a NaN condition counts as true", async () => {
  const c = fromArray([1, 0, NaN]);
  const a = fromArray([1, NaN, 3]);
  const b = fromArray([NaN, 2, 5]);
  assert.deepEqual([...await where(c, a, b).data()], [1, 2, 3]);
});

Deno.test("where: gradients in f64 flow to the chosen branch (gcheck), unbroadcast to scalar operands", async () => {
  const rng = new Rng(8);
  const c = fromArray(Array.from({ length: 13 }, (_, i) => (i % 3 === 0 ? 0 : 1)), {
    dtype: "f64",
  });
  const a = new Param(randn([13], { rng, dtype: "f64" }));
  const b = new Param(randn([1], { rng, dtype: "f64" }));
  const w = randn([13], { rng, dtype: "f64" });
  const f = () => sum(mul(where(c, a, b), w));
  assert.ok(await gcheck(f, a, b, { nsample: 14, atol: 1e-8, rtol: 1e-6, delta: 1e-6 }));
  const J = diff(f);
  const ga = J.grad(a)!.host(), gb = J.grad(b)!.host(), ws = w.host();
  for (let i = 0; i < 13; i++) assert.equal(ga[i], i % 3 === 0 ? 0 : ws[i]);
  assert.ok(Math.abs(gb[0] - [0, 3, 6, 9, 12].reduce((s, i) => s + ws[i], 0)) < 1e-12);
});

Deno.test("whereInto: out ← c ? a : out in place (and inverted), bad input named", () => {
  const rng = new Rng(4);
  const n = 101;
  const c = cond(n, rng), a = randn([n], { rng }), out = randn([n], { rng });
  const before = Float32Array.from(out.host());
  whereInto(c, a, out);
  assertExact(out.host(), expected(c.host(), a.host(), before, n), "whereInto");
  const out2 = fromArray(before);
  whereInto(c, a, out2, true);
  assertExact(out2.host(), expected(c.host(), before, a.host(), n), "whereInto inverted");
  assert.throws(
    () => whereInto(fromArray([1, 0]), a, out),
    /whereInto: c \[2\] must have out's 101 elements \(\[101\]\) or one/,
  );
  assert.throws(() => whereInto(c, out, out), /must not be out itself/);
  assert.throws(() => where(fromArray([1, 0]), fromArray([1, 2, 3]), 0), /where/);
});

Deno.test({
  name: "where / whereInto on the GPU equal the CPU (odd sizes, broadcast, in place)",
  ignore: !(await haveGpu()),
  ...GPU_TEST,
  fn: async () => {
    const rng = new Rng(6);
    for (const n of [1, 7, 257, 100_003]) {
      const c = cond(n, rng),
        a = randn([n], { rng }),
        b = randn([n], { rng }),
        s = randn([1], { rng });
      const [cg, ag, bg, sg] = [c, a, b, s].map((t) => t.gpu());
      assertExact(await where(cg, ag, bg).data(), await where(c, a, b).data(), `where n ${n}`);
      assertExact(await where(cg, sg, bg).data(), await where(c, s, b).data(), `scalar a n ${n}`);
      whereInto(cg, ag, bg, n % 2 === 1);
      whereInto(c, a, b, n % 2 === 1);
      assertExact(await bg.data(), b.host(), `whereInto n ${n}`);
      // Gradients on the GPU.
      const pa = new Param(ag), pb = new Param(bg);
      const J = diff(() => sum(where(greater(cg, 0), pa, pb)));
      assertExact(await J.grad(pa)!.data(), expected(c.host(), [1], [0], n), `grad a n ${n}`);
      assertExact(await J.grad(pb)!.data(), expected(c.host(), [0], [1], n), `grad b n ${n}`);
    }
  },
});
