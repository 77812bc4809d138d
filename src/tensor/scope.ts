/**
 * Deterministic release of GPU tensors and of CPU tensors in the CPU backend's heap:
 * {@link tidy} disposes every such tensor created inside it that is not part of its
 * result or marked with {@link keep}.
 *
 * @module
 */

import { Tensor } from "./tensor.ts";

const scopes: Set<Tensor>[] = [];
const kept = new WeakSet<Tensor>();

/** @internal Called by the Tensor constructor for GPU tensors and CPU heap tensors. */
export function trackTensor(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Marks a tensor to survive every enclosing {@link tidy}. Returns it. */
export function keep<T extends Tensor>(t: T): T {
  kept.add(t);
  return t;
}

function collectTensors(value: unknown, out: Set<unknown>, depth = 0): void {
  if (value === null || typeof value !== "object" || depth > 8) return;
  if (value instanceof Tensor) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, out, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collectTensors(v, out, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, out, depth + 1);
  }
}

/**
 * Runs `fn` and disposes the GPU and CPU-heap tensors it created, except those it returns (directly
 * or inside arrays, Maps and plain objects) and those passed to {@link keep}. Returned
 * tensors move to the enclosing scope. `fn` must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) if (!kept.has(t)) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) if (!kept.has(t)) t.dispose();
    throw new Error("tidy: the function must be synchronous (it returned a Promise)");
  }
  const survivors = new Set<unknown>();
  collectTensors(result, survivors);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (survivors.has(t)) parent?.add(t);
    else if (!kept.has(t)) t.dispose();
  }
  return result;
}
