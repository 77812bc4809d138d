/**
 * Regression tests for llvmpipe's loop cap: Mesa's software adapter stops the loops of one
 * shader invocation after about 65 535 iterations in all (every loop of the invocation
 * counts, nested ones included) and silently returns whatever was computed so far. Each
 * test runs a kernel at a size where the unsliced kernel ran past the cap (the old trip
 * count is stated per test) and compares the GPU against the CPU reference.
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import type { Tensor } from "../internals.ts";
import { gpuRuntime } from "../src/gpu/runtime.ts";
import { grid2d, UniformWriter } from "../src/gpu/uniforms.ts";
import { emptyGpu } from "../src/tensor/tensor.ts";
import { assertClose, assertExact, F32_TOL, GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

/** A CPU f32 tensor of standard normals with a fixed seed. */
function randn32(shape: readonly number[], seed: number): Tensor {
  return dn.randn([...shape], { rng: new dn.Rng(seed), device: "cpu" });
}

/** The same values as a CPU f64 tensor (the reference computes in f64). */
function f64(t: Tensor): Tensor {
  return dn.fromArray([...t.dataSync()], { shape: t.shape, dtype: "f64", device: "cpu" });
}

/**
 * Asserts |got − ref| ≤ atol + rel·mag elementwise, with mag the same computation on
 * absolute values (the scale of the f32 rounding error of a long sum).
 */
function withinMag(
  got: ArrayLike<number>,
  ref: ArrayLike<number>,
  mag: ArrayLike<number>,
  rel: number,
  what: string,
): void {
  assert.equal(got.length, ref.length, `${what}: length`);
  for (let i = 0; i < ref.length; i++) {
    const bound = F32_TOL.atol + rel * Math.abs(mag[i]);
    if (!(Math.abs(got[i] - ref[i]) <= bound)) {
      throw new Error(`${what}: element ${i} is ${got[i]}, expected ${ref[i]} (bound ${bound})`);
    }
  }
}

Deno.test({
  name: "loop cap: axis-0 reductions of [66 000, 256] (strided kernel, several axis slices)",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    // Old main_strided: 66 000 iterations per output, cut at ~65 535 (the last rows were
    // dropped). Now slices of the software profile's reduceStridedSlice rows per dispatch.
    const [L, C] = [66_000, 256];
    const x = randn32([L, C], 1);
    const data = x.dataSync() as Float32Array;
    // Even columns: the maximum (tied twice) in the last slice, beyond the old cap.
    for (let c = 0; c < C; c += 2) {
      data[(L - 3) * C + c] = 9;
      data[(L - 1) * C + c] = 9;
    }
    const xc = dn.fromArray(data, { shape: [L, C], device: "cpu" });
    const xr = f64(xc);
    const xg = xc.gpu();
    const ops: [string, (t: Tensor) => Tensor][] = [
      ["sum", (t) => dn.sum(t, 0)],
      ["mean", (t) => dn.mean(t, 0)],
      ["max", (t) => dn.max(t, 0)],
      ["min", (t) => dn.min(t, 0)],
      ["argmax", (t) => dn.argmax(t, 0)],
      ["argmin", (t) => dn.argmin(t, 0)],
    ];
    const absSum = await dn.sum(dn.abs(xr), 0).data();
    for (const [name, f] of ops) {
      const got = await f(xg).data();
      const ref = await f(xr).data();
      if (name === "sum" || name === "mean") {
        // √L·eps ≈ 3e-5 of Σ|x| is the f32 rounding scale; dropping ~465 rows is ~1e-1.
        const scale = name === "mean" ? 1 / L : 1;
        withinMag(got, ref, absSum.map((v) => v * scale), 1e-4, name);
      } else {
        assertExact(got, ref, name);
      }
    }
    const am = await dn.argmax(xg, 0).data();
    for (let c = 0; c < C; c += 2) assert.equal(am[c], L - 3, `argmax of column ${c}`);
  },
});

Deno.test({
  name: "loop cap: reduce_naive sums rows of 100 000 in column slices",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    // The baseline kernel's slicing contract (bench/baselines.ts dispatches it): columns
    // [jBegin, jEnd) per dispatch, later slices adding onto Y.
    const [rows, len] = [3, 100_000];
    const x = randn32([rows, len], 2);
    const xg = x.gpu();
    const y = emptyGpu([rows]);
    const rt = gpuRuntime();
    for (let j0 = 0; j0 < len; j0 += 16384) {
      rt.dispatch({
        kernel: "reduce_naive",
        uniforms: new UniformWriter().u32(rows).u32(len).u32(j0).u32(Math.min(len, j0 + 16384))
          .build(),
        buffers: [xg.binding("test"), y.binding("test")],
        workgroups: grid2d(Math.ceil(rows / 64)),
      });
    }
    const xr = f64(x);
    withinMag(
      await y.data(),
      await dn.sum(xr, 1).data(),
      await dn.sum(dn.abs(xr), 1).data(),
      1e-4,
      "row sums",
    );
  },
});

Deno.test({
  name: "loop cap: softmax, logsoftmax, logsumexp of a 6 000 000-long row",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    // Old softmax.wgsl `main`: 3·ceil(len/256) + 18 = 70 331 iterations per thread.
    const x = dn.mul(randn32([1, 6_000_000], 3), 3);
    const xr = f64(x);
    const xg = x.gpu();
    for (const f of [dn.softmax, dn.logsoftmax, dn.logsumexp]) {
      // Relative only: the softmax entries are ~1e-9, so an absolute slack would hide them.
      assertClose(await f(xg).data(), await f(xr).data(), { rtol: 1e-4, atol: 0 }, f.name);
    }
  },
});

Deno.test({
  name: "loop cap: xent forward and gradient with 1 500 000 classes (sliced rows)",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    // Old `backward`: 3·ceil(len/64) + 128 = 70 442 iterations per thread.
    const C = 1_500_000;
    const x = dn.mul(randn32([3, C], 4), 2);
    const data = x.dataSync() as Float32Array;
    data[1 * C + (C - 1)] = 40; // row 1: a confident label in the last slice
    const xc = dn.fromArray(data, { shape: [3, C], device: "cpu" });
    const labels = [5, C - 1, -1]; // row 2 is skipped
    const run = async (scores: Tensor) => {
      const l = dn.fromArray(labels, { device: scores.device, dtype: scores.dtype });
      const p = new dn.Param(scores);
      const w = dn.fromArray([0.5, -2, 1], { device: scores.device, dtype: scores.dtype });
      const J = dn.diff(() => dn.sum(dn.mul(dn.xent(p, l), w)));
      const [loss, grad] = await dn.readAll([dn.xent(scores, l), J.grad(p)!]);
      J.dispose();
      return { loss, grad };
    };
    const ref = await run(f64(xc));
    const got = await run(xc.gpu());
    // Relative only: row 1's loss is log1p(o) ≈ 5e-11 and most gradient entries ~1e-7;
    // the skipped row's loss and gradient must be exact zeros.
    assertClose(got.loss, ref.loss, { rtol: 1e-4, atol: 0 }, "loss");
    assert.ok(got.loss[1] > 0 && got.loss[1] < 1e-8, `confident row's loss ${got.loss[1]}`);
    assertClose(got.grad, ref.grad, { rtol: 1e-4, atol: 0 }, "gradient");
  },
});

Deno.test({
  name: "loop cap: take's gradient with 50 000 rows and 40 000 indices (index slices)",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    // Old scatter_add: n + m = 90 000 iterations per column (zeroing, then the indices).
    const [n, d, m] = [50_000, 3, 40_000];
    const rng = new dn.Rng(5);
    const idx = Array.from({ length: m }, (_, j) => j < 100 ? n - 1 : rng.int(n));
    const w = randn32([n, d], 6);
    const r = randn32([m, d], 7);
    const grad = async (wt: Tensor, rt: Tensor) => {
      const p = new dn.Param(wt);
      const J = dn.diff(() => dn.sum(dn.mul(dn.take(p, idx, 0), rt)));
      const g = await J.grad(p)!.data();
      J.dispose();
      return g;
    };
    // The CPU f32 twin sums in the same order: bitwise equal.
    assertExact(await grad(w.gpu(), r.gpu()), await grad(w, r), "dW");
  },
});

/** y = conv4(w, x), and the gradients of Σ y·dy, on the tensors' device. */
async function convRun(w: Tensor, x: Tensor, dy: Tensor, o: dn.ConvOptions) {
  const pw = new dn.Param(w);
  const px = new dn.Param(x);
  const J = dn.diff(() => dn.sum(dn.mul(dn.conv4(pw, px, o), dy)));
  const [y, dw, dx] = await dn.readAll([dn.conv4(w, x, o), J.grad(pw)!, J.grad(px)!]);
  J.dispose();
  return [y, dw, dx];
}

Deno.test({
  name: "loop cap: naive conv4 with 6000 channels, 6000 filters, and dw over 64×32×32 outputs",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    // Old trip counts (loop iterations per invocation): main Cg·(kH·(kW+1)+1) = 78 000,
    // dx Og·(kH·(kW+1)+1) = 78 000, dw N·(Ho·(Wo+1)+1) = 69 696.
    const cases: [number[], number[]][] = [
      [[1, 6000, 3, 3], [2, 6000, 3, 3]],
      [[1, 1, 3, 3], [6000, 1, 3, 3]],
      [[64, 1, 32, 32], [2, 1, 3, 3]],
    ];
    let seed = 10;
    for (const [xs, ws] of cases) {
      const o = { padding: 1, alpha: 0.5 };
      const x = randn32(xs, seed++);
      const w = randn32(ws, seed++);
      const dy = randn32(dn.conv4(w, x, o).shape, seed++);
      const ref = await convRun(f64(w), f64(x), f64(dy), o);
      const mag = await convRun(dn.abs(f64(w)), dn.abs(f64(x)), dn.abs(f64(dy)), o);
      const got = await convRun(w.gpu(), x.gpu(), dy.gpu(), { ...o, algo: "naive" });
      for (const [i, what] of ["y", "dw", "dx"].entries()) {
        // Sums of up to 65 536 terms: f32 rounding ~√n·eps ≈ 3e-5 of Σ|terms|.
        withinMag(got[i], ref[i], mag[i], 1e-4, `x [${xs}] w [${ws}] ${what}`);
      }
    }
  },
});

Deno.test({
  name: "loop cap: pooling over 256×256 windows and stride-1 16×16 max pooling, with gradients",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    // Old trip counts: main kh·(kw+1)+1 = 65 793 for 256×256 windows; max-pool backward
    // with stride 1 rescanned each of the 256 windows holding an element: 256·273 = 69 888.
    const cases: [number[], dn.PoolOptions][] = [
      [[1, 2, 256, 256], { window: 256, mode: 0 }],
      [[1, 2, 256, 256], { window: 256, mode: 1, alpha: 0.5 }],
      [[1, 1, 257, 256], { window: 256, padding: [1, 0], mode: 2 }],
      [[2, 1, 40, 40], { window: 16, stride: 1, mode: 0 }],
      // Two window-row slices (1024·17 > the software poolBudget); the maximum, tied, lies in the second.
      [[1, 1, 1030, 17], { window: [1024, 16], stride: 1, mode: 0 }],
      [[1, 1, 1030, 17], { window: [1024, 16], stride: 1, mode: 1 }],
    ];
    let seed = 20;
    for (const [xs, o] of cases) {
      let x = randn32(xs, seed++);
      if (xs[2] === 1030) {
        const d = x.dataSync() as Float32Array;
        d[1000 * 17 + 3] = 9;
        d[1010 * 17 + 3] = 9;
        x = dn.fromArray(d, { shape: xs, device: "cpu" });
      }
      const dy = randn32(dn.pool(x, o).shape, seed++);
      const run = async (xt: Tensor, dyt: Tensor) => {
        const p = new dn.Param(xt);
        const J = dn.diff(() => dn.sum(dn.mul(dn.pool(p, o), dyt)));
        const [y, dx] = await dn.readAll([dn.pool(xt, o), J.grad(p)!]);
        J.dispose();
        return [y, dx];
      };
      const ref = await run(f64(x), f64(dy));
      // Max pooling must route |dy| through the same maxima as dy.
      const mag = await run(o.mode === 0 ? f64(x) : dn.abs(f64(x)), dn.abs(f64(dy)));
      const got = await run(x.gpu(), dy.gpu());
      const what = `x [${xs}] ${JSON.stringify(o)}`;
      if (o.mode === 0) {
        assertExact(got[0], ref[0].map(Math.fround), `${what} y`);
      } else {
        withinMag(got[0], ref[0], mag[0], 1e-4, `${what} y`);
      }
      withinMag(got[1], ref[1], mag[1], 1e-4, `${what} dx`);
    }
  },
});
