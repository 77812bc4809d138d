/**
 * `ADNLPModel`: any scalar function of a flat vector x, differentiated by the tape
 * (ADNLPModels.jl's role). The deterministic test problems of the solvers (quadratics,
 * Rosenbrock) are written this way, in f64 on the CPU or f32 on either device.
 *
 * @module
 */

import { diff } from "../autograd/diff.ts";
import { Param } from "../autograd/param.ts";
import { noRecord, share } from "../autograd/tape.ts";
import { copyInto, fill } from "../ops/vector.ts";
import { zeros } from "../tensor/create.ts";
import { tidy } from "../tensor/scope.ts";
import { Tensor } from "../tensor/tensor.ts";
import type { NLPCounters, NLPMeta, SmoothNLP } from "./nlp.ts";

/** Options of {@link ADNLPModel}. */
export interface ADNLPOptions {
  /** A short name for reports (default "adnlp"). */
  name?: string;
}

/** A copy of `t` on its device (a new tensor the caller owns). */
export function cloneTensor(t: Tensor): Tensor {
  if (t.device === "cpu") return new Tensor(t.shape, t.dtype, t.host("clone").slice());
  const out = zeros(t.shape, { dtype: t.dtype, device: t.device });
  copyInto(t, out);
  return out;
}

/**
 * Checks that `x` is a live tensor of `nvar` elements with the dtype and device of the
 * problem's x0 (`who` names the problem and method in the message).
 */
export function checkVars(who: string, x: unknown, x0: Tensor, nvar: number): Tensor {
  if (!(x instanceof Tensor)) {
    throw new Error(`${who}: expected x to be a Tensor, got ${x === null ? "null" : typeof x}`);
  }
  if (x.disposed) throw new Error(`${who}: x was disposed`);
  if (x.size !== nvar) {
    throw new Error(
      `${who}: x has length ${x.size} (shape [${x.shape.join(",")}]) but the problem has ` +
        `nvar = ${nvar}`,
    );
  }
  if (x.device !== x0.device || x.dtype !== x0.dtype) {
    throw new Error(
      `${who}: x is ${x.dtype} on ${x.device} but the problem is ${x0.dtype} on ${x0.device}`,
    );
  }
  return x;
}

/**
 * min f(x) for a function `f` of one tensor, its gradient from the tape. `f` must
 * return a one-element tensor and use only differentiable ops on x.
 *
 * @example
 * ```ts
 * const rosen = new ADNLPModel(
 *   (x) => ..., fromArray([-1.2, 1], [2], { dtype: "f64", device: "cpu" }),
 *   { name: "rosenbrock" },
 * );
 * ```
 */
export class ADNLPModel implements SmoothNLP {
  /** nvar = x0.size, a copy of x0 (owned by the problem), and the name. */
  readonly meta: NLPMeta;
  /** Evaluation counts. */
  readonly counters: NLPCounters = { neval_obj: 0, neval_grad: 0 };
  /** Always 0: the objective never changes. */
  readonly version: number = 0;
  readonly #f: (x: Tensor) => Tensor;

  /** Wraps `f`; `x0` is copied (its shape is the shape x is given to `f` in). */
  constructor(f: (x: Tensor) => Tensor, x0: Tensor, opts: ADNLPOptions = {}) {
    if (typeof f !== "function") throw new Error("ADNLPModel: expected f to be a function");
    if (!(x0 instanceof Tensor)) throw new Error("ADNLPModel: expected x0 to be a Tensor");
    if (x0.size === 0) throw new Error("ADNLPModel: x0 is empty (nvar must be at least 1)");
    this.#f = f;
    this.meta = { nvar: x0.size, x0: cloneTensor(x0), name: opts.name ?? "adnlp" };
  }

  #check(method: string, x: Tensor): Tensor {
    return checkVars(`ADNLPModel(${this.meta.name}).${method}`, x, this.meta.x0, this.meta.nvar);
  }

  #checkValue(y: unknown): Tensor {
    if (!(y instanceof Tensor) || y.size !== 1) {
      throw new Error(
        `ADNLPModel(${this.meta.name}): f must return a one-element tensor, got ` +
          (y instanceof Tensor ? `shape [${y.shape.join(",")}]` : String(y)),
      );
    }
    return y;
  }

  /** f(x) as a one-element tensor on x's device (the caller disposes it). */
  obj(x: Tensor): Tensor {
    this.#check("obj", x);
    const y = tidy(() => noRecord(() => this.#checkValue(this.#f(x))));
    this.counters.neval_obj++;
    return y === x ? share(x) : y;
  }

  /** g ← ∇f(x) in place; returns g. */
  grad(x: Tensor, g: Tensor): Tensor {
    this.objgrad(x, g).dispose();
    this.counters.neval_obj--;
    return g;
  }

  /** f(x) (returned, the caller disposes it) and g ← ∇f(x), one forward + one backward. */
  objgrad(x: Tensor, g: Tensor): Tensor {
    this.#check("objgrad", x);
    this.#check("objgrad (g)", g);
    if (g === x) throw new Error(`ADNLPModel(${this.meta.name}).objgrad: g and x are one tensor`);
    const p = new Param(x);
    try {
      const r = diff(() => this.#checkValue(this.#f(p)));
      const dx = r.grad(p);
      if (dx === null) fill(g, 0);
      else copyInto(dx, g);
      r.disposeGradients();
      this.counters.neval_obj++;
      this.counters.neval_grad++;
      return r.value;
    } finally {
      p.dispose();
    }
  }
}
