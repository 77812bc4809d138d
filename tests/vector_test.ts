/**
 * Solver vector ops (src/ops/vector.ts, kernels/vector.wgsl; dot/nrm2 from reduce.ts):
 * axpy, axpby, scal, fill, copyInto in place, dot and nrm2, on the CPU (f32, f64) against
 * values computed here in f64, and the GPU against the CPU, with the coefficient given as a
 * number and as a 1-element tensor on the same device.
 *
 * Tolerances: the elementwise ops are one or two f32 roundings per element (an fma may
 * fuse them), so F32_TOL holds; f64 CPU results are exact up to one f64 rounding (1e-15).
 * dot is a sum: its error is relative to Σ|xᵢyᵢ| (see reduce_test.ts), nrm2 to its value.
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import { assertClose, EDGE_SIZES, F32_TOL, GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

const F64_TOL = { rtol: 1e-15, atol: 0 };

function values(n: number, rng: dn.Rng): number[] {
  return Array.from({ length: n }, () => rng.normal());
}

/** Expected results of the in-place ops, computed in f64 from the (dtype-rounded) inputs. */
function expected(
  op: string,
  a: number,
  b: number,
  x: ArrayLike<number>,
  y: ArrayLike<number>,
): number[] {
  return Array.from(y, (yi, i) => {
    switch (op) {
      case "axpy":
        return a * x[i] + yi;
      case "axpby":
        return a * x[i] + b * yi;
      case "scal":
        return a * yi;
      case "fill":
        return a;
      default: // copy
        return x[i];
    }
  });
}

const OPS = ["axpy", "axpby", "scal", "fill", "copy"] as const;
type Op = typeof OPS[number];

/** Runs `op` in place on y and checks it returns y. `coef` is a number or a 1-element tensor. */
function runInPlace(op: Op, coef: number | dn.Tensor, b: number, x: dn.Tensor, y: dn.Tensor): void {
  let r: dn.Tensor;
  switch (op) {
    case "axpy":
      r = dn.axpy(coef, x, y);
      break;
    case "axpby":
      r = dn.axpby(coef, x, b, y);
      break;
    case "scal":
      r = dn.scal(coef, y);
      break;
    case "fill":
      r = dn.fill(y, coef);
      break;
    default:
      r = dn.copyInto(x, y);
  }
  assert.equal(r, y, `${op} returns its destination`);
}

/** A 1-element coefficient tensor of the shapes solvers produce ([] from dot, [1]). */
const coefShapes: number[][] = [[], [1]];

Deno.test("vector: CPU f32 and f64 in-place ops == f64 formulas, number and tensor coefficients", () => {
  const rng = new dn.Rng(1);
  for (const dtype of ["f32", "f64"] as const) {
    const tol = dtype === "f64" ? F64_TOL : F32_TOL;
    const round = (v: number[]) => (dtype === "f32" ? Array.from(Float32Array.from(v)) : v);
    for (const n of EDGE_SIZES) {
      for (const op of OPS) {
        for (const coefKind of ["number", "tensor"] as const) {
          const xv = round(values(n, rng));
          const yv = round(values(n, rng));
          const [a, b] = round([rng.normal(), rng.normal()]);
          const x = dn.fromArray(xv, { device: "cpu", dtype, shape: [n] });
          const y = dn.fromArray(yv, { device: "cpu", dtype, shape: [n] });
          const coef = coefKind === "number"
            ? a
            : dn.fromArray([a], { device: "cpu", dtype, shape: coefShapes[n % 2] });
          runInPlace(op, coef, b, x, y);
          const what = `cpu ${dtype} ${op} n=${n} coef=${coefKind}`;
          assert.equal(y.dtype, dtype, what);
          assertClose(y.dataSync(), expected(op, a, b, xv, yv), tol, what);
          assertClose(x.dataSync(), xv, { rtol: 0, atol: 0 }, `${what}: x unchanged`);
        }
      }
    }
  }
});

Deno.test({
  name: "vector: GPU in-place ops == CPU, number and device-tensor coefficients",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rng = new dn.Rng(2);
    for (const n of EDGE_SIZES) {
      const results: dn.Tensor[] = [];
      const checks: { what: string; want: number[] }[] = [];
      const inputs: dn.Tensor[] = [];
      for (const op of OPS) {
        for (const coefKind of ["number", "tensor"] as const) {
          const xv = Array.from(Float32Array.from(values(n, rng)));
          const yv = Array.from(Float32Array.from(values(n, rng)));
          const [a, b] = Array.from(Float32Array.from([rng.normal(), rng.normal()]));
          // The CPU twin on f32 tensors is the reference the GPU must match.
          const xc = dn.fromArray(xv, { device: "cpu", shape: [n] });
          const yc = dn.fromArray(yv, { device: "cpu", shape: [n] });
          runInPlace(
            op,
            coefKind === "number" ? a : dn.fromArray([a], { device: "cpu" }),
            b,
            xc,
            yc,
          );
          const x = dn.fromArray(xv, { device: "gpu", shape: [n] });
          const y = dn.fromArray(yv, { device: "gpu", shape: [n] });
          const coef = coefKind === "number"
            ? a
            : dn.fromArray([a], { device: "gpu", shape: coefShapes[n % 2] });
          runInPlace(op, coef, b, x, y);
          results.push(y, x);
          inputs.push(...(typeof coef === "number" ? [] : [coef]));
          const what = `gpu ${op} n=${n} coef=${coefKind}`;
          checks.push({ what, want: Array.from(yc.dataSync()) }, {
            what: `${what}: x unchanged`,
            want: xv,
          });
          assertClose(yc.dataSync(), expected(op, a, b, xv, yv), F32_TOL, `cpu twin ${what}`);
        }
      }
      // One readback for every op at this size.
      const got = await dn.readAll(results);
      checks.forEach((c, i) => assertClose(got[i], c.want, F32_TOL, c.what));
      for (const t of [...results, ...inputs]) t.dispose();
    }
  },
});

Deno.test({
  name: "vector: a GPU-computed coefficient α = (x·y)/‖x‖² feeds axpy/scal/axpby without a sync",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rng = new dn.Rng(3);
    const n = 1000;
    const xv = Float32Array.from(values(n, rng));
    const yv = Float32Array.from(values(n, rng));
    const x = dn.fromArray(xv, { device: "gpu" });
    const y = dn.fromArray(yv, { device: "gpu" });
    const syncs = dn.counters().hostSyncs;
    const d = dn.dot(x, y);
    const nn = dn.nrm2(x);
    const alpha = dn.div(d, dn.mul(nn, nn));
    dn.axpy(alpha, x, y);
    dn.scal(alpha, x); // x ← α·x
    dn.axpby(-1, x, 2, y); // y ← 2y − αx
    assert.equal(dn.counters().hostSyncs, syncs, "no host sync before the readback");
    const [got, gx, ga] = await dn.readAll([y, x, alpha]);
    assert.equal(dn.counters().hostSyncs, syncs + 1);
    let xy = 0, axy = 0, xx = 0;
    for (let i = 0; i < n; i++) {
      xy += xv[i] * yv[i];
      axy += Math.abs(xv[i] * yv[i]);
      xx += xv[i] * xv[i];
    }
    const a = xy / xx;
    // α = dot/nrm2²: dot within F32_TOL.rtol·Σ|xᵢyᵢ| (a sum), nrm2² within 2·rtol relative,
    // plus the f32 roundings of ·, ÷ (F32_TOL again): first-order propagation.
    const aTol = (F32_TOL.atol + F32_TOL.rtol * axy) / xx + Math.abs(a) * 3 * F32_TOL.rtol;
    assertClose(ga, [a], { rtol: 0, atol: aTol }, "α = (x·y)/‖x‖²");
    // With the GPU's α, the rest is elementwise: y = 2(y + αx) − αx = 2y + αx, x = αx.
    const ag = ga[0];
    assertClose(gx, Array.from(xv, (v) => ag * v), F32_TOL, "scal by a device α");
    assertClose(
      got,
      Array.from(yv, (v, i) => 2 * v + ag * xv[i]),
      F32_TOL,
      "axpy/axpby with a device α",
    );
  },
});

Deno.test("vector: dot and nrm2 on the CPU (f32, f64) and the GPU", async () => {
  const rng = new dn.Rng(4);
  for (const n of EDGE_SIZES) {
    const xv = Float32Array.from(values(n, rng));
    const yv = Float32Array.from(values(n, rng));
    let d = 0, ad = 0, s = 0;
    for (let i = 0; i < n; i++) {
      d += xv[i] * yv[i];
      ad += Math.abs(xv[i] * yv[i]);
      s += xv[i] * xv[i];
    }
    const dotTol = { rtol: 0, atol: F32_TOL.atol + F32_TOL.rtol * ad };
    const devices = gpu ? ["cpu", "gpu"] as const : ["cpu"] as const;
    for (const device of devices) {
      const x = dn.fromArray(xv, { device });
      // y as a 2-D tensor of the same size: dot works on flat contents.
      const y = dn.fromArray(yv, { device, shape: [1, n] });
      const [dv, nv] = await dn.readAll([dn.dot(x, y), dn.nrm2(x)]);
      assertClose(dv, [d], dotTol, `${device} dot n=${n}`);
      assertClose(nv, [Math.sqrt(s)], F32_TOL, `${device} nrm2 n=${n}`);
    }
    const x64 = dn.fromArray(Float64Array.from(xv), { device: "cpu", dtype: "f64" });
    const y64 = dn.fromArray(Float64Array.from(yv), { device: "cpu", dtype: "f64" });
    assertClose(dn.dot(x64, y64).dataSync(), [d], { rtol: 0, atol: 1e-15 * ad }, `f64 dot n=${n}`);
    assertClose(
      dn.nrm2(x64).dataSync(),
      [Math.sqrt(s)],
      { rtol: 1e-15, atol: 0 },
      `f64 nrm2 n=${n}`,
    );
  }
});

Deno.test("vector: errors for length mismatch, bad coefficients, mixed devices; state unchanged", async () => {
  const devices = gpu ? ["cpu", "gpu"] as const : ["cpu"] as const;
  for (const device of devices) {
    const x = dn.fromArray([1, 2, 3], { device });
    const y = dn.fromArray([4, 5, 6, 7], { device });
    assert.throws(() => dn.axpy(2, x, y), /axpy: x \[3\] and y \[4\] differ in length/);
    assert.throws(() => dn.axpby(2, x, 1, y), /axpby: x \[3\] and y \[4\] differ in length/);
    assert.throws(() => dn.copyInto(x, y), /copy: src \[3\] and dst \[4\] differ in length/);
    assert.throws(() => dn.dot(x, y), /dot: vectors of different lengths \[3\] and \[4\]/);
    assert.throws(() => dn.axpy(2, y, y), /axpy: x and y must be different tensors/);
    const two = dn.fromArray([1, 2], { device });
    assert.throws(
      () => dn.scal(two, y),
      /scal: a device coefficient must have one element, got \[2\]/,
    );
    assert.throws(() => dn.fill(y, two), /fill: a device coefficient must have one element/);
    // Nothing was modified by the failed calls.
    assert.deepEqual(Array.from(await y.data()), [4, 5, 6, 7], `${device}: y unchanged`);
    assert.deepEqual(Array.from(await x.data()), [1, 2, 3], `${device}: x unchanged`);
  }
  const c32 = dn.fromArray([1, 2], { device: "cpu" });
  const c64 = dn.fromArray([1, 2], { device: "cpu", dtype: "f64" });
  assert.throws(() => dn.axpy(1, c32, c64), /axpy: inputs have different dtypes/);
  assert.throws(
    () => dn.scal(dn.fromArray([2], { device: "cpu" }), c64),
    /scal: inputs have different dtypes/,
  );
  if (gpu) {
    const g = dn.fromArray([1, 2], { device: "gpu" });
    assert.throws(() => dn.axpy(1, c32, g), /axpy: inputs are on different devices/);
    assert.throws(
      () => dn.scal(dn.fromArray([2], { device: "cpu" }), g),
      /scal: inputs are on different devices/,
    );
    assert.throws(() => dn.copyInto(c32, g), /copy: inputs are on different devices/);
    assert.deepEqual(Array.from(await g.data()), [1, 2]);
  }
});

Deno.test("vector: empty vectors are no-ops", async () => {
  const devices = gpu ? ["cpu", "gpu"] as const : ["cpu"] as const;
  for (const device of devices) {
    const x = dn.zeros([0], { device });
    const y = dn.zeros([0], { device });
    assert.equal(dn.axpy(2, x, y), y);
    assert.equal(dn.scal(3, y), y);
    assert.equal(dn.copyInto(x, y), y);
    const [d, n] = await dn.readAll([dn.dot(x, y), dn.nrm2(x)]);
    assert.deepEqual([d[0], n[0]], [0, 0], `${device}: dot/nrm2 of empty vectors`);
  }
});
