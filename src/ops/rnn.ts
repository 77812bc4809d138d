/**
 * One recurrent layer (both directions when bidirectional) as one differentiable op,
 * `rnn_layer`: the building block of {@link RNN} (src/layers/rnn.ts).
 *
 * Per direction, the input projection of every time step is one GEMM (x·Wᵀ + bW); each
 * time step is then one GEMM (h_prev·Rᵀ) and one fused cell kernel (src/ops/rnn_cell.ts,
 * src/ops/rnn_cell_kernels.ts), which saves what the backward pass needs. The backward
 * pass walks the steps in reverse with one fused cell-backward kernel and one GEMM per
 * step, then forms the weight gradients as whole-sequence GEMMs and sums.
 *
 * Layout (row-major, time-major): the input is [N, X] with the rows of time step t at
 * offset Σ_{s<t} batchSizes[s] (all B rows when the batch is fixed), states are [B·H]
 * per direction. The op's output is one flat tensor packing y [N, H·dirs] (directions
 * side by side), then the final hidden states [dirs, B, H], then (LSTM) the final cell
 * states [dirs, B, H]; {@link rnnLayer} slices it.
 *
 * @module
 */

import type { Tape } from "../autograd/tape.ts";
import { activeTape } from "../autograd/tape.ts";
import { backendOf } from "../backend.ts";
import { keep } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { add } from "./math.ts";
import { gemm } from "./matmul.ts";
import { sum } from "./reduce.ts";
import { defineOp, runOp } from "./registry.ts";
import { slice } from "./shape.ts";
import { RNN_GATES, RNN_SAVED, type RnnMode } from "./rnn_cell.ts";
import { cellBackward, cellForward } from "./rnn_cell_kernels.ts";

/** Attributes of one `rnn_layer` call. */
export interface RnnLayerAttrs {
  mode: RnnMode;
  /** Hidden size. */
  H: number;
  /** Input features per row. */
  X: number;
  /** 1 or 2 (bidirectional: the second direction runs backwards in time). */
  dirs: number;
  /** Rows per time step (non-increasing; all equal to B for a fixed batch). */
  batchSizes: readonly number[];
  /** The tape that will run the backward pass (it frees the saved values), or null. */
  tape: Tape | null;
  /** Set by the forward pass when `tape` is given: what the backward pass reuses. */
  saved?: Saved[];
}

/** What the forward pass keeps for the backward pass, per direction. */
interface Saved {
  saved: Tensor;
  hPrev: Tensor;
}

/** Inputs per direction: W, R, bW, bR, h0 and (LSTM) c0. */
function perDir(mode: RnnMode): number {
  return mode === "lstm" ? 6 : 5;
}

/** Row offsets of the time steps, and the total row count N. */
function stepOffsets(bs: readonly number[]): { offs: number[]; N: number } {
  const offs: number[] = [];
  let N = 0;
  for (const b of bs) {
    offs.push(N);
    N += b;
  }
  return { offs, N };
}

/** Time steps in the order direction `d` visits them. */
function order(T: number, d: number): number[] {
  const ts = Array.from({ length: T }, (_, t) => t);
  return d === 0 ? ts : ts.reverse();
}

/** Elements of the packed output of {@link rnnLayerOp}. */
export function packedSize(a: RnnLayerAttrs): number {
  const { N } = stepOffsets(a.batchSizes);
  const B = a.batchSizes[0] ?? 0;
  const states = a.mode === "lstm" ? 2 : 1;
  return N * a.H * a.dirs + states * a.dirs * B * a.H;
}

function forward(inputs: readonly Tensor[], a: RnnLayerAttrs): Tensor {
  const x = inputs[0];
  const be = backendOf(x.device);
  const { mode, H, dirs } = a;
  const G = RNN_GATES[mode], S = RNN_SAVED[mode], P = perDir(mode);
  const { offs, N } = stepOffsets(a.batchSizes);
  const T = a.batchSizes.length, B = a.batchSizes[0] ?? 0;
  const out = be.empty([packedSize(a)], x.dtype);
  const hyOff = N * H * dirs, cyOff = hyOff + dirs * B * H;
  const kept: Saved[] = [];
  for (let d = 0; d < dirs; d++) {
    const [W, R, bW, bR, h0] = inputs.slice(1 + d * P, 1 + (d + 1) * P);
    const c0 = mode === "lstm" ? inputs[1 + d * P + 5] : null;
    const proj = gemm(x, W, { transB: true });
    const xg = add(proj, bW);
    proj.dispose();
    const h = be.empty([B * H], x.dtype);
    be.copy(h0, 0, h, 0, B * H);
    let c: Tensor | null = null;
    if (c0) {
      c = be.empty([B * H], x.dtype);
      be.copy(c0, 0, c, 0, B * H);
    }
    // Kept past the caller's tidy scopes: the tape frees them when it closes.
    const saved = keep(be.empty([N * S * H], x.dtype));
    const hPrev = keep(be.empty([N * H], x.dtype));
    for (const t of order(T, d)) {
      const rows = a.batchSizes[t], off = offs[t];
      const hRows = be.view(h, 0, [rows, H]);
      const hg = gemm(hRows, R, { transB: true });
      cellForward({
        mode,
        rows,
        H,
        xg,
        xgOff: off * G * H,
        hg,
        bR,
        h,
        c,
        y: out,
        yOff: off * H * dirs + d * H,
        yStride: H * dirs,
        hPrev,
        hPrevOff: off * H,
        saved,
        savedOff: off * S * H,
      });
      hg.dispose();
      hRows.dispose();
    }
    xg.dispose();
    be.copy(h, 0, out, hyOff + d * B * H, B * H);
    h.dispose();
    if (c) {
      be.copy(c, 0, out, cyOff + d * B * H, B * H);
      c.dispose();
    }
    kept.push({ saved, hPrev });
  }
  const free = () => {
    for (const k of kept) {
      k.saved.dispose();
      k.hPrev.dispose();
    }
  };
  if (a.tape) {
    a.saved = kept;
    a.tape.onClose(free);
  } else {
    free();
  }
  return out;
}

function backward(
  dOut: Tensor,
  inputs: readonly Tensor[],
  _out: Tensor,
  a: RnnLayerAttrs,
  needs: readonly boolean[],
): (Tensor | null)[] {
  const kept = a.saved;
  if (!kept || kept.some((k) => k.saved.disposed)) {
    throw new Error("rnn_layer: the forward pass's saved values are gone (backward ran twice?)");
  }
  const x = inputs[0];
  const be = backendOf(x.device);
  const { mode, H, dirs } = a;
  const G = RNN_GATES[mode], S = RNN_SAVED[mode], P = perDir(mode);
  const { offs, N } = stepOffsets(a.batchSizes);
  const T = a.batchSizes.length, B = a.batchSizes[0] ?? 0;
  const hyOff = N * H * dirs, cyOff = hyOff + dirs * B * H;
  const grads: (Tensor | null)[] = inputs.map(() => null);
  let dx: Tensor | null = null;
  for (let d = 0; d < dirs; d++) {
    const base = 1 + d * P;
    const [W, R] = inputs.slice(base, base + 2);
    const { saved, hPrev } = kept[d];
    let dh = be.empty([B * H], x.dtype);
    be.copy(dOut, hyOff + d * B * H, dh, 0, B * H);
    let dc: Tensor | null = null;
    if (mode === "lstm") {
      dc = be.empty([B * H], x.dtype);
      be.copy(dOut, cyOff + d * B * H, dc, 0, B * H);
    }
    const dXg = be.empty([N, G * H], x.dtype);
    const dHg = mode === "gru" ? be.empty([N, G * H], x.dtype) : null;
    for (const t of order(T, d).reverse()) {
      const rows = a.batchSizes[t], off = offs[t];
      const dStep = be.empty([rows, G * H], x.dtype);
      cellBackward({
        mode,
        rows,
        H,
        dy: dOut,
        dyOff: off * H * dirs + d * H,
        dyStride: H * dirs,
        dh,
        dc,
        saved,
        savedOff: off * S * H,
        hPrev,
        hPrevOff: off * H,
        dXg,
        dXgOff: off * G * H,
        dHg,
        dHgOff: off * G * H,
        dHgStep: dStep,
      });
      // dh_prev = dStep·R (+ z⊙dh for GRU, which the cell left in dh)
      const direct = mode === "gru" ? be.view(dh, 0, [rows, H]) : undefined;
      const dPrev = gemm(dStep, R, direct ? { c: direct, beta: 1 } : {});
      direct?.dispose();
      dStep.dispose();
      if (rows === B) {
        dh.dispose();
        dh = dPrev.reshape(B * H);
        dPrev.dispose();
      } else {
        be.copy(dPrev, 0, dh, 0, rows * H);
        dPrev.dispose();
      }
    }
    const dRec = dHg ?? dXg;
    const xMat = x.rank === 2 ? x : x.reshape(N, a.X);
    if (needs[base]) grads[base] = gemm(dXg, xMat, { transA: true });
    if (needs[base + 1]) grads[base + 1] = gemm(dRec, hPrev.reshape(N, H), { transA: true });
    if (needs[base + 2]) grads[base + 2] = sum(dXg, 0);
    if (needs[base + 3]) grads[base + 3] = sum(dRec, 0);
    if (needs[base + 4]) grads[base + 4] = dh;
    else dh.dispose();
    if (dc) {
      if (needs[base + 5]) grads[base + 5] = dc;
      else dc.dispose();
    }
    if (needs[0]) {
      const part = gemm(dXg, W);
      if (dx) {
        const s = add(dx, part);
        dx.dispose();
        part.dispose();
        dx = s;
      } else {
        dx = part;
      }
    }
    dXg.dispose();
    dHg?.dispose();
  }
  if (needs[0]) grads[0] = dx!.reshape(x.shape);
  return grads;
}

/** The recurrent layer op; see the module comment. */
export const rnnLayerOp = defineOp<RnnLayerAttrs>({
  name: "rnn_layer",
  cpu: forward,
  gpu: forward,
  backward,
});

/** Parameters and initial states of one direction of a layer. */
export interface RnnDirInputs {
  /** Input weights [G·H, X] (gates stacked in Knet's order). */
  W: Tensor;
  /** Recurrent weights [G·H, H]. */
  R: Tensor;
  /** Input-side bias [G·H]. */
  bW: Tensor;
  /** Recurrent-side bias [G·H]. */
  bR: Tensor;
  /** Initial hidden state [B·H]. */
  h0: Tensor;
  /** Initial cell state [B·H] (LSTM only). */
  c0?: Tensor;
}

/** The outputs of {@link rnnLayer}. */
export interface RnnLayerResult {
  /** Outputs [N, H·dirs]. */
  y: Tensor;
  /** Final hidden states [dirs, B, H]. */
  hy: Tensor;
  /** Final cell states [dirs, B, H] (LSTM), else null. */
  cy: Tensor | null;
}

/**
 * Runs one recurrent layer over `x` [N, X] (time-major rows, see the module comment),
 * differentiable in the input, the weights and the initial states. Shapes are the
 * caller's to check (src/layers/rnn.ts does).
 */
export function rnnLayer(
  x: Tensor,
  dirs: readonly RnnDirInputs[],
  mode: RnnMode,
  H: number,
  batchSizes: readonly number[],
): RnnLayerResult {
  const inputs: Tensor[] = [x];
  for (const d of dirs) {
    inputs.push(d.W, d.R, d.bW, d.bR, d.h0);
    if (mode === "lstm") inputs.push(d.c0!);
  }
  const tape = activeTape();
  const recorded = tape !== null && inputs.some((t) => tape.tracks(t)) ? tape : null;
  const attrs: RnnLayerAttrs = {
    mode,
    H,
    X: x.shape[x.rank - 1],
    dirs: dirs.length,
    batchSizes: [...batchSizes],
    tape: recorded,
  };
  const packed = runOp(rnnLayerOp, inputs, attrs);
  const { N } = stepOffsets(batchSizes);
  const B = batchSizes[0] ?? 0;
  const ny = N * H * dirs.length, ns = dirs.length * B * H;
  const part = (from: number, n: number, shape: number[]) =>
    sliceFlat(packed, from, n).reshape(shape);
  const y = part(0, ny, [N, H * dirs.length]);
  const hy = part(ny, ns, [dirs.length, B, H]);
  const cy = mode === "lstm" ? part(ny + ns, ns, [dirs.length, B, H]) : null;
  return { y, hy, cy };
}

/** Elements [from, from + n) of a flat tensor, differentiably. */
function sliceFlat(t: Tensor, from: number, n: number): Tensor {
  return slice(t, [[from, from + n]]);
}
