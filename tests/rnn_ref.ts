/**
 * A plain CPU reference of Knet's RNN for the tests, written directly from the formulas
 * (loops over time, rows and units; no ops): each gate's weights come from `rnnparam`
 * by Knet's ids, so a wrong id order in the layer or in `rnnparam` shows as a mismatch.
 */

import { type RNN, rnnparam, type Tensor } from "../mod.ts";

/** Host values of a CPU tensor (or null) in f64. */
function vals(t: Tensor | null): Float64Array | null {
  if (t === null) return null;
  const v = Float64Array.from(t.host());
  t.dispose();
  return v;
}

const sigm = (v: number) => 1 / (1 + Math.exp(-v));

/** The reference's result: y [N, H·dirs], final states [L·dirs, B, H]. */
export interface RefResult {
  y: Float64Array;
  hy: Float64Array;
  cy: Float64Array;
}

/**
 * Runs `r` (CPU parameters) by the formulas on x [N, X] (time-major rows, `bs` rows per
 * step), starting from h0 / c0 ([L·dirs·B·H], zeros when null). No dropout.
 */
export function refRnn(
  r: RNN,
  x: ArrayLike<number>,
  bs: readonly number[],
  h0: ArrayLike<number> | null,
  c0: ArrayLike<number> | null,
): RefResult {
  const H = r.hiddenSize, G = r.gates, dirs = r.directions, L = r.numLayers;
  const B = bs[0], T = bs.length;
  const offs: number[] = [];
  let N = 0;
  for (const b of bs) {
    offs.push(N);
    N += b;
  }
  const hy = new Float64Array(L * dirs * B * H);
  const cy = new Float64Array(L * dirs * B * H);
  let inp = Float64Array.from(x);
  let In = r.inputSize;
  for (let l = 0; l < L; l++) {
    const y = new Float64Array(N * H * dirs);
    for (let d = 0; d < dirs; d++) {
      const k = l * dirs + d;
      const W: (Float64Array | null)[] = [], R: Float64Array[] = [];
      const bW: Float64Array[] = [], bR: Float64Array[] = [];
      for (let g = 0; g < G; g++) {
        W.push(vals(rnnparam(r, k + 1, g + 1, 1)));
        R.push(vals(rnnparam(r, k + 1, G + g + 1, 1))!);
        bW.push(vals(rnnparam(r, k + 1, g + 1, 2))!);
        bR.push(vals(rnnparam(r, k + 1, G + g + 1, 2))!);
      }
      const h = new Float64Array(B * H), c = new Float64Array(B * H);
      for (let i = 0; i < B * H; i++) {
        h[i] = h0 ? h0[k * B * H + i] : 0;
        c[i] = c0 ? c0[k * B * H + i] : 0;
      }
      for (let s = 0; s < T; s++) {
        const t = d === 0 ? s : T - 1 - s;
        for (let b = 0; b < bs[t]; b++) {
          const row = offs[t] + b;
          // wx[g][j] = W_g·x + bW_g, wh[g][j] = R_g·h + bR_g
          const wx: number[][] = [], wh: number[][] = [];
          for (let g = 0; g < G; g++) {
            wx.push([]);
            wh.push([]);
            for (let j = 0; j < H; j++) {
              let a = bW[g][j], e = bR[g][j];
              const Wg = W[g];
              if (Wg === null) a += inp[row * In + j]; // skipInput: the input itself
              else for (let i = 0; i < In; i++) a += Wg[j * In + i] * inp[row * In + i];
              for (let i = 0; i < H; i++) e += R[g][j * H + i] * h[b * H + i];
              wx[g].push(a);
              wh[g].push(e);
            }
          }
          for (let j = 0; j < H; j++) {
            let hn: number;
            if (r.rnnType === "relu") hn = Math.max(0, wx[0][j] + wh[0][j]);
            else if (r.rnnType === "tanh") hn = Math.tanh(wx[0][j] + wh[0][j]);
            else if (r.rnnType === "lstm") {
              const ig = sigm(wx[0][j] + wh[0][j]), fg = sigm(wx[1][j] + wh[1][j]);
              const ng = Math.tanh(wx[2][j] + wh[2][j]), og = sigm(wx[3][j] + wh[3][j]);
              c[b * H + j] = fg * c[b * H + j] + ig * ng;
              hn = og * Math.tanh(c[b * H + j]);
            } else {
              const rg = sigm(wx[0][j] + wh[0][j]), zg = sigm(wx[1][j] + wh[1][j]);
              const ng = Math.tanh(wx[2][j] + rg * wh[2][j]);
              hn = (1 - zg) * ng + zg * h[b * H + j];
            }
            y[row * H * dirs + d * H + j] = hn;
          }
          for (let j = 0; j < H; j++) h[b * H + j] = y[row * H * dirs + d * H + j];
        }
      }
      hy.set(h, k * B * H);
      cy.set(c, k * B * H);
    }
    inp = y;
    In = H * dirs;
  }
  return { y: inp, hy, cy };
}
