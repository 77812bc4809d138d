/**
 * One time step of a recurrent layer (Knet's and cuDNN's formulas): the reference cell
 * that the fused kernels (kernels/rnn_cell.wgsl, kernels/cpu/rnn_cell.c) must match.
 *
 * A recurrent layer runs, for each time step t, one GEMM for the recurrent projection
 * `hg = h_prev·Rᵀ` and then one fused cell ({@link cellForward}): gate pre-activations
 * `xg + hg + bR` (the input projection `xg = x·Wᵀ + bW` of all steps comes from one GEMM
 * before the loop), the nonlinearities, the state update, and the values the backward
 * pass needs. The backward step ({@link cellBackward}) turns the gradient of h_t (and of
 * c_t) into gate gradients, after which one GEMM gives the gradient of h_prev.
 *
 * Only the first `rows` rows of the states take part in a step: with Knet's `batchSizes`
 * the batch shrinks over time (forward direction) or grows (reverse direction), and
 * rows outside a step keep their state untouched, which makes the states at the end the
 * final states of every sequence.
 *
 * Gates per row, each H wide, in cuDNN/Knet order (`G` gates, `S` saved vectors):
 * - relu/tanh (G = 1, S = 1): h = act(xg + hg + bR); saved [h]
 * - lstm (G = 4: i, f, g, o; S = 6): i,f,o = σ(·), g = tanh(·), c = f⊙c_prev + i⊙g,
 *   h = o⊙tanh(c); saved [i, f, g, o, c_prev, c]
 * - gru (G = 3: r, z, n; S = 4): r,z = σ(xg + hg + bR), hn = hg_n + bR_n,
 *   n = tanh(xg_n + r⊙hn), h = (1 − z)⊙n + z⊙h_prev; saved [r, z, n, hn]
 *
 * Every buffer argument is a tensor plus an element offset, so one step reads and writes
 * slices of whole-sequence buffers without views (a GPU binding offset must be 256-byte
 * aligned, a step's slice need not be).
 *
 * @module
 */

import type { HostArray, Tensor } from "../tensor/tensor.ts";

/** Recurrent cell types (Knet's `rnnType`). */
export type RnnMode = "relu" | "tanh" | "lstm" | "gru";

/** Gates per cell type: the width of the projections is G·H. */
export const RNN_GATES: Readonly<Record<RnnMode, number>> = { relu: 1, tanh: 1, lstm: 4, gru: 3 };

/** Vectors (each H wide) a forward step saves per row for the backward pass. */
export const RNN_SAVED: Readonly<Record<RnnMode, number>> = { relu: 1, tanh: 1, lstm: 6, gru: 4 };

/** Kernel code of a cell type (the `mode` uniform / argument of the fused kernels). */
export const RNN_MODE_CODE: Readonly<Record<RnnMode, number>> = {
  relu: 0,
  tanh: 1,
  lstm: 2,
  gru: 3,
};

/** Arguments of one forward step; element offsets, row-major. */
export interface CellForwardArgs {
  mode: RnnMode;
  /** Active rows of this step (≤ the state's batch). */
  rows: number;
  /** Hidden size. */
  H: number;
  /** Input projections of this step, [rows, G·H] at `xgOff`: x·Wᵀ + bW. */
  xg: Tensor;
  xgOff: number;
  /** Recurrent projections, [rows, G·H] at 0: h_prev·Rᵀ (no bias). */
  hg: Tensor;
  /** Recurrent bias bR, [G·H] at 0. */
  bR: Tensor;
  /** Hidden state [B, H]: rows 0..rows−1 are read as h_prev and overwritten with h_t. */
  h: Tensor;
  /** LSTM cell state [B, H], read and overwritten like `h`; null for other types. */
  c: Tensor | null;
  /** Output: h_t is written at y[yOff + b·yStride + j]. */
  y: Tensor;
  yOff: number;
  yStride: number;
  /** h_prev is written at hPrev[hPrevOff + b·H + j] (the rows of the dR GEMM). */
  hPrev: Tensor;
  hPrevOff: number;
  /** Saved values, [rows, S·H] at `savedOff` (see the module comment). */
  saved: Tensor;
  savedOff: number;
}

/** Arguments of one backward step; element offsets, row-major. */
export interface CellBackwardArgs {
  mode: RnnMode;
  rows: number;
  H: number;
  /** Gradient of the step's outputs, read at dy[dyOff + b·dyStride + j]. */
  dy: Tensor;
  dyOff: number;
  dyStride: number;
  /**
   * Gradient of h_t from later steps (or of the final state), [B, H], rows 0..rows−1.
   * GRU overwrites those rows with z⊙dh, the direct part of the gradient of h_prev (the
   * GEMM that follows adds dHgStep·R onto it); the other types leave it unchanged (the
   * GEMM overwrites it).
   */
  dh: Tensor;
  /** LSTM: gradient of c_t in, gradient of c_prev out ([B, H], rows 0..rows−1). */
  dc: Tensor | null;
  /** The forward step's saved values and h_prev (as in {@link CellForwardArgs}). */
  saved: Tensor;
  savedOff: number;
  hPrev: Tensor;
  hPrevOff: number;
  /** Output: gradients of the gate pre-activations on the input side, [rows, G·H]. */
  dXg: Tensor;
  dXgOff: number;
  /**
   * GRU only (null otherwise): the recurrent-side gate gradients [rows, G·H] at `dHgOff`
   * (they differ from dXg in the n gate: r⊙dn). For the other types they equal dXg.
   */
  dHg: Tensor | null;
  dHgOff: number;
  /** Output: the recurrent-side gate gradients of this step again, [rows, G·H] at 0. */
  dHgStep: Tensor;
}

const sigm = (x: number) => 1 / (1 + Math.exp(-x));

/** Forward step on CPU tensors (f32 or f64), computed in f64: the reference. */
export function cellForwardRef(a: CellForwardArgs): void {
  const { rows, H, mode } = a;
  const G = RNN_GATES[mode], S = RNN_SAVED[mode];
  const xg = a.xg.host(), hg = a.hg.host(), bR = a.bR.host(), h = a.h.host();
  const c: HostArray | null = a.c ? a.c.host() : null;
  const y = a.y.host(), hp = a.hPrev.host(), sv = a.saved.host();
  for (let b = 0; b < rows; b++) {
    const gx = a.xgOff + b * G * H, gh = b * G * H, s = a.savedOff + b * S * H;
    for (let j = 0; j < H; j++) {
      const pre = (k: number) => xg[gx + k * H + j] + hg[gh + k * H + j] + bR[k * H + j];
      const hprev = h[b * H + j];
      let hn: number;
      if (mode === "relu" || mode === "tanh") {
        const v = pre(0);
        hn = mode === "relu" ? (v > 0 ? v : v === v ? 0 : v) : Math.tanh(v);
        sv[s + j] = hn;
      } else if (mode === "lstm") {
        const i = sigm(pre(0)), f = sigm(pre(1)), g = Math.tanh(pre(2)), o = sigm(pre(3));
        const cp = c![b * H + j];
        const cn = f * cp + i * g;
        hn = o * Math.tanh(cn);
        sv[s + j] = i;
        sv[s + H + j] = f;
        sv[s + 2 * H + j] = g;
        sv[s + 3 * H + j] = o;
        sv[s + 4 * H + j] = cp;
        sv[s + 5 * H + j] = cn;
        c![b * H + j] = cn;
      } else {
        const r = sigm(pre(0)), z = sigm(pre(1));
        const hnn = hg[gh + 2 * H + j] + bR[2 * H + j];
        const n = Math.tanh(xg[gx + 2 * H + j] + r * hnn);
        hn = (1 - z) * n + z * hprev;
        sv[s + j] = r;
        sv[s + H + j] = z;
        sv[s + 2 * H + j] = n;
        sv[s + 3 * H + j] = hnn;
      }
      hp[a.hPrevOff + b * H + j] = hprev;
      h[b * H + j] = hn;
      y[a.yOff + b * a.yStride + j] = hn;
    }
  }
}

/** Backward step on CPU tensors (f32 or f64), computed in f64: the reference. */
export function cellBackwardRef(a: CellBackwardArgs): void {
  const { rows, H, mode } = a;
  const G = RNN_GATES[mode], S = RNN_SAVED[mode];
  const dy = a.dy.host(), dh = a.dh.host(), sv = a.saved.host(), hp = a.hPrev.host();
  const dc: HostArray | null = a.dc ? a.dc.host() : null;
  const dXg = a.dXg.host(), dStep = a.dHgStep.host();
  const dHg: HostArray | null = a.dHg ? a.dHg.host() : null;
  for (let b = 0; b < rows; b++) {
    const s = a.savedOff + b * S * H, gx = a.dXgOff + b * G * H, gs = b * G * H;
    for (let j = 0; j < H; j++) {
      const g = dy[a.dyOff + b * a.dyStride + j] + dh[b * H + j];
      if (mode === "relu" || mode === "tanh") {
        const hn = sv[s + j];
        const d = mode === "relu" ? (hn > 0 ? g : 0) : g * (1 - hn * hn);
        dXg[gx + j] = d;
        dStep[gs + j] = d;
      } else if (mode === "lstm") {
        const i = sv[s + j], f = sv[s + H + j], gg = sv[s + 2 * H + j], o = sv[s + 3 * H + j];
        const cp = sv[s + 4 * H + j], cn = sv[s + 5 * H + j];
        const tc = Math.tanh(cn);
        const dcn = dc![b * H + j] + g * o * (1 - tc * tc);
        const d = [
          dcn * gg * i * (1 - i),
          dcn * cp * f * (1 - f),
          dcn * i * (1 - gg * gg),
          g * tc * o * (1 - o),
        ];
        for (let k = 0; k < 4; k++) {
          dXg[gx + k * H + j] = d[k];
          dStep[gs + k * H + j] = d[k];
        }
        dc![b * H + j] = dcn * f;
      } else {
        const r = sv[s + j], z = sv[s + H + j], n = sv[s + 2 * H + j], hnn = sv[s + 3 * H + j];
        const hprev = hp[a.hPrevOff + b * H + j];
        const dnPre = g * (1 - z) * (1 - n * n);
        const dzPre = g * (hprev - n) * z * (1 - z);
        const drPre = dnPre * hnn * r * (1 - r);
        dXg[gx + j] = drPre;
        dXg[gx + H + j] = dzPre;
        dXg[gx + 2 * H + j] = dnPre;
        const rec = [drPre, dzPre, dnPre * r];
        for (let k = 0; k < 3; k++) {
          dStep[gs + k * H + j] = rec[k];
          if (dHg) dHg[a.dHgOff + b * G * H + k * H + j] = rec[k];
        }
        dh[b * H + j] = g * z;
      }
    }
  }
}
