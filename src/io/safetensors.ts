/**
 * The safetensors file format (Hugging Face), so other frameworks can read denet's
 * checkpoints and denet can read theirs:
 *
 * - 8 bytes: N, the header length, a little-endian u64;
 * - N bytes: a UTF-8 JSON object `{"__metadata__": {string: string}, "<name>": {"dtype":
 *   "F32", "shape": [..], "data_offsets": [begin, end]}, ...}`; the writer pads it with
 *   spaces so the data section starts at a multiple of 8;
 * - the data section: each tensor's values, little-endian, row-major, at
 *   `[begin, end)` relative to the section start. The tensors cover the section exactly
 *   (contiguous, no gaps, no overlaps, nothing after the last one).
 *
 * Only F32 and F64 tensors are supported (denet's dtypes); any other dtype is a clear
 * Error. Every structural problem (short file, header length beyond the file, invalid
 * UTF-8 or JSON, a bad entry, offsets out of range, overlapping, with gaps or of the
 * wrong size, a truncated data section) is an Error naming the file and the problem.
 *
 * @module
 */

/** The element types denet reads and writes (safetensors spelling). */
export type SafetensorsDType = "F32" | "F64";

/** One tensor to write with {@link encodeSafetensors}. */
export interface SafetensorsTensor {
  /** The tensor's name (unique in the file; not `__metadata__`). */
  name: string;
  /** Element type; must match the array type of `data`. */
  dtype: SafetensorsDType;
  /** Dimensions, row-major. */
  shape: readonly number[];
  /** The values, row-major: `product(shape)` elements. */
  data: Float32Array | Float64Array;
}

/** A tensor read by {@link decodeSafetensors} (its data is a fresh copy). */
export interface DecodedTensor {
  /** Element type. */
  dtype: SafetensorsDType;
  /** Dimensions, row-major. */
  shape: number[];
  /** The values: a Float32Array for F32, a Float64Array for F64. */
  data: Float32Array | Float64Array;
}

/** A tensor's entry in a safetensors header. */
export interface TensorEntry {
  /** Element type. */
  dtype: SafetensorsDType;
  /** Dimensions, row-major. */
  shape: number[];
  /** Start of the tensor's bytes, relative to the data section. */
  begin: number;
  /** End (exclusive) of the tensor's bytes, relative to the data section. */
  end: number;
}

/** A parsed and validated safetensors header. */
export interface SafetensorsHeader {
  /** The `__metadata__` map (empty when absent). */
  metadata: Record<string, string>;
  /** Tensor entries by name, in data-offset order. */
  tensors: Map<string, TensorEntry>;
  /** Byte offset of the data section in the file (8 + N). */
  dataStart: number;
}

/** The contents of a safetensors file. */
export interface SafetensorsFile {
  /** The `__metadata__` map (empty when absent). */
  metadata: Record<string, string>;
  /** Tensors by name, in data-offset order. */
  tensors: Map<string, DecodedTensor>;
}

/** Bytes per element of each supported dtype. */
export const DTYPE_BYTES: Readonly<Record<SafetensorsDType, number>> = Object.freeze({
  F32: 4,
  F64: 8,
});

/** The largest header accepted (as the reference implementation: 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/** The dtypes of the safetensors specification that denet does not read. */
const OTHER_DTYPES = new Set([
  "BOOL",
  "U8",
  "I8",
  "F8_E5M2",
  "F8_E4M3",
  "I16",
  "U16",
  "F16",
  "BF16",
  "I32",
  "U32",
  "I64",
  "U64",
]);

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(",")}]`;
}

function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Validates a metadata map: a plain object whose values are all strings. Throws an
 * Error naming `op` and the offending key.
 */
export function checkMetadata(op: string, metadata: unknown): Record<string, string> {
  if (!isPlainObject(metadata)) {
    throw new Error(`${op}: metadata must be an object of strings, got ${describe(metadata)}`);
  }
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") {
      throw new Error(
        `${op}: metadata value of key "${k}" must be a string, got ${describe(v)}`,
      );
    }
  }
  return metadata as Record<string, string>;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") {
    return `the ${typeof v} ${String(v)}`;
  }
  return typeof v;
}

/**
 * Serialises tensors and a metadata map to the safetensors format. Tensors are written
 * in the given order; the header is padded with spaces to a multiple of 8 bytes.
 * Throws for duplicate or reserved names, a dtype that does not match the data's array
 * type, a data length that does not match the shape, or a non-string metadata value.
 */
export function encodeSafetensors(
  tensors: readonly SafetensorsTensor[],
  metadata: Record<string, string> = {},
): Uint8Array {
  const op = "encodeSafetensors";
  checkMetadata(op, metadata);
  // A null-prototype object, so a tensor named "__proto__" is an ordinary key.
  const header: Record<string, unknown> = Object.create(null);
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (typeof t.name !== "string") throw new Error(`${op}: tensor name must be a string`);
    if (t.name === "__metadata__") {
      throw new Error(`${op}: the tensor name "__metadata__" is reserved`);
    }
    if (seen.has(t.name)) throw new Error(`${op}: duplicate tensor name "${t.name}"`);
    seen.add(t.name);
    if (t.dtype !== "F32" && t.dtype !== "F64") {
      throw new Error(`${op}: tensor "${t.name}" has unsupported dtype ${String(t.dtype)}`);
    }
    const want = t.dtype === "F32" ? Float32Array : Float64Array;
    if (!(t.data instanceof want)) {
      throw new Error(
        `${op}: tensor "${t.name}" has dtype ${t.dtype} but its data is a ${t.data?.constructor?.name}`,
      );
    }
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) {
        throw new Error(`${op}: tensor "${t.name}" has an invalid shape ${fmtShape(t.shape)}`);
      }
    }
    const n = product(t.shape);
    if (t.data.length !== n) {
      throw new Error(
        `${op}: tensor "${t.name}" has ${t.data.length} values but shape ${
          fmtShape(t.shape)
        } needs ${n}`,
      );
    }
    const bytes = n * DTYPE_BYTES[t.dtype];
    header[t.name] = {
      dtype: t.dtype,
      shape: [...t.shape],
      data_offsets: [offset, offset + bytes],
    };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  const view = new DataView(out.buffer);
  let at = 8 + padded;
  for (const t of tensors) {
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
      at += t.data.byteLength;
    } else if (t.dtype === "F32") {
      for (let i = 0; i < t.data.length; i++, at += 4) view.setFloat32(at, t.data[i], true);
    } else {
      for (let i = 0; i < t.data.length; i++, at += 8) view.setFloat64(at, t.data[i], true);
    }
  }
  return out;
}

/**
 * Reads and validates the header length (the first 8 bytes). `fileBytes` is the size of
 * the whole file. Returns N.
 */
function headerLength(prefix: Uint8Array, fileBytes: number, what: string): number {
  if (fileBytes < 8 || prefix.length < 8) {
    throw new Error(
      `safetensors ${what}: the file is ${fileBytes} bytes, too short for the 8-byte header length`,
    );
  }
  const big = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (big > BigInt(fileBytes - 8)) {
    throw new Error(
      `safetensors ${what}: header length ${big} exceeds the file (${fileBytes} bytes; truncated or not a safetensors file)`,
    );
  }
  const n = Number(big);
  if (n > MAX_HEADER_BYTES) {
    throw new Error(
      `safetensors ${what}: header length ${n} exceeds the limit of ${MAX_HEADER_BYTES} bytes`,
    );
  }
  if (n < 2) throw new Error(`safetensors ${what}: header length ${n} is too small for JSON`);
  return n;
}

/**
 * Parses and validates a header. `headerBytes` are the N JSON bytes; `dataBytes` is the
 * length of the data section actually present (file size − 8 − N).
 */
function parseHeader(
  headerBytes: Uint8Array,
  dataBytes: number,
  what: string,
): { metadata: Record<string, string>; tensors: Map<string, TensorEntry> } {
  const where = `safetensors ${what}`;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch {
    throw new Error(`${where}: the header is not valid UTF-8`);
  }
  if (!text.startsWith("{")) {
    throw new Error(`${where}: the header does not start with "{" (not a safetensors file?)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${where}: invalid JSON header: ${(e as Error).message}`);
  }
  if (!isPlainObject(json)) throw new Error(`${where}: the header is not a JSON object`);
  let metadata: Record<string, string> = {};
  const entries: [string, TensorEntry][] = [];
  for (const [name, raw] of Object.entries(json)) {
    if (name === "__metadata__") {
      try {
        metadata = { ...checkMetadata(where, raw) };
      } catch (e) {
        throw new Error(`${(e as Error).message} (in __metadata__)`);
      }
      continue;
    }
    const bad = (problem: string) => new Error(`${where}: tensor "${name}": ${problem}`);
    if (!isPlainObject(raw)) throw bad("the entry is not an object");
    const { dtype, shape, data_offsets: offsets } = raw;
    if (typeof dtype !== "string") throw bad(`dtype must be a string, got ${describe(dtype)}`);
    if (dtype !== "F32" && dtype !== "F64") {
      throw bad(
        OTHER_DTYPES.has(dtype)
          ? `dtype ${dtype} is not supported by denet (F32 and F64 only)`
          : `unknown dtype ${JSON.stringify(dtype)} (denet reads F32 and F64)`,
      );
    }
    if (
      !Array.isArray(shape) ||
      !shape.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0)
    ) {
      throw bad(`shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0)
    ) {
      throw bad(
        `data_offsets must be two non-negative integers, got ${JSON.stringify(offsets)}`,
      );
    }
    const [begin, end] = offsets as number[];
    if (end < begin) throw bad(`data_offsets [${begin},${end}] end before they begin`);
    const need = product(shape) * DTYPE_BYTES[dtype];
    if (end - begin !== need) {
      throw bad(
        `data_offsets [${begin},${end}] span ${end - begin} bytes but ${dtype}${
          fmtShape(shape)
        } needs ${need}`,
      );
    }
    entries.push([name, { dtype, shape: [...shape] as number[], begin, end }]);
  }
  entries.sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let expected = 0;
  for (const [name, e] of entries) {
    if (e.begin > expected) {
      throw new Error(
        `${where}: tensor "${name}": gap in the data section: it begins at ${e.begin}, the previous tensor ends at ${expected}`,
      );
    }
    if (e.begin < expected) {
      throw new Error(
        `${where}: tensor "${name}": data_offsets [${e.begin},${e.end}] overlap the previous tensor (ending at ${expected})`,
      );
    }
    expected = e.end;
  }
  if (expected > dataBytes) {
    throw new Error(
      `${where}: truncated file: the tensors need ${expected} data bytes but only ${dataBytes} are present`,
    );
  }
  if (expected < dataBytes) {
    throw new Error(
      `${where}: ${
        dataBytes - expected
      } unexpected bytes after the last tensor (data section is ${dataBytes} bytes, tensors cover ${expected})`,
    );
  }
  return { metadata, tensors: new Map(entries) };
}

/**
 * Parses and validates a whole safetensors file held in memory. `what` (usually the
 * path) names the file in error messages. Tensor data is copied out of `bytes`.
 */
export function decodeSafetensors(bytes: Uint8Array, what = "<bytes>"): SafetensorsFile {
  const n = headerLength(bytes, bytes.length, what);
  const dataStart = 8 + n;
  const { metadata, tensors: entries } = parseHeader(
    bytes.subarray(8, dataStart),
    bytes.length - dataStart,
    what,
  );
  const tensors = new Map<string, DecodedTensor>();
  for (const [name, e] of entries) {
    tensors.set(name, {
      dtype: e.dtype,
      shape: e.shape,
      data: decodeData(bytes, dataStart + e.begin, dataStart + e.end, e.dtype),
    });
  }
  return { metadata, tensors };
}

function decodeData(
  bytes: Uint8Array,
  begin: number,
  end: number,
  dtype: SafetensorsDType,
): Float32Array | Float64Array {
  const copy = bytes.slice(begin, end).buffer;
  if (LITTLE_ENDIAN) return dtype === "F32" ? new Float32Array(copy) : new Float64Array(copy);
  const view = new DataView(copy);
  const size = DTYPE_BYTES[dtype];
  const out = dtype === "F32"
    ? new Float32Array((end - begin) / 4)
    : new Float64Array((end - begin) / 8);
  for (let i = 0; i < out.length; i++) {
    out[i] = size === 4 ? view.getFloat32(i * 4, true) : view.getFloat64(i * 8, true);
  }
  return out;
}

/**
 * Reads and validates only the header of a safetensors file on disk (the data section
 * is not read, but its size is checked against the offsets). Needs read permission.
 */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw new Error(`safetensors ${path}: cannot open: ${(e as Error).message}`);
  }
  try {
    const size = (await file.stat()).size;
    const prefix = await readExactly(file, Math.min(8, size));
    const n = headerLength(prefix, size, path);
    const header = await readExactly(file, n);
    if (header.length < n) {
      throw new Error(`safetensors ${path}: truncated header (file changed while reading?)`);
    }
    const { metadata, tensors } = parseHeader(header, size - 8 - n, path);
    return { metadata, tensors, dataStart: 8 + n };
  } finally {
    file.close();
  }
}

async function readExactly(file: Deno.FsFile, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await file.read(out.subarray(got));
    if (r === null) break;
    got += r;
  }
  return out.subarray(0, got);
}
