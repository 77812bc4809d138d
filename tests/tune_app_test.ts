/**
 * `cli.ts tune` and the job behind it (src/app/tune.ts), CI-sized on the CPU: the MNIST
 * MLP tuned by hyperband and goldensection on the first 3000 training images (the last
 * 1000 held out); the table lists every configuration, the best is the smallest held-out
 * loss and its test accuracy is measured; bad flags give a one-line error.
 */

import assert from "node:assert/strict";
import { formatTrial, TUNE_HEADER, tuneMlp } from "../src/app/tune.ts";
import { hyperbandSchedule } from "../src/tune/hyperband.ts";
import { init } from "../src/tensor/device.ts";
import { DATA_URL, haveData } from "./data_helpers.ts";

const MNIST = new URL("mnist/", DATA_URL).pathname;
const CLI = new URL("../cli.ts", import.meta.url).pathname;
const data = haveData("mnist");
const small = { dataDir: MNIST, limit: 3000, val: 1000, testLimit: 1000 } as const;

Deno.test({
  name:
    "tune: hyperband (R = 3, η = 3) tries the schedule's configurations; the best is the smallest held-out loss",
  ignore: !data,
  fn: async () => {
    await init({ device: "cpu" });
    const lines: string[] = [];
    const r = await tuneMlp({
      ...small,
      method: "hyperband",
      budget: 3,
      log: (l) => lines.push(l),
    });
    const sched = hyperbandSchedule(3, 3);
    const evals = sched.reduce((s, b) => s + b.rounds.reduce((t, x) => t + x.n, 0), 0);
    assert.equal(r.trials.length, evals);
    assert.deepEqual(
      r.trials.map((t) => t.epochs),
      sched.flatMap((b) => b.rounds.flatMap((x) => Array(x.n).fill(x.r))),
    );
    assert.equal(lines[0], TUNE_HEADER);
    assert.deepEqual(lines.slice(1, 1 + evals), r.trials.map(formatTrial));
    assert.match(lines.at(-1)!, /^best: trial \d+, hidden \d+/);
    const min = Math.min(...r.trials.map((t) => t.loss).filter((v) => !Number.isNaN(v)));
    assert.equal(r.best.loss, min);
    assert.ok(r.best.accuracy > 0.8, `held-out accuracy ${r.best.accuracy}`);
    assert.ok(r.testAccuracy > 0.8, `test accuracy ${r.testAccuracy}`);
    assert.equal(r.totalEpochs, r.trials.reduce((s, t) => s + t.epochs, 0));
  },
});

Deno.test({
  name: "tune: goldensection starts at Knet's MLP default (hidden 64, lr 0.5) and improves on it",
  ignore: !data,
  fn: async () => {
    await init({ device: "cpu" });
    const r = await tuneMlp({ ...small, method: "goldensection", budget: 1, dxmin: 0.5 });
    assert.deepEqual([r.trials[0].hidden, r.trials[0].lr], [64, 0.5]);
    assert.ok(r.trials.length >= 3);
    assert.ok(r.best.loss <= r.trials[0].loss);
    // Configurations are distinct (the history cache never retrains one).
    const keys = r.trials.map((t) => `${t.hidden}/${t.lr}`);
    assert.equal(new Set(keys).size, keys.length);
  },
});

Deno.test("tune: bad options name the option; the CLI prints one line and exits 1", async () => {
  await assert.rejects(() => tuneMlp({ method: "grid" }), /tune: unknown method 'grid'/);
  await assert.rejects(() => tuneMlp({ method: "hyperband", model: "lenet" }), /unknown model/);
  await assert.rejects(() => tuneMlp({ method: "hyperband", budget: 0 }), /tune: budget/);
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "tune", "--method", "hyperband", "--budget", "x"],
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(p.code, 1);
  const err = new TextDecoder().decode(p.stderr).split("\n").filter((l) => /denet:/.test(l));
  assert.deepEqual(err, ["denet: --budget expects an integer, got 'x'"]);
});
