/**
 * Adapter profiles (src/gpu/profile.ts): how adapters are classified, the profile the
 * runtime picks here (llvmpipe: software), DENET_GPU_PROFILE, and that the hardware
 * profiles compute the same results as the software one with fewer dispatches where the
 * software profile slices long loops (sizes between its slices and llvmpipe's loop cap,
 * so that both run correctly on this adapter).
 */

import assert from "node:assert/strict";
import type { GpuInfo } from "../src/gpu/device.ts";
import { counters, resetCounters } from "../src/gpu/counters.ts";
import {
  GPU_PROFILES,
  gpuProfile,
  gpuProfileReason,
  profileFor,
  setGpuProfile,
} from "../src/gpu/profile.ts";
import { gpuRuntime } from "../src/gpu/runtime.ts";
import { nll } from "../src/loss.ts";
import { take } from "../src/ops/indexing.ts";
import { gemm, matmul } from "../src/ops/matmul.ts";
import { sum } from "../src/ops/reduce.ts";
import { softmax } from "../src/ops/softmax.ts";
import { diff } from "../src/autograd/diff.ts";
import { Param } from "../src/autograd/param.ts";
import { fromArray, randn } from "../src/tensor/create.ts";
import { Rng } from "../src/tensor/random.ts";
import type { Tensor } from "../src/tensor/tensor.ts";
import { assertClose, GPU_TEST, haveGpu } from "./_helpers.ts";

const info = (over: Partial<GpuInfo>): GpuInfo =>
  ({
    vendor: "",
    architecture: "",
    description: "",
    isFallbackAdapter: false,
    features: [],
    limits: {},
    ...over,
  }) as GpuInfo;

Deno.test("profileFor: software adapters, NVIDIA/AMD as discrete, others integrated", () => {
  assert.equal(
    profileFor(info({ description: "llvmpipe (LLVM 15.0.6, 256 bits)" })).profile.name,
    "software",
  );
  assert.equal(
    profileFor(info({ isFallbackAdapter: true, vendor: "google" })).profile.name,
    "software",
  );
  assert.equal(
    profileFor(info({ vendor: "nvidia", description: "NVIDIA H200" })).profile.name,
    "discrete",
  );
  assert.equal(
    profileFor(info({ vendor: "amd", architecture: "rdna-3" })).profile.name,
    "discrete",
  );
  assert.equal(
    profileFor(info({ vendor: "apple", architecture: "metal-3" })).profile.name,
    "integrated",
  );
  assert.equal(
    profileFor(info({ vendor: "intel", architecture: "gen-12lp" })).profile.name,
    "integrated",
  );
  // Only the software profile slices loops for llvmpipe's cap.
  assert.equal(GPU_PROFILES.software.gemmKSlice, 8192);
  assert.ok(
    GPU_PROFILES.discrete.gemmKSlice >= 2 ** 30 && GPU_PROFILES.integrated.xentSlice >= 2 ** 30,
  );
  assert.throws(
    () => setGpuProfile("fast" as never),
    /unknown GPU profile 'fast' \(expected software, integrated, discrete\)/,
  );
});

/** Runs `f` under `profile`, returning its result values and the dispatches it encoded. */
async function under(profile: "software" | "discrete", f: () => Tensor[]) {
  setGpuProfile(profile);
  try {
    resetCounters();
    const out = f();
    const dispatches = counters().dispatches;
    const values = [];
    for (const t of out) {
      values.push(Float32Array.from(await t.data()));
      t.dispose();
    }
    return { values, dispatches };
  } finally {
    setGpuProfile("software");
  }
}

Deno.test({
  name:
    "profiles: the discrete profile matches the software one in fewer dispatches (GEMM K, strided sums, xent, scatter, long softmax)",
  ignore: !(await haveGpu()),
  ...GPU_TEST,
  fn: async () => {
    // The runtime picked the software profile for llvmpipe (unless DENET_GPU_PROFILE says otherwise).
    if (!Deno.env.get("DENET_GPU_PROFILE")) {
      assert.equal(gpuProfile().name, "software");
      assert.match(gpuProfileReason(), /software adapter \(llvmpipe/);
    }
    const rng = new Rng(5);
    const g = (shape: number[]) => randn(shape, { rng, device: "gpu" });
    // [what, run, whether the discrete profile must take strictly fewer dispatches, atol].
    // GEMM sums in another order: the f32 bound of tests/gemm_test.ts, 1e-5·Σ|a||b|, with
    // Σ|a||b| ≈ (2/π)·K for standard normal operands.
    const gemmTol = (K: number) => 1e-5 * (2 / Math.PI) * K;
    const cases: [string, () => Tensor[], boolean?, number?][] = [];
    // GEMM with K = 9001 > 8192 (software: 2 slices).
    const a = g([3, 9001]), b = g([9001, 5]);
    // (split-K: one GEMM dispatch and one sum over the splits, as many as the software
    // profile's two K slices)
    cases.push([
      "gemm K 9001 (split-K on the discrete profile)",
      () => [matmul(a, b)],
      false,
      gemmTol(9001),
    ]);
    // The MLP's shapes: 100×784 · 784×64 (split-K) and its transposed backward products.
    const x1 = g([100, 784]), w1 = g([784, 64]), d1 = g([100, 64]);
    cases.push([
      "MLP forward and backward GEMMs",
      () => [
        matmul(x1, w1),
        gemm(d1, w1, { transB: true }),
        gemm(x1, d1, { transA: true }),
      ],
      false,
      gemmTol(784),
    ]);
    // A strided axis-0 sum over 17 000 rows > 16 384 (software: 2 slices).
    const x = g([17000, 300]);
    cases.push(["sum axis 0 of [17000,300]", () => [sum(x, 0)]]);
    // Cross-entropy over 300 000 classes > 2^18, forward and backward.
    const s = new Param(g([2, 300000]));
    const labels = fromArray([7, 299999], { device: "gpu" });
    cases.push(["nll over 300000 classes", () => {
      const r = diff(() => nll(s, labels));
      return [r.value, r.grad(s)!];
    }]);
    // The gradient of take (scatter-add) over 20 000 indices > 16 384.
    const table = new Param(g([50, 8]));
    const idx = fromArray(Array.from({ length: 20000 }, (_, i) => (i * 7) % 50), { device: "gpu" });
    cases.push(["scatter-add of 20000 indices", () => {
      const r = diff(() => sum(take(table, idx, 0)));
      return [r.grad(table)!];
    }]);
    // Softmax of a row of 1 100 000 > 2^20 (software: composed from reductions).
    const long = g([1, 1_100_000]);
    cases.push(["softmax of a 1.1M row", () => [softmax(long)]]);
    for (const [what, f, strict = true, atol = 1e-6] of cases) {
      const soft = await under("software", f);
      const disc = await under("discrete", f);
      assert.ok(
        strict ? disc.dispatches < soft.dispatches : disc.dispatches <= soft.dispatches + 3,
        `${what}: discrete ${disc.dispatches} dispatches vs software ${soft.dispatches}`,
      );
      soft.values.forEach((v, i) =>
        assertClose(disc.values[i], v, { rtol: 1e-4, atol }, `${what} output ${i}`)
      );
    }
    for (const t of [a, b, x, s, labels, table, idx, long, x1, w1, d1]) t.dispose();
    await gpuRuntime().sync();
  },
});

Deno.test({
  name:
    "profiles: a bias-gradient sum (axis 0 of [100, 10]) is one strided dispatch on every profile; a long axis permutes first",
  ignore: !(await haveGpu()),
  ...GPU_TEST,
  fn: async () => {
    const x = randn([100, 10], { rng: new Rng(2), device: "gpu" });
    const long = randn([3000, 10], { rng: new Rng(3), device: "gpu" });
    const want = async (t: typeof x) => {
      const v = await t.data();
      const [n, c] = t.shape;
      return Float64Array.from({ length: c }, (_, j) => {
        let s = 0;
        for (let i = 0; i < n; i++) s += v[i * c + j];
        return s;
      });
    };
    for (const profile of ["software", "discrete"] as const) {
      const short = await under(profile, () => [sum(x, 0)]);
      assert.equal(short.dispatches, 1, `${profile}: one strided dispatch`);
      assertClose(short.values[0], await want(x), { rtol: 1e-5, atol: 1e-5 }, `${profile} sums`);
      const permuted = await under(profile, () => [sum(long, 0)]);
      assert.ok(permuted.dispatches > 1, `${profile}: ${permuted.dispatches} (permute, then rows)`);
      assertClose(
        permuted.values[0],
        await want(long),
        { rtol: 1e-5, atol: 1e-4 },
        `${profile} long`,
      );
    }
    long.dispose();
    x.dispose();
  },
});
