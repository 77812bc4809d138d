/**
 * `cli.ts train` / `cli.ts eval` and the job behind them (src/app/classify.ts): per-epoch
 * host syncs, checkpoints after each epoch, exact resumption, and one-line errors with a
 * non-zero exit code for bad flags, unknown names, missing data and foreign checkpoints.
 * CI-sized: MLP on the first 3000 MNIST training images.
 */

import assert from "node:assert/strict";
import { evaluateCheckpoint, trainClassifier } from "../src/app/classify.ts";
import { init } from "../src/tensor/device.ts";
import { DATA_URL, haveData } from "./data_helpers.ts";
import { GPU_TEST, haveGpu } from "./_helpers.ts";
import { cli, errorLines } from "./cli_helpers.ts";

const MNIST = new URL("mnist/", DATA_URL).pathname;
const data = haveData("mnist");
const small = { dataDir: MNIST, limit: 3000, testLimit: 1000, progressBar: false } as const;

Deno.test({
  name: "train: an epoch reads back twice on the GPU; resuming gives the same bytes",
  ignore: !data,
  ...GPU_TEST,
  fn: async () => {
    const device = (await haveGpu()) ? await init() : await init({ device: "cpu" });
    const dir = await Deno.makeTempDir();
    try {
      const cfg = { ...small, model: "mlp", optimizer: "sgd", lr: 0.5, seed: 3 };
      const straight = await trainClassifier({ ...cfg, epochs: 2, save: `${dir}/a.st` });
      assert.equal(straight.length, 2);
      for (const r of straight) {
        // The mean loss, then the running accuracy with the test accuracy and loss in one
        // readback; the 30 steps read nothing back.
        assert.equal(r.hostSyncs, device === "gpu" ? 2 : 0, `epoch ${r.epoch}`);
      }
      assert.ok(straight[1].loss < straight[0].loss);
      assert.ok(straight[1].testAccuracy > 0.85, `test accuracy ${straight[1].testAccuracy}`);

      await trainClassifier({ ...cfg, epochs: 1, save: `${dir}/b.st` });
      const resumed = await trainClassifier({
        ...cfg,
        epochs: 2,
        resume: `${dir}/b.st`,
        save: `${dir}/c.st`,
      });
      assert.deepEqual(resumed.map((r) => r.epoch), [2]);
      assert.equal(resumed[0].loss, straight[1].loss);
      assert.equal(resumed[0].testAccuracy, straight[1].testAccuracy);
      const a = await Deno.readFile(`${dir}/a.st`);
      const c = await Deno.readFile(`${dir}/c.st`);
      assert.ok(a.length > 200_000);
      assert.deepEqual(c, a, "weights, optimizer state and random state all match");

      const ev = await evaluateCheckpoint(`${dir}/a.st`, {
        dataDir: MNIST,
        batch: 100,
        testLimit: 1000,
      });
      assert.equal(ev.model, "mlp");
      assert.equal(ev.epoch, 2);
      assert.equal(ev.testAccuracy, straight[1].testAccuracy);

      // Resuming with other settings, or from another model's checkpoint, is refused.
      await assert.rejects(
        trainClassifier({ ...cfg, model: "softmax", epochs: 3, resume: `${dir}/a.st` }),
        /trained with model "mlp", not "softmax"/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "train --solver: R2, Adam, L-BFGS and trunk-LSR1 on the NLP model, few host syncs",
  ignore: !data,
  ...GPU_TEST,
  fn: async () => {
    const device = (await haveGpu()) ? await init() : await init({ device: "cpu" });
    // Minimum test accuracy after 2 epochs of 30 steps (a stochastic quasi-Newton method
    // learns far less per step than R2 or Adam; 10% is chance).
    const floor: Record<string, number> = { r2: 0.8, adam: 0.8, lbfgs: 0.3, "trunk-lsr1": 0.3 };
    for (const solver of ["r2", "adam", "lbfgs", "trunk-lsr1"]) {
      const reports = await trainClassifier({ ...small, model: "mlp", solver, epochs: 2 });
      assert.deepEqual(reports.map((r) => r.epoch), [1, 2], solver);
      assert.ok(reports[1].testAccuracy > floor[solver], `${solver}: ${reports[1].testAccuracy}`);
      if (device === "gpu") {
        // 30 steps per epoch: a stopping check every 10 steps (3), the epoch-end check
        // onStep asks for, then the test and train accuracy (2).
        for (const r of reports) assert.ok(r.hostSyncs <= 6, `${solver}: ${r.hostSyncs} syncs`);
      }
    }
    await assert.rejects(
      trainClassifier({ ...small, model: "mlp", solver: "bfgs" }),
      /unknown solver 'bfgs' \(expected one of: r2, fomo, lbfgs, adam, trunk-lsr1\)/,
    );
  },
});

Deno.test({
  name: "cli train/eval: one-line errors and a non-zero exit code for bad input",
  ignore: !data,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const cases: [string[], RegExp][] = [
        [["train", "--bogus"], /Unknown option '--bogus'/],
        [
          ["train", "--model", "resnet"],
          /unknown model 'resnet' \(expected one of: softmax, mlp, lenet\)/,
        ],
        [["train", "--optimizer", "lamb"], /unknown optimizer 'lamb'/],
        [["train", "--dataset", "cifar"], /unknown dataset 'cifar'/],
        [["train", "--epochs", "two"], /--epochs expects a number, got 'two'/],
        [["train", "--batch", "0"], /batch must be a positive integer, got 0/],
        [["train", "--lr=-1"], /learning rate must be a positive number, got -1/],
        [["train", "--device", "tpu"], /--device must be gpu or cpu, got 'tpu'/],
        [["train", "--model", "mlp", "--data", dir, "--offline"], /train-images-idx3-ubyte/],
        [["eval"], /eval needs --load FILE/],
        [["eval", "--load", `${dir}/none.st`], /none\.st/],
      ];
      await Deno.writeFile(`${dir}/trunc.st`, new Uint8Array([200, 0, 0, 0, 0, 0, 0, 0, 123]));
      cases.push([["eval", "--load", `${dir}/trunc.st`], /trunc\.st/]);
      for (const [args, message] of cases) {
        const r = await cli(...args);
        const lines = errorLines(r.err);
        assert.notEqual(r.code, 0, `${args.join(" ")} exited 0`);
        assert.equal(lines.length, 1, `${args.join(" ")}: ${r.err}`);
        assert.match(lines[0], /^denet: /);
        assert.match(lines[0], message);
      }
      const help = await cli("train", "--help");
      assert.equal(help.code, 0);
      assert.match(help.out, /--resume FILE/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "cli train --save then eval --load: the same test accuracy",
  ignore: !data,
  ...GPU_TEST,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const common = ["--data", MNIST, "--limit", "1000", "--test-limit", "500"];
      const t = await cli(
        "train",
        "--model",
        "softmax",
        "--epochs",
        "1",
        "--optimizer",
        "sgd",
        "--lr",
        "0.5",
        "--save",
        `${dir}/s.st`,
        ...common,
      );
      assert.equal(t.code, 0, t.err);
      const m = t.out.match(
        /^epoch {2}1 {2}loss [\d.]+ {2}train [\d.]+% {2}test ([\d.]+)% {2}[\d.]+ s$/m,
      );
      assert.ok(m, t.out);
      const e = await cli(
        "eval",
        "--load",
        `${dir}/s.st`,
        "--data",
        MNIST,
        "--batch",
        "100",
        "--test-limit",
        "500",
      );
      assert.equal(e.code, 0, e.err);
      assert.match(e.out, new RegExp(`softmax on mnist after 1 epochs: test accuracy ${m[1]}%`));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
