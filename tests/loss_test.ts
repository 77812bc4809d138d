/**
 * Losses and metrics (src/loss.ts) and the fused softmax cross-entropy op
 * (src/ops/xent.ts, kernels/xent.wgsl): the GPU kernel and the CPU twin against an
 * independent f64 reference (forward and backward, skipped labels, scores at ±1000),
 * nll against −mean(logsoftmax picked), gradient checks in f64, GPU gradients against
 * CPU gradients, accuracy on hand-made cases, the (model, data) forms with one host sync,
 * and the errors.
 *
 * Tolerance for f32 results: F32_TOL (rtol 1e-5, atol 1e-6). A row's loss is
 * (m − x_c) + log s with s a sum of ≤ 1000 positive terms (relative error ≲ 1000u in
 * the worst case, far less for the strided partial sums; u = 2⁻²⁴ ≈ 6e-8), and each
 * gradient entry is one exp and one division of that sum: within 1e-6 absolute.
 */

import assert from "node:assert/strict";
import { gcheck } from "../src/autograd/gcheck.ts";
import { diff } from "../src/autograd/diff.ts";
import { Param } from "../src/autograd/param.ts";
import { counters, resetCounters } from "../src/gpu/counters.ts";
import { minibatch } from "../src/data/minibatch.ts";
import { accuracy, bce, logistic, mse, nll } from "../src/loss.ts";
import { binary } from "../src/ops/elementwise.ts";
import { matmul } from "../src/ops/matmul.ts";
import { sum } from "../src/ops/reduce.ts";
import { runOp } from "../src/ops/registry.ts";
import { xent, xentOp } from "../src/ops/xent.ts";
import { fromArray } from "../src/tensor/create.ts";
import { Rng } from "../src/tensor/random.ts";
import { readAll, type Tensor } from "../src/tensor/tensor.ts";
import { assertClose, F32_TOL, GPU_TEST, haveGpu, onGpuProfiles } from "./_helpers.ts";

const gpu = await haveGpu();

/** f64 results against f64 references: rounding differences only. */
const F64_TOL = { rtol: 1e-12, atol: 1e-14 } as const;
/** Gradient-check settings (f64 central differences). */
const GCHECK = { atol: 1e-6, rtol: 1e-5, delta: 1e-6, verbose: true } as const;

const SIZES_N = [1, 7, 100, 257];
const SIZES_C = [1, 10, 33, 1000];

/** Random scores (normal·scale) and labels in [0, C) with about 1 in 5 skipped (−1). */
function problem(rng: Rng, n: number, c: number, scale = 3): { x: Float64Array; y: number[] } {
  const x = new Float64Array(n * c);
  for (let i = 0; i < x.length; i++) x[i] = Math.fround(scale * rng.normal());
  const y = Array.from({ length: n }, () => (rng.uniform() < 0.2 ? -1 : rng.int(c)));
  return { x, y };
}

/** f64 reference: per-row −logsoftmax(x)[y] (0 when skipped) and the gradient r·(p − e_y). */
function reference(
  x: ArrayLike<number>,
  y: readonly number[],
  c: number,
  dy?: ArrayLike<number>,
): { loss: Float64Array; grad: Float64Array } {
  const n = y.length;
  const loss = new Float64Array(n);
  const grad = new Float64Array(n * c);
  for (let i = 0; i < n; i++) {
    if (y[i] < 0) continue;
    let m = -Infinity;
    for (let j = 0; j < c; j++) m = Math.max(m, x[i * c + j]);
    let s = 0;
    for (let j = 0; j < c; j++) s += Math.exp(x[i * c + j] - m);
    const logp = x[i * c + y[i]] - m - Math.log(s);
    loss[i] = -logp;
    const d = dy ? dy[i] : 1;
    for (let j = 0; j < c; j++) {
      grad[i * c + j] = d * (Math.exp(x[i * c + j] - m) / s - (j === y[i] ? 1 : 0));
    }
  }
  return { loss, grad };
}

const f64 = (v: ArrayLike<number>, shape: number[]) =>
  fromArray(Array.from(v), { shape, dtype: "f64", device: "cpu" });
const f32 = (v: ArrayLike<number>, shape: number[], device: "cpu" | "gpu" = "cpu") =>
  fromArray(Array.from(v), { shape, device });

/** xent forward and backward (with a random dy) on one device. */
async function xentBoth(
  x: ArrayLike<number>,
  y: number[],
  c: number,
  dy: ArrayLike<number>,
  device: "cpu" | "gpu",
  dtype: "f32" | "f64" = "f32",
): Promise<{ loss: Float64Array; grad: Float64Array }> {
  const n = y.length;
  const xs = dtype === "f64" ? f64(x, [n, c]) : f32(x, [n, c], device);
  const w = new Param(xs);
  const labels = f32(y, [n], device);
  const r = dtype === "f64" ? f64(dy, [n]) : f32(dy, [n], device);
  const J = diff(() => sum(binary("mul", xent(w, labels), r)));
  const per = xent(xs, labels);
  const [loss, grad] = await readAll([per, J.grad(w)!]);
  for (const t of [xs, w, labels, r, per]) t.dispose();
  J.dispose();
  return { loss: Float64Array.from(loss), grad: Float64Array.from(grad) };
}

Deno.test("xent: CPU f32/f64 == f64 reference, forward and backward (N × C grid, skips)", async () => {
  const rng = new Rng(1);
  for (const n of SIZES_N) {
    for (const c of SIZES_C) {
      const { x, y } = problem(rng, n, c);
      const dy = Array.from({ length: n }, () => rng.normal());
      const ref = reference(x, y, c, dy);
      const what = `cpu ${n}×${c}`;
      const a = await xentBoth(x, y, c, dy, "cpu", "f64");
      assertClose(a.loss, ref.loss, F64_TOL, `${what} f64 loss`);
      assertClose(a.grad, ref.grad, F64_TOL, `${what} f64 grad`);
      const b = await xentBoth(x, y, c, dy, "cpu", "f32");
      assertClose(b.loss, ref.loss, F32_TOL, `${what} f32 loss`);
      assertClose(b.grad, ref.grad, F32_TOL, `${what} f32 grad`);
      // Skipped rows: loss 0 and a zero gradient row.
      y.forEach((l, i) => {
        if (l >= 0) return;
        assert.equal(a.loss[i], 0, `${what} skipped row ${i} loss`);
        assert.ok(a.grad.subarray(i * c, (i + 1) * c).every((v) => v === 0), `${what} row ${i}`);
      });
    }
  }
});

Deno.test({
  name:
    "xent: GPU == CPU == f64 reference, forward and backward (N × C grid, skips), two-pass (software) and online (discrete) rows",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    await onGpuProfiles(async (profile) => {
      const rng = new Rng(2);
      for (const n of SIZES_N) {
        for (const c of SIZES_C) {
          const { x, y } = problem(rng, n, c);
          const dy = Array.from({ length: n }, () => Math.fround(rng.normal()));
          const ref = reference(x, y, c, dy);
          const g = await xentBoth(x, y, c, dy, "gpu");
          const h = await xentBoth(x, y, c, dy, "cpu");
          const what = `${profile} gpu ${n}×${c}`;
          assertClose(g.loss, h.loss, F32_TOL, `${what} loss vs cpu`);
          assertClose(g.grad, h.grad, F32_TOL, `${what} grad vs cpu`);
          assertClose(g.loss, ref.loss, F32_TOL, `${what} loss vs reference`);
          assertClose(g.grad, ref.grad, F32_TOL, `${what} grad vs reference`);
        }
      }
      // Long rows at ±1000 scale with a confident row (loss ≈ 2e-9) and -Inf scores: the
      // online pass rescales its sums as the maximum grows and keeps tiny values.
      const c = 300;
      const x = Array.from({ length: 3 * c }, (_, i) => ((i * 37) % 101) - 50);
      for (let j = 0; j < c; j++) x[j] += 1000; // row 0 around 1000
      for (let j = c; j < 2 * c; j++) x[j] = j === c + 7 ? 40 : -Infinity; // row 1
      x[2 * c + 250] = 200; // row 2: its last-but-50 column dominates
      const y = [3, 7, 250];
      const ref = reference(x, y, c);
      const r = await xentBoth(x, y, c, [1, 1, 1], "gpu");
      const tol = { rtol: 1e-5, atol: 1e-12 };
      assertClose(r.loss, ref.loss, tol, `${profile} long rows: loss`);
      assertClose(r.grad, ref.grad, tol, `${profile} long rows: grad`);
      // A row of -Inf and a row holding a NaN have no softmax: NaN, on both passes.
      const bad = Array.from({ length: 2 * c }, (_, i) => i < c ? -Infinity : i % 3);
      bad[c + 123] = NaN;
      const nb = await xentBoth(bad, [1, 2], c, [1, 1], "gpu");
      assert.ok(nb.loss.every(Number.isNaN), `${profile}: NaN losses, got ${nb.loss}`);
    });
  },
});

Deno.test("xent: stable at scores ±1000, confident rows keep tiny losses and gradients", async () => {
  // Rows of ±1000-scale scores (exp would overflow without the max shift), and a
  // confident row whose loss (≈ 2e-9) is below f32's rounding of 1 + 2e-9.
  const c = 4;
  const x = [
    1000,
    -1000,
    999,
    0,
    -1000,
    -1001,
    -999,
    -1000,
    1000,
    1000,
    -1000,
    1000,
    20,
    0,
    0,
    0,
  ];
  const y = [2, 3, 1, 0];
  const ref = reference(x, y, c);
  assert.ok(ref.loss[3] > 1e-9 && ref.loss[3] < 1e-8, "the confident row's loss is tiny");
  for (const device of gpu ? ["cpu", "gpu"] as const : ["cpu"] as const) {
    const r = await xentBoth(x, y, c, [1, 1, 1, 1], device);
    assert.ok(r.loss.every(Number.isFinite) && r.grad.every(Number.isFinite), device);
    // Absolute tolerance far below the tiny values: their relative accuracy is kept.
    const tol = { rtol: 1e-5, atol: 1e-12 };
    assertClose(r.loss, ref.loss, tol, `${device} loss at ±1000`);
    assertClose(r.grad, ref.grad, tol, `${device} grad at ±1000`);
  }
});

Deno.test({
  name: "xent: one kernel dispatch per direction on the GPU (plus the device label check)",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    for (const c of [10, 1000]) {
      const rng = new Rng(3);
      const { x, y } = problem(rng, 33, c);
      const xs = f32(x, [33, c], "gpu");
      const ls = f32(y, [33], "gpu");
      const dy = f32(Array(33).fill(1), [33], "gpu");
      resetCounters();
      const loss = xent(xs, ls);
      assert.equal(counters().dispatches, 2, `forward C=${c}: check.wgsl labels + xent`);
      resetCounters();
      const [dx, dl] = xentOp.backward!(dy, [xs, ls], loss, { rows: 33, len: c }, [true, false]);
      assert.equal(counters().dispatches, 1, `backward C=${c}`);
      assert.equal(dl, null, "labels get no gradient");
      const ref = reference(x, y, c);
      assertClose(await dx!.data(), ref.grad, F32_TOL, `backward C=${c}`);
      for (const t of [xs, ls, dy, loss, dx!]) t.dispose();
    }
  },
});

Deno.test({
  name:
    "xent: a bad GPU label gives NaN for its instance only in the kernel, and xent/nll/accuracy throw at the next readback",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    for (const c of [3, 100]) {
      const x = Array.from({ length: 4 * c }, (_, i) => Math.sin(i));
      const y = [c, 0.5, 1, -2]; // out of range, not an integer, valid, skipped
      const xs = f32(x, [4, c], "gpu");
      const w = new Param(xs);
      const ls = f32(y, [4], "gpu");
      const a = { rows: 4, len: c };
      const J = diff(() => sum(runOp(xentOp, [w, ls], a)));
      const [loss, grad] = await readAll([runOp(xentOp, [xs, ls], a), J.grad(w)!]);
      const ref = reference(x, [-1, -1, 1, -1], c);
      assert.ok(Number.isNaN(loss[0]) && Number.isNaN(loss[1]), `C=${c}: NaN, got ${loss}`);
      assertClose(loss.subarray(2), ref.loss.subarray(2), F32_TOL, `C=${c} valid rows`);
      assert.ok(grad.subarray(0, 2 * c).every(Number.isNaN), `C=${c}: NaN gradient rows`);
      assertClose(grad.subarray(2 * c), ref.grad.subarray(2 * c), F32_TOL, `C=${c} grad rows`);
      // Through xent, nll and accuracy the device check reports the first bad label (issue 16).
      for (const [op, f] of [["xent", xent], ["nll", nll], ["accuracy", accuracy]] as const) {
        const t = f(xs, ls);
        await assert.rejects(
          t.data(),
          new RegExp(
            `^Error: ${op}: label ${c} of instance 0 is not a class index: expected ` +
              `an integer in \\[0, ${c - 1}\\]`,
          ),
        );
        t.dispose();
        const good = await f(xs, f32([0, 1, -1, 2], [4], "gpu")).data();
        assert.ok(good.every((v) => v >= 0), `${op} recovers after the error`);
      }
      J.dispose();
      w.dispose();
    }
  },
});

/** −mean (or −sum) of logsoftmax(x)[i, y_i] over kept rows, in f64, written directly. */
function nllReference(x: ArrayLike<number>, y: readonly number[], c: number, average: boolean) {
  let total = 0;
  let count = 0;
  y.forEach((l, i) => {
    if (l < 0) return;
    const row = Array.from({ length: c }, (_, j) => x[i * c + j]);
    const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
    total -= row[l] - lse;
    count++;
  });
  return average ? total / count : total;
}

Deno.test("nll: equals −mean(logsoftmax picked), average and sum, with skips, on every device", async () => {
  const rng = new Rng(4);
  const devices = gpu ? ["cpu", "gpu"] as const : ["cpu"] as const;
  for (const [n, c] of [[1, 1], [7, 10], [100, 33], [257, 1000]]) {
    const { x, y } = problem(rng, n, c, 2);
    y[0] = 0; // at least one kept row
    for (const average of [true, false]) {
      const want = nllReference(x, y, c, average);
      const a = await nll(f64(x, [n, c]), f32(y, [n]), { average }).item();
      assertClose([a], [want], F64_TOL, `f64 ${n}×${c} average=${average}`);
      for (const device of devices) {
        const v = await nll(f32(x, [n, c], device), f32(y, [n], device), { average }).item();
        assertClose([v], [want], { rtol: 2e-5, atol: 1e-6 }, `${device} ${n}×${c} avg=${average}`);
      }
    }
  }
  // Knet's doc example (scores (3,2) there are our [2,3]): two confident rows.
  const s = [12.2, 2.0, 0.0, 0.3, 21.5, -21.0];
  const want = nllReference(s, [0, 1], 3, true);
  assertClose([await nll(f64(s, [2, 3]), f32([0, 1], [2])).item()], [want], F64_TOL, "example");
  assert.ok(Math.abs(want - 2.11e-5) < 1e-7, `example value ${want}`);
});

Deno.test("nll: returns a scalar on the device; all skipped → NaN (0/0, as Knet); N = 0", async () => {
  for (const device of gpu ? ["cpu", "gpu"] as const : ["cpu"] as const) {
    const x = f32([1, 2, 3, 4], [2, 2], device);
    const l = nll(x, f32([-1, -1], [2], device));
    assert.deepEqual(l.shape, []);
    assert.equal(l.device, device);
    assert.ok(Number.isNaN(await l.item()), `${device}: all skipped`);
    assert.equal(await nll(x, f32([-1, -1], [2], device), { average: false }).item(), 0);
    const e = nll(f32([], [0, 5], device), f32([], [0], device), { average: false });
    assert.equal(await e.item(), 0, `${device}: empty batch total`);
  }
});

Deno.test("gcheck f64: nll (average true/false, with skips), bce, logistic, mse", async () => {
  const rng = new Rng(5);
  for (const [n, c] of [[1, 1], [7, 10], [5, 33]]) {
    const { x, y } = problem(rng, n, c, 2);
    y[0] = c - 1;
    const labels = f32(y, [n]);
    for (const average of [true, false]) {
      const ok = await gcheck(
        (s: Tensor) => nll(s, labels, { average }),
        new Param(f64(x, [n, c])),
        {
          ...GCHECK,
          nsample: 40,
        },
      );
      assert.ok(ok, `gcheck nll ${n}×${c} average=${average}`);
    }
  }
  const n = 13;
  const x = Array.from({ length: n }, () => 3 * rng.normal());
  const y01 = Array.from({ length: n }, () => rng.int(2));
  const soft = Array.from({ length: n }, () => rng.uniform());
  const ypm = y01.map((v) => 2 * v - 1);
  const opts = { ...GCHECK, nsample: n };
  assert.ok(
    await gcheck((s: Tensor) => bce(s, f32(y01, [n])), new Param(f64(x, [n])), opts),
    "bce",
  );
  assert.ok(
    await gcheck(
      (s: Tensor) => bce(s, f64(soft, [n]), { average: false }),
      new Param(f64(x, [n])),
      opts,
    ),
    "bce soft targets, sum",
  );
  assert.ok(
    await gcheck((s: Tensor) => logistic(s, f32(ypm, [n])), new Param(f64(x, [n])), opts),
    "logistic",
  );
  const t = Array.from({ length: n }, () => rng.normal());
  assert.ok(
    await gcheck(
      (p: Tensor, q: Tensor) => mse(p, q),
      new Param(f64(x, [n, 1])),
      new Param(f64(t, [n, 1])),
      opts,
    ),
    "mse (both arguments)",
  );
});

Deno.test("bce, logistic, mse: values against direct f64 formulas; bce == logistic with mapped labels", async () => {
  const rng = new Rng(6);
  const n = 50;
  const x = Array.from({ length: n }, () => Math.fround(10 * rng.normal()));
  x[0] = 1000; // softplus must not overflow
  x[1] = -1000;
  const y = Array.from({ length: n }, () => rng.int(2));
  const sp = (v: number) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
  const bceRef = x.reduce((s, v, i) => s + sp(v) - y[i] * v, 0);
  const logRef = x.reduce((s, v, i) => s + sp(-(2 * y[i] - 1) * v), 0);
  assertClose([bceRef], [logRef], { rtol: 1e-12, atol: 1e-9 }, "the two are one loss");
  const t = Array.from({ length: n }, () => Math.fround(rng.normal()));
  const mseRef = x.reduce((s, v, i) => s + (v - t[i]) ** 2, 0) / n;
  for (const device of gpu ? ["cpu", "gpu"] as const : ["cpu"] as const) {
    const xs = f32(x, [n], device);
    const got = await readAll([
      bce(xs, f32(y, [n], device)),
      bce(xs, f32(y, [n], device), { average: false }),
      logistic(xs, f32(y.map((v) => 2 * v - 1), [n], device)),
      bce(f32(x, [n, 1], device), f32(y, [n], device)), // scores [N,1], labels [N]
      mse(f32(x, [5, 10], device), f32(t, [5, 10], device)),
    ]);
    const tol = { rtol: 2e-5, atol: 1e-5 };
    assertClose(got[0], [bceRef / n], tol, `${device} bce`);
    assertClose(got[1], [bceRef], tol, `${device} bce sum`);
    assertClose(got[2], [logRef / n], tol, `${device} logistic`);
    assertClose(got[3], [bceRef / n], tol, `${device} bce [N,1]`);
    assertClose(got[4], [mseRef], tol, `${device} mse`);
  }
});

Deno.test({
  name: "gradients: GPU == CPU for nll (avg, sum, skips), bce, logistic, mse",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rng = new Rng(7);
    const [n, c] = [100, 33];
    const { x, y } = problem(rng, n, c);
    const y01 = Array.from({ length: n * c }, () => rng.int(2));
    const t = Array.from({ length: n * c }, () => rng.normal());
    const cases: [string, (s: Tensor, d: "cpu" | "gpu") => Tensor][] = [
      ["nll", (s, d) => nll(s, f32(y, [n], d))],
      ["nll sum", (s, d) => nll(s, f32(y, [n], d), { average: false })],
      ["bce", (s, d) => bce(s, f32(y01, [n, c], d))],
      ["logistic", (s, d) => logistic(s, f32(y01.map((v) => 2 * v - 1), [n, c], d))],
      ["mse", (s, d) => mse(s, f32(t, [n, c], d))],
    ];
    for (const [name, f] of cases) {
      const out: Float64Array[] = [];
      for (const d of ["cpu", "gpu"] as const) {
        const w = new Param(f32(x, [n, c], d));
        const J = diff(() => f(w, d));
        const [v, g] = await readAll([J.value, J.grad(w)!]);
        out.push(Float64Array.from([...v, ...g]));
        J.dispose();
        w.dispose();
      }
      assertClose(out[1], out[0], F32_TOL, `${name}: gpu vs cpu (value and gradient)`);
      assert.ok(out[0].subarray(1).some((v) => v !== 0), `${name}: non-zero gradient`);
    }
  },
});

Deno.test({
  name:
    "nll on the GPU: fused total (2 dispatches) and gradient (1) == f64 reference at odd sizes, scaled upstream, skips, long rows",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rng = new Rng(11);
    // [N, C]: short rows (one invocation each), long rows (a workgroup each), and rows
    // longer than the software profile's slice (the sliced entry points).
    for (const [n, c] of [[1, 1], [3, 7], [37, 65], [301, 10], [2, 300_001]]) {
      const { x, y } = problem(rng, n, c, 2);
      y[0] = 0;
      if (n > 2) y[n - 1] = -1; // a skipped instance
      for (const average of [true, false]) {
        const kept = y.filter((l) => l >= 0).length;
        const scale = 2.5 / (average ? kept : 1); // d(2.5·nll)/d(row loss)
        const want = nllReference(x, y, c, average);
        const w = new Param(f32(x, [n, c], "gpu"));
        const ls = f32(y, [n], "gpu");
        resetCounters();
        const J = diff(() => {
          const l = nll(w, ls, { average });
          if (c <= 65) assert.equal(counters().dispatches, 2, `${n}×${c}: xent rows + total`);
          return binary("mul", l, 2.5);
        });
        const [v, g] = await readAll([J.value, J.grad(w)!]);
        assertClose([v[0]], [2.5 * want], { rtol: 2e-5, atol: 1e-6 }, `${n}×${c} avg=${average}`);
        const ref = reference(x, y, c);
        const wantGrad = ref.grad.map((d) => d * scale);
        assertClose(g, wantGrad, F32_TOL, `${n}×${c} avg=${average}: gradient`);
        if (c <= 65) {
          // mul's backward (1), the fused gradient (1); nothing else in between.
          assert.equal(counters().dispatches, 2 + 1 + 1 + 1, `${n}×${c}: dispatches in all`);
        }
        J.dispose();
        w.dispose();
        ls.dispose();
      }
    }
  },
});

Deno.test("accuracy: hand-made cases with skips, ties and average=false, on every device", async () => {
  const scores = [
    [0.1, 0.7, 0.2], // argmax 1
    [2, 1, 0], // argmax 0
    [5, 5, 1], // tie: first max, 0
    [0, 0, 3], // argmax 2
    [1, 2, 3], // argmax 2
  ];
  const cases: [number[], number, number][] = [
    [[1, 0, 0, 2, 2], 1, 5], // all right
    [[1, 0, 1, 2, 0], 3 / 5, 3], // the tie goes to class 0: 1 is wrong
    [[1, -1, 0, -1, 0], 2 / 3, 2], // two skipped: 2 of 3 kept
    [[2, -1, -1, -1, -1], 0, 0],
  ];
  for (const device of gpu ? ["cpu", "gpu"] as const : ["cpu"] as const) {
    const s = fromArray(scores, { device });
    for (const [labels, want, correct] of cases) {
      const l = f32(labels, [5], device);
      const a = accuracy(s, l);
      assert.deepEqual(a.shape, []);
      assert.equal(a.device, device);
      assertClose([await a.item()], [want], F32_TOL, `${device} accuracy ${labels}`);
      assert.equal(await accuracy(s, l, { average: false }).item(), correct, `${device} count`);
    }
    assert.ok(Number.isNaN(await accuracy(s, f32([-1, -1, -1, -1, -1], [5], device)).item()));
  }
  // f64 CPU scores with f32 labels.
  const a = accuracy(fromArray(scores, { dtype: "f64", device: "cpu" }), f32([1, 0, 1, 2, 0], [5]));
  assert.equal(await a.item(), 3 / 5);
});

Deno.test("accuracy: no gradient inside diff", async () => {
  const w = new Param(f64([1, 2, 3, 4], [2, 2]));
  const J = diff(() => binary("add", nll(w, f32([0, 1], [2])), accuracy(w, f32([1, 1], [2]))));
  const ref = reference([1, 2, 3, 4], [0, 1], 2).grad.map((v) => v / 2);
  assertClose(await J.grad(w)!.data(), ref, F64_TOL, "only nll contributes");
});

/** A linear model, its data as minibatches, and the direct f64 results. */
function modelProblem(device: "cpu" | "gpu") {
  const rng = new Rng(8);
  const [n, d, c] = [50, 6, 4];
  const x = Array.from({ length: n * d }, () => Math.fround(rng.normal()));
  const wv = Array.from({ length: d * c }, () => Math.fround(rng.normal()));
  const y = Array.from({ length: n }, () => (rng.uniform() < 0.15 ? -1 : rng.int(c)));
  // Scores in f64 from the same f32 inputs.
  const scores = new Float64Array(n * c);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < c; k++) {
      for (let j = 0; j < d; j++) scores[i * c + k] += x[i * d + j] * wv[j * c + k];
    }
  }
  const kept = y.filter((l) => l >= 0).length;
  let correct = 0;
  y.forEach((l, i) => {
    if (l < 0) return;
    const row = Array.from(scores.subarray(i * c, (i + 1) * c));
    if (row.indexOf(Math.max(...row)) === l) correct++;
  });
  const w = f32(wv, [d, c], device);
  const outputs: Tensor[] = [];
  const model = (xb: Tensor) => {
    const scores = matmul(xb, w);
    outputs.push(scores);
    return scores;
  };
  const data = minibatch(f32(x, [n, d]), f32(y, [n]), 16, { partial: true, device });
  return {
    model,
    outputs,
    data,
    w,
    nllMean: nllReference(scores, y, c, true),
    nllSum: nllReference(scores, y, c, false),
    acc: correct / kept,
    correct,
  };
}

Deno.test("accuracy(model, data), nll(model, data): CPU batches against a direct computation", async () => {
  const p = modelProblem("cpu");
  const tol = { rtol: 1e-5, atol: 1e-6 };
  assertClose([await accuracy(p.model, p.data)], [p.acc], tol, "accuracy");
  assert.equal(await accuracy(p.model, p.data, { average: false }), p.correct);
  assertClose([await nll(p.model, p.data)], [p.nllMean], tol, "nll");
  assertClose([await nll(p.model, p.data, { average: false })], [p.nllSum], tol, "nll sum");
  assert.ok(Number.isNaN(await nll(p.model, [])), "no batches");
});

Deno.test({
  name: "accuracy(model, data), nll(model, data): GPU, exactly one host sync, no leak",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const p = modelProblem("gpu");
    const tol = { rtol: 1e-5, atol: 1e-6 };
    await p.w.data(); // settle uploads
    const live = counters().liveBytes;
    resetCounters();
    const a = await accuracy(p.model, p.data);
    assert.equal(counters().hostSyncs, 1, "accuracy: one host sync");
    assert.ok(counters().dispatches > 4, "the work ran on the device");
    resetCounters();
    const l = await nll(p.model, p.data);
    assert.equal(counters().hostSyncs, 1, "nll: one host sync");
    assertClose([a], [p.acc], tol, "accuracy");
    assertClose([l], [p.nllMean], tol, "nll");
    assert.equal(p.outputs.length, 8, "4 batches per pass, two passes");
    assert.ok(p.outputs.every((t) => t.disposed), "the model's outputs were disposed");
    // ≤: the garbage collector may also return earlier tests' forgotten buffers meanwhile.
    assert.ok(
      counters().liveBytes <= live,
      `per-batch intermediates and totals were freed: ${counters().liveBytes} > ${live} bytes`,
    );
  },
});

Deno.test("(model, data) forms: errors for unlabelled batches and non-tensor models", async () => {
  const x = f32([1, 2, 3, 4], [2, 2]);
  await assert.rejects(
    () => nll((v) => v, [x as unknown as [Tensor, Tensor]]),
    /batch 0 is not an \[x, y\] pair/,
  );
  await assert.rejects(
    () => accuracy(() => 3 as unknown as Tensor, [[x, f32([0, 1], [2])]]),
    /accuracy\(model, data\): the model must return a Tensor/,
  );
});

Deno.test("errors: labels out of range on the CPU, shape mismatches, non-2-D scores, devices", () => {
  const s = f32([1, 2, 3, 4, 5, 6], [2, 3]);
  const bads: [number[], number][] = [[[0, 3], 3], [[0.5, 1], 0.5], [[NaN, 1], NaN], [[1, 7], 7]];
  for (const [labels, bad] of bads) {
    const l = f32(labels, [2]);
    const re = new RegExp(`label ${bad} of instance \\d is not a class index.*\\[0, 2\\]`);
    assert.throws(() => nll(s, l), re, `nll ${labels}`);
    assert.throws(() => xent(s, l), re, `xent ${labels}`);
    assert.throws(() => accuracy(s, l), re, `accuracy ${labels}`);
  }
  assert.throws(
    () => nll(s, f32([0, 1, 2], [3])),
    /nll: labels f32\[3\] cpu do not match scores f32\[2,3\] cpu: expected labels of shape \[2\]/,
  );
  assert.throws(
    () => nll(s, f32([0, 1], [2, 1])),
    /nll: labels f32\[2,1\] cpu do not match scores f32\[2,3\]/,
  );
  assert.throws(
    () => accuracy(s, f32([0], [1])),
    /accuracy: labels f32\[1\] cpu do not match scores/,
  );
  assert.throws(
    () => nll(f32([1, 2, 3], [3]), f32([0, 1, 2], [3])),
    /nll: scores must be 2-D \[instances, classes\], got f32\[3\] cpu \(labels f32\[3\] cpu\)/,
  );
  assert.throws(
    () => nll(f32(Array(8).fill(0), [2, 2, 2]), f32([0, 1], [2])),
    /nll: scores must be 2-D.*f32\[2,2,2\]/,
  );
  assert.throws(
    () => bce(f32([1, 2, 3], [3]), f32([0, 1], [2])),
    /bce: labels f32\[2\] cpu do not match scores f32\[3\] cpu/,
  );
  assert.throws(
    () => logistic(f32([1, 2, 3, 4], [2, 2]), f32([1, -1], [2])),
    /logistic: labels f32\[2\] cpu do not match scores f32\[2,2\] cpu/,
  );
  assert.throws(
    () => mse(f32([1, 2, 3, 4], [2, 2]), f32([1, 2, 3, 4], [4])),
    /mse: pred f32\[2,2\] cpu and target f32\[4\] cpu must have the same shape/,
  );
  assert.throws(
    () => mse(f32([1, 2], [2]), f64([1, 2], [2])),
    /mse: pred f32\[2\] cpu and target f64\[2\] cpu/,
  );
  const disposed = f32([0, 1], [2]);
  disposed.dispose();
  assert.throws(() => nll(s, disposed), /nll: input 0 .* was disposed/);
});

Deno.test({
  name: "errors: scores and labels on different devices",
  ignore: !gpu,
  ...GPU_TEST,
  fn: () => {
    const s = f32([1, 2, 3, 4], [2, 2], "gpu");
    assert.throws(
      () => nll(s, f32([0, 1], [2])),
      /nll: scores f32\[2,2\] gpu and labels f32\[2\] cpu are on different devices/,
    );
    assert.throws(() => accuracy(s, f32([0, 1], [2])), /accuracy: .* different devices/);
    assert.throws(() => bce(s, f32([0, 1, 0, 1], [2, 2])), /bce: .* different devices/);
    s.dispose();
  },
});
