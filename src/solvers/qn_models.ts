/**
 * Quasi-Newton models (NLPModels.jl's `LBFGSModel` and `LSR1Model`): a {@link SmoothNLP}
 * whose Hessian is replaced by a limited-memory quasi-Newton operator. Objective and
 * gradient pass through to the wrapped problem (and count there); `hprod(x, v, hv)`
 * applies the operator to v and ignores x, as in NLPModels; the solver feeds the operator
 * with `push(s, y)`. The operator works on the vectors of the problem's x0 (its device and
 * dtype). No host sync in `hprod` or `push`.
 *
 * @module
 */

import type { NLPCounters, NLPMeta, SmoothNLP } from "../nlp/nlp.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { LBFGSOperator, LSR1Operator, type QuasiNewtonOperator } from "./operators.ts";

/** Options of {@link LBFGSModel}: the forward L-BFGS operator's (device and dtype from x0). */
export interface LBFGSModelOptions {
  /** Number of pairs kept (default 5). */
  mem?: number;
  /** B₀ = I/γ from the newest accepted pair (default true). */
  scaling?: boolean;
  /** Powell damping (default false). */
  damped?: boolean;
}

/** Options of {@link LSR1Model}: the L-SR1 operator's (device and dtype from x0). */
export interface LSR1ModelOptions {
  /** Number of pairs kept (default 5). */
  mem?: number;
  /** B₀ = I/γ from the newest accepted pair (default true). */
  scaling?: boolean;
}

/** A smooth problem with a quasi-Newton Hessian approximation. */
export interface QuasiNewtonNLP extends SmoothNLP {
  /** The wrapped problem. */
  readonly model: SmoothNLP;
  /** The Hessian approximation. */
  readonly op: QuasiNewtonOperator;
  /** hv ← B·v (x is ignored); returns hv. */
  hprod(x: Tensor, v: Tensor, hv: Tensor): Tensor;
  /** Updates B with the pair s = x₊ − x, y = ∇f(x₊) − ∇f(x). */
  push(s: Tensor, y: Tensor): void;
  /** Resets B to the identity. */
  reset(): void;
  /** Releases the operator's device memory (not the wrapped problem's). */
  dispose(): void;
}

/**
 * The shared part of {@link LBFGSModel} and {@link LSR1Model}: pass-through objective and
 * gradient, `hprod` = the operator, `push`/`reset`/`dispose` on the operator.
 */
export abstract class QuasiNewtonModel<Op extends QuasiNewtonOperator> implements QuasiNewtonNLP {
  /** The wrapped problem. */
  readonly model: SmoothNLP;
  /** The Hessian approximation. */
  readonly op: Op;

  /** Wraps `model` with the operator `op` (of length nvar). */
  protected constructor(model: SmoothNLP, op: Op) {
    this.model = model;
    this.op = op;
  }

  /** The wrapped problem's metadata. */
  get meta(): NLPMeta {
    return this.model.meta;
  }

  /** The wrapped problem's counters (obj/grad evaluations count there). */
  get counters(): NLPCounters {
    return this.model.counters;
  }

  /** The wrapped problem's version. */
  get version(): number {
    return this.model.version;
  }

  /** f(x) of the wrapped problem. */
  obj(x: Tensor): Tensor {
    return this.model.obj(x);
  }

  /** g ← ∇f(x) of the wrapped problem; returns g. */
  grad(x: Tensor, g: Tensor): Tensor {
    return this.model.grad(x, g);
  }

  /** f(x) and g ← ∇f(x) of the wrapped problem. */
  objgrad(x: Tensor, g: Tensor): Tensor {
    return this.model.objgrad(x, g);
  }

  /** hv ← B·v; x is ignored (NLPModels' quasi-Newton `hprod`). Returns hv. No host sync. */
  hprod(_x: Tensor, v: Tensor, hv: Tensor): Tensor {
    return this.op.apply(v, hv);
  }

  /** Updates B with s = x₊ − x, y = ∇f(x₊) − ∇f(x) (copied). No host sync. */
  push(s: Tensor, y: Tensor): void {
    this.op.push(s, y);
  }

  /** Resets B to the identity. */
  reset(): void {
    this.op.reset();
  }

  /** Releases the operator's device memory (not the wrapped problem's). */
  dispose(): void {
    this.op.dispose();
  }
}

function checkModel(kind: string, nlp: SmoothNLP): Tensor {
  const x0 = nlp?.meta?.x0;
  if (!x0 || typeof x0 !== "object" || !("shape" in x0)) {
    throw new Error(`${kind}: expected a SmoothNLP with meta.x0, got ${String(nlp)}`);
  }
  if (x0.size !== nlp.meta.nvar) {
    throw new Error(`${kind}: meta.x0 has ${x0.size} elements but nvar = ${nlp.meta.nvar}`);
  }
  return x0;
}

/**
 * NLPModels' `LBFGSModel`: the problem with a forward L-BFGS Hessian approximation
 * (`hprod` applies B; the operator is also reachable as `op`, whose `applyInverse` gives
 * H·v).
 */
export class LBFGSModel extends QuasiNewtonModel<LBFGSOperator> {
  /** Wraps `nlp` with `new LBFGSOperator(nvar, opts)` on x0's device and dtype. */
  constructor(nlp: SmoothNLP, opts: LBFGSModelOptions = {}) {
    const x0 = checkModel("LBFGSModel", nlp);
    super(
      nlp,
      new LBFGSOperator(nlp.meta.nvar, {
        ...opts,
        inverse: false,
        device: x0.device,
        dtype: x0.dtype,
      }),
    );
  }
}

/** NLPModels' `LSR1Model`: the problem with a forward L-SR1 Hessian approximation. */
export class LSR1Model extends QuasiNewtonModel<LSR1Operator> {
  /** Wraps `nlp` with `new LSR1Operator(nvar, opts)` on x0's device and dtype. */
  constructor(nlp: SmoothNLP, opts: LSR1ModelOptions = {}) {
    const x0 = checkModel("LSR1Model", nlp);
    super(
      nlp,
      new LSR1Operator(nlp.meta.nvar, { ...opts, device: x0.device, dtype: x0.dtype }),
    );
  }
}
