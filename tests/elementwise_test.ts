/**
 * Elementwise ops (src/ops/elementwise.ts, kernels/unary.wgsl, kernels/binary.wgsl):
 * GPU vs the CPU reference on random inputs at every edge size, CPU f32/f64 vs direct
 * f64 formulas, broadcasting, scalar operands, empty tensors, comparisons and NaNs.
 */

import assert from "node:assert/strict";
import {
  add,
  binary,
  type BinaryOpName,
  div,
  eq,
  fromArray,
  ge,
  gt,
  le,
  lt,
  maximum,
  minimum,
  mul,
  ne,
  pow,
  readAll,
  Rng,
  round,
  sub,
  type Tensor,
  unary,
  type UnaryOpName,
} from "../internals.ts";
import { BINARY_OPS, UNARY_OPS } from "../src/ops/elementwise.ts";
import { assertClose, EDGE_SIZES, F32_TOL, GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

/** Tolerance for f64 CPU results against f64 formulas (rounding differences only). */
const F64_TOL = { rtol: 1e-12, atol: 1e-14 } as const;

function uniform(rng: Rng, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rng.uniform();
  return out;
}

/** Input domain per unary op: where the op is defined and numerically tame in f32. */
function unaryInput(name: UnaryOpName, rng: Rng, n: number): Float32Array {
  switch (name) {
    case "log":
    case "sqrt":
    case "rsqrt": {
      // Positive, spread over several orders of magnitude.
      const x = uniform(rng, n, -4, 4);
      for (let i = 0; i < n; i++) x[i] = Math.exp(x[i]);
      return x;
    }
    case "log1p":
      return uniform(rng, n, -0.99, 10);
    case "sign":
    case "relu": {
      const x = uniform(rng, n, -5, 5);
      for (let i = 0; i < n; i += 5) x[i] = 0; // exact zeros
      return x;
    }
    case "floor":
    case "ceil":
    case "round": {
      const x = uniform(rng, n, -20, 20);
      // Integers and exact ties mixed in.
      for (let i = 0; i < n; i += 7) x[i] = Math.floor(x[i]);
      for (let i = 3; i < n; i += 7) x[i] = Math.floor(x[i]) + 0.5;
      return x;
    }
    default:
      return uniform(rng, n, -8, 8);
  }
}

const SELU_L = 1.0507009873554804934193349852946;
const SELU_A = 1.6732632423543772848170429916717;

function roundTiesEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** Direct f64 formulas, written independently of UNARY_OPS. */
const UNARY_F64: Record<UnaryOpName, (x: number) => number> = {
  neg: (x) => 0 - x,
  abs: (x) => (x < 0 ? -x : x),
  sign: (x) => (x === 0 ? 0 : x / Math.abs(x)),
  exp: (x) => Math.E ** x,
  log: Math.log,
  log1p: (x) => Math.log1p(x),
  expm1: (x) => Math.expm1(x),
  sqrt: (x) => x ** 0.5,
  rsqrt: (x) => x ** -0.5,
  square: (x) => x ** 2,
  tanh: (x) => Math.tanh(x),
  sigm: (x) => 1 / (1 + Math.exp(-x)),
  relu: (x) => Math.max(x, 0),
  elu: (x) => (x > 0 ? x : Math.exp(x) - 1),
  selu: (x) => (x > 0 ? SELU_L * x : SELU_L * SELU_A * (Math.exp(x) - 1)),
  softplus: (x) => Math.log(1 + Math.exp(x)),
  sin: Math.sin,
  cos: Math.cos,
  floor: Math.floor,
  ceil: (x) => -Math.floor(-x),
  round: roundTiesEven,
};

const BINARY_F64: Record<BinaryOpName, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => Math.exp(b * Math.log(a)), // positive bases only
  maximum: (a, b) => (a > b ? a : b),
  minimum: (a, b) => (a < b ? a : b),
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
};

/** Random operands per binary op, valid for the op, with some equal pairs. */
function binaryInputs(name: BinaryOpName, rng: Rng, n: number): [Float32Array, Float32Array] {
  if (name === "pow") return [uniform(rng, n, 0.05, 6), uniform(rng, n, -3, 3)];
  const a = uniform(rng, n, -10, 10);
  const b = uniform(rng, n, -10, 10);
  if (name === "div") {
    for (let i = 0; i < n; i++) b[i] = b[i] < 0 ? b[i] - 0.1 : b[i] + 0.1;
  }
  for (let i = 0; i < n; i += 4) b[i] = a[i]; // ties for comparisons/maximum/minimum
  return [a, b];
}

function assertExact(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    assert.ok(a === e, `${what}: element ${i} is ${a}, expected ${e}`);
  }
}

// ---------------------------------------------------------------------------------------
// GPU == CPU on random inputs at every edge size

for (const name of Object.keys(UNARY_OPS) as UnaryOpName[]) {
  Deno.test({
    name: `unary ${name}: gpu == cpu on random inputs, sizes ${EDGE_SIZES.join(",")}`,
    ignore: !gpu,
    ...GPU_TEST,
    async fn() {
      const rng = new Rng(1000 + UNARY_OPS[name].code);
      const cpuOut: Tensor[] = [];
      const gpuOut: Tensor[] = [];
      for (const n of EDGE_SIZES) {
        const x = fromArray(unaryInput(name, rng, n), { device: "cpu" });
        cpuOut.push(unary(name, x));
        const xg = x.gpu();
        gpuOut.push(unary(name, xg));
        xg.dispose();
      }
      const got = await readAll(gpuOut);
      EDGE_SIZES.forEach((n, k) => {
        assert.deepEqual(gpuOut[k].shape, [n]);
        assertClose(got[k], cpuOut[k].dataSync(), F32_TOL, `${name} n=${n}`);
      });
      gpuOut.forEach((t) => t.dispose());
    },
  });
}

for (const name of Object.keys(BINARY_OPS) as BinaryOpName[]) {
  Deno.test({
    name: `binary ${name}: gpu == cpu on random inputs, sizes ${EDGE_SIZES.join(",")}`,
    ignore: !gpu,
    ...GPU_TEST,
    async fn() {
      const rng = new Rng(2000 + BINARY_OPS[name].code);
      const cpuOut: Tensor[] = [];
      const gpuOut: Tensor[] = [];
      for (const n of EDGE_SIZES) {
        const [av, bv] = binaryInputs(name, rng, n);
        const a = fromArray(av, { device: "cpu" });
        const b = fromArray(bv, { device: "cpu" });
        cpuOut.push(binary(name, a, b));
        const [ag, bg] = [a.gpu(), b.gpu()];
        gpuOut.push(binary(name, ag, bg));
        ag.dispose();
        bg.dispose();
      }
      const got = await readAll(gpuOut);
      EDGE_SIZES.forEach((n, k) => {
        assert.deepEqual(gpuOut[k].shape, [n]);
        assertClose(got[k], cpuOut[k].dataSync(), F32_TOL, `${name} n=${n}`);
      });
      gpuOut.forEach((t) => t.dispose());
    },
  });
}

const INF = Infinity;
const POW_SPECIAL_A = [0, -0, 0, -0, -0, 0, 2, NaN, 1, -2, 4, 0, -2, -2, -0.5, -INF, -INF, -INF];
const POW_SPECIAL_B = [-1, -1, -2, -3, 3, 0, NaN, 0, 5, -2, 0.5, NaN, INF, -INF, INF, 3, 2, -1];
const POW_SPECIAL = [
  INF,
  -INF,
  INF,
  -INF,
  -0,
  1,
  NaN,
  1,
  1,
  0.25,
  2,
  NaN,
  INF,
  0,
  0,
  -INF,
  INF,
  -0,
];

Deno.test({
  name: "pow: negative bases with integer exponents (gpu == cpu), NaN for fractional ones",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const rng = new Rng(7);
    const n = 1000;
    const a = new Float32Array(n);
    const b = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      a[i] = -(0.1 + 4 * rng.uniform());
      b[i] = rng.int(13) - 6; // -6..6, both parities
    }
    const at = fromArray(a, { device: "cpu" });
    const bt = fromArray(b, { device: "cpu" });
    const cpu = pow(at, bt).dataSync();
    for (let i = 0; i < n; i++) {
      const mag = Math.abs(a[i]) ** b[i];
      const expected = Math.abs(b[i]) % 2 === 1 ? -mag : mag;
      assertClose([cpu[i]], [expected], F32_TOL, `pow(${a[i]}, ${b[i]}) cpu`);
    }
    const [ag, bg] = [at.gpu(), bt.gpu()];
    const pg = pow(ag, bg);
    // Fractional exponents of negative bases are NaN on both devices.
    const fa = fromArray([-2, -0.5, -8, -1], { device: "cpu" });
    const fb = fromArray([0.5, 1.5, -0.25, 2.2], { device: "cpu" });
    const fg = pow(fa.gpu(), fb.gpu());
    // Exact small cases, including zero bases and the scalar-exponent path.
    const sa = fromArray([-2, -3, -1, 0, -0.5, 2], { device: "cpu" });
    const sg = pow(sa.gpu(), 3);
    // IEEE special cases: zero bases (signed) with negative exponents, x^0, NaN exponents.
    const za = fromArray(POW_SPECIAL_A, { device: "cpu" });
    const zb = fromArray(POW_SPECIAL_B, { device: "cpu" });
    assertExact(pow(za, zb).dataSync(), POW_SPECIAL, "pow special cases cpu");
    const zg = pow(za.gpu(), zb.gpu());
    const [g, f, s, z] = await readAll([pg, fg, sg, zg]);
    assertExact(z, POW_SPECIAL, "pow special cases gpu");
    assertClose(g, cpu, F32_TOL, "pow negative base gpu");
    assert.ok(pow(fa, fb).dataSync().every(Number.isNaN), "cpu: NaN for fractional exponents");
    assert.ok(f.every(Number.isNaN), `gpu: NaN for fractional exponents, got ${f}`);
    assertExact(pow(sa, 3).dataSync(), [-8, -27, -1, 0, -0.125, 8], "pow(x, 3) cpu");
    assertClose(s, [-8, -27, -1, 0, -0.125, 8], F32_TOL, "pow(x, 3) gpu");
    for (const t of [ag, bg, pg, fg, sg, zg]) t.dispose();
  },
});

// ---------------------------------------------------------------------------------------
// Rounding ties

const TIES = [0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, -3.5, 1e6 + 0.5, 0.49999997, -2.4, 2.6];
const TIES_EVEN = [0, 2, 2, 4, -0, -2, -2, -4, 1e6, 0, -2, 3];

Deno.test("round: ties go to the even neighbour on the cpu (f32 and f64)", () => {
  assertExact(round(fromArray(TIES, { device: "cpu" })).dataSync(), TIES_EVEN, "round f32");
  assertExact(
    round(fromArray(TIES, { device: "cpu", dtype: "f64" })).dataSync(),
    TIES_EVEN,
    "round f64",
  );
});

Deno.test({
  name: "round: ties go to the even neighbour on the gpu",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const y = round(fromArray(TIES, { device: "gpu" }));
    assertExact(await y.data(), TIES_EVEN, "round gpu");
    y.dispose();
  },
});

// ---------------------------------------------------------------------------------------
// CPU results vs direct f64 evaluation

Deno.test("unary cpu f32 and f64 results match direct f64 formulas", () => {
  const rng = new Rng(11);
  for (const name of Object.keys(UNARY_OPS) as UnaryOpName[]) {
    const x32 = unaryInput(name, rng, 1000);
    const ref = Array.from(x32, UNARY_F64[name]);
    const y32 = unary(name, fromArray(x32, { device: "cpu" }));
    assert.equal(y32.dtype, "f32");
    assertClose(y32.dataSync(), ref, F32_TOL, `${name} f32 vs f64 formula`);
    const y64 = unary(name, fromArray(x32, { device: "cpu", dtype: "f64" }));
    assert.equal(y64.dtype, "f64");
    assertClose(y64.dataSync(), ref, F64_TOL, `${name} f64 vs f64 formula`);
  }
});

Deno.test("binary cpu f32 and f64 results match direct f64 formulas", () => {
  const rng = new Rng(12);
  for (const name of Object.keys(BINARY_OPS) as BinaryOpName[]) {
    const [a, b] = binaryInputs(name, rng, 1000);
    const ref = Array.from(a, (v, i) => BINARY_F64[name](v, b[i]));
    const y32 = binary(name, fromArray(a, { device: "cpu" }), fromArray(b, { device: "cpu" }));
    assertClose(y32.dataSync(), ref, F32_TOL, `${name} f32 vs f64 formula`);
    const y64 = binary(
      name,
      fromArray(a, { device: "cpu", dtype: "f64" }),
      fromArray(b, { device: "cpu", dtype: "f64" }),
    );
    assert.equal(y64.dtype, "f64");
    assertClose(y64.dataSync(), ref, F64_TOL, `${name} f64 vs f64 formula`);
  }
});

// ---------------------------------------------------------------------------------------
// Broadcasting

/** out[i] = f(a[ia], b[ib]) by unravelling i over the broadcast shape (independent of src/). */
function broadcastRef(
  f: (a: number, b: number) => number,
  a: ArrayLike<number>,
  aShape: readonly number[],
  b: ArrayLike<number>,
  bShape: readonly number[],
  shape: readonly number[],
): number[] {
  const n = shape.reduce((p, d) => p * d, 1);
  const offset = (i: number, s: readonly number[]) => {
    let rest = i;
    let off = 0;
    let stride = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      const idx = rest % shape[d];
      rest = Math.floor(rest / shape[d]);
      const sd = d - (shape.length - s.length);
      if (sd >= 0) {
        if (s[sd] !== 1) off += idx * stride;
        stride *= s[sd];
      }
    }
    return off;
  };
  return Array.from({ length: n }, (_, i) => f(a[offset(i, aShape)], b[offset(i, bShape)]));
}

const BROADCASTS: [number[], number[], number[]][] = [
  [[3, 1], [1, 4], [3, 4]],
  [[2, 3, 4], [4], [2, 3, 4]],
  [[4], [2, 3, 4], [2, 3, 4]],
  [[5, 1, 7], [1, 6, 1], [5, 6, 7]],
  [[], [], []],
  [[], [2, 3], [2, 3]],
  [[2, 3], [], [2, 3]],
  [[1], [3, 1], [3, 1]],
  [[2, 1, 3, 1, 2, 1, 3, 2], [1, 2, 1, 3, 1, 2, 1, 2], [2, 2, 3, 3, 2, 2, 3, 2]],
  [[2, 1, 3, 1, 2, 1, 3, 2], [2, 1, 3, 1, 2, 1, 3, 2], [2, 1, 3, 1, 2, 1, 3, 2]],
  [[1, 1, 1, 1, 1, 1, 1, 5], [3, 1, 1, 1, 1, 1, 2, 1], [3, 1, 1, 1, 1, 1, 2, 5]],
];

function randTensor(rng: Rng, shape: number[], lo = -3, hi = 3, dtype: "f32" | "f64" = "f32") {
  const n = shape.reduce((p, d) => p * d, 1);
  return fromArray(uniform(rng, n, lo, hi), { shape, device: "cpu", dtype });
}

Deno.test("broadcasting on the cpu matches an index-by-index reference (f32 and f64)", () => {
  const rng = new Rng(21);
  for (const [as, bs, out] of BROADCASTS) {
    for (const dtype of ["f32", "f64"] as const) {
      const a = randTensor(rng, as, -3, 3, dtype);
      const b = randTensor(rng, bs, 0.5, 3, dtype);
      for (const name of ["sub", "div", "maximum", "lt"] as const) {
        const y = binary(name, a, b);
        assert.deepEqual(y.shape, out, `${name} ${JSON.stringify([as, bs])} shape`);
        const ref = broadcastRef(BINARY_F64[name], a.dataSync(), as, b.dataSync(), bs, out);
        assertClose(
          y.dataSync(),
          ref,
          dtype === "f64" ? F64_TOL : F32_TOL,
          `${name} ${JSON.stringify([as, bs])} ${dtype}`,
        );
      }
    }
  }
});

Deno.test({
  name: "broadcasting on the gpu equals the cpu for every binary op",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const rng = new Rng(22);
    const cpu: Tensor[] = [];
    const gpuOut: Tensor[] = [];
    const labels: string[] = [];
    for (const [as, bs, out] of BROADCASTS) {
      const a = randTensor(rng, as, 0.5, 3);
      const b = randTensor(rng, bs, 0.5, 3);
      const ag = a.gpu();
      const bg = b.gpu();
      for (const name of Object.keys(BINARY_OPS) as BinaryOpName[]) {
        cpu.push(binary(name, a, b));
        const y = binary(name, ag, bg);
        assert.deepEqual(y.shape, out);
        gpuOut.push(y);
        labels.push(`${name} ${JSON.stringify(as)} ${JSON.stringify(bs)}`);
      }
      ag.dispose();
      bg.dispose();
    }
    const got = await readAll(gpuOut);
    got.forEach((g, k) => assertClose(g, cpu[k].dataSync(), F32_TOL, labels[k]));
    gpuOut.forEach((t) => t.dispose());
  },
});

Deno.test({
  name: "broadcasting with operands sharing values: x op x and x op x[row]",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const x = fromArray([[1, 2, 3], [4, 5, 6]], { device: "cpu" });
    const row = fromArray([[1, 5, 3]], { device: "cpu" });
    const xg = x.gpu();
    const rg = row.gpu();
    const outs = [sub(xg, xg), eq(xg, rg), ge(rg, xg), div(rg, xg)];
    const got = await readAll(outs);
    assertExact(got[0], [0, 0, 0, 0, 0, 0], "x - x");
    assertExact(got[1], [1, 0, 1, 0, 1, 0], "x == row");
    assertExact(got[2], [1, 1, 1, 0, 1, 0], "row >= x");
    assertClose(got[3], [1, 2.5, 1, 0.25, 1, 0.5], F32_TOL, "row / x");
    assertExact(eq(x, row).dataSync(), got[1], "cpu x == row");
    for (const t of [xg, rg, ...outs]) t.dispose();
  },
});

// ---------------------------------------------------------------------------------------
// Scalar operands

const SCALAR_CASES: [string, (x: Tensor) => Tensor, (v: number) => number][] = [
  ["sub(2, x)", (x) => sub(2, x), (v) => 2 - v],
  ["sub(x, 2)", (x) => sub(x, 2), (v) => v - 2],
  ["div(x, 3)", (x) => div(x, 3), (v) => v / 3],
  ["div(3, x)", (x) => div(3, x), (v) => 3 / v],
  ["add(0.25, x)", (x) => add(0.25, x), (v) => 0.25 + v],
  ["mul(x, -1.5)", (x) => mul(x, -1.5), (v) => v * -1.5],
  ["pow(x, 2)", (x) => pow(x, 2), (v) => v * v],
  ["pow(2, x)", (x) => pow(2, x), (v) => 2 ** v],
  ["maximum(x, 1)", (x) => maximum(x, 1), (v) => (v > 1 ? v : 1)],
  ["minimum(1, x)", (x) => minimum(1, x), (v) => (v < 1 ? v : 1)],
  ["lt(x, 1)", (x) => lt(x, 1), (v) => (v < 1 ? 1 : 0)],
  ["gt(1, x)", (x) => gt(1, x), (v) => (1 > v ? 1 : 0)],
  ["le(x, 1)", (x) => le(x, 1), (v) => (v <= 1 ? 1 : 0)],
  ["ge(1, x)", (x) => ge(1, x), (v) => (1 >= v ? 1 : 0)],
  ["eq(x, 1)", (x) => eq(x, 1), (v) => (v === 1 ? 1 : 0)],
  ["ne(1, x)", (x) => ne(1, x), (v) => (v !== 1 ? 1 : 0)],
];

function scalarInput(n: number): Float32Array {
  const x = uniform(new Rng(31), n, 0.2, 4);
  for (let i = 0; i < n; i += 3) x[i] = 1; // exact ties with the scalar
  return x;
}

Deno.test("scalar operands on either side: cpu matches direct evaluation (f32, f64)", () => {
  const xv = scalarInput(257);
  for (const dtype of ["f32", "f64"] as const) {
    const x = fromArray(xv, { device: "cpu", dtype });
    for (const [label, f, ref] of SCALAR_CASES) {
      const y = f(x);
      assert.deepEqual(y.shape, [257]);
      assert.equal(y.dtype, dtype);
      assertClose(
        y.dataSync(),
        Array.from(xv, ref),
        dtype === "f64" ? F64_TOL : F32_TOL,
        `${label} ${dtype}`,
      );
    }
  }
});

Deno.test({
  name: "scalar operands on either side: gpu == cpu",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    for (const n of [1, 257, 100_003]) {
      const x = fromArray(scalarInput(n), { device: "cpu" });
      const xg = x.gpu();
      const outs = SCALAR_CASES.map(([, f]) => f(xg));
      const got = await readAll(outs);
      SCALAR_CASES.forEach(([label, f], k) => {
        assertClose(got[k], f(x).dataSync(), F32_TOL, `${label} n=${n}`);
      });
      for (const t of [xg, ...outs]) t.dispose();
    }
    // A scalar-shaped tensor [] against a scalar number.
    const s = fromArray(5, { device: "gpu" });
    const y = sub(2, s);
    assert.deepEqual(y.shape, []);
    assert.equal(await y.item(), -3);
    s.dispose();
    y.dispose();
  },
});

// ---------------------------------------------------------------------------------------
// Empty tensors

const EMPTY_CASES: [number[], number[], number[]][] = [
  [[0], [0], [0]],
  [[3, 0], [3, 0], [3, 0]],
  [[3, 0], [1, 0], [3, 0]],
  [[3, 0], [3, 1], [3, 0]],
  [[0], [1], [0]],
  [[2, 0, 4], [4], [2, 0, 4]],
];

Deno.test("empty tensors give empty results on the cpu", () => {
  for (const [as, bs, out] of EMPTY_CASES) {
    const a = fromArray(new Float32Array(as.reduce((p, d) => p * d, 1)), { shape: as });
    const b = fromArray(new Float32Array(bs.reduce((p, d) => p * d, 1)).fill(1), { shape: bs });
    const y = add(a, b);
    assert.deepEqual(y.shape, out);
    assert.equal(y.size, 0);
    assert.equal(y.dataSync().length, 0);
  }
  for (const shape of [[0], [3, 0]]) {
    const x = fromArray(new Float32Array(0), { shape, device: "cpu" });
    for (const name of Object.keys(UNARY_OPS) as UnaryOpName[]) {
      const y = unary(name, x);
      assert.deepEqual(y.shape, shape, name);
      assert.equal(y.dataSync().length, 0);
    }
    for (const y of [sub(2, x), div(x, 3)]) {
      assert.deepEqual(y.shape, shape);
      assert.equal(y.size, 0);
    }
  }
});

Deno.test({
  name: "empty tensors give empty results on the gpu",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const outs: Tensor[] = [];
    const shapes: number[][] = [];
    for (const [as, bs, out] of EMPTY_CASES) {
      const a = fromArray(new Float32Array(as.reduce((p, d) => p * d, 1)), {
        shape: as,
        device: "gpu",
      });
      const b = fromArray(new Float32Array(bs.reduce((p, d) => p * d, 1)).fill(1), {
        shape: bs,
        device: "gpu",
      });
      assert.equal(a.device, "gpu");
      for (const name of Object.keys(BINARY_OPS) as BinaryOpName[]) {
        outs.push(binary(name, a, b));
        shapes.push(out);
      }
    }
    for (const shape of [[0], [3, 0]]) {
      const x = fromArray(new Float32Array(0), { shape, device: "gpu" });
      for (const name of Object.keys(UNARY_OPS) as UnaryOpName[]) {
        outs.push(unary(name, x));
        shapes.push(shape);
      }
      outs.push(sub(2, x), div(x, 3));
      shapes.push(shape, shape);
    }
    // Mixed with a non-empty tensor: the read must still work in one call.
    const one = fromArray([7], { device: "gpu" });
    const got = await readAll([...outs, one]);
    outs.forEach((t, k) => {
      assert.equal(t.device, "gpu");
      assert.deepEqual(t.shape, shapes[k]);
      assert.equal(t.size, 0);
      assert.equal(got[k].length, 0);
    });
    assertExact(got[outs.length], [7], "non-empty neighbour");
    assert.deepEqual(await outs[0].toArray(), []);
    assert.deepEqual(await fromArray([], { shape: [3, 0], device: "gpu" }).toArray(), [[], [], []]);
  },
});

// ---------------------------------------------------------------------------------------
// Comparisons and NaN

const CMP_A = [1, 2, 3, NaN, NaN, 0, -0, Infinity, -Infinity, 2];
const CMP_B = [1, 3, 2, 1, NaN, -0, 0, Infinity, 5, NaN];
const CMP_EXPECTED: Record<string, number[]> = {
  eq: [1, 0, 0, 0, 0, 1, 1, 1, 0, 0],
  ne: [0, 1, 1, 1, 1, 0, 0, 0, 1, 1],
  lt: [0, 1, 0, 0, 0, 0, 0, 0, 1, 0],
  le: [1, 1, 0, 0, 0, 1, 1, 1, 1, 0],
  gt: [0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
  ge: [1, 0, 1, 0, 0, 1, 1, 1, 0, 0],
};
const CMP_FNS = { eq, ne, lt, le, gt, ge } as const;

Deno.test("comparisons produce exactly 0/1 on the cpu, NaN compares false (ne true)", () => {
  for (const dtype of ["f32", "f64"] as const) {
    const a = fromArray(CMP_A, { device: "cpu", dtype });
    const b = fromArray(CMP_B, { device: "cpu", dtype });
    for (const [name, f] of Object.entries(CMP_FNS)) {
      assertExact(f(a, b).dataSync(), CMP_EXPECTED[name], `${name} ${dtype}`);
    }
  }
});

Deno.test({
  name: "comparisons produce exactly 0/1 on the gpu, NaN compares false (ne true)",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const a = fromArray(CMP_A, { device: "gpu" });
    const b = fromArray(CMP_B, { device: "gpu" });
    const names = Object.keys(CMP_FNS) as (keyof typeof CMP_FNS)[];
    const outs = names.map((name) => CMP_FNS[name](a, b));
    const got = await readAll(outs);
    names.forEach((name, k) => assertExact(got[k], CMP_EXPECTED[name], `${name} gpu`));
    for (const t of [a, b, ...outs]) t.dispose();
  },
});

const NAN_A = [NaN, 1, 2, NaN, -Infinity, 3, -0];
const NAN_B = [0, NaN, 1, NaN, 4, Infinity, 5];
const MAX_EXPECTED = [NaN, NaN, 2, NaN, 4, Infinity, 5];
const MIN_EXPECTED = [NaN, NaN, 1, NaN, -Infinity, 3, -0];

Deno.test("maximum/minimum propagate NaN from either side on the cpu", () => {
  for (const dtype of ["f32", "f64"] as const) {
    const a = fromArray(NAN_A, { device: "cpu", dtype });
    const b = fromArray(NAN_B, { device: "cpu", dtype });
    assertExact(maximum(a, b).dataSync(), MAX_EXPECTED, `maximum ${dtype}`);
    assertExact(minimum(a, b).dataSync(), MIN_EXPECTED, `minimum ${dtype}`);
    assertExact(maximum(b, a).dataSync(), MAX_EXPECTED, `maximum swapped ${dtype}`);
    assertExact(minimum(b, a).dataSync(), MIN_EXPECTED, `minimum swapped ${dtype}`);
    assertExact(maximum(a, 0).dataSync(), [NaN, 1, 2, NaN, 0, 3, 0], `maximum(a, 0) ${dtype}`);
    assertExact(minimum(0, b).dataSync(), [0, NaN, 0, NaN, 0, 0, 0], `minimum(0, b) ${dtype}`);
  }
});

Deno.test({
  name: "maximum/minimum propagate NaN from either side on the gpu",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const a = fromArray(NAN_A, { device: "gpu" });
    const b = fromArray(NAN_B, { device: "gpu" });
    const outs = [
      maximum(a, b),
      minimum(a, b),
      maximum(b, a),
      minimum(b, a),
      maximum(a, 0),
      minimum(0, b),
      // Broadcast path (MODE 1) too.
      maximum(a.reshape(7, 1), fromArray([NaN, 0], { device: "gpu" })),
    ];
    const got = await readAll(outs);
    assertExact(got[0], MAX_EXPECTED, "maximum gpu");
    assertExact(got[1], MIN_EXPECTED, "minimum gpu");
    assertExact(got[2], MAX_EXPECTED, "maximum swapped gpu");
    assertExact(got[3], MIN_EXPECTED, "minimum swapped gpu");
    assertExact(got[4], [NaN, 1, 2, NaN, 0, 3, 0], "maximum(a, 0) gpu");
    assertExact(got[5], [0, NaN, 0, NaN, 0, 0, 0], "minimum(0, b) gpu");
    assert.ok(got[6].filter((_, i) => i % 2 === 0).every(Number.isNaN), "max with NaN column");
    assertExact(
      got[6].filter((_, i) => i % 2 === 1),
      [NaN, 1, 2, NaN, 0, 3, 0],
      "max with 0 column",
    );
    for (const t of [a, b, ...outs]) t.dispose();
  },
});
