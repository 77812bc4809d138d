/**
 * The image-classification job behind `cli.ts train` and `cli.ts eval`: a model from
 * src/models.ts trained on MNIST or Fashion-MNIST with one of Knet's optimizers, with
 * per-epoch reports, checkpoints after every epoch and exact resumption.
 *
 * Host syncs: an epoch reads back three times (the mean training loss, the running
 * training accuracy, the test accuracy) plus once per progress-bar refresh when the bar
 * is drawn; the training steps themselves never wait for the device.
 *
 * @module
 */

import { noRecord } from "../autograd/tape.ts";
import { counters } from "../gpu/counters.ts";
import { fashionMnist, mnist, type MnistData } from "../data/mnist.ts";
import { minibatch } from "../data/minibatch.ts";
import { loadCheckpoint, readCheckpointInfo, saveCheckpoint } from "../io/checkpoint.ts";
import type { Chain } from "../layers/chain.ts";
import { accuracy, nll } from "../loss.ts";
import { buildModel, MODEL_NAMES } from "../models.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { OPTIMIZERS } from "../optim/optimizers.ts";
import { slice } from "../ops/shape.ts";
import { axpy, fill } from "../ops/vector.ts";
import { zeros } from "../tensor/create.ts";
import { defaultDevice } from "../tensor/device.ts";
import { globalRng, seed as seedGlobal } from "../tensor/random.ts";
import { readAll, type Tensor } from "../tensor/tensor.ts";
import { minimize } from "../train/minimize.ts";
import { NeuralNLPModel } from "../nlp/neural.ts";
import type { SmoothNLP } from "../nlp/nlp.ts";
import { adam as adamSolver } from "../solvers/adam.ts";
import { lbfgs } from "../solvers/lbfgs.ts";
import { fomo, R2 } from "../solvers/r2.ts";
import type { ExecutionStats, SolverState } from "../solvers/stats.ts";
import { trunk } from "../solvers/trunk.ts";
import { progress } from "../train/progress.ts";

/** The datasets the job knows. */
export const DATASET_NAMES = ["mnist", "fashion"] as const;

/** The optimizers the job knows, by their command-line names. */
export const OPTIMIZER_NAMES = [
  "sgd",
  "momentum",
  "nesterov",
  "adagrad",
  "rmsprop",
  "adadelta",
  "adam",
] as const;

/** The solvers `--solver` accepts (the network trained as an NLP model, issue 6). */
export const SOLVER_NAMES = ["r2", "fomo", "lbfgs", "adam", "trunk-lsr1"] as const;

/** What to train. */
export interface TrainConfig {
  /**
   * Train with a solver on the network wrapped as a NeuralNLPModel instead of the
   * minibatch loop: one of {@link SOLVER_NAMES}. The minibatch rotates after every
   * solver step (KnetNLPModels' usage); `optimizer` does not apply then.
   */
  solver?: string;
  /** One of softmax, mlp, lenet. */
  model: string;
  /** mnist or fashion (default mnist). */
  dataset?: string;
  /** One of {@link OPTIMIZER_NAMES} (default adam). */
  optimizer?: string;
  /** Learning rate (default: the optimizer's Knet default). */
  lr?: number;
  /** Epochs to reach (default 10); with `resume`, counting the epochs already done. */
  epochs?: number;
  /** Minibatch size (default 100). */
  batch?: number;
  /** Seed of the initial weights, the shuffles and dropout (default 1). */
  seed?: number;
  /** Directory holding the dataset's IDX files (no download then); default: the cache. */
  dataDir?: string;
  /** Train on the first `limit` training instances only (tests, quick runs). */
  limit?: number;
  /** Test on the first `testLimit` test instances only. */
  testLimit?: number;
  /** Write a checkpoint here after every epoch (atomically). */
  save?: string;
  /** Continue from this checkpoint (written by `save`). */
  resume?: string;
  /** Draw a progress bar on stderr when it is a terminal (default true). */
  progressBar?: boolean;
  /** Receives one line per epoch (default: none). */
  log?: (line: string) => void;
}

/** One epoch's figures. */
export interface EpochReport {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean training loss over the epoch's steps. */
  loss: number;
  /** Fraction of training instances classified correctly during the epoch (running). */
  trainAccuracy: number;
  /** Fraction of test instances classified correctly after the epoch. */
  testAccuracy: number;
  /** Wall seconds of the epoch (training and evaluation). */
  seconds: number;
  /** Host syncs during the epoch. */
  hostSyncs: number;
  /** GPU dispatches during the epoch. */
  dispatches: number;
}

/** The checkpoint metadata key holding the job's state. */
const JOB_KEY = "train.job";

/** What a checkpoint records about the job, to resume or evaluate it. */
interface JobState {
  model: string;
  dataset: string;
  optimizer: string;
  lr: number | null;
  batch: number;
  seed: number;
  epoch: number;
  limit: number | null;
  rng: number[];
}

function choose<T extends string>(what: string, value: string, known: readonly T[]): T {
  if (!(known as readonly string[]).includes(value)) {
    throw new Error(`unknown ${what} '${value}' (expected one of: ${known.join(", ")})`);
  }
  return value as T;
}

function positiveInt(what: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) {
    throw new Error(`${what} must be a positive integer, got ${v}`);
  }
  return v;
}

/** The optimizer named `name` with learning rate `lr` (Knet's default when undefined). */
export function makeOptimizer(name: string, lr?: number): Optimizer {
  const key = choose("optimizer", name, OPTIMIZER_NAMES);
  const ctor = Object.entries(OPTIMIZERS).find(([k]) => k.toLowerCase() === key)?.[1];
  if (!ctor) throw new Error(`optimizer '${name}' is not available`);
  if (lr !== undefined && !(Number.isFinite(lr) && lr > 0)) {
    throw new Error(`learning rate must be a positive number, got ${lr}`);
  }
  return new (ctor as new (o: { lr?: number }) => Optimizer)(lr === undefined ? {} : { lr });
}

/** Loads the named dataset from `dir` (no download) or the default cache. */
export function loadDataset(name: string, dir?: string): Promise<MnistData> {
  const which = choose("dataset", name, DATASET_NAMES);
  const opts = dir === undefined ? {} : { dir, download: false };
  return which === "mnist" ? mnist(opts) : fashionMnist(opts);
}

function firstRows(t: Tensor, n: number | undefined): Tensor {
  if (n === undefined || n >= t.shape[0]) return t;
  return slice(t, [[0, n]]);
}

/** A seed for epoch `epoch`'s shuffle, so a resumed run shuffles as an uninterrupted one. */
function epochSeed(seed: number, epoch: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) + epoch) >>> 0;
}

/**
 * Trains as `cfg` says and returns one report per epoch run. Validates every option and
 * loads the data before touching any file; with `resume`, the checkpoint's model and
 * optimizer state, epoch count and random state are restored, so the run continues as
 * if it had not stopped.
 */
export async function trainClassifier(cfg: TrainConfig): Promise<EpochReport[]> {
  let state: JobState | null = null;
  if (cfg.resume !== undefined) {
    state = jobState(await readCheckpointInfoMeta(cfg.resume), cfg.resume);
  }
  const model = choose("model", cfg.model, MODEL_NAMES);
  const dataset = choose("dataset", cfg.dataset ?? "mnist", DATASET_NAMES);
  const optName = choose("optimizer", cfg.optimizer ?? "adam", OPTIMIZER_NAMES);
  const epochs = positiveInt("epochs", cfg.epochs ?? 10);
  const batch = positiveInt("batch", cfg.batch ?? 100);
  const seed = cfg.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 0) {
    throw new Error(`seed must be a non-negative integer, got ${seed}`);
  }
  if (cfg.limit !== undefined) positiveInt("limit", cfg.limit);
  if (cfg.testLimit !== undefined) positiveInt("test limit", cfg.testLimit);
  if (state !== null) {
    const mine = { model, dataset, optimizer: optName, batch, seed, limit: cfg.limit ?? null };
    for (const [k, v] of Object.entries(mine)) {
      if (state[k as keyof JobState] !== v) {
        throw new Error(
          `--resume ${cfg.resume}: the checkpoint was trained with ${k} ${
            JSON.stringify(state[k as keyof JobState])
          }, not ${JSON.stringify(v)}`,
        );
      }
    }
  }
  if (cfg.solver !== undefined) {
    choose("solver", cfg.solver, SOLVER_NAMES);
    if (cfg.resume !== undefined || cfg.save !== undefined) {
      throw new Error("--save/--resume apply to the minibatch loop, not to --solver runs");
    }
  }
  const optimizer = makeOptimizer(optName, cfg.lr);
  const data = await loadDataset(dataset, cfg.dataDir);
  const xtrn = firstRows(data.xtrn, cfg.limit);
  const ytrn = firstRows(data.ytrn, cfg.limit);
  const xtst = firstRows(data.xtst, cfg.testLimit);
  const ytst = firstRows(data.ytst, cfg.testLimit);

  seedGlobal(seed);
  const net = buildModel(model, { device: defaultDevice() });
  let done = 0;
  if (state !== null) {
    await loadCheckpoint(cfg.resume!, net);
    globalRng.setState(state.rng);
    done = state.epoch;
  }
  if (cfg.solver !== undefined) {
    return await solveClassifier(net, cfg.solver, [xtrn, ytrn], [xtst, ytst], {
      epochs,
      batch,
      seed,
      lr: cfg.lr,
      log: cfg.log,
    });
  }
  const dtst = minibatch(xtst, ytst, batch, { partial: true });
  const correct = zeros([1]);
  const loss = (x: Tensor, y: Tensor): Tensor => {
    const scores = net.forward(x);
    noRecord(() => {
      const c = accuracy(scores, y, { average: false });
      axpy(1, c, correct);
      c.dispose();
    });
    return nll(scores, y);
  };
  const reports: EpochReport[] = [];
  try {
    for (let epoch = done + 1; epoch <= epochs; epoch++) {
      const finishEpoch = epochTimer();
      const dtrn = minibatch(xtrn, ytrn, batch, { shuffle: true, seed: epochSeed(seed, epoch) });
      fill(correct, 0);
      const bar = await progress(minimize(loss, dtrn, optimizer), {
        output: cfg.progressBar === false ? null : undefined,
      }).run();
      const [right] = await readAll([correct]);
      const testAccuracy = await accuracy(net, dtst);
      const report = finishEpoch({
        epoch,
        loss: bar.meanLoss,
        trainAccuracy: right[0] / (dtrn.length * batch),
        testAccuracy,
      });
      reports.push(report);
      cfg.log?.(formatEpoch(report));
      if (cfg.save !== undefined) {
        const job: JobState = {
          model,
          dataset,
          optimizer: optName,
          lr: cfg.lr ?? null,
          batch,
          seed,
          epoch,
          limit: cfg.limit ?? null,
          rng: globalRng.getState(),
        };
        await saveCheckpoint(cfg.save, net, { metadata: { [JOB_KEY]: JSON.stringify(job) } });
      }
    }
  } finally {
    correct.dispose();
  }
  return reports;
}

/**
 * Starts timing an epoch; the returned function completes the epoch's report with the
 * seconds, host syncs and dispatches since then.
 */
function epochTimer(): (
  r: Omit<EpochReport, "seconds" | "hostSyncs" | "dispatches">,
) => EpochReport {
  const t0 = performance.now();
  const c0 = counters();
  return (r) => {
    const c1 = counters();
    return {
      ...r,
      seconds: (performance.now() - t0) / 1000,
      hostSyncs: c1.hostSyncs - c0.hostSyncs,
      dispatches: c1.dispatches - c0.dispatches,
    };
  };
}

/** `epoch  3  loss 0.0712  train 97.81%  test 98.42%  41.2 s`. */
export function formatEpoch(r: EpochReport): string {
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  return `epoch ${String(r.epoch).padStart(2)}  loss ${r.loss.toFixed(4)}  train ${
    pct(r.trainAccuracy)
  }  test ${pct(r.testAccuracy)}  ${r.seconds.toFixed(1)} s`;
}

async function readCheckpointInfoMeta(path: string): Promise<Record<string, string>> {
  return (await readCheckpointInfo(path)).metadata;
}

function jobState(meta: Record<string, string>, path: string): JobState {
  const raw = meta[JOB_KEY];
  if (raw === undefined) {
    throw new Error(`${path}: not a checkpoint of cli.ts train (no ${JOB_KEY} metadata)`);
  }
  try {
    return JSON.parse(raw) as JobState;
  } catch {
    throw new Error(`${path}: the ${JOB_KEY} metadata is not valid JSON`);
  }
}

/** What {@link evaluateCheckpoint} found. */
export interface EvalReport {
  /** The model the checkpoint holds. */
  model: string;
  /** The dataset it was trained on. */
  dataset: string;
  /** Epochs it was trained for. */
  epoch: number;
  /** Test accuracy of the checkpoint's weights. */
  testAccuracy: number;
  /** Mean test loss. */
  testLoss: number;
}

/** Loads a checkpoint written by `cli.ts train --save` and measures it on the test set. */
export async function evaluateCheckpoint(
  path: string,
  opts: { dataDir?: string; batch?: number; testLimit?: number } = {},
): Promise<EvalReport> {
  const state = jobState(await readCheckpointInfoMeta(path), path);
  const data = await loadDataset(state.dataset, opts.dataDir);
  const net: Chain = buildModel(state.model, { device: defaultDevice() });
  await loadCheckpoint(path, net, { optimizer: false });
  const batch = positiveInt("batch", opts.batch ?? 500);
  const dtst = minibatch(
    firstRows(data.xtst, opts.testLimit),
    firstRows(data.ytst, opts.testLimit),
    batch,
    { partial: true },
  );
  const testAccuracy = await accuracy(net, dtst);
  const testLoss = await nll(net, dtst);
  return { model: state.model, dataset: state.dataset, epoch: state.epoch, testAccuracy, testLoss };
}

/**
 * Trains `net` by a solver on the network wrapped as an NLP model (KnetNLPModels +
 * JSOSolvers): the minibatch moves on after every solver step (`onStep`, no host sync);
 * the callback runs once per epoch (`onStep` asks for it at each epoch's end, counted in
 * steps, so a solver whose iterations span several steps still reports), measures the accuracies at
 * the solver's iterate and stops the solver with status "user" after `epochs` epochs.
 * The reported loss is the objective on the epoch's last minibatch.
 */
async function solveClassifier(
  net: Chain,
  solver: string,
  train: readonly [Tensor, Tensor],
  test: readonly [Tensor, Tensor],
  o: { epochs: number; batch: number; seed: number; lr?: number; log?: (l: string) => void },
): Promise<EpochReport[]> {
  const nlp = new NeuralNLPModel(net, { train, test, batchSize: o.batch, seed: o.seed });
  const reports: EpochReport[] = [];
  let epochsDone = 0;
  let finishEpoch = epochTimer();
  const common = {
    maxTime: Infinity,
    maxIter: -1,
    callbackEvery: Number.MAX_SAFE_INTEGER, // only when onStep asks: at an epoch's end
    onStep: (m: SmoothNLP): boolean => {
      const ended = (m as NeuralNLPModel).nextMinibatch();
      if (ended) epochsDone++;
      return ended;
    },
    callback: async (_m: SmoothNLP, state: SolverState, stats: ExecutionStats) => {
      if (epochsDone === reports.length) return; // iteration 0, or not at an epoch's end
      nlp.setVars(state.x);
      const testAccuracy = await nlp.accuracy({ split: "test" });
      const trainAccuracy = await nlp.accuracy({ split: "train" });
      const report = finishEpoch({
        epoch: epochsDone,
        loss: stats.objective,
        trainAccuracy,
        testAccuracy,
      });
      reports.push(report);
      o.log?.(formatEpoch(report));
      finishEpoch = epochTimer();
      if (epochsDone >= o.epochs) stats.status = "user";
    },
  };
  try {
    const lr = o.lr === undefined ? {} : { lr: o.lr };
    const stats = solver === "r2"
      ? await R2(nlp, common)
      : solver === "fomo"
      ? await fomo(nlp, common)
      : solver === "lbfgs"
      ? await lbfgs(nlp, common)
      : solver === "adam"
      ? await adamSolver(nlp, { ...common, ...lr })
      : await trunk(nlp, common);
    if (stats.solution !== null) {
      nlp.setVars(stats.solution);
      stats.solution.dispose();
    }
    if (stats.status !== "user") {
      throw new Error(`${solver} stopped early with status ${stats.status}: ${stats.message}`);
    }
  } finally {
    nlp.dispose();
  }
  return reports;
}
