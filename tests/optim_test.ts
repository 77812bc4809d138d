/**
 * Optimizers (src/optim/optimizers.ts, src/optim/update.ts, kernels/optim.wgsl): every
 * rule against its Knet formula written out below on plain JS numbers (f64), with and
 * without gradient clipping (the norm above and below the limit); the CPU twin in f64
 * within 1e-12 and the GPU kernel within F32_TOL; convergence on a quadratic with
 * diff + update; no host syncs and an exact dispatch count per update on the GPU; Param.opt
 * attachment and reuse; the array forms of update; config / stateTensors / loadState
 * round trips; and the errors.
 *
 * Tolerances: the reference is f64 arithmetic on f32-exact inputs. The CPU f64 twin does
 * the same operations in the same order, so it agrees to rounding (1e-12). The GPU
 * stores everything in f32: a few roundings per step on O(1) values, within F32_TOL.
 */

import assert from "node:assert/strict";
import { diff } from "../src/autograd/diff.ts";
import { Param } from "../src/autograd/param.ts";
import { counters } from "../src/gpu/counters.ts";
import { mul, square, sub } from "../src/ops/math.ts";
import { sum } from "../src/ops/reduce.ts";
import type { Optimizer } from "../src/optim/optimizer.ts";
import {
  Adadelta,
  Adagrad,
  Adam,
  gclip,
  Momentum,
  Nesterov,
  type OptimizerBase,
  optimizerFromConfig,
  type OptimizerOptions,
  OPTIMIZERS,
  Rmsprop,
  SGD,
  update,
} from "../src/optim/mod.ts";
import { fromArray, zeros } from "../src/tensor/create.ts";
import { tidy } from "../src/tensor/scope.ts";
import { type DeviceName, type DType, readAll, type Tensor } from "../src/tensor/tensor.ts";
import { assertClose, assertExact, F32_TOL, GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

const F64_TOL = { rtol: 1e-12, atol: 1e-14 };
const NAMES = ["SGD", "Momentum", "Nesterov", "Adagrad", "Rmsprop", "Adadelta", "Adam"] as const;
type Name = typeof NAMES[number];

// ---------------------------------------------------------------------------------------
// The reference: Knet's update.jl, written out on plain numbers

type Vec = number[];
interface RefState {
  w: Vec;
  s1: Vec;
  s2: Vec;
  t: number;
}

/** Knet's gclip!: g·(limit/‖g‖) when limit > 0 and ‖g‖ > limit. */
function refClip(g: Vec, limit: number): Vec {
  if (limit === 0) return g;
  const norm = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
  return norm > limit ? g.map((x) => x * (limit / norm)) : g;
}

/** One step of `name` with hyperparameters `h` (Knet's defaults filled in), in place on st. */
function refStep(name: Name, h: Required<OptimizerOptions>, st: RefState, g0: Vec): void {
  const g = refClip(g0, h.gclip);
  const { w, s1, s2 } = st;
  for (let i = 0; i < w.length; i++) {
    switch (name) {
      case "SGD":
        w[i] = w[i] - h.lr * g[i];
        break;
      case "Momentum": // velocity: lmul!(gamma, v); axpy!(-lr, g, v); axpy!(1, v, w)
        s1[i] = h.gamma * s1[i];
        s1[i] = s1[i] + -h.lr * g[i];
        w[i] = w[i] + s1[i];
        break;
      case "Nesterov": // v = gamma v; w -= v; v -= lr g; w += (1 + gamma) v
        s1[i] = h.gamma * s1[i];
        w[i] = w[i] - s1[i];
        s1[i] = s1[i] - h.lr * g[i];
        w[i] = w[i] + (1 + h.gamma) * s1[i];
        break;
      case "Adagrad": // G += g²; w -= lr g / √(G + eps)
        s1[i] = s1[i] + g[i] * g[i];
        w[i] = w[i] - h.lr * (g[i] / Math.sqrt(s1[i] + h.eps));
        break;
      case "Rmsprop": // G = rho G + (1 − rho) g²; w -= lr g / √(G + eps)
        s1[i] = h.rho * s1[i] + (1 - h.rho) * (g[i] * g[i]);
        w[i] = w[i] - h.lr * (g[i] / Math.sqrt(s1[i] + h.eps));
        break;
      case "Adadelta": { // G, then u = g √(delta + eps) / √(G + eps), then delta, then w
        s1[i] = h.rho * s1[i] + (1 - h.rho) * (g[i] * g[i]);
        const u = g[i] * Math.sqrt(s2[i] + h.eps) / Math.sqrt(s1[i] + h.eps);
        s2[i] = h.rho * s2[i] + (1 - h.rho) * (u * u);
        w[i] = w[i] - h.lr * u;
        break;
      }
      case "Adam": { // m, v, then the bias-corrected step (t already incremented)
        const t = st.t + 1;
        s1[i] = h.beta1 * s1[i] + (1 - h.beta1) * g[i];
        s2[i] = h.beta2 * s2[i] + (1 - h.beta2) * (g[i] * g[i]);
        const mhat = s1[i] / (1 - h.beta1 ** t);
        const vhat = s2[i] / (1 - h.beta2 ** t);
        w[i] = w[i] - h.lr * (mhat / (Math.sqrt(vhat) + h.eps));
        break;
      }
    }
  }
  st.t += 1;
}

/** Knet's defaults (update.jl), stated here independently of the implementation. */
const KNET_DEFAULTS: Record<Name, OptimizerOptions> = {
  SGD: { lr: 0.1, gclip: 0 },
  Momentum: { lr: 0.05, gamma: 0.95, gclip: 0 },
  Nesterov: { lr: 0.05, gamma: 0.95, gclip: 0 },
  Adagrad: { lr: 0.05, eps: 1e-6, gclip: 0 },
  Rmsprop: { lr: 0.01, rho: 0.9, eps: 1e-6, gclip: 0 },
  Adadelta: { lr: 1.0, rho: 0.9, eps: 1e-6, gclip: 0 },
  Adam: { lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8, gclip: 0 },
};

function full(name: Name, opts: OptimizerOptions): Required<OptimizerOptions> {
  return {
    lr: 0,
    gclip: 0,
    gamma: 0,
    rho: 0,
    eps: 0,
    beta1: 0,
    beta2: 0,
    ...KNET_DEFAULTS[name],
    ...opts,
  };
}

/** The state fields of each optimizer, mapped to the reference's s1/s2. */
const FIELDS: Record<Name, string[]> = {
  SGD: [],
  Momentum: ["velocity"],
  Nesterov: ["velocity"],
  Adagrad: ["G"],
  Rmsprop: ["G"],
  Adadelta: ["G", "delta"],
  Adam: ["fstm", "scndm"],
};

// The tiny problem: w and three gradients (f32-exact values). ‖g1‖ ≈ 2.41, ‖g2‖ ≈ 1.70,
// ‖g3‖ ≈ 1.15, so gclip = 2 clips the first step only and gclip = 1.5 the first two.
const W0 = [1, -2, 0.5];
const GS = [[0.5, -1.25, 2], [-0.75, 0.25, 1.5], [1, 0.5, -0.25]];

function reference(name: Name, opts: OptimizerOptions, steps = GS.length): RefState {
  const h = full(name, opts);
  const st: RefState = { w: [...W0], s1: [0, 0, 0], s2: [0, 0, 0], t: 0 };
  for (const g of GS.slice(0, steps)) refStep(name, h, st, g);
  return st;
}

function make(name: Name, opts: OptimizerOptions = {}): OptimizerBase {
  return new OPTIMIZERS[name](opts);
}

/** Runs the tiny problem through `opt` on device/dtype; returns w and the state (read). */
async function runTiny(
  opt: OptimizerBase,
  device: DeviceName,
  dtype: DType,
  steps = GS.length,
): Promise<{ w: Float64Array; state: Record<string, Float64Array>; gAfter: Float64Array[] }> {
  const w = fromArray(W0, { device, dtype });
  const gs = GS.slice(0, steps).map((g) => fromArray(g, { device, dtype }));
  for (const g of gs) opt.update(w, g);
  const names = Object.keys(opt.stateTensors());
  const read = await readAll([w, ...names.map((n) => opt.stateTensors()[n]), ...gs]);
  const state: Record<string, Float64Array> = {};
  names.forEach((n, i) => (state[n] = Float64Array.from(read[1 + i])));
  const gAfter = read.slice(1 + names.length).map((a) => Float64Array.from(a));
  w.dispose();
  for (const g of gs) g.dispose();
  return { w: Float64Array.from(read[0]), state, gAfter };
}

function checkAgainstReference(
  name: Name,
  opts: OptimizerOptions,
  got: Awaited<ReturnType<typeof runTiny>>,
  tol: { rtol: number; atol: number },
  what: string,
): void {
  const ref = reference(name, opts);
  assertClose(got.w, ref.w, tol, `${what}: w`);
  assert.deepEqual(Object.keys(got.state), FIELDS[name], `${what}: state fields`);
  FIELDS[name].forEach((f, k) => assertClose(got.state[f], k === 0 ? ref.s1 : ref.s2, tol, f));
  got.gAfter.forEach((g, k) => assertExact(g, GS[k], `${what}: gradient ${k} unchanged`));
}

// Per optimizer: defaults, non-default hyperparameters, and gclip above/below the norm.
const SETTINGS: Record<Name, OptimizerOptions[]> = {
  SGD: [{}, { lr: 0.3 }, { gclip: 2 }, { lr: 0.3, gclip: 1.5 }, { gclip: 10 }],
  Momentum: [{}, { lr: 0.2, gamma: 0.5 }, { gclip: 2 }, { gamma: 0.8, gclip: 1.5 }],
  Nesterov: [{}, { lr: 0.2, gamma: 0.5 }, { gclip: 2 }, { gamma: 0.8, gclip: 1.5 }],
  Adagrad: [{}, { lr: 0.5, eps: 1e-3 }, { gclip: 2 }, { eps: 0.1, gclip: 1.5 }],
  Rmsprop: [{}, { lr: 0.05, rho: 0.5, eps: 1e-3 }, { gclip: 2 }, { rho: 0.7, gclip: 1.5 }],
  Adadelta: [{}, { lr: 0.5, rho: 0.5, eps: 1e-2 }, { gclip: 2 }, { eps: 1e-3, gclip: 1.5 }],
  Adam: [{}, { lr: 0.01, beta1: 0.5, beta2: 0.9, eps: 1e-4 }, { gclip: 2 }, {
    lr: 0.05,
    gclip: 1.5,
  }],
};

// ---------------------------------------------------------------------------------------
// Hand-computed updates

Deno.test("optim: the reference agrees with numbers worked out by hand", () => {
  // SGD: w − 0.1·g1.
  assertClose(reference("SGD", {}, 1).w, [0.95, -1.875, 0.3], F64_TOL, "SGD step 1");
  // Momentum, two steps: v1 = −0.05·g1, w1 = w0 + v1; v2 = 0.95·v1 − 0.05·g2.
  const v1 = [-0.025, 0.0625, -0.1];
  const v2 = [0.95 * -0.025 + 0.0375, 0.95 * 0.0625 - 0.0125, 0.95 * -0.1 - 0.075];
  assertClose(
    reference("Momentum", {}, 2).w,
    [1 + v1[0] + v2[0], -2 + v1[1] + v2[1], 0.5 + v1[2] + v2[2]],
    F64_TOL,
    "Momentum step 2",
  );
  // Adam's first step is w − lr·g/(|g| + eps): m̂ = g and v̂ = g².
  const eps = 1e-8;
  assertClose(
    reference("Adam", {}, 1).w,
    [1 - 0.001 * 0.5 / (0.5 + eps), -2 + 0.001 * 1.25 / (1.25 + eps), 0.5 - 0.001 * 2 / (2 + eps)],
    F64_TOL,
    "Adam step 1",
  );
  // Nesterov step 1 (v0 = 0): v1 = −0.05·g1 and w1 = w0 + 1.95·v1 = w0 − 0.0975·g1.
  assertClose(reference("Nesterov", {}, 1).w, [0.95125, -1.878125, 0.305], F64_TOL, "Nesterov 1");
  // Adagrad step 1: G = g1², w0 − 0.05·g1/√(g1² + 1e-6).
  const sq = Math.sqrt;
  assertClose(
    reference("Adagrad", {}, 1).w,
    [1 - 0.025 / sq(0.25 + 1e-6), -2 + 0.0625 / sq(1.5625 + 1e-6), 0.5 - 0.1 / sq(4 + 1e-6)],
    F64_TOL,
    "Adagrad step 1",
  );
  // Rmsprop step 1: G = 0.1·g1², w0 − 0.01·g1/√(G + 1e-6).
  assertClose(
    reference("Rmsprop", {}, 1).w,
    [1 - 0.005 / sq(0.025 + 1e-6), -2 + 0.0125 / sq(0.15625 + 1e-6), 0.5 - 0.02 / sq(0.4 + 1e-6)],
    F64_TOL,
    "Rmsprop step 1",
  );
  // Adadelta step 1 (delta0 = 0): G = 0.1·g1², u = g1·√1e-6/√(G + 1e-6), w0 − 1·u.
  assertClose(
    reference("Adadelta", {}, 1).w,
    [
      1 - 0.5e-3 / sq(0.025 + 1e-6),
      -2 + 1.25e-3 / sq(0.15625 + 1e-6),
      0.5 - 2e-3 / sq(0.4 + 1e-6),
    ],
    F64_TOL,
    "Adadelta step 1",
  );
  // gclip 2 scales g1 to norm 2: SGD step 1 is w − 0.1·2·g1/‖g1‖.
  const n1 = Math.sqrt(0.25 + 1.5625 + 4);
  assertClose(
    reference("SGD", { gclip: 2 }, 1).w,
    [1 - 0.2 * 0.5 / n1, -2 + 0.2 * 1.25 / n1, 0.5 - 0.2 * 2 / n1],
    F64_TOL,
    "SGD gclip step 1",
  );
});

Deno.test("optim: CPU f64 (and f32) updates == Knet's formulas, with and without gclip", async () => {
  for (const name of NAMES) {
    for (const opts of SETTINGS[name]) {
      const what = `${name} ${JSON.stringify(opts)}`;
      const o64 = make(name, opts);
      checkAgainstReference(name, opts, await runTiny(o64, "cpu", "f64"), F64_TOL, `${what} f64`);
      if (name === "Adam") assert.equal((o64 as Adam).t, 3, `${what}: t counts the updates`);
      checkAgainstReference(
        name,
        opts,
        await runTiny(make(name, opts), "cpu", "f32"),
        F32_TOL,
        `${what} f32`,
      );
    }
  }
});

Deno.test({
  name: "optim: GPU updates == Knet's formulas within F32_TOL, with and without gclip",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    for (const name of NAMES) {
      for (const opts of SETTINGS[name]) {
        const what = `${name} ${JSON.stringify(opts)} gpu`;
        const opt = make(name, opts);
        checkAgainstReference(name, opts, await runTiny(opt, "gpu", "f32"), F32_TOL, what);
        for (const t of Object.values(opt.stateTensors())) assert.equal(t.device, "gpu", what);
        opt.dispose();
      }
    }
  },
});

Deno.test("optim: Knet's defaults, state field names and config keys", () => {
  for (const name of NAMES) {
    const opt = make(name);
    assert.equal(opt.name, name);
    const want: Record<string, number> = { ...KNET_DEFAULTS[name] } as Record<string, number>;
    if (name === "Adam") want.t = 0;
    assert.deepEqual(
      Object.fromEntries(Object.entries(opt.config()).sort()),
      Object.fromEntries(Object.entries(want).sort()),
      `${name} config`,
    );
    assert.deepEqual(opt.stateTensors(), {}, `${name}: no state before the first update`);
    for (const f of FIELDS[name]) {
      assert.equal((opt as unknown as Record<string, unknown>)[f], null, `${name}.${f} null`);
    }
    const w = zeros([2, 2], { device: "cpu", dtype: "f64" });
    opt.update(w, fromArray([[1, 2], [3, 4]], { dtype: "f64", device: "cpu" }));
    for (const f of FIELDS[name]) {
      const t = (opt as unknown as Record<string, Tensor>)[f];
      assert.equal(t, opt.stateTensors()[f], `${name}.${f} is the state tensor`);
      assert.deepEqual([t.shape, t.dtype, t.device], [[2, 2], "f64", "cpu"], `${name}.${f}`);
    }
  }
});

// ---------------------------------------------------------------------------------------
// gclip standalone

Deno.test({
  name: "optim: gclip(g, limit) returns a new clipped tensor, g unchanged; no sync on the GPU",
  ...GPU_TEST,
  async fn() {
    const g = [3, -4, 0, 12]; // ‖g‖ = 13
    const cases: [number, number[]][] = [
      [6.5, g.map((x) => x * (6.5 / 13))],
      [13, g],
      [100, g],
      [0, g],
    ];
    for (const device of gpu ? ["cpu", "gpu"] as const : ["cpu"] as const) {
      for (const dtype of device === "gpu" ? ["f32"] as const : ["f32", "f64"] as const) {
        const gt = fromArray(g, { device, dtype, shape: [2, 2] });
        for (const [limit, want] of cases) {
          const before = counters();
          const c = gclip(gt, limit);
          const after = counters();
          const what = `gclip ${device} ${dtype} limit ${limit}`;
          assert.notEqual(c, gt, `${what}: a new tensor`);
          assert.deepEqual([c.shape, c.dtype, c.device], [[2, 2], dtype, device], what);
          if (device === "gpu") {
            assert.equal(after.hostSyncs - before.hostSyncs, 0, `${what}: no host sync`);
            assert.equal(
              after.dispatches - before.dispatches,
              limit > 0 ? 2 : 1,
              `${what}: nrm2 + clip`,
            );
          }
          const [cv, gv] = await readAll([c, gt]);
          assertClose(cv, want, dtype === "f64" ? F64_TOL : F32_TOL, what);
          assertExact(gv, g, `${what}: g unchanged`);
          c.dispose();
        }
        gt.dispose();
      }
    }
    assert.throws(() => gclip(fromArray([1, 2]), -1), /gclip: limit must be a finite number/);
    assert.throws(() => gclip(fromArray([1, 2]), NaN), /gclip: limit must be a finite number/);
  },
});

// ---------------------------------------------------------------------------------------
// Convergence on a quadratic with diff + update

const QN = 10;
const QA = Array.from({ length: QN }, (_, i) => 1 + 9 * i / (QN - 1)); // a_i in [1, 10]
const QC = Array.from({ length: QN }, (_, i) => 2 * Math.sin(i + 1));

/** Learning rates (and the like) for f(w) = ½Σ a_i (w_i − c_i)², 300 steps from w = 0. */
const QUADRATIC: Record<Name, OptimizerOptions> = {
  SGD: {}, // lr 0.1 < 2/max a
  Momentum: { gamma: 0.9 },
  Nesterov: {},
  Adagrad: { lr: 0.5 },
  Rmsprop: {},
  Adadelta: { rho: 0.95, eps: 1e-3 },
  Adam: { lr: 0.05 },
};

async function quadratic(name: Name, device: DeviceName, dtype: DType): Promise<number> {
  const a = fromArray(QA, { device, dtype });
  const c = fromArray(QC, { device, dtype });
  const p = new Param(zeros([QN], { device, dtype }));
  p.opt = make(name, QUADRATIC[name]);
  for (let step = 0; step < 300; step++) {
    const J = diff(() => mul(0.5, sum(mul(a, square(sub(p, c))))));
    update(p, J.grad(p));
    J.dispose();
  }
  const w = await p.data();
  for (const t of [a, c, p]) t.dispose();
  (p.opt as Optimizer).dispose();
  return Math.hypot(...Array.from(w, (x, i) => x - QC[i]));
}

Deno.test("optim: every optimizer minimizes a quadratic (CPU f64, diff + update, 300 steps)", async () => {
  for (const name of NAMES) {
    const err = await quadratic(name, "cpu", "f64");
    assert.ok(err < 1e-5, `${name}: ‖w − c‖ = ${err}`);
  }
});

Deno.test({
  name: "optim: every optimizer minimizes a quadratic on the GPU (f32, 300 steps)",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    for (const name of NAMES) {
      const err = await quadratic(name, "gpu", "f32");
      // f32: w and c are stored to 1.2e-7·|c| (|c| ≤ 2) per element, so ‖w − c‖ stalls
      // near 1e-6 (measured 1e-7 to 1e-6); 1e-5 leaves a margin of 10.
      assert.ok(err < 1e-5, `${name} gpu: ‖w − c‖ = ${err}`);
    }
  },
});

// ---------------------------------------------------------------------------------------
// GPU: no host syncs, exact dispatch counts

Deno.test({
  name: "optim: 50 GPU updates of an Adam Param with gclip: 0 host syncs, 2 dispatches each",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const n = 1000;
    const w0 = Array.from({ length: n }, (_, i) => Math.fround(Math.cos(i)));
    const g0 = Array.from({ length: n }, (_, i) => Math.fround(Math.sin(3 * i) + 0.25));
    const opts = { lr: 0.01, gclip: 1 }; // ‖g‖ ≈ 23: clipped every step
    const p = new Param(fromArray(w0, { device: "gpu" }));
    const g = fromArray(g0, { device: "gpu" });
    p.opt = new Adam(opts);
    const opt = p.opt;
    const before = counters();
    for (let k = 0; k < 50; k++) {
      const d0 = counters().dispatches;
      update(p, g);
      assert.equal(counters().dispatches - d0, 2, `update ${k}: nrm2 + the fused update`);
    }
    const after = counters();
    assert.equal(after.hostSyncs - before.hostSyncs, 0, "no host sync in 50 updates");
    assert.equal(after.dispatches - before.dispatches, 100);
    assert.equal(p.opt, opt, "Param.opt reused");
    assert.equal((opt as Adam).t, 50);
    // The CPU f32 twin from the same start is the reference.
    const pc = new Param(fromArray(w0, { device: "cpu" }));
    const gc = fromArray(g0, { device: "cpu" });
    pc.opt = new Adam(opts);
    for (let k = 0; k < 50; k++) update(pc, gc);
    const [wg, m, v] = await readAll([p, (opt as Adam).fstm!, (opt as Adam).scndm!]);
    const co = pc.opt as Adam;
    assertClose(wg, pc.dataSync(), F32_TOL, "w after 50 Adam steps");
    assertClose(m, co.fstm!.dataSync(), F32_TOL, "fstm");
    assertClose(v, co.scndm!.dataSync(), F32_TOL, "scndm");
    // Without clipping every rule is exactly one dispatch.
    for (const name of NAMES) {
      const o = make(name);
      o.update(p, g); // state creation: uploads, no dispatch
      const d0 = counters();
      for (let k = 0; k < 5; k++) o.update(p, g);
      const d1 = counters();
      assert.equal(d1.dispatches - d0.dispatches, 5, `${name}: one dispatch per update`);
      assert.equal(d1.hostSyncs - d0.hostSyncs, 0, `${name}: no host sync`);
      o.dispose();
    }
    (opt as Adam).dispose();
    p.dispose();
    g.dispose();
  },
});

Deno.test({
  name: "optim: GPU with gclip above 32768 elements: 3 dispatches (two-pass nrm2), == CPU",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const n = 40_000;
    const w0 = Array.from({ length: n }, (_, i) => Math.fround(Math.cos(i)));
    const g0 = Array.from({ length: n }, (_, i) => Math.fround(Math.sin(3 * i)));
    for (const name of ["Nesterov", "Adadelta"] as const) {
      const opts = { gclip: 10 }; // ‖g‖ ≈ 141
      const wg = fromArray(w0, { device: "gpu" });
      const gg = fromArray(g0, { device: "gpu" });
      const wc = fromArray(w0, { device: "cpu" });
      const gc = fromArray(g0, { device: "cpu" });
      const og = make(name, opts);
      const oc = make(name, opts);
      const before = counters();
      for (let k = 0; k < 3; k++) og.update(wg, gg);
      const after = counters();
      assert.equal(after.dispatches - before.dispatches, 9, `${name}: 3 dispatches per update`);
      assert.equal(after.hostSyncs - before.hostSyncs, 0, `${name}: no host sync`);
      for (let k = 0; k < 3; k++) oc.update(wc, gc);
      const [w] = await readAll([wg]);
      assertClose(w, wc.dataSync(), F32_TOL, `${name} n=${n}`);
      og.dispose();
      wg.dispose();
      gg.dispose();
    }
  },
});

Deno.test({
  name: "optim: an empty parameter is a no-op on the CPU and the GPU",
  ...GPU_TEST,
  fn() {
    for (const device of gpu ? ["cpu", "gpu"] as const : ["cpu"] as const) {
      for (const name of NAMES) {
        const opt = make(name, { gclip: 1 });
        const w = zeros([0, 3], { device });
        const d0 = counters().dispatches;
        opt.update(w, zeros([0, 3], { device }));
        assert.equal(counters().dispatches - d0, 0, `${name} ${device}: nothing dispatched`);
        assert.equal(Object.keys(opt.stateTensors()).length, FIELDS[name].length);
        opt.dispose();
      }
    }
  },
});

Deno.test({
  name: "optim: state created inside tidy survives it (GPU)",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const w = fromArray(W0, { device: "gpu" });
    const opt = new Momentum();
    for (const g of GS) {
      tidy(() => opt.update(w, fromArray(g, { device: "gpu" })));
      assert.equal(opt.velocity!.disposed, false);
    }
    const ref = reference("Momentum", {});
    const [wv, vv] = await readAll([w, opt.velocity!]);
    assertClose(wv, ref.w, F32_TOL, "w");
    assertClose(vv, ref.s1, F32_TOL, "velocity");
    opt.dispose();
    assert.deepEqual(opt.stateTensors(), {});
    w.dispose();
  },
});

// ---------------------------------------------------------------------------------------
// update's forms and Param.opt

Deno.test("optim: update(p, g) attaches SGD to p.opt and reuses p.opt (state persists)", () => {
  const dev = { device: "cpu", dtype: "f64" } as const;
  const p = new Param(fromArray(W0, dev));
  assert.equal(p.opt, undefined);
  update(p, fromArray(GS[0], dev));
  assert.ok((p.opt as unknown as object) instanceof SGD, "a fresh SGD is attached");
  const sgd = p.opt;
  update(p, fromArray(GS[1], dev));
  assert.equal(p.opt, sgd, "and reused");
  assertClose(p.dataSync(), reference("SGD", {}, 2).w, F64_TOL, "two SGD steps");

  const q = new Param(fromArray(W0, dev));
  const mom = new Nesterov({ gamma: 0.8 });
  q.opt = mom;
  for (const g of GS) update(q, fromArray(g, dev));
  assert.equal(q.opt, mom);
  const ref = reference("Nesterov", { gamma: 0.8 });
  assertClose(q.dataSync(), ref.w, F64_TOL, "Nesterov via p.opt");
  assertClose(mom.velocity!.dataSync(), ref.s1, F64_TOL, "velocity persisted");

  // A null gradient is a no-op; update(w, g, opt) uses opt, not p.opt.
  update(q, null);
  assertClose(q.dataSync(), ref.w, F64_TOL, "null gradient");
  const other = new SGD({ lr: 1 });
  update(q, fromArray([1, 1, 1], dev), other);
  assertClose(q.dataSync(), ref.w.map((x) => x - 1), F64_TOL, "explicit optimizer");
  assert.equal(q.opt, mom);
});

Deno.test("optim: update(ws, gs, opts) with an array of optimizers or one cloned per w", () => {
  const dev = { device: "cpu", dtype: "f64" } as const;
  // An array of optimizers: element i by opts[i].
  const w1 = fromArray(W0, dev);
  const w2 = fromArray(W0, dev);
  const o1 = new Adagrad();
  const o2 = new Rmsprop();
  for (const g of GS) update([w1, w2], [fromArray(g, dev), fromArray(g, dev)], [o1, o2]);
  assertClose(w1.dataSync(), reference("Adagrad", {}).w, F64_TOL, "w1 by Adagrad");
  assertClose(w2.dataSync(), reference("Rmsprop", {}).w, F64_TOL, "w2 by Rmsprop");

  // One template: each w gets its own clone, kept across calls; the template stays empty.
  const template = new Adam({ lr: 0.01 });
  const p = new Param(fromArray(W0, dev));
  const v = fromArray(W0, dev);
  const u = fromArray(W0, dev);
  for (const g of GS) {
    update([p, v, u], [fromArray(g, dev), fromArray(g, dev), null], template);
  }
  const ref = reference("Adam", { lr: 0.01 });
  assertClose(p.dataSync(), ref.w, F64_TOL, "Param by its clone");
  assertClose(v.dataSync(), ref.w, F64_TOL, "tensor by its clone");
  assertExact(u.dataSync(), W0, "null gradient: untouched");
  assert.ok(
    (p.opt as unknown as object) instanceof Adam && p.opt !== template,
    "the Param's clone is attached",
  );
  assert.equal((p.opt as Adam).t, 3);
  assert.equal(template.t, 0);
  assert.deepEqual(template.stateTensors(), {});

  // No optimizer: every w must be a Param (its opt is used).
  const q = new Param(fromArray(W0, dev));
  q.opt = new Momentum();
  update([q], [fromArray(GS[0], dev)]);
  assertClose(q.dataSync(), reference("Momentum", {}, 1).w, F64_TOL, "Param.opt in an array");

  // A bad entry fails before any parameter changes.
  const a = fromArray(W0, dev);
  const sgd = new SGD();
  assert.throws(
    () => update([a, fromArray([1, 2], dev)], [fromArray(GS[0], dev), fromArray(GS[0], dev)], sgd),
    /update: parameter 1: gradient .* does not match/,
  );
  assertExact(a.dataSync(), W0, "parameter 0 unchanged after the error");
  assert.throws(() => update([a], [fromArray(GS[0], dev)]), /parameter 0: .*not a Param/);
  assert.throws(() => update([a, a], [null]), /2 parameters but 1 gradients/);
  assert.throws(() => update([a], [null], [sgd, sgd]), /1 parameters but 2 optimizers/);
});

// ---------------------------------------------------------------------------------------
// config / stateTensors / loadState

async function roundTrip(name: Name, device: DeviceName, dtype: DType): Promise<void> {
  const opts = SETTINGS[name][SETTINGS[name].length - 1];
  const what = `${name} ${device} ${dtype}`;
  const a = make(name, opts);
  const wa = fromArray(W0, { device, dtype });
  a.update(wa, fromArray(GS[0], { device, dtype }));
  a.update(wa, fromArray(GS[1], { device, dtype }));
  // B restores A's checkpoint: config, state tensors, and w.
  const b = optimizerFromConfig(name, a.config());
  assert.equal(b.name, name, what);
  const saved = a.stateTensors();
  b.loadState(a.config(), saved, wa);
  assert.deepEqual(b.config(), a.config(), `${what}: config`);
  for (const [k, t] of Object.entries(b.stateTensors())) {
    assert.notEqual(t, saved[k], `${what}: ${k} copied, not shared`);
  }
  const [wv] = await readAll([wa]);
  const wb = fromArray(wv, { device, dtype });
  const g3 = fromArray(GS[2], { device, dtype });
  a.update(wa, g3);
  b.update(wb, g3);
  const stateA = Object.values(a.stateTensors());
  const stateB = Object.values(b.stateTensors());
  const got = await readAll([wa, wb, ...stateA, ...stateB]);
  assertExact(got[1], got[0], `${what}: w after the next update`);
  stateA.forEach((_, i) =>
    assertExact(got[2 + stateA.length + i], got[2 + i], `${what}: state ${i}`)
  );
  assertClose(got[0], reference(name, opts).w, dtype === "f64" ? F64_TOL : F32_TOL, what);
  a.dispose();
  b.dispose();
}

Deno.test({
  name: "optim: config / stateTensors / loadState round trip reproduces the next update",
  ...GPU_TEST,
  async fn() {
    for (const name of NAMES) {
      await roundTrip(name, "cpu", "f64");
      await roundTrip(name, "cpu", "f32");
      if (gpu) await roundTrip(name, "gpu", "f32");
    }
  },
});

Deno.test({
  name: "optim: loadState copies CPU state onto a GPU parameter",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const a = new Adadelta({ eps: 1e-3 });
    const wc = fromArray(W0, { device: "cpu", dtype: "f64" });
    a.update(wc, fromArray(GS[0], { device: "cpu", dtype: "f64" }));
    const b = new Adadelta();
    const wg = fromArray(W0, { device: "gpu" });
    b.loadState(a.config(), a.stateTensors(), wg);
    assert.equal(b.eps, 1e-3);
    assert.equal(b.G!.device, "gpu");
    const [G, delta] = await readAll([b.G!, b.delta!]);
    assertClose(G, a.G!.dataSync(), F32_TOL, "G");
    assertClose(delta, a.delta!.dataSync(), F32_TOL, "delta");
    // GPU state cannot go to a CPU parameter synchronously.
    assert.throws(
      () => a.loadState(b.config(), b.stateTensors(), wc),
      /Adadelta.loadState: state 'G' is on the gpu and the parameter on the cpu/,
    );
    a.dispose();
    b.dispose();
    wg.dispose();
  },
});

Deno.test("optim: loadState rejects bad input with a clear Error and changes nothing", () => {
  const dev = { device: "cpu", dtype: "f64" } as const;
  const opt = new Adam({ lr: 0.01 });
  const w = fromArray(W0, dev);
  opt.update(w, fromArray(GS[0], dev));
  const config = opt.config();
  const { fstm, scndm } = opt.stateTensors();
  const fstmBefore = fstm.dataSync();
  const bad = fromArray([1, 2, 3, 4], { ...dev, shape: [2, 2] });
  const cases: [() => void, RegExp][] = [
    [
      () => opt.loadState({ ...config, lr: 0.5 }, { fstm: bad, scndm }, w),
      /Adam.loadState: state 'fstm' has shape \[2,2\], the parameter \[3\]/,
    ],
    [
      () => opt.loadState({ ...config, lr: 0.5 }, { fstm }, w),
      /Adam.loadState: state tensors \[fstm\] do not match \[fstm, scndm\]/,
    ],
    [
      () => opt.loadState({ lr: 0.5 }, { fstm, scndm }, w),
      /Adam.loadState: config keys \[lr\] do not match .*missing beta1/,
    ],
    [
      () => opt.loadState({ ...config, lr: -1 }, { fstm, scndm }, w),
      /Adam.loadState: lr must be a finite number > 0, got -1/,
    ],
    [
      () => opt.loadState({ ...config, t: 0 }, { fstm, scndm }, w),
      /Adam.loadState: t = 0 but state tensors are given/,
    ],
    [
      () => opt.loadState({ ...config, t: 2.5 }, { fstm, scndm }, w),
      /Adam.loadState: t must be a non-negative integer, got 2.5/,
    ],
    [
      () => opt.loadState({ ...config, t: 4 }, {}, w),
      /Adam.loadState: t = 4 but the state tensors are missing/,
    ],
  ];
  for (const [f, msg] of cases) {
    assert.throws(f, msg);
    assert.deepEqual(opt.config(), config, "config unchanged");
    assert.equal(opt.stateTensors().fstm, fstm, "state tensors unchanged");
    assertExact(opt.stateTensors().fstm.dataSync(), fstmBefore, "state values unchanged");
  }
  // And the optimizer still continues exactly as the reference.
  opt.update(w, fromArray(GS[1], dev));
  opt.update(w, fromArray(GS[2], dev));
  assertClose(w.dataSync(), reference("Adam", { lr: 0.01 }).w, F64_TOL, "after the errors");
  // An SGD loads a config without tensors.
  const s = new SGD();
  s.loadState({ lr: 0.5, gclip: 1 }, {}, w);
  assert.deepEqual(s.config(), { lr: 0.5, gclip: 1 });
});

// ---------------------------------------------------------------------------------------
// Errors

Deno.test("optim: bad options, bad configs and bad updates throw clear Errors", () => {
  const bad: [() => unknown, RegExp][] = [
    [() => new SGD({ lr: 0 }), /SGD: lr must be a finite number > 0, got 0/],
    [() => new Adam({ lr: NaN }), /Adam: lr must be a finite number > 0, got NaN/],
    [() => new SGD({ lr: Infinity }), /SGD: lr must be a finite number > 0/],
    [() => new SGD({ gclip: -1 }), /SGD: gclip must be a finite number ≥ 0/],
    [() => new Momentum({ gamma: 1.5 }), /Momentum: gamma must be a finite number in \[0, 1\]/],
    [() => new Nesterov({ gamma: -0.1 }), /Nesterov: gamma must be a finite number in \[0, 1\]/],
    [() => new Adagrad({ eps: 0 }), /Adagrad: eps must be a finite number > 0/],
    [() => new Rmsprop({ rho: 2 }), /Rmsprop: rho must be a finite number in \[0, 1\]/],
    [() => new Adadelta({ eps: -1 }), /Adadelta: eps must be a finite number > 0/],
    [() => new Adam({ beta1: 1 }), /Adam: beta1 must be a finite number in \[0, 1\)/],
    [() => new Adam({ beta2: -0.5 }), /Adam: beta2 must be a finite number in \[0, 1\)/],
    [() => new SGD({ gamma: 0.9 } as OptimizerOptions), /SGD: unknown option 'gamma'/],
    [() => new Adam({ lr: "0.1" as unknown as number }), /Adam: lr must be a finite number/],
    [() => optimizerFromConfig("Adamax", { lr: 0.1 }), /unknown optimizer 'Adamax'/],
    [
      () => optimizerFromConfig("Adam", { lr: 0.1, gclip: 0 }),
      /optimizerFromConfig: Adam config keys \[lr, gclip\] do not match/,
    ],
    [
      () => optimizerFromConfig("Adam", { ...new Adam().config(), t: -1 }),
      /t must be a non-negative integer/,
    ],
  ];
  for (const [f, msg] of bad) assert.throws(f, msg);

  const fromCfg = optimizerFromConfig("Momentum", { lr: 0.2, gamma: 0.5, gclip: 1 });
  assert.ok(fromCfg instanceof Momentum);
  assert.deepEqual(fromCfg.config(), { lr: 0.2, gamma: 0.5, gclip: 1 });

  const dev = { device: "cpu", dtype: "f64" } as const;
  const w = fromArray(W0, dev);
  const opt = new Momentum();
  assert.throws(
    () => opt.update(w, fromArray([1, 2], dev)),
    /Momentum.update: gradient f64\[2\] cpu does not match w f64\[3\] cpu/,
  );
  assert.throws(
    () => opt.update(w, fromArray(GS[0], { device: "cpu", dtype: "f32" })),
    /Momentum.update: inputs have different dtypes/,
  );
  opt.update(w, fromArray(GS[0], dev));
  assert.throws(
    () => opt.update(fromArray([1, 2], dev), fromArray([1, 2], dev)),
    /Momentum.update: the state \(f64\[3\] cpu\) does not match w f64\[2\] cpu; .*clone\(\)/,
  );
  opt.lr = -0.1; // a schedule gone wrong is caught at the next update
  assert.throws(() => opt.update(w, fromArray(GS[1], dev)), /Momentum.update: lr must be/);
  assert.throws(() => update(w, fromArray(GS[0], dev)), /update: .* is not a Param/);
  const p = new Param(fromArray(W0, dev));
  p.opt = "adam";
  assert.throws(() => update(p, fromArray(GS[0], dev)), /update: .*opt is not an Optimizer/);
  // In-place updates of a Param inside diff are refused.
  const q = new Param(fromArray(W0, dev));
  assert.throws(
    () =>
      diff(() => {
        new SGD().update(q, fromArray(GS[0], dev));
        return sum(q);
      }),
    /optim_update: in-place update of a tensor that diff is recording/,
  );
  // clone: same hyperparameters, fresh state.
  const adam = new Adam({ lr: 0.02, beta1: 0.8 });
  adam.update(w, fromArray(GS[0], dev));
  const c = adam.clone();
  assert.deepEqual(c.config(), { ...adam.config(), t: 0 });
  assert.deepEqual(c.stateTensors(), {});
});
