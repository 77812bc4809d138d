// `cli.ts train --model charlm` and `cli.ts generate` as a user runs them (subprocesses),
// and examples/charlm.ts, CI-sized: a few windows per epoch.

import assert from "node:assert/strict";
import { trainCharLMExample } from "../examples/charlm.ts";
import { init } from "../src/tensor/device.ts";
import { DATA_URL, haveData, tempDir } from "./data_helpers.ts";
import { cli, errorLines } from "./cli_helpers.ts";

const TEXT_DIR = new URL("text/", DATA_URL).pathname;

Deno.test("cli train --model charlm --text: epochs print, --save writes a checkpoint that generate reads", async () => {
  using tmp = tempDir();
  const text = `${tmp.dir}/cycle.txt`;
  await Deno.writeTextFile(text, "abcd\n".repeat(600));
  const save = `${tmp.dir}/lm.safetensors`;
  const common = ["--text", text, "--batch", "4", "--seq-length", "10", "--device", "cpu"];
  const r = await cli(
    "train",
    "--model",
    "charlm",
    ...common,
    "--epochs",
    "6",
    "--lr",
    "0.02",
    "--embed-check-absent",
    "x",
  );
  assert.equal(r.code, 1, "an unknown flag is refused");
  assert.match(errorLines(r.err)[0], /Unknown option '--embed-check-absent'/);
  const t = await cli(
    "train",
    "--model",
    "charlm",
    ...common,
    "--epochs",
    "6",
    "--lr",
    "0.02",
    "--save",
    save,
  );
  assert.equal(t.code, 0, t.err);
  const lines = t.out.trim().split("\n");
  assert.match(
    lines[0],
    /^train charlm: [\d,]+ parameters, 5 characters, 2,700 training and 300 held-out characters; Adam lr 0.02/,
  );
  assert.equal(lines.length, 7);
  const heldOut = lines.slice(1).map((l) => Number(/held-out loss ([\d.]+)/.exec(l)![1]));
  assert.ok(heldOut[5] < 0.1 && heldOut[5] < heldOut[0], `held-out losses ${heldOut}`);
  // The cycle continues greedily from the prime.
  const g = await cli(
    "generate",
    "--load",
    save,
    "--length",
    "9",
    "--temperature",
    "0",
    "--prime",
    "bc",
    "--device",
    "cpu",
  );
  assert.equal(g.code, 0, g.err);
  assert.equal(g.out, "bcd\nabcd\nab\n");
  // A second run may not replace the checkpoint without --force.
  const again = await cli("train", "--model", "charlm", ...common, "--epochs", "1", "--save", save);
  assert.equal(again.code, 1);
  assert.match(errorLines(again.err)[0], /a checkpoint is already there/);
});

Deno.test("cli train --model charlm / generate: bad flags give one line naming the problem", async () => {
  using tmp = tempDir();
  const notCkpt = `${tmp.dir}/notes.txt`;
  await Deno.writeTextFile(notCkpt, "hello");
  const cases: [string[], RegExp][] = [
    [
      ["train", "--model", "charlm", "--dataset", "mnist"],
      /--dataset must be shakespeare for --model charlm, got 'mnist'/,
    ],
    [
      ["train", "--model", "charlm", "--seq-length", "0"],
      /--seq-length must be an integer ≥ 1, got 0/,
    ],
    [["train", "--model", "charlm", "--lr", "fast"], /--lr expects a number, got 'fast'/],
    [["train", "--model", "charlm", "--device", "tpu"], /--device must be gpu or cpu, got 'tpu'/],
    [
      ["train", "--model", "charlm", "--save", notCkpt],
      /not a checkpoint of cli.ts train; refusing to replace it/,
    ],
    [
      ["train", "--model", "charlm", "--text", `${tmp.dir}/missing.txt`],
      /cannot read .*missing.txt/,
    ],
    [["generate"], /generate needs --load FILE/],
    [["generate", "--load", notCkpt], /notes.txt/],
    [
      ["generate", "--load", "x.safetensors", "--temperature=-1"],
      /--temperature must be a number ≥ 0, got -1/,
    ],
    [
      ["generate", "--load", "x.safetensors", "--length", "2.5"],
      /--length must be an integer ≥ 0, got 2.5/,
    ],
  ];
  for (const [args, re] of cases) {
    const r = await cli(...args);
    assert.equal(r.code, 1, `${args.join(" ")} exits 1`);
    const errs = errorLines(r.err);
    assert.equal(errs.length, 1, `${args.join(" ")}: one line, got ${errs.join(" | ")}`);
    assert.match(errs[0], re, args.join(" "));
  }
});

Deno.test({
  name:
    "cli train --model charlm --dataset shakespeare: Knet's model on tinyshakespeare (2 windows)",
  ignore: !haveData("text"),
  fn: async () => {
    using tmp = tempDir();
    const save = `${tmp.dir}/shakespeare.safetensors`;
    const t = await cli(
      "train",
      "--model",
      "charlm",
      "--dataset",
      "shakespeare",
      "--data",
      TEXT_DIR,
      "--steps",
      "2",
      "--epochs",
      "1",
      "--device",
      "cpu",
      "--save",
      save,
    );
    assert.equal(t.code, 0, t.err);
    assert.match(
      t.out,
      /train charlm: 559,681 parameters, 65 characters, 1,003,855 training and 111,539 held-out characters; Adam lr 0.001, windows of 128 × 100/,
    );
    assert.match(t.out, /epoch 1: train loss [\d.]+, held-out loss [\d.]+ nats\/char, 2 steps/);
    const g = await cli(
      "generate",
      "--load",
      save,
      "--length",
      "40",
      "--prime",
      "ROMEO:",
      "--temperature",
      "0.8",
      "--device",
      "cpu",
    );
    assert.equal(g.code, 0, g.err);
    assert.ok(g.out.startsWith("ROMEO:") && [...g.out.trimEnd()].length <= 46, g.out);
    const bad = await cli("generate", "--load", save, "--prime", "ROMEO€", "--device", "cpu");
    assert.match(
      errorLines(bad.err)[0],
      /character "€" at position 5 of the prime is not in the model's vocabulary/,
    );
  },
});

Deno.test({
  name:
    "examples/charlm.ts: a few windows of Knet's CharLM lower the held-out loss below ln 65 and sample text",
  ignore: !haveData("text"),
  fn: async () => {
    await init({ device: "cpu" });
    const { epochs, text } = await trainCharLMExample({
      dir: TEXT_DIR,
      epochs: 1,
      steps: 4,
      lr: 0.003,
      sampleLength: 60,
    });
    assert.equal(epochs[0].steps, 4);
    assert.ok(epochs[0].heldOutLoss < Math.log(65), `held-out ${epochs[0].heldOutLoss}`);
    assert.equal([...text].length, 60);
  },
});
