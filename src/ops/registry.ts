/**
 * The op registry: every op is defined once with a CPU implementation and a GPU
 * implementation, and is always called through {@link runOp}, the single place where
 * inputs are validated (live, same device, same dtype) and dispatched by device.
 * Layers, losses and solvers only call ops.
 *
 * @module
 */

import type { DeviceName, Tensor } from "../tensor/tensor.ts";

/** One device's implementation of an op. */
export type OpImpl<A> = (inputs: readonly Tensor[], attrs: A) => Tensor;

/** An op: its name and its per-device implementations. */
export interface OpDef<A = Record<string, never>> {
  /** Unique name, used in errors. */
  readonly name: string;
  /** CPU implementation (f32 and f64). */
  readonly cpu: OpImpl<A>;
  /** GPU implementation (f32). */
  readonly gpu: OpImpl<A>;
}

const registry = new Map<string, OpDef<any>>();

/** Registers an op. Names are unique. */
export function defineOp<A>(def: OpDef<A>): OpDef<A> {
  if (registry.has(def.name)) throw new Error(`defineOp: op '${def.name}' is already defined`);
  registry.set(def.name, def);
  return def;
}

/** The op registered under `name`. */
export function getOp(name: string): OpDef<any> {
  const op = registry.get(name);
  if (!op) throw new Error(`unknown op '${name}'`);
  return op;
}

/** Names of all registered ops. */
export function registeredOps(): string[] {
  return [...registry.keys()].sort();
}

/** Describes a tensor for error messages: `f32[2,3] gpu`. */
export function describe(t: Tensor): string {
  return `${t.dtype}[${t.shape.join(",")}] ${t.device}`;
}

/**
 * Checks that all inputs are live tensors on one device with one dtype; returns the device.
 */
export function checkInputs(op: string, inputs: readonly Tensor[]): DeviceName {
  if (inputs.length === 0) throw new Error(`${op}: no inputs`);
  inputs.forEach((t, i) => {
    if (t === null || typeof t !== "object" || !("shape" in t)) {
      throw new Error(`${op}: input ${i} is not a Tensor (got ${String(t)})`);
    }
    if (t.disposed) throw new Error(`${op}: input ${i} (${describe(t)}) was disposed`);
  });
  const first = inputs[0];
  for (const t of inputs) {
    if (t.device !== first.device) {
      throw new Error(
        `${op}: inputs are on different devices (${inputs.map(describe).join(" and ")}); ` +
          "move them with .gpu() or await .cpu()",
      );
    }
    if (t.dtype !== first.dtype) {
      throw new Error(
        `${op}: inputs have different dtypes (${inputs.map(describe).join(" and ")})`,
      );
    }
  }
  return first.device;
}

/** Runs an op on its inputs' device after validating them. */
export function runOp<A>(op: OpDef<A>, inputs: readonly Tensor[], attrs: A): Tensor {
  const device = checkInputs(op.name, inputs);
  return device === "gpu" ? op.gpu(inputs, attrs) : op.cpu(inputs, attrs);
}
