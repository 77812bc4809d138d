/**
 * Knet's benchmark table (LinReg/Housing, Softmax, MLP and LeNet on MNIST; see
 * `bench/knet_models.ts` for the published figures and their source), run by denet on its
 * default device and, side by side in the same process, by TensorFlow.js on its WebGPU and
 * WASM backends (`bench/peers/tfjs_train.ts`), and by PyTorch on the CPU in a Python
 * subprocess (`bench/peers/torch_train.ts`; skipped with a note where torch is missing:
 * `bench/peers/setup_torch.sh` installs it). Prints a markdown table.
 *
 * Run: `deno run -A bench/knet_table.ts [--quick] [--rows linreg,softmax,mlp,lenet,charlm]
 *   [--frameworks denet,tfjs-webgpu,tfjs-wasm,pytorch] [--json FILE] [--data DIR] [--device cpu|gpu]
 *   [--seed N] [--steps N]`
 *
 * - `--data DIR`: the folder holding `mnist/`, `housing/` and `text/` (default: the loaders'
 *   own lookup, `$DENET_DATA/<dataset>` then the user cache, downloading when missing).
 * - `--steps N`: CharLM only: time the first N windows of its 78 per framework and scale the
 *   seconds to the epoch (see `bench/charlm_row.ts`, which also says how CharLM is run).
 * - `--quick`: a few steps per row (LinReg 20 epochs; MNIST rows 2 epochs of 3 steps, test
 *   accuracy on 200 images) to check that everything runs; the times mean nothing.
 *
 * Method, the same for every framework: the initial weights are drawn once on the host and
 * given to all (converted to each one's layout); the minibatches are the same, in file
 * order; plain SGD with Knet's learning rates. A warm-up of a few steps on a throwaway copy
 * of the model comes first (compiling shaders) and is not timed. The timed span is the
 * whole training, the per-epoch loss readbacks included: the loss of the epoch's last step
 * is read back once per epoch (LinReg: once, at the end, as Knet's `--fast` run prints
 * nothing in between) and never per step. Test accuracy is measured after the clock stops.
 * For denet the GPU counters of the timed span are reported: its host syncs should be
 * exactly the designed readbacks.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { counters, resetCounters } from "../src/gpu/counters.ts";
import { gpuReady, gpuRuntime } from "../src/gpu/runtime.ts";
import { housing } from "../src/data/housing.ts";
import { minibatch } from "../src/data/minibatch.ts";
import { mnist } from "../src/data/mnist.ts";
import { accuracy } from "../src/loss.ts";
import { defaultDevice, init } from "../src/tensor/device.ts";
import type { DeviceName, Tensor } from "../src/tensor/tensor.ts";
import { limit, ncycle, sgd, type TrainBatch } from "../src/train/mod.ts";
import {
  type HostWeight,
  initialWeights,
  knetModel,
  ROW_NAMES,
  type RowName,
  ROWS,
  type RowSpec,
} from "./knet_models.ts";
import {
  type HostData,
  loadTfjs,
  tfjsTrain,
  type TrainPlan,
  type TrainResult,
} from "./peers/tfjs_train.ts";
import { torchInfo, torchTrain } from "./peers/torch_train.ts";
import { runCharLMRow } from "./charlm_row.ts";

/** The table's rows: Knet's four MNIST/Housing trainings and CharLM (`bench/charlm_row.ts`). */
export type TableRowName = RowName | "charlm";

/** Every row of the table, in Knet's order. */
export const TABLE_ROWS: readonly TableRowName[] = [...ROW_NAMES, "charlm"];

/** A row's spec: Knet's four rows' {@link RowSpec}, or CharLM's (Adam, tinyshakespeare). */
export interface TableRowSpec extends Omit<RowSpec, "name" | "dataset"> {
  /** The key used on the command line. */
  name: TableRowName;
  /** The dataset's name as Knet's table prints it. */
  dataset: RowSpec["dataset"] | "Shakespeare";
}

/** The frameworks (and backends) of the table. */
export type Framework = "denet" | "tfjs-webgpu" | "tfjs-wasm" | "pytorch";

/** Every framework, in the table's column order. */
export const FRAMEWORKS: readonly Framework[] = ["denet", "tfjs-webgpu", "tfjs-wasm", "pytorch"];

/** Options of {@link runTable}. */
export interface TableOptions {
  /** Rows to run (default all, in Knet's order). */
  rows?: readonly TableRowName[];
  /** Frameworks to run (default all). */
  frameworks?: readonly Framework[];
  /** A few steps per row instead of the full trainings. */
  quick?: boolean;
  /** Folder holding `mnist/` and `housing/` (default: the loaders' lookup). */
  dataDir?: string;
  /** Seed of the initial weights (default 1). */
  seed?: number;
  /** Progress lines go here (default: nowhere). */
  log?: (line: string) => void;
  /** CharLM: time this many windows per framework and scale to the epoch. */
  steps?: number;
}

/** One framework's run of one row. */
export interface FrameworkResult extends TrainResult {
  /** Which framework and backend. */
  framework: Framework;
  /** Where it ran: denet's device ("gpu"/"cpu"), the tfjs backend, or "cpu" (PyTorch). */
  device: string;
  /** denet only: host syncs in the timed span (null for tfjs: not observable). */
  hostSyncs: number | null;
  /** denet only: compute dispatches in the timed span. */
  dispatches: number | null;
  /** denet only: command-buffer submits in the timed span. */
  submits: number | null;
}

/** One row of the table. */
export interface RowResult {
  /** Knet's row (model, dataset, epochs, batch, lr, published seconds). */
  spec: TableRowSpec;
  /** Epochs actually run (fewer with `quick`). */
  epochs: number;
  /** Steps per epoch actually run. */
  stepsPerEpoch: number;
  /** The runs that happened. */
  results: FrameworkResult[];
  /** Frameworks that could not run this row, with the reason. */
  skipped: { framework: Framework; reason: string }[];
}

/** The whole table, as written by `--json`. */
export interface TableResult {
  /** ISO date of the run. */
  date: string;
  /** Deno's version. */
  deno: string;
  /** The WebGPU adapter's description, or "none". */
  adapter: string;
  /** Whether this was a `--quick` run. */
  quick: boolean;
  /** The rows, in the order run. */
  rows: RowResult[];
  /** PyTorch's version, threads and BLAS when its column ran, else absent. */
  torch?: string;
}

/** The datasets a row needs, as denet CPU tensors and host arrays for tfjs. */
interface RowData {
  xtrn: Tensor;
  ytrn: Tensor;
  xtst: Tensor | null;
  ytst: Tensor | null;
  host: HostData;
}

async function loadRowData(
  row: RowSpec,
  dataDir: string | undefined,
  testCount: number,
): Promise<RowData> {
  const dir = (sub: string) => (dataDir ? `${dataDir.replace(/\/$/, "")}/${sub}` : undefined);
  if (row.dataset === "Housing") {
    const { x, y, mean, std } = await housing({ dir: dir("housing") });
    mean.dispose();
    std.dispose();
    const host = {
      x: Float32Array.from(x.host("knet_table")),
      y: Float32Array.from(y.host("knet_table")),
      n: x.shape[0],
    };
    return { xtrn: x, ytrn: y, xtst: null, ytst: null, host };
  }
  const d = await mnist({ dir: dir("mnist") });
  const ntst = Math.min(testCount, d.xtst.shape[0]);
  const host: HostData = {
    x: d.xtrn.host("knet_table") as Float32Array,
    y: d.ytrn.host("knet_table") as Float32Array,
    n: d.xtrn.shape[0],
    xtst: d.xtst.host("knet_table") as Float32Array,
    ytst: d.ytst.host("knet_table") as Float32Array,
    ntst,
  };
  return { xtrn: d.xtrn, ytrn: d.ytrn, xtst: d.xtst, ytst: d.ytst, host };
}

/** The epochs, steps and readbacks of `row` (full, or `quick`). */
function planOf(row: RowSpec, n: number, quick: boolean): TrainPlan & { testCount: number } {
  const full = Math.floor(n / row.batch);
  if (row.name === "linreg") {
    const epochs = quick ? 20 : row.epochs;
    return {
      epochs,
      stepsPerEpoch: 1,
      readEpochs: new Set([epochs]),
      warmupSteps: 3,
      testCount: 0,
    };
  }
  const epochs = quick ? 2 : row.epochs;
  return {
    epochs,
    stepsPerEpoch: quick ? 3 : full,
    readEpochs: new Set(Array.from({ length: epochs }, (_, i) => i + 1)),
    warmupSteps: quick ? 2 : 3,
    testCount: quick ? 200 : 10000,
  };
}

/** denet's run of `row`: `sgd(model.loss, data, { lr })` over `plan`. */
async function denetTrain(
  row: RowSpec,
  weights: readonly HostWeight[],
  data: RowData,
  plan: TrainPlan & { testCount: number },
  device: DeviceName,
): Promise<FrameworkResult> {
  const whole: Tensor[] = [];
  // One epoch's batches: LinReg's single batch is uploaded once (Knet's benchmark kept it
  // on the GPU); MNIST batches come from `minibatch`, uploaded at their step, in file order.
  let epoch: Iterable<TrainBatch>;
  if (row.name === "linreg") {
    whole.push(
      device === "gpu" ? data.xtrn.gpu() : data.xtrn,
      device === "gpu" ? data.ytrn.gpu() : data.ytrn,
    );
    epoch = [whole as [Tensor, Tensor]];
  } else {
    epoch = limit(minibatch(data.xtrn, data.ytrn, row.batch, { device }), plan.stepsPerEpoch);
  }
  const sync = async () => {
    if (device === "gpu") await gpuRuntime().sync();
  };
  try {
    // Warm-up on a throwaway copy (compiles the kernels), not timed.
    {
      const m = knetModel(row.name, weights, device);
      let k = 0;
      for (
        const loss of sgd(m.loss, limit(ncycle(epoch, plan.warmupSteps), plan.warmupSteps), {
          lr: row.lr,
        })
      ) {
        if (++k === plan.warmupSteps) await loss.data();
      }
      m.dispose();
      await sync();
    }
    const m = knetModel(row.name, weights, device);
    let finalLoss = NaN;
    let readbacks = 0;
    let k = 0;
    resetCounters();
    const t0 = performance.now();
    for (const loss of sgd(m.loss, ncycle(epoch, plan.epochs), { lr: row.lr })) {
      k++;
      const e = Math.ceil(k / plan.stepsPerEpoch);
      if (k % plan.stepsPerEpoch === 0 && (plan.readEpochs.has(e) || e === plan.epochs)) {
        finalLoss = (await loss.data())[0];
        readbacks++;
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const c = counters();
    let testAccuracy: number | null = null;
    if (data.xtst && data.ytst && plan.testCount > 0) {
      const nb = Math.floor(plan.testCount / row.batch);
      testAccuracy = await accuracy(
        m.predict,
        limit(minibatch(data.xtst, data.ytst, row.batch, { device }), nb),
      );
    }
    m.dispose();
    const gpu = device === "gpu";
    return {
      framework: "denet",
      device,
      seconds,
      steps: k,
      finalLoss,
      testAccuracy,
      readbacks,
      note: "",
      hostSyncs: gpu ? c.hostSyncs : null,
      dispatches: gpu ? c.dispatches : null,
      submits: gpu ? c.submits : null,
    };
  } finally {
    if (device === "gpu") whole.forEach((t) => t.dispose());
  }
}

async function adapterName(): Promise<string> {
  try {
    const gpu = (globalThis.navigator as Navigator & { gpu?: GPU }).gpu;
    const a = await gpu?.requestAdapter();
    if (!a) return "none";
    const i = a.info;
    return i.description || `${i.vendor} ${i.architecture} ${i.device}`.trim() || "unknown";
  } catch {
    return "none";
  }
}

/** Runs the table's rows with each framework (see the module doc for the method). */
export async function runTable(opts: TableOptions = {}): Promise<TableResult> {
  const rows = opts.rows ?? TABLE_ROWS;
  const frameworks = opts.frameworks ?? FRAMEWORKS;
  const quick = opts.quick ?? false;
  const log = opts.log ?? (() => {});
  for (const r of rows) {
    if (!TABLE_ROWS.includes(r)) {
      throw new Error(`knet_table: unknown row "${r}" (expected ${TABLE_ROWS})`);
    }
  }
  for (const f of frameworks) {
    if (!FRAMEWORKS.includes(f)) {
      throw new Error(`knet_table: unknown framework "${f}" (expected ${FRAMEWORKS})`);
    }
  }
  const device = defaultDevice();
  const out: TableResult = {
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    adapter: await adapterName(),
    quick,
    rows: [],
  };
  for (const name of rows) {
    if (name === "charlm") {
      out.rows.push(
        await runCharLMRow({
          frameworks,
          quick,
          steps: opts.steps,
          dataDir: opts.dataDir ? `${opts.dataDir.replace(/\/$/, "")}/text` : undefined,
          seed: opts.seed,
          log,
        }),
      );
      continue;
    }
    const spec = ROWS[name];
    const data = await loadRowData(spec, opts.dataDir, quick ? 200 : 10000);
    const plan = planOf(spec, data.host.n, quick);
    const weights = initialWeights(name, opts.seed ?? 1);
    const row: RowResult = {
      spec,
      epochs: plan.epochs,
      stepsPerEpoch: plan.stepsPerEpoch,
      results: [],
      skipped: [],
    };
    for (const fw of frameworks) {
      log(`${spec.model}: ${fw} ...`);
      if (fw === "denet") {
        row.results.push(await denetTrain(spec, weights, data, plan, device));
      } else if (fw === "pytorch") {
        const { info, reason } = await torchInfo();
        if (!info) {
          row.skipped.push({ framework: fw, reason });
          continue;
        }
        out.torch = `PyTorch ${info.torch}, ${info.threads} threads, BLAS_INFO ${info.blas}, ` +
          `BLAS loaded: ${info.blasLibrary}`;
        const r = await torchTrain(spec, weights, data.host, plan);
        row.results.push({
          ...r,
          framework: fw,
          device: "cpu",
          hostSyncs: null,
          dispatches: null,
          submits: null,
        });
      } else {
        const backend = fw === "tfjs-webgpu" ? "webgpu" : "wasm";
        const { tf, reason } = await loadTfjs(backend);
        if (!tf) {
          row.skipped.push({ framework: fw, reason });
          continue;
        }
        const r = await tfjsTrain(backend, spec, weights, data.host, plan);
        row.results.push({
          ...r,
          framework: fw,
          device: backend,
          hostSyncs: null,
          dispatches: null,
          submits: null,
        });
      }
      const last = row.results[row.results.length - 1];
      log(`${spec.model}: ${fw} ${last.seconds.toFixed(2)} s, loss ${last.finalLoss}`);
    }
    out.rows.push(row);
  }
  return out;
}

const fmt = (x: number | null | undefined, digits: number): string =>
  x === null || x === undefined || Number.isNaN(x) ? "—" : x.toFixed(digits);

/** The table as markdown: one line per row, one column per framework's seconds. */
export function markdownTable(t: TableResult): string {
  const fws = FRAMEWORKS.filter((f) =>
    t.rows.some((r) => r.results.some((x) => x.framework === f))
  );
  const head = [
    "model",
    "dataset",
    "epochs",
    "batch",
    "lr",
    "Knet s",
    ...fws.map((f) => `${f} s`),
    "denet syncs/epoch",
    "denet dispatches/epoch",
    `final loss (${fws.join(" / ")})`,
    `test acc (${fws.join(" / ")})`,
  ];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => " --- |").join("")}`];
  for (const r of t.rows) {
    const by = (f: Framework) => r.results.find((x) => x.framework === f);
    const d = by("denet");
    const epochs = r.epochs === r.spec.epochs && !t.quick
      ? String(r.epochs)
      : `${r.epochs}×${r.stepsPerEpoch} steps`;
    const per = (v: number | null | undefined, total: boolean) => {
      if (v === null || v === undefined) return "—";
      const p = v / r.epochs;
      const s = p >= 10 ? p.toFixed(0) : p >= 0.01 || p === 0 ? p.toFixed(2) : p.toPrecision(2);
      return total ? `${s} (${v} in all)` : s;
    };
    const cells = [
      r.spec.model,
      r.spec.dataset,
      epochs,
      String(r.spec.batch),
      String(r.spec.lr),
      r.spec.knetSeconds.toFixed(2),
      ...fws.map((f) => fmt(by(f)?.seconds, 2)),
      per(d?.hostSyncs, true),
      per(d?.dispatches, false),
      fws.map((f) => fmt(by(f)?.finalLoss, 4)).join(" / "),
      fws.map((f) => fmt(by(f)?.testAccuracy, 4)).join(" / "),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  const notes = t.rows.flatMap((r) => [
    ...(r.spec.name === "charlm"
      ? [
        `- CharLM: Adam (lr ${r.spec.lr}) over ${r.stepsPerEpoch} windows of 128 streams × 100 ` +
        "characters of tinyshakespeare (embedding 256, LSTM 256); loss = mean over the timed windows",
      ]
      : []),
    ...r.skipped.map((s) => `- ${r.spec.model}: ${s.framework} skipped: ${s.reason}`),
    ...r.results.filter((x) => x.note).map((x) => `- ${r.spec.model}: ${x.framework}: ${x.note}`),
  ]);
  return [
    ...lines,
    "",
    `Adapter: ${t.adapter}; Deno ${t.deno}; ${
      t.quick ? "QUICK run (times mean nothing)" : "full run"
    }. ` +
    "Knet s: Knet's published seconds (AWS g2.2xlarge GPU, 2016).",
    ...(t.torch ? [`- ${t.torch}`] : []),
    ...notes,
  ].join("\n");
}

/**
 * The command line (see the module doc): runs the table, prints it with `print`, writes
 * the JSON when `--json FILE` is given, and returns the result.
 */
export async function main(
  args: string[],
  print: (line: string) => void = console.log,
): Promise<TableResult> {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      rows: { type: "string" },
      frameworks: { type: "string" },
      json: { type: "string" },
      data: { type: "string" },
      device: { type: "string" },
      seed: { type: "string" },
      steps: { type: "string" },
    },
  });
  const list = (s: string | undefined) => s?.split(",").map((x) => x.trim()).filter(Boolean);
  if (values.device !== undefined && values.device !== "cpu" && values.device !== "gpu") {
    throw new Error(`knet_table: --device must be cpu or gpu, got "${values.device}"`);
  }
  await init(values.device ? { device: values.device as DeviceName } : {});
  if (defaultDevice() === "gpu" && !gpuReady()) {
    throw new Error("knet_table: the GPU did not start");
  }
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  if (!Number.isInteger(seed)) {
    throw new Error(`knet_table: --seed must be an integer, got ${values.seed}`);
  }
  const result = await runTable({
    rows: list(values.rows) as TableRowName[] | undefined,
    frameworks: list(values.frameworks) as Framework[] | undefined,
    quick: values.quick,
    dataDir: values.data,
    seed,
    steps: values.steps === undefined ? undefined : Number(values.steps),
    log: (l) => console.error(l),
  });
  print(markdownTable(result));
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(result, null, 2) + "\n");
  return result;
}

if (import.meta.main) {
  await main(Deno.args);
  Deno.exit(0);
}
