/**
 * The CharLM row of Knet's benchmark table (Knet: 2.25 s for 1 epoch, batch 128, on a 2016
 * GPU): Knet's CharLM (embedding 256, LSTM 256, dense to the 65 characters) trained with
 * Adam (lr 0.001) over the BPTT windows of 128 streams × 100 characters of
 * tinyshakespeare's training 90% (78 windows), by denet on its default device, PyTorch
 * (`nn.LSTM`, `bench/peers/torch_charlm.py`) and TensorFlow.js (`tf.basicLSTMCell`,
 * `bench/peers/tfjs_charlm.ts`), all from the same initial weights and windows.
 *
 * Each framework runs a few untimed windows on a throwaway copy first. The clock covers
 * the windows and one readback of the summed loss; the reported loss is the mean over the
 * timed windows. With `steps` (or `quick`: 2) only the first windows are timed and the
 * seconds are scaled to the 78-window epoch (said in the row's notes); tfjs, which is far
 * slower, times {@link TFJS_STEPS} windows by default and is scaled the same way.
 *
 * @module
 */

import { CharLM } from "../src/app/charlm.ts";
import { CHARLM_DEFAULTS, trainCharLM } from "../src/app/charlm_train.ts";
import { bptt, splitHeldOut } from "../src/data/bptt.ts";
import { textCorpus } from "../src/data/text.ts";
import { counters, resetCounters } from "../src/gpu/counters.ts";
import { gpuRuntime } from "../src/gpu/runtime.ts";
import { defaultDevice } from "../src/tensor/device.ts";
import { copyInto } from "../src/ops/vector.ts";
import { fromArray } from "../src/tensor/create.ts";
import { Rng } from "../src/tensor/random.ts";
import type { Framework, FrameworkResult, RowResult, TableRowSpec } from "./knet_table.ts";
import { charlmWeights, torchCharLM } from "./peers/torch_charlm.ts";
import { tfjsCharLM } from "./peers/tfjs_charlm.ts";
import { loadTfjs } from "./peers/tfjs_train.ts";
import { torchInfo } from "./peers/torch_train.ts";

/** Knet's CharLM row. */
export const CHARLM_ROW: TableRowSpec = Object.freeze({
  name: "charlm",
  model: "CharLM",
  dataset: "Shakespeare",
  epochs: 1,
  batch: CHARLM_DEFAULTS.batch,
  lr: CHARLM_DEFAULTS.lr,
  loss: "nll",
  knetSeconds: 2.25,
});

/** Windows tfjs times when `steps` is not given (then scaled to the epoch). */
export const TFJS_STEPS = 4;

/** Options of {@link runCharLMRow}. */
export interface CharLMRowOptions {
  /** Frameworks to run. */
  frameworks: readonly Framework[];
  /** Time 2 windows per framework (the times mean little). */
  quick?: boolean;
  /** Time this many windows per framework and scale to the epoch. */
  steps?: number;
  /** The folder of tinyshakespeare.txt. */
  dataDir?: string;
  /** Seed of the initial weights. */
  seed?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

const WARMUP = 2;

/** Runs the CharLM row with each framework (see the module doc). */
export async function runCharLMRow(opts: CharLMRowOptions): Promise<RowResult> {
  const log = opts.log ?? (() => {});
  const corpus = await textCorpus(opts.dataDir ? { dir: opts.dataDir } : {});
  const { train } = splitHeldOut(corpus.data);
  const { batch, seqLength, lr } = CHARLM_DEFAULTS;
  const windows = bptt(train, batch, seqLength);
  const full = windows.length;
  const timed = Math.min(full, opts.steps ?? (opts.quick ? 2 : full));
  if (!(Number.isInteger(timed) && timed >= 1)) {
    throw new Error(`knet_table: --steps must be a positive integer, got ${opts.steps}`);
  }
  const device = defaultDevice();
  const init = new CharLM(corpus.vocab, { rng: new Rng(opts.seed ?? 1), device: "cpu" });
  const weights = await charlmWeights(init);
  init.dispose();
  const row: RowResult = {
    spec: CHARLM_ROW,
    epochs: 1,
    stepsPerEpoch: full,
    results: [],
    skipped: [],
  };
  const scaled = (r: FrameworkResult, steps: number): FrameworkResult => {
    if (steps === full) return r;
    return {
      ...r,
      seconds: (r.seconds * full) / steps,
      dispatches: r.dispatches === null ? null : Math.round((r.dispatches * full) / steps),
      note: `${r.note ? `${r.note}; ` : ""}timed ${steps} of ${full} windows, seconds scaled ` +
        `to the epoch (${r.seconds.toFixed(2)} s measured)`,
    };
  };
  const none = { hostSyncs: null, dispatches: null, submits: null };
  for (const fw of opts.frameworks) {
    log(`CharLM: ${fw} ...`);
    if (fw === "denet") {
      row.results.push(
        scaled(await denetCharLM(corpus.vocab, weights, train, timed, device), timed),
      );
    } else if (fw === "pytorch") {
      const { info, reason } = await torchInfo();
      if (!info) {
        row.skipped.push({ framework: fw, reason });
        continue;
      }
      const r = await torchCharLM(weights, {
        data: train,
        trainLen: train.length,
        heldOutLen: 0,
        batch,
        seqLength,
        lr,
        gclip: 0,
        epochs: 1,
        stepsPerEpoch: timed,
        warmupSteps: WARMUP,
      });
      const e = r.epochs[0];
      row.results.push(scaled({
        framework: fw,
        device: "cpu",
        seconds: e.seconds,
        steps: e.steps,
        finalLoss: e.trainLoss,
        testAccuracy: null,
        readbacks: 1,
        note: "",
        ...none,
      }, timed));
    } else {
      const backend = fw === "tfjs-webgpu" ? "webgpu" : "wasm";
      const { tf, reason } = await loadTfjs(backend);
      if (!tf) {
        row.skipped.push({ framework: fw, reason });
        continue;
      }
      const steps = Math.min(timed, opts.steps ?? TFJS_STEPS);
      const r = await tfjsCharLM(tf, weights, {
        windows: Array.from({ length: steps }, (_, w) => windows.window(w)),
        batch,
        seqLength,
        lr,
        warmupSteps: WARMUP,
      });
      row.results.push(scaled({ ...r, framework: fw, device: backend, ...none }, steps));
    }
    const last = row.results[row.results.length - 1];
    log(`CharLM: ${fw} ${last.seconds.toFixed(2)} s, loss ${last.finalLoss}`);
  }
  return row;
}

/** denet's timed windows: `trainCharLM` on a model made from `weights`, after a warm-up. */
async function denetCharLM(
  vocab: string[],
  weights: Awaited<ReturnType<typeof charlmWeights>>,
  train: Int32Array,
  steps: number,
  device: "cpu" | "gpu",
): Promise<FrameworkResult> {
  const make = () => {
    const m = new CharLM(vocab, { device });
    const byName = Object.fromEntries(weights.map((w) => [w.name, w]));
    const l = m.rnn.weights[0][0];
    const pairs = [
      [m.embed.w, byName.embed],
      [l.W!, byName.W],
      [l.R, byName.R],
      [l.bW, byName.bW],
      [l.bR, byName.bR],
      [m.out.w, byName.outW],
      [m.out.b!, byName.outB],
    ] as const;
    for (const [p, w] of pairs) {
      const src = fromArray(w.values, { shape: w.shape, device });
      copyInto(src, p);
      src.dispose();
    }
    return m;
  };
  const opts = { stepsPerEpoch: steps, progressOutput: null };
  const sync = async () => {
    if (device === "gpu") await gpuRuntime().sync();
  };
  const warm = make();
  await trainCharLM(warm, train, null, { ...opts, stepsPerEpoch: WARMUP });
  warm.dispose();
  await sync();
  const m = make();
  try {
    resetCounters();
    const [r] = await trainCharLM(m, train, null, opts);
    const c = counters();
    const gpu = device === "gpu";
    return {
      framework: "denet",
      device,
      seconds: r.seconds,
      steps: r.steps,
      finalLoss: r.trainLoss,
      testAccuracy: null,
      readbacks: 1,
      note: gpu
        ? `${(c.dispatches / (r.steps * CHARLM_DEFAULTS.seqLength)).toFixed(2)} GPU ` +
          "dispatches per time step"
        : "",
      hostSyncs: gpu ? c.hostSyncs : null,
      dispatches: gpu ? c.dispatches : null,
      submits: gpu ? c.submits : null,
    };
  } finally {
    m.dispose();
  }
}
