/**
 * Loss functions and metrics after Knet's (`nll`, `accuracy`, `bce`, `logistic`) plus
 * `mse`. Each returns a scalar tensor on the scores' device, built from ops, so it is
 * differentiable inside `diff` and costs no host sync; read it when you need the number
 * (`await loss.item()`, or many at once with `readAll`).
 *
 * Layout: scores are [N, C], instances first and classes last (Knet's (C, N) reversed,
 * the same memory); labels are [N], 0-based class indices stored as floats on the same
 * device; a negative label skips its instance (Knet's label 0).
 *
 * The `(model, data)` forms evaluate a model over a dataset, accumulate on the device,
 * and read back once at the end: they return a `Promise<number>`.
 *
 * @module
 */

import { noRecord } from "./autograd/tape.ts";
import { binary, unary } from "./ops/elementwise.ts";
import { argmax, max, mean, sum } from "./ops/reduce.ts";
import { checkInputs, describe } from "./ops/registry.ts";
import { checkLabelsGpu, checkScoresLabels } from "./ops/xent.ts";
import { countKept, xentTotalOp } from "./ops/xent_total.ts";
import { runOp } from "./ops/registry.ts";
import { tidy } from "./tensor/scope.ts";
import { readAll, Tensor } from "./tensor/tensor.ts";

/** Options of {@link nll}, {@link accuracy}, {@link bce} and {@link logistic}. */
export interface LossOptions {
  /**
   * true (default): the mean over the counted instances; false: their total (Knet's
   * `average=false` returns `(total, count)`; here the total alone).
   */
  average?: boolean;
}

/**
 * A model: a function from a batch of inputs to scores [N, C], or an object with such a
 * `forward` method (a layer, a `Chain`).
 */
export type Model = ((x: Tensor) => Tensor) | { forward(x: Tensor): Tensor };

/** Applies a {@link Model} (a function or an object with `forward`) to a batch. */
export function applyModel(model: Model, x: Tensor): Tensor {
  return typeof model === "function" ? model(x) : model.forward(x);
}

/** A dataset: any iterable of `[x, y]` batches, e.g. `minibatch(x, y, 100)`. */
export type Dataset = Iterable<readonly [Tensor, Tensor]>;

/** `total / count(labels ≥ 0)` when averaging, else `total`; consumes `total`. */
function finish(total: Tensor, labels: Tensor, average: boolean): Tensor {
  if (!average) return total;
  const n = countKept(labels);
  const out = binary("div", total, n);
  total.dispose();
  n.dispose();
  return out;
}

function nllScores(scores: Tensor, labels: Tensor, opts: LossOptions): Tensor {
  const l = checkScoresLabels("nll", scores, labels);
  try {
    const [rows, len] = scores.shape;
    return runOp(xentTotalOp, [scores, l], { rows, len, average: opts.average ?? true });
  } finally {
    if (l !== labels) l.dispose();
  }
}

/**
 * Knet's `nll(scores, labels; average=true)`: the negative log-likelihood of the labels
 * under softmax of the unnormalised `scores` [N, C] (logsoftmax over the classes is
 * applied inside, through the fused softmax-cross-entropy total of src/ops/xent_total.ts:
 * on the GPU two dispatches forward, one backward).
 * `labels` [N] holds 0-based class indices as floats; negative labels skip their
 * instance. With `average` (default) the result is the total over the counted instances
 * divided by their number, counted on the device (0/0 = NaN when every instance is
 * skipped, as in Knet); with `average: false` it is the total (Knet returns
 * `(total, count)`). Returns a scalar tensor, differentiable in `scores`.
 *
 * Errors: scores not 2-D, labels not [N], different devices; a label that is not an
 * integer below C (on the GPU checked on the device and thrown at the next readback;
 * meanwhile it gives NaN, never an out-of-bounds read).
 */
export function nll(scores: Tensor, labels: Tensor, opts?: LossOptions): Tensor;
/**
 * Knet's `nll(model; data)`: the negative log-likelihood of `model` over `data` (an
 * iterable of `[x, y]` batches). The model runs without autograd recording; the totals
 * stay on the device and are read back once at the end. With `average` (default) the
 * result is the total over all counted instances divided by their number, else the
 * total.
 */
export function nll(model: Model, data: Dataset, opts?: LossOptions): Promise<number>;
export function nll(
  a: Tensor | Model,
  b: Tensor | Dataset,
  opts: LossOptions = {},
): Tensor | Promise<number> {
  if (!(a instanceof Tensor)) {
    return overData("nll", a, b as Dataset, opts, (s, y) => nllScores(s, y, { average: false }));
  }
  return nllScores(a, b as Tensor, opts);
}

function accuracyScores(scores: Tensor, labels: Tensor, opts: LossOptions): Tensor {
  const l = checkScoresLabels("accuracy", scores, labels);
  try {
    return noRecord(() =>
      tidy(() => {
        if (l.device === "cpu") {
          // Validate like nll: a class index per kept instance.
          const ls = l.host("accuracy");
          const c = scores.shape[1];
          ls.forEach((v, i) => {
            if (!(v < 0) && !(v < c && Number.isInteger(v))) {
              throw new Error(
                `accuracy: label ${v} of instance ${i} is not a class index: expected an ` +
                  `integer in [0, ${c - 1}] (or a negative label to skip the instance)`,
              );
            }
          });
        }
        checkLabelsGpu("accuracy", l, scores.shape[1]);
        // argmax is ≥ 0, so a skipped (negative) label never counts as correct.
        const hits = sum(binary("eq", argmax(scores, -1), l));
        // NaN when any score is NaN (-Inf otherwise): a diverged model has no accuracy.
        const nan = max(binary("minimum", scores, -Infinity));
        const correct = binary("maximum", hits, nan);
        return finish(correct, l, opts.average ?? true);
      })
    );
  } finally {
    if (l !== labels) l.dispose();
  }
}

/**
 * Knet's `accuracy(scores, labels; average=true)`: the fraction of the counted
 * instances (labels ≥ 0) whose highest score (the first, on ties) is at their label's
 * class, as a scalar tensor on the device (no host sync, no gradient). With
 * `average: false`, the number of correct instances. NaN when every label is skipped,
 * and NaN when any score is NaN (Knet would count the first NaN as the argmax; a
 * diverged model should not look like a stuck one). Shapes and labels are checked as in
 * {@link nll} (GPU labels on the device, thrown at the next readback).
 */
export function accuracy(scores: Tensor, labels: Tensor, opts?: LossOptions): Tensor;
/**
 * Knet's `accuracy(model; data)`: the fraction of instances in `data` (an iterable of
 * `[x, y]` batches) that `model` classifies correctly, skipping negative labels. The
 * model runs without autograd recording; counts stay on the device and are read back
 * once at the end. With `average: false`, the number of correct instances.
 */
export function accuracy(model: Model, data: Dataset, opts?: LossOptions): Promise<number>;
export function accuracy(
  a: Tensor | Model,
  b: Tensor | Dataset,
  opts: LossOptions = {},
): Tensor | Promise<number> {
  if (!(a instanceof Tensor)) {
    return overData(
      "accuracy",
      a,
      b as Dataset,
      opts,
      (s, y) => accuracyScores(s, y, { average: false }),
    );
  }
  return accuracyScores(a, b as Tensor, opts);
}

/**
 * Runs `model` over `data`, accumulating `total(scores, y)` and the count of labels ≥ 0
 * on the device; one readback at the end.
 */
async function overData(
  op: string,
  model: Model,
  data: Dataset,
  opts: LossOptions,
  total: (scores: Tensor, labels: Tensor) => Tensor,
): Promise<number> {
  if (data === null || typeof data !== "object" || !(Symbol.iterator in data)) {
    throw new Error(`${op}(model, data): data must be an iterable of [x, y] batches`);
  }
  let acc: Tensor | null = null;
  let count: Tensor | null = null;
  try {
    let k = 0;
    for (const batch of data) {
      if (!Array.isArray(batch) || batch.length !== 2) {
        throw new Error(
          `${op}(model, data): batch ${k} is not an [x, y] pair (a dataset without labels?)`,
        );
      }
      const [x, y] = batch as readonly [Tensor, Tensor];
      const prev: [Tensor | null, Tensor | null] = [acc, count];
      [acc, count] = noRecord(() =>
        tidy(() => {
          const scores = applyModel(model, x);
          if (!(scores instanceof Tensor)) {
            throw new Error(
              `${op}(model, data): the model must return a Tensor of scores, got ${String(scores)}`,
            );
          }
          const t = total(scores, y);
          const n = countKept(y);
          return [prev[0] ? binary("add", prev[0], t) : t, prev[1] ? binary("add", prev[1], n) : n];
        })
      );
      prev[0]?.dispose();
      prev[1]?.dispose();
      k++;
    }
    if (acc === null || count === null) return NaN;
    const [t, n] = await readAll([acc, count]);
    return (opts.average ?? true) ? t[0] / n[0] : t[0];
  } finally {
    acc?.dispose();
    count?.dispose();
  }
}

/** Checks that `labels` fits `scores` for the binary losses; returns them reshaped/typed. */
function binaryLabels(op: string, scores: Tensor, labels: Tensor): Tensor {
  checkInputs(op, [scores]);
  checkInputs(op, [labels]);
  if (labels.device !== scores.device) {
    throw new Error(
      `${op}: scores ${describe(scores)} and labels ${describe(labels)} are on different ` +
        "devices; move them with .gpu() or await .cpu()",
    );
  }
  const same = labels.rank === scores.rank && labels.shape.every((d, i) => d === scores.shape[i]);
  const column = scores.rank === 2 && scores.shape[1] === 1 && labels.rank === 1 &&
    labels.shape[0] === scores.shape[0];
  if (!same && !column) {
    throw new Error(
      `${op}: labels ${describe(labels)} do not match scores ${describe(scores)}: expected ` +
        "the same shape (or scores [N,1] with labels [N])",
    );
  }
  const typed = labels.dtype === scores.dtype ? labels : labels.asType(scores.dtype);
  if (same) return typed;
  const out = typed.reshape(scores.shape);
  if (typed !== labels) typed.dispose();
  return out;
}

function reduceLoss(l: Tensor, average: boolean): Tensor {
  return average ? mean(l) : sum(l);
}

/**
 * Knet's `bce(scores, labels; average=true)`: binary cross-entropy of raw scores
 * (logits) against labels in {0, 1}, `softplus(x) − y·x` per element (the stable form of
 * `−y·log σ(x) − (1−y)·log(1−σ(x))`), averaged over all elements (summed with
 * `average: false`). Labels in [0, 1] work as soft targets; their values are not
 * checked. `labels` has the shape of `scores` (or [N] for scores [N, 1]); f32 labels are
 * accepted with f64 CPU scores. Differentiable in `scores`.
 */
export function bce(scores: Tensor, labels: Tensor, opts: LossOptions = {}): Tensor {
  const y = binaryLabels("bce", scores, labels);
  try {
    return tidy(() => {
      const l = binary("sub", unary("softplus", scores), binary("mul", y, scores));
      return reduceLoss(l, opts.average ?? true);
    });
  } finally {
    if (y !== labels) y.dispose();
  }
}

/**
 * Knet's `logistic(scores, labels; average=true)`: the logistic loss
 * `log(1 + exp(−y·x)) = softplus(−y·x)` of raw scores against labels in {−1, 1},
 * averaged over all elements (summed with `average: false`); the same loss as
 * {@link bce} with labels mapped {−1, 1} → {0, 1}. Label values are not checked. Shapes
 * as in {@link bce}. Differentiable in `scores`.
 */
export function logistic(scores: Tensor, labels: Tensor, opts: LossOptions = {}): Tensor {
  const y = binaryLabels("logistic", scores, labels);
  try {
    return tidy(() => {
      const l = unary("softplus", unary("neg", binary("mul", y, scores)));
      return reduceLoss(l, opts.average ?? true);
    });
  } finally {
    if (y !== labels) y.dispose();
  }
}

/**
 * Mean squared error `mean((pred − target)²)` over all elements. `pred` and `target`
 * must have the same shape (no broadcasting), device and dtype. Differentiable in both.
 */
export function mse(pred: Tensor, target: Tensor): Tensor {
  checkInputs("mse", [pred]);
  checkInputs("mse", [target]);
  const same = pred.rank === target.rank && pred.shape.every((d, i) => d === target.shape[i]);
  if (!same || pred.device !== target.device || pred.dtype !== target.dtype) {
    throw new Error(
      `mse: pred ${describe(pred)} and target ${describe(target)} must have the same shape, ` +
        "device and dtype",
    );
  }
  return tidy(() => mean(unary("square", binary("sub", pred, target))));
}
