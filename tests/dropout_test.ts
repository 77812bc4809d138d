/**
 * Dropout (src/ops/dropout.ts, kernels/dropout.wgsl): identity outside `diff`, the kept
 * fraction and scaling inside it, the same mask on the CPU and the GPU for one seed,
 * the gradient dy·mask/(1 − p) (regenerated from the seed), reproducibility, the hash
 * against an independent BigInt implementation, and errors.
 */

import assert from "node:assert/strict";
import { fromArray, keep, mul, readAll, Rng, seed, sum, type Tensor } from "../internals.ts";
import { diff } from "../src/autograd/diff.ts";
import { gcheck } from "../src/autograd/gcheck.ts";
import { Param } from "../src/autograd/param.ts";
import { isRecording } from "../src/autograd/tape.ts";
import { dropout, dropoutKeeps, pcgHash } from "../src/ops/dropout.ts";
import { assertClose, assertExact, EDGE_SIZES, GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

/** Values in [0.5, 1.5): never zero, so a zero output means "dropped". */
function positive(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => 0.5 + rng.uniform());
}

/**
 * Runs dropout inside `diff` (where it is active) and returns its output (kept alive)
 * and the gradient of Σ dropout(w)·r.
 */
function dropoutInDiff(
  x: Tensor,
  p: number,
  r: Tensor,
  opts: { seed?: number; rng?: Rng } = {},
): { y: Tensor; g: Tensor } {
  const w = new Param(x);
  let y: Tensor | null = null;
  const J = diff(() => {
    assert.ok(isRecording());
    y = keep(dropout(w, p, opts));
    return sum(mul(y, r));
  });
  const g = J.take(w);
  J.dispose();
  w.dispose();
  assert.ok(g && y, "dropout passes a gradient");
  return { y: y as Tensor, g };
}

// ---------------------------------------------------------------------------------------
// Inactive outside diff

Deno.test({
  name: "dropout outside diff returns x itself (cpu and gpu), p = 0 returns x inside diff",
  ...GPU_TEST,
  async fn() {
    const devices = gpu ? ["cpu", "gpu"] as const : ["cpu"] as const;
    for (const device of devices) {
      const x = fromArray([1, 2, 3, 4], { device });
      assert.equal(isRecording(), false);
      assert.equal(dropout(x, 0.5), x, `${device}: identity outside diff`);
      assert.equal(dropout(x, 0.99, { seed: 3 }), x, `${device}: a seed does not activate it`);
      assert.equal(dropout(x, 0.5, { drop: false }), x);
      assert.deepEqual(Array.from(await x.data()), [1, 2, 3, 4]);
      const w = new Param(x);
      let inside: Tensor | null = null;
      let off: Tensor | null = null;
      const J = diff(() => {
        inside = dropout(w, 0);
        off = dropout(w, 0.5, { drop: false });
        return sum(inside);
      });
      assert.equal(inside, w, `${device}: p = 0 is the identity`);
      assert.equal(off, w, `${device}: drop: false is the identity`);
      assert.deepEqual(Array.from(await J.grad(w)!.data()), [1, 1, 1, 1]);
      J.dispose();
      w.dispose();
      x.dispose();
    }
  },
});

Deno.test("dropout: the global generator is not drawn from while inactive", () => {
  seed(42);
  const x = fromArray([1, 2, 3], { device: "cpu" });
  dropout(x, 0.5);
  // The next global draw is still the first one of seed 42.
  const r = new Rng(42);
  const w = new Param(fromArray(new Float32Array(64).fill(1), { device: "cpu" }));
  let y1: Tensor | null = null;
  // keep: diff frees the intermediates it created (CPU heap tensors too)
  diff(() => {
    y1 = keep(dropout(w, 0.5));
    return sum(y1);
  }).dispose();
  let y2: Tensor | null = null;
  diff(() => {
    y2 = keep(dropout(w, 0.5, { seed: r.nextU32() }));
    return sum(y2);
  }).dispose();
  assertExact(y1!.dataSync(), y2!.dataSync(), "global seed(42) first draw");
});

// ---------------------------------------------------------------------------------------
// Active inside diff: fraction kept, scaling, gradient

Deno.test("dropout inside diff: kept fraction ≈ 1 − p on 100k elements, kept scaled by 1/(1 − p)", () => {
  const n = 100_000;
  const rng = new Rng(1);
  for (const p of [0.1, 0.5, 0.9]) {
    for (const dtype of ["f32", "f64"] as const) {
      const xv = positive(rng, n);
      const x = fromArray(xv, { dtype, device: "cpu" });
      const r = fromArray(new Float32Array(n).fill(1), { dtype, device: "cpu" });
      const { y } = dropoutInDiff(x, p, r, { rng });
      const ys = y.dataSync();
      const xs = x.dataSync();
      let kept = 0;
      for (let i = 0; i < n; i++) {
        if (ys[i] === 0) continue;
        kept++;
        const want = dtype === "f64"
          ? xs[i] / (1 - p)
          : Math.fround(xs[i] * Math.fround(1 / (1 - p)));
        if (Math.abs(ys[i] - want) > 1e-12 * want) {
          assert.fail(`p=${p} ${dtype}: kept element ${i} is ${ys[i]}, expected ${want}`);
        }
      }
      // Binomial(n, 1 − p): 6 standard deviations.
      const bound = 6 * Math.sqrt(n * p * (1 - p));
      assert.ok(
        Math.abs(kept - n * (1 - p)) <= bound,
        `p=${p} ${dtype}: kept ${kept} of ${n}, expected ${n * (1 - p)} ± ${bound.toFixed(0)}`,
      );
    }
  }
});

Deno.test("dropout mask: no structure by parity, by neighbour, or across seeds", () => {
  const n = 100_000;
  const p = 0.5;
  const bound = (m: number) => 6 * Math.sqrt(m * p * (1 - p));
  for (const s of [0, 1, 2, 0xffffffff]) {
    let even = 0;
    let afterKept = 0;
    let keptPrev = 0;
    let agree = 0;
    for (let i = 0; i < n; i++) {
      const k = dropoutKeeps(s, p, i);
      if (k && i % 2 === 0) even++;
      if (i > 0 && dropoutKeeps(s, p, i - 1)) {
        keptPrev++;
        if (k) afterKept++;
      }
      if (k === dropoutKeeps(s + 1, p, i)) agree++;
    }
    assert.ok(Math.abs(even - n / 4) <= bound(n / 2), `seed ${s}: ${even} even kept`);
    assert.ok(
      Math.abs(afterKept - keptPrev / 2) <= bound(keptPrev),
      `seed ${s}: ${afterKept} kept after ${keptPrev} kept neighbours`,
    );
    assert.ok(Math.abs(agree - n / 2) <= bound(n), `seed ${s} vs ${s + 1}: ${agree} agree`);
  }
});

Deno.test("dropout gradient = dy·mask/(1 − p), the mask regenerated from the seed (f32, f64)", () => {
  const rng = new Rng(2);
  const n = 1000;
  for (const dtype of ["f32", "f64"] as const) {
    const p = 0.3;
    const x = fromArray(positive(rng, n), { dtype, device: "cpu" });
    const rv = Float64Array.from({ length: n }, () => rng.normal());
    const r = fromArray(rv, { dtype, device: "cpu" });
    const { y, g } = dropoutInDiff(x, p, r, { seed: 12345 });
    const ys = y.dataSync();
    const gs = g.dataSync();
    const rs = r.dataSync();
    let dropped = 0;
    for (let i = 0; i < n; i++) {
      const mask = ys[i] !== 0 ? 1 : 0;
      assert.equal(mask === 1, dropoutKeeps(12345, p, i), `${dtype} element ${i}: mask`);
      dropped += 1 - mask;
      const want = rs[i] * mask / (1 - p);
      const tol = dtype === "f64" ? 1e-15 : 1e-6;
      assert.ok(
        Math.abs(gs[i] - want) <= tol * Math.abs(want),
        `${dtype} element ${i}: grad ${gs[i]}, expected ${want}`,
      );
    }
    assert.ok(dropped > 200 && dropped < 400, `${dtype}: ${dropped} of ${n} dropped at p=${p}`);
  }
});

Deno.test("dropout gcheck f64 (fixed seed, drop: true so the differences see the same mask)", async () => {
  const rng = new Rng(3);
  const x = fromArray(Float64Array.from({ length: 40 }, () => rng.normal()), {
    shape: [5, 8],
    dtype: "f64",
    device: "cpu",
  });
  const f = (w: Tensor) => mul(dropout(w, 0.4, { seed: 99, drop: true }), w);
  assert.ok(await gcheck(f, x, { atol: 1e-6, rtol: 1e-6, delta: 1e-6, nsample: 40 }));
});

// ---------------------------------------------------------------------------------------
// CPU == GPU, reproducibility

Deno.test({
  name: `dropout: cpu mask == gpu mask for a seed, sizes ${EDGE_SIZES.join(",")}`,
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const rng = new Rng(4);
    const cpuOut: Tensor[] = [];
    const gpuOut: Tensor[] = [];
    for (const n of EDGE_SIZES) {
      for (const [p, s] of [[0.5, 7], [0.1, 0xdeadbeef], [0.95, 0]] as const) {
        const x = fromArray(positive(rng, n), { device: "cpu" });
        cpuOut.push(dropout(x, p, { seed: s, drop: true }));
        const xg = x.gpu();
        gpuOut.push(dropout(xg, p, { seed: s, drop: true }));
        xg.dispose();
      }
    }
    const got = await readAll(gpuOut);
    got.forEach((g, k) => {
      // Same mask and the same f32 product: bitwise equal.
      assertExact(g, cpuOut[k].dataSync(), `case ${k} (n=${cpuOut[k].size})`);
    });
    gpuOut.forEach((t) => t.dispose());
  },
});

Deno.test({
  name: "dropout gpu inside diff: output and gradient equal the cpu ones for the same seed",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const rng = new Rng(5);
    const n = 4099;
    const x = fromArray(positive(rng, n), { device: "cpu" });
    const r = fromArray(Float32Array.from({ length: n }, () => rng.normal()), { device: "cpu" });
    const c = dropoutInDiff(x, 0.25, r, { seed: 2024 });
    const [xg, rg] = [x.gpu(), r.gpu()];
    const g = dropoutInDiff(xg, 0.25, rg, { seed: 2024 });
    const [gy, gg] = await readAll([g.y, g.g]);
    assertExact(gy, c.y.dataSync(), "forward");
    assertClose(gg, c.g.dataSync(), { rtol: 1e-6, atol: 0 }, "gradient");
    // Drawn seeds: the same generator state gives the same mask on both devices.
    const c2 = dropoutInDiff(x, 0.6, r, { rng: new Rng(77) });
    const g2 = dropoutInDiff(xg, 0.6, rg, { rng: new Rng(77) });
    assertExact(await g2.y.data(), c2.y.dataSync(), "forward, seed from rng");
    for (const t of [xg, rg, g.y, g.g, g2.y, g2.g]) t.dispose();
  },
});

Deno.test("dropout: reproducible with a seed or an rng, a new mask per call otherwise", () => {
  const x = fromArray(new Float32Array(2000).fill(1), { device: "cpu" });
  const run = (opts: { seed?: number; rng?: Rng }) =>
    dropout(x, 0.5, { ...opts, drop: true }).dataSync();
  assertExact(run({ seed: 5 }), run({ seed: 5 }), "same seed");
  assertExact(run({ rng: new Rng(9) }), run({ rng: new Rng(9) }), "same rng state");
  const differ = (a: ArrayLike<number>, b: ArrayLike<number>) =>
    Array.from(a).filter((v, i) => v !== b[i]).length;
  assert.ok(differ(run({ seed: 5 }), run({ seed: 6 })) > 500, "different seeds");
  const rng = new Rng(9);
  assert.ok(differ(run({ rng }), run({ rng })) > 500, "successive calls draw new seeds");
  seed(11);
  const a = run({});
  seed(11);
  assertExact(run({}), a, "global seed");
  assert.ok(differ(run({}), a) > 500, "global generator advances");
});

// ---------------------------------------------------------------------------------------
// The hash

/** PCG-RXS-M-XS in BigInt arithmetic (an independent implementation of the formula). */
function pcgBig(v: number): number {
  const M = (1n << 32n) - 1n;
  const state = (BigInt(v) * 747796405n + 2891336453n) & M;
  const word = (((state >> ((state >> 28n) + 4n)) ^ state) * 277803737n) & M;
  return Number((word >> 22n) ^ word);
}

Deno.test("pcgHash matches a BigInt implementation; dropoutKeeps follows its threshold", () => {
  const rng = new Rng(6);
  const inputs = [0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff];
  for (let i = 0; i < 2000; i++) inputs.push(rng.nextU32());
  for (const v of inputs) assert.equal(pcgHash(v), pcgBig(v), `pcg(${v})`);
  for (let i = 0; i < 500; i++) {
    const h = pcgBig(pcgBig(i) ^ pcgBig(31));
    assert.equal(dropoutKeeps(31, 0.3, i), h >= Math.floor(0.3 * 2 ** 32), `element ${i}`);
  }
});

// ---------------------------------------------------------------------------------------
// Errors and edge cases

Deno.test("dropout errors: p outside [0, 1), bad seeds, non-tensors", () => {
  const x = fromArray([1, 2], { device: "cpu" });
  for (const p of [1, 1.5, -0.1, NaN, Infinity]) {
    assert.throws(
      () => dropout(x, p),
      new RegExp(`dropout: p must be a probability in \\[0, 1\\), got ${p} \\(x f32\\[2\\] cpu\\)`),
    );
  }
  assert.throws(() => dropout(x, "0.5" as unknown as number), /dropout: p must be a probability/);
  assert.throws(
    () => dropout(x, 0.5, { seed: -1 }),
    /dropout: seed must be an integer in \[0, 2\^32\), got -1/,
  );
  assert.throws(() => dropout(x, 0.5, { seed: 1.5 }), /dropout: seed must be an integer/);
  assert.throws(() => dropout(x, 0.5, { seed: 2 ** 32 }), /dropout: seed must be an integer/);
  assert.throws(() => dropout(null as unknown as Tensor, 0.5), /dropout: input 0 is not a Tensor/);
});

Deno.test({
  name: "dropout on empty tensors (cpu and gpu)",
  ...GPU_TEST,
  async fn() {
    const devices = gpu ? ["cpu", "gpu"] as const : ["cpu"] as const;
    for (const device of devices) {
      const x = fromArray(new Float32Array(0), { shape: [0, 3], device });
      const y = dropout(x, 0.5, { drop: true, seed: 1 });
      assert.deepEqual(y.shape, [0, 3]);
      assert.equal((await y.data()).length, 0);
    }
  },
});
