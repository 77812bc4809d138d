/**
 * CharLM learning benchmark (issue 13): Knet's CharLM trained on tinyshakespeare with the
 * last 10% of the characters held out, on denet's default device and, from the very same
 * initial weights with the same windows and optimizer, in PyTorch
 * (`bench/peers/torch_charlm.py`). Prints both held-out curves per epoch and asserts
 *
 * - denet's held-out loss reaches `--target` (default 1.75 nats per character) within
 *   `--epochs` (default 20) epochs, and
 * - at every epoch denet's held-out loss ≤ PyTorch's + `--margin` (default 0.02).
 *
 * By default training stops after the epoch that reaches the target (`--all` runs every
 * epoch); PyTorch then runs as many epochs. Without torch the comparison is skipped with
 * a note, unless DENET_REQUIRE_TORCH=1 makes that an error.
 *
 * Run: `deno run -A bench/charlm_learning.ts [--epochs 20] [--lr 0.003] [--gclip 5]
 *   [--target 1.75] [--margin 0.02] [--all] [--device cpu|gpu] [--data DIR] [--json FILE]
 *   [--embed 256 --hidden 256 --batch 128 --seq-length 100 --limit CHARS --steps N]`
 *
 * The last group shrinks the run (tests/charlm_learning_test.ts runs a CI-sized one).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { CharLM } from "../src/app/charlm.ts";
import { type CharLMEpoch, trainCharLM } from "../src/app/charlm_train.ts";
import { splitHeldOut } from "../src/data/bptt.ts";
import { textCorpus } from "../src/data/text.ts";
import { defaultDevice, init } from "../src/tensor/device.ts";
import { Rng } from "../src/tensor/random.ts";
import type { DeviceName } from "../src/tensor/tensor.ts";
import {
  charlmWeights,
  torchCharLM,
  type TorchCharLMEpoch,
  type TorchCharLMPlan,
} from "./peers/torch_charlm.ts";
import { torchInfo } from "./peers/torch_train.ts";

/** Options of {@link runCharLMLearning} (defaults: the full benchmark). */
export interface LearningOptions {
  /** Most epochs (default 20). */
  epochs?: number;
  /** Adam's learning rate (default 0.003). */
  lr?: number;
  /** Per-parameter gradient clipping norm (default 5; 0: off). */
  gclip?: number;
  /** Held-out loss to reach (default 1.75). */
  target?: number;
  /** Allowed excess over PyTorch's held-out loss at each epoch (default 0.02). */
  margin?: number;
  /** Run every epoch instead of stopping at the target. */
  all?: boolean;
  /** Embedding width (default 256). */
  embed?: number;
  /** Hidden size (default 256). */
  hidden?: number;
  /** Streams per window (default 128). */
  batch?: number;
  /** Steps per window (default 100). */
  seqLength?: number;
  /** Use the first `limit` characters of the text (default: all). */
  limit?: number;
  /** Windows per epoch (default: all). */
  steps?: number;
  /** Seed of the initial weights (default 1). */
  seed?: number;
  /** The folder of tinyshakespeare.txt. */
  dataDir?: string;
  /** Whether to run the PyTorch side (default true). */
  torch?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/** The outcome of {@link runCharLMLearning}. */
export interface LearningResult {
  /** The device denet ran on. */
  device: DeviceName;
  /** The settings used. */
  settings: Required<Omit<LearningOptions, "log" | "dataDir" | "limit" | "steps" | "torch">>;
  /** denet's epochs. */
  denet: CharLMEpoch[];
  /** PyTorch's epochs (empty when it did not run). */
  torch: TorchCharLMEpoch[];
  /** Why PyTorch did not run, or "". */
  torchSkipped: string;
  /** The first epoch whose held-out loss reached the target, or null. */
  reachedAt: number | null;
  /** Epochs where denet's held-out loss exceeded PyTorch's + margin. */
  worseThanTorch: number[];
}

/** Trains both sides and compares them (see the module doc); asserts nothing itself. */
export async function runCharLMLearning(opts: LearningOptions = {}): Promise<LearningResult> {
  const s = {
    epochs: opts.epochs ?? 20,
    lr: opts.lr ?? 0.003,
    gclip: opts.gclip ?? 5,
    target: opts.target ?? 1.75,
    margin: opts.margin ?? 0.02,
    all: opts.all ?? false,
    embed: opts.embed ?? 256,
    hidden: opts.hidden ?? 256,
    batch: opts.batch ?? 128,
    seqLength: opts.seqLength ?? 100,
    seed: opts.seed ?? 1,
  };
  const log = opts.log ?? ((l: string) => console.error(l));
  const corpus = await textCorpus(opts.dataDir ? { dir: opts.dataDir } : {});
  const text = opts.limit !== undefined ? corpus.data.subarray(0, opts.limit) : corpus.data;
  const { train, heldOut } = splitHeldOut(text);
  const device = defaultDevice();
  const model = new CharLM(corpus.vocab, {
    embed: s.embed,
    hidden: s.hidden,
    rng: new Rng(s.seed),
  });
  try {
    // The initial weights go to PyTorch before denet trains them.
    let torchRun: ((epochs: number) => Promise<TorchCharLMEpoch[]>) | null = null;
    let torchSkipped = "";
    if (opts.torch ?? true) {
      const { info, reason } = await torchInfo();
      if (info) {
        torchRun = await snapshotRun(model, {
          data: text,
          trainLen: train.length,
          heldOutLen: heldOut.length,
          batch: s.batch,
          seqLength: s.seqLength,
          lr: s.lr,
          gclip: s.gclip,
          stepsPerEpoch: opts.steps ?? Infinity,
          warmupSteps: 0,
        }, log);
      } else torchSkipped = reason;
    } else torchSkipped = "not requested";

    const denet: CharLMEpoch[] = [];
    let reachedAt: number | null = null;
    for (let e = 1; e <= s.epochs; e++) {
      const [r] = await trainCharLM(model, train, heldOut, {
        epochs: 1,
        firstEpoch: e,
        batch: s.batch,
        seqLength: s.seqLength,
        lr: s.lr,
        gclip: s.gclip,
        stepsPerEpoch: opts.steps,
        progressOutput: null,
      });
      denet.push(r);
      log(
        `denet   epoch ${e}: train ${r.trainLoss.toFixed(4)}, held-out ` +
          `${r.heldOutLoss.toFixed(4)}, ${r.seconds.toFixed(1)} s`,
      );
      if (reachedAt === null && r.heldOutLoss <= s.target) reachedAt = e;
      if (reachedAt !== null && !s.all) break;
    }
    const torch = torchRun ? await torchRun(denet.length) : [];
    const worseThanTorch = torch.flatMap((t, i) =>
      t.heldOutLoss !== null && !(denet[i].heldOutLoss <= t.heldOutLoss + s.margin) ? [t.epoch] : []
    );
    return { device, settings: s, denet, torch, torchSkipped, reachedAt, worseThanTorch };
  } finally {
    model.dispose();
  }
}

/**
 * Copies the model's current weights for the PyTorch peer now and returns a function
 * that trains PyTorch from them for a number of epochs later.
 */
async function snapshotRun(
  model: CharLM,
  plan: Omit<TorchCharLMPlan, "epochs">,
  log: (line: string) => void,
): Promise<(epochs: number) => Promise<TorchCharLMEpoch[]>> {
  const weights = await charlmWeights(model);
  const windows = Math.floor(Math.floor((plan.trainLen - 1) / plan.batch) / plan.seqLength);
  const stepsPerEpoch = Math.min(plan.stepsPerEpoch, windows);
  return async (epochs: number) =>
    (await torchCharLM(weights, { ...plan, epochs, stepsPerEpoch }, (e) =>
      log(
        `pytorch epoch ${e.epoch}: train ${e.trainLoss.toFixed(4)}, held-out ` +
          `${e.heldOutLoss?.toFixed(4)}, ${e.seconds.toFixed(1)} s`,
      ))).epochs;
}

/** The per-epoch curves as a markdown table. */
export function curveTable(r: LearningResult): string {
  const lines = [
    "| epoch | denet train | denet held-out | PyTorch train | PyTorch held-out | denet s | PyTorch s |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  const f = (x: number | null | undefined) => (x === null || x === undefined ? "—" : x.toFixed(4));
  r.denet.forEach((d, i) => {
    const t = r.torch[i];
    lines.push(
      `| ${d.epoch} | ${f(d.trainLoss)} | ${f(d.heldOutLoss)} | ${f(t?.trainLoss)} | ` +
        `${f(t?.heldOutLoss)} | ${d.seconds.toFixed(1)} | ${t ? t.seconds.toFixed(1) : "—"} |`,
    );
  });
  return lines.join("\n");
}

/** The command line (see the module doc); exits 1 when an assertion fails. */
export async function main(args: string[]): Promise<LearningResult> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: Object.fromEntries([
      ...[
        "epochs",
        "lr",
        "gclip",
        "target",
        "margin",
        "embed",
        "hidden",
        "batch",
        "seq-length",
        "limit",
        "steps",
        "seed",
        "device",
        "data",
        "json",
      ].map((k) => [k, { type: "string" as const }]),
      ["all", { type: "boolean" as const }],
    ]),
  });
  const v = values as Record<string, string | boolean | undefined>;
  const num = (k: string): number | undefined => {
    const s = v[k];
    if (s === undefined) return undefined;
    const x = Number(s);
    if (!Number.isFinite(x)) throw new Error(`charlm_learning: --${k} expects a number, got ${s}`);
    return x;
  };
  const device = v.device as string | undefined;
  if (device !== undefined && device !== "cpu" && device !== "gpu") {
    throw new Error(`charlm_learning: --device must be cpu or gpu, got ${device}`);
  }
  await init(device ? { device: device as DeviceName } : {});
  const r = await runCharLMLearning({
    epochs: num("epochs"),
    lr: num("lr"),
    gclip: num("gclip"),
    target: num("target"),
    margin: num("margin"),
    all: v.all === true,
    embed: num("embed"),
    hidden: num("hidden"),
    batch: num("batch"),
    seqLength: num("seq-length"),
    limit: num("limit"),
    steps: num("steps"),
    seed: num("seed"),
    dataDir: v.data as string | undefined,
  });
  console.log(curveTable(r));
  console.log(
    `\ndevice ${r.device}; Adam lr ${r.settings.lr}${
      r.settings.gclip > 0 ? ` gclip ${r.settings.gclip}` : ""
    }; target ${r.settings.target} nats/char ${
      r.reachedAt === null
        ? `NOT reached in ${r.denet.length} epochs`
        : `reached at epoch ${r.reachedAt}`
    }; ${
      r.torchSkipped
        ? `PyTorch skipped: ${r.torchSkipped}`
        : r.worseThanTorch.length === 0
        ? `denet ≤ PyTorch + ${r.settings.margin} at every epoch`
        : `denet worse than PyTorch + ${r.settings.margin} at epochs ${r.worseThanTorch}`
    }`,
  );
  if (v.json) await Deno.writeTextFile(v.json as string, JSON.stringify(r, null, 2) + "\n");
  const requireTorch = Deno.env.get("DENET_REQUIRE_TORCH") === "1";
  const failed = r.reachedAt === null || r.worseThanTorch.length > 0 ||
    (requireTorch && r.torchSkipped !== "");
  if (failed) {
    console.error("charlm_learning: FAILED (see above)");
    Deno.exit(1);
  }
  return r;
}

if (import.meta.main) {
  await main(Deno.args);
  Deno.exit(0);
}
