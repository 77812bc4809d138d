/**
 * GEMM (src/ops/matmul.ts, kernels/gemm.wgsl and kernels/gemm_naive.wgsl): gemm, bmm and
 * matmul on the CPU (f32, f64) and the GPU against an f64 naive triple loop written here.
 *
 * Tolerance, derived once ({@link gemmBound}): for C = α·op(A)·op(B) + β·C₀ computed in f32
 * with any summation order, the standard error bound is
 *     |Ĉᵢⱼ − Cᵢⱼ| ≤ γ_K · Eᵢⱼ,   Eᵢⱼ = |α|·Σₖ |aᵢₖ||bₖⱼ| + |β|·|c₀ᵢⱼ|,   γ_K ≈ K·u, u = 2⁻²⁴.
 * K·u is the worst case (every rounding aligned); rounding errors of a sequential or
 * tiled fma sum behave like a random walk, so the realised error is ≲ √K·u·Eᵢⱼ (plus one
 * rounding of the output): ≤ ~33u for K ≤ 1000 and ~24u for K = 512 — inside
 * F32_TOL.rtol = 1e-5 ≈ 168u. So every f32 result must satisfy
 *     |Ĉᵢⱼ − Cᵢⱼ| ≤ F32_TOL.atol + F32_TOL.rtol · Eᵢⱼ,
 * i.e. F32_TOL applied relative to |A||B| rather than to |C| (C may cancel to ~0, where no
 * rtol on C itself is meaningful). f64 CPU results must be within 1e-12·Eᵢⱼ.
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import {
  GEMM_TILE_M,
  GEMM_TILE_N,
  type GemmAttrs,
  gemmCpu,
  gemmGpuBatchSum,
} from "../src/ops/matmul.ts";
import { F32_TOL, GPU_TEST, haveGpu, onGpuProfiles } from "./_helpers.ts";

const gpu = await haveGpu();

/** The allowed |error| of an f32 GEMM element with magnitude Eᵢⱼ = mag (see the header). */
function gemmBound(mag: number): number {
  return F32_TOL.atol + F32_TOL.rtol * mag;
}

/** Asserts |actual[i] − expected[i]| ≤ bound(mag[i]) for each i. */
function assertWithin(
  actual: ArrayLike<number>,
  ref: { val: Float64Array; mag: Float64Array },
  what: string,
  bound: (mag: number) => number = gemmBound,
): void {
  assert.equal(actual.length, ref.val.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - ref.val[i]);
    if (!(err <= bound(ref.mag[i]))) {
      throw new Error(
        `${what}: element ${i} is ${actual[i]}, expected ${ref.val[i]} ` +
          `(|err| ${err} > bound ${bound(ref.mag[i])}; ${actual.length} elements)`,
      );
    }
  }
}

const f64Bound = (mag: number) => 1e-12 * mag;

/** A resolved GEMM problem, as the op receives it (less the output shape and kernel). */
type Problem = Omit<GemmAttrs, "outShape" | "kernel">;

/** The f64 naive triple loop: values and magnitudes Eᵢⱼ. */
function naive(
  A: ArrayLike<number>,
  B: ArrayLike<number>,
  C: ArrayLike<number> | null,
  p: Problem,
) {
  const { M, N, K } = p;
  const val = new Float64Array(p.batch * M * N);
  const mag = new Float64Array(p.batch * M * N);
  for (let b = 0; b < p.batch; b++) {
    const oa = b * p.strideA;
    const ob = b * p.strideB;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        let m = 0;
        for (let k = 0; k < K; k++) {
          const av = p.transA ? A[oa + k * M + i] : A[oa + i * K + k];
          const bv = p.transB ? B[ob + j * K + k] : B[ob + k * N + j];
          s += av * bv;
          m += Math.abs(av * bv);
        }
        const o = (b * M + i) * N + j;
        const c = C && p.beta !== 0 ? C[o] : 0;
        val[o] = p.alpha * s + p.beta * c;
        mag[o] = Math.abs(p.alpha) * m + Math.abs(p.beta * c);
      }
    }
  }
  return { val, mag };
}

function randHost(n: number, rng: dn.Rng, positive = false): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = positive ? rng.uniform() : rng.normal();
  return out;
}

const cpu = (v: Float32Array, shape: readonly number[], dtype: "f32" | "f64" = "f32") =>
  dn.fromArray(dtype === "f64" ? Float64Array.from(v) : v, { shape, device: "cpu", dtype });

const SIZES: [number, number, number][] = [
  [1, 1, 1],
  [7, 33, 5],
  [33, 7, 257],
  [257, 1000, 33],
  [1000, 257, 7],
  // Straddling the optimised kernel's output tile, whatever it is.
  [GEMM_TILE_M + 1, 2 * GEMM_TILE_N - 1, 9],
];
const TRANS: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];

/** Operands of op(A)·op(B) with M×K and K×N logical shapes, stored as the flags say. */
function operands(
  M: number,
  N: number,
  K: number,
  transA: boolean,
  transB: boolean,
  rng: dn.Rng,
  positive = false,
) {
  const a = randHost(M * K, rng, positive);
  const b = randHost(K * N, rng, positive);
  return { a, b, shapeA: transA ? [K, M] : [M, K], shapeB: transB ? [N, K] : [K, N] };
}

function problem(
  M: number,
  N: number,
  K: number,
  transA: boolean,
  transB: boolean,
  extra: Partial<Problem> = {},
) {
  return { M, N, K, batch: 1, strideA: 0, strideB: 0, transA, transB, alpha: 1, beta: 0, ...extra };
}

Deno.test("gemm: CPU f32/f64 == f64 naive loop, all sizes and transposes", () => {
  const rng = new dn.Rng(1);
  for (const [M, N, K] of SIZES) {
    for (const [transA, transB] of TRANS) {
      const { a, b, shapeA, shapeB } = operands(M, N, K, transA, transB, rng, M === 33);
      const ref = naive(a, b, null, problem(M, N, K, transA, transB));
      const what = `cpu (M,N,K)=(${M},${N},${K}) transA=${transA} transB=${transB}`;
      const c32 = dn.gemm(cpu(a, shapeA), cpu(b, shapeB), { transA, transB });
      assert.deepEqual(c32.shape, [M, N], what);
      assert.equal(c32.dtype, "f32");
      assertWithin(c32.dataSync(), ref, `${what} f32`);
      const c64 = dn.gemm(cpu(a, shapeA, "f64"), cpu(b, shapeB, "f64"), { transA, transB });
      assert.equal(c64.dtype, "f64");
      assertWithin(c64.dataSync(), ref, `${what} f64`, f64Bound);
    }
  }
});

Deno.test({
  name:
    "gemm: GPU (gemm, gemm_naive and gemm_gpu kernels) == f64 naive loop == CPU, all sizes and transposes",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rng = new dn.Rng(2);
    for (const [M, N, K] of SIZES) {
      for (const [transA, transB] of TRANS) {
        const { a, b, shapeA, shapeB } = operands(M, N, K, transA, transB, rng, M === 33);
        const ref = naive(a, b, null, problem(M, N, K, transA, transB));
        const ag = cpu(a, shapeA).gpu();
        const bg = cpu(b, shapeB).gpu();
        const outs = [
          dn.gemm(ag, bg, { transA, transB, kernel: "gemm" }),
          dn.gemm(ag, bg, { transA, transB, kernel: "gemm_naive" }),
          dn.gemm(ag, bg, { transA, transB }), // the kernel chosen by shape
          dn.gemm(ag, bg, { transA, transB, kernel: "gemm_gpu" }),
        ];
        const [fast, slow, chosen, hw] = await dn.readAll(outs);
        const what = `gpu (M,N,K)=(${M},${N},${K}) transA=${transA} transB=${transB}`;
        assert.deepEqual(outs[0].shape, [M, N], what);
        assertWithin(fast, ref, `${what} gemm`);
        assertWithin(slow, ref, `${what} gemm_naive`);
        assertWithin(chosen, ref, `${what} default kernel`);
        assertWithin(hw, ref, `${what} gemm_gpu`);
        const c = dn.gemm(cpu(a, shapeA), cpu(b, shapeB), { transA, transB }).dataSync();
        // GPU vs CPU: both within the bound of the exact value, so within twice of each other.
        assertWithin(
          fast,
          { val: Float64Array.from(c), mag: ref.mag },
          `${what} gemm vs cpu`,
          (m) => 2 * gemmBound(m),
        );
        for (const t of [ag, bg, ...outs]) t.dispose();
      }
    }
  },
});

Deno.test({
  name: "gemm: GPU 512×512×512 (plain and both transposed) == f64 naive loop",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rng = new dn.Rng(3);
    const n = 512;
    for (const [transA, transB] of [[false, false], [true, true]] as const) {
      const { a, b, shapeA, shapeB } = operands(n, n, n, transA, transB, rng);
      const ref = naive(a, b, null, problem(n, n, n, transA, transB));
      const ag = cpu(a, shapeA).gpu();
      const bg = cpu(b, shapeB).gpu();
      const outs = [
        dn.gemm(ag, bg, { transA, transB }),
        dn.gemm(ag, bg, { transA, transB, kernel: "gemm_naive" }),
        dn.gemm(ag, bg, { transA, transB, kernel: "gemm_gpu" }),
      ];
      const [fast, slow, hw] = await dn.readAll(outs);
      assertWithin(fast, ref, `gpu 512³ transA=${transA} transB=${transB} gemm`);
      assertWithin(slow, ref, `gpu 512³ transA=${transA} transB=${transB} gemm_naive`);
      assertWithin(hw, ref, `gpu 512³ transA=${transA} transB=${transB} gemm_gpu`);
      if (!transA) {
        assertWithin(dn.gemm(cpu(a, shapeA), cpu(b, shapeB)).dataSync(), ref, "cpu 512³");
        // matmul of 2-D operands is the same product.
        const mm = dn.matmul(ag, bg);
        assert.deepEqual(mm.shape, [n, n]);
        assertWithin(await mm.data(), ref, "gpu matmul 512³");
        mm.dispose();
      }
      for (const t of [ag, bg, ...outs]) t.dispose();
    }
  },
});

async function checkAlphaBeta(device: "cpu" | "gpu"): Promise<void> {
  const rng = new dn.Rng(4);
  for (
    const [M, N, K] of [[33, 7, 257], [257, 1000, 33], [7, 33, 5]] as [number, number, number][]
  ) {
    for (const [transA, transB] of TRANS) {
      const { a, b, shapeA, shapeB } = operands(M, N, K, transA, transB, rng);
      const c0 = randHost(M * N, rng);
      const put = (
        v: Float32Array,
        s: readonly number[],
      ) => (device === "gpu" ? cpu(v, s).gpu() : cpu(v, s));
      const [A, B, C] = [put(a, shapeA), put(b, shapeB), put(c0, [M, N])];
      const cases = [
        { alpha: 0.5, beta: -2 },
        { alpha: -1.25, beta: 1 },
        { alpha: 2, beta: 0 },
        { alpha: 0, beta: 3 },
      ];
      const outs = cases.map((ab) => dn.gemm(A, B, { transA, transB, c: C, ...ab }));
      const got = await dn.readAll([...outs, C]);
      cases.forEach((ab, i) => {
        const ref = naive(a, b, c0, problem(M, N, K, transA, transB, ab));
        assertWithin(
          got[i],
          ref,
          `${device} (${M},${N},${K}) ${transA}/${transB} α=${ab.alpha} β=${ab.beta}`,
        );
      });
      assert.deepEqual(got[cases.length], c0, `${device}: gemm does not modify C`);
      if (device === "gpu") { for (const t of [A, B, C, ...outs]) t.dispose(); }
    }
  }
  // β = 0 never reads C (BLAS semantics): NaN in C does not leak into the result.
  const put = (v: number[][]) => dn.fromArray(v, { device });
  const out = dn.gemm(put([[1, 2]]), put([[3], [4]]), { c: put([[NaN]]), beta: 0, alpha: 2 });
  assert.deepEqual(Array.from(await out.data()), [22]);
}

Deno.test("gemm: alpha/beta with C on the CPU", () => checkAlphaBeta("cpu"));
Deno.test({
  name: "gemm: alpha/beta with C on the GPU",
  ignore: !gpu,
  ...GPU_TEST,
  fn: () => checkAlphaBeta("gpu"),
});

async function checkBatched(device: "cpu" | "gpu"): Promise<void> {
  const rng = new dn.Rng(5);
  const put = (
    v: Float32Array,
    s: readonly number[],
  ) => (device === "gpu" ? cpu(v, s).gpu() : cpu(v, s));
  for (const [batch, M, N, K] of [[3, 7, 33, 5], [5, 33, 70, 66], [2, 1, 1, 1]]) {
    for (const [transA, transB] of TRANS) {
      const shA = transA ? [K, M] : [M, K];
      const shB = transB ? [N, K] : [K, N];
      const a3 = randHost(batch * M * K, rng);
      const b3 = randHost(batch * K * N, rng);
      const a2 = randHost(M * K, rng);
      const b2 = randHost(K * N, rng);
      const [A3, B3, A2, B2] = [
        put(a3, [batch, ...shA]),
        put(b3, [batch, ...shB]),
        put(a2, shA),
        put(b2, shB),
      ];
      const base = { M, N, K, batch, transA, transB, alpha: 1, beta: 0 };
      const runs = [
        {
          out: dn.bmm(A3, B3, { transA, transB }),
          ref: naive(a3, b3, null, { ...base, strideA: M * K, strideB: K * N }),
          w: "bmm 3-D × 3-D",
        },
        {
          out: dn.gemm(A2, B3, { transA, transB }),
          ref: naive(a2, b3, null, { ...base, strideA: 0, strideB: K * N }),
          w: "gemm 2-D × 3-D (A shared)",
        },
        {
          out: dn.gemm(A3, B2, { transA, transB }),
          ref: naive(a3, b2, null, { ...base, strideA: M * K, strideB: 0 }),
          w: "gemm 3-D × 2-D (B shared)",
        },
      ];
      const got = await dn.readAll(runs.map((r) => r.out));
      runs.forEach((r, i) => {
        const what = `${device} ${r.w} batch=${batch} (${M},${N},${K}) ${transA}/${transB}`;
        assert.deepEqual(r.out.shape, [batch, M, N], what);
        assertWithin(got[i], r.ref, what);
      });
      if (device === "gpu") {
        for (const t of [A3, B3, A2, B2, ...runs.map((r) => r.out)]) t.dispose();
      }
    }
  }
}

Deno.test("gemm: batched (bmm, shared operand) on the CPU", () => checkBatched("cpu"));
Deno.test({
  name: "gemm: batched (bmm, shared operand) on the GPU",
  ignore: !gpu,
  ...GPU_TEST,
  fn: () => checkBatched("gpu"),
});

/** Reference matmul with NumPy semantics, written directly over broadcast batch indices. */
function refMatmul(a: Float32Array, sa: number[], b: Float32Array, sb: number[]) {
  const aM = sa.length === 1 ? [1, sa[0]] : sa;
  const bM = sb.length === 1 ? [sb[0], 1] : sb;
  const [M, K] = aM.slice(-2);
  const N = bM[bM.length - 1];
  const ba = aM.slice(0, -2);
  const bb = bM.slice(0, -2);
  const rank = Math.max(ba.length, bb.length);
  const pa = [...new Array(rank - ba.length).fill(1), ...ba];
  const pb = [...new Array(rank - bb.length).fill(1), ...bb];
  const bs = pa.map((d, i) => Math.max(d, pb[i]));
  const nb = bs.reduce((x, y) => x * y, 1);
  const val = new Float64Array(nb * M * N);
  const mag = new Float64Array(nb * M * N);
  for (let t = 0; t < nb; t++) {
    // Batch multi-index of t, and the operands' batch offsets (size-1 dims broadcast).
    let rem = t;
    let oa = 0, ob = 0, sA = 1, sB = 1;
    for (let d = rank - 1; d >= 0; d--) {
      const i = rem % bs[d];
      rem = Math.floor(rem / bs[d]);
      oa += (pa[d] === 1 ? 0 : i) * sA;
      ob += (pb[d] === 1 ? 0 : i) * sB;
      sA *= pa[d];
      sB *= pb[d];
    }
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0, m = 0;
        for (let k = 0; k < K; k++) {
          const p = a[oa * M * K + i * K + k] * b[ob * K * N + k * N + j];
          s += p;
          m += Math.abs(p);
        }
        val[(t * M + i) * N + j] = s;
        mag[(t * M + i) * N + j] = m;
      }
    }
  }
  let shape = [...bs, M, N];
  if (sa.length === 1) shape = [...bs, N];
  if (sb.length === 1) shape = sa.length === 1 ? [...bs] : [...bs, M];
  return { val, mag, shape };
}

async function checkMatmul(device: "cpu" | "gpu"): Promise<void> {
  const rng = new dn.Rng(6);
  const cases: [number[], number[]][] = [
    [[33], [33, 7]], // 1-D · 2-D → [N]
    [[7, 33], [33]], // 2-D · 1-D → [M]
    [[257], [257]], // 1-D · 1-D → scalar
    [[4, 7, 33], [33]], // batched · 1-D → [B, M]
    [[5], [3, 5, 6]], // 1-D · batched → [B, N]
    [[2, 1, 7, 5], [3, 5, 9]], // batch broadcasting → [2, 3, 7, 9]
    [[3, 5, 9], [2, 1, 9, 4]], // → [2, 3, 5, 4]
    [[1, 7, 5], [4, 5, 3]], // size-1 batch broadcast
    [[2, 3, 4, 5], [5, 6]], // shared 2-D right operand
    [[6, 5], [2, 3, 5, 4]], // shared 2-D left operand
  ];
  for (const [sa, sb] of cases) {
    const a = randHost(sa.reduce((x, y) => x * y, 1), rng);
    const b = randHost(sb.reduce((x, y) => x * y, 1), rng);
    const ref = refMatmul(a, sa, b, sb);
    const A = device === "gpu" ? cpu(a, sa).gpu() : cpu(a, sa);
    const B = device === "gpu" ? cpu(b, sb).gpu() : cpu(b, sb);
    const out = dn.matmul(A, B);
    const what = `${device} matmul [${sa}] · [${sb}]`;
    assert.deepEqual(out.shape, ref.shape, `${what} shape`);
    assertWithin(await out.data(), ref, what);
    if (device === "gpu") { for (const t of [A, B, out]) t.dispose(); }
  }
}

Deno.test("matmul: 1-D promotion and batch broadcasting on the CPU", () => checkMatmul("cpu"));
Deno.test({
  name: "matmul: 1-D promotion and batch broadcasting on the GPU",
  ignore: !gpu,
  ...GPU_TEST,
  fn: () => checkMatmul("gpu"),
});

Deno.test("gemm: K = 0 gives zeros (or β·C), empty M/N give empty results", async () => {
  for (const device of gpu ? ["cpu", "gpu"] as const : ["cpu"] as const) {
    for (const kernel of ["gemm", "gemm_naive", "gemm_gpu"] as const) {
      const o = { device };
      const a = dn.zeros([7, 0], o);
      const b = dn.zeros([0, 33], o);
      const c = dn.full([7, 33], 2, o);
      const outs = [
        dn.gemm(a, b, { kernel }),
        dn.gemm(dn.zeros([0, 7], o), dn.zeros([33, 0], o), { transA: true, transB: true, kernel }),
        dn.gemm(a, b, { c, beta: 1.5, alpha: 3, kernel }),
        dn.matmul(dn.zeros([3, 7, 0], o), dn.zeros([0, 33], o)),
        dn.gemm(dn.zeros([0, 5], o), dn.zeros([5, 4], o), { kernel }),
      ];
      const v = await dn.readAll(outs);
      const what = `${device} ${kernel}`;
      assert.deepEqual(outs[0].shape, [7, 33]);
      assert.ok(v[0].every((x) => x === 0), `${what}: K = 0 → zeros`);
      assert.ok(
        v[1].every((x) => x === 0) && v[1].length === 231,
        `${what}: K = 0 transposed → zeros`,
      );
      assert.ok(v[2].every((x) => x === 3), `${what}: K = 0 → β·C`);
      assert.deepEqual(outs[3].shape, [3, 7, 33]);
      assert.ok(
        v[3].every((x) => x === 0) && v[3].length === 693,
        `${what}: batched K = 0 → zeros`,
      );
      assert.deepEqual(outs[4].shape, [0, 4]);
    }
  }
});

Deno.test("gemm: shape errors name the op and shapes", () => {
  const o = { device: "cpu" as const };
  const a = dn.zeros([2, 3], o);
  assert.throws(
    () => dn.gemm(a, dn.zeros([4, 5], o)),
    /gemm: inner dimensions differ: op\(A\) is 2×3, op\(B\) is 4×5/,
  );
  assert.throws(() => dn.gemm(a, dn.zeros([3, 5], o), { transA: true }), /inner dimensions differ/);
  assert.throws(
    () => dn.gemm(dn.zeros([2, 2, 3], o), dn.zeros([3, 3, 4], o)),
    /gemm: batch sizes differ/,
  );
  assert.throws(() => dn.gemm(a, dn.zeros([3, 4], o), { beta: 1 }), /beta ≠ 0 needs the C operand/);
  assert.throws(
    () => dn.gemm(a, dn.zeros([3, 4], o), { c: dn.zeros([4, 2], o), beta: 1 }),
    /C has shape \[4,2\], expected \[2,4\]/,
  );
  assert.throws(() => dn.gemm(dn.zeros([3], o), a), /operand A must be 2-D or 3-D/);
  assert.throws(() => dn.bmm(a, a), /bmm: operands must be 3-D/);
  assert.throws(() => dn.matmul(dn.zeros([2, 3, 4], o), dn.zeros([3, 5, 6], o)), /matmul/);
  assert.throws(
    () => dn.matmul(dn.zeros([3], o), dn.zeros([4], o)),
    /matmul: inner dimensions differ/,
  );
  assert.throws(
    () => dn.matmul(dn.fromArray(1, o), a),
    /matmul: operands must have at least 1 dimension/,
  );
});

Deno.test({
  name: "gemm GPU: a long inner dimension (K = 70 000, several K slices) with β·C, both kernels",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    // llvmpipe silently returned garbage for K ≳ 53 000 in one dispatch (its loop
    // iteration cap); K is now summed in slices of the software profile's gemmKSlice.
    const rng = new dn.Rng(7);
    const K = 70_000;
    for (const [M, N, kernel] of [[20, 25, "gemm"], [3, 5, "gemm_naive"]] as const) {
      for (const transB of [false, true]) {
        const a = dn.randn([M, K], { rng, device: "cpu", dtype: "f64" });
        const b = dn.randn(transB ? [N, K] : [K, N], { rng, device: "cpu", dtype: "f64" });
        const c = dn.randn([M, N], { rng, device: "cpu", dtype: "f64" });
        const o = { transB, alpha: 0.5, beta: -2, c };
        const ref = await dn.gemm(a, b, o).data();
        const mag = await dn.gemm(dn.abs(a), dn.abs(b), { ...o, beta: 2, c: dn.abs(c) }).data();
        const f32 = (t: dn.Tensor) => dn.fromArray([...t.dataSync()], { shape: t.shape }).gpu();
        const got = await dn.gemm(f32(a), f32(b), { ...o, c: f32(c), kernel }).data();
        // A 70 000-term f32 sum carries about √K·eps ≈ 265·1.2e-7 ≈ 3e-5 of Σ|terms| of
        // rounding error, so the bound is 1e-4 of that magnitude (the bug was off by ~100%).
        for (let i = 0; i < ref.length; i++) {
          const bound = F32_TOL.atol + 1e-4 * mag[i];
          assert.ok(
            Math.abs(got[i] - ref[i]) <= bound,
            `${kernel} transB=${transB}: C[${i}] = ${got[i]}, expected ${ref[i]} (bound ${bound})`,
          );
        }
      }
    }
  },
});

Deno.test({
  name: "gemmGpuBatchSum: Σ over the batch equals the CPU's batched GEMM summed, both profiles",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rng = new dn.Rng(77);
    // Odd sizes; [7, 9, 1000] at batch 3 takes split-K on the discrete profile (the split
    // and the batch folded into one sum), [20, 25, 576] is LeNet's first filter gradient.
    const cases = [
      { M: 7, N: 9, K: 1000, batch: 3, transA: false, transB: true },
      { M: 20, N: 25, K: 576, batch: 13, transA: false, transB: true },
      { M: 5, N: 33, K: 17, batch: 4, transA: true, transB: false },
      { M: 1, N: 1, K: 3, batch: 1, transA: false, transB: false },
    ];
    await onGpuProfiles(async (profile) => {
      for (const c of cases) {
        const aShape = c.transA ? [c.batch, c.K, c.M] : [c.batch, c.M, c.K];
        const bShape = c.transB ? [c.batch, c.N, c.K] : [c.batch, c.K, c.N];
        const a = dn.randn(aShape, { rng });
        const b = dn.randn(bShape, { rng });
        const g: GemmAttrs = {
          ...c,
          strideA: c.M * c.K,
          strideB: c.K * c.N,
          alpha: 0.5,
          beta: 0,
          outShape: [c.batch, c.M, c.N],
        };
        // f64 on the CPU: the exact value and the magnitude Σ_b Σ_k |a||b| of the bound.
        const [a64, b64] = [a.asType("f64"), b.asType("f64")];
        const val = Float64Array.from(dn.sum(gemmCpu([a64, b64], g), 0).dataSync());
        const abs = (t: dn.Tensor) => dn.abs(t);
        const mag = Float64Array.from(
          dn.sum(gemmCpu([abs(a64), abs(b64)], { ...g, alpha: Math.abs(g.alpha) }), 0).dataSync(),
        );
        const [ag, bg] = [a.gpu(), b.gpu()];
        const y = gemmGpuBatchSum(ag, bg, g);
        assert.deepEqual(y.shape, [c.M, c.N]);
        assertWithin(await y.data(), { val, mag }, `${profile} ${JSON.stringify(c)}`);
        for (const t of [ag, bg, y]) t.dispose();
      }
    });
  },
});
