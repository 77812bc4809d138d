/**
 * The fused dense op (src/ops/linear.ts, the EPI epilogue of kernels/gemm*.wgsl):
 * `act(x·w + b)` on the GPU against an f64 reference written from the formula, through
 * each GEMM kernel (the software profile's gemm and gemm_naive, the hardware profiles'
 * gemm_gpu), with K longer than a software K slice, NaN propagation, gradients GPU ==
 * CPU, one dispatch forward, Dense using it, and the errors. The f64 gcheck is in the
 * catalogue (tests/grad_cases.ts).
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import { gpuProfile } from "../src/gpu/profile.ts";
import { assertClose, GPU_TEST, haveGpu, onGpuProfiles } from "./_helpers.ts";

const gpu = await haveGpu();

/** act(x·w + b) in f64. */
function reference(
  x: Float32Array,
  w: Float32Array,
  b: Float32Array,
  [M, K, N]: number[],
  relu: boolean,
): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[i * K + k] * w[k * N + j];
      const z = s + b[j];
      out[i * N + j] = relu ? (z <= 0 ? 0 : z) : z;
    }
  }
  return out;
}

function rand(rng: dn.Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

/** [M, K, N] shapes reaching each kernel (see the test name). */
const SHAPES = [[1, 1, 1], [37, 65, 29], [130, 300, 140], [3, 8193, 5]];

Deno.test({
  name: "linear on the GPU == f64 reference: every GEMM kernel, odd sizes, K over a slice, NaN",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    await onGpuProfiles(async (profile) => {
      const rng = new dn.Rng(17);
      for (const [M, K, N] of SHAPES) {
        const [x, w, b] = [rand(rng, M * K), rand(rng, K * N), rand(rng, N)];
        if (M > 1) x[K + 3] = NaN; // row 1 is NaN throughout
        const xs = dn.fromArray(x, { shape: [M, K], device: "gpu" });
        const ws = dn.fromArray(w, { shape: [K, N], device: "gpu" });
        const bs = dn.fromArray(b, { shape: [N], device: "gpu" });
        for (const act of ["identity", "relu"] as const) {
          dn.resetCounters();
          const y = dn.linear(xs, ws, bs, act);
          const slices = Math.ceil(K / gpuProfile().gemmKSlice);
          assert.equal(dn.counters().dispatches, slices, `${profile} ${M}×${K}×${N}: one pass`);
          const got = await y.data();
          const want = reference(x, w, b, [M, K, N], act === "relu");
          const tol = { rtol: 1e-5, atol: 1e-5 * Math.sqrt(K) };
          assertClose(got, want, tol, `${profile} ${act} ${M}×${K}×${N}`);
          if (M > 1) {
            const row = got.subarray(N, 2 * N);
            assert.ok(row.every(Number.isNaN), `${profile} ${act}: NaN row stays NaN`);
          }
          y.dispose();
        }
        for (const t of [xs, ws, bs]) t.dispose();
      }
    });
  },
});

Deno.test({
  name: "linear: gradients GPU == CPU (x, w, b; identity and relu); Dense runs it in one dispatch",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rng = new dn.Rng(5);
    const [M, K, N] = [33, 20, 17];
    const [x, w, b] = [rand(rng, M * K), rand(rng, K * N), rand(rng, N)];
    for (const act of ["identity", "relu"] as const) {
      const results: Float32Array[][] = [];
      for (const device of ["cpu", "gpu"] as const) {
        const ps = [[x, [M, K]], [w, [K, N]], [b, [N]]].map(([v, shape]) =>
          new dn.Param(dn.fromArray(v as Float32Array, { shape: shape as number[], device }))
        );
        // A non-uniform upstream gradient: the squares.
        const J = dn.diff(() => dn.sum(dn.square(dn.linear(ps[0], ps[1], ps[2], act))));
        const got = await dn.readAll([J.value, ...ps.map((p) => J.grad(p)!)]);
        results.push(got.map((v) => Float32Array.from(v)));
        J.dispose();
        for (const p of ps) p.dispose();
      }
      results[0].forEach((want, i) => {
        assertClose(results[1][i], want, { rtol: 1e-4, atol: 1e-4 }, `${act}: output ${i}`);
      });
      assert.ok(results[0][3].some((v) => v !== 0), `${act}: a non-zero bias gradient`);
    }
    const layer = new dn.Dense(K, N, { device: "gpu", rng: new dn.Rng(1) });
    const xs = dn.fromArray(x, { shape: [M, K], device: "gpu" });
    dn.resetCounters();
    const y = layer.forward(xs);
    assert.equal(dn.counters().dispatches, 1, "Dense(relu) forward: one dispatch");
    const [yv, wv, bv] = await dn.readAll([y, layer.w, layer.b!]);
    const want = reference(x, Float32Array.from(wv), Float32Array.from(bv), [M, K, N], true);
    assertClose(yv, want, { rtol: 1e-5, atol: 1e-5 }, "Dense forward");
    for (const t of [y, xs]) t.dispose();
    layer.dispose();
  },
});

Deno.test("linear: errors name the shapes and the activation", () => {
  const x = dn.zeros([2, 3]);
  const w = dn.zeros([3, 4]);
  assert.throws(
    () => dn.linear(x, w, dn.zeros([5])),
    /linear: expected x \[N, K\], w \[K, O\] and b \[O\], got x f32\[2,3\] cpu, w f32\[3,4\] cpu, b f32\[5\] cpu/,
  );
  assert.throws(() => dn.linear(w, w, dn.zeros([4])), /linear: expected x \[N, K\]/);
  // deno-lint-ignore no-explicit-any
  assert.throws(
    () => dn.linear(x, w, dn.zeros([4]), "tanh" as any),
    /linear: unknown activation "tanh"/,
  );
});
