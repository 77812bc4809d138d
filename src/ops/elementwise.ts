/**
 * Elementwise ops: unary math and activations, and binary arithmetic/comparisons with
 * NumPy broadcasting and scalar operands. GPU: kernels/unary.wgsl, kernels/binary.wgsl.
 * Each op's CPU twin is the scalar function in the tables below.
 *
 * @module
 */

import { kernelCall } from "../cpu/call.ts";
import { gpuRuntime } from "../gpu/runtime.ts";
import { grid2d, UniformWriter } from "../gpu/uniforms.ts";
import { broadcastShapes, broadcastStrides, checkRank } from "../tensor/shape.ts";
import { emptyGpu, hostArray, shapeSize, Tensor } from "../tensor/tensor.ts";
import { unbroadcast } from "./reduce.ts";
import { type BackwardRule, defineOp, type OpImpl, runOp } from "./registry.ts";

const SELU_LAMBDA = 1.0507009873554805;
const SELU_ALPHA = 1.6732632423543772;

/** Round half to even (Julia's and WGSL's `round`). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}

function sigmScalar(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** A unary op's kernel code and CPU scalar function. */
export interface UnaryOpEntry {
  /** Value of the override OP in unary.wgsl. */
  code: number;
  /** The CPU twin. */
  f: (x: number) => number;
}

/** A binary op's kernel code and CPU scalar function. */
export interface BinaryOpEntry {
  /** Value of the override OP in binary.wgsl. */
  code: number;
  /** The CPU twin. */
  f: (a: number, b: number) => number;
}

/** Names of the unary ops. */
export type UnaryOpName =
  | "neg"
  | "abs"
  | "sign"
  | "exp"
  | "log"
  | "log1p"
  | "expm1"
  | "sqrt"
  | "rsqrt"
  | "square"
  | "tanh"
  | "sigm"
  | "relu"
  | "elu"
  | "selu"
  | "softplus"
  | "sin"
  | "cos"
  | "floor"
  | "ceil"
  | "round";

/** Names of the binary ops. */
export type BinaryOpName =
  | "add"
  | "sub"
  | "mul"
  | "div"
  | "pow"
  | "maximum"
  | "minimum"
  | "eq"
  | "ne"
  | "lt"
  | "le"
  | "gt"
  | "ge";

/** Unary ops: kernel code (the override OP in unary.wgsl) and the CPU scalar function. */
export const UNARY_OPS: Readonly<Record<UnaryOpName, UnaryOpEntry>> = {
  neg: { code: 0, f: (x: number) => -x },
  abs: { code: 1, f: Math.abs },
  sign: { code: 2, f: (x: number) => (x > 0 ? 1 : x < 0 ? -1 : x) },
  exp: { code: 3, f: Math.exp },
  log: { code: 4, f: Math.log },
  log1p: { code: 5, f: Math.log1p },
  expm1: { code: 6, f: Math.expm1 },
  sqrt: { code: 7, f: Math.sqrt },
  rsqrt: { code: 8, f: (x: number) => 1 / Math.sqrt(x) },
  square: { code: 9, f: (x: number) => x * x },
  tanh: { code: 10, f: Math.tanh },
  sigm: { code: 11, f: sigmScalar },
  relu: { code: 12, f: (x: number) => (x <= 0 ? 0 : x) }, // NaN stays NaN (Julia's max(0, NaN))
  elu: { code: 13, f: (x: number) => (x > 0 ? x : Math.expm1(x)) },
  selu: { code: 14, f: (x: number) => SELU_LAMBDA * (x > 0 ? x : SELU_ALPHA * Math.expm1(x)) },
  softplus: { code: 15, f: (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))) },
  sin: { code: 16, f: Math.sin },
  cos: { code: 17, f: Math.cos },
  floor: { code: 18, f: Math.floor },
  ceil: { code: 19, f: Math.ceil },
  round: { code: 20, f: roundHalfEven },
};

function nanAware(f: (a: number, b: number) => number): (a: number, b: number) => number {
  return (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : f(a, b));
}

/** Binary ops: kernel code (the override OP in binary.wgsl) and the CPU scalar function. */
export const BINARY_OPS: Readonly<Record<BinaryOpName, BinaryOpEntry>> = {
  add: { code: 0, f: (a: number, b: number) => a + b },
  sub: { code: 1, f: (a: number, b: number) => a - b },
  mul: { code: 2, f: (a: number, b: number) => a * b },
  div: { code: 3, f: (a: number, b: number) => a / b },
  pow: { code: 4, f: Math.pow },
  maximum: { code: 5, f: nanAware(Math.max) },
  minimum: { code: 6, f: nanAware(Math.min) },
  eq: { code: 7, f: (a: number, b: number) => Number(a === b) },
  ne: { code: 8, f: (a: number, b: number) => Number(a !== b) },
  lt: { code: 9, f: (a: number, b: number) => Number(a < b) },
  le: { code: 10, f: (a: number, b: number) => Number(a <= b) },
  gt: { code: 11, f: (a: number, b: number) => Number(a > b) },
  ge: { code: 12, f: (a: number, b: number) => Number(a >= b) },
};

/** A unary op's derivative: dx from dy, x and y = f(x). */
export type UnaryGrad = (dy: number, x: number, y: number) => number;

/**
 * Derivatives of the unary ops (CPU twins of kernels/unary_grad.wgsl). sign, floor,
 * ceil and round are absent: their gradient is zero (Knet's `@zerograd`).
 */
export const UNARY_GRADS: Readonly<Partial<Record<UnaryOpName, UnaryGrad>>> = {
  neg: (dy) => -dy,
  abs: (dy, x) => dy * Math.sign(x),
  exp: (dy, _x, y) => dy * y,
  log: (dy, x) => dy / x,
  log1p: (dy, x) => dy / (1 + x),
  expm1: (dy, _x, y) => dy * (y + 1),
  sqrt: (dy, _x, y) => dy * 0.5 / y,
  rsqrt: (dy, _x, y) => -0.5 * dy * y * y * y,
  square: (dy, x) => 2 * dy * x,
  tanh: (dy, _x, y) => dy * (1 - y * y),
  sigm: (dy, _x, y) => dy * y * (1 - y),
  relu: (dy, x) => (x > 0 ? dy : 0),
  elu: (dy, x, y) => (x > 0 ? dy : dy * (y + 1)),
  selu: (dy, x, y) => (x > 0 ? SELU_LAMBDA * dy : dy * (y + SELU_LAMBDA * SELU_ALPHA)),
  softplus: (dy, x) => dy * sigmScalar(x),
  sin: (dy, x) => dy * Math.cos(x),
  cos: (dy, x) => -dy * Math.sin(x),
};

// ---------------------------------------------------------------------------------------
// CPU backend (kernels/cpu/elementwise.c)

/** Unary ops the CPU kernels leave to the TypeScript twins (rare, need sin/cos). */
const UNARY_TS_ONLY: ReadonlySet<UnaryOpName> = new Set(["sin", "cos"]);
/** Unary ops that cost a transcendental function per element. */
const UNARY_HEAVY: ReadonlySet<UnaryOpName> = new Set([
  "exp",
  "log",
  "log1p",
  "expm1",
  "tanh",
  "sigm",
  "elu",
  "selu",
  "softplus",
]);

function unaryWork(name: UnaryOpName, n: number): number {
  return UNARY_HEAVY.has(name) ? 16 * n : n;
}

function unaryWasm(name: UnaryOpName): OpImpl<Record<string, never>> | undefined {
  if (UNARY_TS_ONLY.has(name)) return undefined;
  const code = UNARY_OPS[name].code;
  return ([x]) =>
    kernelCall(name, (k) => {
      const [y, py] = k.out(x.shape);
      if (y.size > 0) k.run("unary", [code, k.in(x), py, x.size], unaryWork(name, x.size));
      return y;
    });
}

function unaryGradWasm(name: UnaryOpName): OpImpl<Record<string, never>> | undefined {
  if (UNARY_TS_ONLY.has(name)) return undefined;
  const code = UNARY_OPS[name].code;
  return ([dy, x, y]) =>
    kernelCall(`${name}_grad`, (k) => {
      const [dx, pdx] = k.out(x.shape);
      if (dx.size > 0) {
        // relu's gradient never reads y (the kernel skips it)
        const py = name === "relu" ? 0 : k.in(y);
        k.run("unary_grad", [code, k.in(dy), k.in(x), py, pdx, x.size], unaryWork(name, x.size));
      }
      return dx;
    });
}

function binaryWasm(name: BinaryOpName, inputs: readonly Tensor[], attrs: BinaryAttrs): Tensor {
  const code = BINARY_OPS[name].code;
  return kernelCall(name, (k) => {
    if (attrs.scalarSide) {
      const [x] = inputs;
      const [y, py] = k.out(x.shape);
      if (y.size === 0) return y;
      const px = k.in(x);
      const mode = attrs.scalarSide === "b" ? 2 : 3;
      const [pa, pb] = mode === 2 ? [px, 0] : [0, px];
      k.run("binary", [code, mode, x.size, 0, 0, 0, 0, pa, pb, py, attrs.scalar!], x.size);
      return y;
    }
    const [a, b] = inputs;
    const shape = broadcastShapes(name, a.shape, b.shape);
    const [y, py] = k.out(shape);
    if (y.size === 0) return y;
    const same = sameShape(a.shape, shape) && sameShape(b.shape, shape);
    const dims = same ? [y.size] : shape;
    const sa = same ? [1] : broadcastStrides(a.shape, shape);
    const sb = same ? [1] : broadcastStrides(b.shape, shape);
    k.run("binary", [
      code,
      0,
      y.size,
      dims.length,
      k.ints(dims),
      k.ints(sa),
      k.ints(sb),
      k.in(a),
      k.in(b),
      py,
      0,
    ], y.size);
    return y;
  });
}

// ---------------------------------------------------------------------------------------
// Unary

const unaryDefs = new Map<UnaryOpName, ReturnType<typeof defineUnary>>();

/** The op computing a unary op's input gradient from (dy, x, y) in one pass. */
function defineUnaryGrad(name: UnaryOpName, g: UnaryGrad) {
  return defineOp<Record<string, never>>({
    name: `${name}_grad`,
    wasm: unaryGradWasm(name),
    cpu: ([dy, x, y]) => {
      const [d, xs, ys] = [dy.host(name), x.host(name), y.host(name)];
      const out = hostArray(x.dtype, x.size);
      for (let i = 0; i < out.length; i++) out[i] = g(d[i], xs[i], ys[i]);
      return new Tensor(x.shape, x.dtype, out);
    },
    gpu: ([dy, x, y]) => {
      const dx = emptyGpu(x.shape);
      if (x.size === 0) return dx;
      gpuRuntime().dispatch({
        kernel: "unary_grad",
        entryPoint: "main_vec4",
        constants: { OP: UNARY_OPS[name].code },
        uniforms: new UniformWriter().u32(x.size).build(),
        buffers: [dy.binding(name), x.binding(name), y.binding(name), dx.binding(name)],
        workgroups: grid2d(Math.ceil(x.size / 1024)),
      });
      return dx;
    },
  });
}

function unaryBackward(name: UnaryOpName): BackwardRule<Record<string, never>> | undefined {
  const g = UNARY_GRADS[name];
  if (!g) return undefined;
  const gradOp = defineUnaryGrad(name, g);
  return (dy, [x], y) => [runOp(gradOp, [dy, x, y], {})];
}

function defineUnary(name: UnaryOpName) {
  const { code, f } = UNARY_OPS[name];
  return defineOp<Record<string, never>>({
    name,
    backward: unaryBackward(name),
    wasm: unaryWasm(name),
    cpu: ([x]) => {
      const src = x.host(name);
      const out = hostArray(x.dtype, x.size);
      for (let i = 0; i < src.length; i++) out[i] = f(src[i]);
      return new Tensor(x.shape, x.dtype, out);
    },
    gpu: ([x]) => {
      const y = emptyGpu(x.shape);
      if (x.size === 0) return y;
      const rt = gpuRuntime();
      rt.dispatch({
        kernel: "unary",
        entryPoint: "main_vec4",
        constants: { OP: code },
        uniforms: new UniformWriter().u32(x.size).f32(0).build(),
        buffers: [x.binding(name), y.binding(name)],
        workgroups: grid2d(Math.ceil(x.size / 1024)),
      });
      return y;
    },
  });
}

for (const name of Object.keys(UNARY_OPS) as UnaryOpName[]) unaryDefs.set(name, defineUnary(name));

/** Applies the unary op `name` elementwise. */
export function unary(name: UnaryOpName, x: Tensor): Tensor {
  const def = unaryDefs.get(name);
  if (!def) throw new Error(`unary: unknown op '${name}'`);
  return runOp(def, [x], {});
}

// ---------------------------------------------------------------------------------------
// Binary

interface BinaryAttrs {
  /** Scalar operand value, when one side is a number. */
  scalar?: number;
  /** Which side the scalar is on. */
  scalarSide?: "a" | "b";
}

function binaryCpu(name: BinaryOpName, inputs: readonly Tensor[], attrs: BinaryAttrs): Tensor {
  const f = BINARY_OPS[name].f;
  if (attrs.scalarSide) {
    const [x] = inputs;
    const src = x.host(name);
    const out = hostArray(x.dtype, x.size);
    const s = attrs.scalar as number;
    if (attrs.scalarSide === "b") { for (let i = 0; i < src.length; i++) out[i] = f(src[i], s); }
    else for (let i = 0; i < src.length; i++) out[i] = f(s, src[i]);
    return new Tensor(x.shape, x.dtype, out);
  }
  const [a, b] = inputs;
  const shape = broadcastShapes(name, a.shape, b.shape);
  const n = shapeSize(shape);
  const out = hostArray(a.dtype, n);
  const av = a.host(name);
  const bv = b.host(name);
  if (sameShape(a.shape, shape) && sameShape(b.shape, shape)) {
    for (let i = 0; i < n; i++) out[i] = f(av[i], bv[i]);
    return new Tensor(shape, a.dtype, out);
  }
  const sa = broadcastStrides(a.shape, shape);
  const sb = broadcastStrides(b.shape, shape);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let ia = 0;
  let ib = 0;
  for (let i = 0; i < n; i++) {
    out[i] = f(av[ia], bv[ib]);
    // Increment the multi-index (last dimension fastest).
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      ia += sa[d];
      ib += sb[d];
      if (idx[d] < shape[d]) break;
      ia -= sa[d] * shape[d];
      ib -= sb[d] * shape[d];
      idx[d] = 0;
    }
  }
  return new Tensor(shape, a.dtype, out);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function binaryGpu(name: BinaryOpName, inputs: readonly Tensor[], attrs: BinaryAttrs): Tensor {
  const code = BINARY_OPS[name].code;
  const rt = gpuRuntime();
  if (attrs.scalarSide) {
    const [x] = inputs;
    const y = emptyGpu(x.shape);
    if (x.size === 0) return y;
    rt.dispatch({
      kernel: "binary",
      entryPoint: "main_vec4",
      constants: { OP: code, MODE: attrs.scalarSide === "b" ? 2 : 3 },
      // The full Params block (shape/stride arrays unused but part of the binding size).
      uniforms: new UniformWriter().u32(x.size).u32(0).f32(attrs.scalar as number).u32(0)
        .u32Array([], 8).u32Array([], 8).u32Array([], 8).build(),
      // The unused operand binds the input again (both bindings are read-only).
      buffers: [x.binding(name), x.binding(name), y.binding(name)],
      workgroups: grid2d(Math.ceil(x.size / 1024)),
    });
    return y;
  }
  const [a, b] = inputs;
  const shape = broadcastShapes(name, a.shape, b.shape);
  checkRank(name, shape);
  const y = emptyGpu(shape);
  if (y.size === 0) return y;
  const same = sameShape(a.shape, shape) && sameShape(b.shape, shape);
  const w = new UniformWriter().u32(y.size).u32(shape.length).f32(0).u32(0);
  w.u32Array(shape, 8);
  w.u32Array(same ? [] : broadcastStrides(a.shape, shape), 8);
  w.u32Array(same ? [] : broadcastStrides(b.shape, shape), 8);
  rt.dispatch({
    kernel: "binary",
    entryPoint: same ? "main_vec4" : "main",
    constants: { OP: code, MODE: same ? 0 : 1 },
    uniforms: w.build(),
    buffers: [a.binding(name), b.binding(name), y.binding(name)],
    workgroups: grid2d(Math.ceil(y.size / (same ? 1024 : 256))),
  });
  return y;
}

const binaryDefs = new Map<BinaryOpName, ReturnType<typeof defineBinary>>();

function defineBinary(name: BinaryOpName) {
  return defineOp<BinaryAttrs>({
    name,
    cpu: (inputs, attrs) => binaryCpu(name, inputs, attrs),
    gpu: (inputs, attrs) => binaryGpu(name, inputs, attrs),
    // pow stays a TypeScript twin on the CPU (rare; needs a real powf)
    wasm: name === "pow" ? undefined : (inputs, attrs) => binaryWasm(name, inputs, attrs),
    backward: BINARY_BACKWARD[name],
  });
}

/** ∂(a ∘ b) as [∂a, ∂b] for tensor operands, before unbroadcasting (null: not needed). */
type PairGrad = (dy: Tensor, a: Tensor, b: Tensor, y: Tensor, needs: readonly boolean[]) => [
  Tensor | null,
  Tensor | null,
];
/** ∂(x ∘ s) or ∂(s ∘ x) for a tensor x and a number s. */
type ScalarGrad = (dy: Tensor, x: Tensor, s: number, y: Tensor, side: "a" | "b") => Tensor;

const bin = (name: BinaryOpName, a: Tensor | number, b: Tensor | number) => binary(name, a, b);

/** Gradients of the differentiable binary ops (comparisons have none). */
const BINARY_GRADS: Partial<Record<BinaryOpName, { pair: PairGrad; scalar: ScalarGrad }>> = {
  add: { pair: (dy) => [dy, dy], scalar: (dy) => dy },
  sub: {
    pair: (dy, _a, _b, _y, n) => [dy, n[1] ? unary("neg", dy) : null],
    scalar: (dy, _x, _s, _y, side) => (side === "b" ? dy : unary("neg", dy)),
  },
  mul: {
    pair: (dy, a, b, _y, n) => [n[0] ? bin("mul", dy, b) : null, n[1] ? bin("mul", dy, a) : null],
    scalar: (dy, _x, s) => bin("mul", dy, s),
  },
  div: {
    pair: (dy, _a, b, y, n) => [
      n[0] ? bin("div", dy, b) : null,
      n[1] ? unary("neg", bin("div", bin("mul", dy, y), b)) : null,
    ],
    scalar: (dy, x, s, y, side) =>
      side === "b" ? bin("div", dy, s) : unary("neg", bin("div", bin("mul", dy, y), x)),
  },
  pow: {
    pair: (dy, a, b, y, n) => [
      n[0] ? bin("mul", bin("mul", dy, b), bin("pow", a, bin("sub", b, 1))) : null,
      n[1] ? bin("mul", bin("mul", dy, y), unary("log", a)) : null,
    ],
    scalar: (dy, x, s, y, side) =>
      side === "b"
        ? bin("mul", bin("mul", dy, s), bin("pow", x, s - 1))
        : bin("mul", bin("mul", dy, y), Math.log(s)),
  },
  maximum: {
    pair: (dy, a, b, _y, n) => [
      n[0] ? bin("mul", dy, bin("ge", a, b)) : null,
      n[1] ? bin("mul", dy, bin("lt", a, b)) : null,
    ],
    scalar: (dy, x, s) => bin("mul", dy, bin("ge", x, s)),
  },
  minimum: {
    pair: (dy, a, b, _y, n) => [
      n[0] ? bin("mul", dy, bin("le", a, b)) : null,
      n[1] ? bin("mul", dy, bin("gt", a, b)) : null,
    ],
    scalar: (dy, x, s) => bin("mul", dy, bin("le", x, s)),
  },
};

/** Backward rules built from {@link BINARY_GRADS}, reducing broadcast gradients. */
const BINARY_BACKWARD: Partial<Record<BinaryOpName, BackwardRule<BinaryAttrs>>> = Object
  .fromEntries(
    Object.entries(BINARY_GRADS).map(([name, g]) => [
      name,
      ((dy, inputs, y, attrs, needs) => {
        if (attrs.scalarSide) {
          return [g.scalar(dy, inputs[0], attrs.scalar as number, y, attrs.scalarSide)];
        }
        const [a, b] = inputs;
        const [da, db] = g.pair(dy, a, b, y, needs);
        return [da && unbroadcast(da, a.shape), db && unbroadcast(db, b.shape)];
      }) as BackwardRule<BinaryAttrs>,
    ]),
  );

for (const name of Object.keys(BINARY_OPS) as BinaryOpName[]) {
  binaryDefs.set(name, defineBinary(name));
}

function checkScalar(name: string, v: number): void {
  if (typeof v !== "number") {
    throw new Error(`${name}: scalar operand must be a number, got ${typeof v}`);
  }
}

/** Applies the binary op `name` with broadcasting; either operand may be a number. */
export function binary(name: BinaryOpName, a: Tensor | number, b: Tensor | number): Tensor {
  const def = binaryDefs.get(name);
  if (!def) throw new Error(`binary: unknown op '${name}'`);
  if (typeof a === "number" && typeof b === "number") {
    throw new Error(`${name}: at least one operand must be a Tensor (got two numbers)`);
  }
  if (typeof b === "number") {
    checkScalar(name, b);
    return runOp(def, [a as Tensor], { scalar: b, scalarSide: "b" });
  }
  if (typeof a === "number") {
    checkScalar(name, a);
    return runOp(def, [b], { scalar: a, scalarSide: "a" });
  }
  if (a.rank > 8 || b.rank > 8) checkRank(name, a.rank > b.rank ? a.shape : b.shape);
  return runOp(def, [a, b], {});
}
