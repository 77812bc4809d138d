/**
 * The dataset loaders on the real offline data in ../shared/data (skipped with a message
 * when it is absent, failing instead when DENET_REQUIRE_DATA=1): MNIST and Fashion-MNIST
 * shapes, class counts and pixel range; Boston Housing standardization and MEDV;
 * tinyshakespeare's vocabulary and round trip. Plus the parsers on synthetic input.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  charCorpus,
  fashionMnist,
  housing,
  mnist,
  parseNumericTable,
  textCorpus,
} from "../src/data/mod.ts";
import type { Tensor } from "../internals.ts";
import { digest, haveData, listDir, requireData, serveFiles, tempDir } from "./data_helpers.ts";

function classCounts(y: Tensor): number[] {
  const counts = new Array(10).fill(0);
  for (const v of y.dataSync()) counts[v]++;
  return counts;
}

function range(t: Tensor): [number, number, number] {
  const v = t.dataSync();
  let lo = Infinity, hi = -Infinity, sum = 0;
  for (let i = 0; i < v.length; i++) {
    const a = v[i];
    if (a < lo) lo = a;
    if (a > hi) hi = a;
    sum += a;
  }
  return [lo, hi, sum / v.length];
}

Deno.test({
  name: "mnist: shapes, README class counts, first labels, pixels in [0,1]",
  ignore: !haveData("mnist"),
  fn: async () => {
    const dir = requireData("mnist");
    const d = await mnist({ dir, download: false });
    assert.deepEqual(d.xtrn.shape, [60000, 1, 28, 28]);
    assert.deepEqual(d.ytrn.shape, [60000]);
    assert.deepEqual(d.xtst.shape, [10000, 1, 28, 28]);
    assert.deepEqual(d.ytst.shape, [10000]);
    assert.equal(d.xtrn.dtype, "f32");
    assert.deepEqual(
      classCounts(d.ytrn),
      [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    );
    assert.deepEqual(classCounts(d.ytst), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    assert.equal(d.ytrn.dataSync()[0], 5, "the first training digit is a 5");
    assert.equal(d.ytst.dataSync()[0], 7, "the first test digit is a 7");
    const [lo, hi, mean] = range(d.xtrn);
    assert.equal(lo, 0);
    assert.equal(hi, 1);
    assert.ok(Math.abs(mean - 0.1307) < 1e-3, `MNIST's mean pixel is 0.1307, got ${mean}`);
    // Image 0, row 14 (0-based) crosses the stroke of the 5: some ink, within [0,1].
    const row = d.xtrn.dataSync().subarray(14 * 28, 15 * 28);
    assert.ok(row.some((p) => p > 0.5));
  },
});

Deno.test({
  name: "fashionMnist: 6000 per class in train, 1000 per class in test",
  ignore: !haveData("fashion-mnist"),
  fn: async () => {
    const dir = requireData("fashion-mnist");
    const d = await fashionMnist({ dir, download: false });
    assert.deepEqual(d.xtrn.shape, [60000, 1, 28, 28]);
    assert.deepEqual(d.xtst.shape, [10000, 1, 28, 28]);
    assert.deepEqual(classCounts(d.ytrn), new Array(10).fill(6000));
    assert.deepEqual(classCounts(d.ytst), new Array(10).fill(1000));
    const [lo, hi] = range(d.xtst);
    assert.equal(lo, 0);
    assert.equal(hi, 1);
  },
});

Deno.test({
  name: "housing: [506,13] standardized (mean 0, n−1 std 1), y [506,1] with MEDV mean 22.53",
  ignore: !haveData("housing"),
  fn: async () => {
    const dir = requireData("housing");
    const h = await housing({ dir, download: false });
    assert.deepEqual(h.x.shape, [506, 13]);
    assert.deepEqual(h.y.shape, [506, 1]);
    assert.equal(h.x.dtype, "f32");
    const x = h.x.dataSync();
    for (let j = 0; j < 13; j++) {
      let m = 0;
      for (let i = 0; i < 506; i++) m += x[i * 13 + j];
      m /= 506;
      let v = 0;
      for (let i = 0; i < 506; i++) v += (x[i * 13 + j] - m) ** 2;
      const s = Math.sqrt(v / 505);
      assert.ok(Math.abs(m) < 1e-5, `column ${j} mean ${m}`);
      assert.ok(Math.abs(s - 1) < 1e-5, `column ${j} std ${s}`);
    }
    const [lo, hi, meanY] = range(h.y);
    assert.equal(lo, 5);
    assert.equal(hi, 50);
    assert.equal(meanY.toFixed(2), "22.53");
    // mean/std describe the raw columns: CRIM's mean is 3.6135, CHAS is 0/1.
    assert.ok(Math.abs(h.mean.dataSync()[0] - 3.61352) < 1e-4);
    const raw = await housing({ dir, download: false, standardize: false, dtype: "f64" });
    assert.equal(raw.x.dtype, "f64");
    assert.equal(raw.x.dataSync()[0], 0.00632, "first CRIM value, unchanged");
    assert.equal(raw.y.dataSync()[0], 24);
    const m = raw.mean.dataSync(), s = raw.std.dataSync(), xr = raw.x.dataSync();
    assert.ok(Math.abs((xr[5] - m[5]) / s[5] - x[5]) < 1e-5, "x = (raw − mean) / std");
  },
});

Deno.test({
  name: "housing: downloaded from a server and checked with the real md5",
  ignore: !haveData("housing"),
  fn: async () => {
    const src = await Deno.readFile(new URL("housing.data", requireData("housing")));
    const server = serveFiles({ "/h.data": src, "/bad.data": src.subarray(1) });
    using tmp = tempDir();
    try {
      const h = await housing({ dir: tmp.dir, url: `${server.base}h.data`, quiet: true });
      assert.deepEqual(h.x.shape, [506, 13]);
      assert.deepEqual(listDir(tmp.dir), ["housing.data"]);
      using tmp2 = tempDir();
      await assert.rejects(
        housing({ dir: tmp2.dir, url: `${server.base}bad.data`, quiet: true }),
        /housing\.data.*size 49081 bytes \(Content-Length\), expected 49082/,
      );
      assert.deepEqual(listDir(tmp2.dir), []);
    } finally {
      await server.close();
    }
  },
});

Deno.test("parseNumericTable: row and column counts are checked, naming file and line", () => {
  const t = parseNumericTable(" 1 2 3\n4 5 6\n\n", "t.data", 3, 2);
  assert.deepEqual(t, { rows: 2, cols: 3, values: new Float64Array([1, 2, 3, 4, 5, 6]) });
  assert.throws(
    () => parseNumericTable("1 2 3\n4 5\n", "housing.data", 3),
    /housing\.data line 2: expected 3 columns, got 2/,
  );
  assert.throws(
    () => parseNumericTable("1 2 3\n4 x 6\n", "housing.data", 3),
    /housing\.data line 2: column 2 "x" is not a number/,
  );
  assert.throws(
    () => parseNumericTable("1 2 3\n", "housing.data", 3, 506),
    /housing\.data: expected 506 rows of 3 columns, got 1/,
  );
});

Deno.test({
  name: "textCorpus: tinyshakespeare has 65 characters and 1115394 ids; decode∘encode = id",
  ignore: !haveData("text"),
  fn: async () => {
    const dir = requireData("text");
    const c = await textCorpus({ dir, download: false });
    assert.equal(c.vocab.length, 65);
    assert.equal(c.data.length, 1115394);
    assert.deepEqual(c.vocab.slice(0, 3), ["\n", " ", "!"]);
    assert.deepEqual([...c.vocab].sort(), c.vocab, "sorted");
    assert.equal(c.decode(c.data.subarray(0, 14)), "First Citizen:");
    const s = "To be, or not to be: that is the question.";
    assert.equal(c.decode(c.encode(s)), s);
    assert.equal(c.vocab[c.encode("a")[0]], "a");
    assert.throws(() => c.encode("naïve"), /encode: character "ï" \(U\+00EF\) at position 2/);
    // The same file through `path` gives the same corpus.
    const p = await textCorpus({ path: new URL("tinyshakespeare.txt", dir) });
    assert.deepEqual(p.vocab, c.vocab);
    assert.equal(
      digest("md5", new Uint8Array(p.data.buffer)),
      digest("md5", new Uint8Array(c.data.buffer)),
    );
  },
});

Deno.test("charCorpus / textCorpus(path): sorted code points, errors on unknown input", async () => {
  const c = charCorpus("abca 😀b", "mem");
  assert.deepEqual(c.vocab, [" ", "a", "b", "c", "😀"]);
  assert.deepEqual(Array.from(c.data), [1, 2, 3, 1, 0, 4, 2]);
  assert.equal(c.decode(c.encode("😀 cab")), "😀 cab");
  assert.throws(
    () => c.encode("abd"),
    /encode: character "d" \(U\+0064\) at position 2 is not in the vocabulary of mem/,
  );
  assert.throws(
    () => c.decode([0, 5]),
    /decode: id 5 at position 1 is not a character index 0\.\.4/,
  );
  assert.throws(() => charCorpus(""), /charCorpus: text is empty/);
  using tmp = tempDir();
  const path = join(tmp.dir, "t.txt");
  await Deno.writeTextFile(path, "hello\n");
  const f = await textCorpus({ path });
  assert.deepEqual(f.vocab, ["\n", "e", "h", "l", "o"]);
  await Deno.writeFile(path, new Uint8Array([0x68, 0xff]));
  await assert.rejects(textCorpus({ path }), /textCorpus: cannot read .*t\.txt as UTF-8/);
});
