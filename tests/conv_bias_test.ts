/**
 * The fused convolution layer op (src/ops/conv_bias.ts, the per-row EPI epilogue of
 * kernels/gemm*.wgsl): f64 gcheck of every element in w, x and b; the GPU forward against
 * the CPU composition conv4 + bias + relu at odd shapes, with padding/stride, batch
 * chunks, groups and the naive algorithm (the composed fallbacks), NaN propagation;
 * gradients GPU == CPU; Conv using it with fewer dispatches; and the errors.
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import { convConfig, type ConvOptions, keptColumnsCount } from "../src/ops/conv.ts";
import { assertClose, GPU_TEST, haveGpu, onGpuProfiles } from "./_helpers.ts";

const gpu = await haveGpu();

function rand(rng: dn.Rng, shape: number[], device: "cpu" | "gpu", dtype: "f32" | "f64" = "f32") {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = Float64Array.from({ length: n }, () => rng.normal());
  return dn.fromArray(v, { shape, device, dtype });
}

/** conv4 + b + act composed from ops (the reference). */
function composed(w: dn.Tensor, x: dn.Tensor, b: dn.Tensor, o: ConvOptions, relu: boolean) {
  const z = dn.add(dn.conv4(w, x, o), b.reshape(1, w.shape[0], 1, 1));
  return relu ? dn.relu(z) : z;
}

const CASES: [number[], number[], ConvOptions][] = [
  [[3, 2, 9, 7], [5, 2, 3, 3], {}],
  [[2, 3, 8, 8], [4, 3, 3, 2], { padding: 1, stride: 2 }],
  [[4, 1, 6, 5], [3, 1, 2, 2], { mode: 1, dilation: 2 }],
  [[2, 4, 5, 5], [6, 2, 3, 3], { group: 2 }],
  [[3, 2, 7, 7], [5, 2, 3, 3], { algo: "naive" }],
];

Deno.test("gcheck f64: conv4Bias (identity and relu) in w, x and b", async () => {
  const rng = new dn.Rng(3);
  for (const [xs, ws, o] of CASES.slice(0, 3)) {
    for (const act of ["identity", "relu"] as const) {
      const w = rand(rng, ws, "cpu", "f64");
      const x = rand(rng, xs, "cpu", "f64");
      const b = rand(rng, [1, ws[0], 1, 1], "cpu", "f64");
      const f = (w: dn.Tensor, x: dn.Tensor, b: dn.Tensor) => dn.conv4Bias(w, x, b, o, act);
      const ok = await dn.gcheck(f, w, x, b, {
        atol: 1e-6,
        rtol: 1e-6,
        delta: 1e-6,
        nsample: Math.max(w.size, x.size),
        seed: 1,
      });
      assert.ok(ok, `${act} ${xs} ${ws} ${JSON.stringify(o)}`);
    }
  }
});

Deno.test({
  name:
    "conv4Bias on the GPU == the CPU composition: shapes, chunks, groups, naive, NaN; gradients",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rng = new dn.Rng(7);
    const saved = convConfig.colsBytes;
    try {
      for (const chunked of [false, true]) {
        convConfig.colsBytes = chunked ? 4000 : saved; // a few images per chunk
        for (const [xs, ws, o] of CASES) {
          for (const act of ["identity", "relu"] as const) {
            const what = `${act} ${xs} ${ws} ${JSON.stringify(o)}${chunked ? " chunked" : ""}`;
            const vals = [rand(rng, ws, "cpu"), rand(rng, xs, "cpu"), rand(rng, [ws[0]], "cpu")];
            const out: Float32Array[][] = [];
            for (const device of ["cpu", "gpu"] as const) {
              const ps = vals.map((t) =>
                new dn.Param(
                  dn.fromArray(Float32Array.from(t.host("test")), { shape: t.shape, device }),
                )
              );
              const J = dn.diff(() => dn.sum(dn.square(dn.conv4Bias(ps[0], ps[1], ps[2], o, act))));
              const y = device === "gpu"
                ? dn.conv4Bias(ps[0], ps[1], ps[2], o, act)
                : composed(ps[0], ps[1], ps[2], o, act === "relu");
              const got = await dn.readAll([y, ...ps.map((p) => J.grad(p)!)]);
              out.push(got.map((v) => Float32Array.from(v)));
              J.dispose();
            }
            const [cpu, gpuOut] = out;
            assertClose(gpuOut[0], cpu[0], { rtol: 1e-4, atol: 1e-4 }, `${what}: y`);
            for (let i = 1; i < 4; i++) {
              assertClose(gpuOut[i], cpu[i], { rtol: 1e-3, atol: 1e-3 }, `${what}: grad ${i}`);
            }
            // A NaN input reaches the outputs of its receptive field on both devices.
            const xn = Float32Array.from(vals[1].host("test"));
            xn[5] = NaN;
            const ys = await Promise.all((["cpu", "gpu"] as const).map((device) => {
              const t = (v: dn.Tensor | Float32Array, shape: number[]) =>
                dn.fromArray(v instanceof Float32Array ? v : Float32Array.from(v.host("t")), {
                  shape,
                  device,
                });
              return dn.conv4Bias(t(vals[0], ws), t(xn, xs), t(vals[2], [ws[0]]), o, act).data();
            }));
            const nanAt = (v: ArrayLike<number>) => Array.from(v, Number.isNaN).join();
            assert.ok(ys[0].some(Number.isNaN), `${what}: NaN reaches y`);
            assert.equal(nanAt(ys[1]), nanAt(ys[0]), `${what}: the same NaN outputs`);
          }
        }
      }
    } finally {
      convConfig.colsBytes = saved;
    }
  },
});

Deno.test({
  name: "Conv(relu) runs conv4Bias: im2col + one GEMM forward, the same values as conv4 + b + relu",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const layer = new dn.Conv(5, 5, 1, 20, { device: "gpu", rng: new dn.Rng(1) });
    const x = rand(new dn.Rng(2), [10, 1, 28, 28], "gpu");
    dn.resetCounters();
    const y = layer.forward(x);
    assert.equal(dn.counters().dispatches, 2, "im2col and the GEMM");
    const want = composed(layer.w, x, layer.b!, {}, true);
    assertClose(await y.data(), await want.data(), { rtol: 1e-5, atol: 1e-5 }, "Conv forward");
    for (const t of [x, y, want]) t.dispose();
    layer.dispose();
  },
});

Deno.test("conv4Bias: errors name the bias, the shapes and the activation", () => {
  const w = dn.zeros([4, 2, 3, 3]);
  const x = dn.zeros([1, 2, 5, 5]);
  assert.throws(
    () => dn.conv4Bias(w, x, dn.zeros([5])),
    /conv4Bias: the bias must be \[1, 4, 1, 1\] or \[4\] \(one per output channel of w f32\[4,2,3,3\] cpu\), got b f32\[5\] cpu/,
  );
  assert.throws(
    () => dn.conv4Bias(w, dn.zeros([1, 3, 5, 5]), dn.zeros([4])),
    /conv4Bias: channel mismatch/,
  );
  // deno-lint-ignore no-explicit-any
  assert.throws(
    () => dn.conv4Bias(w, x, dn.zeros([4]), {}, "tanh" as any),
    /unknown activation "tanh"/,
  );
});

Deno.test({
  name: "conv filter gradients reuse the forward's im2col columns (one im2col, same gradients, " +
    "freed; none kept past the budget), both GPU profiles",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rng = new dn.Rng(11);
    const rt = dn.gpuRuntime();
    // [5, 3, 11, 9] ⊛ [4, 3, 3, 2]: 9×8 = 72 output pixels ≥ splitDwMinPixels, so the
    // filter gradient takes the per-image path whose columns the forward pass can hand over.
    const xs = [5, 3, 11, 9], ws = [4, 3, 3, 2];
    const vals = [rand(rng, ws, "cpu"), rand(rng, xs, "cpu"), rand(rng, [4], "cpu")];
    /** The gradients of w (x, b) and, on the GPU, the im2col count and the kept columns. */
    const run = async (device: "cpu" | "gpu", layer: "conv4" | "conv4Bias", trackX: boolean) => {
      const t = (v: dn.Tensor) =>
        dn.fromArray(Float32Array.from(v.host("test")), { shape: v.shape, device });
      const [w, b] = [new dn.Param(t(vals[0])), new dn.Param(t(vals[2]))];
      const x = trackX ? new dn.Param(t(vals[1])) : t(vals[1]);
      let im2col = 0;
      const orig = rt.dispatch.bind(rt);
      rt.dispatch = (s) => {
        if (s.kernel === "im2col" && (s.entryPoint ?? "main") === "main") im2col++;
        orig(s);
      };
      let J: dn.DiffResult;
      let kept = -1;
      try {
        J = dn.diff(() => {
          const y = layer === "conv4" ? dn.conv4(w, x) : dn.conv4Bias(w, x, b, {}, "relu");
          kept = keptColumnsCount();
          return dn.sum(dn.square(y));
        });
      } finally {
        rt.dispatch = orig;
      }
      const ps = [w, ...(trackX ? [x] : []), ...(layer === "conv4Bias" ? [b] : [])];
      const grads = (await dn.readAll(ps.map((p) => J.grad(p)!))).map((v) => Float32Array.from(v));
      J.dispose();
      assert.equal(keptColumnsCount(), 0, `${layer}: closing the tape frees the columns`);
      for (const p of [w, b, x]) p.dispose();
      return { grads, im2col, kept };
    };
    const budget = convConfig.keptColsBytes;
    try {
      await onGpuProfiles(async (profile) => {
        for (const layer of ["conv4", "conv4Bias"] as const) {
          for (const trackX of [false, true]) {
            const what = `${profile} ${layer} trackX=${trackX}`;
            const want = (await run("cpu", layer, trackX)).grads;
            for (const room of [budget, 0]) {
              convConfig.keptColsBytes = room;
              const got = await run("gpu", layer, trackX);
              const keeps = room > 0;
              assert.equal(got.im2col, keeps ? 1 : 2, `${what} budget ${room}: im2col runs`);
              assert.equal(got.kept, keeps ? 1 : 0, `${what} budget ${room}: columns kept`);
              want.forEach((g, i) =>
                assertClose(got.grads[i], g, { rtol: 1e-3, atol: 1e-3 }, `${what} grad ${i}`)
              );
            }
            convConfig.keptColsBytes = budget;
          }
        }
      });
    } finally {
      convConfig.keptColsBytes = budget;
    }
  },
});

Deno.test({
  name: "conv filter gradient takes the stacked GEMM when per-image products exceed the budget",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    // x [4, 2, 8, 8] ⊛ w [40, 2, 3, 3]: 36 pixels (per-image path by size), columns 2 592 B
    // and products 40·18·4 = 2 880 B per image. With a 5 500 B budget a chunk holds two
    // images' columns (5 184 B) but not their products (5 760 B): the stacked GEMM (one
    // GEMM over the chunk's stacked images) must run instead of the batched per-image one.
    const rng = new dn.Rng(12);
    const [wv, xv] = [rand(rng, [40, 2, 3, 3], "cpu"), rand(rng, [4, 2, 8, 8], "cpu")];
    const grad = async (device: "cpu" | "gpu") => {
      const w = new dn.Param(
        dn.fromArray(Float32Array.from(wv.host("t")), { shape: wv.shape, device }),
      );
      const x = dn.fromArray(Float32Array.from(xv.host("t")), { shape: xv.shape, device });
      const J = dn.diff(() => dn.sum(dn.square(dn.conv4(w, x))));
      const [g] = await dn.readAll([J.grad(w)!]);
      J.dispose();
      return Float32Array.from(g);
    };
    const saved = convConfig.colsBytes;
    const rt = dn.gpuRuntime();
    const orig = rt.dispatch.bind(rt);
    let stacked = 0;
    try {
      convConfig.colsBytes = 5500;
      rt.dispatch = (s) => {
        // GEMMs over one batch entry: the forward's run over the chunk's two images.
        if (s.kernel.startsWith("gemm") && (s.workgroups[2] ?? 1) === 1) stacked++;
        orig(s);
      };
      const got = await grad("gpu");
      rt.dispatch = orig;
      assert.equal(stacked, 2, "two chunks of two images, each on the stacked path");
      assertClose(got, await grad("cpu"), { rtol: 1e-3, atol: 1e-3 }, "dw");
    } finally {
      rt.dispatch = orig;
      convConfig.colsBytes = saved;
    }
  },
});
