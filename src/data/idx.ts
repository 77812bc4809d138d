/**
 * The IDX file format of MNIST and Fashion-MNIST (optionally gzip-compressed).
 *
 * An IDX file starts with a big-endian u32 magic `0x0000TTDD` (TT the element type,
 * 0x08 = unsigned byte; DD the number of dimensions), then one big-endian u32 per
 * dimension, then the elements, row-major. Images are `0x803` (N, rows, cols), labels
 * `0x801` (N).
 *
 * @module
 */

/** A decoded IDX array of unsigned bytes. */
export interface IdxArray {
  /** The dimensions from the header, e.g. `[60000, 28, 28]`. */
  dims: number[];
  /** The elements, row-major (length = product of dims). */
  data: Uint8Array;
}

/** What an IDX file must hold: `"images"` (magic 0x803) or `"labels"` (magic 0x801). */
export type IdxKind = "images" | "labels";

const MAGIC: Record<IdxKind, number> = { images: 0x803, labels: 0x801 };

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

/**
 * Whether bytes start with the gzip magic (0x1f 0x8b).
 *
 * @param bytes file contents
 * @returns true for a gzip stream
 */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Decompresses a gzip stream with the built-in `DecompressionStream`.
 *
 * @param bytes the compressed bytes
 * @param name the file name, for error messages
 * @returns the decompressed bytes
 */
export async function gunzip(bytes: Uint8Array, name = "data"): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("gzip"));
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      chunks.push(chunk);
      total += chunk.length;
    }
  } catch (e) {
    throw new Error(
      `gunzip: ${name} is not a valid gzip stream (corrupt or truncated): ${(e as Error).message}`,
    );
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/**
 * Decodes an uncompressed IDX file of unsigned bytes, checking the magic and that the
 * byte length matches the header's dimensions exactly.
 *
 * @param bytes the (decompressed) file contents
 * @param name the file name, for error messages
 * @param kind when given, the magic must be that of images (0x803) or labels (0x801)
 * @returns the dimensions and the elements (a view of `bytes`, no copy)
 */
export function decodeIdx(bytes: Uint8Array, name: string, kind?: IdxKind): IdxArray {
  if (bytes.length < 4) {
    throw new Error(
      `decodeIdx: ${name} truncated: expected at least 4 header bytes, got ${bytes.length}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (kind !== undefined && magic !== MAGIC[kind]) {
    throw new Error(
      `decodeIdx: bad magic ${hex(magic)} in ${name}: expected ${hex(MAGIC[kind])} (IDX ${kind})`,
    );
  }
  const type = (magic >>> 8) & 0xff;
  const ndims = magic & 0xff;
  if ((magic >>> 16) !== 0 || type !== 0x08 || ndims === 0) {
    throw new Error(
      `decodeIdx: bad magic ${hex(magic)} in ${name}: expected an IDX file of unsigned bytes ` +
        `(0x000008DD with DD dimensions)`,
    );
  }
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new Error(
      `decodeIdx: ${name} truncated: expected a ${headerBytes}-byte header, got ${bytes.length} bytes`,
    );
  }
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  const expected = headerBytes + count;
  if (bytes.length < expected) {
    throw new Error(
      `decodeIdx: ${name} truncated: expected ${expected} bytes, got ${bytes.length} ` +
        `(header dims [${dims.join(",")}])`,
    );
  }
  if (bytes.length > expected) {
    throw new Error(
      `decodeIdx: ${name} has ${bytes.length - expected} trailing bytes: expected ${expected} ` +
        `bytes for dims [${dims.join(",")}], got ${bytes.length}`,
    );
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/**
 * Reads an IDX file (gunzipping it when it starts with the gzip magic) and decodes it.
 *
 * @param path the file
 * @param kind when given, the magic must be that of images (0x803) or labels (0x801)
 * @returns the dimensions and the elements
 */
export async function readIdx(path: string, kind?: IdxKind): Promise<IdxArray> {
  let bytes: Uint8Array = await Deno.readFile(path);
  if (isGzip(bytes)) bytes = await gunzip(bytes, path);
  return decodeIdx(bytes, path, kind);
}
