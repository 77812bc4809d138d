/**
 * The tape: while {@link diff} runs its function, every call of a differentiable op
 * (one with a `backward`) whose inputs include a Param or an earlier recorded result is
 * appended here, with aliases of its inputs and output so that the backward pass can
 * read them even after the forward code disposed its own handles. Only the registry
 * (ops/registry.ts) records; the tape has no per-op cases.
 *
 * @module
 */

import type { OpDef } from "../ops/registry.ts";
import { keep } from "../tensor/scope.ts";
import { Tensor } from "../tensor/tensor.ts";

/** One recorded op call. */
export interface TapeNode {
  /** The op (its `backward` computes input gradients). */
  readonly op: OpDef<any>;
  /** The attrs the op ran with. */
  readonly attrs: unknown;
  /** The input tensors as the forward code passed them (identity keys of the graph). */
  readonly inputs: readonly Tensor[];
  /** Aliases of the inputs' storage, alive until the backward pass ends. */
  readonly saved: readonly Tensor[];
  /** The output tensor (identity key). */
  readonly output: Tensor;
  /** Alias of the output's storage. */
  readonly savedOutput: Tensor;
}

const params = new WeakSet<Tensor>();

/** @internal Marks a tensor as a Param (called by the Param constructor). */
export function markParam(t: Tensor): void {
  params.add(t);
}

/** Whether `t` is a {@link Param} (tracked by every tape). */
export function isParam(t: unknown): boolean {
  return t instanceof Tensor && params.has(t);
}

/** A new tensor object sharing `t`'s storage (no copy), owned like any new tensor. */
export function share(t: Tensor): Tensor {
  if (t.device === "cpu") return new Tensor(t.shape, t.dtype, t.host("alias"));
  return new Tensor(t.shape, t.dtype, t.gpuStorage()?.retain() ?? null);
}

/**
 * A new tensor object sharing `t`'s storage, exempt from `tidy` scopes: whoever makes
 * it disposes it (the tape's saved values).
 */
export function alias(t: Tensor): Tensor {
  return keep(share(t));
}

/** A recording of one differentiation. */
export class Tape {
  /** Recorded op calls, in execution order. */
  readonly nodes: TapeNode[] = [];
  readonly #recorded = new Set<Tensor>();
  #closed = false;
  readonly #onClose: (() => void)[] = [];

  /**
   * Runs `fn` when the tape closes (after the backward pass, or when `diff` gives up):
   * an op frees there what it kept for its backward rule.
   */
  onClose(fn: () => void): void {
    if (this.#closed) fn();
    else this.#onClose.push(fn);
  }

  /** Whether `t` carries a gradient on this tape: a Param or a recorded output. */
  tracks(t: Tensor): boolean {
    return params.has(t) || this.#recorded.has(t);
  }

  /** Appends an op call. */
  record(op: OpDef<any>, inputs: readonly Tensor[], attrs: unknown, output: Tensor): void {
    this.nodes.push({
      op,
      attrs,
      inputs: [...inputs],
      saved: inputs.map(alias),
      output,
      savedOutput: alias(output),
    });
    this.#recorded.add(output);
  }

  /** Whether the tape stopped recording. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Stops recording and releases every alias the tape holds. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const n of this.nodes) {
      for (const s of n.saved) s.dispose();
      n.savedOutput.dispose();
    }
    this.nodes.length = 0;
    this.#recorded.clear();
    for (const fn of this.#onClose.splice(0)) fn();
  }
}

let active: Tape | null = null;
let paused = 0;

/** The tape currently recording, or null (outside `diff`, or during a backward pass). */
export function activeTape(): Tape | null {
  return paused > 0 ? null : active;
}

/** Whether ops are being recorded (inside `diff`'s function): dropout is active then. */
export function isRecording(): boolean {
  return activeTape() !== null;
}

/** @internal Installs `tape` as the recording tape (null to stop). */
export function setActiveTape(tape: Tape | null): void {
  active = tape;
}

/** @internal The installed tape even while paused. */
export function installedTape(): Tape | null {
  return active;
}

/** Runs `fn` without recording (backward rules, gradient checks, metrics). */
export function noRecord<T>(fn: () => T): T {
  paused++;
  try {
    return fn();
  } finally {
    paused--;
  }
}
