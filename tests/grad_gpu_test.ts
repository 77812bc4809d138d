/**
 * GPU gradients equal CPU gradients (f32 on both) for every case of the catalogue in
 * tests/grad_cases.ts (every differentiable op; tests/grad_ops_test.ts proves the CPU
 * ones right in f64). Each case differentiates Σ f(x…)·r for a fixed random r on both
 * devices from the same f32 inputs; all GPU gradients are read back with one sync.
 *
 * Tolerance: |g_gpu − g_cpu| ≤ F32_TOL.atol + F32_TOL.rtol·max|g_cpu| per case. Each
 * gradient element is a short chain of f32 operations (a few transcendental functions
 * good to a few ulp, sums of ≤ 33 terms bounded by the gradient's scale), so both devices
 * sit within a few u·max|g| of the exact value (u = 2⁻²⁴; measured worst: 4.2u, prod
 * over all axes). F32_TOL.rtol = 1e-5 ≈ 168u leaves 40× headroom, while any wrong rule
 * or kernel case is off by O(max|g|). The scale is max|g| rather than |g| elementwise
 * because sums may cancel to ~0 (where no relative bound holds).
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import type { Tensor } from "../internals.ts";
import { F32_TOL, GPU_TEST, haveGpu } from "./_helpers.ts";
import { gradCases, sample } from "./grad_cases.ts";

const gpu = await haveGpu();

interface Pending {
  name: string;
  cpuValue: number;
  cpuGrads: Float32Array[];
  gpuGrads: Tensor[];
  gpuValue: Tensor;
}

Deno.test({
  name: "grad gpu: every differentiable op's GPU gradients equal its CPU gradients (f32)",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rng = new dn.Rng(424242);
    const before = dn.counters().liveBytes;
    const pending: Pending[] = [];
    const release: Tensor[] = [];
    for (const c of gradCases(rng)) {
      const xs = c.args.map((a) =>
        dn.fromArray(sample(a.domain ?? "normal", a.shape.reduce((p, q) => p * q, 1), rng), {
          shape: a.shape,
          device: "cpu",
        })
      );
      const pc = xs.map((x) => new dn.Param(x));
      const xg = xs.map((x) => x.gpu());
      const pg = xg.map((x) => new dn.Param(x));
      const r = dn.randn(c.f(...pc).shape, { device: "cpu", rng });
      const rg = r.gpu();
      const Jc = dn.diff(() => dn.sum(dn.mul(c.f(...pc), r)));
      const Jg = dn.diff(() => dn.sum(dn.mul(c.f(...pg), rg)));
      const gpuGrads = pg.map((p) => {
        const g = Jg.grad(p);
        assert.ok(g !== null && g.device === "gpu", `${c.name}: a GPU gradient`);
        return g;
      });
      pending.push({
        name: c.name,
        cpuValue: Jc.value.dataSync()[0],
        cpuGrads: pc.map((p) => Jc.grad(p)!.dataSync() as Float32Array),
        gpuGrads,
        gpuValue: Jg.value,
      });
      release.push(rg, ...xg, ...pg, Jg.value, ...gpuGrads);
    }
    const read = await dn.readAll(pending.flatMap((p) => [p.gpuValue, ...p.gpuGrads]));
    let k = 0;
    for (const p of pending) {
      const v = read[k++][0];
      const vTol = F32_TOL.atol + F32_TOL.rtol * Math.max(1, Math.abs(p.cpuValue));
      assert.ok(Math.abs(v - p.cpuValue) <= vTol, `${p.name}: value ${v} vs ${p.cpuValue}`);
      p.cpuGrads.forEach((cg, j) => {
        const gg = read[k++];
        assert.equal(gg.length, cg.length);
        const scale = cg.reduce((m, e) => Math.max(m, Math.abs(e)), 0);
        const tol = F32_TOL.atol + F32_TOL.rtol * scale;
        for (let i = 0; i < cg.length; i++) {
          if (!(Math.abs(gg[i] - cg[i]) <= tol)) {
            assert.fail(
              `${p.name}: gradient of argument ${j}, element ${i}: gpu ${gg[i]}, cpu ${
                cg[i]
              } (tolerance ${tol})`,
            );
          }
        }
      });
    }
    assert.ok(pending.length > 200);
    for (const t of release) t.dispose();
    assert.equal(dn.counters().liveBytes, before, "every GPU tensor of the run was released");
  },
});
