/**
 * The five deterministic test problems the solver tests share (f64/f32, CPU/GPU), with
 * their minimizers and curvature, and helpers to wrap them as NLP models.
 */

import { ADNLPModel } from "../src/nlp/adnlp.ts";
import { add, mul, square, sub } from "../src/ops/math.ts";
import { nrm2, sum } from "../src/ops/reduce.ts";
import { slice } from "../src/ops/shape.ts";
import { fromArray, zeros } from "../src/tensor/create.ts";
import type { DeviceName, DType, Tensor } from "../src/tensor/tensor.ts";

/** A test problem. */
export interface Problem {
  name: string;
  f: (x: Tensor) => Tensor;
  x0: number[];
  /** The minimizer. */
  xstar: number[];
  /** The smallest eigenvalue of ∇²f(x*): near x*, ‖x − x*‖ ≲ ‖∇f(x)‖/λmin. */
  lmin: number;
}

const N = 30;
/** λmin of Rosenbrock's Hessian [[802, −400], [−400, 200]] at (1, 1). */
const ROSEN_LMIN = 501 - Math.sqrt(301 ** 2 + 400 ** 2);
export const range = (n: number, f: (i: number) => number) =>
  Array.from({ length: n }, (_, i) => f(i));

/** The five problems on `device` in `dtype`. */
export function problems(dtype: DType, device: DeviceName): Problem[] {
  const c = { dtype, device };
  const w2 = fromArray([1, 4], c);
  const dg = fromArray(range(N, (i) => i + 1), c);
  // Chained (2, −1) tridiagonal: ½xᵀAx − 1ᵀx = Σ xᵢ² − Σ xᵢxᵢ₊₁ − Σ xᵢ; A x* = 1.
  const nt = 10;
  const tri = (x: Tensor) => {
    const a = slice(x, [[0, -1]]);
    const b = slice(x, [[1]]);
    return sub(sub(sum(square(x)), sum(mul(a, b))), sum(x));
  };
  const rosen = (x: Tensor) => {
    const a = slice(x, [[0, -1]]);
    const b = slice(x, [[1]]);
    return sum(add(mul(square(sub(b, square(a))), 100), square(sub(a, 1))));
  };
  // Extended Rosenbrock (Moré–Garbow–Hillstrom): the pairs (x₂ᵢ₋₁, x₂ᵢ) decoupled.
  const erosen = (x: Tensor) => {
    const a = slice(x, [[0, undefined, 2]]);
    const b = slice(x, [[1, undefined, 2]]);
    return sum(add(mul(square(sub(b, square(a))), 100), square(sub(a, 1))));
  };
  return [
    {
      name: "(x1−1)² + 4(x2−1)²",
      f: (x) => sum(mul(w2, square(sub(x, 1)))),
      x0: [0, 0],
      xstar: [1, 1],
      lmin: 2,
    },
    {
      name: "diagonal quadratic n=30",
      f: (x) => mul(sum(mul(dg, square(x))), 0.5),
      x0: range(N, () => 1),
      xstar: range(N, () => 0),
      lmin: 1,
    },
    {
      name: "tridiagonal (2,−1) quadratic n=10",
      f: tri,
      x0: range(nt, () => 0),
      xstar: range(nt, (i) => (i + 1) * (nt - i) / 2), // solves tridiag(−1,2,−1)·x = 1
      lmin: 2 - 2 * Math.cos(Math.PI / (nt + 1)),
    },
    { name: "Rosenbrock", f: rosen, x0: [-1.2, 1], xstar: [1, 1], lmin: ROSEN_LMIN },
    {
      name: "extended Rosenbrock n=30",
      f: erosen,
      x0: range(N, (i) => (i + 1) / (N + 1)),
      xstar: range(N, () => 1),
      lmin: ROSEN_LMIN,
    },
  ];
}

/** The problem as an ADNLPModel. */
export function model(p: Problem, dtype: DType, device: DeviceName = "cpu"): ADNLPModel {
  return new ADNLPModel(p.f, fromArray(p.x0, { dtype, device }), { name: p.name });
}

/** ‖∇f(x)‖ computed afresh (through a new model so the solver's counters stay put). */
export async function gradNorm(p: Problem, x: Tensor): Promise<number> {
  const m = model(p, x.dtype, x.device);
  const g = zeros([x.size], { dtype: x.dtype, device: x.device });
  m.objgrad(x, g).dispose();
  const v = (await nrm2(g).data())[0];
  g.dispose();
  return v;
}
