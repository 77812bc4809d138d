/**
 * Batch normalization (Knet's `batchnorm`, `bnmoments`, `bnparams`;
 * https://arxiv.org/abs/1502.03167).
 *
 * `batchnorm(x, moments, params)` normalises each channel of `x` — a 2-D `[N,C]` batch
 * over its N instances, a 4-D `[N,C,H,W]` image batch over N, H and W — then scales and
 * shifts it with `params` (first C entries the scale γ, last C the bias β, as
 * {@link bnparams} makes them). In training mode (the default inside `diff`, Knet's
 * `training()`) it uses the batch mean and biased batch variance and updates the running
 * statistics held in `moments`; in inference mode it uses those running statistics.
 *
 * It is composed from differentiable ops (mean, sub, square, rsqrt, mul, add, slice), so
 * it is differentiable with respect to `x` and `params` in both modes, on the CPU and the
 * GPU, without a fused kernel. The running-statistics update is an in-place `axpby` run
 * with recording paused: it never enters the tape, and it does not sync with the host.
 *
 * @module
 */

import { isRecording, noRecord } from "../autograd/tape.ts";
import { Param } from "../autograd/param.ts";
import { type CreateOptions, fromArray, ones, zeros } from "../tensor/create.ts";
import { keep, tidy } from "../tensor/scope.ts";
import { fmtShape } from "../tensor/shape.ts";
import { Tensor } from "../tensor/tensor.ts";
import { binary, unary } from "./elementwise.ts";
import { mean } from "./reduce.ts";
import { describe } from "./registry.ts";
import { slice } from "./shape.ts";
import { axpby } from "./vector.ts";

/**
 * Creates an initial running statistic of the given shape, dtype and device (Knet's
 * `meaninit`/`varinit`, e.g. `zeros`, `ones`).
 */
export type MomentInit = (shape: readonly number[], opts: CreateOptions) => Tensor;

/** Options of {@link bnmoments} (Knet's keywords and defaults). */
export interface BNMomentsOptions {
  /**
   * Weight of the newest batch in the running averages (default 0.1):
   * running ← momentum·batch + (1 − momentum)·running. Between 0 and 1.
   */
  momentum?: number;
  /** Initial running mean (C elements); made by `meaninit` on first use when omitted. */
  mean?: Tensor | null;
  /** Initial running variance (C elements); made by `varinit` on first use when omitted. */
  var?: Tensor | null;
  /** Makes the running mean on first use (default `zeros`). */
  meaninit?: MomentInit;
  /** Makes the running variance on first use (default `ones`). */
  varinit?: MomentInit;
}

/**
 * Running mean and variance of a batch-normalised layer (Knet's `BNMoments`). `mean` and
 * `var` stay null until the first {@link batchnorm} call creates them with `meaninit` /
 * `varinit` on the input's device and dtype, shaped to broadcast against it: `[1,C]`
 * for 2-D inputs, `[1,C,1,1]` for 4-D ones (Knet's `(C,1)` and `(1,1,C,1)`, reversed).
 * Tensors it creates are exempt from `tidy`/`diff` scopes and belong to this object:
 * release them with {@link BNMoments.dispose}.
 */
export class BNMoments {
  /** Weight of the newest batch in the running averages. */
  momentum: number;
  /** Running mean (C elements), or null before first use. */
  mean: Tensor | null;
  /** Running (biased) variance (C elements), or null before first use. */
  var: Tensor | null;
  /** Makes the running mean on first use. */
  meaninit: MomentInit;
  /** Makes the running variance on first use. */
  varinit: MomentInit;

  /** Prefer {@link bnmoments}. */
  constructor(opts: BNMomentsOptions = {}) {
    const momentum = opts.momentum ?? 0.1;
    if (typeof momentum !== "number" || !(momentum >= 0 && momentum <= 1)) {
      throw new Error(`bnmoments: momentum must be a number in [0, 1], got ${momentum}`);
    }
    for (const k of ["mean", "var"] as const) {
      const t = opts[k];
      if (t !== undefined && t !== null && !(t instanceof Tensor)) {
        throw new Error(`bnmoments: ${k} must be a Tensor or null, got ${typeof t}`);
      }
    }
    this.momentum = momentum;
    this.mean = opts.mean ?? null;
    this.var = opts.var ?? null;
    this.meaninit = opts.meaninit ?? zeros;
    this.varinit = opts.varinit ?? ones;
  }

  /** Releases the running statistics (they are re-created on the next use). */
  dispose(): void {
    this.mean?.dispose();
    this.var?.dispose();
    this.mean = null;
    this.var = null;
  }

  /** A short description: `BNMoments(momentum=0.1, mean f32[1,3] gpu, var ...)`. */
  toString(): string {
    const d = (t: Tensor | null) => (t ? describe(t) : "null");
    return `BNMoments(momentum=${this.momentum}, mean ${d(this.mean)}, var ${d(this.var)})`;
  }
}

/**
 * A {@link BNMoments} holding running statistics for {@link batchnorm} (Knet's
 * `bnmoments(; momentum=0.1, mean=nothing, var=nothing, meaninit=zeros, varinit=ones)`).
 */
export function bnmoments(opts: BNMomentsOptions = {}): BNMoments {
  return new BNMoments(opts);
}

/**
 * The affine parameters of a batch-normalised layer with `channels` channels (Knet's
 * `bnparams`): a Param of length 2C, the first C entries the scale (ones), the last C
 * the bias (zeros). Differs from Knet: the default dtype is f32 (Knet's is Float64), on
 * the default device.
 */
export function bnparams(channels: number, opts: CreateOptions = {}): Param {
  if (!Number.isInteger(channels) || channels < 1) {
    throw new Error(`bnparams: channels must be a positive integer, got ${channels}`);
  }
  const v = new Float64Array(2 * channels);
  v.fill(1, 0, channels);
  const t = fromArray(v, { ...opts, shape: [2 * channels] });
  const p = new Param(t);
  t.dispose(); // the Param holds its own reference to the storage
  return p;
}

/** Options of {@link batchnorm}. */
export interface BatchnormOpOptions {
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
  /**
   * Normalise with the batch statistics and update `moments` (true), or with the running
   * statistics in `moments` (false). Default: whether `diff` is recording (Knet's
   * `training()`).
   */
  training?: boolean;
}

function checkMoment(
  which: "mean" | "var",
  t: Tensor,
  x: Tensor,
  c: number,
): void {
  if (t.disposed) throw new Error(`batchnorm: moments.${which} was disposed`);
  if (t.size !== c || t.device !== x.device || t.dtype !== x.dtype) {
    throw new Error(
      `batchnorm: moments.${which} ${describe(t)} must have C = ${c} elements on x's ` +
        `device and dtype (x ${describe(x)})`,
    );
  }
}

/**
 * Batch normalization (Knet's `batchnorm(x, moments, params; eps=1e-5, training)`).
 *
 * `x` is `[N,C]` (statistics per channel over N) or `[N,C,H,W]` (over N, H and W).
 * With `training` (default: inside `diff`), x̂ = (x − μ)/√(σ² + eps) with the batch mean
 * μ and the biased batch variance σ² (divided by the count, not count − 1), and, when
 * `moments` is given, its running statistics are updated in place:
 * mean ← m·μ + (1 − m)·mean and var ← m·σ² + (1 − m)·var with m = `moments.momentum`.
 * The running variance uses the biased σ², as Knet's CPU implementation does (Knet's
 * cuDNN path and PyTorch use the unbiased one). Otherwise x̂ uses the running
 * statistics, which `moments` must hold (uninitialised moments are first set by their
 * `meaninit`/`varinit`, zeros and ones by default, as in Knet); `moments` is required.
 *
 * With `params` (2C elements, e.g. from {@link bnparams}) the result is γ·x̂ + β, γ the
 * first C entries and β the last C; without, x̂. Differentiable with respect to `x` and
 * `params` in both modes (Knet's 2-D inference mode has no gradient; this one does).
 */
export function batchnorm(
  x: Tensor,
  moments: BNMoments | null = null,
  params: Tensor | null = null,
  opts: BatchnormOpOptions = {},
): Tensor {
  if (!(x instanceof Tensor)) throw new Error(`batchnorm: x must be a Tensor, got ${typeof x}`);
  if (x.disposed) throw new Error(`batchnorm: x ${fmtShape(x.shape)} was disposed`);
  if (x.rank !== 2 && x.rank !== 4) {
    throw new Error(
      `batchnorm: x must be 2-D [N,C] or 4-D [N,C,H,W], got ${describe(x)} (rank ${x.rank})`,
    );
  }
  if (moments !== null && !(moments instanceof BNMoments)) {
    throw new Error("batchnorm: moments must be a BNMoments (see bnmoments) or null");
  }
  const eps = opts.eps ?? 1e-5;
  if (typeof eps !== "number" || !(eps >= 0) || !Number.isFinite(eps)) {
    throw new Error(`batchnorm: eps must be a finite number ≥ 0, got ${eps}`);
  }
  const training = opts.training ?? isRecording();
  const c = x.shape[1];
  const bshape = x.rank === 2 ? [1, c] : [1, c, 1, 1];
  const axes = x.rank === 2 ? [0] : [0, 2, 3];
  const count = x.size / Math.max(c, 1);
  if (params !== null) {
    if (!(params instanceof Tensor)) {
      throw new Error(`batchnorm: params must be a Tensor, got ${typeof params}`);
    }
    if (params.disposed) throw new Error("batchnorm: params was disposed");
    if (params.size !== 2 * c) {
      throw new Error(
        `batchnorm: params ${describe(params)} must have 2C = ${2 * c} elements ` +
          `(C = ${c} channels of x ${describe(x)})`,
      );
    }
    if (params.device !== x.device || params.dtype !== x.dtype) {
      throw new Error(
        `batchnorm: params ${describe(params)} and x ${describe(x)} differ in device or dtype`,
      );
    }
  }
  if (moments === null && !training) {
    throw new Error(
      `batchnorm: moments must be provided in inference mode (training = false; x ${describe(x)})`,
    );
  }
  if (training && count === 0) {
    throw new Error(
      `batchnorm: no values per channel to normalise in training mode (x ${describe(x)})`,
    );
  }
  if (moments !== null) {
    // Validate what exists before creating anything, so bad input changes no state.
    if (moments.mean) checkMoment("mean", moments.mean, x, c);
    if (moments.var) checkMoment("var", moments.var, x, c);
    const init = { dtype: x.dtype, device: x.device };
    const made: Tensor[] = [];
    try {
      const mean0 = moments.mean ?? keep(moments.meaninit(bshape, init));
      if (!moments.mean) made.push(mean0);
      const var0 = moments.var ?? keep(moments.varinit(bshape, init));
      if (!moments.var) made.push(var0);
      checkMoment("mean", mean0, x, c);
      checkMoment("var", var0, x, c);
      moments.mean = mean0;
      moments.var = var0;
    } catch (e) {
      for (const t of made) t.dispose();
      throw e;
    }
  }

  return tidy(() => {
    let xc: Tensor;
    let v: Tensor;
    if (training) {
      const mu = mean(x, axes, { keepdims: true });
      xc = binary("sub", x, mu);
      v = mean(unary("square", xc), axes, { keepdims: true });
      if (moments !== null) {
        const m = moments.momentum;
        noRecord(() => {
          axpby(m, mu, 1 - m, moments.mean!);
          axpby(m, v, 1 - m, moments.var!);
        });
      }
    } else {
      xc = binary("sub", x, moments!.mean!.reshape(bshape));
      v = moments!.var!.reshape(bshape);
    }
    const xhat = binary("mul", xc, unary("rsqrt", binary("add", v, eps)));
    if (params === null) return xhat;
    const flat = params.reshape([2 * c]);
    const g = slice(flat, [[0, c]]).reshape(bshape);
    const b = slice(flat, [[c, 2 * c]]).reshape(bshape);
    return binary("add", binary("mul", xhat, g), b);
  });
}
