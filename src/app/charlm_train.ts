/**
 * Training and measuring a {@link CharLM}: Adam over the BPTT windows of the training
 * text (the LSTM state carried from window to window within an epoch, reset at its
 * start), and the mean held-out loss in nats per character. Step losses stay on the
 * device; an epoch reads back its mean loss once (plus a progress bar's refreshes on a
 * terminal) and the held-out loss once.
 *
 * @module
 */

import { noRecord } from "../autograd/tape.ts";
import { bptt } from "../data/bptt.ts";
import { axpy } from "../ops/vector.ts";
import { Adam } from "../optim/optimizers.ts";
import { zeros } from "../tensor/create.ts";
import type { DeviceName, Tensor } from "../tensor/tensor.ts";
import { limit } from "../train/iterators.ts";
import { minimize } from "../train/minimize.ts";
import { progress, type ProgressOutput } from "../train/progress.ts";
import type { CharLM } from "./charlm.ts";

/** Knet's CharLM settings: batch 128, sequence length 100, Adam with lr 0.001. */
export const CHARLM_DEFAULTS: Readonly<{ batch: number; seqLength: number; lr: number }> = Object
  .freeze({ batch: 128, seqLength: 100, lr: 0.001 });

/** Options of {@link trainCharLM}. */
export interface CharLMTrainOptions {
  /** Epochs to run (default 1). */
  epochs?: number;
  /** Streams per window (default 128). */
  batch?: number;
  /** Time steps per window (default 100). */
  seqLength?: number;
  /** Adam's learning rate (default 0.001). */
  lr?: number;
  /** Clip each gradient to this norm (default 0: no clipping). */
  gclip?: number;
  /** Stop each epoch after this many windows (default: all). */
  stepsPerEpoch?: number;
  /** The number of the first epoch (default 1), for reports. */
  firstEpoch?: number;
  /** Where the progress bar goes (default: stderr when it is a terminal; null: none). */
  progressOutput?: ProgressOutput | null;
  /** Called after each epoch (awaited), e.g. to save a checkpoint. */
  onEpoch?: (report: CharLMEpoch) => void | Promise<void>;
}

/** What one epoch of {@link trainCharLM} measured. */
export interface CharLMEpoch {
  /** The epoch's number. */
  epoch: number;
  /** Windows trained on. */
  steps: number;
  /** Mean training loss over the epoch's windows (nats per character). */
  trainLoss: number;
  /** Mean held-out loss after the epoch (nats per character), or NaN without held-out text. */
  heldOutLoss: number;
  /** Seconds of training (held-out evaluation excluded). */
  seconds: number;
}

function checkPositiveInt(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new Error(`trainCharLM: ${what} must be a positive integer, got ${v}`);
  }
}

/** The device of the model's parameters. */
function modelDevice(model: CharLM): DeviceName {
  return model.embed.w.device;
}

/**
 * Trains `model` on the token ids `train` for `epochs` epochs with Adam (see
 * {@link CharLMTrainOptions}); after each epoch measures `heldOut` (when given) with
 * {@link charlmLoss}. Returns the epochs' reports. Throws when the training loss is not
 * finite (the run diverged), naming the epoch.
 */
export async function trainCharLM(
  model: CharLM,
  train: Int32Array,
  heldOut: Int32Array | null,
  opts: CharLMTrainOptions = {},
): Promise<CharLMEpoch[]> {
  const { epochs = 1, firstEpoch = 1 } = opts;
  const { batch = CHARLM_DEFAULTS.batch, seqLength = CHARLM_DEFAULTS.seqLength } = opts;
  const lr = opts.lr ?? CHARLM_DEFAULTS.lr;
  checkPositiveInt("epochs", epochs);
  checkPositiveInt("firstEpoch", firstEpoch);
  if (opts.stepsPerEpoch !== undefined) checkPositiveInt("stepsPerEpoch", opts.stepsPerEpoch);
  if (!(lr > 0)) throw new Error(`trainCharLM: lr must be positive, got ${lr}`);
  const device = modelDevice(model);
  const windows = bptt(train, batch, seqLength, { device });
  const steps = Math.min(windows.length, opts.stepsPerEpoch ?? Infinity);
  const optimizer = new Adam({ lr, gclip: opts.gclip ?? 0 });
  const loss = (x: Tensor, y: Tensor) => model.loss(x, y);
  const reports: CharLMEpoch[] = [];
  for (let epoch = firstEpoch; epoch < firstEpoch + epochs; epoch++) {
    const t0 = performance.now();
    model.reset();
    const bar = await progress(minimize(loss, limit(windows.tensors(), steps), optimizer), {
      output: opts.progressOutput,
    }).run();
    const seconds = (performance.now() - t0) / 1000;
    if (!Number.isFinite(bar.meanLoss)) {
      throw new Error(
        `trainCharLM: epoch ${epoch}: the training loss is ${bar.meanLoss}: the run diverged ` +
          "(try a smaller lr or gclip)",
      );
    }
    const heldOutLoss = heldOut === null
      ? NaN
      : await charlmLoss(model, heldOut, { batch, seqLength });
    const report = { epoch, steps, trainLoss: bar.meanLoss, heldOutLoss, seconds };
    reports.push(report);
    await opts.onEpoch?.(report);
  }
  model.reset();
  return reports;
}

/**
 * The mean loss of `model` on the token ids `data` in nats per character, read as BPTT
 * windows of `batch` streams × `seqLength` steps (defaults: Knet's 128 × 100) from a reset
 * state, without recording; the sum stays on the device and is read back once. The
 * model's state is reset afterwards.
 */
export async function charlmLoss(
  model: CharLM,
  data: Int32Array,
  opts: { batch?: number; seqLength?: number } = {},
): Promise<number> {
  const { batch = CHARLM_DEFAULTS.batch, seqLength = CHARLM_DEFAULTS.seqLength } = opts;
  const windows = bptt(data, batch, seqLength, { device: modelDevice(model) });
  model.reset();
  const total = zeros([1], { device: modelDevice(model) });
  try {
    noRecord(() => {
      for (const [x, y] of windows.tensors()) {
        const l = model.loss(x, y);
        axpy(1, l, total);
        l.dispose();
      }
    });
    return (await total.data())[0] / windows.length;
  } finally {
    total.dispose();
    model.reset();
  }
}
