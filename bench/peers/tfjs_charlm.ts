/**
 * Peer run of CharLM in TensorFlow.js (the CharLM row of `bench/knet_table.ts`), in the same
 * process as denet, on tfjs' WebGPU or WASM backend (`loadTfjs` of `./tfjs_train.ts`).
 *
 * The model is built from tfjs' own LSTM op, `tf.basicLSTMCell`, one call per time step:
 * the embedding as a product of one-hot rows with the table (tfjs-backend-wasm 4.22.0 has
 * no `UnsortedSegmentSum`, the gradient of `tf.gather`), the cell over 100 steps, the output layer on all steps at
 * once, `tf.losses.softmaxCrossEntropy`, and `tf.train.adam` (Knet's betas and eps)
 * through `optimizer.minimize`. The LSTM state is carried from window to window as plain
 * tensors (no gradient into the previous window), as denet and PyTorch do.
 *
 * Layouts: `basicLSTMCell` multiplies [x, h] by one kernel [X + H, 4H] whose gate blocks
 * are i, j (the candidate), f, o, and adds one bias; denet's W [4H, X] and R [4H, H] stack
 * i, f, c (the candidate), o. So the kernel is [Wᵀ; Rᵀ] with the gate blocks reordered
 * (i, c, f, o), the bias is bW + bR (two variables, reordered the same way, so that Adam
 * updates each as denet and PyTorch do), and the forget bias argument is 0. The output layer's weight [H, V] and the embedding [V, E] are as denet's.
 *
 * @module
 */

import type { HostWeight } from "../knet_models.ts";
import type { Tf, TrainResult } from "./tfjs_train.ts";

/** What {@link tfjsCharLM} runs: consecutive BPTT windows of token ids. */
export interface TfjsCharLMPlan {
  /** Windows, each x and y [T·B] ids, time-major (row t·B + b). */
  windows: { x: Int32Array; y: Int32Array }[];
  /** Streams per window (B). */
  batch: number;
  /** Steps per window (T). */
  seqLength: number;
  /** Adam's learning rate. */
  lr: number;
  /** Untimed windows first, on a throwaway copy of the model (compiles shaders). */
  warmupSteps: number;
}

const GATE_ORDER = [0, 2, 1, 3]; // tfjs blocks i, j, f, o from denet's i, f, c, o

/** [rows, 4H] values of `w` ([4H, cols] row-major) transposed, gate blocks reordered. */
function kernelBlock(w: HostWeight, H: number): Float32Array {
  const [G, cols] = w.shape;
  const out = new Float32Array(cols * G);
  for (let g = 0; g < 4; g++) {
    const src = GATE_ORDER[g];
    for (let j = 0; j < H; j++) {
      for (let k = 0; k < cols; k++) out[k * G + g * H + j] = w.values[(src * H + j) * cols + k];
    }
  }
  return out;
}

/** The tfjs variables of a CharLM from denet's weights (see the module doc). */
function makeModel(tf: Tf, weights: readonly HostWeight[]) {
  const w = Object.fromEntries(weights.map((x) => [x.name, x]));
  const [V, E] = w.embed.shape;
  const H = w.R.shape[1];
  const kernel = new Float32Array((E + H) * 4 * H);
  kernel.set(kernelBlock(w.W, H), 0);
  kernel.set(kernelBlock(w.R, H), E * 4 * H);
  const reorder = (b: Float32Array) => {
    const out = new Float32Array(4 * H);
    for (let g = 0; g < 4; g++) {
      out.set(b.subarray(GATE_ORDER[g] * H, GATE_ORDER[g] * H + H), g * H);
    }
    return tf.variable(tf.tensor1d(out));
  };
  return {
    V,
    H,
    embed: tf.variable(tf.tensor2d(w.embed.values, [V, E])),
    kernel: tf.variable(tf.tensor2d(kernel, [E + H, 4 * H])),
    bW: reorder(w.bW.values),
    bR: reorder(w.bR.values),
    outW: tf.variable(tf.tensor2d(w.outW.values, w.outW.shape)),
    outB: tf.variable(tf.tensor1d(w.outB.values)),
  };
}

/**
 * Trains a tfjs CharLM from `weights` (denet's, see `charlmWeights`) over `plan.windows`
 * on tfjs' current backend; the clock covers the windows and one readback of the summed
 * loss at the end. `finalLoss` is the mean loss over the timed windows.
 */
export async function tfjsCharLM(
  tf: Tf,
  weights: readonly HostWeight[],
  plan: TfjsCharLMPlan,
): Promise<TrainResult> {
  const { batch: B, seqLength: T } = plan;
  const run = async (windows: TfjsCharLMPlan["windows"]) => {
    const m = makeModel(tf, weights);
    const opt = tf.train.adam(plan.lr, 0.9, 0.999, 1e-8);
    let h = tf.zeros([B, m.H]), c = tf.zeros([B, m.H]);
    let total = tf.scalar(0);
    for (const win of windows) {
      const x = tf.tensor1d(win.x, "int32");
      const xHot = tf.cast(tf.oneHot(x, m.V), "float32");
      const y = tf.oneHot(tf.tensor1d(win.y, "int32"), m.V);
      let hNext = h, cNext = c;
      const cost = opt.minimize(() => {
        const emb = tf.matMul(xHot, m.embed); // [T·B, E]: the rows of the embedding
        const steps = tf.split(emb, T, 0); // T × [B, E]
        const bias = tf.add(m.bW, m.bR); // two biases, each trained, as in denet and PyTorch
        let hh = h, cc = c;
        const outs = [];
        for (const xt of steps) {
          [cc, hh] = tf.basicLSTMCell(0, m.kernel, bias, xt, cc, hh);
          outs.push(hh);
        }
        hNext = tf.keep(hh);
        cNext = tf.keep(cc);
        const logits = tf.add(tf.matMul(tf.concat(outs, 0), m.outW), m.outB);
        return tf.losses.softmaxCrossEntropy(y, logits);
      }, true);
      h.dispose();
      c.dispose();
      h = hNext;
      c = cNext;
      const next = tf.add(total, cost);
      total.dispose();
      cost.dispose();
      x.dispose();
      xHot.dispose();
      y.dispose();
      total = next;
    }
    const sum = (await total.data())[0];
    for (const t of [h, c, total, m.embed, m.kernel, m.bW, m.bR, m.outW, m.outB]) t.dispose();
    opt.dispose();
    return sum / Math.max(windows.length, 1);
  };
  if (plan.warmupSteps > 0) await run(plan.windows.slice(0, plan.warmupSteps));
  const t0 = performance.now();
  const mean = await run(plan.windows);
  const seconds = (performance.now() - t0) / 1000;
  return {
    seconds,
    steps: plan.windows.length,
    finalLoss: mean,
    testAccuracy: null,
    readbacks: 1,
    note: "",
  };
}
