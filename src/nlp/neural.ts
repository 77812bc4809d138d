/**
 * `NeuralNLPModel`: a network, a training set and a minibatch size as the smooth
 * problem min f(x) = loss(model_x(X_batch), Y_batch) over all the weights x
 * (KnetNLPModels.jl's `KnetNLPModel`).
 *
 * The model's Params are packed into one flat buffer ({@link packParams}), so x is a
 * flat vector on the params' device that *is* the weights: `obj`/`objgrad` at that very
 * tensor run the network with no copy, and a gradient lands in g by one buffer copy
 * per Param. On the GPU x includes the alignment padding between Params
 * (`meta.nvar = x.size`; see src/nlp/flat.ts); the padding is zero and its gradient is
 * zero.
 *
 * The objective depends on the current minibatch: {@link NeuralNLPModel.nextMinibatch},
 * {@link NeuralNLPModel.resetMinibatch} and {@link NeuralNLPModel.randomMinibatch}
 * move it and bump {@link NeuralNLPModel.version}. Batches are drawn in a seeded
 * random order, a new permutation per epoch; an epoch has ⌊N / batchSize⌋ batches.
 *
 * Bad input: x of the wrong length, device or dtype throws. NaN or Inf in x is not
 * checked (that would need a host sync per call): f is then NaN, which solvers see and
 * report as a status.
 *
 * @module
 */

import { diff } from "../autograd/diff.ts";
import { noRecord } from "../autograd/tape.ts";
import { Data, minibatch, shuffledOrder } from "../data/minibatch.ts";
import { accuracy as accuracyOver, applyModel, type Model, nll } from "../loss.ts";
import { copyInto } from "../ops/vector.ts";
import { Rng } from "../tensor/random.ts";
import { keep, tidy } from "../tensor/scope.ts";
import { Tensor } from "../tensor/tensor.ts";
import { checkVars, cloneTensor } from "./adnlp.ts";
import { type PackedParams, packParams, writeGradients } from "./flat.ts";
import type { NLPCounters, NLPMeta, SmoothNLP } from "./nlp.ts";

/** Options of {@link NeuralNLPModel}. */
export interface NeuralNLPOptions {
  /** The training set `[x, y]`: CPU tensors, instances first (e.g. `mnist()`'s xtrn, ytrn). */
  train: readonly [Tensor, Tensor];
  /** An optional test set `[x, y]` (CPU tensors), for {@link NeuralNLPModel.accuracy}. */
  test?: readonly [Tensor, Tensor];
  /** Instances per minibatch (a positive integer ≤ the number of training instances). */
  batchSize: number;
  /** The loss of a batch: `(scores, labels) => scalar tensor` (default `nll`). */
  loss?: (scores: Tensor, labels: Tensor) => Tensor;
  /** Seed of the minibatch order (default 0). */
  seed?: number;
  /** A short name for reports (default "neural"). */
  name?: string;
}

/** Options of {@link NeuralNLPModel.accuracy}. */
export interface NeuralAccuracyOptions {
  /** Which set (default "test" when the model has one, else "train"). */
  split?: "test" | "train";
  /** Instances per evaluation batch (default: the training batch size). */
  batchSize?: number;
}

function checkSet(what: string, set: unknown): readonly [Tensor, Tensor] {
  if (!Array.isArray(set) || set.length !== 2) {
    throw new Error(`NeuralNLPModel: ${what} must be an [x, y] pair of tensors`);
  }
  const [x, y] = set as [unknown, unknown];
  if (!(x instanceof Tensor) || !(y instanceof Tensor)) {
    throw new Error(`NeuralNLPModel: ${what} must be an [x, y] pair of tensors`);
  }
  if (x.device !== "cpu" || y.device !== "cpu") {
    throw new Error(
      `NeuralNLPModel: ${what} must be CPU tensors (batches are gathered on the host), ` +
        `got x on ${x.device} and y on ${y.device}`,
    );
  }
  if (x.rank === 0 || y.rank === 0 || x.shape[0] !== y.shape[0] || x.shape[0] === 0) {
    throw new Error(
      `NeuralNLPModel: ${what} x [${x.shape.join(",")}] and y [${y.shape.join(",")}] must ` +
        "have the same positive number of instances (first dimension)",
    );
  }
  return [x, y];
}

/** A network + data + minibatch size as a {@link SmoothNLP} (KnetNLPModels' model). */
export class NeuralNLPModel implements SmoothNLP {
  /** nvar (padding included on the GPU), x0 (a copy of the initial weights), name. */
  readonly meta: NLPMeta;
  /** Evaluation counts. */
  readonly counters: NLPCounters = { neval_obj: 0, neval_grad: 0 };
  /** The network. */
  readonly model: Model;
  /** The packed Params: `packed.x` is the model's weights as one flat vector. */
  readonly packed: PackedParams;
  /** Instances per minibatch. */
  readonly batchSize: number;
  /** Minibatches per epoch: ⌊N / batchSize⌋. */
  readonly nbatches: number;
  readonly #train: readonly [Tensor, Tensor];
  readonly #test: readonly [Tensor, Tensor] | null;
  readonly #loss: (scores: Tensor, labels: Tensor) => Tensor;
  readonly #rng: Rng;
  /** Gathers and places the batches of the training set (in {@link #order}). */
  readonly #data: Data<[Tensor, Tensor]>;
  #order: Int32Array;
  #epoch = 0;
  #index = 0;
  #version = 0;
  #batch: [Tensor, Tensor] | null = null;

  /**
   * Packs `model`'s Params into one flat buffer (see {@link packParams}; the Params stay
   * the same objects) and loads the first minibatch of the first epoch.
   */
  constructor(model: Model, opts: NeuralNLPOptions) {
    if (
      model === null ||
      (typeof model !== "function" &&
        (typeof model !== "object" ||
          typeof (model as { forward?: unknown }).forward !== "function"))
    ) {
      throw new Error("NeuralNLPModel: model must be a function or an object with forward(x)");
    }
    if (opts === null || typeof opts !== "object") {
      throw new Error("NeuralNLPModel: expected options { train, batchSize, ... }");
    }
    const train = checkSet("train", opts.train);
    const test = opts.test === undefined ? null : checkSet("test", opts.test);
    const n = train[0].shape[0];
    const bs = opts.batchSize;
    if (!Number.isInteger(bs) || bs < 1 || bs > n) {
      throw new Error(
        `NeuralNLPModel: batchSize must be an integer in [1, ${n}] (the training set size), ` +
          `got ${String(bs)}`,
      );
    }
    if (opts.loss !== undefined && typeof opts.loss !== "function") {
      throw new Error("NeuralNLPModel: loss must be a function (scores, labels) => Tensor");
    }
    this.model = model;
    this.packed = packParams(model);
    const x = this.packed.x;
    // CPU f64 weights take f64 batches (ops do not mix dtypes).
    const cast = (set: readonly [Tensor, Tensor]): readonly [Tensor, Tensor] =>
      x.device === "cpu" ? [set[0].asType(x.dtype), set[1].asType(x.dtype)] : set;
    this.#train = cast(train);
    this.#rng = new Rng(opts.seed ?? 0);
    this.#data = new Data<[Tensor, Tensor]>(this.#train[0], this.#train[1], bs, {
      shuffle: false, // the model keeps its own order, so it can reset and jump within it
      partial: false,
      rng: this.#rng,
      device: x.device,
    });
    this.#test = test && cast(test);
    this.batchSize = bs;
    this.nbatches = Math.floor(n / bs);
    this.#loss = opts.loss ?? ((s, y) => nll(s, y));
    this.#order = shuffledOrder(this.#data.n, this.#rng);
    this.meta = { nvar: x.size, x0: keep(cloneTensor(x)), name: opts.name ?? "neural" };
    this.#load();
  }

  /** Bumped by every minibatch change. */
  get version(): number {
    return this.#version;
  }

  /** Completed epochs (passes over the training set) so far. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Index of the current minibatch within the epoch (0-based). */
  get minibatchIndex(): number {
    return this.#index;
  }

  /** The current minibatch `[x, y]` on the weights' device (owned by the model). */
  get batch(): readonly [Tensor, Tensor] {
    return this.#batch!;
  }

  /** The weights as one flat vector (`packed.x`: no copy; solvers may update it in place). */
  get x(): Tensor {
    return this.packed.x;
  }

  #load(): void {
    const next = this.#data.makeBatch(this.#index, this.#order).map((t) => keep(t));
    if (this.#batch) { for (const t of this.#batch) t.dispose(); }
    this.#batch = [next[0], next[1]];
  }

  /**
   * Moves to the next minibatch; at the end of an epoch starts the next one (a new
   * random order) and returns true, else false. Bumps {@link version}.
   */
  nextMinibatch(): boolean {
    this.#index++;
    let ended = false;
    if (this.#index >= this.nbatches) {
      this.#index = 0;
      this.#epoch++;
      this.#order = shuffledOrder(this.#data.n, this.#rng);
      ended = true;
    }
    this.#load();
    this.#version++;
    return ended;
  }

  /** Back to the first minibatch of the current epoch's order. Bumps {@link version}. */
  resetMinibatch(): void {
    this.#index = 0;
    this.#load();
    this.#version++;
  }

  /** Moves to a random minibatch of the current epoch (seeded). Bumps {@link version}. */
  randomMinibatch(): void {
    this.#index = this.#rng.int(this.nbatches);
    this.#load();
    this.#version++;
  }

  #check(method: string, x: Tensor): Tensor {
    return checkVars(
      `NeuralNLPModel(${this.meta.name}).${method}`,
      x,
      this.packed.x,
      this.meta.nvar,
    );
  }

  /** Whether `x` shares the weights' storage (then there is nothing to copy). */
  #isWeights(x: Tensor): boolean {
    const w = this.packed.x;
    if (x === w) return true;
    if (x.device === "cpu") return x.host("setVars") === w.host("setVars");
    return x.buffer("setVars") === w.buffer("setVars") &&
      x.byteOffset("setVars") === w.byteOffset("setVars");
  }

  /**
   * Makes `x` the model's weights: copies it into the packed buffer (one buffer copy on
   * the GPU), unless x *is* that buffer.
   */
  setVars(x: Tensor): void {
    this.#check("setVars", x);
    if (!this.#isWeights(x)) copyInto(x, this.packed.x);
  }

  #batchLoss(): Tensor {
    const [xb, yb] = this.#batch!;
    const scores = applyModel(this.model, xb);
    if (!(scores instanceof Tensor)) {
      throw new Error(
        `NeuralNLPModel(${this.meta.name}): the model must return a Tensor, got ${String(scores)}`,
      );
    }
    const l = this.#loss(scores, yb);
    if (!(l instanceof Tensor) || l.size !== 1) {
      throw new Error(
        `NeuralNLPModel(${this.meta.name}): the loss must return a one-element tensor, got ` +
          (l instanceof Tensor ? `shape [${l.shape.join(",")}]` : String(l)),
      );
    }
    return l;
  }

  /**
   * f(x) on the current minibatch, as a one-element tensor on x's device (the caller
   * disposes it). Runs without recording (dropout is off, as outside `diff`).
   */
  obj(x: Tensor): Tensor {
    this.setVars(x);
    const f = tidy(() => noRecord(() => this.#batchLoss()));
    this.counters.neval_obj++;
    return f;
  }

  /** g ← ∇f(x) on the current minibatch, in place; returns g. */
  grad(x: Tensor, g: Tensor): Tensor {
    this.objgrad(x, g).dispose();
    this.counters.neval_obj--;
    return g;
  }

  /**
   * f(x) (returned; the caller disposes it) and g ← ∇f(x) on the current minibatch, from
   * one forward and one backward pass (`diff`). The gradients go into g's slots by one
   * buffer copy per Param.
   */
  objgrad(x: Tensor, g: Tensor): Tensor {
    this.#check("objgrad (g)", g);
    if (this.#isWeights(g)) {
      throw new Error(
        `NeuralNLPModel(${this.meta.name}).objgrad: g must not be the weights' buffer`,
      );
    }
    this.setVars(x);
    const r = diff(() => this.#batchLoss());
    try {
      writeGradients(this.packed, r, g);
    } catch (e) {
      r.dispose();
      throw e;
    }
    r.disposeGradients();
    this.counters.neval_obj++;
    this.counters.neval_grad++;
    return r.value;
  }

  /**
   * The fraction of `split` ("test" by default when there is a test set) the network at
   * its current weights classifies correctly; one host readback.
   */
  accuracy(opts: NeuralAccuracyOptions = {}): Promise<number> {
    const split = opts.split ?? (this.#test ? "test" : "train");
    const set = split === "test" ? this.#test : split === "train" ? this.#train : undefined;
    if (set === undefined) {
      throw new Error(`NeuralNLPModel.accuracy: split must be "test" or "train", got ${split}`);
    }
    if (set === null) {
      throw new Error(`NeuralNLPModel(${this.meta.name}).accuracy: the model has no test set`);
    }
    const bs = opts.batchSize ?? this.batchSize;
    const data = minibatch(set[0], set[1], bs, { partial: true, device: this.packed.x.device });
    return accuracyOver(this.model, data);
  }

  /** Releases the current minibatch and x0 (the packed weights stay with the model). */
  dispose(): void {
    if (this.#batch) { for (const t of this.#batch) t.dispose(); }
    this.#batch = null;
    this.meta.x0.dispose();
  }
}
