/**
 * Elementwise ops: unary math and activations, and binary arithmetic/comparisons with
 * NumPy broadcasting and scalar operands. GPU: kernels/unary.wgsl, kernels/binary.wgsl.
 * Each op's CPU twin is the scalar function in the tables below.
 *
 * @module
 */

import { gpuRuntime } from "../gpu/runtime.ts";
import { grid2d, UniformWriter } from "../gpu/uniforms.ts";
import { broadcastShapes, broadcastStrides, checkRank } from "../tensor/shape.ts";
import { emptyGpu, hostArray, shapeSize, Tensor } from "../tensor/tensor.ts";
import { defineOp, runOp } from "./registry.ts";

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
  relu: { code: 12, f: (x: number) => (x > 0 ? x : 0) },
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

// ---------------------------------------------------------------------------------------
// Unary

const unaryDefs = new Map<UnaryOpName, ReturnType<typeof defineUnary>>();

function defineUnary(name: UnaryOpName) {
  const { code, f } = UNARY_OPS[name];
  return defineOp<Record<string, never>>({
    name,
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
        buffers: [x.buffer(name), y.buffer(name)],
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
      buffers: [x.buffer(name), x.buffer(name), y.buffer(name)],
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
    buffers: [a.buffer(name), b.buffer(name), y.buffer(name)],
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
  });
}

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
