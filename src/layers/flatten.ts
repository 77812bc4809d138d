/**
 * The flattening layer (Knet's `mat` as a layer).
 *
 * @module
 */

import { mat } from "../ops/indexing.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { checkTensor, type Layer } from "./layer.ts";

/**
 * Flattens each instance: x [N, ...] becomes [N, rest] (Knet's `mat(x)`), a view
 * without a copy. A vector [n] becomes [n, 1] (n instances of one feature), as `mat`
 * reads it; a scalar is refused.
 */
export class Flatten implements Layer {
  /** [N, ...] → [N, product of the rest]. */
  forward(x: Tensor): Tensor {
    checkTensor("Flatten()", x);
    if (x.rank === 0) {
      throw new Error(`Flatten(): expected x [N, ...] with at least one dimension, got a scalar`);
    }
    return mat(x);
  }

  /** `Flatten()`. */
  toString(): string {
    return "Flatten()";
  }
}
