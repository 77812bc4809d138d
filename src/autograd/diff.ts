/**
 * Knet's AutoGrad API: `diff` records a function's ops on a tape and runs the backward
 * pass; `grad(result, param)` reads a gradient; `value` strips tracking; `params` finds
 * the Params in a model; `grad(f)` and `gradloss(f)` turn a scalar function into its
 * gradient function.
 *
 * Memory: `diff` disposes every GPU tensor its function created (as `tidy` does) except
 * the returned loss, tensors passed to `keep`, and the gradients; those belong to the
 * {@link DiffResult} and go with its `dispose()` (or with an enclosing `tidy`).
 *
 * @module
 */

import { binary } from "../ops/elementwise.ts";
import { describe } from "../ops/registry.ts";
import { ones, zeros } from "../tensor/create.ts";
import { tidy } from "../tensor/scope.ts";
import { Tensor } from "../tensor/tensor.ts";
import { Param } from "./param.ts";
import { installedTape, isParam, noRecord, setActiveTape, share, Tape } from "./tape.ts";

/** The outcome of {@link diff}: the function's value and the Params' gradients. */
export class DiffResult {
  /** The scalar the function returned (an untracked tensor on its device). */
  readonly value: Tensor;
  readonly #grads: Map<Tensor, Tensor>;
  /** Why the gradients are gone ("disposeGradients()" / "dispose()"), or null. */
  #released: string | null = null;

  /** @internal Built by {@link diff}. */
  constructor(value: Tensor, grads: Map<Tensor, Tensor>) {
    this.value = value;
    this.#grads = grads;
  }

  /**
   * The gradient of the value with respect to `p`, or null when `p` took no part.
   * Throws after {@link dispose} or {@link disposeGradients} (the gradients are gone, and
   * null would read as "p took no part").
   */
  grad(p: Tensor): Tensor | null {
    if (!(p instanceof Tensor)) throw new Error(`grad: expected a Param, got ${typeof p}`);
    if (this.#released !== null) {
      throw new Error(`grad: the gradients were released by ${this.#released}`);
    }
    return this.#grads.get(p) ?? null;
  }

  /** Removes `p`'s gradient from the result and hands it over (the caller disposes it). */
  take(p: Tensor): Tensor | null {
    const g = this.grad(p);
    this.#grads.delete(p);
    return g;
  }

  /** The Params that received a gradient. */
  params(): Param[] {
    return [...this.#grads.keys()] as Param[];
  }

  /** Releases the gradients (the value stays); {@link grad} throws afterwards. */
  disposeGradients(): void {
    for (const g of this.#grads.values()) g.dispose();
    this.#grads.clear();
    this.#released ??= "disposeGradients()";
  }

  /** Releases the value and the gradients; {@link grad} throws afterwards. */
  dispose(): void {
    this.#released ??= "dispose()";
    this.value.dispose();
    this.disposeGradients();
  }
}

/**
 * Runs `f` recording the ops applied to Params, then computes the gradient of its
 * scalar (one-element) result with respect to every Param it used (Knet's `@diff`).
 * `f` must be synchronous; nested `diff` calls are not supported.
 */
export function diff(f: () => Tensor): DiffResult {
  if (typeof f !== "function") throw new Error("diff: expected a function");
  if (installedTape() !== null) {
    throw new Error("diff: nested diff is not supported (diff was called inside diff)");
  }
  const tape = new Tape();
  setActiveTape(tape);
  try {
    const { value, grads } = tidy(() => {
      const y = f();
      if (!(y instanceof Tensor)) {
        throw new Error(`diff: the function must return a Tensor, got ${String(y)}`);
      }
      if ((y as unknown) instanceof Promise) throw new Error("diff: f must be synchronous");
      if (y.size !== 1) {
        throw new Error(
          `diff: the function must return a scalar (one-element) tensor to differentiate, ` +
            `got ${describe(y)}`,
        );
      }
      setActiveTape(null);
      const grads = noRecord(() => backward(tape, y));
      // A fresh handle: y may be the caller's own tensor (or a Param's value), which the
      // DiffResult must not release with its own value.
      return { value: share(y), grads };
    });
    return new DiffResult(value, grads);
  } finally {
    setActiveTape(null);
    tape.close();
  }
}

/** Reverse sweep: the Params' gradients of `y` (tracked entries of `tape`). */
function backward(tape: Tape, y: Tensor): Map<Tensor, Tensor> {
  const grads = new Map<Tensor, Tensor>();
  if (!tape.tracks(y)) return grads;
  grads.set(y, ones(y.shape, { dtype: y.dtype, device: y.device }));
  const accumulate = (key: Tensor, g: Tensor) => {
    const old = grads.get(key);
    if (!old) {
      grads.set(key, g);
      return;
    }
    grads.set(key, binary("add", old, g));
    old.dispose();
    g.dispose();
  };
  for (let i = tape.nodes.length - 1; i >= 0; i--) {
    const node = tape.nodes[i];
    const dy = grads.get(node.output);
    if (!dy) continue;
    if (!isParam(node.output)) grads.delete(node.output);
    const needs = node.inputs.map((t) => tape.tracks(t));
    const ins = tidy(() => node.op.backward!(dy, node.saved, node.savedOutput, node.attrs, needs));
    if (ins.length !== node.inputs.length) {
      throw new Error(
        `${node.op.name}: backward returned ${ins.length} gradients for ${node.inputs.length} inputs`,
      );
    }
    // Gradients handed to tracked inputs; the others are released unless one of these,
    // dy or an input (a rule may return one tensor for several inputs, in any order).
    const kept = new Set<unknown>(ins.filter((g, k) => g && tape.tracks(node.inputs[k])));
    const owned = new Set<Tensor>();
    ins.forEach((g, k) => {
      if (g === null || g === undefined) return;
      const key = node.inputs[k];
      if (!tape.tracks(key)) {
        if (g !== dy && !node.saved.includes(g) && !kept.has(g)) g.dispose();
        return;
      }
      if (g.size !== key.size || g.shape.some((d, j) => d !== key.shape[j])) {
        throw new Error(
          `${node.op.name}: backward gave a gradient of shape [${g.shape}] for input ${k} of ` +
            `shape [${key.shape}]`,
        );
      }
      // A rule may hand back dy, an input, or one tensor twice: take a fresh alias then.
      const mine = g === dy || node.saved.includes(g) || owned.has(g) ? share(g) : g;
      owned.add(g);
      accumulate(key, mine);
    });
    if (!isParam(node.output)) dy.dispose();
  }
  for (const key of [...grads.keys()]) {
    if (!isParam(key)) {
      grads.get(key)!.dispose();
      grads.delete(key);
    }
  }
  return grads;
}

/** The gradient in `result` for `p` (Knet's `grad(J, p)`); null when `p` took no part. */
export function grad(result: DiffResult, p: Tensor): Tensor | null;
/**
 * Knet's higher-order `grad(f, argnum)`: a function returning the gradient of the scalar
 * `f(...args)` with respect to `args[argnum]` (a Tensor; zeros when it took no part).
 */
export function grad<A extends unknown[]>(
  f: (...args: A) => Tensor,
  argnum?: number,
): (...args: A) => Tensor;
export function grad(a: unknown, b?: unknown): unknown {
  if (a instanceof DiffResult) return a.grad(b as Tensor);
  if (typeof a === "function") {
    const g = gradloss(a as (...args: unknown[]) => Tensor, (b as number | undefined) ?? 0);
    return (...args: unknown[]) => {
      const [dx, loss] = g(...args);
      loss.dispose();
      return dx;
    };
  }
  throw new Error("grad: expected a DiffResult and a Param, or a function");
}

/**
 * Knet's `gradloss(f, argnum)`: a function returning `[gradient, loss]` of the scalar
 * `f(...args)` with respect to `args[argnum]` (which must be a Tensor).
 */
export function gradloss<A extends unknown[]>(
  f: (...args: A) => Tensor,
  argnum = 0,
): (...args: A) => [Tensor, Tensor] {
  if (typeof f !== "function") throw new Error("gradloss: expected a function");
  return (...args: A) => {
    if (!Number.isInteger(argnum) || argnum < 0 || argnum >= args.length) {
      throw new Error(`grad: argnum ${argnum} is out of range for ${args.length} arguments`);
    }
    const x = args[argnum];
    if (!(x instanceof Tensor)) {
      throw new Error(`grad: argument ${argnum} must be a Tensor, got ${typeof x}`);
    }
    const p = isParam(x) ? x as Param : new Param(x);
    try {
      const call = [...args] as A;
      call[argnum] = p;
      const r = diff(() => f(...call));
      const dx = r.take(p) ?? zeros(p.shape, { dtype: p.dtype, device: p.device });
      r.disposeGradients();
      return [dx, r.value];
    } finally {
      // The wrapper holds references to x's storage: release them even when f throws.
      if (p !== x) p.dispose();
    }
  };
}

/**
 * The untracked tensor behind `x` (Knet's `value`): a Param's or a recorded result's
 * storage without tracking, or a DiffResult's value. Other values are returned as is.
 */
export function value(x: DiffResult): Tensor;
/** The untracked tensor behind a Param or a recorded result; other tensors as they are. */
export function value(x: Tensor): Tensor;
export function value(x: Tensor | DiffResult): Tensor {
  if (x instanceof DiffResult) return x.value;
  if (x instanceof Param) return x.value;
  const tape = installedTape();
  if (tape !== null && x instanceof Tensor && tape.tracks(x)) {
    return noRecord(() => x.reshape(x.shape));
  }
  return x;
}

/**
 * Every distinct Param reachable from `x` through arrays, Maps, Sets and object
 * properties (Knet's `params(model)`), in the order first found.
 */
export function params(x: unknown): Param[] {
  return namedParams(x).map(([, p]) => p);
}

/**
 * Every distinct Param reachable from `x`, with the path that first reached it: property
 * names, array indices, Map keys and Set positions joined by dots (`layers.0.w`). The
 * order is that of {@link params}; checkpoints use these names.
 */
export function namedParams(x: unknown): [name: string, param: Param][] {
  const found: [string, Param][] = [];
  walkModel(x, (v, path) => {
    if (!(v instanceof Param)) return false;
    found.push([path, v]);
    return true;
  });
  return found;
}

/**
 * @internal The walk behind {@link namedParams}: calls `visit(v, path, parent)` once for
 * every distinct object reachable from `x` through arrays, Maps, Sets and object
 * properties (at most 64 levels deep), depth first in property order, `path` being the
 * path that first reached `v` (as {@link namedParams} names it) and `parent` the object
 * holding it (null for `x`). When `visit` returns true the walk does not look inside
 * `v`; it never looks inside Tensors and typed arrays.
 */
export function walkModel(
  x: unknown,
  visit: (v: object, path: string, parent: object | null) => boolean,
): void {
  const seen = new Set<unknown>();
  const walk = (v: unknown, path: string, parent: object | null, depth: number) => {
    if (v === null || typeof v !== "object" || seen.has(v) || depth > 64) return;
    seen.add(v);
    if (visit(v, path, parent)) return;
    if (v instanceof Tensor || ArrayBuffer.isView(v)) return;
    const at = (k: string | number) => (path === "" ? String(k) : `${path}.${k}`);
    if (Array.isArray(v)) v.forEach((e, i) => walk(e, at(i), v, depth + 1));
    else if (v instanceof Map) { for (const [k, e] of v) walk(e, at(String(k)), v, depth + 1); }
    else if (v instanceof Set) [...v].forEach((e, i) => walk(e, at(i), v, depth + 1));
    else for (const [k, e] of Object.entries(v)) walk(e, at(k), v, depth + 1);
  };
  walk(x, "", null, 0);
}
