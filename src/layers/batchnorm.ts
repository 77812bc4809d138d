/**
 * The batch-normalization layer (Knet's `batchnorm` with its `bnmoments` and `bnparams`).
 *
 * @module
 */

import { checkOptionNames } from "../options.ts";
import type { Param } from "../autograd/param.ts";
import { batchnorm, type BNMoments, bnmoments, bnparams } from "../ops/batchnorm.ts";
import { describe } from "../ops/registry.ts";
import type { DeviceName, DType, Tensor } from "../tensor/tensor.ts";
import {
  checkPlacement,
  checkSize,
  checkTensor,
  inLayer,
  type Layer,
  layerSummary,
} from "./layer.ts";

/** Options of {@link BatchNorm} (Knet's defaults). */
export interface BatchNormOptions {
  /** Weight of the newest batch in the running averages (default 0.1). */
  momentum?: number;
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
  /** Device of the parameters (default: the default device). */
  device?: DeviceName;
  /** Element type of the parameters (default f32; f64 is CPU-only). */
  dtype?: DType;
  /**
   * Force training mode (true: batch statistics, running statistics updated) or
   * inference mode (false: running statistics). Default: training while `diff` records
   * (Knet's `training()`). Can also be changed later through the `training` field.
   */
  training?: boolean;
}

/**
 * Batch normalization over `channels` channels of x [N,C] or [N,C,H,W]:
 * `forward(x)` is `batchnorm(x, moments, params, { eps })`. While `diff` records (or
 * with `training: true`) it normalises with the batch mean and biased variance and
 * updates the running statistics in `moments`; otherwise it uses them (zeros and ones
 * before the first training step, as Knet). `params` is a Param of 2C elements (scale
 * γ = ones, then bias β = zeros; Knet's `bnparams`); `moments` holds running tensors
 * that are not Params (no gradient), created on the first forward call on x's device.
 */
export class BatchNorm implements Layer {
  /** Number of channels C. */
  readonly channels: number;
  /** The affine parameters [2C]: γ then β. */
  readonly params: Param;
  /** The running mean and variance. */
  readonly moments: BNMoments;
  /** Added to the variance before the square root. */
  readonly eps: number;
  /** Forced mode (true training, false inference), or undefined to follow `diff`. */
  training: boolean | undefined;

  /** A batch-normalization layer over `channels` channels; see {@link BatchNormOptions}. */
  constructor(channels: number, opts: BatchNormOptions = {}) {
    if (opts !== null && typeof opts === "object") {
      checkOptionNames("BatchNorm", opts, ["momentum", "eps", "device", "dtype", "training"]);
    }
    checkSize("BatchNorm", "channels", channels);
    const name = `BatchNorm(${channels})`;
    const eps = opts.eps ?? 1e-5;
    if (typeof eps !== "number" || !Number.isFinite(eps) || eps < 0) {
      throw new Error(`${name}: eps must be a finite number ≥ 0, got ${String(eps)}`);
    }
    if (opts.training !== undefined && typeof opts.training !== "boolean") {
      throw new Error(`${name}: training must be a boolean, got ${String(opts.training)}`);
    }
    this.channels = channels;
    this.eps = eps;
    this.training = opts.training;
    this.moments = inLayer(name, () => bnmoments({ momentum: opts.momentum }));
    this.params = inLayer(
      name,
      () => bnparams(channels, { device: opts.device, dtype: opts.dtype }),
    );
  }

  /** batchnorm(x, moments, params) for x [N,C] or [N,C,H,W]. */
  forward(x: Tensor): Tensor {
    const c = this.channels;
    const name = `BatchNorm(${c})`;
    checkTensor(name, x);
    if ((x.rank !== 2 && x.rank !== 4) || x.shape[1] !== c) {
      throw new Error(`${name}: expected x [N,${c}] or [N,${c},H,W], got x ${describe(x)}`);
    }
    checkPlacement(name, x, this.params);
    return inLayer(
      name,
      () => batchnorm(x, this.moments, this.params, { eps: this.eps, training: this.training }),
    );
  }

  /** Releases the parameters and the running statistics. */
  dispose(): void {
    this.params.dispose();
    this.moments.dispose();
  }

  /** `BatchNorm(16, momentum=0.1): params [32] f32 cpu`. */
  toString(): string {
    const extra = [
      `momentum=${this.moments.momentum}`,
      ...(this.eps !== 1e-5 ? [`eps=${this.eps}`] : []),
      ...(this.training !== undefined ? [`training=${this.training}`] : []),
    ];
    return layerSummary(`BatchNorm(${this.channels}, ${extra.join(", ")})`, this);
  }
}
