/**
 * The image-classification job behind `cli.ts train` and `cli.ts eval`: a model from
 * src/models.ts trained on MNIST or Fashion-MNIST with one of Knet's optimizers, with
 * per-epoch reports, checkpoints after every epoch and exact resumption.
 *
 * Host syncs: an epoch reads back twice (the mean training loss; then the running
 * training accuracy, the test accuracy and the test loss together) plus once per
 * progress-bar refresh when the bar is drawn; the training steps never wait for the device.
 *
 * @module
 */

import { noRecord } from "../autograd/tape.ts";
import { counters } from "../gpu/counters.ts";
import { FASHION_MNIST, FASHION_MNIST_CLASSES, loadIdxSplit, MNIST } from "../data/mnist.ts";
import { minibatch } from "../data/minibatch.ts";
import { loadCheckpoint, readCheckpointInfo, saveCheckpoint } from "../io/checkpoint.ts";
import type { Chain } from "../layers/chain.ts";
import { paramCount } from "../layers/layer.ts";
import { argmax } from "../ops/reduce.ts";
import { ConfusionMatrix } from "./confusion.ts";
import { accuracy, applyModel, nll } from "../loss.ts";
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
import { params } from "../autograd/diff.ts";
import { OptimizerBase } from "../optim/optimizers.ts";
import { MAX_SEED } from "../tensor/random.ts";
import { JOB_KEY, type JobState, parseJobState, resumeSettings } from "./resume.ts";
import { acquireSaveLock, checkSaveTarget } from "./save_guard.ts";

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
  /** One of softmax, mlp, lenet (default lenet; with `resume`, the checkpoint's). */
  model?: string;
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
  /**
   * Directory holding the dataset's IDX files (missing ones are downloaded into it unless
   * `offline`); default `$DENET_DATA/<dataset>` or the download cache.
   */
  dataDir?: string;
  /** Never download: a missing data file is an error naming it. */
  offline?: boolean;
  /** Train on the first `limit` training instances only (tests, quick runs). */
  limit?: number;
  /** Test on the first `testLimit` test instances only. */
  testLimit?: number;
  /** Write a checkpoint here after every epoch (atomically). */
  save?: string;
  /**
   * Continue from this checkpoint (written by `save`). Settings not given are the
   * checkpoint's; model, dataset, optimizer, batch, seed and limit given must equal
   * them (else an Error), a given `lr` replaces the restored optimizers' (logged), and
   * `solver` is refused.
   */
  resume?: string;
  /** Replace an existing checkpoint at `save` that the run does not resume. */
  force?: boolean;
  /** Draw a progress bar on stderr when it is a terminal (default true). */
  progressBar?: boolean;
  /** Receives a header line, then one line per epoch (default: none). */
  log?: (line: string) => void;
  /** Called with each epoch's report as the epoch ends (a metrics file, a plot). */
  onEpoch?: (r: EpochReport) => void | Promise<void>;
  /**
   * The device and why it was chosen, for the header line (default: the default
   * device's name); `cli.ts` passes `describeDevice()`.
   */
  deviceNote?: string;
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
  /** Mean test loss after the epoch. */
  testLoss: number;
  /** The learning rate (null for solvers that choose their own steps). */
  lr: number | null;
  /** Wall seconds of the epoch (training and evaluation). */
  seconds: number;
  /** Host syncs during the epoch. */
  hostSyncs: number;
  /** GPU dispatches during the epoch. */
  dispatches: number;
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

/**
 * Loads one split of the named dataset from `dir`, `$DENET_DATA` or the download cache,
 * downloading missing files unless `offline`.
 */
export function loadDatasetSplit(
  name: string,
  split: "train" | "test",
  dir?: string,
  offline = false,
): Promise<{ x: Tensor; y: Tensor }> {
  const which = choose("dataset", name, DATASET_NAMES);
  const opts = { ...(dir === undefined ? {} : { dir }), ...(offline ? { download: false } : {}) };
  return loadIdxSplit(which === "mnist" ? MNIST : FASHION_MNIST, split, opts);
}

/** Checked settings of a training run (see {@link checkTrainConfig}). */
export interface CheckedTrainConfig {
  /** The model's name. */
  model: (typeof MODEL_NAMES)[number];
  /** The dataset's name. */
  dataset: (typeof DATASET_NAMES)[number];
  /** The optimizer's name. */
  optimizer: (typeof OPTIMIZER_NAMES)[number];
  /** Epochs to reach. */
  epochs: number;
  /** Minibatch size. */
  batch: number;
  /** The seed. */
  seed: number;
}

/**
 * Checks every setting of `cfg` that needs neither a device nor a file (names, counts,
 * the seed, the learning rate, solver and checkpoint combinations) and returns them with
 * defaults filled in; throws a one-line Error naming the first bad one. `cli.ts train`
 * calls it before any device starts.
 */
export function checkTrainConfig(cfg: TrainConfig): CheckedTrainConfig {
  const model = choose("model", cfg.model ?? "lenet", MODEL_NAMES);
  const dataset = choose("dataset", cfg.dataset ?? "mnist", DATASET_NAMES);
  const optimizer = choose("optimizer", cfg.optimizer ?? "adam", OPTIMIZER_NAMES);
  const epochs = positiveInt("epochs", cfg.epochs ?? 10);
  const batch = positiveInt("batch", cfg.batch ?? 100);
  const seed = cfg.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new Error(
      `seed must be an integer in [0, ${MAX_SEED}] (the RNG holds 32 bits), got ${seed}`,
    );
  }
  if (cfg.limit !== undefined) positiveInt("limit", cfg.limit);
  if (cfg.testLimit !== undefined) positiveInt("test limit", cfg.testLimit);
  if (cfg.solver !== undefined) checkSolverFlags(cfg);
  if (cfg.force && cfg.save === undefined) throw new Error("--force applies to --save only");
  makeOptimizer(optimizer, cfg.lr);
  return { model, dataset, optimizer, epochs, batch, seed };
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
  if (cfg.solver !== undefined) checkSolverFlags(cfg);
  if (cfg.resume !== undefined) {
    state = await readJobState(cfg.resume);
    const { model, dataset, optimizer, batch, seed, limit } = cfg;
    cfg = {
      ...cfg,
      ...resumeSettings(state, { model, dataset, optimizer, batch, seed, limit }, cfg.resume),
    };
  }
  const { model, dataset, optimizer: optName, epochs, batch, seed } = checkTrainConfig(cfg);
  const limit = cfg.limit;
  const optimizer = makeOptimizer(optName, cfg.lr);
  const train = await loadDatasetSplit(dataset, "train", cfg.dataDir, cfg.offline);
  const test = await loadDatasetSplit(dataset, "test", cfg.dataDir, cfg.offline);
  const xtrn = firstRows(train.x, limit);
  const ytrn = firstRows(train.y, limit);
  const xtst = firstRows(test.x, cfg.testLimit);
  const ytst = firstRows(test.y, cfg.testLimit);
  if (cfg.save !== undefined) {
    await checkSaveTarget({ save: cfg.save, resume: cfg.resume, force: cfg.force });
  }

  seedGlobal(seed);
  const net = buildModel(model, { device: defaultDevice() });
  const how = cfg.solver !== undefined
    ? `solver ${cfg.solver}${cfg.lr !== undefined ? ` lr ${cfg.lr}` : ""}`
    : `${optName} lr ${optimizer.lr}`;
  cfg.log?.(
    `train ${model}: ${paramCount(net).toLocaleString("en-US")} parameters, ${dataset} ` +
      `${xtrn.shape[0]} train / ${xtst.shape[0]} test, batch ${batch}, ${how}, ` +
      `device ${cfg.deviceNote ?? defaultDevice()}`,
  );
  let done = 0;
  let lr = cfg.lr ?? null;
  if (state !== null) {
    await loadCheckpoint(cfg.resume!, net);
    globalRng.setState(state.rng.map((v) => v ?? NaN));
    done = state.epoch;
    if (cfg.lr !== undefined) {
      setLearningRate(net, cfg.lr);
      cfg.log?.(
        `--resume: learning rate ${cfg.lr} (the checkpoint had ${state.lr ?? "the default"})`,
      );
    } else lr = state.lr;
  }
  if (cfg.solver !== undefined) {
    return await solveClassifier(net, cfg.solver, [xtrn, ytrn], [xtst, ytst], {
      epochs,
      batch,
      seed,
      lr: cfg.lr,
      log: cfg.log,
      onEpoch: cfg.onEpoch,
    });
  }
  const dtst = minibatch(xtst, ytst, batch, { partial: true });
  const testCount = countedLabels(ytst);
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
  const lock = cfg.save !== undefined ? await acquireSaveLock(cfg.save) : null;
  try {
    for (let epoch = done + 1; epoch <= epochs; epoch++) {
      const finishEpoch = epochTimer();
      const dtrn = minibatch(xtrn, ytrn, batch, { shuffle: true, seed: epochSeed(seed, epoch) });
      fill(correct, 0);
      const bar = await progress(minimize(loss, dtrn, optimizer), {
        output: cfg.progressBar === false ? null : undefined,
      }).run();
      if (!Number.isFinite(bar.meanLoss)) {
        throw new Error(
          `epoch ${epoch}: the training loss is ${bar.meanLoss}: the run diverged (try a smaller ` +
            `--lr)${cfg.save !== undefined ? `; ${cfg.save} keeps the last good epoch` : ""}`,
        );
      }
      const { accuracy: testAccuracy, loss: testLoss, extra: [right] } = await testMetrics(
        net,
        dtst,
        testCount,
        [correct],
      );
      const report = finishEpoch({
        epoch,
        loss: bar.meanLoss,
        // The instances the epoch saw (the batch shrinks to N when N < batch).
        trainAccuracy: right / (dtrn.length * dtrn.batchSize),
        testAccuracy,
        testLoss,
        lr: optimizer.lr,
      });
      reports.push(report);
      cfg.log?.(formatEpoch(report));
      await cfg.onEpoch?.(report);
      if (cfg.save !== undefined) {
        const job: JobState = {
          model,
          dataset,
          optimizer: optName,
          lr,
          batch,
          seed,
          epoch,
          limit: limit ?? null,
          rng: globalRng.getState(),
        };
        try {
          await saveCheckpoint(cfg.save, net, {
            metadata: { [JOB_KEY]: JSON.stringify(job) },
            requireFinite: true,
          });
        } catch (e) {
          if (!/\(requireFinite\)$/.test((e as Error).message)) throw e;
          throw new Error(
            `epoch ${epoch}: the weights hold NaN or Inf after the epoch: the run diverged (try a ` +
              `smaller --lr); ${cfg.save} keeps the last good epoch`,
          );
        }
      }
    }
  } finally {
    correct.dispose();
    lock?.release();
  }
  return reports;
}

/**
 * Refuses the flags a `--solver` run would ignore: `--save`/`--resume` (checkpoints
 * belong to the minibatch loop), `--optimizer` (the solver is the optimizer) and `--lr`
 * except with `--solver adam` (R2, L-BFGS and trunk choose their own steps).
 */
function checkSolverFlags(cfg: TrainConfig): void {
  const solver = choose("solver", cfg.solver!, SOLVER_NAMES);
  if (cfg.resume !== undefined || cfg.save !== undefined || cfg.force) {
    throw new Error("--save/--resume/--force apply to the minibatch loop, not to --solver runs");
  }
  if (cfg.optimizer !== undefined) {
    throw new Error(
      `--optimizer does not apply to --solver ${solver} (the solver is the optimizer)`,
    );
  }
  if (cfg.lr !== undefined && solver !== "adam") {
    throw new Error(`--lr applies to --solver adam only; --solver ${solver} chooses its own steps`);
  }
}

/** Sets the learning rate of every Param's optimizer in `model` (after a resume). */
function setLearningRate(model: Chain, lr: number): void {
  for (const p of params(model)) {
    if (p.opt instanceof OptimizerBase) {
      p.opt.lr = lr; // validated by makeOptimizer
    }
  }
}

/**
 * Test accuracy and mean loss of `net` on `data`, and the values of the one-element
 * tensors `extra`, in one host sync (instances with negative labels are not counted).
 */
async function testMetrics(
  net: Chain,
  data: Iterable<readonly [Tensor, Tensor]>,
  counted: number,
  extra: Tensor[] = [],
): Promise<{ accuracy: number; loss: number; extra: number[] }> {
  const sums = noRecord(() => {
    let right: Tensor | null = null, total: Tensor | null = null;
    for (const [x, y] of data) {
      const scores = applyModel(net, x);
      const c = accuracy(scores, y, { average: false });
      const l = nll(scores, y, { average: false });
      scores.dispose();
      if (right === null) [right, total] = [c, l];
      else {
        axpy(1, c, right);
        axpy(1, l, total!);
        c.dispose();
        l.dispose();
      }
    }
    return { right, total };
  });
  if (sums.right === null) throw new Error("the test set is empty");
  const [r, t, ...rest] = await readAll([sums.right, sums.total!, ...extra]);
  sums.right.dispose();
  sums.total!.dispose();
  return { accuracy: r[0] / counted, loss: t[0] / counted, extra: rest.map((v) => v[0]) };
}

/** Labels that count (the non-negative ones) in a CPU label tensor. */
function countedLabels(y: Tensor): number {
  let n = 0;
  for (const v of y.dataSync()) if (v >= 0) n++;
  return n;
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

/** The validated job state of a `cli.ts train` checkpoint (see src/app/resume.ts). */
async function readJobState(path: string): Promise<JobState> {
  const meta = (await readCheckpointInfo(path)).metadata;
  return parseJobState(meta[JOB_KEY], path, DATASET_NAMES, OPTIMIZER_NAMES);
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
  /** True class against predicted class, when asked for (`confusion: true`). */
  confusion?: ConfusionMatrix;
}

/** Options of {@link evaluateCheckpoint}. */
export interface EvalOptions {
  /** Directory of the dataset's files (default `$DENET_DATA/<dataset>` or the cache). */
  dataDir?: string;
  /** Never download a missing test file. */
  offline?: boolean;
  /** Minibatch size (default 500). */
  batch?: number;
  /** Test on the first `testLimit` test instances only. */
  testLimit?: number;
  /** Also count the confusion matrix (one more pass over the test set). */
  confusion?: boolean;
}

/**
 * Loads a checkpoint written by `cli.ts train --save` and measures it on the test set
 * (only the test files are read, downloaded when missing unless `offline`).
 */
export async function evaluateCheckpoint(
  path: string,
  opts: EvalOptions = {},
): Promise<EvalReport> {
  const state = await readJobState(path);
  const batch = positiveInt("batch", opts.batch ?? 500);
  if (opts.testLimit !== undefined) positiveInt("test limit", opts.testLimit);
  const test = await loadDatasetSplit(state.dataset, "test", opts.dataDir, opts.offline);
  const net: Chain = buildModel(state.model, { device: defaultDevice() });
  await loadCheckpoint(path, net, { optimizer: false });
  const xtst = firstRows(test.x, opts.testLimit);
  const ytst = firstRows(test.y, opts.testLimit);
  const dtst = minibatch(xtst, ytst, batch, { partial: true });
  const { accuracy: testAccuracy, loss: testLoss } = await testMetrics(
    net,
    dtst,
    countedLabels(ytst),
  );
  const report: EvalReport = {
    model: state.model,
    dataset: state.dataset,
    epoch: state.epoch,
    testAccuracy,
    testLoss,
  };
  if (opts.confusion) {
    const preds: Tensor[] = [];
    noRecord(() => {
      // Each batch is used before the iterator moves on (it may recycle the batch).
      for (const [x] of dtst) {
        const scores = applyModel(net, x);
        preds.push(argmax(scores, 1));
        scores.dispose();
      }
    });
    const values = await readAll(preds);
    for (const p of preds) p.dispose();
    const predicted = values.flatMap((v) => Array.from(v));
    const names = state.dataset === "fashion" ? FASHION_MNIST_CLASSES : undefined;
    report.confusion = new ConfusionMatrix(predicted, ytst.dataSync(), 10, names);
  }
  return report;
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
  o: {
    epochs: number;
    batch: number;
    seed: number;
    lr?: number;
    log?: (l: string) => void;
    onEpoch?: (r: EpochReport) => void | Promise<void>;
  },
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
      const { accuracy: testAccuracy, loss: testLoss } = await testMetrics(
        net,
        minibatch(test[0], test[1], o.batch, { partial: true }),
        countedLabels(test[1]),
      );
      const trainAccuracy = await nlp.accuracy({ split: "train" });
      const report = finishEpoch({
        epoch: epochsDone,
        loss: stats.objective,
        trainAccuracy,
        testAccuracy,
        testLoss,
        lr: solver === "adam" ? o.lr ?? 0.001 : null,
      });
      reports.push(report);
      o.log?.(formatEpoch(report));
      await o.onEpoch?.(report);
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
