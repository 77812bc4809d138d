/**
 * Tensor creation: zeros, ones, full, fromArray, arange, rand, randn, on the device
 * named by the options or the default device ({@link defaultDevice}).
 *
 * @module
 */

import { defaultDevice } from "./device.ts";
import { globalRng, type Rng } from "./random.ts";
import { fmtShape } from "./shape.ts";
import {
  checkShape,
  type DeviceName,
  type DType,
  type HostArray,
  hostArray,
  type NestedArray,
  shapeSize,
  Tensor,
  uploadTensor,
} from "./tensor.ts";

/** Where and how to create a tensor. */
export interface CreateOptions {
  /** Element type (default f32). f64 is CPU-only. */
  dtype?: DType;
  /** Device (default: {@link defaultDevice}). */
  device?: DeviceName;
}

/** Options of the random creators. */
export interface RandomOptions extends CreateOptions {
  /** Generator to draw from (default: the global one, see `seed`). */
  rng?: Rng;
}

function place(
  op: string,
  shape: readonly number[],
  values: HostArray,
  opts: CreateOptions,
): Tensor {
  const device = opts.device ?? defaultDevice();
  const dtype = opts.dtype ?? "f32";
  if (device === "gpu") {
    if (dtype !== "f32") {
      throw new Error(`${op}: dtype ${dtype} is not supported on the GPU (f32 only)`);
    }
    return uploadTensor(shape, values as Float32Array);
  }
  if (device !== "cpu") throw new Error(`${op}: unknown device "${device}" (expected cpu or gpu)`);
  return new Tensor(shape, dtype, values);
}

function checkDtype(op: string, dtype: string | undefined): DType {
  const d = dtype ?? "f32";
  if (d !== "f32" && d !== "f64") {
    throw new Error(`${op}: unknown dtype "${d}" (expected f32 or f64)`);
  }
  return d;
}

function shapeArg(op: string, shape: number | readonly number[]): number[] {
  const s = typeof shape === "number" ? [shape] : [...shape];
  checkShape(op, s);
  return s;
}

/** `full` under the name of the calling op (for its error messages). */
function filled(
  op: string,
  shape: number | readonly number[],
  value: number,
  opts: CreateOptions,
): Tensor {
  const s = shapeArg(op, shape);
  const dtype = checkDtype(op, opts.dtype);
  const values = hostArray(dtype, shapeSize(s), op);
  values.fill(value);
  return place(op, s, values, { ...opts, dtype });
}

/** A tensor filled with `value`. */
export function full(
  shape: number | readonly number[],
  value: number,
  opts: CreateOptions = {},
): Tensor {
  return filled("full", shape, value, opts);
}

/** A tensor of zeros. */
export function zeros(shape: number | readonly number[], opts: CreateOptions = {}): Tensor {
  return filled("zeros", shape, 0, opts);
}

/** A tensor of ones. */
export function ones(shape: number | readonly number[], opts: CreateOptions = {}): Tensor {
  return filled("ones", shape, 1, opts);
}

function inferNestedShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let cur: NestedArray = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    if (cur.length === 0) break;
    cur = cur[0];
  }
  return shape;
}

function flattenNested(op: string, data: NestedArray, shape: number[], out: HostArray): void {
  let k = 0;
  const walk = (v: NestedArray, dim: number) => {
    if (dim === shape.length) {
      if (typeof v !== "number") {
        throw new Error(`${op}: ragged nested array (expected a number at depth ${dim})`);
      }
      out[k++] = v;
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[dim]) {
      throw new Error(
        `${op}: ragged nested array: expected length ${shape[dim]} at depth ${dim}, got ${
          Array.isArray(v) ? v.length : typeof v
        }`,
      );
    }
    for (const e of v) walk(e, dim + 1);
  };
  walk(data, 0);
}

/**
 * A tensor from nested arrays, a flat array/typed array (with `shape`), or a number.
 * `fromArray([[1,2],[3,4]])`, `fromArray(new Float32Array(6), { shape: [2,3] })`.
 */
export function fromArray(
  data: NestedArray | ArrayLike<number>,
  opts: CreateOptions & { shape?: readonly number[] } = {},
): Tensor {
  const dtype = checkDtype("fromArray", opts.dtype);
  let shape: number[];
  let values: HostArray;
  if (typeof data === "number") {
    shape = opts.shape ? [...opts.shape] : [];
    checkShape("fromArray", shape);
    if (shapeSize(shape) !== 1) {
      throw new Error(`fromArray: 1 value does not fit shape ${fmtShape(shape)}`);
    }
    values = hostArray(dtype, 1);
    values[0] = data;
  } else if (Array.isArray(data) && !opts.shape) {
    shape = inferNestedShape(data as NestedArray);
    values = hostArray(dtype, shapeSize(shape));
    flattenNested("fromArray", data as NestedArray, shape, values);
  } else {
    const flat = data as ArrayLike<number>;
    shape = opts.shape ? [...opts.shape] : [flat.length];
    checkShape("fromArray", shape);
    if (shapeSize(shape) !== flat.length) {
      throw new Error(`fromArray: ${flat.length} values do not fit shape ${fmtShape(shape)}`);
    }
    values = hostArray(dtype, flat.length);
    for (let i = 0; i < flat.length; i++) {
      const v = flat[i];
      if (typeof v !== "number") throw new Error(`fromArray: element ${i} is not a number`);
      values[i] = v;
    }
  }
  checkShape("fromArray", shape);
  return place("fromArray", shape, values, { ...opts, dtype });
}

/** Like NumPy's arange: `arange(stop)`, `arange(start, stop, step = 1)`. */
export function arange(start: number, stop?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (stop === undefined) [start, stop] = [0, start];
  if (!Number.isFinite(start) || !Number.isFinite(stop) || !Number.isFinite(step) || step === 0) {
    throw new Error(
      `arange: start, stop and step must be finite and step non-zero (got ${start}, ${stop}, ${step})`,
    );
  }
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const dtype = checkDtype("arange", opts.dtype);
  const values = hostArray(dtype, n);
  for (let i = 0; i < n; i++) values[i] = start + i * step;
  return place("arange", [n], values, { ...opts, dtype });
}

/** Uniform random values in [0, 1) from a seeded generator. */
export function rand(shape: number | readonly number[], opts: RandomOptions = {}): Tensor {
  const s = shapeArg("rand", shape);
  const dtype = checkDtype("rand", opts.dtype);
  const rng = opts.rng ?? globalRng;
  const values = hostArray(dtype, shapeSize(s), "rand");
  for (let i = 0; i < values.length; i++) values[i] = rng.uniform();
  return place("rand", s, values, { ...opts, dtype });
}

/** Standard normal random values from a seeded generator. */
export function randn(shape: number | readonly number[], opts: RandomOptions = {}): Tensor {
  const s = shapeArg("randn", shape);
  const dtype = checkDtype("randn", opts.dtype);
  const rng = opts.rng ?? globalRng;
  const values = hostArray(dtype, shapeSize(s), "randn");
  for (let i = 0; i < values.length; i++) values[i] = rng.normal();
  return place("randn", s, values, { ...opts, dtype });
}
