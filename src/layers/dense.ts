/**
 * The fully connected layer (Knet's `Dense`).
 *
 * @module
 */

import { checkOptionNames } from "../options.ts";
import type { Param } from "../autograd/param.ts";
import { dropout } from "../ops/dropout.ts";
import { mat } from "../ops/indexing.ts";
import { add } from "../ops/math.ts";
import { linear } from "../ops/linear.ts";
import { matmul } from "../ops/matmul.ts";
import { type Initializer, param, param0, xavierUniform } from "../init.ts";
import type { Rng } from "../tensor/random.ts";
import { tidy } from "../tensor/scope.ts";
import { fmtShape } from "../tensor/shape.ts";
import { shapeSize, type Tensor } from "../tensor/tensor.ts";
import {
  type Activation,
  activationFn,
  activationName,
  checkPlacement,
  checkProbability,
  checkSize,
  checkTensor,
  inLayer,
  type Layer,
  type LayerInitOptions,
  layerSummary,
} from "./layer.ts";

/** Options of {@link Dense} (Knet's keywords and defaults). */
export interface DenseOptions extends LayerInitOptions {
  /** Applied to the affine map (default "relu", Knet's `f=relu`; "identity" for none). */
  activation?: Activation;
  /** Whether the layer has a bias b (default true). */
  bias?: boolean;
  /** Dropout probability applied to the input while `diff` records (default 0). */
  pdrop?: number;
  /** Initialiser of the weight w (default `xavierUniform`, Knet's default). */
  init?: Initializer;
}

/**
 * A fully connected layer (Knet's `Dense(i, o; f=relu, pdrop=0)`):
 * y = f(mat(dropout(x, pdrop)) · w + b) with w a Param [input, output] (Knet's (o, i),
 * the same memory) drawn by `init`, and b a Param [output] of zeros (absent with
 * `bias: false`).
 *
 * `x` is [N, ...]: its trailing dims are flattened (Knet's `mat`), so a conv output
 * [N,C,H,W] with C·H·W = input goes straight in. A vector [n] is n instances of one
 * feature, as `mat` reads it. Dropout acts only inside `diff`. Intermediates are
 * released: only y stays alive.
 *
 * ```ts
 * const d = new Dense(784, 100);                      // relu
 * const out = new Dense(100, 10, { activation: "identity" });
 * const scores = out.forward(d.forward(x));          // x [N,784] or [N,1,28,28]
 * ```
 */
export class Dense implements Layer {
  /** The weight [input, output]. */
  readonly w: Param;
  /** The bias [output], or null without one. */
  readonly b: Param | null;
  /** Features per input instance. */
  readonly input: number;
  /** Features per output instance. */
  readonly output: number;
  /** The activation applied to the affine map. */
  readonly activation: Activation;
  /** Dropout probability of the input (applied inside `diff` only). */
  readonly pdrop: number;
  readonly #act: (x: Tensor) => Tensor;
  readonly #rng: Rng | undefined;

  /** A layer mapping `input` features to `output` features; see {@link DenseOptions}. */
  constructor(input: number, output: number, opts: DenseOptions = {}) {
    if (opts !== null && typeof opts === "object") {
      checkOptionNames("Dense", opts, [
        "activation",
        "bias",
        "pdrop",
        "init",
        "rng",
        "device",
        "dtype",
      ]);
    }
    checkSize("Dense", "input", input);
    checkSize("Dense", "output", output);
    const name = `Dense(${input}→${output})`;
    this.input = input;
    this.output = output;
    this.activation = opts.activation ?? "relu";
    this.#act = activationFn(name, this.activation);
    this.pdrop = opts.pdrop ?? 0;
    checkProbability(name, "pdrop", this.pdrop);
    this.#rng = opts.rng;
    const place = { device: opts.device, dtype: opts.dtype };
    this.w = param([input, output], { ...place, init: opts.init ?? xavierUniform, rng: opts.rng });
    try {
      this.b = opts.bias ?? true ? param0([output], place) : null;
    } catch (e) {
      this.w.dispose();
      throw e;
    }
  }

  /** y = act(mat(dropout(x, pdrop)) · w + b) for x [N, ...] with `input` trailing features. */
  forward(x: Tensor): Tensor {
    const name = `Dense(${this.input}→${this.output})`;
    checkTensor(name, x);
    const features = x.rank <= 1 ? 1 : shapeSize(x.shape.slice(1));
    if (features !== this.input) {
      throw new Error(
        `${name}: expected ${this.input} features per instance, got x ${
          fmtShape(x.shape)
        } (${features})`,
      );
    }
    checkPlacement(name, x, this.w);
    return inLayer(name, () =>
      tidy(() => {
        const h = mat(dropout(x, this.pdrop, { rng: this.#rng }));
        // The common cases as one fused op (one GPU dispatch: GEMM, bias and relu).
        if (this.b && (this.activation === "relu" || this.activation === "identity")) {
          return linear(h, this.w, this.b, this.activation);
        }
        const z = matmul(h, this.w);
        return this.#act(this.b ? add(z, this.b) : z);
      }));
  }

  /** Releases the Params. */
  dispose(): void {
    this.w.dispose();
    this.b?.dispose();
  }

  /** `Dense(800→500, relu): w [800,500], b [500] f32 cpu` (non-default options listed). */
  toString(): string {
    const extra = [
      activationName(this.activation),
      ...(this.pdrop !== 0 ? [`pdrop=${this.pdrop}`] : []),
      ...(this.b === null ? ["bias=false"] : []),
    ];
    return layerSummary(`Dense(${this.input}→${this.output}, ${extra.join(", ")})`, this);
  }
}
