/**
 * pool / unpool (src/ops/pool.ts, kernels/pool.wgsl): hand-computed examples for every
 * mode (padding, stride ≠ window, rectangular windows, ties), the CPU twin against an
 * independent f64 reference written here as a scatter (the twin and the kernel gather),
 * GPU == CPU forward and backward on random shapes (odd sizes, batch 1 and 128, every
 * mode, padding/stride combinations), f64 gradient checks and the errors.
 *
 * Tolerance: F32_TOL for GPU vs CPU. A max is exact; an average is a sum of ≤ 9 terms
 * divided once, and a backward gathers ≤ 9 such shares: a few ulp, far inside rtol 1e-5.
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import type { Tensor } from "../internals.ts";
import { pool, type PoolOptions, unpool, type UnpoolOptions } from "../src/ops/pool.ts";
import { assertClose, F32_TOL, GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();
const F64_GCHECK = { atol: 1e-6, rtol: 1e-6, delta: 1e-6 } as const;

const t64 = (v: ArrayLike<number>, shape: number[]) =>
  dn.fromArray(Array.from(v), { shape, dtype: "f64", device: "cpu" });
const t32 = (v: ArrayLike<number>, shape: number[]) =>
  dn.fromArray(Float32Array.from(v), { shape, device: "cpu" });

/** f(x) and the gradient of Σ f(x)·r with respect to x, via diff (the op's backward rule). */
function gradOf(f: (x: Tensor) => Tensor, x: Tensor, r: Tensor): { y: Tensor; dx: Tensor } {
  const y = f(x);
  const p = new dn.Param(x);
  const J = dn.diff(() => dn.sum(dn.mul(f(p), r)));
  const dx = J.grad(p);
  assert.ok(dx !== null);
  return { y, dx };
}

const seq = (n: number, f = (i: number) => i + 1) => Array.from({ length: n }, (_, i) => f(i));

// ------------------------------------------------------------------ hand examples

Deno.test("pool: 4×4, default window 2 (max) and mode 1; max gradient to the argmax", () => {
  const x = t64(seq(16), [1, 1, 4, 4]);
  assert.deepEqual(Array.from(pool(x).dataSync()), [6, 8, 14, 16]);
  assert.deepEqual(pool(x).shape, [1, 1, 2, 2]);
  assert.deepEqual(Array.from(pool(x, { mode: 1 }).dataSync()), [3.5, 5.5, 11.5, 13.5]);
  assert.deepEqual(Array.from(pool(x, { mode: 2, alpha: 2 }).dataSync()), [7, 11, 23, 27]);
  const { dx } = gradOf((t) => pool(t), x, t64([1, 2, 3, 4], [1, 1, 2, 2]));
  const want = new Array(16).fill(0);
  want[5] = 1, want[7] = 2, want[13] = 3, want[15] = 4;
  assert.deepEqual(Array.from(dx.dataSync()), want);
  const avg = gradOf((t) => pool(t, { mode: 1 }), x, t64([4, 8, 12, 16], [1, 1, 2, 2])).dx;
  assert.deepEqual(Array.from(avg.dataSync()), [
    ...[1, 1, 2, 2, 1, 1, 2, 2],
    ...[3, 3, 4, 4, 3, 3, 4, 4],
  ]);
});

Deno.test("pool: 3×3, window 3, padding 1, stride 2 — the three modes and their gradients", () => {
  const x = t64(seq(9), [1, 1, 3, 3]);
  const o = { window: 3, padding: 1, stride: 2 } as const;
  // windows (clipped): {1,2,4,5} {2,3,5,6} {4,5,7,8} {5,6,8,9}
  assert.deepEqual(Array.from(pool(x, o).dataSync()), [5, 6, 8, 9]);
  assertClose(pool(x, { ...o, mode: 1 }).dataSync(), [12 / 9, 16 / 9, 24 / 9, 28 / 9]);
  assert.deepEqual(Array.from(pool(x, { ...o, mode: 2 }).dataSync()), [3, 4, 6, 7]);
  // Padding never wins a max, even over all-negative values.
  const neg = t64(seq(9, (i) => -(i + 1)), [1, 1, 3, 3]);
  assert.deepEqual(Array.from(pool(neg, o).dataSync()), [-1, -2, -4, -5]);

  const ones = t64([1, 1, 1, 1], [1, 1, 2, 2]);
  const g1 = gradOf((t) => pool(t, { ...o, mode: 1 }), x, ones).dx.dataSync();
  assertClose(g1, [1, 2, 1, 2, 4, 2, 1, 2, 1].map((v) => v / 9), F32_TOL, "mode 1");
  const g2 = gradOf((t) => pool(t, { ...o, mode: 2 }), x, ones).dx.dataSync();
  assert.deepEqual(Array.from(g2), [1, 2, 1, 2, 4, 2, 1, 2, 1].map((v) => v / 4));
  const dy = t64([1, 2, 3, 4], [1, 1, 2, 2]);
  const g0 = gradOf((t) => pool(t, o), x, dy).dx.dataSync();
  assert.deepEqual(Array.from(g0), [0, 0, 0, 0, 1, 2, 0, 3, 4]);
  // One element that is the max of all four overlapping windows gathers all of dy.
  const peak = t64([1, 2, 3, 4, 9, 5, 6, 7, 8], [1, 1, 3, 3]);
  assert.deepEqual(Array.from(pool(peak, o).dataSync()), [9, 9, 9, 9]);
  assert.deepEqual(Array.from(gradOf((t) => pool(t, o), peak, dy).dx.dataSync()), [
    ...[0, 0, 0, 0, 10, 0, 0, 0, 0],
  ]);
});

Deno.test("pool: rectangular window [1,2], stride 1; ties go to the first maximum", () => {
  const x = t64([1, 3, 2, 4, 4, 0], [1, 1, 2, 3]);
  const o = { window: [1, 2], stride: 1 } as const;
  const y = pool(x, o);
  assert.deepEqual(y.shape, [1, 1, 2, 2]);
  assert.deepEqual(Array.from(y.dataSync()), [3, 3, 4, 4]);
  const dx = gradOf((t) => pool(t, o), x, t64([1, 1, 1, 1], [1, 1, 2, 2])).dx;
  // row 0: both windows pick the 3; row 1: window {4,4} picks the first 4, {4,0} its 4.
  assert.deepEqual(Array.from(dx.dataSync()), [0, 2, 0, 1, 1, 0]);
});

Deno.test("pool: stride larger than the window skips cells (their gradient is 0)", () => {
  const x = t64(seq(2 * 9), [2, 1, 3, 3]); // two instances
  const o = { window: 1, stride: 2, mode: 1 } as const;
  assert.deepEqual(Array.from(pool(x, o).dataSync()), [1, 3, 7, 9, 10, 12, 16, 18]);
  const dx = gradOf((t) => pool(t, o), x, t64(seq(8), [2, 1, 2, 2])).dx;
  assert.deepEqual(Array.from(dx.dataSync()), [
    ...[1, 0, 2, 0, 0, 0, 3, 0, 4],
    ...[5, 0, 6, 0, 0, 0, 7, 0, 8],
  ]);
  // Output size 1 + floor((X + 2P − W)/S): 5×7 input, window 2, stride 3, padding 1.
  assert.deepEqual(
    pool(t64(new Array(35).fill(0), [1, 1, 5, 7]), { stride: 3, padding: 1 }).shape,
    [1, 1, 2, 3],
  );
});

Deno.test("unpool: repeats over the window; overlapping, padded and alpha variants; its gradient", () => {
  const x = t64([1, 2, 3, 4], [1, 1, 2, 2]);
  const y = unpool(x);
  assert.deepEqual(y.shape, [1, 1, 4, 4]);
  assert.deepEqual(Array.from(y.dataSync()), [
    ...[1, 1, 2, 2, 1, 1, 2, 2],
    ...[3, 3, 4, 4, 3, 3, 4, 4],
  ]);
  assert.deepEqual(Array.from(pool(y, { mode: 1 }).dataSync()), [1, 2, 3, 4], "pool∘unpool = id");
  assert.deepEqual(Array.from(unpool(x, { alpha: 2 }).dataSync().slice(0, 4)), [0.5, 0.5, 1, 1]);
  // Overlapping windows (stride 1): each cell sums the x of the windows holding it.
  const ov = unpool(t64([1, 2], [1, 1, 1, 2]), { stride: 1 });
  assert.deepEqual(ov.shape, [1, 1, 2, 3]);
  assert.deepEqual(Array.from(ov.dataSync()), [1, 3, 2, 1, 3, 2]);
  // window 3, stride 2, padding 1: [2,2] → [3,3].
  const pd = unpool(x, { window: 3, stride: 2, padding: 1 });
  assert.deepEqual(pd.shape, [1, 1, 3, 3]);
  assertClose(pd.dataSync(), [1, 3, 2, 4, 10, 6, 3, 7, 4], { rtol: 1e-15, atol: 0 }, "padded");
  // Gradient: windowed sums of dy (times area/alpha / area).
  const dy = t64(seq(16), [1, 1, 4, 4]);
  assert.deepEqual(Array.from(gradOf((t) => unpool(t), x, dy).dx.dataSync()), [14, 22, 46, 54]);
  const half = gradOf((t) => unpool(t, { alpha: 2 }), x, dy).dx.dataSync();
  assert.deepEqual(Array.from(half), [7, 11, 23, 27]);
});

// ------------------------------------------------------------------ reference (scatter)

interface Geo {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
}

function geo(o: PoolOptions): Geo {
  const two = (v: number | readonly [number, number] | undefined, d: [number, number]) =>
    v === undefined ? d : typeof v === "number" ? [v, v] : [v[0], v[1]];
  const [kh, kw] = two(o.window, [2, 2]);
  const [ph, pw] = two(o.padding, [0, 0]);
  const [sh, sw] = two(o.stride, [kh, kw]);
  return { kh, kw, sh, sw, ph, pw };
}

/** f64 pooling of [N,C,H,W] and the gradient of Σ y·r, by visiting each window once. */
function reference(
  xs: ArrayLike<number>,
  shape: number[],
  r: ArrayLike<number> | null,
  o: PoolOptions,
) {
  const [n, c, h, w] = shape;
  const { kh, kw, sh, sw, ph, pw } = geo(o);
  const mode = o.mode ?? 0;
  const alpha = o.alpha ?? 1;
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  const y = new Float64Array(n * c * oh * ow);
  const dx = new Float64Array(n * c * h * w);
  for (let pl = 0; pl < n * c; pl++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const cells: number[] = []; // flat indices of the real cells, row-major
        for (let a = 0; a < kh; a++) {
          for (let b = 0; b < kw; b++) {
            const iy = oy * sh - ph + a;
            const ix = ox * sw - pw + b;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) cells.push((pl * h + iy) * w + ix);
          }
        }
        const k = (pl * oh + oy) * ow + ox;
        const g = r ? alpha * r[k] : 0;
        if (mode === 0) {
          let best = cells[0];
          for (const q of cells) if (xs[q] > xs[best]) best = q;
          y[k] = alpha * xs[best];
          dx[best] += g;
        } else {
          const count = mode === 1 ? kh * kw : cells.length;
          y[k] = alpha * cells.reduce((s, q) => s + xs[q], 0) / count;
          for (const q of cells) dx[q] += g / count;
        }
      }
    }
  }
  return { y, dx, oshape: [n, c, oh, ow] };
}

/** Random cases: odd sizes, batch 1 and 128, every mode, padding/stride combinations. */
const CASES: { shape: number[]; o: PoolOptions }[] = [];
const GEOMS: PoolOptions[] = [
  {},
  { window: 3 },
  { window: 3, stride: 1 },
  { window: 3, stride: 2, padding: 1 },
  { window: [2, 3], stride: [1, 2], padding: [1, 0] },
  { window: 2, stride: 3, padding: 1 },
  { window: 5, stride: 1, padding: 2 },
  { window: [1, 4], stride: [3, 1], padding: [0, 3], alpha: 0.5 },
];
for (const shape of [[1, 1, 7, 9], [1, 3, 13, 11], [128, 2, 9, 7], [3, 5, 33, 17]]) {
  for (const g of GEOMS) {
    for (const mode of [0, 1, 2] as const) CASES.push({ shape, o: { ...g, mode } });
  }
}

function randHost(n: number, rng: dn.Rng, ints = false): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = ints ? Math.floor(rng.uniform() * 3) : rng.normal();
  return v;
}

Deno.test("pool: CPU twin (f32 and f64) == scatter reference, forward and backward, all cases", () => {
  const rng = new dn.Rng(11);
  for (const { shape, o } of CASES) {
    const size = shape.reduce((a, b) => a * b, 1);
    const ints = (o.mode ?? 0) === 0 && shape[0] === 1; // many ties
    const xs = randHost(size, rng, ints);
    const ref = reference(xs, shape, null, o);
    const rs = randHost(ref.y.length, rng);
    const { dx: rdx } = reference(xs, shape, rs, o);
    const what = `${JSON.stringify(o)} ${shape}`;
    for (const [mk, tol] of [[t32, F32_TOL], [t64, { rtol: 1e-12, atol: 1e-12 }]] as const) {
      const { y, dx } = gradOf((t) => pool(t, o), mk(xs, shape), mk(rs, ref.oshape));
      assert.deepEqual(y.shape, ref.oshape, what);
      assertClose(y.dataSync(), ref.y, tol, `forward ${what}`);
      assertClose(dx.dataSync(), rdx, tol, `backward ${what}`);
    }
  }
});

Deno.test({
  name: "pool: GPU == CPU forward and backward (random shapes, all modes, padding/stride, ties)",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rng = new dn.Rng(12);
    for (const { shape, o } of CASES) {
      const size = shape.reduce((a, b) => a * b, 1);
      const xs = randHost(size, rng, (o.mode ?? 0) === 0 && shape[1] === 3);
      const ref = reference(xs, shape, null, o);
      const rs = randHost(ref.y.length, rng);
      const c = gradOf((t) => pool(t, o), t32(xs, shape), t32(rs, ref.oshape));
      const xg = t32(xs, shape).gpu();
      const rg = t32(rs, ref.oshape).gpu();
      const g = gradOf((t) => pool(t, o), xg, rg);
      assert.equal(g.y.device, "gpu");
      assert.equal(g.dx.device, "gpu");
      const [gy, gdx] = await dn.readAll([g.y, g.dx]);
      const what = `${JSON.stringify(o)} ${shape}`;
      assertClose(gy, c.y.dataSync(), F32_TOL, `gpu forward ${what}`);
      assertClose(gdx, c.dx.dataSync(), F32_TOL, `gpu backward ${what}`);
      for (const t of [xg, rg, g.y, g.dx]) t.dispose();
    }
  },
});

Deno.test({
  name:
    "pool: max-pool backward with windows that do not overlap is one pass on the GPU; NaN and ties as on the CPU",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const shape = [2, 3, 7, 9];
    const size = shape.reduce((a, b) => a * b, 1);
    const rng = new dn.Rng(21);
    const xs = randHost(size, rng, true); // integers: many ties
    xs[4] = NaN; // the first window row of plane 0 holds a NaN
    xs[15] = NaN;
    for (const o of [{}, { window: 3 }, { window: 2, stride: 3, padding: 1 }] as PoolOptions[]) {
      const ref = reference(xs, shape, null, o);
      const rs = randHost(ref.y.length, rng);
      const c = gradOf((t) => pool(t, o), t32(xs, shape), t32(rs, ref.oshape));
      const xg = t32(xs, shape).gpu();
      const rg = t32(rs, ref.oshape).gpu();
      // Count the pool kernel's dispatches: the forward twice (gradOf's y and inside
      // diff), the backward once (no argmax-table pass).
      const rt = dn.gpuRuntime();
      const dispatch = rt.dispatch;
      let pools = 0;
      rt.dispatch = (spec) => {
        if (spec.kernel === "pool") pools++;
        dispatch.call(rt, spec);
      };
      let g: { y: Tensor; dx: Tensor };
      try {
        g = gradOf((t) => pool(t, o), xg, rg);
      } finally {
        rt.dispatch = dispatch;
      }
      const what = JSON.stringify(o);
      assert.equal(pools, 3, `${what}: pool dispatches`);
      const [gy, gdx] = await dn.readAll([g.y, g.dx]);
      assertClose(gdx, c.dx.dataSync(), F32_TOL, `backward ${what}`);
      assertClose(gy, c.y.dataSync(), F32_TOL, `forward ${what}`);
      for (const t of [xg, rg, g.y, g.dx]) t.dispose();
    }
  },
});

Deno.test({
  name: "unpool: GPU == CPU forward and backward; pool(unpool(x)) == x on the GPU",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rng = new dn.Rng(13);
    const opts: UnpoolOptions[] = [
      {},
      { window: 3 },
      { window: 3, stride: 1 },
      { window: 3, stride: 2, padding: 1, alpha: 4 },
      { window: [2, 3], stride: [3, 1], padding: [1, 2] },
    ];
    for (const shape of [[1, 1, 5, 3], [128, 2, 7, 5], [2, 3, 16, 9]]) {
      for (const o of opts) {
        const size = shape.reduce((a, b) => a * b, 1);
        const xs = randHost(size, rng);
        const yc = unpool(t32(xs, shape), o);
        const rs = randHost(yc.size, rng);
        const c = gradOf((t) => unpool(t, o), t32(xs, shape), t32(rs, [...yc.shape]));
        const xg = t32(xs, shape).gpu();
        const rg = t32(rs, [...yc.shape]).gpu();
        const g = gradOf((t) => unpool(t, o), xg, rg);
        const back = pool(g.y, { ...o, mode: 1 });
        const [gy, gdx, gb] = await dn.readAll([g.y, g.dx, back]);
        const what = `${JSON.stringify(o)} ${shape}`;
        assert.deepEqual(g.y.shape, yc.shape, what);
        assertClose(gy, c.y.dataSync(), F32_TOL, `gpu unpool ${what}`);
        assertClose(gdx, c.dx.dataSync(), F32_TOL, `gpu unpool backward ${what}`);
        if ((o.stride ?? o.window ?? 2) === (o.window ?? 2) && !o.padding) {
          assertClose(gb, xs.map((v) => v / (o.alpha ?? 1)), F32_TOL, `pool∘unpool ${what}`);
        }
        for (const t of [xg, rg, g.y, g.dx, back]) t.dispose();
      }
    }
  },
});

// ------------------------------------------------------------------ gradient checks

/** Distinct values 0.05 apart (shuffled), so no max window is near a tie under ±δ. */
function distinct(n: number, rng: dn.Rng): number[] {
  const v = seq(n, (i) => 0.05 * (i - n / 2));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [v[i], v[j]] = [v[j], v[i]];
  }
  return v;
}

Deno.test("gcheck f64: pool in every mode (padding, strides, alpha) and unpool", async () => {
  const rng = new dn.Rng(14);
  const failed: string[] = [];
  const shape = [2, 2, 7, 6];
  for (const g of GEOMS) {
    for (const mode of [0, 1, 2] as const) {
      const o = { ...g, mode };
      const x = t64(distinct(168, rng), shape);
      const ok = await dn.gcheck((t: Tensor) => pool(t, o), x, { ...F64_GCHECK, nsample: 168 });
      if (!ok) failed.push(`pool ${JSON.stringify(o)}`);
    }
  }
  for (const o of [{}, { window: 3, stride: 1 }, { window: 3, stride: 2, padding: 1, alpha: 3 }]) {
    const x = t64(distinct(24, rng), [2, 1, 3, 4]);
    const ok = await dn.gcheck((t: Tensor) => unpool(t, o), x, { ...F64_GCHECK, nsample: 24 });
    if (!ok) failed.push(`unpool ${JSON.stringify(o)}`);
  }
  assert.deepEqual(failed, []);
});

Deno.test("gcheck f64: a wrong max-pool gradient would be caught (ties broken the other way)", async () => {
  // Sanity of the check itself: with a tie the numeric derivative is not one-sided, so
  // the analytic "first max" rule and central differences disagree; gcheck must say so.
  const x = t64([1, 1, 0, 0], [1, 1, 2, 2]);
  const ok = await dn.gcheck((t: Tensor) => pool(t), x, { ...F64_GCHECK, verbose: false });
  assert.equal(ok, false);
});

// ------------------------------------------------------------------ errors

Deno.test("pool/unpool: errors name the op and the shapes", () => {
  const x = t64(new Array(2 * 3 * 4 * 5).fill(1), [2, 3, 4, 5]);
  assert.throws(
    () => pool(x, { window: 7 }),
    /pool: window \[7,7\] is larger than the padded input \[4,5\] of f64\[2,3,4,5\]/,
  );
  assert.throws(
    () => pool(x, { window: [3, 8], padding: 1 }),
    /larger than the padded input \[6,7\]/,
  );
  assert.throws(
    () => pool(t64(seq(20), [4, 5])),
    /pool: needs a 4-D input \[N,C,H,W\], got f64\[4,5\] cpu \(reshape/,
  );
  assert.throws(() => pool(t64(seq(20), [1, 4, 5])), /pool: needs a 4-D input .*f64\[1,4,5\]/);
  assert.throws(() => pool(x, { window: 0 }), /pool: window must be a positive integer/);
  assert.throws(
    () => pool(x, { window: [2, -1] }),
    /pool: window must be a positive integer.*\[2,-1\]/,
  );
  assert.throws(() => pool(x, { window: 1.5 }), /pool: window/);
  assert.throws(() => pool(x, { stride: 0 }), /pool: stride must be a positive integer/);
  assert.throws(() => pool(x, { padding: -1 }), /pool: padding must be a non-negative integer/);
  assert.throws(
    () => pool(x, { padding: 2 }),
    /pool: padding \[2,2\] must be smaller than the window \[2,2\]/,
  );
  assert.throws(() => pool(x, { mode: 3 as 0 }), /pool: mode must be 0 \(max\), 1 or 2/);
  assert.throws(() => pool(x, { alpha: NaN }), /pool: alpha/);
  assert.throws(() => pool(x, { window: [2, 2, 2] as unknown as [number, number] }), /pair/);
  assert.throws(() => unpool(t64(seq(4), [2, 2])), /unpool: needs a 4-D input/);
  assert.throws(() => unpool(x, { stride: -2 }), /unpool: stride must be a positive integer/);
  assert.throws(() => unpool(x, { padding: 3, window: 3 }), /unpool: padding \[3,3\]/);
  assert.throws(
    () => unpool(t64([1], [1, 1, 1, 1]), { window: 3, padding: 2 }),
    /unpool: f64\[1,1,1,1\] cpu .* gives an empty output \[-1,-1\]/,
  );
  const d = t64(seq(16), [1, 1, 4, 4]);
  d.dispose();
  assert.throws(() => pool(d), /pool: input 0 .* was disposed/);
});
