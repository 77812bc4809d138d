/**
 * The fused `nll` reduction: the softmax cross-entropy of every instance summed (or
 * averaged over the counted instances) into one scalar, and its gradient, as two GPU
 * dispatches forward (per-row losses, then one workgroup that totals them, counts the
 * kept labels and checks them) and one backward (the per-row gradient scaled by the
 * scalar upstream gradient on the device). Composed from ops, the same loss took the
 * label check, xent, a sum, a count and a division forward, and a division, a broadcast
 * and xent's gradient backward: 9 dispatches instead of 3.
 *
 * On the CPU (both backends) the op is that composition: dispatches cost nothing there,
 * and each piece has its own kernel.
 *
 * @module
 */

import { gpuRuntime } from "../gpu/runtime.ts";
import { UniformWriter } from "../gpu/uniforms.ts";
import { emptyGpu, GpuStorage, Tensor } from "../tensor/tensor.ts";
import { binary } from "./elementwise.ts";
import { sum } from "./reduce.ts";
import { defineOp, type OpDef, runOp } from "./registry.ts";
import { broadcastTo } from "./shape.ts";
import { checkLabelsGpu, dispatchXent, NAN_BITS, xentGradOp, xentOp } from "./xent.ts";

/** Attributes of {@link xentTotalOp}: the scores as [rows, len], and mean or total. */
export interface XentTotalAttrs {
  /** Instances N. */
  rows: number;
  /** Classes C. */
  len: number;
  /** Divide by the number of counted instances (labels ≥ 0). */
  average: boolean;
}

/**
 * Rows one `total` workgroup sums (its loop runs ceil(rows / 256) times, far below
 * llvmpipe's ~65 535-iteration cap); more rows take the composed path.
 */
const TOTAL_MAX_ROWS = 256 * 32768;

/** The number of counted instances (labels ≥ 0), on the labels' device. */
export function countKept(labels: Tensor): Tensor {
  const kept = binary("ge", labels, 0);
  const n = sum(kept);
  kept.dispose();
  return n;
}

/** The loss composed from ops (the CPU implementation and the GPU one for huge N). */
function composedTotal(scores: Tensor, labels: Tensor, a: XentTotalAttrs): Tensor {
  const per = runOp(xentOp, [scores, labels], { rows: a.rows, len: a.len });
  const total = sum(per);
  per.dispose();
  if (!a.average) return total;
  const n = countKept(labels);
  const out = binary("div", total, n);
  total.dispose();
  n.dispose();
  return out;
}

/** Its gradient composed from ops: xent's gradient under dy (÷ count when averaging). */
function composedGrad(scores: Tensor, labels: Tensor, dy: Tensor, a: XentTotalAttrs): Tensor {
  const n = a.average ? countKept(labels) : null;
  const scaled = n ? binary("div", dy, n) : dy;
  const rows = broadcastTo(scaled, [a.rows]);
  const dx = runOp(xentGradOp, [scores, labels, rows], { rows: a.rows, len: a.len });
  for (const t of [n, scaled === dy ? null : scaled, rows === scaled ? null : rows]) t?.dispose();
  return dx;
}

/**
 * Labels on the GPU are checked by the `total` dispatch itself: a bad one throws at the
 * next readback (and makes the loss NaN meanwhile), as {@link checkLabelsGpu} would.
 */
function totalGpu(scores: Tensor, labels: Tensor, a: XentTotalAttrs): Tensor {
  if (a.rows === 0 || a.rows > TOTAL_MAX_ROWS) {
    checkLabelsGpu("nll", labels, a.len);
    return composedTotal(scores, labels, a);
  }
  const rt = gpuRuntime();
  const per = rt.alloc(a.rows * 4);
  const x = scores.size > 0 ? scores.binding("nll") : rt.dummy;
  dispatchXent("forward", a, [x, labels.binding("nll"), per]);
  const { record, code } = rt.armCheck(
    `labels nll ${a.len}`,
    (i, v) =>
      `nll: label ${v} of instance ${i} is not a class index: expected an integer in ` +
      `[0, ${a.len - 1}] (or a negative label to skip the instance) (checked on the GPU, ` +
      "reported at the next readback)",
  );
  // A scalar whose buffer also holds the gradient scale at element 1 (see xent.wgsl).
  const out = new Tensor([], "f32", new GpuStorage(rt, rt.alloc(8), 4));
  rt.dispatch({
    kernel: "xent",
    entryPoint: "total",
    uniforms: new UniformWriter().u32(a.rows).u32(a.len).u32(NAN_BITS).u32(0).u32(0)
      .u32(code).u32(a.average ? 1 : 0).build(),
    buffers: [null, labels.binding("nll"), per, null, null, null, record, out.binding("nll")],
    workgroups: [1],
  });
  rt.free(per);
  return out;
}

/** The gradient op: inputs [scores, labels, dy [], the forward's output]. */
const xentTotalGradOp = defineOp<XentTotalAttrs>({
  name: "xent_total_grad",
  cpu: ([x, l, dy], a) => composedGrad(x, l, dy, a),
  wasm: ([x, l, dy], a) => composedGrad(x, l, dy, a),
  gpu: ([x, l, dy, y], a) => {
    if (a.rows === 0 || a.rows > TOTAL_MAX_ROWS) return composedGrad(x, l, dy, a);
    const dx = emptyGpu([a.rows, a.len]);
    if (dx.size === 0) return dx;
    dispatchXent(
      "backward",
      a,
      [x.binding("nll"), l.binding("nll"), null, dy.binding("nll"), dx.binding("nll")],
      y.binding("nll"),
    );
    return dx;
  },
});

/**
 * The fused loss: inputs [scores [N, C], labels [N]] → the total of the per-instance
 * softmax cross-entropies, or their mean over the counted instances (NaN when none is),
 * differentiable in the scores.
 */
export const xentTotalOp: OpDef<XentTotalAttrs> = defineOp<XentTotalAttrs>({
  name: "xent_total",
  cpu: ([x, l], a) => composedTotal(x, l, a),
  wasm: ([x, l], a) => composedTotal(x, l, a),
  gpu: ([x, l], a) => totalGpu(x, l, a),
  backward: (dy, [x, l], y, a, needs) => [
    needs[0] ? runOp(xentTotalGradOp, [x, l, dy, y], a) : null,
    null,
  ],
});
