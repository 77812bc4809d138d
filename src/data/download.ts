/**
 * Fetching a dataset file once and checking it: {@link ensureFile}.
 *
 * A file is downloaded to a temporary `<name>.part-<random>` in the target directory,
 * checked (size, md5, sha256) and only then renamed into place, so a partial or corrupt
 * download never appears under the final name. Files already present are checked too
 * (once per process: the result is cached against the file's size and mtime).
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { join } from "node:path";
import { type DirLike, toPath } from "./paths.ts";

/** A file to fetch and how to recognise it. */
export interface FileSpec {
  /** The file name inside the target directory (no path separators). */
  name: string;
  /** Where to download it from. */
  url: string;
  /** Exact size in bytes, when known. */
  bytes?: number;
  /** Expected md5, hex. */
  md5?: string;
  /** Expected sha256, hex. */
  sha256?: string;
}

/** Options of {@link ensureFile} (and of the dataset loaders built on it). */
export interface EnsureOptions {
  /** Download a missing file (default true). When false, a missing file is an error. */
  download?: boolean;
  /** No progress bar (it is only drawn when stderr is a terminal anyway). */
  quiet?: boolean;
  /** The fetch function to use (default: the global `fetch`). */
  fetch?: typeof fetch;
  /**
   * Milliseconds a download may wait for the server (for the response, then between two
   * chunks) before it is abandoned (default 30 000). A failed download is tried once more.
   */
  timeoutMs?: number;
}

/** Verified files: key (path + expectations) → "size:mtime" when verified. */
const verified = new Map<string, string>();

/** Forgets which files were verified in this process, so the next use re-checks them. */
export function forgetVerifiedFiles(): void {
  verified.clear();
}

function cacheKey(path: string, spec: FileSpec): string {
  return [path, spec.bytes ?? "", spec.md5 ?? "", spec.sha256 ?? ""].join("\0");
}

function stamp(info: Deno.FileInfo): string {
  return `${info.size}:${info.mtime?.getTime() ?? ""}`;
}

function checkSpec(spec: FileSpec): void {
  if (typeof spec.name !== "string" || spec.name === "" || /[/\\]/.test(spec.name)) {
    throw new Error(`ensureFile: invalid file name "${spec.name}" (a plain file name is needed)`);
  }
  if (spec.bytes !== undefined && (!Number.isInteger(spec.bytes) || spec.bytes < 0)) {
    throw new Error(`ensureFile: ${spec.name}: invalid expected size ${spec.bytes}`);
  }
  for (const [alg, len] of [["md5", 32], ["sha256", 64]] as const) {
    const v = spec[alg];
    if (v !== undefined && !new RegExp(`^[0-9a-fA-F]{${len}}$`).test(v)) {
      throw new Error(`ensureFile: ${spec.name}: invalid ${alg} "${v}" (${len} hex digits)`);
    }
  }
}

/** The hashes a spec asks for. */
function hashers(spec: FileSpec): { alg: "md5" | "sha256"; hash: Hash; want: string }[] {
  const out: { alg: "md5" | "sha256"; hash: Hash; want: string }[] = [];
  if (spec.md5) out.push({ alg: "md5", hash: createHash("md5"), want: spec.md5.toLowerCase() });
  if (spec.sha256) {
    out.push({ alg: "sha256", hash: createHash("sha256"), want: spec.sha256.toLowerCase() });
  }
  return out;
}

/** The first mismatch of size or digest, as a message, or null when everything matches. */
function mismatch(
  spec: FileSpec,
  size: number,
  hs: { alg: string; hash: Hash; want: string }[],
): string | null {
  if (spec.bytes !== undefined && size !== spec.bytes) {
    return `size ${size} bytes, expected ${spec.bytes}`;
  }
  for (const h of hs) {
    const got = h.hash.digest("hex");
    if (got !== h.want) return `${h.alg} mismatch: got ${got}, expected ${h.want}`;
  }
  return null;
}

async function verifyExisting(path: string, spec: FileSpec, info: Deno.FileInfo): Promise<void> {
  const key = cacheKey(path, spec);
  if (verified.get(key) === stamp(info)) return;
  const hs = hashers(spec);
  let bad: string | null;
  if (spec.bytes !== undefined && info.size !== spec.bytes) {
    bad = `size ${info.size} bytes, expected ${spec.bytes}`;
  } else {
    if (hs.length > 0) {
      const file = await Deno.open(path, { read: true });
      try {
        for await (const chunk of file.readable) for (const h of hs) h.hash.update(chunk);
      } catch (e) {
        throw new Error(`ensureFile: cannot read ${path}: ${(e as Error).message}`);
      }
    }
    bad = mismatch(spec, info.size, hs);
  }
  if (bad !== null) {
    throw new Error(
      `ensureFile: ${path} is corrupt or not the expected file (${bad}); delete it to ` +
        `download it again from ${spec.url}`,
    );
  }
  verified.set(key, stamp(info));
}

function randomSuffix(): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

const MB = 1e6;

/** A progress line on stderr, redrawn at most ten times a second. */
class Progress {
  #name: string;
  #total: number | undefined;
  #start = performance.now();
  #last = 0;
  #enc = new TextEncoder();

  constructor(name: string, total: number | undefined) {
    this.#name = name;
    this.#total = total;
  }

  /** Ends the progress line after a failure. */
  abort(): void {
    if (this.#last === 0) return;
    try {
      Deno.stderr.writeSync(this.#enc.encode("\n"));
    } catch {
      // stderr closed
    }
  }

  update(done: number, final = false): void {
    const now = performance.now();
    if (!final && now - this.#last < 100) return;
    this.#last = now;
    const secs = Math.max((now - this.#start) / 1000, 1e-3);
    const rate = `${(done / MB / secs).toFixed(1)} MB/s`;
    let line: string;
    if (this.#total) {
      const frac = Math.min(done / this.#total, 1);
      const width = 24;
      const fill = Math.round(frac * width);
      const bar = "=".repeat(fill) + " ".repeat(width - fill);
      line = `${this.#name} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ` +
        `${(done / MB).toFixed(1)}/${(this.#total / MB).toFixed(1)} MB ${rate}`;
    } else {
      line = `${this.#name} ${(done / MB).toFixed(1)} MB ${rate}`;
    }
    try {
      Deno.stderr.writeSync(this.#enc.encode(`\r${line}\x1b[K${final ? "\n" : ""}`));
    } catch {
      // stderr closed: no progress.
    }
  }
}

function wantProgress(quiet: boolean | undefined): boolean {
  if (quiet) return false;
  try {
    return Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}

async function writeAll(file: Deno.FsFile, chunk: Uint8Array): Promise<void> {
  let off = 0;
  while (off < chunk.length) off += await file.write(chunk.subarray(off));
}

async function download(
  dir: string,
  path: string,
  spec: FileSpec,
  opts: EnsureOptions,
): Promise<void> {
  const fail = (what: string) =>
    new Error(`ensureFile: downloading ${path} from ${spec.url}: ${what}`);
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const abort = new AbortController();
  let timer = setTimeout(() => abort.abort(), timeoutMs);
  const stillAlive = () => {
    clearTimeout(timer);
    timer = setTimeout(() => abort.abort(), timeoutMs);
  };
  try {
    return await receive(dir, path, spec, opts, doFetch, abort.signal, stillAlive, fail);
  } catch (e) {
    if (abort.signal.aborted) throw fail(`no data from the server for ${timeoutMs / 1000} s`);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

async function receive(
  dir: string,
  path: string,
  spec: FileSpec,
  opts: EnsureOptions,
  doFetch: typeof fetch,
  signal: AbortSignal,
  stillAlive: () => void,
  fail: (what: string) => Error,
): Promise<void> {
  let res: Response;
  try {
    res = await doFetch(spec.url, { signal });
  } catch (e) {
    throw fail(`request failed: ${(e as Error).message}`);
  }
  stillAlive();
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    const err = fail(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`);
    // A client error (404, 403...) will not go away on a retry.
    throw res.status >= 400 && res.status < 500 ? Object.assign(err, { permanent: true }) : err;
  }
  if (res.body === null) throw fail("the response has no body");
  const header = res.headers.get("content-length");
  const announced = header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
  if (spec.bytes !== undefined && announced !== undefined && announced !== spec.bytes) {
    await res.body.cancel().catch(() => {});
    throw fail(`size ${announced} bytes (Content-Length), expected ${spec.bytes}`);
  }
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    await res.body.cancel().catch(() => {});
    throw fail(`cannot create the directory ${dir}: ${(e as Error).message}`);
  }
  const tmp = join(dir, `${spec.name}.part-${randomSuffix()}`);
  const progress = wantProgress(opts.quiet)
    ? new Progress(spec.name, spec.bytes ?? announced)
    : null;
  const hs = hashers(spec);
  let file: Deno.FsFile | null = null;
  let done = 0;
  try {
    file = await Deno.open(tmp, { write: true, createNew: true });
    for await (const chunk of res.body) {
      stillAlive();
      done += chunk.length;
      if (spec.bytes !== undefined && done > spec.bytes) {
        throw fail(`size exceeds the expected ${spec.bytes} bytes`);
      }
      for (const h of hs) h.hash.update(chunk);
      await writeAll(file, chunk);
      progress?.update(done);
    }
    progress?.update(done, true);
    file.close();
    file = null;
    const bad = mismatch(spec, done, hs);
    if (bad !== null) throw fail(bad);
    await Deno.rename(tmp, path);
  } catch (e) {
    progress?.abort();
    try {
      file?.close();
    } catch {
      // already closed
    }
    await Deno.remove(tmp).catch(() => {});
    const msg = (e as Error).message;
    throw msg.startsWith("ensureFile:") ? e : fail(msg);
  }
  const info = await Deno.stat(path);
  verified.set(cacheKey(path, spec), stamp(info));
}

/**
 * Makes sure `<dir>/<spec.name>` exists and is the expected file, downloading it when
 * missing (unless `download: false`).
 *
 * An existing file is checked against `spec.bytes`, `spec.md5` and `spec.sha256` (the
 * result is cached per process against its size and mtime). A missing file is streamed
 * from `spec.url` to `<name>.part-<random>` in the same directory, with a progress bar on
 * stderr when stderr is a terminal (and `quiet` is not set), checked, and renamed into
 * place; a download that fails (or stalls for `timeoutMs`) is tried once more, except
 * after an HTTP 4xx answer. On any
 * failure the temporary file is removed and an Error names the file and the problem (HTTP status, size, checksum got/expected); a partial file never appears
 * under the final name.
 *
 * @param dir the directory of the file (created when needed)
 * @param spec the file name, its URL and what it must match
 * @param opts `download` (default true), `quiet`, `fetch`, `timeoutMs`
 * @returns the path of the verified file
 */
export async function ensureFile(
  dir: DirLike,
  spec: FileSpec,
  opts: EnsureOptions = {},
): Promise<string> {
  checkSpec(spec);
  const d = toPath(dir);
  const path = join(d, spec.name);
  let info: Deno.FileInfo | null = null;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new Error(`ensureFile: cannot access ${path}: ${(e as Error).message}`);
    }
  }
  if (info !== null) {
    if (!info.isFile) throw new Error(`ensureFile: ${path} exists but is not a file`);
    await verifyExisting(path, spec, info);
    return path;
  }
  if (opts.download === false) {
    const sums = [
      spec.bytes !== undefined ? `${spec.bytes} bytes` : "",
      spec.md5 ? `md5 ${spec.md5}` : "",
      spec.sha256 ? `sha256 ${spec.sha256}` : "",
    ].filter((s) => s !== "").join(", ");
    throw new Error(
      `ensureFile: ${path} is missing and downloading is disabled (download: false); put ` +
        `the file there (from ${spec.url}${sums ? `; ${sums}` : ""}), or point --data / ` +
        `DENET_DATA (or the dir option) at a folder that holds it`,
    );
  }
  try {
    await download(d, path, spec, opts);
  } catch (first) {
    // One retry: a dropped connection or a stalled mirror is often transient.
    const hint = `Put the file in ${d} yourself, or point --data / DENET_DATA at a folder ` +
      `that holds it`;
    if ((first as { permanent?: boolean }).permanent) {
      throw new Error(`${(first as Error).message}. ${hint}`);
    }
    try {
      await download(d, path, spec, opts);
    } catch (second) {
      const again = (second as Error).message === (first as Error).message
        ? ""
        : ` (first attempt: ${(first as Error).message})`;
      throw new Error(`${(second as Error).message}${again}; tried twice. ${hint}`);
    }
  }
  return path;
}
