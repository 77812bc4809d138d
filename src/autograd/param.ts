/**
 * Knet's `Param`: a tensor whose gradient `diff` computes. A Param is a Tensor (every op
 * takes it) that shares its storage with the tensor it wraps, so updating the Param in
 * place updates that tensor too.
 *
 * @module
 */

import { Tensor } from "../tensor/tensor.ts";
import { alias, markParam } from "./tape.ts";

/** A trainable tensor: `diff` tracks every Param its function uses. */
export class Param extends Tensor {
  /**
   * The same storage as an untracked tensor (Knet's `value(p)`): ops on it inside
   * `diff` are not recorded.
   */
  readonly value: Tensor;
  /** Optimizer state attached to this parameter (Knet's `Param.opt`). */
  opt: unknown = undefined;

  /** Wraps `t` (no copy: the Param and `t` share storage). */
  constructor(t: Tensor) {
    if (!(t instanceof Tensor)) {
      throw new Error(`Param: expected a Tensor, got ${t === null ? "null" : typeof t}`);
    }
    super(
      t.shape,
      t.dtype,
      t.device === "cpu" ? t.host("Param") : t.gpuStorage()?.retain() ?? null,
    );
    this.value = alias(t);
    markParam(this);
  }

  /** Releases this Param's storage reference (and its `value` alias). */
  override dispose(): void {
    this.value.dispose();
    super.dispose();
  }

  /** A short description: `Param f32[2,3] gpu`. */
  override toString(): string {
    return `Param ${this.dtype}[${this.shape.join(",")}] ${this.device}`;
  }
}
