/**
 * Fused softmax cross-entropy: per instance, the negative log-probability of its class
 * under softmax of its scores, `logsumexp(scores[i, :]) − scores[i, labels[i]]`, in one
 * pass over the scores (kernels/xent.wgsl), and its gradient
 * `dy[i]·(softmax(scores[i, :]) − onehot(labels[i]))` in one pass too. This is the
 * primitive under `nll` (src/loss.ts); it saves the [N, C] logsoftmax intermediate and
 * the gather that a composition would need.
 *
 * Scores are [N, C] (classes last); labels are [N], 0-based class indices stored as
 * floats. A negative label skips its instance (Knet's label 0): loss 0, gradient row 0.
 * CPU twin: {@link xentCpu} / {@link xentGradCpu} (f32 and f64, computed in f64).
 *
 * Labels are validated on the CPU (an integer below C, else an Error). GPU labels are
 * checked on the device ({@link checkLabelsGpu}, one extra dispatch, no host sync): the
 * next readback throws the same Error. Meanwhile a label ≥ C, a non-integer or NaN
 * label gives NaN for that instance's loss and its whole gradient row, deterministically,
 * and no read leaves the row.
 *
 * `nll` itself goes through the fused total of ./xent_total.ts (xent rows and one
 * totalling workgroup forward, one scaled gradient pass backward: 3 dispatches; built
 * from xent, sum, count and divide it took 9, and logsoftmax · onehot composed from ops
 * took 17).
 *
 * @module
 */

import { gpuProfile } from "../gpu/profile.ts";
import { kernelCall } from "../cpu/call.ts";
import { gpuRuntime, type StorageBinding } from "../gpu/runtime.ts";
import { grid2d, UniformWriter } from "../gpu/uniforms.ts";
import { emptyGpu, hostArray, Tensor } from "../tensor/tensor.ts";
import { checkInputs, defineOp, describe, type OpDef, runOp } from "./registry.ts";

/** Attributes of the xent ops: the scores viewed as [rows, len]. */
export interface XentAttrs {
  /** Instances N. */
  rows: number;
  /** Classes C. */
  len: number;
}

/**
 * Rows of at most this many classes take the one-invocation-per-row entry points; longer
 * rows get a 64-thread workgroup each (see kernels/xent.wgsl).
 */
const SHORT_ROW = 64;
/** The bits of the NaN the xent kernels write (a uniform: WGSL has no NaN constant). */
export const NAN_BITS = 0x7fc00000;

/** The class of instance `i` (−1: skipped), or an Error for a label that is not one. */
function classOf(op: string, label: number, i: number, len: number): number {
  if (label < 0) return -1;
  if (!(label < len) || !Number.isInteger(label)) {
    throw new Error(
      `${op}: label ${label} of instance ${i} is not a class index: expected an integer in ` +
        `[0, ${len - 1}] (or a negative label to skip the instance)`,
    );
  }
  return label;
}

/**
 * Row stats of row `base`: the maximum m, s = Σ exp(x − m) and o, the same sum without
 * class `c` (in f64).
 */
function rowStats(
  xs: ArrayLike<number>,
  base: number,
  len: number,
  c: number,
): [number, number, number] {
  let m = -Infinity;
  for (let j = 0; j < len; j++) m = Math.max(m, xs[base + j]);
  let s = 0;
  let o = 0;
  for (let j = 0; j < len; j++) {
    const e = Math.exp(xs[base + j] - m);
    s += e;
    if (j !== c) o += e;
  }
  return [m, s, o];
}

/**
 * CPU twin of xent.wgsl `forward`: per-row loss (m − x[c]) + log s, or log1p(o) when
 * x[c] is the maximum (accurate for tiny losses); 0 for skipped rows. Throws on a label
 * that is not a class index.
 */
export function xentCpu(scores: Tensor, labels: Tensor, a: XentAttrs): Tensor {
  const xs = scores.host("xent");
  const ls = labels.host("xent");
  const out = hostArray(scores.dtype, a.rows);
  for (let r = 0; r < a.rows; r++) {
    const c = classOf("xent", ls[r], r, a.len);
    if (c < 0) continue;
    const base = r * a.len;
    const [m, s, o] = rowStats(xs, base, a.len, c);
    const xc = xs[base + c];
    out[r] = xc === m ? Math.log1p(o) : (m - xc) + Math.log(s);
  }
  return new Tensor([a.rows], scores.dtype, out);
}

/**
 * CPU twin of xent.wgsl `backward`: dy[r]·(softmax(x[r]) − onehot(label[r])), with the
 * label's entry computed as −dy[r]·o/s.
 */
export function xentGradCpu(scores: Tensor, labels: Tensor, dy: Tensor, a: XentAttrs): Tensor {
  const xs = scores.host("xent_grad");
  const ls = labels.host("xent_grad");
  const ds = dy.host("xent_grad");
  const out = hostArray(scores.dtype, a.rows * a.len);
  for (let r = 0; r < a.rows; r++) {
    const c = classOf("xent_grad", ls[r], r, a.len);
    if (c < 0) continue;
    const base = r * a.len;
    const [m, s, o] = rowStats(xs, base, a.len, c);
    const d = ds[r];
    for (let j = 0; j < a.len; j++) {
      out[base + j] = j === c ? -d * (o / s) : d * (Math.exp(xs[base + j] - m) / s);
    }
  }
  return new Tensor([a.rows, a.len], scores.dtype, out);
}

/**
 * CPU backend twin of {@link xentCpu} (dy null) or {@link xentGradCpu}: the labels are
 * validated here as the twin does, then kernels/cpu/softmax.c `xent_fwd` / `xent_bwd` run.
 */
function xentWasm(scores: Tensor, labels: Tensor, dy: Tensor | null, a: XentAttrs): Tensor {
  const op = dy ? "xent_grad" : "xent";
  const ls = labels.host(op);
  for (let r = 0; r < a.rows; r++) classOf(op, ls[r], r, a.len);
  return kernelCall(op, (k) => {
    const [out, po] = k.out(dy ? [a.rows, a.len] : [a.rows]);
    if (a.rows === 0 || (dy && out.size === 0)) return out;
    const work = a.rows * a.len * 8;
    const [px, pl] = [k.in(scores), k.in(labels)];
    if (dy) k.run("xent_bwd", [a.rows, a.len, px, pl, k.in(dy), po], work);
    else k.run("xent_fwd", [a.rows, a.len, px, pl, po], work);
    return out;
  });
}

/**
 * Dispatches the forward (per-row loss) or backward pass of kernels/xent.wgsl, choosing the
 * entry points by row length. `buffers` are its bindings 1.. (X, L, Y, DY, DX; ST is
 * allocated here for long rows); the backward pass always binds SC, `scale` or a dummy:
 * with `scale` (the OUT of the `total` entry point) the upstream gradient is the scalar
 * DY[0]·scale[1] (the gradient of a mean or total of the rows), else DY[row].
 */
export function dispatchXent(
  direction: "forward" | "backward",
  a: XentAttrs,
  buffers: (StorageBinding | null)[],
  scale: StorageBinding | null = null,
): void {
  const rt = gpuRuntime();
  const uniforms = (j0 = 0, j1 = 0) =>
    new UniformWriter().u32(a.rows).u32(a.len).u32(NAN_BITS).u32(j0).u32(j1).build();
  // Software adapters: the one-pass `backward` loops 3·ceil(len / 64) + 128 times per
  // thread and llvmpipe cuts loops short after ~65 535 iterations: longer rows are sliced.
  const sc = direction === "backward" ? scale ?? rt.dummy : null;
  const constants = { SCALAR_DY: scale !== null, ONLINE: gpuProfile().onlineSoftmax };
  if (a.len > gpuProfile().xentSlice) {
    dispatchLongRows(direction, a, buffers, sc, constants, uniforms);
    return;
  }
  const short = a.len <= SHORT_ROW;
  const [x, l, y, dy, dx] = buffers;
  rt.dispatch({
    kernel: "xent",
    entryPoint: short ? `${direction}_rows` : direction,
    constants,
    uniforms: uniforms(),
    buffers: sc ? [x, l, y, dy, dx, null, null, null, sc] : buffers,
    workgroups: grid2d(short ? Math.ceil(a.rows / 64) : a.rows),
  });
}

/**
 * Rows longer than the profile's `xentSlice`: the row stats accumulate over column slices in a
 * scratch buffer (a max pass, then a sum pass), then the loss or the gradient slices.
 */
function dispatchLongRows(
  direction: "forward" | "backward",
  a: XentAttrs,
  [x, l, y, dy, dx]: (StorageBinding | null)[],
  sc: StorageBinding | null,
  constants: Record<string, boolean>,
  uniforms: (j0?: number, j1?: number) => ArrayBuffer,
): void {
  const rt = gpuRuntime();
  const st = rt.alloc(a.rows * 16);
  const slice = gpuProfile().xentSlice;
  const slices = (entryPoint: string, buffers: (StorageBinding | null)[]) => {
    for (let j0 = 0; j0 < a.len; j0 += slice) {
      rt.dispatch({
        kernel: "xent",
        entryPoint,
        constants: entryPoint === "backward_slice" ? { SCALAR_DY: constants.SCALAR_DY } : undefined,
        uniforms: uniforms(j0, Math.min(a.len, j0 + slice)),
        buffers,
        workgroups: grid2d(a.rows),
      });
    }
  };
  slices("stats_max", [x, null, null, null, null, st]);
  slices("stats_sum", [x, l, null, null, null, st]);
  if (direction === "forward") {
    rt.dispatch({
      kernel: "xent",
      entryPoint: "loss_rows",
      uniforms: uniforms(),
      buffers: [x, l, y, null, null, st],
      workgroups: grid2d(Math.ceil(a.rows / 64)),
    });
  } else {
    slices("backward_slice", [x, l, null, dy, dx, st, null, null, sc]);
  }
  rt.free(st);
}

/** The gradient op (no gradient of its own: second derivatives of nll are not supported). */
export const xentGradOp = defineOp<XentAttrs>({
  name: "xent_grad",
  cpu: ([x, l, dy], a) => xentGradCpu(x, l, dy, a),
  wasm: ([x, l, dy], a) => xentWasm(x, l, dy, a),
  gpu: ([x, l, dy], a) => {
    const dx = emptyGpu([a.rows, a.len]);
    if (dx.size === 0) return dx;
    dispatchXent("backward", a, [
      x.binding("xent_grad"),
      l.binding("xent_grad"),
      null,
      dy.binding("xent_grad"),
      dx.binding("xent_grad"),
    ]);
    return dx;
  },
});

/** The fused op: inputs [scores [N, C], labels [N]] → per-instance loss [N]. */
export const xentOp: OpDef<XentAttrs> = defineOp<XentAttrs>({
  name: "xent",
  cpu: ([x, l], a) => xentCpu(x, l, a),
  wasm: ([x, l], a) => xentWasm(x, l, null, a),
  gpu: ([x, l], a) => {
    const y = emptyGpu([a.rows]);
    if (y.size === 0) return y;
    const rt = gpuRuntime();
    // [N, 0] scores have rows but no data: bind the dummy (every label is then skipped
    // or out of range).
    dispatchXent("forward", a, [
      x.size > 0 ? x.binding("xent") : rt.dummy,
      l.binding("xent"),
      y.binding("xent"),
    ]);
    return y;
  },
  backward: (dy, [x, l], _y, a, needs) => [
    needs[0] ? runOp(xentGradOp, [x, l, dy], a) : null,
    null,
  ],
});

/**
 * Checks that `scores` is [N, C] and `labels` is [N] on the same device; returns the
 * labels in the scores' dtype (CPU f64 scores take f32 labels; the copy is the caller's).
 * Errors name `op` and both shapes.
 */
export function checkScoresLabels(op: string, scores: Tensor, labels: Tensor): Tensor {
  checkInputs(op, [scores]);
  checkInputs(op, [labels]);
  if (scores.rank !== 2) {
    throw new Error(
      `${op}: scores must be 2-D [instances, classes], got ${describe(scores)} ` +
        `(labels ${describe(labels)})`,
    );
  }
  if (labels.rank !== 1 || labels.shape[0] !== scores.shape[0]) {
    throw new Error(
      `${op}: labels ${describe(labels)} do not match scores ${describe(scores)}: expected ` +
        `labels of shape [${scores.shape[0]}] (one class index per instance)`,
    );
  }
  if (labels.device !== scores.device) {
    throw new Error(
      `${op}: scores ${describe(scores)} and labels ${describe(labels)} are on different ` +
        "devices; move them with .gpu() or await .cpu()",
    );
  }
  return labels.dtype === scores.dtype ? labels : labels.asType(scores.dtype);
}

/** Labels one check dispatch covers (256 threads, well below llvmpipe's loop cap). */
const CHECK_SLICE = 256 * 16384;

/**
 * Checks GPU class labels on the device: each must be negative (skip) or an integer in
 * [0, classes). Dispatches kernels/check.wgsl (one dispatch per 4M labels) and no host
 * sync; the next readback throws the Error the CPU would, naming `op`, the first bad
 * label and its instance. Does nothing for CPU labels (their ops check them directly).
 */
export function checkLabelsGpu(op: string, labels: Tensor, classes: number): void {
  if (labels.device !== "gpu" || labels.size === 0) return;
  const rt = gpuRuntime();
  const { record, code } = rt.armCheck(
    `labels ${op} ${classes}`,
    (i, v) =>
      `${op}: label ${v} of instance ${i} is not a class index: expected an integer in ` +
      `[0, ${classes - 1}] (or a negative label to skip the instance) (checked on the GPU, ` +
      "reported at the next readback)",
  );
  for (let b = 0; b < labels.size; b += CHECK_SLICE) {
    rt.dispatch({
      kernel: "check",
      entryPoint: "labels",
      uniforms: new UniformWriter().u32(b).u32(Math.min(labels.size, b + CHECK_SLICE))
        .u32(classes).u32(code).build(),
      buffers: [labels.binding(op), record],
      workgroups: [1],
    });
  }
}

/**
 * Per-instance softmax cross-entropy `logsumexp(scores[i, :]) − scores[i, labels[i]]`
 * ([N]; 0 where `labels[i] < 0`), differentiable in `scores`. `scores` is [N, C],
 * `labels` [N] of 0-based class indices as floats on the same device (f32 labels are
 * accepted with f64 CPU scores). CPU labels must be integers below C (else an Error);
 * GPU labels are checked on the device and a bad one throws at the next readback (and
 * gives NaN for its instance meanwhile, see the module doc).
 */
export function xent(scores: Tensor, labels: Tensor): Tensor {
  const l = checkScoresLabels("xent", scores, labels);
  checkLabelsGpu("xent", l, scores.shape[1]);
  try {
    return runOp(xentOp, [scores, l], { rows: scores.shape[0], len: scores.shape[1] });
  } finally {
    if (l !== labels) l.dispose();
  }
}
