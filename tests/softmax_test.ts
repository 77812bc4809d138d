/**
 * softmax / logsoftmax / logsumexp (src/ops/softmax.ts, kernels/softmax.wgsl): the CPU twin
 * and the GPU against an independent f64 reference (written here over the
 * [outer, len, inner] view of any axis), numerical stability on large-magnitude inputs,
 * rows summing to 1, keepdims, and −∞ entries (masking).
 *
 * Tolerance: F32_TOL. The results are computed from x − max (exact or one rounding), one
 * exp (a few ulp), and a sum of positive terms whose error is relative to the sum itself
 * (≤ ~81u for the kernel's 256-thread blocked sum, u = 2⁻²⁴), well inside rtol = 1e-5 ≈ 168u.
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import { assertClose, EDGE_SIZES, F32_TOL, GPU_TEST, haveGpu, onGpuProfiles } from "./_helpers.ts";

const gpu = await haveGpu();

type Kind = "softmax" | "logsoftmax" | "logsumexp";
const KINDS: Kind[] = ["softmax", "logsoftmax", "logsumexp"];

/** f64 reference of `kind` along `axis` of row-major `shape` (logsumexp drops the axis). */
function reference(
  vals: ArrayLike<number>,
  shape: readonly number[],
  axis: number,
  kind: Kind,
): Float64Array {
  const len = shape[axis];
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = new Float64Array(kind === "logsumexp" ? outer * inner : vals.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (j: number) => (o * len + j) * inner + i;
      let m = -Infinity;
      for (let j = 0; j < len; j++) m = Math.max(m, vals[at(j)]);
      let s = 0;
      for (let j = 0; j < len; j++) s += Math.exp(vals[at(j)] - m);
      if (kind === "logsumexp") {
        out[o * inner + i] = m + Math.log(s);
        continue;
      }
      for (let j = 0; j < len; j++) {
        const d = vals[at(j)] - m;
        out[at(j)] = kind === "softmax" ? Math.exp(d) / s : d - Math.log(s);
      }
    }
  }
  return out;
}

function apply(kind: Kind, x: dn.Tensor, axis?: number): dn.Tensor {
  return dn[kind](x, axis);
}

function randnHost(n: number, rng: dn.Rng, scale: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * rng.normal();
  return out;
}

const cpuTensor = (v: Float32Array, shape: readonly number[]) =>
  dn.fromArray(v, { shape, device: "cpu" });

Deno.test("softmax: CPU == reference over the last axis (rows 1,7,33 × EDGE_SIZES)", () => {
  const rng = new dn.Rng(1);
  for (const rows of [1, 7, 33]) {
    for (const len of EDGE_SIZES) {
      const vals = randnHost(rows * len, rng, 3);
      const x = cpuTensor(vals, [rows, len]);
      for (const kind of KINDS) {
        const y = apply(kind, x);
        assert.deepEqual(y.shape, kind === "logsumexp" ? [rows] : [rows, len]);
        assertClose(
          y.dataSync(),
          reference(vals, [rows, len], 1, kind),
          F32_TOL,
          `cpu ${kind} ${rows}×${len}`,
        );
      }
    }
  }
});

Deno.test({
  name:
    "softmax: GPU == CPU == reference over the last axis (rows 1,7,33 × EDGE_SIZES), two-pass and online rows",
  ignore: !gpu,
  ...GPU_TEST,
  fn: () => onGpuProfiles(gridGpu),
});

async function gridGpu(): Promise<void> {
  {
    const rng = new dn.Rng(2);
    for (const rows of [1, 7, 33]) {
      for (const len of EDGE_SIZES) {
        const vals = randnHost(rows * len, rng, 3);
        const x = cpuTensor(vals, [rows, len]);
        const xg = x.gpu();
        const outs = KINDS.map((k) => apply(k, xg));
        const got = await dn.readAll(outs);
        KINDS.forEach((kind, i) => {
          const what = `gpu ${kind} ${rows}×${len}`;
          assert.deepEqual(outs[i].shape, kind === "logsumexp" ? [rows] : [rows, len], what);
          assertClose(got[i], apply(kind, x).dataSync(), F32_TOL, `${what} vs cpu`);
          assertClose(
            got[i],
            reference(vals, [rows, len], 1, kind),
            F32_TOL,
            `${what} vs reference`,
          );
        });
        for (const t of [xg, ...outs]) t.dispose();
      }
    }
  }
}

/** Axis cases: the axis is moved last (a permute) unless it already is. */
const AXIS_CASES: { shape: number[]; axis: number }[] = [
  { shape: [33, 7], axis: 0 },
  { shape: [4, 5, 6], axis: 0 },
  { shape: [4, 5, 6], axis: 1 },
  { shape: [4, 5, 6], axis: -2 },
  { shape: [4, 5, 6], axis: 2 },
  { shape: [2, 3, 257, 2], axis: 2 },
  { shape: [1000, 3], axis: -2 },
  { shape: [7], axis: 0 },
];

async function checkAxes(device: "cpu" | "gpu"): Promise<void> {
  const rng = new dn.Rng(3);
  for (const { shape, axis } of AXIS_CASES) {
    const size = shape.reduce((a, b) => a * b, 1);
    const vals = randnHost(size, rng, 2);
    const xc = cpuTensor(vals, shape);
    const x = device === "gpu" ? xc.gpu() : xc;
    const ax = axis < 0 ? axis + shape.length : axis;
    const outs = [
      ...KINDS.map((k) => apply(k, x, axis)),
      dn.logsumexp(x, axis, { keepdims: true }),
    ];
    const got = await dn.readAll(outs);
    const what = (k: string) => `${device} ${k} shape [${shape}] axis ${axis}`;
    assert.deepEqual(outs[0].shape, shape, what("softmax shape"));
    assert.deepEqual(outs[1].shape, shape, what("logsoftmax shape"));
    assert.deepEqual(outs[2].shape, shape.filter((_, i) => i !== ax), what("logsumexp shape"));
    assert.deepEqual(
      outs[3].shape,
      shape.map((d, i) => (i === ax ? 1 : d)),
      what("logsumexp keepdims shape"),
    );
    KINDS.forEach((kind, i) =>
      assertClose(got[i], reference(vals, shape, ax, kind), F32_TOL, what(kind))
    );
    assertClose(
      got[3],
      reference(vals, shape, ax, "logsumexp"),
      F32_TOL,
      what("logsumexp keepdims"),
    );
    if (device === "gpu") { for (const t of [x, ...outs]) t.dispose(); }
  }
}

Deno.test("softmax: CPU over axis 0 and middle axes, logsumexp keepdims", () => checkAxes("cpu"));

Deno.test({
  name: "softmax: GPU over axis 0 and middle axes, logsumexp keepdims",
  ignore: !gpu,
  ...GPU_TEST,
  fn: () => checkAxes("gpu"),
});

/** Exact expected values (f64) for [c, c+1, c+2]: independent of c. */
function shifted(c: number) {
  const z = 1 + Math.exp(-1) + Math.exp(-2);
  return {
    softmax: [Math.exp(-2) / z, Math.exp(-1) / z, 1 / z],
    logsoftmax: [-2 - Math.log(z), -1 - Math.log(z), -Math.log(z)],
    logsumexp: [c + 2 + Math.log(z)],
  };
}

Deno.test("softmax: numerically stable on large magnitudes, rows sum to 1, −∞ entries", async () => {
  await stability("cpu");
  if (gpu) await onGpuProfiles(() => stability("gpu"));
});

async function stability(device: "cpu" | "gpu"): Promise<void> {
  {
    // Rows [1000,1001,1002], [-1000,-999,-998] and [-1002,-1001,-1000] (reversed order).
    const x = dn.fromArray([[1000, 1001, 1002], [-1000, -999, -998], [-1000, -1001, -1002]], {
      device,
    });
    const outs = KINDS.map((k) => apply(k, x));
    const [sm, lsm, lse] = await dn.readAll(outs);
    for (const v of [sm, lsm, lse]) {
      assert.ok(v.every(Number.isFinite), `${device}: finite, got ${v}`);
    }
    const [a, b] = [shifted(1000), shifted(-1000)];
    const rev = <T>(r: T[]) => [...r].reverse();
    assertClose(sm, [...a.softmax, ...b.softmax, ...rev(b.softmax)], F32_TOL, `${device} softmax`);
    assertClose(
      lsm,
      [...a.logsoftmax, ...b.logsoftmax, ...rev(b.logsoftmax)],
      F32_TOL,
      `${device} logsoftmax`,
    );
    assertClose(
      lse,
      [...a.logsumexp, ...b.logsumexp, ...shifted(-1002).logsumexp],
      F32_TOL,
      `${device} logsumexp`,
    );

    // −∞ entries get probability 0 (a mask); a row of one finite value is [.., 1, ..].
    const m = dn.fromArray([[-Infinity, 0, -Infinity], [-Infinity, 2, 2]], { device });
    const [ms, ml, me] = await dn.readAll([dn.softmax(m), dn.logsoftmax(m), dn.logsumexp(m)]);
    assertClose(ms, [0, 1, 0, 0, 0.5, 0.5], F32_TOL, `${device} masked softmax`);
    assertClose(
      ml,
      [-Infinity, 0, -Infinity, -Infinity, -Math.LN2, -Math.LN2],
      F32_TOL,
      `${device} masked logsoftmax`,
    );
    assertClose(me, [0, 2 + Math.LN2], F32_TOL, `${device} masked logsumexp`);

    // Rows of softmax sum to 1 (random rows of several lengths, large spread).
    const rng = new dn.Rng(4);
    for (const len of [7, 1000, 100_003]) {
      const r = cpuTensor(randnHost(3 * len, rng, 20), [3, len]);
      const s = dn.softmax(device === "gpu" ? r.gpu() : r);
      const sums = dn.sum(s, -1);
      assertClose(
        await sums.data(),
        [1, 1, 1],
        F32_TOL,
        `${device} softmax rows sum to 1 (len ${len})`,
      );
    }
    // A row of −∞ alone has no softmax: NaN.
    const none = await dn.softmax(dn.fromArray([[-Infinity, -Infinity, -Infinity]], { device }))
      .data();
    assert.ok(none.every(Number.isNaN), `${device}: a row of −∞ gives NaN, got ${none}`);
  }
}

Deno.test("softmax: errors name the op", () => {
  const x = dn.zeros([2, 3], { device: "cpu" });
  assert.throws(() => dn.softmax(x, 2), /softmax: axis 2 is out of range/);
  assert.throws(() => dn.logsumexp(x, -3), /logsumexp: axis -3 is out of range/);
  assert.throws(
    () => dn.logsoftmax(dn.fromArray(1, { device: "cpu" })),
    /logsoftmax: needs at least one dimension/,
  );
});

Deno.test("softmax: empty rows and empty batches", async () => {
  for (const device of gpu ? ["cpu", "gpu"] as const : ["cpu"] as const) {
    const e = dn.zeros([0, 5], { device });
    const outs = [dn.softmax(e), dn.logsumexp(e), dn.logsumexp(dn.zeros([3, 0], { device }))];
    assert.deepEqual(outs[0].shape, [0, 5]);
    assert.deepEqual(outs[1].shape, [0]);
    assert.deepEqual(outs[2].shape, [3]);
    const v = await dn.readAll(outs);
    // logsumexp over an empty axis is log(0) = −∞ (Julia's logsumexp of an empty row).
    assert.deepEqual(
      Array.from(v[2]),
      [-Infinity, -Infinity, -Infinity],
      `${device} empty logsumexp`,
    );
  }
});
