/**
 * Knet's training loop as a lazy iterator: `minimize(f, data, optimizer)` applies `f` to
 * each batch of `data`, differentiates it and updates every Param that took part, one
 * step per item. The items are the step losses as 1-element device tensors, so a loop
 * over them never forces a host sync; `progress` and `converge` read them in batches.
 *
 * @module
 */

import { diff } from "../autograd/diff.ts";
import type { Param } from "../autograd/param.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { groupUpdates } from "../optim/grouped.ts";
import { Adam } from "../optim/optimizers.ts";
import { Tensor } from "../tensor/tensor.ts";

/** A loss function: the elements of one batch in, a scalar (one-element) loss tensor out. */
export type LossFunction = (...batch: Tensor[]) => Tensor;

/** One batch: a tensor, or a tuple of tensors spread into the loss function's arguments. */
export type TrainBatch = Tensor | readonly Tensor[];

/** Options of {@link minimize}. */
export interface MinimizeOptions {
  /**
   * The Params to update (default: every Param the loss used, found on the tape at each
   * step). A listed Param the loss did not use is left unchanged.
   */
  params?: readonly Param[];
}

/**
 * The iterator {@link minimize} returns. Iterating it trains: each step runs `diff` on the
 * loss, updates the Params and yields the step's loss, a one-element tensor on the loss's
 * device that stays valid until the next step (`keep`/copy it to hold on to it). Breaking
 * out of a loop releases the last loss.
 */
export class Trainer implements Iterable<Tensor> {
  readonly #f: LossFunction;
  readonly #data: Iterable<TrainBatch>;
  readonly #optimizer: Optimizer;
  readonly #params: readonly Param[] | undefined;
  /** Steps taken so far, over all iterations of this trainer. */
  steps: number = 0;

  /** See {@link minimize}. */
  constructor(
    f: LossFunction,
    data: Iterable<TrainBatch>,
    optimizer: Optimizer,
    opts: MinimizeOptions = {},
  ) {
    if (typeof f !== "function") throw new Error("minimize: the loss must be a function");
    if (data === null || typeof data !== "object" || !(Symbol.iterator in data)) {
      throw new Error("minimize: data must be an iterable of batches (e.g. minibatch(x, y, 100))");
    }
    if (optimizer === null || typeof optimizer?.clone !== "function") {
      throw new Error("minimize: optimizer must be an Optimizer (SGD(), Adam(), ...)");
    }
    this.#f = f;
    this.#data = data;
    this.#optimizer = optimizer;
    this.#params = opts.params;
  }

  /** The number of steps in one pass, when the data has a length (as Knet's `length`). */
  get length(): number | undefined {
    const n = (this.#data as { length?: unknown }).length;
    return typeof n === "number" ? n : undefined;
  }

  /** The optimizer cloned into each Param's `opt` that has none yet. */
  get optimizer(): Optimizer {
    return this.#optimizer;
  }

  /** Runs one training step per batch; yields each step's loss (see the class doc). */
  *[Symbol.iterator](): Iterator<Tensor> {
    let loss: Tensor | null = null;
    try {
      for (const batch of this.#data) {
        loss?.dispose();
        loss = null;
        loss = this.step(batch);
        yield loss;
      }
    } finally {
      loss?.dispose();
    }
  }

  /**
   * One training step on `batch`: differentiate the loss, update the Params, return the
   * loss (the caller owns it). If an update throws (a bad optimizer setting, say), the
   * Params updated before it keep their update, as in Knet.
   */
  step(batch: TrainBatch): Tensor {
    const args = batch instanceof Tensor ? [batch] : [...batch];
    const J = diff(() => this.#f(...args));
    try {
      // One grouped GPU dispatch per four Params of one setting (src/optim/grouped.ts).
      groupUpdates(() => {
        for (const p of this.#params ?? J.params()) {
          const g = J.grad(p);
          if (g === null) continue;
          if (p.opt === undefined || p.opt === null) p.opt = this.#optimizer.clone();
          (p.opt as Optimizer).update(p, g);
        }
      });
    } catch (e) {
      J.dispose();
      throw e;
    }
    J.disposeGradients();
    this.steps++;
    return J.value;
  }
}

/**
 * Knet's `minimize(f, data, optimizer=Adam(); params)`: a lazy iterator that trains as it
 * is iterated (see {@link Trainer}). Each Param without an optimizer gets
 * `optimizer.clone()` in its `opt` field at its first update and keeps it, so training
 * can stop and resume without losing optimizer state; a Param whose `opt` is already set
 * keeps its own optimizer. Use `ncycle(data, n)` for n epochs, `limit(itr, n)` for n
 * steps, `converge(...)` to run until the loss stops falling and `progress(...)` for a
 * progress bar.
 */
export function minimize(
  f: LossFunction,
  data: Iterable<TrainBatch>,
  optimizer: Optimizer = new Adam(),
  opts: MinimizeOptions = {},
): Trainer {
  return new Trainer(f, data, optimizer, opts);
}

/** Runs a trainer (or any iterable) to the end, as Knet's `minimize!`/`sgd!`. */
export function drain(itr: Iterable<unknown>): void {
  for (const _ of itr) { /* each step trains */ }
}
