/**
 * Dataset files over HTTP, against a local server: ensureFile downloads, verifies and
 * renames into place (and re-checks existing files); wrong checksums, wrong sizes,
 * HTTP errors and broken streams throw Errors naming the file and leave nothing behind;
 * `download: false` tells where the file should go. The MNIST-style loader decodes
 * generated IDX files fetched from the server and rejects truncated or mislabelled ones.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  dataDir,
  decodeIdx,
  ensureFile,
  type FileSpec,
  forgetVerifiedFiles,
  gunzip,
  type IdxDatasetSpec,
  loadIdxDataset,
  mnist,
} from "../src/data/mod.ts";
import { digest, gzip, listDir, makeIdx, serveFiles, tempDir } from "./data_helpers.ts";

const enc = new TextEncoder();

Deno.test("ensureFile: downloads, verifies md5 and sha256, renames into place, then reuses", async () => {
  using tmp = tempDir();
  const body = enc.encode("hello denet\n".repeat(1000));
  const server = serveFiles({ "/a.bin": body });
  try {
    const spec: FileSpec = {
      name: "a.bin",
      url: `${server.base}a.bin`,
      bytes: body.length,
      md5: digest("md5", body),
      sha256: digest("sha256", body),
    };
    const dir = join(tmp.dir, "nested", "dir");
    const path = await ensureFile(dir, spec, { quiet: true });
    assert.equal(path, join(dir, "a.bin"));
    assert.deepEqual(await Deno.readFile(path), body);
    assert.deepEqual(listDir(dir), ["a.bin"], "no temporary file left");
    assert.equal(server.hits.get("/a.bin"), 1);
    // Present and verified: no second request.
    assert.equal(await ensureFile(dir, spec, { quiet: true }), path);
    assert.equal(server.hits.get("/a.bin"), 1);
    // A file of another size is caught even after it was verified once (the cache is
    // keyed by size and mtime).
    await Deno.writeFile(path, enc.encode("hello denet\n".repeat(999)));
    await assert.rejects(
      ensureFile(dir, spec, { quiet: true }),
      (e: Error) => e.message.includes(path) && e.message.includes(`expected ${body.length}`),
    );
    // Same size, other content: the md5 catches it once the cache is forgotten.
    await Deno.writeFile(path, enc.encode("HELLO denet\n".repeat(1000)));
    forgetVerifiedFiles();
    await assert.rejects(
      ensureFile(dir, spec, { quiet: true }),
      (e: Error) =>
        e.message.includes(path) && /md5 mismatch: got [0-9a-f]{32}, expected/.test(e.message),
    );
    await Deno.writeFile(path, body);
    assert.equal(await ensureFile(dir, spec, { quiet: true }), path);
    assert.equal(server.hits.get("/a.bin"), 1, "a present file is never fetched again");
  } finally {
    await server.close();
  }
});

Deno.test("ensureFile: a checksum mismatch names the file and leaves no file behind", async () => {
  using tmp = tempDir();
  const body = enc.encode("not the expected content");
  const server = serveFiles({ "/b.bin": body });
  try {
    const good = digest("md5", body);
    const wrong = good.replace(/^./, (c) => (c === "0" ? "1" : "0"));
    await assert.rejects(
      ensureFile(tmp.dir, { name: "b.bin", url: `${server.base}b.bin`, md5: wrong }, {
        quiet: true,
      }),
      (e: Error) =>
        e.message.includes(join(tmp.dir, "b.bin")) &&
        e.message.includes(`md5 mismatch: got ${good}, expected ${wrong}`),
    );
    assert.deepEqual(listDir(tmp.dir), [], "neither the file nor a .part file remains");
    await assert.rejects(
      ensureFile(
        tmp.dir,
        { name: "b.bin", url: `${server.base}b.bin`, sha256: "ab".repeat(32) },
        { quiet: true },
      ),
      /b\.bin.*sha256 mismatch: got [0-9a-f]{64}, expected (ab){32}/,
    );
    assert.deepEqual(listDir(tmp.dir), []);
  } finally {
    await server.close();
  }
});

Deno.test("ensureFile: a wrong size (header or stream) is an error and leaves nothing", async () => {
  using tmp = tempDir();
  const body = enc.encode("0123456789");
  const server = serveFiles({ "/c.bin": body });
  try {
    await assert.rejects(
      ensureFile(tmp.dir, { name: "c.bin", url: `${server.base}c.bin`, bytes: 12 }, {
        quiet: true,
      }),
      /c\.bin.*size 10 bytes \(Content-Length\), expected 12/,
    );
    assert.deepEqual(listDir(tmp.dir), []);
  } finally {
    await server.close();
  }
  // No Content-Length: the size is checked on the stream.
  const chunked: typeof fetch = () =>
    Promise.resolve(new Response(ReadableStream.from([body.subarray(0, 4), body.subarray(4)])));
  await assert.rejects(
    ensureFile(tmp.dir, { name: "c.bin", url: "http://x/c.bin", bytes: 12 }, { fetch: chunked }),
    /c\.bin.*size 10 bytes, expected 12/,
  );
  await assert.rejects(
    ensureFile(tmp.dir, { name: "c.bin", url: "http://x/c.bin", bytes: 6 }, { fetch: chunked }),
    /c\.bin.*size exceeds the expected 6 bytes/,
  );
  assert.deepEqual(listDir(tmp.dir), []);
});

Deno.test("ensureFile: HTTP 404, network errors and broken streams are errors naming the file", async () => {
  using tmp = tempDir();
  const server = serveFiles({});
  try {
    await assert.rejects(
      ensureFile(tmp.dir, { name: "d.bin", url: `${server.base}d.bin` }, { quiet: true }),
      (e: Error) => e.message.includes("d.bin") && e.message.includes("HTTP 404"),
    );
    assert.equal(server.hits.get("/d.bin"), 1);
  } finally {
    await server.close();
  }
  const offline: typeof fetch = () => Promise.reject(new TypeError("connection refused"));
  await assert.rejects(
    ensureFile(tmp.dir, { name: "d.bin", url: "http://x/d.bin" }, { fetch: offline }),
    /downloading .*d\.bin from http:\/\/x\/d\.bin: request failed: connection refused/,
  );
  let pulls = 0;
  const broken: typeof fetch = () =>
    Promise.resolve(
      new Response(
        new ReadableStream<Uint8Array>({
          pull(c) {
            if (pulls++ < 3) c.enqueue(new Uint8Array(1000));
            else c.error(new Error("connection reset"));
          },
        }),
      ),
    );
  await assert.rejects(
    ensureFile(tmp.dir, { name: "d.bin", url: "http://x/d.bin" }, { fetch: broken }),
    /d\.bin.*connection reset/,
  );
  assert.ok(pulls >= 4, "the stream was read until it broke");
  assert.deepEqual(listDir(tmp.dir), [], "the partial download was removed");
});

Deno.test("ensureFile: download: false with a missing file says where to put it", async () => {
  using tmp = tempDir();
  let fetched = false;
  const spy: typeof fetch = () => {
    fetched = true;
    return Promise.resolve(new Response("x"));
  };
  await assert.rejects(
    ensureFile(tmp.dir, { name: "e.bin", url: "http://x/e.bin", bytes: 5, md5: "0".repeat(32) }, {
      download: false,
      fetch: spy,
    }),
    (e: Error) =>
      e.message.includes(`${join(tmp.dir, "e.bin")} is missing`) &&
      e.message.includes("download: false") && e.message.includes("http://x/e.bin") &&
      e.message.includes("DENET_DATA"),
  );
  assert.equal(fetched, false);
  await assert.rejects(
    ensureFile(tmp.dir, { name: "../e.bin", url: "http://x/e.bin" }),
    /invalid file name/,
  );
});

// ---- IDX loader against the local server ----

const IMG = 0x803;
const LBL = 0x801;

/** Small IDX files: n images of 4×4 with pixel k of image i = (17·i + k) mod 256. */
function images(n: number): Uint8Array {
  const px = Array.from({ length: n * 16 }, (_, k) => (17 * Math.floor(k / 16) + (k % 16)) % 256);
  px[0] = 255;
  return makeIdx(IMG, [n, 4, 4], px);
}

function labels(ls: number[]): Uint8Array {
  return makeIdx(LBL, [ls.length], ls);
}

async function toyDataset(
  raw: {
    trainImages: Uint8Array;
    trainLabels: Uint8Array;
    testImages: Uint8Array;
    testLabels: Uint8Array;
  },
): Promise<{ spec: IdxDatasetSpec; files: Record<string, Uint8Array> }> {
  const names = {
    trainImages: "train-images-idx3-ubyte.gz",
    trainLabels: "train-labels-idx1-ubyte.gz",
    testImages: "t10k-images-idx3-ubyte.gz",
    testLabels: "t10k-labels-idx1-ubyte.gz",
  } as const;
  const files: Record<string, Uint8Array> = {};
  const spec: IdxDatasetSpec = { name: "toy", classes: 10, imageSize: [4, 4], files: {} as never };
  for (const k of Object.keys(names) as (keyof typeof names)[]) {
    const gz = await gzip(raw[k]);
    files[`/toy/${names[k]}`] = gz;
    (spec.files as unknown as Record<string, FileSpec>)[k] = {
      name: names[k],
      url: "http://unused.invalid/",
      bytes: gz.length,
      md5: digest("md5", gz),
    };
  }
  return { spec, files };
}

Deno.test("loadIdxDataset: fetches gzipped IDX files from baseUrl and decodes them", async () => {
  using tmp = tempDir();
  const { spec, files } = await toyDataset({
    trainImages: images(5),
    trainLabels: labels([3, 1, 4, 1, 5]),
    testImages: images(2),
    testLabels: labels([9, 0]),
  });
  const server = serveFiles(files);
  try {
    const d = await loadIdxDataset(spec, {
      dir: tmp.dir,
      baseUrl: `${server.base}toy`,
      quiet: true,
    });
    assert.deepEqual(d.xtrn.shape, [5, 1, 4, 4]);
    assert.deepEqual(d.ytrn.shape, [5]);
    assert.deepEqual(d.xtst.shape, [2, 1, 4, 4]);
    assert.deepEqual(Array.from(d.ytrn.dataSync()), [3, 1, 4, 1, 5]);
    assert.deepEqual(Array.from(d.ytst.dataSync()), [9, 0]);
    const x = d.xtrn.dataSync();
    assert.equal(d.xtrn.dtype, "f32");
    assert.equal(x[0], 1, "pixel 255 → 1");
    assert.equal(x[1], Math.fround(1 / 255));
    assert.equal(x[16 * 3 + 2], Math.fround(53 / 255), "image 3, pixel 2 = 17·3+2");
    assert.deepEqual(listDir(tmp.dir), Object.keys(files).map((p) => p.slice(5)).sort());
    assert.ok([...server.hits.values()].every((h) => h === 1));
    // Second load: from disk, no requests.
    await loadIdxDataset(spec, { dir: tmp.dir, baseUrl: `${server.base}toy`, quiet: true });
    assert.ok([...server.hits.values()].every((h) => h === 1), "no second download");
  } finally {
    await server.close();
  }
});

Deno.test("loadIdxDataset: truncated and bad-magic IDX files are errors naming the file", async () => {
  const server = serveFiles({});
  try {
    const cases: [string, Record<string, Uint8Array>, RegExp][] = [
      [
        "truncated images",
        { trainImages: images(5).subarray(0, 16 + 16 * 4 + 3) },
        /train-images-idx3-ubyte\.gz truncated: expected 96 bytes, got 83/,
      ],
      [
        "labels where images belong",
        { trainImages: labels([1, 2, 3]) },
        /bad magic 0x00000801 in .*train-images-idx3-ubyte\.gz: expected 0x00000803/,
      ],
      [
        "label count differs from image count",
        { testLabels: labels([1, 2, 3]) },
        /t10k-labels-idx1-ubyte\.gz holds 3 labels but the image file holds 2 images/,
      ],
      [
        "a label out of range",
        { trainLabels: labels([3, 1, 4, 1, 12]) },
        /train-labels-idx1-ubyte\.gz: label 12 at index 4 is not a class 0\.\.9/,
      ],
    ];
    for (const [what, override, pattern] of cases) {
      using tmp = tempDir();
      const { spec, files } = await toyDataset({
        trainImages: images(5),
        trainLabels: labels([3, 1, 4, 1, 5]),
        testImages: images(2),
        testLabels: labels([9, 0]),
        ...override,
      });
      for (const [p, b] of Object.entries(files)) server.put(p, b);
      await assert.rejects(
        loadIdxDataset(spec, { dir: tmp.dir, baseUrl: `${server.base}toy/`, quiet: true }),
        pattern,
        what,
      );
    }
  } finally {
    await server.close();
  }
});

Deno.test("mnist: the real spec rejects a wrong file from the server; nothing is kept", async () => {
  using tmp = tempDir();
  const junk = await gzip(images(3));
  const server = serveFiles({ "/mirror/train-images-idx3-ubyte.gz": junk });
  try {
    await assert.rejects(
      mnist({ dir: tmp.dir, baseUrl: `${server.base}mirror/`, quiet: true }),
      (e: Error) =>
        e.message.includes(join(tmp.dir, "train-images-idx3-ubyte.gz")) &&
        e.message.includes(`size ${junk.length} bytes (Content-Length), expected 9912422`),
    );
    assert.deepEqual(listDir(tmp.dir), []);
    await assert.rejects(
      mnist({ dir: join(tmp.dir, "none"), download: false }),
      /train-images-idx3-ubyte\.gz is missing and downloading is disabled/,
    );
  } finally {
    await server.close();
  }
});

Deno.test("decodeIdx/gunzip: trailing bytes, short headers and corrupt gzip are named errors", async () => {
  const ok = makeIdx(LBL, [3], [1, 2, 3]);
  assert.deepEqual(decodeIdx(ok, "ok", "labels"), { dims: [3], data: new Uint8Array([1, 2, 3]) });
  const long = new Uint8Array([...ok, 7]);
  assert.throws(() => decodeIdx(long, "long.idx"), /long\.idx has 1 trailing bytes/);
  assert.throws(
    () => decodeIdx(ok.subarray(0, 6), "short.idx"),
    /short\.idx truncated: expected a 8-byte header/,
  );
  assert.throws(
    () => decodeIdx(makeIdx(0x0d01, [1], [0]), "float.idx"),
    /bad magic 0x00000d01 in float\.idx: expected an IDX file of unsigned bytes/,
  );
  const gz = await gzip(ok);
  assert.deepEqual(await gunzip(gz, "ok.gz"), ok);
  await assert.rejects(
    gunzip(gz.subarray(0, gz.length - 6), "cut.gz"),
    /cut\.gz is not a valid gzip stream/,
  );
});

Deno.test("dataDir: explicit dir, then $DENET_DATA/<dataset>, then the XDG cache", () => {
  const saved = ["DENET_DATA", "XDG_CACHE_HOME", "HOME"].map((k) => [k, Deno.env.get(k)] as const);
  try {
    Deno.env.set("DENET_DATA", "/data/root");
    Deno.env.set("XDG_CACHE_HOME", "/xdg/cache");
    assert.equal(dataDir("mnist", "/explicit/here"), "/explicit/here");
    assert.equal(dataDir("mnist", new URL("file:///from/url/")), "/from/url");
    assert.equal(dataDir("mnist"), "/data/root/mnist");
    Deno.env.delete("DENET_DATA");
    assert.equal(dataDir("housing"), "/xdg/cache/denet/housing");
    Deno.env.delete("XDG_CACHE_HOME");
    Deno.env.set("HOME", "/home/someone");
    assert.equal(dataDir("text"), "/home/someone/.cache/denet/text");
    assert.throws(() => dataDir("../etc"), /dataDir: invalid dataset name/);
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  }
});
