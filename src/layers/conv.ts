/**
 * The 2-D convolution layer (Knet's `Conv`).
 *
 * @module
 */

import { checkOptionNames } from "../options.ts";
import type { Param } from "../autograd/param.ts";
import { conv4, type Pair } from "../ops/conv.ts";
import { conv4Bias } from "../ops/conv_bias.ts";
import { dropout } from "../ops/dropout.ts";
import { add } from "../ops/math.ts";
import { describe } from "../ops/registry.ts";
import { type Initializer, param, param0, xavierUniform } from "../init.ts";
import type { Rng } from "../tensor/random.ts";
import { tidy } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";
import {
  type Activation,
  activationFn,
  activationName,
  checkPlacement,
  checkProbability,
  checkSize,
  checkTensor,
  fmtPair,
  inLayer,
  type Layer,
  type LayerInitOptions,
  layerSummary,
} from "./layer.ts";

/** Options of {@link Conv} (Knet's keywords and defaults). */
export interface ConvLayerOptions extends LayerInitOptions {
  /** Applied to the convolution plus bias (default "relu"; "identity" for none). */
  activation?: Activation;
  /** Zeros added at both ends of each spatial dim (default 0). */
  padding?: Pair;
  /** Step between filter applications (default 1). */
  stride?: Pair;
  /** Spacing between filter taps (default 1). */
  dilation?: Pair;
  /** 0: convolution, the filter flipped (default, as Knet); 1: cross-correlation. */
  mode?: 0 | 1;
  /** Dropout probability applied to the input while `diff` records (default 0). */
  pdrop?: number;
  /** Initialiser of the filter w (default `xavierUniform`, Knet's default). */
  init?: Initializer;
  /** Whether the layer has a bias b (default true). */
  bias?: boolean;
}

function checkPair(layer: string, what: string, v: Pair | undefined, min: number): void {
  if (v === undefined) return;
  const p = typeof v === "number" ? [v, v] : v;
  if (
    !Array.isArray(p) || p.length !== 2 ||
    !p.every((e) => typeof e === "number" && Number.isInteger(e) && e >= min)
  ) {
    throw new Error(
      `${layer}: ${what} must be an integer ≥ ${min} or a pair [h, w] of them, got ${
        JSON.stringify(v)
      }`,
    );
  }
}

/**
 * A 2-D convolution layer (Knet's `Conv(w1, w2, cx, cy; f=relu, pdrop=0, opts...)`):
 * y = f(conv4(w, dropout(x, pdrop), opts) + b) with the filter w a Param
 * [cout, cin, kh, kw] (Knet's (w1, w2, cx, cy), the same memory) drawn by `init`, and
 * the bias b a Param [1, cout, 1, 1] of zeros (Knet's (1, 1, cy, 1)).
 *
 * `x` is [N, cin, H, W]; y is [N, cout, Ho, Wo] with
 * Ho = 1 + ⌊(H + 2·padding − ((kh − 1)·dilation + 1)) / stride⌋ (likewise Wo). Mode 0
 * (the default, as Knet) flips the filter; mode 1 is cross-correlation. Knet's tutorial
 * `Conv` also max-pools; here pooling is its own layer ({@link Pool}); with max pooling
 * the order does not matter (the bias is constant per channel and relu is monotone).
 */
export class Conv implements Layer {
  /** The filter [cout, cin, kh, kw]. */
  readonly w: Param;
  /** The bias [1, cout, 1, 1], or null without one. */
  readonly b: Param | null;
  /** Filter height. */
  readonly kh: number;
  /** Filter width. */
  readonly kw: number;
  /** Input channels. */
  readonly cin: number;
  /** Output channels. */
  readonly cout: number;
  /** The activation applied to the convolution plus bias. */
  readonly activation: Activation;
  /** Dropout probability of the input (applied inside `diff` only). */
  readonly pdrop: number;
  /** The conv4 options (padding, stride, dilation, mode) as given. */
  readonly options: {
    readonly padding?: Pair;
    readonly stride?: Pair;
    readonly dilation?: Pair;
    readonly mode?: 0 | 1;
  };
  readonly #act: (x: Tensor) => Tensor;
  readonly #rng: Rng | undefined;

  /** A layer of `cout` filters kh×kw over `cin` channels; see {@link ConvLayerOptions}. */
  constructor(kh: number, kw: number, cin: number, cout: number, opts: ConvLayerOptions = {}) {
    if (opts !== null && typeof opts === "object") {
      checkOptionNames("Conv", opts, [
        "activation",
        "padding",
        "stride",
        "dilation",
        "mode",
        "pdrop",
        "init",
        "bias",
        "rng",
        "device",
        "dtype",
      ]);
    }
    checkSize("Conv", "kh", kh);
    checkSize("Conv", "kw", kw);
    checkSize("Conv", "cin", cin);
    checkSize("Conv", "cout", cout);
    this.kh = kh;
    this.kw = kw;
    this.cin = cin;
    this.cout = cout;
    const name = this.#name();
    checkPair(name, "padding", opts.padding, 0);
    checkPair(name, "stride", opts.stride, 1);
    checkPair(name, "dilation", opts.dilation, 1);
    if (opts.mode !== undefined && opts.mode !== 0 && opts.mode !== 1) {
      throw new Error(`${name}: mode must be 0 or 1, got ${String(opts.mode)}`);
    }
    this.options = Object.freeze({
      ...(opts.padding !== undefined ? { padding: opts.padding } : {}),
      ...(opts.stride !== undefined ? { stride: opts.stride } : {}),
      ...(opts.dilation !== undefined ? { dilation: opts.dilation } : {}),
      ...(opts.mode !== undefined ? { mode: opts.mode } : {}),
    });
    this.activation = opts.activation ?? "relu";
    this.#act = activationFn(name, this.activation);
    this.pdrop = opts.pdrop ?? 0;
    checkProbability(name, "pdrop", this.pdrop);
    this.#rng = opts.rng;
    const place = { device: opts.device, dtype: opts.dtype };
    this.w = param([cout, cin, kh, kw], {
      ...place,
      init: opts.init ?? xavierUniform,
      rng: opts.rng,
    });
    try {
      this.b = opts.bias ?? true ? param0([1, cout, 1, 1], place) : null;
    } catch (e) {
      this.w.dispose();
      throw e;
    }
  }

  #name(): string {
    return `Conv(${this.kh}×${this.kw}, ${this.cin}→${this.cout})`;
  }

  /** y = act(conv4(w, dropout(x, pdrop), opts) + b) for x [N, cin, H, W]. */
  forward(x: Tensor): Tensor {
    const name = this.#name();
    checkTensor(name, x);
    if (x.rank !== 4) {
      throw new Error(
        `${name}: expected x [N,${this.cin},H,W] (rank 4), got x ${describe(x)} (rank ${x.rank})`,
      );
    }
    if (x.shape[1] !== this.cin) {
      throw new Error(
        `${name}: expected x [N,${this.cin},H,W] with ${this.cin} channels, got x ${describe(x)} (${
          x.shape[1]
        } channels)`,
      );
    }
    checkPlacement(name, x, this.w);
    return inLayer(name, () =>
      tidy(() => {
        const xd = dropout(x, this.pdrop, { rng: this.#rng });
        // The common cases as one fused op (on the GPU: bias and relu in the GEMM).
        if (this.b && (this.activation === "relu" || this.activation === "identity")) {
          return conv4Bias(this.w, xd, this.b, this.options, this.activation);
        }
        const z = conv4(this.w, xd, this.options);
        return this.#act(this.b ? add(z, this.b) : z);
      }));
  }

  /** Releases the Params. */
  dispose(): void {
    this.w.dispose();
    this.b?.dispose();
  }

  /**
   * `Conv(5×5, 1→20, relu): w [20,1,5,5], b [1,20,1,1] f32 cpu` (non-default options
   * listed).
   */
  toString(): string {
    const o = this.options;
    const extra = [
      activationName(this.activation),
      ...(o.padding !== undefined ? [`padding=${fmtPair(o.padding)}`] : []),
      ...(o.stride !== undefined ? [`stride=${fmtPair(o.stride)}`] : []),
      ...(o.dilation !== undefined ? [`dilation=${fmtPair(o.dilation)}`] : []),
      ...(o.mode !== undefined ? [`mode=${o.mode}`] : []),
      ...(this.pdrop !== 0 ? [`pdrop=${this.pdrop}`] : []),
      ...(this.b === null ? ["bias=false"] : []),
    ];
    return layerSummary(
      `Conv(${this.kh}×${this.kw}, ${this.cin}→${this.cout}, ${extra.join(", ")})`,
      this,
    );
  }
}
