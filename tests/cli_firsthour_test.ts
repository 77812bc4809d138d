/**
 * A newcomer's first hour (issue 15): quiet successful runs, help and version, flags
 * checked before any device starts, the train header, --log, --plot, eval --confusion,
 * the Jupyter display bundles, show(), the PNG encoder, download retries, and examples
 * that fail with one line. Subprocesses are short: softmax on 600 MNIST images.
 */

import assert from "node:assert/strict";
import { main } from "../cli.ts";
import { ConfusionMatrix } from "../src/app/confusion.ts";
import { imageGrid } from "../src/app/image_grid.ts";
import { TrainingCurves } from "../src/app/plot.ts";
import { ensureFile } from "../src/data/download.ts";
import { gpuReady } from "../src/gpu/runtime.ts";
import { encodePNG } from "../src/io/png.ts";
import { Dense } from "../src/layers/dense.ts";
import { Chain } from "../src/layers/chain.ts";
import { fromArray } from "../src/tensor/create.ts";
import { show } from "../src/tensor/display.ts";
import { VERSION } from "../src/version.ts";
import { GPU_TEST, haveGpu } from "./_helpers.ts";
import { DATA_URL, haveData } from "./data_helpers.ts";

const MNIST = new URL("mnist/", DATA_URL).pathname;
const CLI = new URL("../cli.ts", import.meta.url).pathname;
const data = haveData("mnist");

/** Runs the CLI in a subprocess with XDG_RUNTIME_DIR unset (and `env` added). */
async function cli(args: string[], env: Record<string, string> = {}) {
  const base = Deno.env.toObject();
  delete base.XDG_RUNTIME_DIR;
  delete base.DENET_DEVICE;
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    env: { ...base, ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: p.code, out: dec.decode(p.stdout), err: dec.decode(p.stderr) };
}

/** What `deno jupyter` would display for `o` (its Symbol.for("Jupyter.display") bundle). */
async function jupyter(o: unknown): Promise<Record<string, string>> {
  const f = (o as Record<symbol, () => unknown>)[Symbol.for("Jupyter.display")];
  assert.equal(typeof f, "function");
  return await f.call(o) as Record<string, string>;
}

/** Checks that every tag of an SVG (XML) document is closed in order. */
function assertWellFormed(svg: string): void {
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (m[1]) assert.equal(stack.pop(), m[2], `closing </${m[2]}>`);
    else if (!m[3]) stack.push(m[2]);
  }
  assert.deepEqual(stack, [], "every element closed");
  assert.ok(!/&(?!amp;|lt;|gt;|quot;)/.test(svg), "entities escaped");
}

Deno.test("cli: flags are checked before any device starts (< 1 s, no GPU acquired)", async () => {
  const bad: [string[], RegExp][] = [
    [["train", "--epochs", "0"], /epochs must be a positive integer, got 0/],
    [["train", "--model", "resnet"], /unknown model 'resnet'/],
    [
      ["train", "--solver", "r2", "--save", "x.st"],
      /--save\/--resume\/--force apply to the minibatch/,
    ],
    [["train", "--log", "m.txt"], /--log m\.txt: the file name must end in \.jsonl or \.csv/],
    [["train", "--plot", "p.png"], /--plot p\.png: the file name must end in \.svg/],
    [["train", "--device", "tpu"], /--device must be gpu or cpu/],
    [["eval", "--load", "a.st", "--confusion", "c.png"], /--confusion c\.png: .* \.svg/],
    [["eval", "--load", "a.st", "--batch", "0"], /--batch must be a positive integer, got 0/],
  ];
  for (const [args, message] of bad) {
    const t0 = performance.now();
    await assert.rejects(main(args), message, args.join(" "));
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `${args.join(" ")}: ${ms.toFixed(0)} ms to the error`);
    assert.equal(gpuReady(), false, `${args.join(" ")} started the GPU`);
  }
});

Deno.test("cli: --version, and -h/--help on every subcommand", async () => {
  const v = await cli(["--version"]);
  assert.equal(v.code, 0);
  assert.equal(v.out.trim(), `denet ${VERSION}`);
  const meta = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  assert.equal(VERSION, meta.version, "src/version.ts matches deno.json");
  const e = await cli(["eval", "--help"]);
  assert.equal(e.code, 0, e.err);
  assert.match(e.out, /^usage: deno run -A \S*cli\.ts eval --load FILE/);
  for (const flag of ["--load", "--data", "--offline", "--device", "--batch", "--confusion"]) {
    assert.match(e.out, new RegExp(`  ${flag}\\b`), `eval --help documents ${flag}`);
  }
  // In-process (no subprocess each): every subcommand answers -h and --help.
  const log = console.log;
  const printed: string[] = [];
  console.log = (s: string) => printed.push(s);
  try {
    for (const sub of ["train", "eval", "info", "bench"]) {
      for (const h of ["-h", "--help"]) {
        printed.length = 0;
        assert.equal(await main([sub, h]), 0);
        assert.match(printed.join("\n"), new RegExp(`^usage: .* ${sub}\\b`), `${sub} ${h}`);
      }
    }
  } finally {
    console.log = log;
  }
  assert.equal(gpuReady(), false);
});

Deno.test({
  name: "cli: info and a short train are silent on stderr; header, --log, --plot, DENET_DEVICE",
  ignore: !data,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const info = await cli(["info"]);
      assert.equal(info.code, 0, info.err);
      assert.doesNotMatch(info.err, /error/i, `info stderr: ${info.err}`);
      assert.match(info.out, /^default device: (gpu|cpu) \(.+\)$/m);
      const common = ["--model", "softmax", "--optimizer", "sgd", "--lr", "0.5", "--epochs", "2"];
      const small = ["--data", MNIST, "--limit", "600", "--test-limit", "300"];
      const t = await cli([
        "train",
        ...common,
        ...small,
        "--log",
        `${dir}/m.csv`,
        "--plot",
        `${dir}/p.svg`,
      ]);
      assert.equal(t.code, 0, t.err);
      assert.doesNotMatch(t.err, /error/i, `train stderr: ${t.err}`);
      const lines = t.out.trim().split("\n");
      assert.match(
        lines[0],
        /^train softmax: 7,850 parameters, mnist 600 train \/ 300 test, batch 100, sgd lr 0\.5, device (gpu|cpu) \(.+\)$/,
      );
      const epochs = lines.slice(1).map((l) =>
        l.match(/^epoch {2}(\d) {2}loss ([\d.]+) {2}train ([\d.]+)% {2}test ([\d.]+)%/)!
      );
      assert.equal(epochs.length, 2, t.out);

      // --log: a header and a row per epoch matching the printed figures.
      const csv = (await Deno.readTextFile(`${dir}/m.csv`)).trim().split("\n");
      assert.equal(csv[0], "epoch,loss,test_loss,train_accuracy,test_accuracy,seconds,lr");
      assert.equal(csv.length, 3);
      csv.slice(1).forEach((row, i) => {
        const [ep, loss, testLoss, trn, tst, secs, lr] = row.split(",").map(Number);
        assert.equal(ep, i + 1);
        assert.equal(loss.toFixed(4), epochs[i]![2]);
        assert.equal((100 * trn).toFixed(2), epochs[i]![3]);
        assert.equal((100 * tst).toFixed(2), epochs[i]![4]);
        assert.ok(testLoss > 0 && testLoss < 2.3, `test loss ${testLoss}`);
        assert.ok(secs > 0);
        assert.equal(lr, 0.5);
      });

      // --plot: a well-formed SVG, 4 lines (loss and accuracy, train and test) of 2 points.
      const svg = await Deno.readTextFile(`${dir}/p.svg`);
      assertWellFormed(svg);
      const lines4 = [
        ...svg.matchAll(/<polyline class="series" data-label="(\w+)"[^>]* points="([^"]*)"/g),
      ];
      assert.deepEqual(lines4.map((m) => m[1]), ["train", "test", "train", "test"]);
      for (const m of lines4) assert.equal(m[2].split(" ").length, 2, m[0]);
      for (const label of ["Loss", "Accuracy", "epoch", "accuracy"]) {
        assert.ok(svg.includes(`>${label}</text>`), `label ${label}`);
      }

      // DENET_DEVICE is honoured by train (and named as the reason); JSONL log.
      const c = await cli([
        "train",
        ...common,
        ...small,
        "--epochs",
        "1",
        "--log",
        `${dir}/m.jsonl`,
      ], {
        DENET_DEVICE: "cpu",
      });
      assert.equal(c.code, 0, c.err);
      assert.match(c.out, /device cpu \(DENET_DEVICE=cpu; the CPU backend runs .* threads?\)$/m);
      const rows = (await Deno.readTextFile(`${dir}/m.jsonl`)).trim().split("\n").map((l) =>
        JSON.parse(l)
      );
      assert.equal(rows.length, 1);
      assert.deepEqual(Object.keys(rows[0]), [
        "epoch",
        "loss",
        "test_loss",
        "train_accuracy",
        "test_accuracy",
        "seconds",
        "lr",
      ]);
      assert.equal(rows[0].loss.toFixed(4), epochs[0]![2], "same seed and data as the first run");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "cli eval: needs only the test files; --confusion prints and draws the matrix",
  ignore: !data,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const t = await cli([
        "train",
        "--model",
        "softmax",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--data",
        MNIST,
        "--limit",
        "600",
        "--test-limit",
        "100",
        "--save",
        `${dir}/s.st`,
      ]);
      assert.equal(t.code, 0, t.err);
      // A folder with the test files only.
      await Deno.mkdir(`${dir}/mnist`);
      for (const f of ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]) {
        await Deno.copyFile(`${MNIST}/${f}`, `${dir}/mnist/${f}`);
      }
      const e = await cli([
        "eval",
        "--load",
        `${dir}/s.st`,
        "--device",
        "cpu",
        "--data",
        `${dir}/mnist`,
        "--offline",
        "--test-limit",
        "100",
        "--confusion",
        `${dir}/c.svg`,
      ]);
      assert.equal(e.code, 0, e.err);
      const acc = Number(e.out.match(/test accuracy ([\d.]+)%/)![1]);
      const rows = e.out.split("\n").filter((l) => /^\d +\d/.test(l));
      assert.equal(rows.length, 10, e.out);
      const counts = rows.map((r) => r.trim().split(/\s+/).slice(1, 11).map(Number));
      const total = counts.flat().reduce((a, b) => a + b, 0);
      const diag = counts.reduce((a, r, i) => a + r[i], 0);
      assert.equal(total, 100);
      assert.equal((100 * diag / total).toFixed(2), acc.toFixed(2));
      const svg = await Deno.readTextFile(`${dir}/c.svg`);
      assertWellFormed(svg);
      assert.equal([...svg.matchAll(/class="cell"/g)].length, 100);
      // A missing test file: named, with --data / DENET_DATA suggested.
      await Deno.remove(`${dir}/mnist/t10k-labels-idx1-ubyte.gz`);
      const m = await cli(["eval", "--load", `${dir}/s.st`, "--data", `${dir}/mnist`, "--offline"]);
      assert.equal(m.code, 1);
      assert.match(m.err, /t10k-labels-idx1-ubyte\.gz is missing.*--data \/ DENET_DATA/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("ConfusionMatrix: counts against a hand count; text and SVG", async () => {
  const labels = [0, 0, 1, 2, 2, 2, -1, 1];
  const pred = /**/ [0, 1, 1, 2, 0, 2, 2, 1];
  const m = new ConfusionMatrix(pred, labels, 3);
  // by hand: true 0 → pred 0, 1; true 1 → 1, 1; true 2 → 2, 0, 2; the -1 label is skipped
  assert.deepEqual(m.counts, [[1, 1, 0], [0, 2, 0], [1, 0, 2]]);
  assert.equal(m.total, 7);
  assert.equal(m.accuracy, 5 / 7);
  const text = m.toString().split("\n");
  assert.match(text[0], /^true\\pred {6}0 {5}1 {5}2 {2}recall$/);
  assert.equal(text[3], "2              1     0     2   66.7%");
  assertWellFormed(m.toSVG());
  assert.throws(() => new ConfusionMatrix([3], [0], 3), /prediction 3 at index 0/);
  const bundle = await jupyter(m);
  assert.ok(bundle["image/svg+xml"].startsWith("<svg"));
  assert.equal(bundle["text/plain"], m.toString());
});

Deno.test({
  name: "Jupyter display bundles: Tensor (table, images), Chain, TrainingCurves; show()",
  ...GPU_TEST,
  fn: async () => {
    const t = fromArray([[1, 2.5], [3, 4]], { device: "cpu" });
    const b = await jupyter(t);
    assert.equal(b["text/plain"], "Tensor f32[2,2] cpu\n[[  1, 2.5],\n [  3,   4]]");
    assert.equal(
      b["text/html"],
      "<div><small>Tensor f32[2,2] cpu</small><table><tr><td>1</td><td>2.5</td></tr>" +
        "<tr><td>3</td><td>4</td></tr></table></div>",
    );
    const img = fromArray(new Float32Array(2 * 4 * 4).map((_, i) => i % 3), {
      shape: [2, 1, 4, 4],
      device: "cpu",
    });
    const ib = await jupyter(img);
    const png = Uint8Array.from(atob(ib["image/png"]), (c) => c.charCodeAt(0));
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG");

    const chain = new Chain(new Dense(3, 2, { device: "cpu" }));
    const cb = await jupyter(chain);
    assert.equal(cb["text/plain"], chain.toString());
    assert.ok(cb["text/html"].startsWith("<pre>Chain"));

    const curves = TrainingCurves.from([
      { epoch: 1, loss: 1, testLoss: 0.9, trainAccuracy: 0.5, testAccuracy: 0.6 },
      { epoch: 2, loss: 0.5, testLoss: 0.6, trainAccuracy: 0.8, testAccuracy: 0.7 },
      { epoch: 3, loss: 0.3, trainAccuracy: 0.9, testAccuracy: 0.8 },
    ]);
    const kb = await jupyter(curves);
    assertWellFormed(kb["image/svg+xml"]);
    assert.match(kb["text/plain"], /^epoch {2}train loss/);
    assert.ok(kb["text/plain"].endsWith("\n    3      0.3000        NaN        90%       80%"));

    if (await haveGpu()) {
      const { init } = await import("../src/tensor/device.ts");
      await init({ device: "gpu" });
      const g = fromArray([1, 2, 3], { device: "gpu" });
      const inspect = (x: unknown) => Deno.inspect(x);
      assert.match(inspect(g), /values on the GPU: `await show\(t\)` prints them/);
      assert.equal(await show(g), g);
      assert.equal(inspect(g), "Tensor f32[3] gpu\n[1, 2, 3]");
      const gb = await jupyter(g);
      assert.match(gb["text/html"], /<td>3<\/td>/);
      g.dispose();
    }
  },
});

Deno.test("encodePNG and imageGrid: decodable pixels, labels, errors", async () => {
  const px = Uint8Array.from({ length: 3 * 2 }, (_, i) => i * 40);
  const png = await encodePNG(3, 2, px);
  const view = new DataView(png.buffer);
  assert.equal(view.getUint32(16), 3);
  assert.equal(view.getUint32(20), 2);
  const idatLen = view.getUint32(33);
  assert.equal(String.fromCharCode(...png.subarray(37, 41)), "IDAT");
  const raw = new Uint8Array(
    await new Response(
      new Blob([png.slice(41, 41 + idatLen)]).stream().pipeThrough(
        new DecompressionStream("deflate"),
      ),
    ).arrayBuffer(),
  );
  assert.deepEqual([...raw], [0, 0, 40, 80, 0, 120, 160, 200]);
  await assert.rejects(encodePNG(3, 2, px.subarray(1)), /5 bytes for 3×2×1/);

  const x = fromArray(new Float32Array(3 * 5 * 5).fill(1), { shape: [3, 1, 5, 5], device: "cpu" });
  const svg = await imageGrid(x, { cols: 2, labels: [1, 2, 3], truth: [1, 0, 3], format: "svg" });
  assertWellFormed(svg);
  assert.deepEqual(
    [...svg.matchAll(/<text class="label"[^>]*fill="([^"]+)">(\d)</g)].map((m) => [m[1], m[2]]),
    [["#2ca02c", "1"], ["#d62728", "2"], ["#2ca02c", "3"]],
  );
  const p = await imageGrid(x, { cols: 2, scale: 1 });
  assert.equal(new DataView(p.buffer).getUint32(16), 2 * (5 + 2) + 2, "width of 2 columns");
  await assert.rejects(imageGrid(fromArray([1, 2], { device: "cpu" })), /expected images/);
});

Deno.test("ensureFile: a stalled or failed download is tried once more, then named", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let calls = 0;
    const flaky: typeof fetch = () => {
      calls++;
      return calls === 1
        ? Promise.reject(new TypeError("connection reset"))
        : Promise.resolve(new Response("hello"));
    };
    await ensureFile(dir, { name: "a.txt", url: "http://x/a.txt", bytes: 5 }, { fetch: flaky });
    assert.equal(calls, 2);
    assert.equal(await Deno.readTextFile(`${dir}/a.txt`), "hello");

    let stalls = 0;
    const stalled: typeof fetch = (_u, init) => {
      stalls++;
      return new Promise((_, reject) =>
        init!.signal!.addEventListener("abort", () => reject(new Error("aborted")))
      );
    };
    await assert.rejects(
      ensureFile(dir, { name: "b.txt", url: "http://x/b.txt" }, { fetch: stalled, timeoutMs: 30 }),
      (e: Error) =>
        e.message.includes("b.txt") && e.message.includes("no data from the server for 0.03 s") &&
        e.message.includes("tried twice") && e.message.includes("DENET_DATA"),
    );
    assert.equal(stalls, 2);
    assert.deepEqual([...Deno.readDirSync(dir)].map((f) => f.name), ["a.txt"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples: a failure is one line on stderr and exit code 1", async () => {
  const file = await Deno.makeTempFile();
  try {
    const p = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../examples/housing.ts", import.meta.url).pathname,
        "--data",
        file,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(p.stderr).trim();
    assert.equal(p.code, 1);
    assert.equal(err.split("\n").length, 1, err);
    assert.match(err, /^housing\.ts: .*housing\.data/);
  } finally {
    await Deno.remove(file);
  }
});
