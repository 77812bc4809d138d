/**
 * denet's command line: `deno run -A cli.ts <command> [flags]` (or the `denet` binary of
 * `deno task compile`, or `deno install` of the package's `./cli` export).
 *
 * Commands (each takes `-h`/`--help`; `--version` prints the version):
 *   train    train softmax/mlp/lenet on MNIST or Fashion-MNIST, or charlm on
 *            tinyshakespeare (see `train --help`, `train --model charlm --help`)
 *   generate text from a CharLM checkpoint (see `generate --help`)
 *   eval     measure a checkpoint written by `train --save` on the test set
 *   info     the WebGPU adapter, its limits and features, and the default device
 *   bench    kernel benchmarks (GEMM, elementwise, reductions) with baselines and peers
 *
 * @module
 */

import { basename, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { initCpu } from "./src/cpu/runtime.ts";
import {
  checkTrainConfig,
  DATASET_NAMES,
  evaluateCheckpoint,
  OPTIMIZER_NAMES,
  SOLVER_NAMES,
  trainClassifier,
} from "./src/app/classify.ts";
import { describeDevice } from "./src/app/device_summary.ts";
import { MetricsLog } from "./src/app/metrics_log.ts";
import { TrainingCurves } from "./src/app/plot.ts";
import { gpuProfile, gpuProfileReason } from "./src/gpu/profile.ts";
import { gpuReady, gpuRuntime } from "./src/gpu/runtime.ts";
import { MODEL_NAMES } from "./src/models.ts";
import { init, type InitOptions } from "./src/tensor/device.ts";
import { VERSION } from "./src/version.ts";

export { VERSION };

/**
 * The program name as it was run: `deno run -A cli.ts` (the script's path relative to
 * the working directory) under `deno`, the binary's name when compiled (the launcher of
 * `deno task compile` passes it in `DENET_PROGRAM`).
 */
export function programName(): string {
  try {
    const launcher = Deno.env.get("DENET_PROGRAM");
    if (launcher) return launcher;
  } catch {
    // no env permission
  }
  const exe = basename(Deno.execPath()).replace(/\.exe$/, "");
  if (exe !== "deno") return exe;
  let script = "cli.ts";
  try {
    const main = Deno.mainModule;
    if (main.startsWith("file:")) script = relative(Deno.cwd(), fileURLToPath(main)) || script;
  } catch {
    // no read permission for the cwd: the plain name
  }
  return `deno run -A ${script}`;
}

const usage = (p: string) =>
  `usage: ${p} <command> [flags]

commands:
  train [flags]        train a classifier (train --help for the flags), or the
                       character-level LSTM: train --model charlm (--help for its flags)
  generate --load FILE text from a CharLM checkpoint (generate --help)
  eval --load FILE     test accuracy and loss of a checkpoint written by train --save
  info                 show the default device, the WebGPU adapter, its tuning profile,
                       features and limits
  tune --method M      tune the MNIST MLP by goldensection|hyperband (tune --help)
  bench [--quick]      kernel benchmarks: GEMM GFLOP/s (vs a naive kernel and TensorFlow.js
                       WebGPU), elementwise and reduction GB/s (vs naive kernels)
  help                 this text

  -h, --help           this text (after a command: that command's flags)
  --version            print the version (${VERSION})

environment:
  DENET_DATA=DIR       where datasets live (DIR/mnist, DIR/fashion-mnist); default
                       ~/.cache/denet, filled by downloading on first use
  DENET_DEVICE=gpu|cpu the device when --device is not given
  DENET_GPU_PROFILE=software|integrated|discrete
                       the GPU tuning profile instead of the one picked for the adapter`;

/** Runs the CLI with `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  const p = programName();
  switch (command) {
    case "train":
      return await train(rest);
    case "eval":
      return await evaluate(rest);
    case "generate":
      return await (await import("./src/app/charlm_cli.ts")).generateCommand(rest);
    case "info":
      return await info(rest);
    case "bench":
      return await bench(rest);
    case "--version":
    case "-V":
      console.log(`denet ${VERSION}`);
      return 0;
    case "tune":
      return await (await import("./src/app/tune_cli.ts")).tuneCommand(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(usage(p));
      return 0;
    default:
      console.error(`denet: unknown command '${command}' (try: ${p} --help)`);
      return 2;
  }
}

const trainUsage = (p: string) =>
  `usage: ${p} train [flags]

Trains a classifier. Prints a header line (model, parameters, data sizes, optimizer and
learning rate, device and why), then one line per epoch (epoch, mean training loss,
running training accuracy, test accuracy, seconds); on a terminal a progress bar shows
the recent mean loss. Every flag is checked before any device starts.

  --model NAME       ${MODEL_NAMES.join("|")} (default lenet); charlm trains the
                     character-level LSTM instead (train --model charlm --help)
  --dataset NAME     ${DATASET_NAMES.join("|")} (default mnist)
  --optimizer NAME   ${OPTIMIZER_NAMES.join("|")} (default adam)
  --solver NAME      ${SOLVER_NAMES.join("|")}: train the network as an NLP model with
                     this solver instead (minibatch rotated every step)
  --lr X             learning rate (default: the optimizer's Knet default)
  --epochs N         epochs to reach, counting resumed ones (default 10)
  --batch N          minibatch size (default 100)
  --seed N           seed of the weights, shuffles and dropout (default 1)
  --device D         gpu|cpu (default: DENET_DEVICE, else a hardware GPU when there is
                     one, else the CPU backend)
  --data DIR         the dataset's folder (missing files are downloaded into it);
                     default DENET_DATA/<dataset>, else ~/.cache/denet/<dataset>
  --offline          never download: a missing data file is an error
  --save FILE        write a safetensors checkpoint after every epoch (atomically); an
                     existing checkpoint is replaced only by --resume of it or --force
  --force            let --save replace an existing checkpoint of another run
  --resume FILE      continue from a checkpoint written by --save (its settings apply;
                     a different --model/--dataset/--optimizer/--batch/--seed/--limit is
                     refused, --lr replaces the saved learning rate)
  --limit N          train on the first N training instances only
  --test-limit N     test on the first N test instances only
  --log FILE         a row per epoch (losses, accuracies, seconds, learning rate) to
                     FILE.jsonl or FILE.csv
  --plot FILE.svg    loss and accuracy per epoch, train against test, redrawn each epoch
  -h, --help         this text`;

/** Parses a flag value as a number, naming the flag when it is not one. */
function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x)) {
    throw new Error(`--${flag} expects a number, got '${v}'`);
  }
  return x;
}

/** Checks `--device` and DENET_DEVICE without starting anything. */
function checkDevice(device: string | undefined): InitOptions {
  if (device !== undefined && device !== "gpu" && device !== "cpu") {
    throw new Error(`--device must be gpu or cpu, got '${device}'`);
  }
  const env = Deno.env.get("DENET_DEVICE");
  if (device === undefined && env && env !== "gpu" && env !== "cpu") {
    throw new Error(`DENET_DEVICE must be gpu or cpu, got '${env}'`);
  }
  // Without the flag, init() reads DENET_DEVICE, else picks the GPU when there is one.
  return device === undefined ? {} : { device, source: `--device ${device}` };
}

/** Checks that an output file's name ends in one of `exts`. */
function checkOutput(flag: string, path: string | undefined, exts: string[]): void {
  if (path === undefined) return;
  if (!exts.some((e) => path.toLowerCase().endsWith(e))) {
    throw new Error(`--${flag} ${path}: the file name must end in ${exts.join(" or ")}`);
  }
}

/** Whether the arguments ask for `--model charlm` (which has flags of its own). */
function wantsCharLM(args: string[]): boolean {
  return args.some((a, i) =>
    a === "--model=charlm" || (a === "--model" && args[i + 1] === "charlm")
  );
}

async function train(args: string[]): Promise<number> {
  if (wantsCharLM(args)) {
    return await (await import("./src/app/charlm_cli.ts")).charlmTrainCommand(args);
  }
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
      force: { type: "boolean" },
      limit: { type: "string" },
      "test-limit": { type: "string" },
      offline: { type: "boolean" },
      log: { type: "string" },
      plot: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(trainUsage(programName()));
    return 0;
  }
  const cfg = {
    model: values.model,
    dataset: values.dataset,
    optimizer: values.optimizer,
    solver: values.solver,
    lr: num("lr", values.lr),
    epochs: num("epochs", values.epochs),
    batch: num("batch", values.batch),
    seed: num("seed", values.seed),
    dataDir: values.data,
    offline: values.offline,
    save: values.save,
    resume: values.resume,
    force: values.force,
    limit: num("limit", values.limit),
    testLimit: num("test-limit", values["test-limit"]),
    log: (line: string) => console.log(line),
  };
  // Every flag is checked before a device starts.
  checkTrainConfig(cfg);
  const device = checkDevice(values.device);
  checkOutput("plot", values.plot, [".svg"]);
  const metrics = values.log === undefined ? null : new MetricsLog(values.log);
  await init(device);
  await metrics?.open();
  const curves = new TrainingCurves();
  const reports = await trainClassifier({
    ...cfg,
    deviceNote: describeDevice(),
    onEpoch: async (r) => {
      await metrics?.append(r);
      if (values.plot !== undefined) {
        curves.push(r);
        await Deno.writeTextFile(values.plot, curves.toSVG());
      }
    },
  });
  if (reports.length === 0) console.log("nothing to do: the checkpoint already has those epochs");
  return 0;
}

const evalUsage = (p: string) =>
  `usage: ${p} eval --load FILE [flags]

Measures a checkpoint written by train --save on the test set of its dataset (only the
test files are needed): test accuracy and mean loss, and with --confusion the matrix of
true against predicted classes.

  --load FILE          the checkpoint (required)
  --data DIR           the dataset's folder (default DENET_DATA/<dataset>, else
                       ~/.cache/denet/<dataset>; missing test files are downloaded)
  --offline            never download: a missing data file is an error
  --device D           gpu|cpu (default: DENET_DEVICE, else a hardware GPU when there
                       is one, else the CPU backend)
  --batch N            minibatch size (default 500)
  --test-limit N       test on the first N test instances only
  --confusion [F.svg]  print the confusion matrix; with a file name, also draw it as SVG
  -h, --help           this text`;

/** `--confusion` may stand alone: give parseArgs an empty value then. */
function optionalValue(args: string[], flag: string): string[] {
  return args.flatMap((a, i) =>
    a === flag && (i + 1 === args.length || args[i + 1].startsWith("-")) ? [`${flag}=`] : [a]
  );
}

async function evaluate(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args: optionalValue(args, "--confusion"),
    strict: true,
    options: {
      load: { type: "string" },
      data: { type: "string" },
      offline: { type: "boolean" },
      device: { type: "string" },
      batch: { type: "string" },
      "test-limit": { type: "string" },
      confusion: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(evalUsage(programName()));
    return 0;
  }
  if (values.load === undefined) throw new Error("eval needs --load FILE");
  const batch = num("batch", values.batch);
  const testLimit = num("test-limit", values["test-limit"]);
  for (const [flag, v] of [["batch", batch], ["test-limit", testLimit]] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) {
      throw new Error(`--${flag} must be a positive integer, got ${v}`);
    }
  }
  const svg = values.confusion || undefined;
  checkOutput("confusion", svg, [".svg"]);
  await init(checkDevice(values.device));
  const r = await evaluateCheckpoint(values.load, {
    dataDir: values.data,
    offline: values.offline,
    batch,
    testLimit,
    confusion: values.confusion !== undefined,
  });
  console.log(
    `${r.model} on ${r.dataset} after ${r.epoch} epochs: test accuracy ${
      (100 * r.testAccuracy).toFixed(2)
    }%, test loss ${r.testLoss.toFixed(4)}`,
  );
  if (r.confusion) {
    console.log(r.confusion.toString());
    if (svg !== undefined) {
      await Deno.writeTextFile(svg, r.confusion.toSVG());
      console.log(`wrote ${svg}`);
    }
  }
  return 0;
}

const infoUsage = (p: string) =>
  `usage: ${p} info

Shows the device denet picks and why; for the GPU, the WebGPU adapter, the tuning
profile denet chose for it (software, integrated or discrete; DENET_GPU_PROFILE
overrides it), its features and the limits denet asks for.

  -h, --help   this text`;

async function info(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { help: { type: "boolean", short: "h" } },
    strict: true,
  });
  if (values.help) {
    console.log(infoUsage(programName()));
    return 0;
  }
  await init(checkDevice(undefined));
  console.log(`default device: ${describeDevice()}`);
  const cpu = await initCpu();
  console.log(
    `cpu backend: WebAssembly ${cpu.relaxed ? "relaxed SIMD (fused multiply-add)" : "SIMD"}, ` +
      `${cpu.threads} thread${cpu.threads === 1 ? "" : "s"}`,
  );
  if (!gpuReady()) {
    console.log("no WebGPU adapter found (install a Vulkan driver, e.g. mesa-vulkan-drivers)");
    return 0;
  }
  const { info } = gpuRuntime();
  console.log(
    `adapter:  ${info.description}${info.isFallbackAdapter ? " (fallback/software)" : ""}`,
  );
  console.log(`vendor:   ${info.vendor || "-"}  architecture: ${info.architecture || "-"}`);
  console.log(`profile:  ${gpuProfile().name} (${gpuProfileReason()})`);
  console.log(`features: ${info.features.join(", ") || "-"}`);
  console.log("limits:");
  for (const [k, v] of Object.entries(info.limits)) console.log(`  ${k.padEnd(36)} ${v}`);
  return 0;
}

const benchUsage = (p: string) =>
  `usage: ${p} bench [--quick]

Kernel benchmarks on the WebGPU adapter: GEMM GFLOP/s against a naive kernel and
TensorFlow.js's WebGPU backend, elementwise and reduction GB/s against naive kernels.

  --quick      fewer sizes and repetitions
  -h, --help   this text`;

async function bench(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { quick: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    strict: true,
  });
  if (values.help) {
    console.log(benchUsage(programName()));
    return 0;
  }
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
