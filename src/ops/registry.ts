/**
 * The op registry: every op is defined once with a CPU implementation, a GPU
 * implementation and (when differentiable) a backward rule, and is always called through
 * {@link runOp}, the single place where inputs are validated (live, same device, same
 * dtype), dispatched by device, and recorded on the autograd tape. Layers, losses and
 * solvers only call ops.
 *
 * `defineOp` is also the public way to add a primitive: with `backward` it is Knet's
 * `@primitive`, without it Knet's `@zerograd` (its result carries no gradient).
 *
 * @module
 */

import { activeTape, noRecord } from "../autograd/tape.ts";
import { cpuKernelsEnabled } from "../cpu/runtime.ts";
import type { DeviceName, Tensor } from "../tensor/tensor.ts";

/** One device's implementation of an op. */
export type OpImpl<A> = (inputs: readonly Tensor[], attrs: A) => Tensor;

/**
 * A backward rule: the gradients of an op's inputs given the gradient `dy` of its output
 * (same shape as the output), the inputs, the output and the attrs. `needs[i]` says
 * whether input i wants a gradient (a rule may skip the others). Return one entry per
 * input, null where an input has no gradient. It runs with recording off and may call
 * any op (and may return `dy` itself). Each gradient must have its input's shape.
 */
export type BackwardRule<A> = (
  dy: Tensor,
  inputs: readonly Tensor[],
  output: Tensor,
  attrs: A,
  needs: readonly boolean[],
) => (Tensor | null)[];

/** An op: its name, its per-device implementations and its gradient. */
export interface OpDef<A = Record<string, never>> {
  /** Unique name, used in errors. */
  readonly name: string;
  /** CPU implementation (f32 and f64). */
  readonly cpu: OpImpl<A>;
  /** GPU implementation (f32). */
  readonly gpu: OpImpl<A>;
  /**
   * CPU backend implementation for f32 inputs (the WebAssembly kernels of kernels/cpu);
   * `cpu` stays the reference and runs for f64 and when the kernels are off.
   */
  readonly wasm?: OpImpl<A>;
  /** Gradient rule; omitted for ops whose result carries no gradient (Knet's `@zerograd`). */
  readonly backward?: BackwardRule<A>;
  /**
   * The op writes into an input (its result is that input). Such ops refuse tensors
   * that the tape is tracking, since the recorded values would change under it.
   */
  readonly inPlace?: boolean;
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

/**
 * Runs an op on its inputs' device after validating them; inside `diff`, records it on
 * the tape when it is differentiable and one of its inputs is tracked.
 */
export function runOp<A>(op: OpDef<A>, inputs: readonly Tensor[], attrs: A): Tensor {
  const device = checkInputs(op.name, inputs);
  const tape = activeTape();
  const tracked = tape !== null && inputs.some((t) => tape.tracks(t));
  if (tracked && op.inPlace) {
    throw new Error(
      `${op.name}: in-place update of a tensor that diff is recording (a Param or a ` +
        "result computed from one); use out-of-place ops inside diff",
    );
  }
  // The op is one primitive: ops its implementation calls are not recorded (else a
  // @zerograd op built from differentiable ops would be differentiated through them).
  const impl = () =>
    device === "gpu"
      ? op.gpu(inputs, attrs)
      : op.wasm && inputs[0].dtype === "f32" && cpuKernelsEnabled()
      ? op.wasm(inputs, attrs)
      : op.cpu(inputs, attrs);
  const out = tape === null ? impl() : noRecord(impl);
  if (tracked && op.backward) tape.record(op, inputs, attrs, out);
  return out;
}
