/**
 * The dropout layer (Knet's `dropout` as a layer).
 *
 * @module
 */

import { checkOptionNames } from "../options.ts";
import { dropout } from "../ops/dropout.ts";
import type { Rng } from "../tensor/random.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { checkProbability, checkTensor, inLayer, type Layer } from "./layer.ts";

/** Options of {@link Dropout}. */
export interface DropoutLayerOptions {
  /** Generator the mask seeds are drawn from (default: the global one, see `seed`). */
  rng?: Rng;
}

/**
 * A dropout layer: `forward(x)` is `dropout(x, p)`: while `diff` records, each element
 * is zeroed with probability p and the survivors are scaled by 1/(1 − p); outside
 * `diff` (prediction) it returns x itself. A new mask is drawn per call.
 */
export class Dropout implements Layer {
  /** The drop probability, in [0, 1). */
  readonly p: number;
  readonly #rng: Rng | undefined;

  /** A dropout layer with drop probability `p` in [0, 1). */
  constructor(p: number, opts: DropoutLayerOptions = {}) {
    if (opts !== null && typeof opts === "object") {
      checkOptionNames("Dropout", opts, ["rng"]);
    }
    checkProbability("Dropout", "p", p);
    this.p = p;
    this.#rng = opts.rng;
  }

  /** dropout(x, p): active only inside `diff`. */
  forward(x: Tensor): Tensor {
    const name = `Dropout(${this.p})`;
    checkTensor(name, x);
    return inLayer(name, () => dropout(x, this.p, { rng: this.#rng }));
  }

  /** `Dropout(0.5)`. */
  toString(): string {
    return `Dropout(${this.p})`;
  }
}
