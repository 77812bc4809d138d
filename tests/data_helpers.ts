/**
 * Helpers for the data tests: the offline dataset folder (skip or fail when absent),
 * small generated IDX files, digests, temporary directories and a local HTTP server.
 */

import { createHash } from "node:crypto";

/** The offline datasets (../shared/data relative to the repository). */
export const DATA_URL = new URL("../../shared/data/", import.meta.url);

/** Whether data tests must run (CI sets DENET_REQUIRE_DATA=1). */
export const REQUIRE_DATA = Deno.env.get("DENET_REQUIRE_DATA") === "1";

function exists(url: URL): boolean {
  try {
    Deno.statSync(url);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the offline dataset folder `sub` (e.g. "mnist") is present. When it is absent
 * the tests skip with a message, unless DENET_REQUIRE_DATA=1: then they run and fail.
 */
export function haveData(sub: string): boolean {
  const ok = exists(new URL(`${sub}/`, DATA_URL));
  if (!ok && !REQUIRE_DATA) {
    console.warn(`data tests for ${sub} skipped: ${new URL(sub, DATA_URL).pathname} not found`);
  }
  return ok || REQUIRE_DATA;
}

/** Throws a clear error when a required dataset folder is missing. */
export function requireData(sub: string): URL {
  const url = new URL(`${sub}/`, DATA_URL);
  if (!exists(url)) {
    throw new Error(`DENET_REQUIRE_DATA=1 but the dataset folder ${url.pathname} is missing`);
  }
  return url;
}

/** An uncompressed IDX file of unsigned bytes. */
export function makeIdx(magic: number, dims: number[], data: ArrayLike<number>): Uint8Array {
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, header);
  return out;
}

/** gzip with the built-in CompressionStream. */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Hex digest. */
export function digest(alg: "md5" | "sha256", bytes: Uint8Array): string {
  return createHash(alg).update(bytes).digest("hex");
}

/** Names of the entries of a directory, sorted. */
export function listDir(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

/** A fresh temporary directory, removed by the returned disposer. */
export function tempDir(): { dir: string; [Symbol.dispose](): void } {
  const dir = Deno.makeTempDirSync({ prefix: "denet-data-test-" });
  return {
    dir,
    [Symbol.dispose]() {
      Deno.removeSync(dir, { recursive: true });
    },
  };
}

/** A local HTTP server serving fixed byte strings by path (404 otherwise). */
export interface TestServer {
  /** `http://127.0.0.1:<port>/` */
  base: string;
  /** Requests received, by path. */
  hits: Map<string, number>;
  /** Sets (or replaces) what a path serves. */
  put(path: string, body: Uint8Array): void;
  /** Stops the server. */
  close(): Promise<void>;
}

/** Starts a {@link TestServer} on 127.0.0.1 with a free port. */
export function serveFiles(files: Record<string, Uint8Array> = {}): TestServer {
  const table = new Map(Object.entries(files));
  const hits = new Map<string, number>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      const path = new URL(req.url).pathname;
      hits.set(path, (hits.get(path) ?? 0) + 1);
      const body = table.get(path);
      if (body === undefined) return new Response("not found", { status: 404 });
      return new Response(body as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": "application/octet-stream" },
      });
    },
  );
  return {
    base: `http://127.0.0.1:${server.addr.port}/`,
    hits,
    put: (path, body) => void table.set(path, body),
    close: () => server.shutdown(),
  };
}
