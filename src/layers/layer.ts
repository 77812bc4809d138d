/**
 * What every layer shares: the {@link Layer} interface (an object with `forward(x)`),
 * activations given by name or as functions, the options that place a layer's Params,
 * and the helpers layers use to check inputs, name themselves in errors and describe
 * their parameters.
 *
 * @module
 */

import { namedParams } from "../autograd/diff.ts";
import { describe } from "../ops/registry.ts";
import { elu, relu, selu, sigm, softplus, tanh } from "../ops/math.ts";
import type { Rng } from "../tensor/random.ts";
import { type DeviceName, type DType, Tensor } from "../tensor/tensor.ts";

/**
 * A layer: a small object holding Params with a `forward` method (Knet's callable
 * structs). Models are plain code that call layers; a {@link Chain} composes them.
 */
export interface Layer {
  /** Applies the layer to a batch (instances first). */
  forward(x: Tensor): Tensor;
}

/** Activations known by name (Knet's function names; "identity" applies none). */
export type ActivationName = "relu" | "sigm" | "tanh" | "elu" | "selu" | "softplus" | "identity";

/** An activation: one of {@link ActivationName}, or any function of a tensor. */
export type Activation = ActivationName | ((x: Tensor) => Tensor);

/** The named activations as functions. */
export const ACTIVATIONS: Readonly<Record<ActivationName, (x: Tensor) => Tensor>> = {
  relu,
  sigm,
  tanh,
  elu,
  selu,
  softplus,
  identity: (x: Tensor) => x,
};

/**
 * The function of an activation; throws naming `layer` when `a` is neither a known
 * name nor a function.
 */
export function activationFn(layer: string, a: Activation): (x: Tensor) => Tensor {
  if (typeof a === "function") return a;
  if (typeof a === "string" && Object.hasOwn(ACTIVATIONS, a)) return ACTIVATIONS[a];
  throw new Error(
    `${layer}: unknown activation ${JSON.stringify(a)} (expected one of ${
      Object.keys(ACTIVATIONS).join(", ")
    }, or a function)`,
  );
}

/** How an activation reads in a layer's description: its name, or the function's name. */
export function activationName(a: Activation): string {
  if (typeof a === "string") return a;
  return a.name ? a.name : "custom";
}

/** Where a layer creates its Params. */
export interface LayerInitOptions {
  /**
   * Generator the initial weights are drawn from, and then the dropout mask seeds of a
   * layer with `pdrop` (default: the global one, see `seed`).
   */
  rng?: Rng;
  /** Device of the Params (default: the default device). */
  device?: DeviceName;
  /** Element type of the Params (default f32; f64 is CPU-only). */
  dtype?: DType;
}

/** Throws naming `layer` unless `n` is a positive integer. */
export function checkSize(layer: string, what: string, n: number): void {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1) {
    throw new Error(`${layer}: ${what} must be a positive integer, got ${String(n)}`);
  }
}

/** Throws naming `layer` unless `p` is a dropout probability in [0, 1). */
export function checkProbability(layer: string, what: string, p: number): void {
  if (typeof p !== "number" || !(p >= 0 && p < 1)) {
    throw new Error(`${layer}: ${what} must be a probability in [0, 1), got ${String(p)}`);
  }
}

/** A spatial option for descriptions: `2` or `[2,3]`. */
export function fmtPair(v: number | readonly [number, number]): string {
  return typeof v === "number" ? `${v}` : `[${v[0]},${v[1]}]`;
}

/** Throws naming `layer` unless `x` is a live tensor. */
export function checkTensor(layer: string, x: unknown, what = "x"): asserts x is Tensor {
  if (!(x instanceof Tensor)) {
    throw new Error(`${layer}: ${what} must be a Tensor, got ${x === null ? "null" : typeof x}`);
  }
  if (x.disposed) throw new Error(`${layer}: ${what} ${describe(x)} was disposed`);
}

/**
 * Throws naming `layer` unless `x` has the device and dtype of the layer's weight `w`
 * (a layer's Params live where it was created; its inputs must live there too).
 */
export function checkPlacement(layer: string, x: Tensor, w: Tensor): void {
  if (x.device !== w.device || x.dtype !== w.dtype) {
    throw new Error(
      `${layer}: x ${describe(x)} and the layer's parameters (${describe(w)}) differ in ` +
        "device or dtype; create the layer with the input's device and dtype",
    );
  }
}

/**
 * Runs `fn` (a layer's forward computation) and prefixes the message of any Error it
 * throws with `layer`, so that an op's error names the layer it happened in.
 */
export function inLayer<T>(layer: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Error && !e.message.startsWith(layer)) {
      throw new Error(`${layer}: ${e.message}`, { cause: e });
    }
    throw e;
  }
}

/** The total number of elements of the distinct Params reachable from `model`. */
export function paramCount(model: unknown): number {
  return namedParams(model).reduce((n, [, p]) => n + p.size, 0);
}

/**
 * The Params reachable from `model` as `name [shape]` items joined by ", " (dtype and
 * device are given once, in a {@link Chain}'s heading or a layer's own description).
 */
export function describeParams(model: unknown): string {
  return namedParams(model).map(([name, p]) => `${name} [${p.shape.join(",")}]`).join(", ");
}

/** `f32 cpu` when every Param of `model` has that dtype and device, else `mixed`. */
export function placementOf(model: unknown): string {
  const kinds = new Set(namedParams(model).map(([, p]) => `${p.dtype} ${p.device}`));
  return kinds.size === 1 ? [...kinds][0] : kinds.size === 0 ? "" : "mixed dtypes/devices";
}

/**
 * A layer's one-line description with its Params: `Dense(800→500, relu): w [800,500],
 * b [500] f32 cpu`. Layers without Params give their heading alone.
 */
export function layerSummary(heading: string, layer: object): string {
  const ps = describeParams(layer);
  return ps === "" ? heading : `${heading}: ${ps} ${placementOf(layer)}`;
}
