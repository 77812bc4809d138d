/**
 * Data-movement ops (src/ops/shape.ts, kernels/strided_copy.wgsl) and reshape views:
 * CPU against hand-computed / independently computed expectations, GPU == CPU on shapes
 * built from the sizes 1, 7, 33, 257.
 */

import assert from "node:assert/strict";
import {
  arange,
  broadcastTo,
  clone,
  concat,
  flip,
  fromArray,
  permute,
  readAll,
  Rng,
  slice,
  type SliceSpec,
  type Tensor,
  transpose,
} from "../internals.ts";
import { GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

const size = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

/** 0, 1, 2, ... in `shape` on the CPU. */
function iota(shape: readonly number[], dtype: "f32" | "f64" = "f32"): Tensor {
  return arange(size(shape), undefined, 1, { device: "cpu", dtype }).reshape(shape);
}

/** Row-major flat index of a multi-index (independent of src/). */
function flatIndex(shape: readonly number[], idx: readonly number[]): number {
  let k = 0;
  for (let d = 0; d < shape.length; d++) k = k * shape[d] + idx[d];
  return k;
}

/** Every multi-index of `shape`, row-major. */
function* indices(shape: readonly number[]): Generator<number[]> {
  if (shape.some((d) => d === 0)) return;
  const idx = shape.map(() => 0);
  for (let i = 0; i < size(shape); i++) {
    yield [...idx];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

/** Python's slice(start, stop, step).indices(n), as the list of selected indices. */
function pyRange(n: number, start?: number | null, stop?: number | null, step = 1): number[] {
  const lower = step > 0 ? 0 : -1;
  const upper = step > 0 ? n : n - 1;
  const fix = (v: number | null | undefined, dflt: number) =>
    v === undefined || v === null ? dflt : v < 0 ? Math.max(v + n, lower) : Math.min(v, upper);
  const b = fix(start, step > 0 ? lower : upper);
  const e = fix(stop, step > 0 ? upper : lower);
  const out: number[] = [];
  for (let i = b; step > 0 ? i < e : i > e; i += step) out.push(i);
  return out;
}

/** Reference slicing by explicit index lists (drops dims indexed by an integer). */
function sliceRef(values: ArrayLike<number>, shape: readonly number[], specs: SliceSpec[]) {
  const lists = shape.map((n, d) => {
    const s = specs[d] ?? null;
    if (typeof s === "number") return [s < 0 ? s + n : s];
    if (s === null) return pyRange(n);
    return pyRange(n, s[0], s[1], s[2] ?? 1);
  });
  const outShape = shape.flatMap((_, d) => (typeof specs[d] === "number" ? [] : [lists[d].length]));
  const out: number[] = [];
  for (const pos of indices(lists.map((l) => l.length))) {
    out.push(values[flatIndex(shape, pos.map((p, d) => lists[d][p]))]);
  }
  return { shape: outShape, values: out };
}

// ---------------------------------------------------------------------------------------
// permute / transpose

Deno.test("transpose of a 2-D tensor, hand-computed", async () => {
  const x = fromArray([[1, 2, 3], [4, 5, 6]], { device: "cpu" });
  const y = transpose(x);
  assert.deepEqual(y.shape, [3, 2]);
  assert.deepEqual(await y.toArray(), [[1, 4], [2, 5], [3, 6]]);
  assert.deepEqual(await transpose(x, 0, 1).toArray(), [[1, 4], [2, 5], [3, 6]]);
  assert.deepEqual(await transpose(transpose(x)).toArray(), [[1, 2, 3], [4, 5, 6]]);
  // Rank 0 and 1: unchanged.
  const v = fromArray([1, 2, 3], { device: "cpu" });
  assert.deepEqual(await transpose(v).toArray(), [1, 2, 3]);
  assert.deepEqual(transpose(fromArray(4, { device: "cpu" })).shape, []);
});

Deno.test("permute of a 3-D tensor: out[k,i,j] = x[i,j,k]", async () => {
  const x = iota([2, 3, 4]);
  const y = permute(x, [2, 0, 1]);
  assert.deepEqual(y.shape, [4, 2, 3]);
  assert.deepEqual(await y.toArray(), [
    [[0, 4, 8], [12, 16, 20]],
    [[1, 5, 9], [13, 17, 21]],
    [[2, 6, 10], [14, 18, 22]],
    [[3, 7, 11], [15, 19, 23]],
  ]);
  // Negative axes name the same permutation.
  assert.deepEqual(permute(x, [-1, 0, -2]).dataSync(), y.dataSync());
  // Identity permutation copies.
  assert.deepEqual(permute(x, [0, 1, 2]).dataSync(), x.dataSync());
  // transpose(x, 0, 2) = permute [2, 1, 0].
  const t = transpose(x, 0, 2);
  assert.deepEqual(t.shape, [4, 3, 2]);
  for (const [k, j, i] of indices(t.shape)) {
    assert.equal(t.dataSync()[flatIndex(t.shape, [k, j, i])], 12 * i + 4 * j + k);
  }
  // Default transpose swaps the last two.
  assert.deepEqual(transpose(x).shape, [2, 4, 3]);
  assert.equal(transpose(x).dataSync()[flatIndex([2, 4, 3], [1, 3, 2])], 12 + 8 + 3);
});

Deno.test("permute: every permutation of a rank-4 tensor against index arithmetic (f64)", () => {
  const shape = [2, 3, 1, 5];
  const x = iota(shape, "f64");
  for (const perm of permutations(4)) {
    const y = permute(x, perm);
    assert.equal(y.dtype, "f64");
    assert.deepEqual(y.shape, perm.map((p) => shape[p]));
    const yv = y.dataSync();
    for (const idx of indices(y.shape)) {
      const src = new Array<number>(4);
      perm.forEach((p, i) => (src[p] = idx[i]));
      assert.equal(yv[flatIndex(y.shape, idx)], flatIndex(shape, src), `perm ${perm} at ${idx}`);
    }
  }
});

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  const out: number[][] = [];
  for (const p of permutations(n - 1)) {
    for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), n - 1, ...p.slice(i)]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// slice / flip

Deno.test("slice of a vector: positive, negative, step, negative step, clamping", async () => {
  const x = iota([10]);
  const cases: [SliceSpec, number[]][] = [
    [[2, 5], [2, 3, 4]],
    [[-3], [7, 8, 9]],
    [[-3, -1], [7, 8]],
    [[1, 8, 3], [1, 4, 7]],
    [[undefined, undefined, 2], [0, 2, 4, 6, 8]],
    [[undefined, undefined, -1], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]],
    [[8, 2, -2], [8, 6, 4]],
    [[-1, -11, -3], [9, 6, 3, 0]],
    [[undefined, 3, -1], [9, 8, 7, 6, 5, 4]],
    [[-100, 100], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
    [[100, undefined, -1], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]],
    [[100, -100, -4], [9, 5, 1]],
    [[5, 2], []],
    [[2, 5, -1], []],
    [[10, 20], []],
    [null, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
    [[], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
  ];
  for (const [spec, expected] of cases) {
    const y = slice(x, [spec]);
    assert.deepEqual(y.shape, [expected.length], JSON.stringify(spec));
    assert.deepEqual(await y.toArray(), expected, JSON.stringify(spec));
    assert.deepEqual(expected, pyRange(10, ...(spec ?? []) as [number?, number?, number?]));
  }
});

Deno.test("slice of a matrix: integer indices drop dimensions", async () => {
  const x = iota([3, 4]); // [[0,1,2,3],[4,5,6,7],[8,9,10,11]]
  assert.deepEqual(await slice(x, [1]).toArray(), [4, 5, 6, 7]);
  assert.deepEqual(await slice(x, [-1]).toArray(), [8, 9, 10, 11]);
  assert.deepEqual(await slice(x, [null, -1]).toArray(), [3, 7, 11]);
  assert.deepEqual(await slice(x, [null, 0]).toArray(), [0, 4, 8]);
  const s = slice(x, [1, 2]);
  assert.deepEqual(s.shape, []);
  assert.equal(await s.item(), 6);
  assert.deepEqual(await slice(x, [[0, 3, 2], [undefined, undefined, -1]]).toArray(), [
    [3, 2, 1, 0],
    [11, 10, 9, 8],
  ]);
  assert.deepEqual(await slice(x, [[1], [1, 3]]).toArray(), [[5, 6], [9, 10]]);
  assert.deepEqual(await slice(x, [2, [-2]]).toArray(), [10, 11]);
  assert.deepEqual(slice(x, [[2, 2]]).shape, [0, 4]);
  assert.deepEqual(slice(x, [null, [3, 0]]).shape, [3, 0]);
});

Deno.test("slice: random specs on random shapes match Python slicing semantics", () => {
  const rng = new Rng(5);
  for (let trial = 0; trial < 200; trial++) {
    const rank = 1 + rng.int(4);
    const shape = Array.from({ length: rank }, () => rng.int(6));
    const x = iota(shape, trial % 2 ? "f64" : "f32");
    const specs = randomSpecs(rng, shape);
    const ref = sliceRef(x.dataSync(), shape, specs);
    const y = slice(x, specs);
    assert.deepEqual(y.shape, ref.shape, `${JSON.stringify(shape)} ${JSON.stringify(specs)}`);
    assert.deepEqual(Array.from(y.dataSync()), ref.values, JSON.stringify(specs));
  }
});

function randomSpecs(rng: Rng, shape: readonly number[]): SliceSpec[] {
  return shape.map((n) => {
    const r = rng.int(5);
    if (r === 0 && n > 0) return rng.int(2 * n) - n; // integer index, possibly negative
    if (r === 1) return null;
    const bound = () => (rng.int(3) === 0 ? undefined : rng.int(2 * n + 9) - n - 4);
    const step = (rng.int(3) + 1) * (rng.int(2) ? 1 : -1);
    return [bound(), bound(), step] as const;
  });
}

Deno.test("flip reverses the given dimensions", async () => {
  const x = fromArray([[1, 2, 3], [4, 5, 6]], { device: "cpu" });
  assert.deepEqual(await flip(x, 0).toArray(), [[4, 5, 6], [1, 2, 3]]);
  assert.deepEqual(await flip(x, 1).toArray(), [[3, 2, 1], [6, 5, 4]]);
  assert.deepEqual(await flip(x, -1).toArray(), [[3, 2, 1], [6, 5, 4]]);
  assert.deepEqual(await flip(x, [0, 1]).toArray(), [[6, 5, 4], [3, 2, 1]]);
  assert.deepEqual(await flip(x, []).toArray(), [[1, 2, 3], [4, 5, 6]]);
  const y = iota([2, 3, 4]);
  const f = flip(y, [0, 2]).dataSync();
  for (const [i, j, k] of indices([2, 3, 4])) {
    assert.equal(f[flatIndex([2, 3, 4], [i, j, k])], 12 * (1 - i) + 4 * j + (3 - k));
  }
});

// ---------------------------------------------------------------------------------------
// concat / broadcastTo / clone / reshape

Deno.test("concat along each axis of 3 inputs", async () => {
  const a = fromArray([[1, 2], [3, 4]], { device: "cpu" });
  const b = fromArray([[5, 6]], { device: "cpu" });
  const c = fromArray([[7, 8], [9, 10], [11, 12]], { device: "cpu" });
  assert.deepEqual(await concat([a, b, c]).toArray(), [
    [1, 2],
    [3, 4],
    [5, 6],
    [7, 8],
    [9, 10],
    [11, 12],
  ]);
  const d = fromArray([[5], [6]], { device: "cpu" });
  const e = fromArray([[7, 8, 9], [10, 11, 12]], { device: "cpu" });
  assert.deepEqual(await concat([a, d, e], 1).toArray(), [
    [1, 2, 5, 7, 8, 9],
    [3, 4, 6, 10, 11, 12],
  ]);
  assert.deepEqual(await concat([a, d, e], -1).toArray(), await concat([a, d, e], 1).toArray());
  // Rank 3, every axis: compare against index arithmetic.
  for (const axis of [0, 1, 2]) {
    const parts = [1, 3, 2].map((len, p) => {
      const shape = [2, 3, 4];
      shape[axis] = len;
      return { t: iota(shape), base: 100 * p, shape };
    });
    const xs = parts.map(({ t, base }) =>
      fromArray(t.dataSync().map((v) => v + base), { shape: t.shape })
    );
    const y = concat(xs, axis);
    const outShape = [2, 3, 4];
    outShape[axis] = 6;
    assert.deepEqual(y.shape, outShape);
    const yv = y.dataSync();
    for (const idx of indices(outShape)) {
      let k = idx[axis];
      let p = 0;
      while (k >= parts[p].shape[axis]) k -= parts[p++].shape[axis];
      const src = [...idx];
      src[axis] = k;
      assert.equal(yv[flatIndex(outShape, idx)], parts[p].base + flatIndex(parts[p].shape, src));
    }
  }
  // Empty pieces contribute nothing; a single input is copied.
  const z = fromArray([], { shape: [0, 2], device: "cpu" });
  assert.deepEqual(await concat([z, a, z]).toArray(), [[1, 2], [3, 4]]);
  assert.deepEqual(await concat([a]).toArray(), [[1, 2], [3, 4]]);
  // f64 stays f64.
  assert.equal(concat([iota([2], "f64"), iota([3], "f64")]).dtype, "f64");
});

Deno.test("broadcastTo materialises NumPy broadcasting", async () => {
  const col = fromArray([[1], [2], [3]], { device: "cpu" });
  assert.deepEqual(await broadcastTo(col, [3, 2]).toArray(), [[1, 1], [2, 2], [3, 3]]);
  const row = fromArray([1, 2, 3], { device: "cpu" });
  assert.deepEqual(await broadcastTo(row, [2, 3]).toArray(), [[1, 2, 3], [1, 2, 3]]);
  const s = fromArray(7, { device: "cpu" });
  assert.deepEqual(await broadcastTo(s, [2, 2]).toArray(), [[7, 7], [7, 7]]);
  assert.deepEqual(broadcastTo(s, []).shape, []);
  const y = broadcastTo(col, [2, 3, 4]);
  assert.deepEqual(y.shape, [2, 3, 4]);
  for (const [i, j, k] of indices([2, 3, 4])) {
    assert.equal(y.dataSync()[flatIndex([2, 3, 4], [i, j, k])], j + 1);
  }
  assert.deepEqual(broadcastTo(row, [0, 3]).shape, [0, 3]);
});

Deno.test("clone is a copy with its own storage", () => {
  const x = iota([2, 3]);
  const y = clone(x);
  assert.deepEqual(y.shape, [2, 3]);
  assert.deepEqual(y.dataSync(), x.dataSync());
  y.host()[0] = 42;
  assert.equal(x.dataSync()[0], 0, "mutating the clone left the original alone");
  assert.equal(clone(iota([3], "f64")).dtype, "f64");
  assert.deepEqual(clone(fromArray(3, { device: "cpu" })).shape, []);
});

Deno.test("reshape is a view; -1 is inferred", async () => {
  const x = iota([2, 3, 4]);
  const y = x.reshape(6, 4);
  assert.deepEqual(y.shape, [6, 4]);
  assert.equal(y.host(), x.host(), "same storage");
  y.host()[5] = -1;
  assert.equal(x.dataSync()[5], -1, "write through the view is visible in the original");
  assert.deepEqual(x.reshape(-1).shape, [24]);
  assert.deepEqual(x.reshape([4, -1]).shape, [4, 6]);
  assert.deepEqual(x.reshape(2, -1, 3).shape, [2, 4, 3]);
  assert.deepEqual(x.reshape([-1, 1, 2]).shape, [12, 1, 2]);
  assert.deepEqual((await x.reshape(4, 6).toArray() as number[][])[1], [6, 7, 8, 9, 10, 11]);
  assert.deepEqual(fromArray(5, { device: "cpu" }).reshape([1, 1]).shape, [1, 1]);
  assert.deepEqual(iota([1, 1]).reshape([]).shape, []);
  assert.deepEqual(fromArray([], { shape: [3, 0] }).reshape(-1).shape, [0]);
  assert.deepEqual(fromArray([], { shape: [3, 0] }).reshape(5, -1).shape, [5, 0]);
});

// ---------------------------------------------------------------------------------------
// GPU == CPU

const DIMS = [1, 7, 33, 257];

/** Random shapes of rank 1..4 from DIMS, at most `maxSize` elements. */
function randomShapes(rng: Rng, count: number, maxSize: number): number[][] {
  const out: number[][] = [[257], [7, 33], [33, 7, 1], [1, 257, 7], [7, 1, 33, 7], [257, 33, 7]];
  while (out.length < count) {
    const rank = 1 + rng.int(4);
    const shape = Array.from({ length: rank }, () => DIMS[rng.int(DIMS.length)]);
    if (size(shape) <= maxSize) out.push(shape);
  }
  return out;
}

/** Runs `ops` on a CPU tensor and its GPU copy; compares all results with one readback. */
async function compareOnGpu(
  x: Tensor,
  ops: [string, (t: Tensor) => Tensor][],
): Promise<void> {
  const xg = x.gpu();
  const outs = ops.map(([, f]) => f(xg));
  const got = await readAll(outs);
  ops.forEach(([label, f], k) => {
    const ref = f(x);
    assert.equal(outs[k].device, "gpu");
    assert.deepEqual(outs[k].shape, ref.shape, label);
    // Data movement is exact.
    assert.deepEqual(got[k], ref.dataSync(), `${label} on ${JSON.stringify(x.shape)}`);
  });
  for (const t of [xg, ...outs]) t.dispose();
}

Deno.test({
  name: "permute / transpose / flip / clone / broadcastTo: gpu == cpu on random shapes",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const rng = new Rng(41);
    for (const shape of randomShapes(rng, 14, 300_000)) {
      const x = fromArray(Float32Array.from({ length: size(shape) }, () => rng.normal()), {
        shape,
        device: "cpu",
      });
      const rank = shape.length;
      const ops: [string, (t: Tensor) => Tensor][] = permutations(rank).map((p) => [
        `permute ${p}`,
        (t: Tensor) => permute(t, p),
      ]);
      ops.push(["transpose", (t) => transpose(t)]);
      ops.push(["transpose 0 -1", (t) => transpose(t, 0, -1)]);
      ops.push(["flip all", (t) => flip(t, shape.map((_, d) => d))]);
      ops.push(["flip 0", (t) => flip(t, 0)]);
      ops.push(["clone", (t) => clone(t)]);
      // Broadcast a copy whose first dim is 1 to the full shape, with a leading new dim.
      ops.push([
        "broadcastTo",
        (t) => broadcastTo(slice(t, [[0, 1]]), [2, ...shape]),
      ]);
      await compareOnGpu(x, ops);
    }
  },
});

Deno.test({
  name: "slice (steps, negative steps, indices): gpu == cpu on random shapes",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const rng = new Rng(42);
    for (const shape of randomShapes(rng, 14, 300_000)) {
      const x = fromArray(Float32Array.from({ length: size(shape) }, () => rng.normal()), {
        shape,
        device: "cpu",
      });
      const ops: [string, (t: Tensor) => Tensor][] = [];
      for (let k = 0; k < 8; k++) {
        const specs = randomSpecs(rng, shape);
        ops.push([`slice ${JSON.stringify(specs)}`, (t) => slice(t, specs)]);
      }
      ops.push(["slice reversed", (t) => slice(t, shape.map(() => [undefined, undefined, -1]))]);
      ops.push(["slice step -3", (t) => slice(t, shape.map(() => [-2, undefined, -3]))]);
      await compareOnGpu(x, ops);
    }
  },
});

Deno.test({
  name: "concat of 3 inputs along each axis: gpu == cpu",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const rng = new Rng(43);
    for (const shape of randomShapes(rng, 12, 100_000)) {
      for (let axis = 0; axis < shape.length; axis++) {
        const pieces = [1, 7, 33].map((len) => {
          const s = [...shape];
          s[axis] = len;
          return fromArray(Float32Array.from({ length: size(s) }, () => rng.normal()), {
            shape: s,
            device: "cpu",
          });
        });
        const y = concat(pieces, axis);
        const gp = pieces.map((p) => p.gpu());
        const yg = concat(gp, axis);
        assert.deepEqual(yg.shape, y.shape);
        assert.deepEqual(await yg.data(), y.dataSync(), `concat ${shape} axis ${axis}`);
        for (const t of [...gp, yg]) t.dispose();
      }
    }
  },
});

Deno.test({
  name: "rank-8 permute / slice / broadcastTo and empty results: gpu == cpu",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const shape = [2, 1, 3, 2, 1, 2, 3, 2];
    const x = iota(shape);
    await compareOnGpu(x, [
      ["permute reverse", (t) => permute(t, [7, 6, 5, 4, 3, 2, 1, 0])],
      ["permute mixed", (t) => permute(t, [3, 0, 7, 1, 6, 2, 5, 4])],
      ["slice", (t) => slice(t, [null, 0, [undefined, undefined, -2], 1, null, [1], [2, 0, -1]])],
      ["broadcastTo", (t) => broadcastTo(slice(t, [[0, 1]]), [2, 1, 3, 2, 2, 2, 3, 2])],
      ["flip", (t) => flip(t, [0, 2, 7])],
      ["empty slice", (t) => slice(t, [[1, 1]])],
      ["empty concat", (t) => concat([slice(t, [[2]]), slice(t, [[0, 0]])])],
    ]);
    // Empty GPU inputs.
    const e = fromArray([], { shape: [3, 0], device: "gpu" });
    for (
      const y of [transpose(e), clone(e), flip(e, 0), concat([e, e], 1), broadcastTo(e, [2, 3, 0])]
    ) {
      assert.equal(y.device, "gpu");
      assert.equal(y.size, 0);
      assert.equal((await y.data()).length, 0);
    }
    assert.deepEqual(concat([e, e]).shape, [6, 0]);
  },
});

Deno.test({
  name: "gpu reshape is a view sharing the buffer; ops on views equal the cpu",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const x = iota([4, 6]);
    const xg = x.gpu();
    const v = xg.reshape(2, -1, 3);
    assert.deepEqual(v.shape, [2, 4, 3]);
    assert.equal(v.gpuStorage(), xg.gpuStorage());
    assert.equal(xg.gpuStorage()?.refs, 2);
    const t = permute(v, [2, 0, 1]);
    assert.deepEqual(await t.data(), permute(x.reshape(2, 4, 3), [2, 0, 1]).dataSync());
    for (const u of [xg, v, t]) u.dispose();
  },
});
