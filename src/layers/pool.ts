/**
 * The pooling layer (Knet's `pool` as a layer).
 *
 * @module
 */

import { checkOptionNames } from "../options.ts";
import { pool, POOL_OPTIONS, type PoolOptions } from "../ops/pool.ts";
import { describe } from "../ops/registry.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { checkTensor, fmtPair, inLayer, type Layer } from "./layer.ts";

/**
 * A pooling layer without parameters: `forward(x)` is Knet's
 * `pool(x; window=2, padding=0, stride=window, mode=0)` over the spatial dims of
 * x [N,C,H,W], giving [N,C,Ho,Wo] with Ho = 1 + ⌊(H + 2·padding − window)/stride⌋.
 * Mode 0 is max pooling, 1 the average counting padding, 2 the average over real cells
 * (see `pool`). The options are checked on the first forward call (by `pool`).
 */
export class Pool implements Layer {
  /** The pool options as given (`window` defaults to 2). */
  readonly options: Readonly<PoolOptions>;

  /** A pooling layer; see {@link PoolOptions} (default: 2×2 max pooling, stride 2). */
  constructor(opts: PoolOptions = {}) {
    if (opts === null || typeof opts !== "object") {
      throw new Error(`Pool: options must be an object, got ${String(opts)}`);
    }
    checkOptionNames("Pool", opts, POOL_OPTIONS);
    this.options = Object.freeze({ ...opts });
  }

  /** pool(x, options) for x [N,C,H,W]. */
  forward(x: Tensor): Tensor {
    const name = this.#heading();
    checkTensor(name, x);
    if (x.rank !== 4) {
      throw new Error(`${name}: expected x [N,C,H,W] (rank 4), got x ${describe(x)}`);
    }
    return inLayer(name, () => pool(x, this.options));
  }

  #heading(): string {
    const o = this.options;
    const parts = [
      `window=${fmtPair(o.window ?? 2)}`,
      ...(o.padding !== undefined ? [`padding=${fmtPair(o.padding)}`] : []),
      ...(o.stride !== undefined ? [`stride=${fmtPair(o.stride)}`] : []),
      ...(o.mode !== undefined ? [`mode=${o.mode}`] : []),
      ...(o.alpha !== undefined ? [`alpha=${o.alpha}`] : []),
    ];
    return `Pool(${parts.join(", ")})`;
  }

  /** `Pool(window=2)` with the options given. */
  toString(): string {
    return this.#heading();
  }
}
