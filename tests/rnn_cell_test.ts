/**
 * The fused recurrent cell step (kernels/rnn_cell.wgsl, kernels/cpu/rnn_cell.c through
 * src/ops/rnn_cell_kernels.ts) against the f64 reference of src/ops/rnn_cell.ts, for
 * every mode, forward and backward, on random inputs at odd sizes with nonzero offsets
 * and strides, on saturating inputs, and with NaN inputs (which must propagate).
 */

import assert from "node:assert/strict";
import { backendOf } from "../src/backend.ts";
import {
  type CellBackwardArgs,
  cellBackwardRef,
  type CellForwardArgs,
  cellForwardRef,
  RNN_GATES,
  RNN_SAVED,
  type RnnMode,
} from "../src/ops/rnn_cell.ts";
import { cellBackward, cellForward } from "../src/ops/rnn_cell_kernels.ts";
import { type DeviceName, Tensor } from "../src/tensor/tensor.ts";
import { assertClose, GPU_TEST, haveGpu } from "./_helpers.ts";

const MODES: RnnMode[] = ["relu", "tanh", "lstm", "gru"];
/** f32 kernels against the f64 reference: a few ulps of the transcendental functions. */
const TOL = { rtol: 2e-5, atol: 2e-6 };

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Host values of every buffer of one step, in f64. */
type Buffers = Record<string, Float64Array>;

function randBuf(n: number, r: () => number, scale: number): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.fround((r() * 2 - 1) * scale);
  return a;
}

/** Makes tensors of `bufs` on a device (f64 on "ref", f32 CPU-heap or GPU otherwise). */
function tensors(bufs: Buffers, where: "ref" | DeviceName): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(bufs)) {
    if (where === "ref") out[k] = new Tensor([v.length], "f64", v.slice());
    else if (where === "cpu") out[k] = backendOf("cpu").upload([v.length], new Float32Array(v));
    else out[k] = new Tensor([v.length], "f32", new Float32Array(v)).gpu();
  }
  return out;
}

async function values(ts: Record<string, Tensor>, keys: string[]) {
  const out: Record<string, Float64Array> = {};
  for (const k of keys) {
    const t = ts[k].device === "gpu" ? await ts[k].cpu() : ts[k];
    out[k] = Float64Array.from(t.host());
  }
  return out;
}

interface Case {
  mode: RnnMode;
  rows: number;
  B: number;
  H: number;
  scale: number;
  nan?: boolean;
}

function forwardBuffers(c: Case, seed: number) {
  const { mode, B, H } = c;
  const G = RNN_GATES[mode], S = RNN_SAVED[mode];
  const r = rng(seed);
  const xgOff = 5, yOff = 3, yStride = 2 * H + 1, hPrevOff = 7, savedOff = 11;
  const bufs: Buffers = {
    xg: randBuf(xgOff + B * G * H + 4, r, c.scale),
    hg: randBuf(B * G * H, r, c.scale),
    bR: randBuf(G * H, r, 1),
    h: randBuf(B * H, r, 1),
    c: randBuf(B * H, r, 2),
    y: randBuf(yOff + B * yStride, r, 1),
    hPrev: randBuf(hPrevOff + B * H + 2, r, 1),
    saved: randBuf(savedOff + B * S * H + 3, r, 1),
  };
  if (c.nan) bufs.xg[xgOff + H + 1] = NaN;
  const args = (t: Record<string, Tensor>): CellForwardArgs => ({
    mode,
    rows: c.rows,
    H,
    xg: t.xg,
    xgOff,
    hg: t.hg,
    bR: t.bR,
    h: t.h,
    c: mode === "lstm" ? t.c : null,
    y: t.y,
    yOff,
    yStride,
    hPrev: t.hPrev,
    hPrevOff,
    saved: t.saved,
    savedOff,
  });
  return { bufs, args, outs: ["h", "c", "y", "hPrev", "saved"] };
}

function backwardBuffers(c: Case, seed: number) {
  const { mode, B, H } = c;
  const G = RNN_GATES[mode], S = RNN_SAVED[mode];
  const r = rng(seed);
  const dyOff = 2, dyStride = H + 3, savedOff = 9, hPrevOff = 4, dXgOff = 6, dHgOff = 13;
  // Saved values as a forward step makes them (gates in their ranges).
  const fwd = forwardBuffers(c, seed + 1);
  const ref = tensors(fwd.bufs, "ref");
  cellForwardRef({ ...fwd.args(ref), savedOff, hPrevOff });
  const bufs: Buffers = {
    dy: randBuf(dyOff + B * dyStride, r, 1),
    dh: randBuf(B * H, r, 1),
    dc: randBuf(B * H, r, 1),
    saved: Float64Array.from(ref.saved.host()),
    hPrev: Float64Array.from(ref.hPrev.host()),
    dXg: randBuf(dXgOff + B * G * H + 1, r, 1),
    dHg: randBuf(dHgOff + B * G * H + 2, r, 1),
    dHgStep: randBuf(B * G * H, r, 1),
  };
  assert.ok(bufs.saved.length >= savedOff + B * S * H);
  if (c.nan) bufs.dy[dyOff + 1] = NaN;
  const args = (t: Record<string, Tensor>): CellBackwardArgs => ({
    mode,
    rows: c.rows,
    H,
    dy: t.dy,
    dyOff,
    dyStride,
    dh: t.dh,
    dc: mode === "lstm" ? t.dc : null,
    saved: t.saved,
    savedOff,
    hPrev: t.hPrev,
    hPrevOff,
    dXg: t.dXg,
    dXgOff,
    dHg: mode === "gru" ? t.dHg : null,
    dHgOff,
    dHgStep: t.dHgStep,
  });
  return { bufs, args, outs: ["dh", "dc", "dXg", "dHg", "dHgStep"] };
}

const CASES: Case[] = MODES.flatMap((mode) => [
  { mode, rows: 3, B: 5, H: 7, scale: 1 },
  { mode, rows: 5, B: 5, H: 13, scale: 1 },
  { mode, rows: 2, B: 4, H: 9, scale: 40 }, // saturating gates
]);

async function compare(device: DeviceName, direction: "forward" | "backward", c: Case) {
  const made = direction === "forward" ? forwardBuffers(c, 17) : backwardBuffers(c, 17);
  const ref = tensors(made.bufs, "ref");
  const got = tensors(made.bufs, device);
  if (direction === "forward") {
    const mk = made.args as (t: Record<string, Tensor>) => CellForwardArgs;
    cellForwardRef(mk(ref));
    cellForward(mk(got));
  } else {
    const mk = made.args as (t: Record<string, Tensor>) => CellBackwardArgs;
    cellBackwardRef(mk(ref));
    cellBackward(mk(got));
  }
  const want = await values(ref, made.outs);
  const have = await values(got, made.outs);
  for (const k of made.outs) {
    assertClose(
      have[k],
      want[k],
      TOL,
      `${device} ${direction} ${c.mode} rows ${c.rows}/${c.B} H ${c.H} ×${c.scale}: ${k}`,
    );
  }
}

Deno.test("rnn cell: CPU kernel == f64 reference (every mode, forward and backward)", async () => {
  for (const c of CASES) {
    await compare("cpu", "forward", c);
    await compare("cpu", "backward", c);
  }
});

Deno.test({
  name: "rnn cell: GPU kernel == f64 reference (every mode, forward and backward)",
  ...GPU_TEST,
  async fn() {
    if (!(await haveGpu())) return;
    for (const c of CASES) {
      await compare("gpu", "forward", c);
      await compare("gpu", "backward", c);
    }
  },
});

Deno.test({
  name: "rnn cell: NaN in a gate input or an output gradient propagates (CPU and GPU)",
  ...GPU_TEST,
  async fn() {
    const devices: DeviceName[] = (await haveGpu()) ? ["cpu", "gpu"] : ["cpu"];
    for (const device of devices) {
      for (const mode of MODES) {
        const c: Case = { mode, rows: 2, B: 3, H: 5, scale: 1, nan: true };
        await compare(device, "forward", c); // assertClose treats NaN = NaN
        const f = forwardBuffers(c, 3);
        const t = tensors(f.bufs, device);
        cellForward(f.args(t));
        const y = (await values(t, ["y"])).y;
        assert.ok(y.some(Number.isNaN), `${device} ${mode}: the NaN input reached no output`);
        await compare(device, "backward", c);
      }
    }
  },
});

Deno.test("rnn cell: arguments that do not fit the tensors, or a wrong cell state, are refused", () => {
  const c: Case = { mode: "lstm", rows: 3, B: 3, H: 4, scale: 1 };
  const f = forwardBuffers(c, 5);
  const t = tensors(f.bufs, "cpu");
  assert.throws(
    () => cellForward({ ...f.args(t), rows: 9 }),
    /rnn cell: xg holds 57 elements, the step reads or writes up to 149/,
  );
  assert.throws(() => cellForward({ ...f.args(t), c: null }), /cell state c is missing for lstm/);
  assert.throws(
    () => cellForward({ ...f.args(t), mode: "gru" }),
    /cell state c is given for gru/,
  );
});
