/**
 * Knet's `update!` in its forms: a Param with its own optimizer (`p.opt`), a tensor with
 * an explicit optimizer, and arrays of tensors with arrays of optimizers or one
 * optimizer cloned per tensor. A null gradient (a parameter that took no part in the
 * loss) is skipped.
 *
 * @module
 */

import { Param } from "../autograd/param.ts";
import { Tensor } from "../tensor/tensor.ts";
import { groupUpdates } from "./grouped.ts";
import type { Optimizer } from "./optimizer.ts";
import { SGD } from "./optimizers.ts";

export { gclip } from "./optimizers.ts";

/** Whether `x` looks like an {@link Optimizer} (has `update`, `clone` and `config`). */
export function isOptimizer(x: unknown): x is Optimizer {
  if (x === null || typeof x !== "object") return false;
  const o = x as Record<string, unknown>;
  return typeof o.update === "function" && typeof o.clone === "function" &&
    typeof o.config === "function";
}

/** Clones of template optimizers, one per parameter tensor, kept while both live. */
const clones = new WeakMap<Optimizer, WeakMap<Tensor, Optimizer>>();

/**
 * The optimizer of `w` made from the template `opt`: a clone created at the first call
 * for this (template, w) pair and reused afterwards, so its state persists across
 * updates. A Param without an optimizer gets the clone as its `opt`.
 */
function cloneFor(opt: Optimizer, w: Tensor): Optimizer {
  let perW = clones.get(opt);
  if (!perW) {
    perW = new WeakMap();
    clones.set(opt, perW);
  }
  let mine = perW.get(w);
  if (!mine) {
    mine = opt.clone();
    perW.set(w, mine);
    if (w instanceof Param && w.opt === undefined) w.opt = mine;
  }
  return mine;
}

function describeArg(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return `an array of ${x.length}`;
  if (x instanceof Tensor) return x.toString();
  return typeof x;
}

/**
 * One checked step: the optimizer to use, a function making it (a template's clone), or
 * "param-sgd" to attach a fresh SGD to the Param.
 */
interface Step {
  w: Tensor;
  g: Tensor;
  opt: Optimizer | (() => Optimizer) | "param-sgd";
}

/**
 * Checks one (w, g, opt) triple without changing anything; null when g is null (skip).
 * Shapes, devices and dtypes are checked here so that a bad entry in an array fails
 * before any parameter is updated.
 */
function check(
  w: unknown,
  g: unknown,
  opt: Optimizer | (() => Optimizer) | undefined,
): Step | null {
  if (!(w instanceof Tensor)) throw new Error(`w must be a Tensor, got ${describeArg(w)}`);
  if (g === null || g === undefined) return null;
  if (!(g instanceof Tensor)) throw new Error(`g must be a Tensor or null, got ${describeArg(g)}`);
  if (w.disposed || g.disposed) throw new Error(`${w.disposed ? w : g} was disposed`);
  if (
    w.device !== g.device || w.dtype !== g.dtype || w.shape.length !== g.shape.length ||
    w.shape.some((d, i) => d !== g.shape[i])
  ) {
    throw new Error(`gradient ${g} [${g.shape}] does not match ${w} [${w.shape}]`);
  }
  if (opt !== undefined) {
    if (typeof opt === "function") return { w, g, opt };
    if (!isOptimizer(opt)) throw new Error(`opt must be an Optimizer, got ${describeArg(opt)}`);
    return { w, g, opt };
  }
  if (!(w instanceof Param)) {
    throw new Error(`${w} is not a Param, so it has no optimizer; pass one: update(w, g, opt)`);
  }
  if (w.opt === undefined || w.opt === null) return { w, g, opt: "param-sgd" };
  if (!isOptimizer(w.opt)) {
    throw new Error(`${w}'s opt is not an Optimizer (got ${describeArg(w.opt)})`);
  }
  return { w, g, opt: w.opt };
}

function apply(step: Step): void {
  let opt = step.opt;
  if (opt === "param-sgd") {
    opt = new SGD();
    (step.w as Param).opt = opt;
  } else if (typeof opt === "function") {
    opt = opt();
  }
  opt.update(step.w, step.g);
}

/**
 * Knet's `update!`: one optimizer step, in place, without host syncs on the GPU.
 *
 * - `update(p, g)`: a Param with its own optimizer `p.opt` (a fresh `SGD()` is attached
 *   when unset; the state then lives in `p.opt` across calls).
 * - `update(w, g, opt)`: a tensor (or Param) updated by `opt`, which holds w's state.
 * - `update(ws, gs, opts)`: element i of `ws` by `opts[i]`; with one optimizer instead
 *   of an array, each w gets its own clone of it, made at the first call and reused
 *   afterwards (and attached as `.opt` to a Param that has none). With no optimizer,
 *   every w must be a Param (its `opt` is used as above).
 *
 * A null gradient is skipped (the parameter took no part in the loss). The gradient is
 * never modified (Knet's gradient clipping scales g in place; ours does not).
 */
export function update(w: Tensor, g: Tensor | null, opt?: Optimizer): void;
/** Arrays of parameters and gradients, with one optimizer per parameter or one to clone. */
export function update(
  w: readonly Tensor[],
  g: readonly (Tensor | null)[],
  opt?: Optimizer | readonly Optimizer[],
): void;
export function update(
  w: Tensor | readonly Tensor[],
  g: Tensor | null | readonly (Tensor | null)[],
  opt?: Optimizer | readonly Optimizer[],
): void {
  if (!Array.isArray(w)) {
    if (Array.isArray(g) || Array.isArray(opt)) {
      throw new Error(
        `update: w is ${describeArg(w)} but g is ${describeArg(g)} and opt ${
          describeArg(opt)
        }; pass arrays for all or for none`,
      );
    }
    let step: Step | null;
    try {
      step = check(w, g, opt as Optimizer | undefined);
    } catch (e) {
      throw new Error(`update: ${(e as Error).message}`, { cause: e });
    }
    if (step) apply(step);
    return;
  }
  const ws = w as readonly unknown[];
  if (!Array.isArray(g)) {
    throw new Error(`update: w is ${describeArg(ws)} but g is ${describeArg(g)}`);
  }
  const gs = g as readonly unknown[];
  if (gs.length !== ws.length) {
    throw new Error(`update: ${ws.length} parameters but ${gs.length} gradients`);
  }
  if (Array.isArray(opt) && opt.length !== ws.length) {
    throw new Error(`update: ${ws.length} parameters but ${opt.length} optimizers`);
  }
  if (opt !== undefined && !Array.isArray(opt) && !isOptimizer(opt)) {
    throw new Error(`update: opt must be an Optimizer, got ${describeArg(opt)}`);
  }
  // Check every entry first: a bad one fails before any parameter changes.
  const steps = ws.map((wi, i) => {
    try {
      const o = Array.isArray(opt)
        ? opt[i] as Optimizer
        : opt === undefined
        ? undefined
        : () => cloneFor(opt as Optimizer, wi as Tensor);
      return check(wi, gs[i], o);
    } catch (e) {
      throw new Error(`update: parameter ${i}: ${(e as Error).message}`, { cause: e });
    }
  });
  groupUpdates(() => {
    for (const step of steps) if (step) apply(step);
  });
}
