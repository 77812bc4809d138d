/**
 * The embedding layer (Knet's `Embed`, a lookup by `take`).
 *
 * @module
 */

import { checkOptionNames } from "../options.ts";
import type { Param } from "../autograd/param.ts";
import { type Indices, take } from "../ops/indexing.ts";
import { describe } from "../ops/registry.ts";
import { type Initializer, param, xavierUniform } from "../init.ts";
import { Tensor } from "../tensor/tensor.ts";
import { checkSize, inLayer, type Layer, type LayerInitOptions, layerSummary } from "./layer.ts";

/** Options of {@link Embedding}. */
export interface EmbeddingOptions extends LayerInitOptions {
  /** Initialiser of the table w (default `xavierUniform`, as Knet's `param`). */
  init?: Initializer;
}

/**
 * An embedding table: w a Param [vocab, dim] (Knet's `Embed` weight (dim, vocab), the
 * same memory); `forward(indices)` = `take(w, indices, 0)`, the rows of the 0-based
 * token ids, shaped [...indices.shape, dim]. Indices are a tensor of integer values or
 * a host array; on the CPU (and for host indices) an index out of [0, vocab) throws.
 * Indices held on the GPU are not checked (a host sync would be needed): invalid ones
 * read row 0. The gradient sums the rows back into w (a scatter-add).
 */
export class Embedding implements Layer {
  /** The table [vocab, dim]. */
  readonly w: Param;
  /** Number of rows (token ids 0 … vocab − 1). */
  readonly vocab: number;
  /** Width of an embedding. */
  readonly dim: number;

  /** A `vocab` × `dim` table; see {@link EmbeddingOptions}. */
  constructor(vocab: number, dim: number, opts: EmbeddingOptions = {}) {
    if (opts !== null && typeof opts === "object") {
      checkOptionNames("Embedding", opts, ["init", "rng", "device", "dtype"]);
    }
    checkSize("Embedding", "vocab", vocab);
    checkSize("Embedding", "dim", dim);
    this.vocab = vocab;
    this.dim = dim;
    this.w = param([vocab, dim], {
      init: opts.init ?? xavierUniform,
      rng: opts.rng,
      device: opts.device,
      dtype: opts.dtype,
    });
  }

  /** The rows of w at `indices`: [...indices.shape, dim]. */
  forward(indices: Indices): Tensor {
    const name = `Embedding(${this.vocab}→${this.dim})`;
    if (indices instanceof Tensor && indices.disposed) {
      throw new Error(`${name}: indices ${describe(indices)} were disposed`);
    }
    return inLayer(name, () => take(this.w, indices, 0));
  }

  /** Releases the table. */
  dispose(): void {
    this.w.dispose();
  }

  /** `Embedding(10000→128): w [10000,128] f32 cpu`. */
  toString(): string {
    return layerSummary(`Embedding(${this.vocab}→${this.dim})`, this);
  }
}
