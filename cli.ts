/**
 * denet's command line: `deno run -A cli.ts <command> [flags]`.
 *
 * Commands:
 *   train    train softmax/mlp/lenet on MNIST or Fashion-MNIST (see `train --help`)
 *   eval     measure a checkpoint written by `train --save` on the test set
 *   info     the WebGPU adapter, its limits and features, and the default device
 *   bench    kernel benchmarks (GEMM, elementwise, reductions) with baselines and peers
 *
 * @module
 */

import { parseArgs } from "node:util";
import { init } from "./mod.ts";
import {
  DATASET_NAMES,
  evaluateCheckpoint,
  OPTIMIZER_NAMES,
  SOLVER_NAMES,
  trainClassifier,
} from "./src/app/classify.ts";
import { gpuRuntime } from "./src/gpu/runtime.ts";
import { MODEL_NAMES } from "./src/models.ts";

const USAGE = `usage: deno run -A cli.ts <command> [flags]

commands:
  train [flags]        train a classifier (train --help for the flags)
  eval --load FILE     test accuracy and loss of a checkpoint written by train --save
  info                 show the WebGPU adapter, limits, features and default device
  tune --method M      tune the MNIST MLP by goldensection|hyperband (tune --help)
  bench [--quick]      kernel benchmarks: GEMM GFLOP/s (vs a naive kernel and TensorFlow.js
                       WebGPU), elementwise and reduction GB/s (vs naive kernels)
  help                 this text`;

/** Runs the CLI with `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case "train":
      return await train(rest);
    case "eval":
      return await evaluate(rest);
    case "info":
      return await info(rest);
    case "bench":
      return await bench(rest);
    case "tune":
      return await (await import("./src/app/tune_cli.ts")).tuneCommand(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return 0;
    default:
      console.error(`denet: unknown command '${command}' (try: deno run -A cli.ts help)`);
      return 2;
  }
}

const TRAIN_USAGE = `usage: deno run -A cli.ts train [flags]

Trains a classifier and prints one line per epoch (epoch, mean training loss, running
training accuracy, test accuracy, seconds).

  --model NAME       ${MODEL_NAMES.join("|")} (default lenet)
  --dataset NAME     ${DATASET_NAMES.join("|")} (default mnist)
  --optimizer NAME   ${OPTIMIZER_NAMES.join("|")} (default adam)
  --solver NAME      ${SOLVER_NAMES.join("|")}: train the network as an NLP model with
                     this solver instead (minibatch rotated every step)
  --lr X             learning rate (default: the optimizer's Knet default)
  --epochs N         epochs to reach, counting resumed ones (default 10)
  --batch N          minibatch size (default 100)
  --seed N           seed of the weights, shuffles and dropout (default 1)
  --device D         gpu|cpu (default: the GPU when there is one)
  --data DIR         directory with the dataset's IDX files (default: the download cache)
  --save FILE        write a safetensors checkpoint after every epoch (atomically)
  --resume FILE      continue from a checkpoint written by --save
  --limit N          train on the first N training instances only
  --test-limit N     test on the first N test instances only`;

/** Parses a flag value as a number, naming the flag when it is not one. */
function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x)) {
    throw new Error(`--${flag} expects a number, got '${v}'`);
  }
  return x;
}

async function setDevice(device: string | undefined): Promise<void> {
  if (device !== undefined && device !== "gpu" && device !== "cpu") {
    throw new Error(`--device must be gpu or cpu, got '${device}'`);
  }
  await init({ device: (device as "gpu" | "cpu" | undefined) ?? "auto" });
}

async function train(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      model: { type: "string" },
      dataset: { type: "string" },
      optimizer: { type: "string" },
      solver: { type: "string" },
      lr: { type: "string" },
      epochs: { type: "string" },
      batch: { type: "string" },
      seed: { type: "string" },
      device: { type: "string" },
      data: { type: "string" },
      save: { type: "string" },
      resume: { type: "string" },
      limit: { type: "string" },
      "test-limit": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(TRAIN_USAGE);
    return 0;
  }
  await setDevice(values.device);
  const reports = await trainClassifier({
    model: values.model ?? "lenet",
    dataset: values.dataset,
    optimizer: values.optimizer,
    solver: values.solver,
    lr: num("lr", values.lr),
    epochs: num("epochs", values.epochs),
    batch: num("batch", values.batch),
    seed: num("seed", values.seed),
    dataDir: values.data,
    save: values.save,
    resume: values.resume,
    limit: num("limit", values.limit),
    testLimit: num("test-limit", values["test-limit"]),
    log: (line) => console.log(line),
  });
  if (reports.length === 0) console.log("nothing to do: the checkpoint already has those epochs");
  return 0;
}

async function evaluate(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      load: { type: "string" },
      data: { type: "string" },
      device: { type: "string" },
      batch: { type: "string" },
      "test-limit": { type: "string" },
    },
  });
  if (values.load === undefined) throw new Error("eval needs --load FILE");
  await setDevice(values.device);
  const r = await evaluateCheckpoint(values.load, {
    dataDir: values.data,
    batch: num("batch", values.batch),
    testLimit: num("test-limit", values["test-limit"]),
  });
  console.log(
    `${r.model} on ${r.dataset} after ${r.epoch} epochs: test accuracy ${
      (100 * r.testAccuracy).toFixed(2)
    }%, test loss ${r.testLoss.toFixed(4)}`,
  );
  return 0;
}

async function info(args: string[]): Promise<number> {
  parseArgs({ args, options: {}, strict: true });
  const device = await init();
  console.log(`default device: ${device}`);
  if (device !== "gpu") {
    console.log("no WebGPU adapter found (install a Vulkan driver, e.g. mesa-vulkan-drivers)");
    return 0;
  }
  const { info } = gpuRuntime();
  console.log(
    `adapter:  ${info.description}${info.isFallbackAdapter ? " (fallback/software)" : ""}`,
  );
  console.log(`vendor:   ${info.vendor || "-"}  architecture: ${info.architecture || "-"}`);
  console.log(`features: ${info.features.join(", ") || "-"}`);
  console.log("limits:");
  for (const [k, v] of Object.entries(info.limits)) console.log(`  ${k.padEnd(36)} ${v}`);
  return 0;
}

async function bench(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { quick: { type: "boolean" } }, strict: true });
  const { runKernelReport } = await import("./bench/report.ts");
  await runKernelReport({ quick: values.quick ?? false });
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`denet: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
