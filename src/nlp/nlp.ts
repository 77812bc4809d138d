/**
 * The smooth unconstrained problem interface the solvers in src/solvers work on (what
 * NLPModels.jl's `AbstractNLPModel` is to JSOSolvers.jl): min f(x) over a flat vector x.
 *
 * Everything stays on x's device: `obj` returns f as a one-element tensor and `grad`
 * writes into a caller-owned vector, so a solver never needs a host sync to evaluate
 * the problem. Implementations: `NeuralNLPModel` (a network + data + minibatch size,
 * src/nlp/neural.ts) and `ADNLPModel` (any function of x differentiated by the tape,
 * src/nlp/adnlp.ts).
 *
 * @module
 */

import type { Tensor } from "../tensor/tensor.ts";

/** Problem metadata (NLPModels' `meta`). */
export interface NLPMeta {
  /** Number of variables: the length of x. */
  readonly nvar: number;
  /** The starting point (a tensor the problem owns; solvers copy it, never modify it). */
  readonly x0: Tensor;
  /** A short name for reports. */
  readonly name: string;
}

/** Evaluation counters (NLPModels' `neval_obj`, `neval_grad`). */
export interface NLPCounters {
  /** Objective evaluations (`objgrad` counts one here and one in `neval_grad`). */
  neval_obj: number;
  /** Gradient evaluations. */
  neval_grad: number;
}

/** A smooth unconstrained problem min f(x), evaluated on x's device. */
export interface SmoothNLP {
  /** Metadata: nvar, x0, name. */
  readonly meta: NLPMeta;
  /** Evaluation counts so far. */
  readonly counters: NLPCounters;
  /**
   * Bumped whenever the objective itself changes (a stochastic model moved to another
   * minibatch); a solver that sees a new value re-evaluates f and ∇f at its current x.
   */
  readonly version: number;
  /** f(x) as a one-element tensor on x's device. Throws when x has the wrong length. */
  obj(x: Tensor): Tensor;
  /** g ← ∇f(x) in place; returns g. */
  grad(x: Tensor, g: Tensor): Tensor;
  /** f(x) (a one-element tensor) and g ← ∇f(x), from one forward and one backward pass. */
  objgrad(x: Tensor, g: Tensor): Tensor;
}
