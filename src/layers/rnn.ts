/**
 * Knet's recurrent layer `RNN(inputSize, hiddenSize; rnnType, numLayers, bidirectional,
 * dropout, skipInput, seed, winit, binit, finit, h, c)`: relu and tanh RNNs, LSTM and
 * GRU with cuDNN's formulas (src/ops/rnn_cell.ts), stacked and bidirectional, over
 * sequences of equal length or, with `batchSizes`, of decreasing lengths.
 *
 * @module
 */

import type { Param } from "../autograd/param.ts";
import { type Initializer, param, xavierUniform } from "../init.ts";
import { dropout } from "../ops/dropout.ts";
import { type RnnDirInputs, rnnLayer } from "../ops/rnn.ts";
import { RNN_GATES, type RnnMode } from "../ops/rnn_cell.ts";
import { concat, slice } from "../ops/shape.ts";
import { checkOptionNames } from "../options.ts";
import { ones, zeros } from "../tensor/create.ts";
import { defaultDevice } from "../tensor/device.ts";
import { Rng } from "../tensor/random.ts";
import { keep, tidy } from "../tensor/scope.ts";
import { fmtShape } from "../tensor/shape.ts";
import { type DeviceName, type DType, Tensor } from "../tensor/tensor.ts";
import {
  checkProbability,
  checkSize,
  checkTensor,
  inLayer,
  type Layer,
  type LayerInitOptions,
  layerSummary,
} from "./layer.ts";

/**
 * A recurrent state as Knet keeps it in `rnn.h` / `rnn.c`: null (Knet's `nothing`: start
 * from zeros, keep nothing), 0 (start from zeros, keep the final state) or a tensor
 * [L·dirs, B, H] (start from it, keep the final state).
 */
export type RnnState = Tensor | 0 | null;

/** Options of {@link RNN} (Knet's keywords and defaults). */
export interface RnnOptions extends LayerInitOptions {
  /** "relu", "tanh", "lstm" (default) or "gru". */
  rnnType?: RnnMode;
  /** Stacked layers (default 1). */
  numLayers?: number;
  /** A second direction running backwards in time (default false). */
  bidirectional?: boolean;
  /** Dropout probability on the input and between layers, inside `diff` only (default 0). */
  dropout?: number;
  /** No input projection in the first layer: the input is added to every gate (needs inputSize = hiddenSize). */
  skipInput?: boolean;
  /** Seed of the dropout masks. */
  seed?: number;
  /** Initialiser of each gate's weight matrix (default xavier). */
  winit?: Initializer;
  /** Initialiser of each gate's bias (default zeros). */
  binit?: Initializer;
  /** Initialiser of the LSTM forget gate's biases (default ones). */
  finit?: Initializer;
  /** Initial hidden state (see {@link RnnState}; default null). */
  h?: RnnState;
  /** Initial cell state, LSTM only (see {@link RnnState}; default null). */
  c?: RnnState;
}

/** Options of one {@link RNN.forward} call. */
export interface RnnForwardOptions {
  /**
   * Rows of each time step for sequences of decreasing lengths (Knet's `batchSizes`):
   * non-increasing, summing to the rows of the 2-D input [Σ, X].
   */
  batchSizes?: readonly number[];
}

/** The Params of one direction of one layer (gates stacked in Knet's order). */
export interface RnnWeights {
  /** Input weights [G·H, inputs] (null for the first layer with `skipInput`). */
  W: Param | null;
  /** Recurrent weights [G·H, H]. */
  R: Param;
  /** Input-side bias [G·H]. */
  bW: Param;
  /** Recurrent-side bias [G·H]. */
  bR: Param;
}

const zerosInit: Initializer = (shape, o) => zeros(shape, { dtype: o.dtype, device: "cpu" });
const onesInit: Initializer = (shape, o) => ones(shape, { dtype: o.dtype, device: "cpu" });

/**
 * A recurrent layer (Knet's `RNN`). Shapes are row-major with time first: Knet's
 * column-major (X, B, T) input is x [T, B, X] here and the output y [T, B, H·dirs];
 * [B, X] and [X] inputs are one time step. States `h` / `c` are [L·dirs, B, H], layers
 * outermost, the forward direction first. With `batchSizes`, x is [Σ batchSizes, X]
 * (time-major rows: the rows of step t follow those of step t − 1).
 *
 * Final states kept in `h` / `c` between calls are plain data: inside `diff` they carry
 * the gradient within that call, and the next `diff` starts from their values without
 * reaching back into the previous tape (no need for Knet's `value`). A final state the
 * layer made is released when the next call (or an assignment to `h` / `c`, or
 * `dispose`) replaces it; a state the caller assigned stays the caller's.
 *
 * ```ts
 * const lstm = new RNN(256, 256);            // one LSTM layer
 * const y = lstm.forward(x);                 // x [T,B,256] → y [T,B,256]
 * lstm.h = 0; lstm.c = 0;                    // carry the states from call to call
 * ```
 */
export class RNN implements Layer {
  /** Input features. */
  readonly inputSize: number;
  /** Hidden size H. */
  readonly hiddenSize: number;
  /** Cell type. */
  readonly rnnType: RnnMode;
  /** Stacked layers L. */
  readonly numLayers: number;
  /** Whether a backward-in-time direction runs beside the forward one. */
  readonly bidirectional: boolean;
  /** Dropout probability on the input and between layers. */
  readonly dropout: number;
  /** Whether the first layer has no input projection. */
  readonly skipInput: boolean;
  /** Params by layer, then direction. */
  readonly weights: RnnWeights[][];
  #h: RnnState = null;
  #c: RnnState = null;
  /** Whether #h / #c are final states this layer made (released when replaced). */
  #ownH = false;
  #ownC = false;
  readonly #rng: Rng | undefined;
  /** Identity gate projections of a skipInput first layer (not trained). */
  readonly #skipW: Tensor | null;

  /** A recurrent layer from `inputSize` to `hiddenSize` features; see {@link RnnOptions}. */
  constructor(inputSize: number, hiddenSize: number, opts: RnnOptions = {}) {
    checkOptionNames("RNN", opts, [
      "rnnType",
      "numLayers",
      "bidirectional",
      "dropout",
      "skipInput",
      "seed",
      "winit",
      "binit",
      "finit",
      "h",
      "c",
      "rng",
      "device",
      "dtype",
    ]);
    checkSize("RNN", "inputSize", inputSize);
    checkSize("RNN", "hiddenSize", hiddenSize);
    const mode = opts.rnnType ?? "lstm";
    if (!Object.hasOwn(RNN_GATES, mode)) {
      throw new Error(
        `RNN: unknown rnnType ${JSON.stringify(mode)} (expected relu, tanh, lstm or gru)`,
      );
    }
    this.inputSize = inputSize;
    this.hiddenSize = hiddenSize;
    this.rnnType = mode;
    this.numLayers = opts.numLayers ?? 1;
    checkSize("RNN", "numLayers", this.numLayers);
    this.bidirectional = opts.bidirectional ?? false;
    this.dropout = opts.dropout ?? 0;
    checkProbability("RNN", "dropout", this.dropout);
    this.skipInput = opts.skipInput ?? false;
    if (this.skipInput && inputSize !== hiddenSize) {
      throw new Error(
        `RNN: skipInput needs inputSize = hiddenSize, got ${inputSize} and ${hiddenSize}`,
      );
    }
    this.#rng = opts.seed !== undefined ? new Rng(opts.seed) : opts.rng;
    const device: DeviceName = opts.device ?? defaultDevice();
    const dtype: DType = opts.dtype ?? "f32";
    const H = hiddenSize, G = RNN_GATES[mode], dirs = this.bidirectional ? 2 : 1;
    const winit = opts.winit ?? xavierUniform;
    const binit = opts.binit ?? zerosInit;
    const finit = opts.finit ?? onesInit;
    const initOpts = { rng: opts.rng, dtype, device: "cpu" as const };
    // Each gate's block drawn on its own (Knet initialises every rnnparam separately).
    const stacked = (cols: number, gateInit: (g: number) => Initializer): Param => {
      const shape = cols === 0 ? [G * H] : [G * H, cols];
      const host = new Tensor(
        shape,
        dtype,
        dtype === "f64"
          ? new Float64Array(G * H * Math.max(cols, 1))
          : new Float32Array(G * H * Math.max(cols, 1)),
      );
      const block = H * Math.max(cols, 1);
      for (let g = 0; g < G; g++) {
        const part = gateInit(g)(cols === 0 ? [H] : [H, cols], initOpts);
        host.host("RNN").set(part.host("RNN"), g * block);
        part.dispose();
      }
      return param(host, { device });
    };
    const forget = (g: number) => (mode === "lstm" && g === 1 ? finit : binit);
    this.weights = [];
    for (let l = 0; l < this.numLayers; l++) {
      const inSize = l === 0 ? inputSize : H * dirs;
      const layer: RnnWeights[] = [];
      for (let d = 0; d < dirs; d++) {
        layer.push({
          W: l === 0 && this.skipInput ? null : stacked(inSize, () => winit),
          R: stacked(H, () => winit),
          bW: stacked(0, forget),
          bR: stacked(0, forget),
        });
      }
      this.weights.push(layer);
    }
    this.#skipW = this.skipInput ? skipProjection(G, H, dtype, device) : null;
    this.h = opts.h ?? null;
    this.c = opts.c ?? null;
  }

  /** Directions per layer: 2 when bidirectional, else 1. */
  get directions(): number {
    return this.bidirectional ? 2 : 1;
  }

  /** The hidden state (Knet's `rnn.h`; see {@link RnnState}). */
  get h(): RnnState {
    return this.#h;
  }
  set h(v: RnnState) {
    const s = this.#checkState("h", v);
    if (s !== this.#h) this.#release("h");
    this.#h = s;
  }

  /** The cell state, LSTM only (Knet's `rnn.c`; see {@link RnnState}). */
  get c(): RnnState {
    return this.#c;
  }
  set c(v: RnnState) {
    const s = this.#checkState("c", v);
    if (s !== this.#c) this.#release("c");
    this.#c = s;
  }

  /** Releases a kept state this layer made (not one the caller gave). */
  #release(which: "h" | "c"): void {
    if (which === "h") {
      if (this.#ownH && this.#h instanceof Tensor) this.#h.dispose();
      this.#ownH = false;
    } else {
      if (this.#ownC && this.#c instanceof Tensor) this.#c.dispose();
      this.#ownC = false;
    }
  }

  #checkState(which: string, v: RnnState): RnnState {
    if (v === null || v === 0) return v;
    if (!(v instanceof Tensor)) {
      throw new Error(
        `${this.name}: ${which} must be null, 0 or a Tensor [L·dirs, B, H], got ${String(v)}`,
      );
    }
    checkTensor(this.name, v, which);
    const rows = this.numLayers * this.directions;
    if (v.rank !== 3 || v.shape[0] !== rows || v.shape[2] !== this.hiddenSize) {
      throw new Error(
        `${this.name}: ${which} must be [${rows}, B, ${this.hiddenSize}] ` +
          `([layers·directions, batch, hidden]), got ${fmtShape(v.shape)}`,
      );
    }
    return v;
  }

  /** `RNN(X→H, type)`: how errors name the layer. */
  get name(): string {
    return `RNN(${this.inputSize}→${this.hiddenSize}, ${this.rnnType})`;
  }

  /** Gates per cell (G): 1 for relu/tanh, 4 for LSTM, 3 for GRU. */
  get gates(): number {
    return RNN_GATES[this.rnnType];
  }

  /**
   * Runs the layer over x ([T, B, X], [B, X] or [X]; [Σ batchSizes, X] with
   * `batchSizes`), returning y with the same leading dims and H·dirs features, and
   * updating `h` / `c` when they are kept (not null).
   */
  forward(x: Tensor, opts: RnnForwardOptions = {}): Tensor {
    const name = this.name;
    checkTensor(name, x);
    const W0 = this.weights[0][0].R;
    if (x.device !== W0.device || x.dtype !== W0.dtype) {
      throw new Error(
        `${name}: x ${x.dtype}[${x.shape}] ${x.device} and the layer's parameters ` +
          `(${W0.dtype} ${W0.device}) differ in device or dtype`,
      );
    }
    const { bs, outShape } = this.#layout(name, x, opts.batchSizes);
    const B = bs[0], H = this.hiddenSize, dirs = this.directions, L = this.numLayers;
    const N = bs.reduce((s, b) => s + b, 0);
    const lstm = this.rnnType === "lstm";
    const h0 = this.#initial(name, "h", this.#h, B);
    const c0 = lstm ? this.#initial(name, "c", this.#c, B) : null;
    const keepH = this.#h !== null, keepC = lstm && this.#c !== null;
    const result = inLayer(name, () =>
      tidy(() => {
        let inp = x.reshape(N, this.inputSize);
        const hys: Tensor[] = [], cys: Tensor[] = [];
        for (let l = 0; l < L; l++) {
          if (this.dropout > 0) inp = dropout(inp, this.dropout, { rng: this.#rng });
          const dirInputs: RnnDirInputs[] = [];
          for (let d = 0; d < dirs; d++) {
            const w = this.weights[l][d];
            const k = l * dirs + d;
            dirInputs.push({
              W: w.W ?? this.#skipW!,
              R: w.R,
              bW: w.bW,
              bR: w.bR,
              h0: stateSlice(h0, k, B * H),
              c0: c0 ? stateSlice(c0, k, B * H) : undefined,
            });
          }
          const r = rnnLayer(inp, dirInputs, this.rnnType, H, bs);
          inp = r.y;
          hys.push(r.hy);
          if (r.cy) cys.push(r.cy);
        }
        const y = inp.reshape(outShape);
        const hy = keepH ? keep(L === 1 ? hys[0] : concat(hys, 0)) : null;
        const cy = keepC ? keep(L === 1 ? cys[0] : concat(cys, 0)) : null;
        return { y, hy, cy };
      }));
    if (h0 instanceof Tensor && h0 !== this.#h) h0.dispose();
    if (c0 instanceof Tensor && c0 !== this.#c) c0.dispose();
    if (result.hy) {
      this.#release("h");
      this.#h = result.hy;
      this.#ownH = true;
    }
    if (result.cy) {
      this.#release("c");
      this.#c = result.cy;
      this.#ownC = true;
    }
    return result.y;
  }

  /** Rows per time step and the output shape, checking x against the layer. */
  #layout(name: string, x: Tensor, batchSizes: readonly number[] | undefined) {
    const X = this.inputSize, HD = this.hiddenSize * this.directions;
    const features = x.rank === 0 ? 1 : x.shape[x.rank - 1];
    if (x.rank < 1 || x.rank > 3 || features !== X) {
      throw new Error(
        `${name}: expected x [T, B, ${X}], [B, ${X}] or [${X}], got ${fmtShape(x.shape)}`,
      );
    }
    if (batchSizes !== undefined) {
      if (x.rank !== 2) {
        throw new Error(
          `${name}: with batchSizes x must be [Σ batchSizes, ${X}], got ${fmtShape(x.shape)}`,
        );
      }
      const bs = [...batchSizes];
      if (bs.length === 0 || bs.some((b) => !Number.isInteger(b) || b < 1)) {
        throw new Error(
          `${name}: batchSizes must be positive integers, got [${bs.join(", ")}]`,
        );
      }
      for (let t = 1; t < bs.length; t++) {
        if (bs[t] > bs[t - 1]) {
          throw new Error(
            `${name}: batchSizes must be non-increasing, got [${bs.join(", ")}] ` +
              `(step ${t + 1} has ${bs[t]} > ${bs[t - 1]})`,
          );
        }
      }
      const total = bs.reduce((s, b) => s + b, 0);
      if (total !== x.shape[0]) {
        throw new Error(
          `${name}: batchSizes [${bs.join(", ")}] sum to ${total}, but x ${fmtShape(x.shape)} has ${
            x.shape[0]
          } rows`,
        );
      }
      return { bs, outShape: [total, HD] };
    }
    if (x.rank === 3) {
      return {
        bs: Array(x.shape[0]).fill(x.shape[1]) as number[],
        outShape: [x.shape[0], x.shape[1], HD],
      };
    }
    if (x.rank === 2) return { bs: [x.shape[0]], outShape: [x.shape[0], HD] };
    return { bs: [1], outShape: [HD] };
  }

  /** The initial state [L·dirs·B·H] as a flat tensor (zeros for null / 0). */
  #initial(name: string, which: string, s: RnnState, B: number): Tensor {
    const rows = this.numLayers * this.directions, H = this.hiddenSize;
    const W0 = this.weights[0][0].R;
    if (s instanceof Tensor) {
      if (s.disposed) throw new Error(`${name}: the state ${which} was disposed`);
      if (s.shape[1] !== B) {
        throw new Error(
          `${name}: ${which} is ${fmtShape(s.shape)} but x has batch ${B} ` +
            `(expected [${rows}, ${B}, ${H}])`,
        );
      }
      if (s.device !== W0.device || s.dtype !== W0.dtype) {
        throw new Error(
          `${name}: ${which} ${s.dtype} ${s.device} differs from the layer's ${W0.dtype} ${W0.device}`,
        );
      }
      return s;
    }
    return zeros([rows, B, H], { dtype: W0.dtype, device: W0.device });
  }

  /** Releases the Params and kept states. */
  dispose(): void {
    for (const layer of this.weights) {
      for (const w of layer) {
        w.W?.dispose();
        w.R.dispose();
        w.bW.dispose();
        w.bR.dispose();
      }
    }
    this.#skipW?.dispose();
    this.#release("h");
    this.#release("c");
  }

  /** `RNN(256→256, lstm): …` with the non-default options listed. */
  toString(): string {
    const extra = [
      ...(this.numLayers !== 1 ? [`numLayers=${this.numLayers}`] : []),
      ...(this.bidirectional ? ["bidirectional"] : []),
      ...(this.dropout !== 0 ? [`dropout=${this.dropout}`] : []),
      ...(this.skipInput ? ["skipInput"] : []),
    ];
    const opts = extra.length ? `, ${extra.join(", ")}` : "";
    return layerSummary(`RNN(${this.inputSize}→${this.hiddenSize}, ${this.rnnType}${opts})`, this);
  }
}

/** State k (of L·dirs) of a [L·dirs, B, H] state, flat, differentiably. */
function stateSlice(s: Tensor, k: number, n: number): Tensor {
  const flat = s.reshape(s.size);
  return s.shape[0] === 1 ? flat : slice(flat, [[k * n, (k + 1) * n]]);
}

/** Stacked identities [G·H, H]: every gate receives the input itself (skipInput). */
function skipProjection(G: number, H: number, dtype: DType, device: DeviceName): Tensor {
  const v = dtype === "f64" ? new Float64Array(G * H * H) : new Float32Array(G * H * H);
  for (let g = 0; g < G; g++) for (let j = 0; j < H; j++) v[(g * H + j) * H + j] = 1;
  const t = new Tensor([G * H, H], dtype, v);
  return device === "gpu" ? keep(t.gpu()) : keep(t);
}
