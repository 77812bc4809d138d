/**
 * Indexing ops (src/ops/indexing.ts, kernels/gather.wgsl): take against an
 * index-by-index reference (axis 0/1/last, 1-D and 2-D index tensors, repeated indices,
 * f32 and f64), GPU == CPU at the edge sizes for the gather and its scatter-add
 * gradient, gradient checks in f64, GPU gradients vs CPU gradients, invalid indices
 * (errors on the CPU, zeros on the GPU), empty tensors, and mat.
 */

import assert from "node:assert/strict";
import {
  counters,
  fromArray,
  mul,
  readAll,
  Rng,
  square,
  sum,
  type Tensor,
  tidy,
} from "../internals.ts";
import { diff } from "../src/autograd/diff.ts";
import { gcheck } from "../src/autograd/gcheck.ts";
import { Param } from "../src/autograd/param.ts";
import { mat, take } from "../src/ops/indexing.ts";
import { assertClose, assertExact, F32_TOL, GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

/** The sizes every kernel is tested on (axis lengths, index counts, inner extents). */
const SIZES = [1, 7, 33, 257, 1000] as const;

/** Tight gradient-check settings for f64. */
const GCHECK = { atol: 1e-6, rtol: 1e-6, delta: 1e-6, verbose: true } as const;

function prod(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

function randValues(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.normal());
}

/** n random indices in [0, range), with some forced repeats. */
function randIndices(rng: Rng, n: number, range: number): number[] {
  const idx = Array.from({ length: n }, () => rng.int(range));
  for (let j = 1; j < n; j += 3) idx[j] = idx[j - 1]; // repeats
  return idx;
}

/** Row-major multi-index of flat position `i` in `shape`. */
function unravel(i: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return out;
}

/** Flat position of a multi-index in `shape`. */
function ravel(ix: readonly number[], shape: readonly number[]): number {
  let f = 0;
  for (let d = 0; d < shape.length; d++) f = f * shape[d] + ix[d];
  return f;
}

/**
 * For each output element of take(x, idx, axis), the flat position in x it reads
 * (written from the definition, independently of src/).
 */
function takeSources(
  xShape: readonly number[],
  idx: readonly number[],
  idxShape: readonly number[],
  axis: number,
): number[] {
  const outShape = [...xShape.slice(0, axis), ...idxShape, ...xShape.slice(axis + 1)];
  const r = idxShape.length;
  return Array.from({ length: prod(outShape) }, (_, e) => {
    const o = unravel(e, outShape);
    const k = idx[ravel(o.slice(axis, axis + r), idxShape)];
    return ravel([...o.slice(0, axis), k, ...o.slice(axis + r)], xShape);
  });
}

interface Case {
  xShape: number[];
  idxShape: number[];
  axis: number;
}

/** Shapes exercising axis 0, a middle axis, the last axis (negative), 1-D and 2-D indices. */
function cases(s: number): Case[] {
  return [
    { xShape: [s, 3], idxShape: [s], axis: 0 },
    { xShape: [4, s, 2], idxShape: [3, 2], axis: 1 },
    { xShape: [2, 3, s], idxShape: [s], axis: -1 },
    { xShape: [s], idxShape: [2, s], axis: 0 },
    { xShape: [3, 5], idxShape: [s], axis: 1 },
  ];
}

const normAxis = (c: Case) => (c.axis < 0 ? c.axis + c.xShape.length : c.axis);

// ---------------------------------------------------------------------------------------
// CPU against the reference

Deno.test("take cpu: matches an index-by-index reference (f32 and f64, all index forms)", () => {
  const rng = new Rng(1);
  for (const s of SIZES) {
    for (const c of cases(s)) {
      const ax = normAxis(c);
      const xv = randValues(rng, prod(c.xShape));
      const iv = randIndices(rng, prod(c.idxShape), c.xShape[ax]);
      const src = takeSources(c.xShape, iv, c.idxShape, ax);
      const outShape = [...c.xShape.slice(0, ax), ...c.idxShape, ...c.xShape.slice(ax + 1)];
      for (const dtype of ["f32", "f64"] as const) {
        const x = fromArray(xv, { shape: c.xShape, dtype, device: "cpu" });
        const xs = x.dataSync();
        const expected = src.map((k) => xs[k]);
        const what = `${dtype} x${JSON.stringify(c.xShape)} idx${JSON.stringify(c.idxShape)}`;
        // Index tensors of either dtype (f32 indices into an f64 x are converted).
        for (const idtype of ["f32", "f64"] as const) {
          const idx = fromArray(iv, { shape: c.idxShape, dtype: idtype, device: "cpu" });
          const y = take(x, idx, c.axis);
          assert.equal(y.dtype, dtype);
          assert.deepEqual(y.shape, outShape, what);
          assertExact(y.dataSync(), expected, `${what} idx ${idtype}`);
        }
        if (c.idxShape.length === 1) {
          assertExact(take(x, iv, c.axis).dataSync(), expected, `${what} number[]`);
          assertExact(
            take(x, Int32Array.from(iv), c.axis).dataSync(),
            expected,
            `${what} Int32Array`,
          );
        }
      }
    }
  }
});

Deno.test("take: a small worked example (rows, columns, repeated and 2-D indices)", () => {
  const x = fromArray([[0, 1, 2], [10, 11, 12], [20, 21, 22]], { device: "cpu" });
  assert.deepEqual(take(x, [2, 0, 2]).dataSync(), Float32Array.of(20, 21, 22, 0, 1, 2, 20, 21, 22));
  assert.deepEqual(take(x, [1, 1], 1).dataSync(), Float32Array.of(1, 1, 11, 11, 21, 21));
  const y = take(x, fromArray([[0, 2], [1, 0]], { device: "cpu" }), -1);
  assert.deepEqual(y.shape, [3, 2, 2]);
  assert.deepEqual(y.dataSync(), Float32Array.of(0, 2, 1, 0, 10, 12, 11, 10, 20, 22, 21, 20));
});

// ---------------------------------------------------------------------------------------
// GPU == CPU

Deno.test({
  name: `take gpu == cpu (axis 0/1/last, 1-D/2-D indices, repeats), sizes ${SIZES.join(",")}`,
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const rng = new Rng(2);
    const cpuOut: Tensor[] = [];
    const gpuOut: Tensor[] = [];
    const names: string[] = [];
    for (const s of SIZES) {
      for (const c of cases(s)) {
        const ax = normAxis(c);
        const x = fromArray(randValues(rng, prod(c.xShape)), { shape: c.xShape, device: "cpu" });
        const iv = randIndices(rng, prod(c.idxShape), c.xShape[ax]);
        const idx = fromArray(iv, { shape: c.idxShape, device: "cpu" });
        cpuOut.push(take(x, idx, c.axis));
        const [xg, ig] = [x.gpu(), idx.gpu()];
        gpuOut.push(take(xg, ig, c.axis)); // device-resident indices
        // Host indices: a number[] for 1-D index shapes, else the CPU index tensor.
        gpuOut.push(take(xg, c.idxShape.length === 1 ? iv : idx, c.axis));
        cpuOut.push(cpuOut[cpuOut.length - 1]);
        xg.dispose();
        ig.dispose();
        names.push(`x${JSON.stringify(c.xShape)} idx${JSON.stringify(c.idxShape)} gpu idx`);
        names.push(`x${JSON.stringify(c.xShape)} idx${JSON.stringify(c.idxShape)} host idx`);
      }
    }
    const got = await readAll(gpuOut);
    got.forEach((g, k) => {
      assert.deepEqual(gpuOut[k].shape, cpuOut[k].shape, names[k]);
      // A gather copies values: bitwise equal.
      assertExact(g, cpuOut[k].dataSync(), names[k]);
    });
    gpuOut.forEach((t) => t.dispose());
  },
});

/** The gradient of Σ take(w, idx, axis)·r with respect to w, on w's device. */
function takeGrad(w0: Tensor, idx: Tensor | number[], axis: number, r: Tensor): Tensor {
  const w = new Param(w0);
  const J = diff(() => sum(mul(take(w, idx, axis), r)));
  const g = J.take(w);
  J.dispose();
  w.dispose();
  assert.ok(g, "take passes a gradient to x");
  return g;
}

Deno.test("take cpu backward: scatter-add matches a reference (repeats accumulate), f32/f64", () => {
  const rng = new Rng(3);
  for (const s of SIZES) {
    for (const c of cases(s)) {
      const ax = normAxis(c);
      const iv = randIndices(rng, prod(c.idxShape), c.xShape[ax]);
      const src = takeSources(c.xShape, iv, c.idxShape, ax);
      const rv = randValues(rng, src.length);
      for (const dtype of ["f32", "f64"] as const) {
        // Reference: every output element adds its r to the element it read.
        const expected = new Float64Array(prod(c.xShape));
        src.forEach((k, e) => (expected[k] += rv[e]));
        const x = fromArray(randValues(rng, prod(c.xShape)), {
          shape: c.xShape,
          dtype,
          device: "cpu",
        });
        const outShape = [...c.xShape.slice(0, ax), ...c.idxShape, ...c.xShape.slice(ax + 1)];
        const r = fromArray(rv, { shape: outShape, dtype, device: "cpu" });
        const idx = fromArray(iv, { shape: c.idxShape, dtype: "f32", device: "cpu" });
        const g = takeGrad(x, idx, c.axis, r);
        assert.equal(g.dtype, dtype);
        assert.deepEqual(g.shape, c.xShape);
        const tol = dtype === "f64" ? { rtol: 1e-12, atol: 1e-12 } : { rtol: 1e-5, atol: 1e-5 };
        assertClose(g.dataSync(), expected, tol, `grad ${dtype} x${JSON.stringify(c.xShape)}`);
      }
    }
  }
});

Deno.test({
  name: `take gpu backward (scatter-add) == cpu, sizes ${SIZES.join(",")}`,
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const rng = new Rng(4);
    const cpuOut: Tensor[] = [];
    const gpuOut: Tensor[] = [];
    const names: string[] = [];
    for (const s of SIZES) {
      for (const c of cases(s)) {
        const ax = normAxis(c);
        const iv = randIndices(rng, prod(c.idxShape), c.xShape[ax]);
        const outShape = [...c.xShape.slice(0, ax), ...c.idxShape, ...c.xShape.slice(ax + 1)];
        const x = fromArray(randValues(rng, prod(c.xShape)), { shape: c.xShape, device: "cpu" });
        const r = fromArray(randValues(rng, prod(outShape)), { shape: outShape, device: "cpu" });
        const idx = fromArray(iv, { shape: c.idxShape, device: "cpu" });
        cpuOut.push(takeGrad(x, idx, c.axis, r));
        const [xg, rg, ig] = [x.gpu(), r.gpu(), idx.gpu()];
        gpuOut.push(takeGrad(xg, ig, c.axis, rg));
        for (const t of [xg, rg, ig]) t.dispose();
        names.push(`grad x${JSON.stringify(c.xShape)} idx${JSON.stringify(c.idxShape)}`);
      }
    }
    const got = await readAll(gpuOut);
    got.forEach((g, k) => {
      assert.deepEqual(gpuOut[k].shape, cpuOut[k].shape, names[k]);
      // Same summation order as the CPU twin, each addition correctly rounded in f32:
      // bitwise equal (and deterministic across runs).
      assertExact(g, cpuOut[k].dataSync(), names[k]);
    });
    gpuOut.forEach((t) => t.dispose());
  },
});

Deno.test({
  name: "take: repeated indices accumulate in the gradient (cpu and gpu), index gets none",
  ...GPU_TEST,
  async fn() {
    const xv = [[1, 2], [3, 4], [5, 6]];
    const iv = [0, 2, 0, 0];
    // d/dx Σ take(x, idx)² = 2·x·(number of times each row is taken)
    const expected = [6, 12, 0, 0, 10, 12];
    const devices = gpu ? ["cpu", "gpu"] as const : ["cpu"] as const;
    for (const device of devices) {
      const w = new Param(fromArray(xv, { device }));
      const idx = new Param(fromArray(iv, { device }));
      const J = diff(() => sum(square(take(w, idx))));
      assert.equal(await J.value.item(), 3 * (1 + 4) + 25 + 36, `${device} value`);
      assert.deepEqual(Array.from(await J.grad(w)!.data()), expected, `${device} grad`);
      assert.equal(J.grad(idx), null, `${device}: the index tensor gets no gradient`);
      J.dispose();
      w.dispose();
      idx.dispose();
    }
  },
});

// ---------------------------------------------------------------------------------------
// Gradient checks (f64, CPU)

Deno.test("take gcheck f64: axis 0/1/last, 1-D and 2-D indices, repeats", async () => {
  const rng = new Rng(5);
  const configs: [number[], number[], number[], number][] = [
    [[5, 3], [4], [0, 3, 3, 1], 0],
    [[2, 6, 3], [2, 2], [5, 0, 5, 2], 1],
    [[3, 4], [5], [3, 3, 0, 2, 3], -1],
    [[7], [2, 3], [6, 0, 6, 1, 1, 4], 0],
  ];
  for (const [xShape, idxShape, iv, axis] of configs) {
    const x = fromArray(randValues(rng, prod(xShape)), {
      shape: xShape,
      dtype: "f64",
      device: "cpu",
    });
    const idx = fromArray(iv, { shape: idxShape, device: "cpu" }); // f32 indices, f64 x
    // Nonlinear in the gathered values, so a gradient sent to the wrong slot shows.
    const f = (w: Tensor) => square(take(w, idx, axis));
    assert.ok(
      await gcheck(f, x, { ...GCHECK, nsample: prod(xShape) }),
      `gcheck take x${JSON.stringify(xShape)} axis ${axis}`,
    );
  }
});

Deno.test("mat gcheck f64: the reshape is differentiable", async () => {
  const rng = new Rng(6);
  const x = fromArray(randValues(rng, 24), { shape: [2, 3, 4], dtype: "f64", device: "cpu" });
  const r = fromArray(randValues(rng, 24), { shape: [2, 12], dtype: "f64", device: "cpu" });
  assert.ok(await gcheck((w: Tensor) => mul(square(mat(w)), r), x, { ...GCHECK, nsample: 24 }));
});

// ---------------------------------------------------------------------------------------
// Invalid indices and errors

Deno.test("take errors: bad axis, out-of-range / negative / fractional indices on the cpu", () => {
  const x = fromArray([[1, 2, 3], [4, 5, 6]], { device: "cpu" });
  assert.throws(() => take(x, [0], 2), /take: axis 2 is out of range for a tensor of rank 2/);
  assert.throws(() => take(x, [0], -3), /take: axis -3 is out of range/);
  assert.throws(() => take(x, [0], 0.5), /take: axis 0.5 is out of range/);
  assert.throws(
    () => take(x, [0, 2]),
    /take: index 2 \(at position 1\) is out of range for axis 0 of size 2 \(x \[2,3\]\)/,
  );
  assert.throws(() => take(x, [3], 1), /take: index 3 .* out of range for axis 1 of size 3/);
  assert.throws(() => take(x, [-1]), /take: index -1 .* out of range/);
  assert.throws(() => take(x, [0.5]), /take: index 0.5 .* not an integer/);
  assert.throws(() => take(x, [NaN]), /take: index NaN .* not an integer/);
  assert.throws(
    () => take(x, fromArray([1, 5], { device: "cpu" }), 1),
    /take: index 5 .*axis 1 of size 3/,
  );
  assert.throws(
    () => take(fromArray(3, { device: "cpu" }), [0]),
    /take: cannot index a scalar/,
  );
  assert.throws(() => take(x, "ab" as unknown as number[]), /take: indices must be a Tensor/);
  const e = fromArray(new Float32Array(0), { shape: [0, 3], device: "cpu" });
  assert.throws(() => take(e, [0]), /take: index 0 .* out of range for axis 0 of size 0/);
});

Deno.test({
  name: "take gpu: device-resident invalid indices read as 0 and get no gradient",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const x = fromArray([[1, 2], [3, 4], [5, 6]], { device: "gpu" });
    const idx = fromArray([1, 3, -1, 0.5, NaN, 1e9, 2, -0], { device: "gpu" });
    const y = take(x, idx);
    assert.deepEqual(
      Array.from(await y.data()),
      [3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 6, 1, 2],
    );
    const w = new Param(x);
    const J = diff(() => sum(take(w, idx)));
    assert.deepEqual(Array.from(await J.grad(w)!.data()), [1, 1, 1, 1, 1, 1]);
    J.dispose();
    // An empty axis: every index is invalid, nothing is read.
    const e = fromArray(new Float32Array(0), { shape: [2, 0], device: "gpu" });
    const ye = take(e, fromArray([0, 1], { device: "gpu" }), 1);
    assert.deepEqual(ye.shape, [2, 2]);
    assert.deepEqual(Array.from(await ye.data()), [0, 0, 0, 0]);
    // Host-given indices are validated before upload.
    assert.throws(() => take(x, [0, 3]), /take: index 3 .* out of range for axis 0 of size 3/);
    assert.throws(
      () => take(x, fromArray([4], { device: "cpu" })),
      /take: index 4 .* out of range/,
    );
    // Host indices above 2^24 would round when stored as f32: refused for a gpu x.
    const big = fromArray(new Float32Array(2 ** 24 + 2), { device: "gpu" });
    assert.throws(
      () => take(big, [2 ** 24 + 1]),
      /take: index 16777217 \(at position 0\) exceeds 2\^24/,
    );
    const yb = take(big, [2 ** 24]);
    assert.deepEqual(Array.from(await yb.data()), [0]);
    for (const t of [x, idx, y, w, e, ye, big, yb]) t.dispose();
  },
});

Deno.test({
  name: "take: gpu indices with a cpu x are refused; cpu indices with a gpu x work",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const x = fromArray([[1, 2], [3, 4]], { device: "cpu" });
    const ig = fromArray([1], { device: "gpu" });
    assert.throws(() => take(x, ig), /take: indices \(f32\[1\] gpu\) are on the gpu but x .* cpu/);
    const xg = x.gpu();
    const y = take(xg, fromArray([1, 0, 1], { device: "cpu", dtype: "f64" }));
    assert.equal(y.device, "gpu");
    assert.deepEqual(Array.from(await y.data()), [3, 4, 1, 2, 3, 4]);
    for (const t of [ig, xg, y]) t.dispose();
  },
});

Deno.test({
  name: "take gpu: converted host indices are released (liveBytes unchanged)",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const x = fromArray(new Float32Array(64), { shape: [16, 4], device: "gpu" });
    await x.data();
    const before = counters().liveBytes;
    for (let i = 0; i < 10; i++) {
      const y = take(x, [1, 2, 3, 15]);
      y.dispose();
      tidy(() => {
        take(x, Int32Array.of(0, 0, 5));
      });
    }
    await x.data();
    assert.equal(counters().liveBytes, before);
    x.dispose();
  },
});

// ---------------------------------------------------------------------------------------
// Empty tensors

Deno.test({
  name: "take: empty index lists and empty tensors (cpu and gpu), gradient zeros",
  ...GPU_TEST,
  async fn() {
    const devices = gpu ? ["cpu", "gpu"] as const : ["cpu"] as const;
    for (const device of devices) {
      const x = fromArray([[1, 2, 3], [4, 5, 6]], { device });
      const y = take(x, [], 1);
      assert.deepEqual(y.shape, [2, 0], `${device} shape`);
      const y2 = take(x, fromArray(new Float32Array(0), { shape: [0, 4], device }));
      assert.deepEqual(y2.shape, [0, 4, 3]);
      const w = new Param(x);
      const J = diff(() => sum(take(w, [], 0)));
      assert.equal(await J.value.item(), 0);
      const g = J.grad(w);
      assert.ok(g, `${device}: x gets a (zero) gradient`);
      assert.deepEqual(Array.from(await g.data()), [0, 0, 0, 0, 0, 0], `${device} grad`);
      J.dispose();
      for (const t of [x, y, y2, w]) t.dispose();
    }
  },
});

// ---------------------------------------------------------------------------------------
// mat

Deno.test("mat: Knet's mat in our layout (instances leading), dims, vectors and scalars", () => {
  const x = fromArray(Array.from({ length: 120 }, (_, i) => i), {
    shape: [2, 3, 4, 5],
    device: "cpu",
  });
  const m = mat(x);
  assert.deepEqual(m.shape, [2, 60]);
  assert.deepEqual(m.dataSync(), x.dataSync());
  assert.equal(m.host(), x.host(), "mat is a view (no copy)");
  assert.deepEqual(mat(x, 0).shape, [120, 1]);
  assert.deepEqual(mat(x, 1).shape, [24, 5]);
  assert.deepEqual(mat(x, 2).shape, [6, 20]);
  assert.deepEqual(mat(x, 4).shape, [1, 120]);
  assert.deepEqual(mat(fromArray([1, 2, 3], { device: "cpu" })).shape, [3, 1]);
  assert.deepEqual(mat(fromArray(7, { device: "cpu" })).shape, [1, 1]);
  assert.deepEqual(mat(fromArray(new Float32Array(0), { shape: [0, 2, 3], device: "cpu" })).shape, [
    0,
    6,
  ]);
  assert.throws(() => mat(x, 5), /mat: dims 5 must be an integer in \[0, 4\] for x f32\[2,3,4,5\]/);
  assert.throws(() => mat(x, -1), /mat: dims -1 must be an integer/);
  assert.throws(() => mat(x, 1.5), /mat: dims 1.5 must be an integer/);
});

Deno.test({
  name: "mat gpu: a view of the same buffer; gradient flows back with x's shape",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const x = fromArray(Array.from({ length: 24 }, (_, i) => i), {
      shape: [2, 3, 4],
      device: "gpu",
    });
    const m = mat(x);
    assert.deepEqual(m.shape, [2, 12]);
    assert.equal(m.buffer(), x.buffer(), "mat shares the GPU buffer");
    const w = new Param(x);
    const J = diff(() => sum(square(mat(w))));
    const g = J.grad(w)!;
    assert.deepEqual(g.shape, [2, 3, 4]);
    assertClose(await g.data(), Array.from({ length: 24 }, (_, i) => 2 * i), F32_TOL, "grad");
    J.dispose();
    for (const t of [x, m, w]) t.dispose();
  },
});

// ---------------------------------------------------------------------------------------
// GPU gradients == CPU gradients through a small embedding model

Deno.test({
  name: "embedding lookup: gpu gradients equal cpu gradients (f32), through take and mat",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const rng = new Rng(8);
    const [vocab, dim, batch, seq] = [50, 33, 7, 5];
    const ev = randValues(rng, vocab * dim);
    const tokens = randIndices(rng, batch * seq, vocab);
    const rv = randValues(rng, batch * seq * dim);
    const run = async (device: "cpu" | "gpu") => {
      const emb = new Param(fromArray(ev, { shape: [vocab, dim], device }));
      const tok = fromArray(tokens, { shape: [batch, seq], device });
      const r = fromArray(rv, { shape: [batch, seq * dim], device });
      // [batch, seq] tokens → [batch, seq, dim] → mat → [batch, seq·dim]
      const J = diff(() => sum(mul(square(mat(take(emb, tok))), r)));
      const [value, g] = await readAll([J.value, J.grad(emb)!]);
      J.dispose();
      emb.dispose();
      tok.dispose();
      r.dispose();
      return { value: value[0], g };
    };
    const c = await run("cpu");
    const g = await run("gpu");
    assertClose([g.value], [c.value], { rtol: 1e-5, atol: 1e-4 }, "loss");
    assertClose(g.g, c.g, F32_TOL, "embedding gradient");
    assert.ok(c.g.some((v) => v !== 0) && c.g.some((v) => v === 0), "some rows unused");
  },
});
