/**
 * Reductions (src/ops/reduce.ts, kernels/reduce.wgsl): sum, mean, prod, max, min, argmax,
 * argmin, variance, std, dot, nrm2. The CPU twin is checked against an independent f64
 * reference that walks multi-indices (so the axis handling is tested, not just copied);
 * the GPU is checked against both.
 *
 * Tolerances. max/min/argmax/argmin/prod are exact (prod inputs are chosen so that every
 * partial product is representable in f32). Sums are compared relative to Σ|x|, not to the
 * result: a sum of n f32 values in any order has |error| ≤ γ·Σ|x| where γ ≈ (depth of the
 * summation)·u, u = 2⁻²⁴; the result itself may cancel to ~0, so an rtol on it says nothing.
 * The GPU sums ⌈chunk/WG⌉ values per thread (WG = 64 on the software profile, 256 on
 * hardware ones), then combines the WG partials (serially, or in an 8-level tree), and
 * a second pass sums ≤ 256 chunk partials. For chunks up to 16 384 that gives
 * γ ≤ (256 + 64 + 256)·u ≈ 576u worst case; the realised error of such sums is a random
 * walk, ≲ √(that)·u ≈ 24u, inside F32_TOL.rtol = 1e-5 ≈ 168u, which {@link sumBound}
 * applies relative to Σ|x|.
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import { assertClose, EDGE_SIZES, F32_TOL, GPU_TEST, haveGpu, onGpuProfiles } from "./_helpers.ts";

const gpu = await haveGpu();

/** Allowed |sum error| for a sum whose terms have absolute sum `absSum` (see the header). */
function sumBound(absSum: number): number {
  return F32_TOL.atol + F32_TOL.rtol * absSum;
}

/** Asserts |actual[i] − expected[i]| ≤ bound[i] for each i (NaN matches NaN). */
function assertWithin(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  bound: ArrayLike<number>,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (Number.isNaN(expected[i]) && Number.isNaN(actual[i])) continue;
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= bound[i])) {
      throw new Error(
        `${what}: element ${i} is ${actual[i]}, expected ${expected[i]} (|err| ${err} > bound ${
          bound[i]
        })`,
      );
    }
  }
}

/** Exact equality of values (0 and −0 equal, NaN equals NaN). */
function assertExact(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assertClose(actual, expected, { rtol: 0, atol: 0 }, what);
}

/** Independent f64 reference statistics of `vals` (row-major `shape`) over sorted `axes`. */
interface RefStats {
  outShape: number[];
  n: number;
  sum: Float64Array;
  absSum: Float64Array;
  prod: Float64Array;
  max: Float64Array;
  min: Float64Array;
  argmax: Float64Array;
  argmin: Float64Array;
  /** Σ (x − mean)², two-pass in f64. */
  m2: Float64Array;
}

function reference(
  vals: ArrayLike<number>,
  shape: readonly number[],
  axes: readonly number[],
): RefStats {
  const rank = shape.length;
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const outShape = kept.map((d) => shape[d]);
  const outSize = outShape.reduce((a, b) => a * b, 1);
  const n = axes.reduce((a, d) => a * shape[d], 1);
  // Strides of each input dimension in the output (kept dims) and within a row (reduced dims).
  const outStride = new Array<number>(rank).fill(0);
  const inStride = new Array<number>(rank).fill(0);
  let s = 1;
  for (let k = kept.length - 1; k >= 0; k--) {
    outStride[kept[k]] = s;
    s *= shape[kept[k]];
  }
  s = 1;
  for (let k = axes.length - 1; k >= 0; k--) {
    inStride[axes[k]] = s;
    s *= shape[axes[k]];
  }
  const f = (v: number) => new Float64Array(outSize).fill(v);
  const r: RefStats = {
    outShape,
    n,
    sum: f(0),
    absSum: f(0),
    prod: f(1),
    max: f(-Infinity),
    min: f(Infinity),
    argmax: f(0),
    argmin: f(0),
    m2: f(0),
  };
  const total = vals.length;
  const outIdx = new Int32Array(total);
  const inIdx = new Int32Array(total);
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < total; i++) {
    let o = 0;
    let w = 0;
    for (let d = 0; d < rank; d++) {
      o += idx[d] * outStride[d];
      w += idx[d] * inStride[d];
    }
    outIdx[i] = o;
    inIdx[i] = w;
    const v = vals[i];
    r.sum[o] += v;
    r.absSum[o] += Math.abs(v);
    r.prod[o] *= v;
    if (v > r.max[o]) [r.max[o], r.argmax[o]] = [v, w];
    if (v < r.min[o]) [r.min[o], r.argmin[o]] = [v, w];
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  for (let i = 0; i < total; i++) {
    const dev = vals[i] - r.sum[outIdx[i]] / n;
    r.m2[outIdx[i]] += dev * dev;
  }
  return r;
}

/** The nine axis reductions, in a fixed order. */
const OPS = ["sum", "mean", "prod", "max", "min", "argmax", "argmin", "variance", "std"] as const;
type OpName = typeof OPS[number];

function apply(op: OpName, x: dn.Tensor, axes: dn.Axes, keepdims: boolean): dn.Tensor {
  return dn[op](x, axes, { keepdims });
}

/** The values of `outs` (one per op of {@link OPS}, in order), by op name; one sync. */
async function readByOp(outs: dn.Tensor[]): Promise<Record<OpName, Float32Array>> {
  const vs = await dn.readAll(outs);
  return Object.fromEntries(OPS.map((op, i) => [op, vs[i]])) as Record<OpName, Float32Array>;
}

/**
 * Checks the nine reductions' values against the reference. `prodX` is the input used for
 * prod (values chosen to make products exact); `ref`/`prodRef` their reference stats.
 */
function checkAgainstRef(
  got: Record<OpName, ArrayLike<number>>,
  ref: RefStats,
  prodRef: RefStats,
  what: string,
): void {
  const n = ref.n;
  assertWithin(got.sum, ref.sum, Array.from(ref.absSum, sumBound), `${what} sum`);
  assertWithin(
    got.mean,
    ref.sum.map((v) => v / n),
    Array.from(ref.absSum, (a) => sumBound(a) / n),
    `${what} mean`,
  );
  assertExact(got.prod, prodRef.prod, `${what} prod`);
  assertExact(got.max, ref.max, `${what} max`);
  assertExact(got.min, ref.min, `${what} min`);
  assertExact(got.argmax, ref.argmax, `${what} argmax`);
  assertExact(got.argmin, ref.argmin, `${what} argmin`);
  // variance: Σ(x − m)² is a sum of non-negative terms, so its rounding error is relative
  // to the result itself (≤ 81u as for sums, plus the f32 rounding of each deviation).
  const varExp = ref.m2.map((v) => v / (n - 1));
  assertClose(got.variance, varExp, F32_TOL, `${what} variance`);
  assertClose(got.std, varExp.map(Math.sqrt), F32_TOL, `${what} std`);
}

/**
 * Values whose every partial product is exact in f32: ±1 everywhere except a few ±2,
 * ±0.5 and ±1.5 (3¹⁰ < 2²⁴, |exponent| ≤ 30), placed at random positions of each row.
 */
function exactProductValues(rows: number, len: number, rng: dn.Rng): Float32Array {
  const out = new Float32Array(rows * len);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < len; j++) out[r * len + j] = rng.uniform() < 0.5 ? -1 : 1;
    for (const special of [2, 0.5, 1.5]) {
      const k = rng.int(Math.min(10, Math.floor(len / 3)) + 1);
      for (let c = 0; c < k; c++) {
        const j = rng.int(len);
        if (Math.abs(out[r * len + j]) === 1) out[r * len + j] *= special;
      }
    }
    // One row in three holds a zero, when there are enough rows to spare.
    if (rows >= 7 && r % 3 === 1) out[r * len + rng.int(len)] = 0;
  }
  return out;
}

function randnHost(n: number, rng: dn.Rng, shift = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() + shift;
  return out;
}

function cpuTensor(values: Float32Array | Float64Array, shape: readonly number[]): dn.Tensor {
  return dn.fromArray(values, {
    shape,
    device: "cpu",
    dtype: values instanceof Float64Array ? "f64" : "f32",
  });
}

Deno.test("reduce: CPU twin matches the f64 reference over the last axis (rows 1,7,33 × EDGE_SIZES)", () => {
  const rng = new dn.Rng(11);
  for (const rows of [1, 7, 33]) {
    for (const len of EDGE_SIZES) {
      const vals = randnHost(rows * len, rng, 0.25);
      const pvals = exactProductValues(rows, len, rng);
      const x = cpuTensor(vals, [rows, len]);
      const px = cpuTensor(pvals, [rows, len]);
      const got = {} as Record<OpName, ArrayLike<number>>;
      for (const op of OPS) {
        const y = apply(op, op === "prod" ? px : x, -1, false);
        assert.deepEqual(y.shape, [rows], `${op} shape`);
        assert.equal(y.dtype, "f32");
        got[op] = y.dataSync();
      }
      checkAgainstRef(
        got,
        reference(vals, [rows, len], [1]),
        reference(pvals, [rows, len], [1]),
        `cpu ${rows}×${len}`,
      );
    }
  }
});

Deno.test({
  name: "reduce: GPU == CPU == reference over the last axis (rows 1,7,33 × EDGE_SIZES)",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rng = new dn.Rng(12);
    for (const rows of [1, 7, 33]) {
      for (const len of EDGE_SIZES) {
        const vals = randnHost(rows * len, rng, 0.25);
        const pvals = exactProductValues(rows, len, rng);
        const x = cpuTensor(vals, [rows, len]);
        const px = cpuTensor(pvals, [rows, len]);
        const xg = x.gpu();
        const pxg = px.gpu();
        const outs = OPS.map((op) => apply(op, op === "prod" ? pxg : xg, -1, false));
        outs.forEach((y, i) => assert.deepEqual(y.shape, [rows], `${OPS[i]} shape`));
        const got = await readByOp(outs);
        const what = `gpu ${rows}×${len}`;
        const ref = reference(vals, [rows, len], [1]);
        checkAgainstRef(got, ref, reference(pvals, [rows, len], [1]), what);
        // GPU vs the CPU twin (both f32 results): same bounds, against the CPU's values.
        const cpuSum = dn.sum(x, -1).dataSync();
        assertWithin(
          got.sum,
          cpuSum,
          Array.from(ref.absSum, (a) => 2 * sumBound(a)),
          `${what} sum vs cpu`,
        );
        for (const op of ["max", "min", "argmax", "argmin", "prod"] as const) {
          assertExact(
            got[op],
            apply(op, op === "prod" ? px : x, -1, false).dataSync(),
            `${what} ${op} vs cpu`,
          );
        }
        for (const t of [xg, pxg, ...outs]) t.dispose();
      }
    }
  },
});

/** Axis cases: shape, axes, and whether a permute is needed (reduced axes not trailing). */
const AXIS_CASES: { shape: number[]; axes: dn.Axes }[] = [
  { shape: [5, 7, 33], axes: undefined },
  { shape: [5, 7, 33], axes: 0 },
  { shape: [5, 7, 33], axes: 1 },
  { shape: [5, 7, 33], axes: 2 },
  { shape: [5, 7, 33], axes: -1 },
  { shape: [5, 7, 33], axes: -3 },
  { shape: [5, 7, 33], axes: [0, 2] },
  { shape: [5, 7, 33], axes: [1, 0] },
  { shape: [5, 7, 33], axes: [-1, -2] },
  { shape: [3, 4, 5, 6], axes: [1, 3] },
  { shape: [3, 4, 5, 6], axes: [0, 2] },
  { shape: [3, 4, 5, 6], axes: [0, 1, 2, 3] },
  { shape: [257], axes: 0 },
  { shape: [1000, 3], axes: 0 },
  { shape: [2, 1, 4], axes: 1 },
  // A contiguous block of middle axes with ≥ 256 outputs: the strided in-place path.
  { shape: [3, 50, 300], axes: 1 },
  { shape: [4, 5, 6, 70], axes: [1, 2] },
  { shape: [300, 20, 2], axes: 1 },
  { shape: [40, 300], axes: 0 },
];

function normAxes(axes: dn.Axes, rank: number): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === "number" ? [axes] : [...axes];
  return list.map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b);
}

async function checkAxisCases(device: "cpu" | "gpu", dtype: "f32" | "f64"): Promise<void> {
  const rng = new dn.Rng(21);
  for (const { shape, axes } of AXIS_CASES) {
    const size = shape.reduce((a, b) => a * b, 1);
    const vals = randnHost(size, rng);
    const pvals = exactProductValues(1, size, rng);
    const host = (v: Float32Array) => (dtype === "f64" ? Float64Array.from(v) : v);
    const xc = cpuTensor(host(vals), shape);
    const pc = cpuTensor(host(pvals), shape);
    const x = device === "gpu" ? xc.gpu() : xc;
    const px = device === "gpu" ? pc.gpu() : pc;
    const ax = normAxes(axes, shape.length);
    const ref = reference(vals, shape, ax);
    const pref = reference(pvals, shape, ax);
    for (const keepdims of [false, true]) {
      const outs = OPS.map((op) => apply(op, op === "prod" ? px : x, axes, keepdims));
      const expectShape = keepdims ? shape.map((d, i) => (ax.includes(i) ? 1 : d)) : ref.outShape;
      outs.forEach((y, i) => {
        assert.deepEqual(
          y.shape,
          expectShape,
          `${OPS[i]} ${JSON.stringify({ shape, axes, keepdims })} shape`,
        );
        assert.equal(y.dtype, dtype);
        assert.equal(y.device, device);
      });
      const got = await readByOp(outs);
      checkAgainstRef(
        got,
        ref,
        pref,
        `${device} ${dtype} ${JSON.stringify({ shape, axes, keepdims })}`,
      );
      if (device === "gpu") { for (const t of outs) t.dispose(); }
    }
    if (device === "gpu") [x, px].forEach((t) => t.dispose());
  }
}

Deno.test("reduce: CPU axes (single, several, negative, non-trailing, keepdims) f32 and f64", async () => {
  await checkAxisCases("cpu", "f32");
  await checkAxisCases("cpu", "f64");
});

Deno.test({
  name: "reduce: GPU axes (single, several, negative, non-trailing, keepdims)",
  ignore: !gpu,
  ...GPU_TEST,
  fn: () => checkAxisCases("gpu", "f32"),
});

Deno.test("reduce: f64 CPU sums are exact to f64 rounding", () => {
  const rng = new dn.Rng(5);
  const v = new Float64Array(1000).map(() => rng.normal());
  const x = cpuTensor(v, [10, 100]);
  const ref = reference(v, [10, 100], [1]);
  const s = dn.sum(x, 1);
  assert.equal(s.dtype, "f64");
  assertWithin(s.dataSync(), ref.sum, Array.from(ref.absSum, (a) => 1e-15 * a), "f64 sum");
  assertClose(dn.variance(x, 1, { corrected: false }).dataSync(), ref.m2.map((m) => m / 100), {
    rtol: 1e-13,
    atol: 0,
  }, "f64 var (uncorrected)");
});

Deno.test("reduce: hand-checked values, var/std options, scalars", async () => {
  for (const device of gpu ? ["cpu", "gpu"] as const : ["cpu"] as const) {
    const x = dn.fromArray([[1, 5, -2, 5], [3, 3, 3, 3], [-4, -7, 0, -7]], { device });
    const outs = [
      dn.sum(x),
      dn.mean(x, 1),
      dn.prod(x, 0),
      dn.max(x, 1, { keepdims: true }),
      dn.min(x, 0),
      dn.argmax(x, 1),
      dn.argmin(x, 1),
      dn.argmax(x), // flat index over all axes
      dn.variance(x, 1, { corrected: false }),
      dn.std(x, 1),
      dn.sum(dn.fromArray(7, { device })),
      dn.argmax(dn.fromArray([2, 9, 9, 1], { device })),
    ];
    const v = await dn.readAll(outs);
    assert.deepEqual(Array.from(v[0]), [3]);
    assert.deepEqual(Array.from(v[1]), [2.25, 3, -4.5]);
    assertExact(v[2], [-12, -105, 0, -105], `${device} prod`);
    assert.deepEqual(outs[3].shape, [3, 1]);
    assert.deepEqual(Array.from(v[3]), [5, 3, 0]);
    assert.deepEqual(Array.from(v[4]), [-4, -7, -2, -7]);
    assert.deepEqual(Array.from(v[5]), [1, 0, 2], `${device}: argmax ties keep the first index`);
    assert.deepEqual(Array.from(v[6]), [2, 0, 1], `${device}: argmin ties keep the first index`);
    assert.deepEqual(Array.from(v[7]), [1]);
    assertClose(v[8], [8.6875, 0, 8.25], F32_TOL, `${device} var uncorrected`);
    assertClose(v[9], [Math.sqrt(34.75 / 3), 0, Math.sqrt(11)], F32_TOL, `${device} std`);
    assert.deepEqual(outs[10].shape, []);
    assert.deepEqual(Array.from(v[10]), [7]);
    assert.deepEqual(Array.from(v[11]), [1]);
  }
});

Deno.test({
  name: "reduce: GPU argmax/argmin ties keep the first index across threads, chunks, vec4 " +
    "and gathered rows, on both profiles",
  ignore: !gpu,
  ...GPU_TEST,
  fn: () =>
    onGpuProfiles(async (profile) => {
      // One row: len 1000 single pass (vec4), 1001 (scalar loads); 100 003 two passes on the
      // software profile (chunks of 16 384); 200 004 two passes on both (discrete: chunks of
      // 65 536), vec4.
      for (const len of [1000, 1001, 100_003, 200_004]) {
        const v = new Float32Array(len).fill(1);
        const cases: [number[], number][] = [
          [[], 0], // all equal
          [[len - 1, 3], 3], // same thread: first wins
          [[700, 200, 999], 200], // different threads
          [[998, 997], 997], // lanes of one vec4 (996..999)
        ];
        if (len > 65_536) {
          cases.push([[90_000, 16_384, 16_385], 16_384], [[99_999, 65_536], 65_536]);
        }
        const outs: dn.Tensor[] = [];
        for (const [pos] of cases) {
          const a = v.slice();
          const b = v.slice();
          for (const p of pos) {
            a[p] = 2;
            b[p] = 0;
          }
          outs.push(
            dn.argmax(cpuTensor(a, [1, len]).gpu(), 1),
            dn.argmin(cpuTensor(b, [1, len]).gpu(), 1),
          );
        }
        const got = await dn.readAll(outs);
        cases.forEach(([pos, want], i) => {
          const what = `${profile} len ${len}`;
          assert.equal(got[2 * i][0], want, `argmax ${what} maxima at ${pos}`);
          assert.equal(got[2 * i + 1][0], want, `argmin ${what} minima at ${pos}`);
        });
      }
      // Gathered rows ([4, 2, 50] over axes 0 and 2): the flat index o·50 + t of the first
      // tie; row 0 has maxima at (3, 1) and (1, 40) → 90, row 1 is all equal → 0.
      const g = new Float32Array(400).fill(1);
      g[3 * 100 + 0 * 50 + 1] = 2;
      g[1 * 100 + 0 * 50 + 40] = 2;
      const [am] = await dn.readAll([dn.argmax(cpuTensor(g, [4, 2, 50]).gpu(), [0, 2])]);
      assert.deepEqual(Array.from(am), [90, 0], `${profile} gathered argmax ties`);
    }),
});

Deno.test("reduce: empty inputs (sum→0, prod→1, mean→NaN, max over an empty axis throws)", async () => {
  for (const device of gpu ? ["cpu", "gpu"] as const : ["cpu"] as const) {
    const e = dn.zeros([0], { device });
    const e2 = dn.zeros([0, 3], { device });
    const outs = [
      dn.sum(e),
      dn.prod(e),
      dn.mean(e),
      dn.sum(e2, 0),
      dn.prod(e2, 0),
      dn.max(e2, 1),
      dn.argmax(e2, 1),
    ];
    const v = await dn.readAll(outs);
    assert.deepEqual(outs[0].shape, []);
    assert.deepEqual(Array.from(v[0]), [0], `${device} sum of empty`);
    assert.deepEqual(Array.from(v[1]), [1], `${device} prod of empty`);
    assert.ok(Number.isNaN(v[2][0]), `${device} mean of empty is NaN, got ${v[2][0]}`);
    assert.deepEqual(Array.from(v[3]), [0, 0, 0], `${device} sum over an empty axis`);
    assert.deepEqual(Array.from(v[4]), [1, 1, 1], `${device} prod over an empty axis`);
    // Reducing a non-empty axis of an empty tensor gives an empty result, not an error.
    assert.deepEqual(outs[5].shape, [0]);
    assert.deepEqual(outs[6].shape, [0]);
    for (const op of ["max", "min", "argmax", "argmin"] as const) {
      assert.throws(() => dn[op](e), new RegExp(`${op}: cannot reduce over an empty dimension`));
      assert.throws(() => dn[op](e2, 0), /empty dimension.*\[0,3\]/);
    }
  }
});

Deno.test("reduce: bad axes throw naming the op", () => {
  const x = dn.zeros([2, 3], { device: "cpu" });
  assert.throws(() => dn.sum(x, 2), /sum: axis 2 is out of range/);
  assert.throws(() => dn.mean(x, -3), /mean: axis -3 is out of range/);
  assert.throws(() => dn.max(x, [1, -1]), /max: repeated axis/);
  assert.throws(
    () => dn.dot(x, dn.zeros([5], { device: "cpu" })),
    /dot: vectors of different lengths/,
  );
});

/**
 * Reduced axes around a kept block ([outer, rows, tail] reduced over outer and tail): the
 * gathering pass of reduce.wgsl. Sizes cover one pass per row, the chunked two-pass split
 * (few long rows: [3, 5, 40000] splits on the software profile, [2, 3, 70000] on both) and
 * a bias gradient's shape (LeNet's first convolution at batch 100).
 */
const AROUND_CASES: { shape: number[]; axes: number[]; dispatches: Record<string, number> }[] = [
  { shape: [5, 7, 33], axes: [0, 2], dispatches: { software: 1, discrete: 1 } },
  { shape: [4, 3, 5, 50], axes: [0, 3], dispatches: { software: 1, discrete: 1 } },
  { shape: [100, 20, 24, 24], axes: [0, 2, 3], dispatches: { software: 1, discrete: 1 } },
  { shape: [3, 5, 40000], axes: [0, 2], dispatches: { software: 2, discrete: 1 } },
  { shape: [2, 3, 70000], axes: [0, 2], dispatches: { software: 2, discrete: 2 } },
];

Deno.test({
  name: "reduce: GPU axes around a kept block, one gathering pass, on both GPU profiles",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rng = new dn.Rng(27);
    await onGpuProfiles(async (profile) => {
      for (const { shape, axes, dispatches } of AROUND_CASES) {
        const size = shape.reduce((a, b) => a * b, 1);
        const vals = randnHost(size, rng, 0.25);
        const pvals = exactProductValues(1, size, rng);
        const x = cpuTensor(vals, shape).gpu();
        const px = cpuTensor(pvals, shape).gpu();
        await dn.gpuRuntime().sync();
        dn.resetCounters();
        const s = dn.sum(x, axes);
        assert.equal(
          dn.counters().dispatches,
          dispatches[profile],
          `${profile} ${JSON.stringify(shape)}: sum's dispatches (no permute)`,
        );
        s.dispose();
        const outs = OPS.map((op) => apply(op, op === "prod" ? px : x, axes, false));
        const got = await readByOp(outs);
        checkAgainstRef(
          got,
          reference(vals, shape, axes),
          reference(pvals, shape, axes),
          `${profile} ${JSON.stringify({ shape, axes })}`,
        );
        for (const t of [x, px, ...outs]) t.dispose();
      }
    });
  },
});

Deno.test({
  name: "reduce: gradients through the gathering pass equal the CPU's (sum, mean, prod, max)",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rng = new dn.Rng(28);
    const shape = [3, 4, 50];
    const vals = randnHost(600, rng);
    const pvals = exactProductValues(1, 600, rng);
    pvals[7] = 0; // a zero in one product group
    for (const op of ["sum", "mean", "prod", "max"] as const) {
      const src = op === "prod" ? pvals : vals;
      const g = (device: "cpu" | "gpu") => {
        const x = cpuTensor(src, shape);
        const xd = device === "gpu" ? x.gpu() : x;
        const w = dn.fromArray(Float32Array.from({ length: 4 }, (_, i) => i - 1.5), {
          shape: [4],
          device,
        });
        return dn.grad((t: dn.Tensor) => dn.sum(dn.mul(dn[op](t, [0, 2]), w)))(xd);
      };
      const [got] = await dn.readAll([g("gpu")]);
      assertClose(got, g("cpu").dataSync(), F32_TOL, `d ${op} over [0, 2]`);
    }
  },
});

Deno.test({
  name:
    "reduce: rows in one pass and in chunks + a second pass, scalar and vec4 loads, both profiles",
  ignore: !gpu,
  ...GPU_TEST,
  fn: () => onGpuProfiles(checkRowPaths),
});

/**
 * Row sums around the profiles' split (software: rows < 8 and len > 32 768 → chunks of
 * 16 384 and a second pass; discrete: rows < 64 and len > 131 072, chunks of 65 536), with
 * lengths that are multiples of 4 (vec4 loads) and not.
 */
async function checkRowPaths(): Promise<void> {
  {
    const rng = new dn.Rng(31);
    for (
      const [rows, len] of [
        [1, 8192],
        [1, 8193],
        [7, 40_003],
        [7, 40_004],
        [8, 40_004],
        [
          63,
          8193,
        ],
        [64, 16_384],
        [5, 131_076],
        [2, 1_000_000],
      ]
    ) {
      const vals = randnHost(rows * len, rng, 0.5);
      const x = cpuTensor(vals, [rows, len]).gpu();
      const ref = reference(vals, [rows, len], [1]);
      const outs = [dn.sum(x, 1), dn.mean(x, 1), dn.max(x, 1), dn.argmin(x, 1), dn.std(x, 1)];
      const [s, m, mx, ami, sd] = await dn.readAll(outs);
      const what = `${rows}×${len}`;
      assertWithin(s, ref.sum, Array.from(ref.absSum, sumBound), `${what} sum`);
      assertWithin(
        m,
        ref.sum.map((v) => v / len),
        Array.from(ref.absSum, (a) => sumBound(a) / len),
        `${what} mean`,
      );
      assertExact(mx, ref.max, `${what} max`);
      assertExact(ami, ref.argmin, `${what} argmin`);
      assertClose(sd, ref.m2.map((v) => Math.sqrt(v / (len - 1))), F32_TOL, `${what} std`);
      for (const t of [x, ...outs]) t.dispose();
    }
  }
}

Deno.test({
  name: "reduce: accuracy of GPU sum/mean/nrm2/dot on 10^6 and 4·10^6 elements vs f64",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    // Inputs with a non-zero mean (1 + N(0,1)/2): a naive running f32 sum would lose
    // ~n·u/2 ≈ 0.1 relative at 4·10^6; the blocked GPU sum must stay within 1e-5·Σ|x|.
    const rng = new dn.Rng(41);
    for (const n of [1_000_000, 4_000_000]) {
      const xv = new Float32Array(n).map(() => 1 + 0.5 * rng.normal());
      const yv = new Float32Array(n).map(() => rng.normal());
      let sum = 0, abs = 0, sq = 0, dot = 0, absDot = 0;
      for (let i = 0; i < n; i++) {
        sum += xv[i];
        abs += Math.abs(xv[i]);
        sq += xv[i] * xv[i];
        dot += xv[i] * yv[i];
        absDot += Math.abs(xv[i] * yv[i]);
      }
      const x = cpuTensor(xv, [n]).gpu();
      const y = cpuTensor(yv, [n]).gpu();
      // Over all axes of a 2-D view too (the same data as [1000, n/1000]: single pass).
      const x2 = x.reshape(1000, n / 1000);
      const outs = [
        dn.sum(x),
        dn.mean(x),
        dn.nrm2(x),
        dn.dot(x, y),
        dn.sum(x2),
        dn.sum(dn.sum(x2, 1)),
      ];
      const [s, m, nr, d, s2, s3] = (await dn.readAll(outs)).map((a) => a[0]);
      assertWithin([s, s2, s3], [sum, sum, sum], new Array(3).fill(sumBound(abs)), `sum n=${n}`);
      assertWithin([m], [sum / n], [sumBound(abs) / n], `mean n=${n}`);
      // Σx² has non-negative terms: the error is relative to the result.
      assertClose([nr], [Math.sqrt(sq)], F32_TOL, `nrm2 n=${n}`);
      assertWithin([d], [dot], [sumBound(absDot)], `dot n=${n}`);
      for (const t of [x, y, x2, ...outs]) t.dispose();
    }
  },
});

Deno.test("reduce: CPU dot/nrm2 in f32 and f64", () => {
  const rng = new dn.Rng(43);
  const xv = new Float64Array(1001).map(() => rng.normal());
  const yv = new Float64Array(1001).map(() => rng.normal());
  let d = 0, s = 0, ad = 0;
  xv.forEach((v, i) => {
    d += v * yv[i];
    ad += Math.abs(v * yv[i]);
    s += v * v;
  });
  const x = cpuTensor(xv, [7, 143]);
  const y = cpuTensor(yv, [1001]);
  const dd = dn.dot(x, y);
  assert.deepEqual(dd.shape, []);
  assert.equal(dd.dtype, "f64");
  assertWithin(dd.dataSync(), [d], [1e-15 * ad], "f64 dot");
  assertClose(dn.nrm2(x).dataSync(), [Math.sqrt(s)], { rtol: 1e-15, atol: 0 }, "f64 nrm2");
  const xf = x.asType("f32");
  const yf = y.asType("f32");
  assertWithin(dn.dot(xf, yf).dataSync(), [d], [sumBound(ad)], "f32 dot");
  assertClose(dn.nrm2(xf).dataSync(), [Math.sqrt(s)], F32_TOL, "f32 nrm2");
});
