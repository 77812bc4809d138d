/**
 * The hyperparameter-search job behind `cli.ts tune` and the examples
 * goldensection_mnist.ts / hyperband_mnist.ts: Knet's MLP on MNIST (one hidden relu
 * layer, SGD, minibatches of 100) with its hidden size and learning rate tuned by
 * {@link goldensection} or {@link hyperband}, as Knet's hyperopt demos do.
 *
 * Every configuration trains from scratch (the same seed) on the training images less
 * the last `val` ones, which are held out: the search minimizes the held-out loss
 * (Knet's demos use the loss too). The job records every configuration tried (hidden,
 * lr, epochs, held-out loss and accuracy, seconds), keeps the best model and measures
 * it on the test set at the end.
 *
 * - goldensection: x ∈ ℝ² maps to hidden = round(64·e^x₀), lr = 0.5·e^x₁ (Knet's MLP
 *   default at x = 0); hidden outside [8, 1024] or lr outside (0, 8] is NaN (out of
 *   range). Each configuration trains `budget` epochs; the search stops when every step
 *   is at most `dxmin` (Knet's default 0.1).
 * - hyperband: hidden = 16 + ⌊1008^u⌋, lr = 10^(−2 + 2u') for uniform u, u' (seeded),
 *   with maxresource = `budget` epochs and the given reduction; resources are rounded to
 *   whole epochs, as Knet's demo does.
 *
 * @module
 */

import { mnist } from "../data/mnist.ts";
import { minibatch } from "../data/minibatch.ts";
import type { Chain } from "../layers/chain.ts";
import { accuracy, nll } from "../loss.ts";
import { mlpModel } from "../models.ts";
import { slice } from "../ops/shape.ts";
import { Rng, seed as seedGlobal } from "../tensor/random.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { drain } from "../train/minimize.ts";
import { sgd } from "../train/optimizers.ts";
import { goldensection } from "../tune/goldensection.ts";
import { hyperband } from "../tune/hyperband.ts";

/** The search methods `tune` knows. */
export const TUNE_METHODS = ["goldensection", "hyperband"] as const;

/** The models `tune` knows. */
export const TUNE_MODELS = ["mlp"] as const;

/** What to tune. */
export interface TuneConfig {
  /** The model (only "mlp", Knet's demo). */
  model?: string;
  /** One of {@link TUNE_METHODS}. */
  method: string;
  /** Epochs per configuration (goldensection, default 3) or hyperband's maxresource (default 9). */
  budget?: number;
  /** Hyperband's reduction η (default 3). */
  reduction?: number;
  /** Goldensection's smallest step (default 0.1, Knet's). */
  dxmin?: number;
  /** Seed of the weights, the shuffles and hyperband's draws (default 1). */
  seed?: number;
  /** Directory of the MNIST files (default: the data cache). */
  dataDir?: string;
  /** Use the first `limit` training images (default all 60000), the last `val` held out. */
  limit?: number;
  /** Held-out images taken from the end of the training images used (default 10000). */
  val?: number;
  /** Test on the first `testLimit` test images only. */
  testLimit?: number;
  /** Receives the table: the header, one line per configuration, the best. */
  log?: (line: string) => void;
}

/** One configuration tried. */
export interface TuneTrial {
  /** 1-based trial number. */
  n: number;
  /** Hidden units. */
  hidden: number;
  /** SGD's learning rate. */
  lr: number;
  /** Epochs trained (the resource). */
  epochs: number;
  /** Held-out loss (NaN: out of range, not trained). */
  loss: number;
  /** Held-out accuracy. */
  accuracy: number;
  /** Seconds to train and measure it. */
  seconds: number;
}

/** What the search found. */
export interface TuneResult {
  /** Every configuration tried, in order. */
  trials: TuneTrial[];
  /** The one with the smallest held-out loss. */
  best: TuneTrial;
  /** Its test accuracy. */
  testAccuracy: number;
  /** Epochs trained over the whole search. */
  totalEpochs: number;
  /** Seconds of the whole search. */
  seconds: number;
}

/** The table's header line. */
export const TUNE_HEADER = "trial  hidden         lr  epochs  held-out loss  accuracy  seconds";

/** One line of the table. */
export function formatTrial(t: TuneTrial): string {
  return `${String(t.n).padStart(5)}  ${String(t.hidden).padStart(6)}  ` +
    `${t.lr.toExponential(3).padStart(9)}  ${String(t.epochs).padStart(6)}  ` +
    `${t.loss.toFixed(4).padStart(13)}  ${(100 * t.accuracy).toFixed(2).padStart(7)}%  ` +
    `${t.seconds.toFixed(1).padStart(7)}`;
}

function intOpt(name: string, v: number | undefined, def: number, min: number): number {
  const x = v ?? def;
  if (!Number.isInteger(x) || x < min) {
    throw new Error(`tune: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
  }
  return x;
}

/**
 * Tunes Knet's MNIST MLP (hidden size, learning rate) by goldensection or hyperband and
 * returns every configuration tried, the best and its test accuracy. Throws an Error
 * naming a bad option before any data is read.
 */
export async function tuneMlp(cfg: TuneConfig): Promise<TuneResult> {
  const model = cfg.model ?? "mlp";
  if (!(TUNE_MODELS as readonly string[]).includes(model)) {
    throw new Error(`tune: unknown model '${model}' (expected one of: ${TUNE_MODELS.join(", ")})`);
  }
  const method = cfg.method;
  if (!(TUNE_METHODS as readonly string[]).includes(method)) {
    throw new Error(
      `tune: unknown method '${method}' (expected one of: ${TUNE_METHODS.join(", ")})`,
    );
  }
  const gs = method === "goldensection";
  const budget = intOpt("budget", cfg.budget, gs ? 3 : 9, 1);
  const reduction = intOpt("reduction", cfg.reduction, 3, 2);
  const seed = intOpt("seed", cfg.seed, 1, 0);
  const val = intOpt("val", cfg.val, 10000, 1);
  const limit = intOpt("limit", cfg.limit, 60000, val + 1);
  const log = cfg.log ?? (() => {});
  const t0 = performance.now();

  const d = await mnist(cfg.dataDir ? { dir: cfg.dataDir } : {});
  const n = Math.min(limit, d.xtrn.shape[0]);
  if (n <= val) throw new Error(`tune: ${n} training images cannot hold out val = ${val}`);
  const xtrn = slice(d.xtrn, [[0, n - val]]);
  const ytrn = slice(d.ytrn, [[0, n - val]]);
  const xval = slice(d.xtrn, [[n - val, n]]);
  const yval = slice(d.ytrn, [[n - val, n]]);
  const first = (t: Tensor) =>
    cfg.testLimit === undefined ? t : slice(t, [[0, Math.min(cfg.testLimit, t.shape[0])]]);
  const dval = minibatch(xval, yval, 100);

  const trials: TuneTrial[] = [];
  let bestModel: Chain | null = null;
  let totalEpochs = 0;
  log(TUNE_HEADER);

  /** Trains one configuration from scratch and measures it on the held-out images. */
  const trial = async (hidden: number, lr: number, epochs: number): Promise<number> => {
    const s0 = performance.now();
    const t: TuneTrial = {
      n: trials.length + 1,
      hidden,
      lr,
      epochs,
      loss: NaN,
      accuracy: NaN,
      seconds: 0,
    };
    if (hidden >= 8 && hidden <= 1024 && lr > 0 && lr <= 8) {
      seedGlobal(seed);
      const net = mlpModel({ hidden });
      const dtrn = minibatch(xtrn, ytrn, 100, { shuffle: true });
      for (let e = 0; e < epochs; e++) drain(sgd((x, y) => net.loss(x, y), dtrn, { lr }));
      totalEpochs += epochs;
      t.loss = await nll(net, dval);
      t.accuracy = await accuracy(net, dval);
      const best = trials.reduce((b, x) => (x.loss < b ? x.loss : b), Infinity);
      if (t.loss < best) {
        bestModel?.dispose();
        bestModel = net;
      } else net.dispose();
    }
    t.seconds = (performance.now() - s0) / 1000;
    trials.push(t);
    log(formatTrial(t));
    return t.loss;
  };

  if (gs) {
    const f = (x: number[]) => trial(Math.round(64 * Math.exp(x[0])), 0.5 * Math.exp(x[1]), budget);
    await goldensection(f, 2, { dxmin: cfg.dxmin ?? 0.1 });
  } else {
    const rng = new Rng(seed);
    const getconfig = () => ({
      hidden: 16 + Math.floor(1008 ** rng.uniform()),
      lr: 10 ** (-2 + 2 * rng.uniform()),
    });
    await hyperband(
      getconfig,
      (c, r) => trial(c.hidden, c.lr, Math.max(1, Math.round(r))),
      budget,
      reduction,
    );
  }

  const finite = trials.filter((t) => !Number.isNaN(t.loss));
  if (finite.length === 0 || bestModel === null) throw new Error("tune: no configuration trained");
  const best = finite.reduce((b, t) => (t.loss < b.loss ? t : b));
  const net = bestModel as Chain;
  const testAccuracy = await accuracy(net, minibatch(first(d.xtst), first(d.ytst), 100));
  net.dispose();
  const seconds = (performance.now() - t0) / 1000;
  log(
    `best: trial ${best.n}, hidden ${best.hidden}, lr ${best.lr.toExponential(3)}, ` +
      `${best.epochs} epochs: held-out loss ${best.loss.toFixed(4)}, accuracy ` +
      `${(100 * best.accuracy).toFixed(2)}%; test accuracy ${(100 * testAccuracy).toFixed(2)}% ` +
      `(${trials.length} configurations, ${totalEpochs} epochs, ${seconds.toFixed(0)} s)`,
  );
  return { trials, best, testAccuracy, totalEpochs, seconds };
}
