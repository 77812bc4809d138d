/**
 * softmax, logsoftmax and logsumexp over one axis, numerically stable (the row maximum
 * is subtracted first). GPU: kernels/softmax.wgsl over rows (the axis is moved last
 * when it is not); CPU twin: {@link softmaxRowsCpu}. Knet's default axis is the class
 * dimension, which in our row-major layout is the last one (default axis -1).
 *
 * @module
 */

import { gpuProfile } from "../gpu/profile.ts";
import { kernelCall } from "../cpu/call.ts";
import { gpuRuntime } from "../gpu/runtime.ts";
import { grid2d, UniformWriter } from "../gpu/uniforms.ts";
import { normalizeAxis } from "../tensor/shape.ts";
import { emptyGpu, hostArray, shapeSize, Tensor } from "../tensor/tensor.ts";
import { checkInputs, defineOp, runOp } from "./registry.ts";
import { binary, unary } from "./elementwise.ts";
import { max, sum } from "./reduce.ts";
import { permute } from "./shape.ts";

/** The three row ops (the override OP in softmax.wgsl). */
export const SOFTMAX_KINDS = { softmax: 0, logsoftmax: 1, logsumexp: 2 } as const;
/** A softmax-family op. */
export type SoftmaxKind = keyof typeof SOFTMAX_KINDS;

/** Rows at most this long, when there are at least SHORT_MIN_ROWS, take `main_rows`. */
const SHORT_ROW = 64;
const SHORT_MIN_ROWS = 256;

interface RowsAttrs {
  kind: SoftmaxKind;
  rows: number;
  len: number;
}

/** CPU twin of softmax.wgsl on a contiguous [rows, len] view. */
export function softmaxRowsCpu(x: Tensor, a: RowsAttrs): Tensor {
  const xs = x.host(a.kind);
  const out = hostArray(x.dtype, a.kind === "logsumexp" ? a.rows : a.rows * a.len);
  for (let r = 0; r < a.rows; r++) {
    const base = r * a.len;
    let m = -Infinity;
    for (let j = 0; j < a.len; j++) m = Math.max(m, xs[base + j]);
    let s = 0;
    for (let j = 0; j < a.len; j++) s += Math.exp(xs[base + j] - m);
    if (a.kind === "logsumexp") {
      out[r] = m + Math.log(s);
      continue;
    }
    const lse = Math.log(s);
    for (let j = 0; j < a.len; j++) {
      const v = xs[base + j] - m;
      out[base + j] = a.kind === "softmax" ? Math.exp(v) / s : v - lse;
    }
  }
  return new Tensor(a.kind === "logsumexp" ? [a.rows] : [a.rows, a.len], x.dtype, out);
}

/**
 * Gradients on [rows, len]: softmax y·(dy − Σ dy·y), logsoftmax dy − eʸ·Σ dy,
 * logsumexp dy·eˣ⁻ʸ (each sum over the row).
 */
function softmaxRowsBackward(
  dy: Tensor,
  [x]: readonly Tensor[],
  y: Tensor,
  a: RowsAttrs,
): Tensor[] {
  switch (a.kind) {
    case "softmax": {
      const s = sum(binary("mul", dy, y), -1, { keepdims: true });
      return [binary("mul", y, binary("sub", dy, s))];
    }
    case "logsoftmax": {
      const s = sum(dy, -1, { keepdims: true });
      return [binary("sub", dy, binary("mul", unary("exp", y), s))];
    }
    case "logsumexp": {
      const p = unary("exp", binary("sub", x, y.reshape(a.rows, 1)));
      return [binary("mul", p, dy.reshape(a.rows, 1))];
    }
  }
}

/**
 * The GPU path for rows longer than the profile's `softmaxLongRow` (software adapters: 2²⁰;
 * softmax.wgsl's threads loop 3·ceil(len / 256) + 18 times, and llvmpipe cuts an
 * invocation's loops short after about 65 535 iterations): the same formulas composed
 * from reductions and elementwise ops (a few more passes over the data, no long loops).
 */
function softmaxLongRowsGpu(x: Tensor, a: RowsAttrs): Tensor {
  const m = max(x, 1, { keepdims: true });
  const d = binary("sub", x, m);
  const e = unary("exp", d);
  const s = sum(e, 1, { keepdims: true });
  let y: Tensor;
  if (a.kind === "softmax") {
    y = binary("div", e, s);
  } else {
    const lse = unary("log", s);
    if (a.kind === "logsoftmax") {
      y = binary("sub", d, lse);
    } else {
      const r = binary("add", m, lse);
      y = r.reshape(a.rows);
      r.dispose();
    }
    lse.dispose();
  }
  for (const t of [m, d, e, s]) t.dispose();
  return y;
}

/** CPU backend twin of {@link softmaxRowsCpu} (kernels/cpu/softmax.c `softmax_rows`). */
function softmaxRowsWasm(x: Tensor, a: RowsAttrs): Tensor {
  return kernelCall(a.kind, (k) => {
    const [y, py] = k.out(a.kind === "logsumexp" ? [a.rows] : [a.rows, a.len]);
    if (a.rows === 0) return y;
    k.run("softmax_rows", [SOFTMAX_KINDS[a.kind], a.rows, a.len, k.in(x), py], x.size * 8);
    return y;
  });
}

const softmaxRowsOp = defineOp<RowsAttrs>({
  name: "softmax_rows",
  backward: softmaxRowsBackward,
  cpu: ([x], a) => softmaxRowsCpu(x, a),
  wasm: ([x], a) => softmaxRowsWasm(x, a),
  gpu: ([x], a) => {
    if (a.len > gpuProfile().softmaxLongRow) return softmaxLongRowsGpu(x, a);
    const y = emptyGpu(a.kind === "logsumexp" ? [a.rows] : [a.rows, a.len]);
    if (y.size === 0) return y;
    const rt = gpuRuntime();
    // Many short rows: one invocation per row (`main_rows`); a 256-thread workgroup per
    // 10-element row left 246 threads idle and ran 16 barriers per row (llvmpipe:
    // softmax [100000,10] went from ~0.003 to ~1 GB/s). Long rows keep the workgroup.
    const short = a.len <= SHORT_ROW && a.rows >= SHORT_MIN_ROWS;
    rt.dispatch({
      kernel: "softmax",
      entryPoint: short ? "main_rows" : undefined,
      constants: { OP: SOFTMAX_KINDS[a.kind], ONLINE: gpuProfile().onlineSoftmax },
      uniforms: new UniformWriter().u32(a.rows).u32(a.len).build(),
      // logsumexp over an empty axis (len 0) has rows but no input: bind the dummy.
      buffers: [x.size > 0 ? x.binding(a.kind) : rt.dummy, y.binding(a.kind)],
      workgroups: grid2d(short ? Math.ceil(a.rows / 64) : a.rows),
    });
    return y;
  },
});

function alongAxis(kind: SoftmaxKind, x: Tensor, axis: number, keepdims: boolean): Tensor {
  checkInputs(kind, [x]);
  if (x.rank === 0) throw new Error(`${kind}: needs at least one dimension, got a scalar`);
  const ax = normalizeAxis(kind, axis, x.rank);
  const len = x.shape[ax];
  const last = x.rank - 1;
  // Move the axis last keeping the other axes in order, so the rows (and logsumexp's
  // output) are in the order of x's remaining dimensions; `inv` moves it back.
  const perm = [...x.shape.map((_, i) => i).filter((i) => i !== ax), ax];
  const inv = perm.map((_, i) => perm.indexOf(i));
  const moved = ax === last ? x : permute(x, perm);
  const rows = shapeSize(moved.shape.slice(0, -1));
  const view = moved.reshape(rows, len);
  const y = runOp(softmaxRowsOp, [view], { kind, rows, len });
  view.dispose();
  if (moved !== x) moved.dispose();
  if (kind === "logsumexp") {
    const shape = x.shape.map((d, i) => (i === ax ? 1 : d));
    const out = y.reshape(keepdims ? shape : shape.filter((_, i) => i !== ax));
    y.dispose();
    return out;
  }
  const back = y.reshape(moved.shape);
  y.dispose();
  if (ax === last) return back;
  const out = permute(back, inv);
  back.dispose();
  return out;
}

/** softmax along `axis` (default the last): exp(x − max) / Σ exp(x − max). */
export function softmax(x: Tensor, axis = -1): Tensor {
  return alongAxis("softmax", x, axis, true);
}

/** log(softmax(x)) along `axis` (default the last), computed stably. */
export function logsoftmax(x: Tensor, axis = -1): Tensor {
  return alongAxis("logsoftmax", x, axis, true);
}

/** log Σ exp(x) along `axis` (default the last), stably; the axis is dropped unless keepdims. */
export function logsumexp(x: Tensor, axis = -1, opts: { keepdims?: boolean } = {}): Tensor {
  return alongAxis("logsumexp", x, axis, opts.keepdims ?? false);
}
