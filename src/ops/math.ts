/**
 * The elementwise math API: one function per unary and binary op (see elementwise.ts).
 *
 * @module
 */

import type { Tensor } from "../tensor/tensor.ts";
import { binary, unary } from "./elementwise.ts";

/** −x. Elementwise. */
export const neg = (x: Tensor): Tensor => unary("neg", x);
/** |x|. Elementwise. */
export const abs = (x: Tensor): Tensor => unary("abs", x);
/** sign(x): −1, 0 or 1. Elementwise. */
export const sign = (x: Tensor): Tensor => unary("sign", x);
/** eˣ. Elementwise. */
export const exp = (x: Tensor): Tensor => unary("exp", x);
/** Natural logarithm. Elementwise. */
export const log = (x: Tensor): Tensor => unary("log", x);
/** log(1 + x), accurate for small x. Elementwise. */
export const log1p = (x: Tensor): Tensor => unary("log1p", x);
/** eˣ − 1, accurate for small x. Elementwise. */
export const expm1 = (x: Tensor): Tensor => unary("expm1", x);
/** √x. Elementwise. */
export const sqrt = (x: Tensor): Tensor => unary("sqrt", x);
/** 1/√x. Elementwise. */
export const rsqrt = (x: Tensor): Tensor => unary("rsqrt", x);
/** x². Elementwise. */
export const square = (x: Tensor): Tensor => unary("square", x);
/** Hyperbolic tangent. Elementwise. */
export const tanh = (x: Tensor): Tensor => unary("tanh", x);
/** Logistic sigmoid 1/(1 + e⁻ˣ) (Knet's `sigm`). Elementwise. */
export const sigm = (x: Tensor): Tensor => unary("sigm", x);
/** max(x, 0). Elementwise. */
export const relu = (x: Tensor): Tensor => unary("relu", x);
/** x for x > 0, eˣ − 1 otherwise (Knet's `elu`, α = 1). Elementwise. */
export const elu = (x: Tensor): Tensor => unary("elu", x);
/** Scaled ELU with λ ≈ 1.0507, α ≈ 1.6733 (Knet's `selu`). Elementwise. */
export const selu = (x: Tensor): Tensor => unary("selu", x);
/** log(1 + eˣ), computed stably. Elementwise. */
export const softplus = (x: Tensor): Tensor => unary("softplus", x);
/** Sine. Elementwise. */
export const sin = (x: Tensor): Tensor => unary("sin", x);
/** Cosine. Elementwise. */
export const cos = (x: Tensor): Tensor => unary("cos", x);
/** Round down. Elementwise. */
export const floor = (x: Tensor): Tensor => unary("floor", x);
/** Round up. Elementwise. */
export const ceil = (x: Tensor): Tensor => unary("ceil", x);
/** Round to nearest, ties to even (like Julia). Elementwise. */
export const round = (x: Tensor): Tensor => unary("round", x);
/** a + b, with NumPy broadcasting; either operand may be a number. */
export const add = (a: Tensor | number, b: Tensor | number): Tensor => binary("add", a, b);
/** a − b, with NumPy broadcasting; either operand may be a number. */
export const sub = (a: Tensor | number, b: Tensor | number): Tensor => binary("sub", a, b);
/** a · b (elementwise), with NumPy broadcasting; either operand may be a number. */
export const mul = (a: Tensor | number, b: Tensor | number): Tensor => binary("mul", a, b);
/** a / b, with NumPy broadcasting; either operand may be a number. */
export const div = (a: Tensor | number, b: Tensor | number): Tensor => binary("div", a, b);
/** aᵇ (negative bases need integer exponents, else NaN), with NumPy broadcasting; either operand may be a number. */
export const pow = (a: Tensor | number, b: Tensor | number): Tensor => binary("pow", a, b);
/** Elementwise maximum (NaN propagates), with NumPy broadcasting; either operand may be a number. */
export const maximum = (a: Tensor | number, b: Tensor | number): Tensor => binary("maximum", a, b);
/** Elementwise minimum (NaN propagates), with NumPy broadcasting; either operand may be a number. */
export const minimum = (a: Tensor | number, b: Tensor | number): Tensor => binary("minimum", a, b);
/** 1 where a = b, else 0, with NumPy broadcasting; either operand may be a number. */
export const eq = (a: Tensor | number, b: Tensor | number): Tensor => binary("eq", a, b);
/** 1 where a ≠ b, else 0, with NumPy broadcasting; either operand may be a number. */
export const ne = (a: Tensor | number, b: Tensor | number): Tensor => binary("ne", a, b);
/** 1 where a < b, else 0, with NumPy broadcasting; either operand may be a number. */
export const lt = (a: Tensor | number, b: Tensor | number): Tensor => binary("lt", a, b);
/** 1 where a ≤ b, else 0, with NumPy broadcasting; either operand may be a number. */
export const le = (a: Tensor | number, b: Tensor | number): Tensor => binary("le", a, b);
/** 1 where a > b, else 0, with NumPy broadcasting; either operand may be a number. */
export const gt = (a: Tensor | number, b: Tensor | number): Tensor => binary("gt", a, b);
/** 1 where a ≥ b, else 0, with NumPy broadcasting; either operand may be a number. */
export const ge = (a: Tensor | number, b: Tensor | number): Tensor => binary("ge", a, b);
