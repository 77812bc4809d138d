/**
 * The fused recurrent cell step on the tensors' device: one dispatch of
 * kernels/rnn_cell.wgsl on the GPU, one call of kernels/cpu/rnn_cell.c on the CPU backend
 * (f32), and the reference ({@link cellForwardRef}, {@link cellBackwardRef}) for f64 or
 * when the CPU kernels are off. Arguments and formulas: src/ops/rnn_cell.ts.
 *
 * These write into their argument tensors (states, outputs, saved values); they are the
 * building blocks of the recurrent layer op (src/ops/rnn.ts), not user ops.
 *
 * @module
 */

import { inHeapMemory } from "../cpu/heap.ts";
import { cpuKernelsEnabled } from "../cpu/runtime.ts";
import { kernelCall } from "../cpu/call.ts";
import { gpuRuntime } from "../gpu/runtime.ts";
import { grid2d, UniformWriter } from "../gpu/uniforms.ts";
import type { Tensor } from "../tensor/tensor.ts";
import {
  type CellBackwardArgs,
  cellBackwardRef,
  type CellForwardArgs,
  cellForwardRef,
  RNN_GATES,
  RNN_MODE_CODE,
  RNN_SAVED,
} from "./rnn_cell.ts";

/** Rows·H above which the CPU kernel runs on every thread. */
const PARALLEL_CELLS = 16 * 1024;

function need(what: string, t: Tensor, end: number): void {
  if (t.size < end) {
    throw new Error(
      `rnn cell: ${what} holds ${t.size} elements, the step reads or writes up to ${end}`,
    );
  }
}

function checkForward(a: CellForwardArgs): void {
  const G = RNN_GATES[a.mode], S = RNN_SAVED[a.mode];
  if (G === undefined) throw new Error(`rnn cell: unknown mode ${JSON.stringify(a.mode)}`);
  const { rows, H } = a;
  need("xg", a.xg, a.xgOff + rows * G * H);
  need("hg", a.hg, rows * G * H);
  need("bR", a.bR, G * H);
  need("h", a.h, rows * H);
  need("y", a.y, rows === 0 ? 0 : a.yOff + (rows - 1) * a.yStride + H);
  need("hPrev", a.hPrev, a.hPrevOff + rows * H);
  need("saved", a.saved, a.savedOff + rows * S * H);
  if ((a.mode === "lstm") !== (a.c !== null)) {
    throw new Error(`rnn cell: the cell state c is ${a.c ? "given" : "missing"} for ${a.mode}`);
  }
  if (a.c) need("c", a.c, rows * H);
}

function checkBackward(a: CellBackwardArgs): void {
  const G = RNN_GATES[a.mode], S = RNN_SAVED[a.mode];
  if (G === undefined) throw new Error(`rnn cell: unknown mode ${JSON.stringify(a.mode)}`);
  const { rows, H } = a;
  need("dy", a.dy, rows === 0 ? 0 : a.dyOff + (rows - 1) * a.dyStride + H);
  need("dh", a.dh, rows * H);
  need("saved", a.saved, a.savedOff + rows * S * H);
  need("hPrev", a.hPrev, a.hPrevOff + rows * H);
  need("dXg", a.dXg, a.dXgOff + rows * G * H);
  need("dHgStep", a.dHgStep, rows * G * H);
  if ((a.mode === "lstm") !== (a.dc !== null)) {
    throw new Error(`rnn cell: the gradient dc is ${a.dc ? "given" : "missing"} for ${a.mode}`);
  }
  if (a.dc) need("dc", a.dc, rows * H);
  if (a.dHg) need("dHg", a.dHg, a.dHgOff + rows * G * H);
}

/**
 * Whether the CPU kernel can run on these tensors: f32 throughout, the `written` ones in
 * the kernels' heap (they are updated in place; `read` ones are copied in when outside).
 */
function wasmable(written: readonly (Tensor | null)[], read: readonly Tensor[]): boolean {
  if (!cpuKernelsEnabled()) return false;
  const f32 = (t: Tensor) => t.host("rnn cell") instanceof Float32Array;
  return read.every(f32) && written.every((t) => {
    if (t === null) return true;
    const h = t.host("rnn cell");
    return h instanceof Float32Array && (h.length === 0 || inHeapMemory(h));
  });
}

function invalidate(ts: readonly (Tensor | null)[]): void {
  for (const t of ts) t?.invalidateHostMirror();
}

/**
 * One forward step (see {@link CellForwardArgs}): updates rows 0..rows−1 of `h` (and
 * `c`), writes the step's outputs, h_prev and saved values.
 */
export function cellForward(a: CellForwardArgs): void {
  checkForward(a);
  if (a.rows === 0 || a.H === 0) return;
  const { rows, H } = a;
  const G = RNN_GATES[a.mode];
  if (a.xg.device === "gpu") {
    const rt = gpuRuntime();
    invalidate([a.h, a.c, a.y, a.hPrev, a.saved]);
    rt.dispatch({
      kernel: "rnn_cell",
      entryPoint: "forward",
      constants: { MODE: RNN_MODE_CODE[a.mode] },
      uniforms: new UniformWriter()
        .u32(rows).u32(H).u32(a.xgOff).u32(a.yOff).u32(a.yStride).u32(0)
        .u32(a.hPrevOff).u32(a.savedOff).build(),
      buffers: [
        a.xg.binding("rnn cell"),
        a.hg.binding("rnn cell"),
        a.bR.binding("rnn cell"),
        a.h.binding("rnn cell"),
        a.c ? a.c.binding("rnn cell") : rt.sink,
        a.y.binding("rnn cell"),
        a.hPrev.binding("rnn cell"),
        a.saved.binding("rnn cell"),
      ],
      workgroups: grid2d(Math.ceil((rows * H) / 256)),
    });
    return;
  }
  // Read-only inputs are copied into the heap when they lie outside it (a Param's bias);
  // the tensors written in place must be heap tensors already.
  if (!wasmable([a.h, a.c, a.y, a.hPrev, a.saved], [a.xg, a.hg, a.bR])) {
    return cellForwardRef(a);
  }
  const S = RNN_SAVED[a.mode];
  kernelCall("rnn cell", (k) => {
    k.run("rnn_cell_fwd", [
      RNN_MODE_CODE[a.mode],
      rows,
      H,
      k.in(a.xg) + a.xgOff * 4,
      k.in(a.hg),
      k.in(a.bR),
      k.in(a.h),
      a.c ? k.in(a.c) : 0,
      k.in(a.y) + a.yOff * 4,
      a.yStride,
      k.in(a.hPrev) + a.hPrevOff * 4,
      k.in(a.saved) + a.savedOff * 4,
    ], rows * H * G * S >= PARALLEL_CELLS ? PARALLEL_CELLS * 4 : 0);
  });
}

/**
 * One backward step (see {@link CellBackwardArgs}): gate gradients of the step into
 * `dXg` (and `dHg`, `dHgStep`); updates `dc` (LSTM) and, for GRU, `dh`.
 */
export function cellBackward(a: CellBackwardArgs): void {
  checkBackward(a);
  if (a.rows === 0 || a.H === 0) return;
  const { rows, H } = a;
  const G = RNN_GATES[a.mode];
  if (a.dy.device === "gpu") {
    const rt = gpuRuntime();
    invalidate([a.dh, a.dc, a.dXg, a.dHg, a.dHgStep]);
    rt.dispatch({
      kernel: "rnn_cell",
      entryPoint: "backward",
      constants: { MODE: RNN_MODE_CODE[a.mode], WRITE_DHG: a.dHg !== null },
      uniforms: new UniformWriter()
        .u32(rows).u32(H).u32(a.dyOff).u32(a.dHgOff).u32(a.dyStride).u32(a.dXgOff)
        .u32(a.hPrevOff).u32(a.savedOff).build(),
      buffers: [
        a.dy.binding("rnn cell"),
        a.saved.binding("rnn cell"),
        a.hPrev.binding("rnn cell"),
        a.dh.binding("rnn cell"),
        a.dc ? a.dc.binding("rnn cell") : rt.sink,
        a.dXg.binding("rnn cell"),
        a.dHg ? a.dHg.binding("rnn cell") : rt.sink,
        a.dHgStep.binding("rnn cell"),
      ],
      workgroups: grid2d(Math.ceil((rows * H) / 256)),
    });
    return;
  }
  if (!wasmable([a.dh, a.dc, a.dXg, a.dHg, a.dHgStep], [a.dy, a.saved, a.hPrev])) {
    return cellBackwardRef(a);
  }
  kernelCall("rnn cell", (k) => {
    k.run("rnn_cell_bwd", [
      RNN_MODE_CODE[a.mode],
      rows,
      H,
      k.in(a.dy) + a.dyOff * 4,
      a.dyStride,
      k.in(a.dh),
      a.dc ? k.in(a.dc) : 0,
      k.in(a.saved) + a.savedOff * 4,
      k.in(a.hPrev) + a.hPrevOff * 4,
      k.in(a.dXg) + a.dXgOff * 4,
      a.dHg ? k.in(a.dHg) + a.dHgOff * 4 : 0,
      k.in(a.dHgStep),
    ], rows * H * G >= PARALLEL_CELLS ? PARALLEL_CELLS * 4 : 0);
  });
}
