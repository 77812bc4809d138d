/**
 * `deno task compile` (scripts/compile.ts) builds ONE executable file of cli.ts: a
 * `deno compile` binary where Deno's denort base binary is reachable (DENORT_BIN or
 * dl.deno.land), else a self-extracting sh launcher carrying the Deno runtime and an
 * esbuild bundle. Either way the file must run `info`, `train` and `eval` on its own:
 * from a directory without the sources, with a fresh Deno cache and every network access
 * pointed at a dead proxy.
 */

import assert from "node:assert/strict";
import { DATA_URL, haveData } from "./data_helpers.ts";
import { GPU_TEST, haveGpu } from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const gpu = await haveGpu();
const mnist = haveData("mnist");
/** MNIST for the training case: $DENET_DATA/mnist when set, else the shared data folder. */
const MNIST_DIR = Deno.env.get("DENET_DATA")
  ? `${Deno.env.get("DENET_DATA")}/mnist`
  : new URL("mnist/", DATA_URL).pathname;

const TMP = await Deno.makeTempDir({ prefix: "denet-compile-test-" });
const EXE = `${TMP}/bin/denet`;
/** The executable's working directory: empty, outside the repository. */
const WORK = `${TMP}/work`;
await Deno.mkdir(WORK);
const dec = new TextDecoder();

interface Out {
  code: number;
  out: string;
  err: string;
}

/**
 * Runs the executable with a minimal environment: a fresh HOME, cache and DENO_DIR, and
 * HTTP(S)/npm traffic sent to a closed local port, so any network access fails.
 */
async function runExe(args: string[], cache = `${TMP}/cache`): Promise<Out> {
  const dead = "http://127.0.0.1:9";
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: `${TMP}/home`,
    XDG_CACHE_HOME: cache,
    DENO_DIR: `${TMP}/deno_dir`,
    HTTP_PROXY: dead,
    HTTPS_PROXY: dead,
    NPM_CONFIG_REGISTRY: `${dead}/`,
  };
  // The launcher sets XDG_RUNTIME_DIR itself; a deno compile binary needs it passed.
  if (built?.mode === "compile") env.XDG_RUNTIME_DIR = Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp";
  const p = await new Deno.Command(EXE, {
    args,
    cwd: WORK,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: p.code, out: dec.decode(p.stdout), err: dec.decode(p.stderr) };
}

/** Runs cli.ts from source, for comparison. */
async function runSource(args: string[]): Promise<Out> {
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}cli.ts`, ...args],
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: p.code, out: dec.decode(p.stdout), err: dec.decode(p.stderr) };
}

function listDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** Builds the executable with the task's script (once, before the tests are declared). */
async function build(): Promise<{ code: number; out: string; err: string; secs: number }> {
  const t0 = performance.now();
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/compile.ts", "--output", EXE],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const secs = (performance.now() - t0) / 1000;
  return { code: p.code, out: dec.decode(p.stdout), err: dec.decode(p.stderr), secs };
}

const build0 = await build();
const MODE = build0.out.match(/mode=(compile|launcher)/)?.[1] as "compile" | "launcher" | undefined;
const built: { mode: "compile" | "launcher" } | null = build0.code === 0 && MODE
  ? { mode: MODE }
  : null;

Deno.test("compile: deno task compile's script builds one executable file of cli.ts", async () => {
  assert.equal(build0.code, 0, build0.err + build0.out);
  assert.ok(built, `the mode used is printed: ${build0.out}`);
  const mode = built.mode;
  if (Deno.env.get("DENORT_BIN")) assert.equal(mode, "compile", "DENORT_BIN set: deno compile");
  if (mode === "launcher") assert.match(build0.out, /could not fetch the denort base binary/);
  const st = await Deno.stat(EXE);
  assert.ok(st.isFile && (st.mode! & 0o111) !== 0, "a single executable file");
  assert.deepEqual(listDir(`${TMP}/bin`), ["denet"], "nothing but the executable is written");
  const head = dec.decode((await Deno.readFile(EXE)).subarray(0, 10));
  if (mode === "launcher") assert.equal(head, "#!/bin/sh\n");
  else assert.equal(head.slice(0, 4), "\x7fELF");
  console.log(
    `compile_test: mode=${mode}, ${(st.size / 2 ** 20).toFixed(1)} MiB, ${
      build0.secs.toFixed(1)
    } s`,
  );
});

Deno.test({
  name: "compile: the executable runs `info` from an empty directory, offline",
  ...GPU_TEST,
  fn: async () => {
    assert.ok(built, "built by the first test");
    const r = await runExe(["info"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^default device: (cpu|gpu) \(.+\)$/m);
    // the CPU backend's kernels and worker threads load from the executable too
    assert.match(r.out, /^cpu backend: WebAssembly (relaxed )?SIMD.*, [1-9]\d* threads?$/m);
    if (gpu) assert.match(r.out, /^adapter: {2}\S/m);
    assert.deepEqual(listDir(WORK), [], "nothing written to the working directory");
    assert.deepEqual(listDir(`${TMP}/deno_dir/npm`), [], "no npm package fetched");
    if (built.mode === "launcher") {
      const cache = listDir(`${TMP}/cache/denet`);
      assert.equal(cache.length, 1, `one unpacked payload: ${cache}`);
      assert.match(cache[0], /^exe-[0-9a-f]{16}$/);
      assert.deepEqual(listDir(`${TMP}/cache/denet/${cache[0]}`), ["denet.js", "deno"]);
    }
  },
});

Deno.test("compile: arguments and exit codes pass through the executable", async () => {
  assert.ok(built, "built by the first test");
  const help = await runExe(["help"]);
  assert.equal(help.code, 0, help.err);
  assert.match(help.out, /^usage: denet <command>/m, "the usage names the program as run");
  const bad = await runExe(["no-such-command", "x y", "--z"]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /unknown command 'no-such-command'/);
  const badFlag = await runExe(["info", "--no-such-flag"]);
  assert.equal(badFlag.code, 1);
  assert.match(badFlag.err, /^denet: .*no-such-flag/m);
});

Deno.test({
  name: "compile: concurrent first runs of the launcher unpack its payload once",
  ignore: built?.mode === "compile",
  fn: async () => {
    assert.ok(built, "built by the first test");
    const cache = `${TMP}/cache-race`;
    const runs = await Promise.all([1, 2, 3, 4].map(() => runExe(["help"], cache)));
    for (const r of runs) {
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /^usage: /m);
    }
    const dirs = listDir(`${cache}/denet`);
    assert.equal(dirs.length, 1, `one published directory, no leftovers: ${dirs}`);
    assert.deepEqual(listDir(`${cache}/denet/${dirs[0]}`), ["denet.js", "deno"]);
  },
});

Deno.test({
  name: "compile: a truncated launcher fails cleanly and publishes nothing",
  ignore: built?.mode === "compile",
  fn: async () => {
    assert.ok(built, "built by the first test");
    const bytes = await Deno.readFile(EXE);
    const cut = `${TMP}/bin-cut/denet`;
    await Deno.mkdir(`${TMP}/bin-cut`);
    await Deno.writeFile(cut, bytes.subarray(0, bytes.length >> 1), { mode: 0o755 });
    const cache = `${TMP}/cache-cut`;
    const p = await new Deno.Command(cut, {
      args: ["help"],
      cwd: WORK,
      env: { XDG_CACHE_HOME: cache },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(p.code, 1);
    assert.match(dec.decode(p.stderr), /denet: cannot unpack/);
    assert.deepEqual(listDir(`${cache}/denet`), [], "no partial directory is left");
  },
});

Deno.test({
  name: "compile: the executable trains softmax on MNIST and evaluates the checkpoint, offline",
  ignore: !mnist,
  ...GPU_TEST,
  fn: async () => {
    assert.ok(built, "built by the first test");
    const flags = [
      "--model",
      "softmax",
      "--dataset",
      "mnist",
      "--epochs",
      "1",
      "--batch",
      "100",
      "--limit",
      "1000",
      "--test-limit",
      "500",
      "--data",
      MNIST_DIR,
    ];
    const ckpt = `${TMP}/softmax.safetensors`;
    const r = await runExe(["train", ...flags, "--save", ckpt]);
    assert.equal(r.code, 0, r.err);
    const line = r.out.split("\n").find((l) => /^epoch\s+1\s/.test(l));
    assert.ok(line, `one line per epoch: ${r.out}`);
    const m = line.match(/^(epoch\s+1\s+loss\s+\S+\s+train\s+\S+%\s+test\s+(\S+)%)/);
    assert.ok(m, `epoch line format: ${line}`);
    // The same run from source prints the same loss and accuracies (not the seconds).
    const src = await runSource(["train", ...flags]);
    assert.equal(src.code, 0, src.err);
    const srcLine = src.out.split("\n").find((l) => /^epoch\s+1\s/.test(l)) ?? "";
    assert.equal(m[1], srcLine.slice(0, m[1].length), "executable and source agree");
    assert.ok((await Deno.stat(ckpt)).size > 7840 * 4, "the checkpoint holds the weights");

    const e = await runExe(["eval", "--load", ckpt, "--data", MNIST_DIR, "--test-limit", "500"]);
    assert.equal(e.code, 0, e.err);
    assert.match(e.out, /softmax on mnist after 1 epochs?: test accuracy/);
    const acc = e.out.match(/test accuracy ([0-9.]+)%/);
    assert.ok(acc, e.out);
    assert.equal(acc[1], m[2], "eval reproduces the test accuracy train printed");
    assert.deepEqual(listDir(WORK), [], "nothing written to the working directory");
  },
});

Deno.test("compile: clean up", async () => {
  await Deno.remove(TMP, { recursive: true });
});
