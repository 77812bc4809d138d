/**
 * The Boston Housing data (Harrison & Rubinfeld 1978, UCI): 506 towns, 13 features and
 * the median home value MEDV (in $1000s) as the regression target.
 *
 * Like Knet's `housing()` (data/housing.jl), the features are standardized per column,
 * `(x − mean) / std` with the n−1 standard deviation (Julia's `std`). Row-major: `x` is
 * `[506, 13]` (Knet's 13×506), `y` is `[506, 1]` (Knet's 1×506).
 *
 * @module
 */

import type { DType } from "../tensor/tensor.ts";
import { Tensor } from "../tensor/tensor.ts";
import { ensureFile, type EnsureOptions, type FileSpec } from "./download.ts";
import { dataDir, type DirLike } from "./paths.ts";

/** housing.data from the UCI repository, with the md5/sha256 of the offline copy. */
export const HOUSING_FILE: FileSpec = Object.freeze({
  name: "housing.data",
  url: "https://archive.ics.uci.edu/ml/machine-learning-databases/housing/housing.data",
  bytes: 49082,
  md5: "d4accdce7a25600298819f8e28e8d593",
  sha256: "baadf72995725d76efe787b664e1f083388c79ba21ef9a7990d87f774184735a",
});

/** The 14 columns of housing.data: 13 features, then the target MEDV. */
export const HOUSING_COLUMNS: readonly string[] = Object.freeze([
  "CRIM",
  "ZN",
  "INDUS",
  "CHAS",
  "NOX",
  "RM",
  "AGE",
  "DIS",
  "RAD",
  "TAX",
  "PTRATIO",
  "B",
  "LSTAT",
  "MEDV",
]);

/** Options of {@link housing}. */
export interface HousingOptions extends EnsureOptions {
  /** The directory holding housing.data (default: see `dataDir`, dataset `"housing"`). */
  dir?: DirLike;
  /** Download from this URL instead of UCI's (size and checksums are still checked). */
  url?: string;
  /** Element type of the tensors (default f32). */
  dtype?: DType;
  /** Standardize the features per column (default true, as Knet does). */
  standardize?: boolean;
}

/** The Boston Housing data as CPU tensors. */
export interface HousingData {
  /** Features `[506, 13]`, standardized unless `standardize: false`. */
  x: Tensor;
  /** Target MEDV `[506, 1]` (not standardized). */
  y: Tensor;
  /** Per-column mean of the raw features `[13]` (to standardize new data the same way). */
  mean: Tensor;
  /** Per-column standard deviation (n−1) of the raw features `[13]`. */
  std: Tensor;
}

/** A numeric table parsed from whitespace-separated text. */
export interface NumericTable {
  /** Number of rows. */
  rows: number;
  /** Number of columns. */
  cols: number;
  /** The values, row-major. */
  values: Float64Array;
}

/**
 * Parses whitespace-separated numbers, one row per line (blank lines are skipped),
 * checking that every row has `cols` numeric fields and, when given, that there are
 * `rows` rows.
 *
 * @param text the file's text
 * @param name the file name, for error messages
 * @param cols the number of columns every row must have
 * @param rows the number of rows the table must have (any when omitted)
 * @returns the table
 */
export function parseNumericTable(
  text: string,
  name: string,
  cols: number,
  rows?: number,
): NumericTable {
  const out: number[] = [];
  let count = 0;
  const lines = text.split(/\r?\n/);
  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln].trim();
    if (line === "") continue;
    const fields = line.split(/\s+/);
    if (fields.length !== cols) {
      throw new Error(`${name} line ${ln + 1}: expected ${cols} columns, got ${fields.length}`);
    }
    for (let j = 0; j < cols; j++) {
      const v = Number(fields[j]);
      if (!Number.isFinite(v)) {
        throw new Error(`${name} line ${ln + 1}: column ${j + 1} "${fields[j]}" is not a number`);
      }
      out.push(v);
    }
    count++;
  }
  if (rows !== undefined && count !== rows) {
    throw new Error(`${name}: expected ${rows} rows of ${cols} columns, got ${count}`);
  }
  if (count === 0) throw new Error(`${name}: no data rows`);
  return { rows: count, cols, values: Float64Array.from(out) };
}

/**
 * Column means and n−1 standard deviations of the first `k` columns of a table.
 * A constant column gets std 1 (so standardizing maps it to 0 instead of NaN).
 */
function columnStats(t: NumericTable, k: number): { mean: Float64Array; std: Float64Array } {
  const mean = new Float64Array(k);
  const std = new Float64Array(k);
  for (let i = 0; i < t.rows; i++) for (let j = 0; j < k; j++) mean[j] += t.values[i * t.cols + j];
  for (let j = 0; j < k; j++) mean[j] /= t.rows;
  for (let i = 0; i < t.rows; i++) {
    for (let j = 0; j < k; j++) {
      const d = t.values[i * t.cols + j] - mean[j];
      std[j] += d * d;
    }
  }
  for (let j = 0; j < k; j++) {
    const s = t.rows > 1 ? Math.sqrt(std[j] / (t.rows - 1)) : 0;
    std[j] = s > 0 ? s : 1;
  }
  return { mean, std };
}

function tensorOf(dtype: DType, shape: number[], values: ArrayLike<number>): Tensor {
  const arr = dtype === "f64" ? Float64Array.from(values) : Float32Array.from(values);
  return new Tensor(shape, dtype, arr);
}

/**
 * The Boston Housing regression data, with standardized features (like Knet's
 * `housing()`), downloading housing.data when missing.
 *
 * @param opts `dir`, `url`, `download`, `quiet`, `fetch`, `dtype` (default f32),
 *   `standardize` (default true)
 * @returns `{ x: [506,13], y: [506,1], mean: [13], std: [13] }` as CPU tensors
 */
export async function housing(opts: HousingOptions = {}): Promise<HousingData> {
  const dtype = opts.dtype ?? "f32";
  if (dtype !== "f32" && dtype !== "f64") {
    throw new Error(`housing: unknown dtype "${dtype}" (expected f32 or f64)`);
  }
  const spec = opts.url !== undefined ? { ...HOUSING_FILE, url: opts.url } : HOUSING_FILE;
  const path = await ensureFile(dataDir("housing", opts.dir), spec, opts);
  const table = parseNumericTable(await Deno.readTextFile(path), `housing: ${path}`, 14, 506);
  const n = table.rows;
  const k = 13;
  const { mean, std } = columnStats(table, k);
  const standardize = opts.standardize ?? true;
  const x = new Float64Array(n * k);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      const v = table.values[i * 14 + j];
      x[i * k + j] = standardize ? (v - mean[j]) / std[j] : v;
    }
    y[i] = table.values[i * 14 + k];
  }
  return {
    x: tensorOf(dtype, [n, k], x),
    y: tensorOf(dtype, [n, 1], y),
    mean: tensorOf(dtype, [k], mean),
    std: tensorOf(dtype, [k], std),
  };
}
