/**
 * Issue 16's bad-input probe as tests: each bad and weak finding reproduced with the
 * probe's input, asserting the clear error (and unchanged bytes on disk) or the correct
 * figure. NaN propagation through the ops is in nan_test.ts, GPU label checks in
 * loss_test.ts, checkpoint survival under SIGKILL in checkpoint_survival_test.ts.
 * CLI runs are CPU-only MLPs on a few hundred MNIST images (under a second each).
 */

import assert from "node:assert/strict";
import * as dn from "../mod.ts";
import { JOB_KEY } from "../src/app/resume.ts";
import { buildModel } from "../src/models.ts";
import { decodeSafetensors, encodeSafetensors } from "../src/io/safetensors.ts";
import { DATA_URL, haveData } from "./data_helpers.ts";

const MNIST = new URL("mnist/", DATA_URL).pathname;
const CLI = new URL("../cli.ts", import.meta.url).pathname;
const data = haveData("mnist");
const SMALL = ["--device", "cpu", "--data", MNIST, "--limit", "200", "--test-limit", "100"];

/** Runs `cli.ts train|eval ...` (SMALL flags added to train) in a child process. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const extra = args[0] === "train" ? SMALL : args[0] === "eval" ? ["--data", MNIST] : [];
  const p = await new Deno.Command(Deno.execPath(), {
    // The test's flags after the defaults, so they win (the last value of a flag counts).
    args: ["run", "-A", CLI, args[0], ...extra, ...args.slice(1)],
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  const err = dec.decode(p.stderr).split("\n").filter((l) =>
    l.trim() !== "" && !/MESA|XDG_RUNTIME_DIR|^minibatch: /.test(l)
  ).join("\n");
  return { code: p.code, out: dec.decode(p.stdout), err };
}

/** Asserts a failed CLI run: exit ≠ 0, one `denet: ` line matching `re`, no epoch line. */
function assertRefused(r: { code: number; out: string; err: string }, re: RegExp, what: string) {
  assert.notEqual(r.code, 0, `${what}: exit code 0 (${r.out})`);
  assert.equal(r.err.split("\n").length, 1, `${what}: ${r.err}`);
  assert.match(r.err, /^denet: /, what);
  assert.match(r.err, re, what);
}

async function bytes(path: string): Promise<Uint8Array | null> {
  try {
    return await Deno.readFile(path);
  } catch {
    return null;
  }
}

/** Runs `fn` and asserts the files' bytes (or absence) did not change. */
async function unchanged(paths: string[], fn: () => Promise<void>): Promise<void> {
  const before = await Promise.all(paths.map(bytes));
  await fn();
  const after = await Promise.all(paths.map(bytes));
  const same = (a: Uint8Array | null, b: Uint8Array | null) =>
    a === null || b === null ? a === b : a.length === b.length && a.every((v, i) => v === b[i]);
  paths.forEach((p, i) => assert.ok(same(after[i], before[i]), `${p} changed`));
}

/** A checkpoint like `src` with `edit` applied to its tensors and metadata. */
async function rewrite(
  src: string,
  dst: string,
  edit: (
    t: Map<string, { dtype: "F32" | "F64"; shape: number[]; data: Float32Array | Float64Array }>,
    m: Record<string, string>,
  ) => void,
): Promise<void> {
  const f = decodeSafetensors(await Deno.readFile(src), src);
  edit(f.tensors, f.metadata);
  const tensors = [...f.tensors].map(([name, t]) => ({ name, ...t }));
  await Deno.writeFile(dst, encodeSafetensors(tensors, f.metadata));
}

const withDir = (fn: (dir: string) => Promise<void>) => async () => {
  const dir = await Deno.makeTempDir({ prefix: "denet_bad_input_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
};

// ---------------------------------------------------------------------------------------
// The six bad cases

Deno.test({
  name: "bad 1: a network with NaN weights evaluates to NaN, and --resume of it stops at once",
  ignore: !data,
  fn: withDir(async (dir) => {
    const good = `${dir}/good.st`;
    assert.equal((await cli("train", "--model", "mlp", "--epochs", "1", "--save", good)).code, 0);
    const bad = `${dir}/nan.st`;
    await rewrite(good, bad, (t) => t.get("layers.0.w")!.data.fill(NaN));
    const ev = await cli("eval", "--load", bad, "--device", "cpu", "--test-limit", "100");
    assert.equal(ev.code, 0, ev.err);
    assert.match(ev.out, /test accuracy NaN%, test loss NaN/);
    await unchanged([bad], async () => {
      const r = await cli("train", "--resume", bad, "--save", bad, "--epochs", "2");
      assertRefused(r, /epoch 2: the training loss is NaN: the run diverged/, "resume NaN");
    });
  }),
});

Deno.test({
  name: "bad 2: --resume FILE --lr 0.5 applies the rate (saved in the optimizer state), or refuses",
  ignore: !data,
  fn: withDir(async (dir) => {
    const ck = `${dir}/a.st`;
    const base = ["--model", "mlp", "--optimizer", "sgd", "--lr", "0.1"];
    assert.equal((await cli("train", ...base, "--epochs", "1", "--save", ck)).code, 0);
    const r = await cli("train", "--resume", ck, "--save", ck, "--epochs", "2", "--lr", "0.5");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^--resume: learning rate 0\.5 \(the checkpoint had 0\.1\)$/m);
    const info = await dn.readCheckpointInfo(ck);
    for (const o of Object.values(info.optimizers)) assert.equal(o.config.lr, 0.5);
    assert.equal(JSON.parse(info.metadata[JOB_KEY]).lr, 0.5);
    // Flags that contradict the checkpoint are refused, naming the flag; nothing changes.
    const refused: [string[], RegExp][] = [
      [["--optimizer", "adam"], /trained with optimizer "sgd", not "adam"/],
      [["--model", "softmax"], /trained with model "mlp", not "softmax"/],
      [["--batch", "50"], /trained with batch 100, not 50/],
      [["--seed", "2"], /trained with seed 1, not 2/],
      [["--limit", "100"], /trained with limit 200, not 100/],
      [["--dataset", "fashion"], /trained with dataset "mnist", not "fashion"/],
      [["--solver", "r2"], /--save\/--resume\/--force apply to the minibatch loop/],
    ];
    await unchanged([ck], async () => {
      for (const [flags, re] of refused) {
        assertRefused(
          await cli("train", "--resume", ck, "--save", ck, "--epochs", "3", ...flags),
          re,
          flags.join(" "),
        );
      }
    });
  }),
});

Deno.test({
  name: "bad 3: --limit 5 with --batch 100: the training accuracy counts 5 instances",
  ignore: !data,
  fn: async () => {
    await dn.init({ device: "cpu" });
    const { trainClassifier, loadDatasetSplit } = await import("../src/app/classify.ts");
    const [r] = await trainClassifier({
      model: "softmax",
      optimizer: "sgd",
      epochs: 1,
      limit: 5,
      testLimit: 10,
      dataDir: MNIST,
      progressBar: false,
    });
    // The one step scores the 5 images with the initial weights: count them directly.
    dn.seed(1);
    const net = buildModel("softmax", { device: "cpu" });
    const d = await loadDatasetSplit("mnist", "train", MNIST);
    const x = dn.slice(d.x, [[0, 5]]);
    const y = dn.slice(d.y, [[0, 5]]);
    const right = (await dn.accuracy(net.forward(x), y, { average: false }).data())[0];
    assert.equal(r.trainAccuracy, right / 5, `${right} of 5 correct`);
  },
});

Deno.test({
  name: "bad 4: job metadata is validated before anything changes (null, epoch −3, bad fields)",
  ignore: !data,
  fn: withDir(async (dir) => {
    const good = `${dir}/good.st`;
    assert.equal((await cli("train", "--model", "mlp", "--epochs", "1", "--save", good)).code, 0);
    const job = JSON.parse((await dn.readCheckpointInfo(good)).metadata[JOB_KEY]);
    const cases: [string, string, RegExp][] = [
      ["null", "null", /train\.job metadata must be a JSON object, got null/],
      ["epoch", JSON.stringify({ ...job, epoch: -3 }), /epoch -3 \(expected a positive integer/],
      ["model", JSON.stringify({ ...job, model: "resnet" }), /model "resnet" \(expected one of/],
      ["seed", JSON.stringify({ ...job, seed: 2 ** 40 }), /seed 1099511627776/],
      ["lr", JSON.stringify({ ...job, lr: -1 }), /lr -1 \(expected null or a positive/],
      ["rng", JSON.stringify({ ...job, rng: [0, 0, 0, 0, null] }), /rng \[0,0,0,0,null\]/],
      ["extra", JSON.stringify({ ...job, lrr: 1 }), /unknown key lrr/],
      ["missing", JSON.stringify({ ...job, batch: undefined }), /batch missing/],
    ];
    for (const [name, raw, re] of cases) {
      const f = `${dir}/${name}.st`;
      await rewrite(good, f, (_t, m) => (m[JOB_KEY] = raw));
      await unchanged([f], async () => {
        assertRefused(await cli("train", "--resume", f, "--save", f), re, `resume ${name}`);
        assertRefused(await cli("eval", "--load", f), re, `eval ${name}`);
      });
    }
  }),
});

Deno.test({
  name: "bad 5: --save is checked before training: missing dir, a dataset file, a checkpoint",
  ignore: !data,
  fn: withDir(async (dir) => {
    const t0 = performance.now();
    assertRefused(
      await cli("train", "--epochs", "50", "--save", `${dir}/none/x.st`),
      /--save .*none\/x\.st: the directory .*none does not exist/,
      "missing dir",
    );
    assert.ok(performance.now() - t0 < 20_000, "refused before training 50 epochs");
    // A dataset file (a copy: the shared data is read-only) is never replaced.
    const labels = `${dir}/t10k-labels-idx1-ubyte.gz`;
    await Deno.copyFile(`${MNIST}/t10k-labels-idx1-ubyte.gz`, labels);
    await unchanged([labels], async () => {
      assertRefused(
        await cli("train", "--save", labels, "--force"),
        /the file exists and is not a checkpoint of cli\.ts train; refusing to replace it/,
        "dataset file",
      );
    });
    // A fresh run does not replace another run's checkpoint without --force.
    const ck = `${dir}/a.st`;
    assert.equal((await cli("train", "--model", "mlp", "--epochs", "2", "--save", ck)).code, 0);
    await unchanged([ck], async () => {
      assertRefused(
        await cli("train", "--model", "mlp", "--epochs", "1", "--save", ck),
        /a checkpoint is already there; pass --resume .*a\.st to continue it or --force/,
        "existing checkpoint",
      );
      assertRefused(await cli("train", "--force"), /--force applies to --save only/, "force");
    });
    const forced = await cli(
      "train",
      "--model",
      "softmax",
      "--epochs",
      "1",
      "--save",
      ck,
      "--force",
    );
    assert.equal(forced.code, 0, forced.err);
    assert.equal(JSON.parse((await dn.readCheckpointInfo(ck)).metadata[JOB_KEY]).model, "softmax");
    // A directory where the file should be.
    await Deno.mkdir(`${dir}/d.st`);
    assertRefused(await cli("train", "--save", `${dir}/d.st`), /exists and is not a file/, "dir");
  }),
});

Deno.test({
  name: "bad 6: a CPU label out of range throws at once (the GPU twin is in loss_test.ts)",
  fn: () => {
    const scores = dn.fromArray([[1, 2, 3], [3, 2, 1]], { device: "cpu" });
    for (const f of [dn.accuracy, dn.nll]) {
      assert.throws(
        () => f(scores, dn.fromArray([0, 3], { device: "cpu" })),
        /label 3 of instance 1 is not a class index: expected an integer in \[0, 2\]/,
      );
    }
  },
});

// ---------------------------------------------------------------------------------------
// The weak cases

Deno.test({
  name: "weak: a diverging run (--lr 1e10) exits ≠ 0 naming the epoch and saves no NaN",
  ignore: !data,
  fn: withDir(async (dir) => {
    const ck = `${dir}/a.st`;
    const base = ["--model", "mlp", "--optimizer", "sgd"];
    assert.equal((await cli("train", ...base, "--epochs", "1", "--save", ck)).code, 0);
    const before = await bytes(ck);
    const r = await cli(
      "train",
      ...[...base, "--resume", ck, "--save", ck, "--epochs", "9", "--lr", "1e10"],
    );
    assert.notEqual(r.code, 0, r.out);
    const m = r.err.match(
      /^denet: epoch (\d): the (training loss is (NaN|Infinity)|weights hold NaN or Inf after the epoch): the run diverged \(try a smaller --lr\); .*a\.st keeps the last good epoch$/,
    );
    assert.ok(m, r.err);
    // The file holds the last good epoch: finite weights and optimizer state.
    const f = decodeSafetensors((await bytes(ck))!);
    for (const [name, t] of f.tensors) assert.ok(t.data.every(Number.isFinite), name);
    assert.equal(JSON.parse(f.metadata[JOB_KEY]).epoch, Number(m[1]) - 1);
    if (m[1] === "2") assert.ok((await bytes(ck))!.every((v, i) => v === before![i]));
    // A fresh diverging run leaves no checkpoint with NaN or Inf either.
    const fresh = await cli(
      "train",
      ...[...base, "--lr", "1e10", "--epochs", "9", "--save", `${dir}/b.st`],
    );
    assert.notEqual(fresh.code, 0);
    const b = await bytes(`${dir}/b.st`);
    if (b !== null) {
      for (const [name, t] of decodeSafetensors(b).tensors) {
        assert.ok(t.data.every(Number.isFinite), name);
      }
    }
  }),
});

Deno.test({
  name: "weak: --lr outside f32, --seed above 2^32−1 and flags a --solver run ignores are refused",
  ignore: !data,
  fn: async () => {
    const cases: [string[], RegExp][] = [
      [["--lr", "1e-50"], /lr = 1e-50 is outside f32's normal range/],
      [["--lr", "1e39"], /lr = 1e\+39 is outside f32's normal range/],
      [["--seed", "4294967296"], /seed must be an integer in \[0, 4294967295\]/],
      [
        ["--solver", "r2", "--optimizer", "sgd", "--lr", "5"],
        /--optimizer does not apply to --solver r2/,
      ],
      [["--solver", "r2", "--lr", "5"], /--lr applies to --solver adam only/],
      [["--solver", "lbfgs", "--save", "/tmp/x.st"], /apply to the minibatch loop/],
    ];
    for (const [flags, re] of cases) {
      assertRefused(await cli("train", ...flags), re, flags.join(" "));
    }
    assert.throws(() => dn.seed(2 ** 32), /seed: expected an integer in \[0, 4294967295\]/);
    assert.throws(() => new dn.Adam({ eps: 1e-50 }), /eps = 1e-50 is outside f32's normal range/);
  },
});

Deno.test({
  name: "weak: stale temp files of a checkpoint go at the next save; a live writer's stay",
  fn: withDir(async (dir) => {
    await dn.init({ device: "cpu" });
    const ck = `${dir}/m.st`;
    const uuid = () => crypto.randomUUID();
    const dead = `.m.st.2147483646.${uuid()}.tmp`; // above any pid_max: no such process
    const legacy = `.m.st.${uuid()}.tmp`; // the name before issue 16
    const live = `.m.st.${Deno.pid}.${uuid()}.tmp`;
    const other = `.n.st.2147483646.${uuid()}.tmp`; // another checkpoint's
    for (const f of [dead, legacy, live, other]) await Deno.writeTextFile(`${dir}/${f}`, "x");
    const model = { w: new dn.Param(dn.fromArray([1, 2, 3], { device: "cpu" })) };
    await dn.saveCheckpoint(ck, model);
    const left = [];
    for await (const e of Deno.readDir(dir)) left.push(e.name);
    assert.deepEqual(left.sort(), [live, other, "m.st"].sort());
  }),
});

Deno.test({
  name: "weak: a second run saving to the same path is refused while the first is alive",
  ignore: !data,
  fn: withDir(async (dir) => {
    const ck = `${dir}/a.st`;
    assert.equal((await cli("train", "--model", "mlp", "--epochs", "1", "--save", ck)).code, 0);
    const holder = new Deno.Command("sleep", { args: ["60"] }).spawn();
    try {
      await Deno.writeTextFile(`${dir}/.a.st.lock`, `${holder.pid}\n`);
      await unchanged([ck, `${dir}/.a.st.lock`], async () => {
        assertRefused(
          await cli("train", "--resume", ck, "--save", ck, "--epochs", "2"),
          new RegExp(`another run \\(process ${holder.pid}\\) is saving to this path`),
          "locked",
        );
      });
    } finally {
      holder.kill("SIGKILL");
      await holder.status;
    }
    // The holder is gone: its lock is stale and the next run takes it over, then drops it.
    const r = await cli("train", "--resume", ck, "--save", ck, "--epochs", "2");
    assert.equal(r.code, 0, r.err);
    assert.equal(await bytes(`${dir}/.a.st.lock`), null, "the lock is removed at the end");
    assert.equal(JSON.parse((await dn.readCheckpointInfo(ck)).metadata[JOB_KEY]).epoch, 2);
  }),
});

Deno.test("weak: J.grad(p) after J.dispose() or disposeGradients() throws", () => {
  const p = new dn.Param(dn.fromArray([1, 2], { device: "cpu" }));
  const J = dn.diff(() => dn.sum(dn.mul(p, p)));
  assert.ok(J.grad(p) !== null);
  J.dispose();
  assert.throws(() => J.grad(p), /grad: the gradients were released by dispose\(\)/);
  const K = dn.diff(() => dn.sum(p));
  K.disposeGradients();
  assert.throws(() => K.grad(p), /released by disposeGradients\(\)/);
  K.value.dispose();
});

Deno.test("weak: every solver reports NaN at x0 by name; option typos are refused by name", async () => {
  const solvers = { R2: dn.R2, lbfgs: dn.lbfgs, trunk: dn.trunk, adam: dn.adamSolver };
  for (const [name, solve] of Object.entries(solvers)) {
    const nlp = new dn.ADNLPModel(
      (x) => dn.sum(dn.log(x)),
      dn.fromArray([-1, 1], { dtype: "f64" }),
    );
    const s = await (solve as typeof dn.R2)(nlp, {});
    assert.equal(s.status, "exception", name);
    assert.match(s.message, /^unhandled exception: NaN at x0: f\(x0\) = NaN/, name);
    await assert.rejects(
      (solve as typeof dn.R2)(nlp, { maxtime: 5 } as never),
      new RegExp(`unknown option 'maxtime' \\(did you mean 'maxTime'\\?\\)`),
      name,
    );
  }
  assert.throws(
    () => new dn.Dense(2, 3, { activaton: "relu" } as never),
    /Dense: unknown option 'activaton'/,
  );
  assert.throws(
    () => new dn.Conv(3, 3, 1, 2, { strid: 2 } as never),
    /Conv: unknown option 'strid'/,
  );
  assert.throws(() => new dn.Pool({ windw: 3 } as never), /Pool: unknown option 'windw'/);
  assert.throws(() => new dn.BatchNorm(3, { momentm: 0.1 } as never), /BatchNorm: unknown option/);
  assert.throws(() => new dn.Dropout(0.5, { sed: 1 } as never), /Dropout: unknown option 'sed'/);
  assert.throws(
    () => new dn.Embedding(5, 2, { int: 1 } as never),
    /Embedding: unknown option 'int'/,
  );
  assert.throws(() => new dn.SGD({ lrr: 1 } as never), /SGD: unknown option 'lrr'/);
  const x = dn.zeros([1, 1, 4, 4], { device: "cpu" });
  assert.throws(() => dn.pool(x, { windw: 3 } as never), /pool: unknown option 'windw'/);
  assert.throws(() => dn.dropout(x, 0.5, { sed: 1 } as never), /dropout: unknown option 'sed'/);
});

Deno.test("weak: lbfgs reports unbounded on the probe's f = −Σx; trunk tests f < fmin too", async () => {
  const linear = (scale: number) =>
    new dn.ADNLPModel((x) => dn.mul(dn.sum(x), -scale), dn.zeros([3], { dtype: "f64" }));
  const l = await dn.lbfgs(linear(1), { maxTime: 30 });
  assert.equal(l.status, "unbounded", String(l));
  assert.ok(l.objective < -1 / 2 ** -52, `f ${l.objective} below fmin`);
  assert.ok(l.iter <= 10, `${l.iter} iterations`);
  const t = await dn.trunk(linear(1e14), { maxTime: 30 });
  assert.equal(t.status, "unbounded", String(t));
  const r = await dn.R2(linear(1), { maxTime: 30 });
  assert.equal(r.status, "unbounded", String(r));
});

Deno.test("weak: a 1e11-element tensor gives an Error naming the op and the size", () => {
  assert.throws(
    () => dn.zeros([1e11], { device: "cpu" }),
    /^Error: zeros: cannot allocate 100000000000 f32 elements \(372\.5 GiB\) in host memory/,
  );
  assert.throws(() => dn.randn([1e5, 1e6], { device: "cpu" }), /^Error: randn: cannot allocate/);
});

Deno.test({
  name: "weak: a negative Adam second moment (or NaN) in a checkpoint is refused; nothing changes",
  ignore: !data,
  fn: withDir(async (dir) => {
    await dn.init({ device: "cpu" });
    const good = `${dir}/good.st`;
    const r = await cli(
      "train",
      "--model",
      "mlp",
      "--optimizer",
      "adam",
      "--epochs",
      "1",
      "--save",
      good,
    );
    assert.equal(r.code, 0, r.err);
    for (const v of [-1, NaN]) {
      const bad = `${dir}/bad.st`;
      await rewrite(good, bad, (t) => (t.get("layers.1.w/opt/scndm")!.data[7] = v));
      const net = buildModel("mlp", { device: "cpu" });
      const before = await dn.readAll(dn.params(net));
      await assert.rejects(
        dn.loadCheckpoint(bad, net),
        new RegExp(`state 'scndm' must be ≥ 0 \\(it accumulates squares\\), got ${v} at element 7`),
      );
      assert.deepEqual(await dn.readAll(dn.params(net)), before, "the model is unchanged");
      await unchanged([bad], async () => {
        assertRefused(
          await cli("train", "--resume", bad, "--save", bad, "--epochs", "2"),
          /scndm' must be ≥ 0/,
          `resume with scndm ${v}`,
        );
      });
    }
    // The API check of loadState.
    const w = dn.fromArray([1, 2], { device: "cpu" });
    const opt = new dn.Adam();
    assert.throws(
      () =>
        opt.loadState({ ...opt.config(), t: 1 }, {
          fstm: dn.fromArray([0, 0], { device: "cpu" }),
          scndm: dn.fromArray([0, -2], { device: "cpu" }),
        }, w),
      /Adam\.loadState: state 'scndm' must be ≥ 0/,
    );
  }),
});
