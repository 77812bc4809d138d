/**
 * Weight initialisers after Knet's (`xavier_uniform`/`xavier`, `xavier_normal`,
 * `gaussian`, `bilinear`) and Knet's `param` / `param0`, which wrap an initialised
 * array in a {@link Param}.
 *
 * Dimensions are given row-major, like every shape here: `xavierUniform(784, 100)` is a
 * dense weight [in, out] (Knet's `xavier(100, 784)`), `xavierUniform(8, 3, 5, 5)` a conv
 * filter [O, I, kH, kW] (Knet's `xavier(5, 5, 3, 8)`). Either as numbers or as one array,
 * optionally followed by an options object: `gaussian(3, 4, { std: 0.1 })`,
 * `gaussian([3, 4], { std: 0.1 })`.
 *
 * Values are drawn on the host from a seeded generator (the option `rng`, default the
 * global one, see `seed`) in f64, rounded to the dtype (default f32), and placed on the
 * device (default: the default device).
 *
 * @module
 */

import { Param } from "./autograd/param.ts";
import { fromArray, zeros } from "./tensor/create.ts";
import { defaultDevice } from "./tensor/device.ts";
import { globalRng, type Rng } from "./tensor/random.ts";
import { checkShape, type DeviceName, type DType, shapeSize, Tensor } from "./tensor/tensor.ts";

/** Where and how an initialiser creates its array. */
export interface WeightInitOptions {
  /** Generator to draw from (default: the global one, see `seed`). */
  rng?: Rng;
  /** Element type (default f32; f64 is CPU-only). */
  dtype?: DType;
  /** Device (default: the default device). */
  device?: DeviceName;
}

/** Options of {@link xavierUniform} and {@link xavierNormal}. */
export interface XavierOptions extends WeightInitOptions {
  /** Scale factor of the range / standard deviation (default 1). */
  gain?: number;
}

/** Options of {@link gaussian}. */
export interface GaussianOptions extends WeightInitOptions {
  /** Mean (default 0). */
  mean?: number;
  /** Standard deviation (default 0.01). */
  std?: number;
}

/**
 * The arguments of an initialiser: dimensions as numbers or as one array, optionally
 * followed by options.
 */
export type DimsArgs<O> =
  | number[]
  | [...number[], O]
  | [readonly number[]]
  | [readonly number[], O | undefined];

/** An initialiser as {@link param} calls it: `init(shape, { rng, dtype, device })`. */
export type Initializer = (shape: readonly number[], opts: WeightInitOptions) => Tensor;

/** Splits initialiser arguments into a validated shape and options. */
function parseDims<O extends object>(op: string, args: readonly unknown[]): [number[], O] {
  if (args.some((a) => a instanceof Tensor)) {
    throw new Error(`${op}: expected dimensions, got a Tensor`);
  }
  let rest = [...args];
  let opts = {} as O;
  const last = rest[rest.length - 1];
  if (
    rest.length > 0 && (last === undefined || (typeof last === "object" && !Array.isArray(last)))
  ) {
    opts = (last ?? {}) as O;
    rest = rest.slice(0, -1);
  }
  let dims: unknown[];
  if (rest.length === 1 && Array.isArray(rest[0])) dims = [...rest[0]];
  else dims = rest;
  if (!dims.every((d) => typeof d === "number")) {
    throw new Error(
      `${op}: expected dimensions as numbers or one array, then options; got ` +
        `(${args.map((a) => (Array.isArray(a) ? `[${a}]` : typeof a)).join(", ")})`,
    );
  }
  const shape = dims as number[];
  checkShape(op, shape);
  if (shape.length === 0) {
    throw new Error(`${op}: needs at least one dimension, got none`);
  }
  return [shape, opts];
}

/**
 * Knet's fan-in and fan-out for our row-major dims: [n] → (n, 1); a dense weight
 * [in, out] → (in, out); rank ≥ 3, a filter [O, I, k...] → (I·Πk, O·Πk) (Knet computes
 * the same numbers from its column-major (k..., I, O)).
 */
export function fans(shape: readonly number[]): [fanIn: number, fanOut: number] {
  if (shape.length === 1) return [shape[0], 1];
  if (shape.length === 2) return [shape[0], shape[1]];
  const receptive = shapeSize(shape.slice(2));
  return [shape[1] * receptive, shape[0] * receptive];
}

function make(
  op: string,
  shape: number[],
  opts: WeightInitOptions,
  draw: (rng: Rng) => number,
): Tensor {
  const rng = opts.rng ?? globalRng;
  const values = new Float64Array(shapeSize(shape));
  for (let i = 0; i < values.length; i++) values[i] = draw(rng);
  return place(op, shape, values, opts);
}

function place(op: string, shape: number[], values: Float64Array, opts: WeightInitOptions): Tensor {
  try {
    return fromArray(values, { shape, dtype: opts.dtype, device: opts.device });
  } catch (e) {
    throw new Error(`${op}: ${(e as Error).message}`);
  }
}

function checkGain(op: string, gain: number): void {
  if (typeof gain !== "number" || !Number.isFinite(gain)) {
    throw new Error(`${op}: gain must be a finite number, got ${String(gain)}`);
  }
}

/**
 * Knet's `xavier_uniform(dims...; gain=1)` (Glorot uniform): values uniform in
 * [−s, s) with s = gain·√(6 / (fanin + fanout)), so the variance is
 * gain²·2 / (fanin + fanout). Fans for our row-major dims: [n] → (n, 1); a dense weight
 * [in, out] → fanin = in, fanout = out; a conv filter [O, I, kH, kW] (any rank ≥ 3) →
 * fanin = I·kH·kW, fanout = O·kH·kW — the numbers Knet computes from its column-major
 * (out, in) and (kW, kH, I, O).
 */
export function xavierUniform(...args: DimsArgs<XavierOptions>): Tensor {
  const [shape, opts] = parseDims<XavierOptions>("xavierUniform", args);
  const gain = opts.gain ?? 1;
  checkGain("xavierUniform", gain);
  const [fi, fo] = fans(shape);
  const s = gain * Math.sqrt(6 / (fi + fo));
  return make("xavierUniform", shape, opts, (rng) => 2 * s * rng.uniform() - s);
}

/** Knet's `xavier`: an alias of {@link xavierUniform}. */
export const xavier: (...args: DimsArgs<XavierOptions>) => Tensor = xavierUniform;

/**
 * Knet's `xavier_normal(dims...; gain=1)` (Glorot normal): values normal with mean 0 and
 * standard deviation gain·√(2 / (fanin + fanout)); fans as in {@link xavierUniform}.
 */
export function xavierNormal(...args: DimsArgs<XavierOptions>): Tensor {
  const [shape, opts] = parseDims<XavierOptions>("xavierNormal", args);
  const gain = opts.gain ?? 1;
  checkGain("xavierNormal", gain);
  const [fi, fo] = fans(shape);
  const s = gain * Math.sqrt(2 / (fi + fo));
  return make("xavierNormal", shape, opts, (rng) => s * rng.normal());
}

/** Knet's `gaussian(dims...; mean=0, std=0.01)`: normal values `mean + std·z`. */
export function gaussian(...args: DimsArgs<GaussianOptions>): Tensor {
  const [shape, opts] = parseDims<GaussianOptions>("gaussian", args);
  const { mean = 0, std = 0.01 } = opts;
  if (!Number.isFinite(mean) || !Number.isFinite(std) || std < 0) {
    throw new Error(`gaussian: mean must be finite and std finite and ≥ 0, got ${mean}, ${std}`);
  }
  return make("gaussian", shape, opts, (rng) => mean + std * rng.normal());
}

/**
 * Knet's `bilinear(T, f, f, C, C)`: a deconvolution filter that upsamples each of
 * `channels` channels by `factor` with bilinear interpolation, shaped [C, C, k, k]
 * (our [O, I, kH, kW]) with k = 2·factor − factor mod 2. Channel pairs (c, c) hold the
 * kernel K[u, v] = (1 − |u − ctr| / factor)·(1 − |v − ctr| / factor), ctr = factor − 1
 * for odd k and factor − 0.5 for even k; the other pairs are 0. Knet's separate width and
 * height factors and in/out channel counts must be equal there; here there is one of each.
 */
export function bilinear(
  factor: number,
  channels: number,
  opts: Omit<WeightInitOptions, "rng"> = {},
): Tensor {
  if (!Number.isInteger(factor) || factor < 1) {
    throw new Error(`bilinear: factor must be a positive integer, got ${factor}`);
  }
  if (!Number.isInteger(channels) || channels < 0) {
    throw new Error(`bilinear: channels must be a non-negative integer, got ${channels}`);
  }
  const k = 2 * factor - (factor % 2);
  const ctr = k % 2 === 1 ? factor - 1 : factor - 0.5;
  const shape = [channels, channels, k, k];
  const values = new Float64Array(shapeSize(shape));
  for (let c = 0; c < channels; c++) {
    const base = (c * channels + c) * k * k;
    for (let u = 0; u < k; u++) {
      for (let v = 0; v < k; v++) {
        values[base + u * k + v] = (1 - Math.abs(u - ctr) / factor) *
          (1 - Math.abs(v - ctr) / factor);
      }
    }
  }
  return place("bilinear", shape, values, opts);
}

/** Options of {@link param}. */
export interface ParamOptions extends WeightInitOptions {
  /** The initialiser (default {@link xavierUniform}), called as `init(shape, opts)`. */
  init?: Initializer;
}

/**
 * Knet's `param(dims...; init=xavier_uniform, atype)`: a {@link Param} holding
 * `init(shape, { rng, dtype, device })` (Knet's atype is our dtype and device, default f32
 * on the default device). `param(tensor, opts)` is Knet's `param(array)`: a Param
 * wrapping `tensor` (sharing its storage), or wrapping a copy when it must move: a CPU
 * tensor goes to `opts.device` or else the default device (f64 is converted to f32 for
 * the GPU); a GPU tensor stays on the GPU (bringing it back would need a host sync:
 * `param(await t.cpu())`). A `dtype` option converts CPU tensors.
 */
export function param(tensor: Tensor, opts?: Omit<ParamOptions, "init" | "rng">): Param;
/** Knet's `param(dims...; init, atype)`: see the overload above. */
export function param(...args: DimsArgs<ParamOptions>): Param;
export function param(...args: unknown[]): Param {
  if (args[0] instanceof Tensor) return paramOf(args[0], (args[1] ?? {}) as ParamOptions);
  const [shape, opts] = parseDims<ParamOptions>("param", args);
  const init = opts.init ?? xavierUniform;
  if (typeof init !== "function") {
    throw new Error(`param: init must be a function (shape, opts) => Tensor, got ${typeof init}`);
  }
  const t = init(shape, { rng: opts.rng, dtype: opts.dtype, device: opts.device });
  if (!(t instanceof Tensor)) throw new Error(`param: init returned ${String(t)}, not a Tensor`);
  const want = [...shape];
  if (t.rank !== want.length || t.shape.some((d, i) => d !== want[i])) {
    throw new Error(`param: init returned shape [${t.shape}] for dims [${want}]`);
  }
  const p = new Param(t);
  t.dispose();
  return p;
}

function paramOf(t: Tensor, opts: ParamOptions): Param {
  if (t.disposed) throw new Error(`param: tensor [${t.shape}] was disposed`);
  const device = opts.device ?? (t.device === "gpu" ? "gpu" : defaultDevice());
  if (t.device === "gpu") {
    if (device !== "gpu") {
      throw new Error(
        `param: the tensor ${t} is on the gpu; moving it to the cpu needs a host sync: ` +
          "use param(await t.cpu())",
      );
    }
    if (opts.dtype !== undefined && opts.dtype !== "f32") {
      throw new Error(`param: dtype ${opts.dtype} is not supported on the GPU (f32 only)`);
    }
    return new Param(t);
  }
  let moved = t;
  const dtype = device === "gpu" ? "f32" : opts.dtype ?? t.dtype;
  if (device === "gpu" && opts.dtype !== undefined && opts.dtype !== "f32") {
    throw new Error(`param: dtype ${opts.dtype} is not supported on the GPU (f32 only)`);
  }
  if (moved.dtype !== dtype) moved = moved.asType(dtype);
  if (device === "gpu") {
    const g = moved.gpu();
    if (moved !== t) moved.dispose();
    moved = g;
  }
  const p = new Param(moved);
  if (moved !== t) moved.dispose();
  return p;
}

/** Knet's `param0(dims...; atype)`: a Param of zeros (dtype and device as in {@link param}). */
export function param0(...args: DimsArgs<Omit<ParamOptions, "init" | "rng">>): Param {
  const [shape, opts] = parseDims<ParamOptions>("param0", args);
  return param(shape, {
    dtype: opts.dtype,
    device: opts.device,
    init: (s, o) => zeros(s, { dtype: o.dtype, device: o.device }),
  });
}
