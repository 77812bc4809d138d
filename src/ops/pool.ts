/**
 * Pooling and unpooling over the two spatial dimensions of an image batch, with Knet's
 * semantics: `pool(x; window=2, padding=0, stride=window, mode=0, alpha=1)` and
 * `unpool(x; window=2, padding=0, stride=window, alpha=1)`. Row-major `x` is [N,C,H,W]
 * (Knet's (W,H,C,N)); `window`, `padding` and `stride` are a number or [h, w].
 *
 * GPU: kernels/pool.wgsl (`main` one output per invocation, `backward` a deterministic
 * gather: each input element sums the shares of the windows that contain it, no
 * atomics). CPU twins: {@link poolForwardCpu} and {@link poolBackwardCpu} (f32 and f64).
 *
 * @module
 */

import { gpuProfile } from "../gpu/profile.ts";
import { kernelCall } from "../cpu/call.ts";
import { checkOptionNames } from "../options.ts";
import { gpuRuntime, type StorageBinding } from "../gpu/runtime.ts";
import { grid2d, UniformWriter } from "../gpu/uniforms.ts";
import { emptyGpu, type HostArray, hostArray, Tensor } from "../tensor/tensor.ts";
import { checkInputs, defineOp, describe, runOp } from "./registry.ts";

/** A spatial size: one number for both dims, or [h, w]. */
export type PoolSize = number | readonly [number, number];

/**
 * Options of {@link pool} (Knet's keywords and defaults).
 *
 * `mode`: 0 max (padded cells never win: they count as −∞), 1 average counting padded
 * cells in the divisor (window area), 2 average over the real cells only.
 */
export interface PoolOptions {
  /** Window size (default 2). */
  window?: PoolSize;
  /** Implicit padding at both ends of each spatial dim (default 0; must be < window). */
  padding?: PoolSize;
  /** Step between windows (default `window`). */
  stride?: PoolSize;
  /** 0 max, 1 average including padding, 2 average excluding padding (default 0). */
  mode?: 0 | 1 | 2;
  /** The result (and so its gradient) is multiplied by alpha (default 1). */
  alpha?: number;
}

/** Options of {@link unpool}: the geometry of the pooling it reverses. */
export interface UnpoolOptions {
  /** Window size (default 2). */
  window?: PoolSize;
  /** Padding of the pooling being reversed (default 0; must be < window). */
  padding?: PoolSize;
  /** Stride of the pooling being reversed (default `window`). */
  stride?: PoolSize;
  /** The result is divided by alpha, as in Knet (default 1). */
  alpha?: number;
}

/**
 * The geometry of one pooling: input planes of h×w, output planes of oh×ow, planes =
 * N·C, and the scale applied to results (forward and backward).
 */
export interface PoolGeometry {
  /** Batch size N. */
  n: number;
  /** Channels C. */
  c: number;
  /** Input (un-pooled) height. */
  h: number;
  /** Input (un-pooled) width. */
  w: number;
  /** Pooled height. */
  oh: number;
  /** Pooled width. */
  ow: number;
  /** Window height. */
  kh: number;
  /** Window width. */
  kw: number;
  /** Vertical stride. */
  sh: number;
  /** Horizontal stride. */
  sw: number;
  /** Vertical padding. */
  ph: number;
  /** Horizontal padding. */
  pw: number;
  /** 0 max, 1 average including padding, 2 average excluding padding. */
  mode: 0 | 1 | 2;
  /** Multiplies every result. */
  scale: number;
}

function pair(op: string, name: string, v: PoolSize, min: number): [number, number] {
  const p: number[] = typeof v === "number" ? [v, v] : Array.isArray(v) ? [...v] : [NaN];
  if (p.length !== 2 || !p.every((q) => Number.isInteger(q) && q >= min)) {
    const what = min > 0 ? "positive integer" : "non-negative integer";
    throw new Error(
      `${op}: ${name} must be a ${what} or a pair [h, w] of them, got ${JSON.stringify(v)}`,
    );
  }
  return [p[0], p[1]];
}

/** Validated window/padding/stride of `x`; `out` computes the output spatial size. */
function geometry(
  op: string,
  x: Tensor,
  opts: { window?: PoolSize; padding?: PoolSize; stride?: PoolSize },
  mode: unknown,
  alpha: unknown,
) {
  if (x.rank !== 4) {
    const hint = x.rank === 2 ? ` (reshape a single ${x.shape.join("×")} image to [1,1,H,W])` : "";
    throw new Error(`${op}: needs a 4-D input [N,C,H,W], got ${describe(x)}${hint}`);
  }
  if (mode !== 0 && mode !== 1 && mode !== 2) {
    throw new Error(`${op}: mode must be 0 (max), 1 or 2 (average), got ${String(mode)}`);
  }
  if (typeof alpha !== "number" || !Number.isFinite(alpha) || alpha === 0) {
    throw new Error(`${op}: alpha must be a finite non-zero number, got ${String(alpha)}`);
  }
  const [kh, kw] = pair(op, "window", opts.window ?? 2, 1);
  const [ph, pw] = pair(op, "padding", opts.padding ?? 0, 0);
  const [sh, sw] = pair(op, "stride", opts.stride ?? [kh, kw], 1);
  if (ph >= kh || pw >= kw) {
    throw new Error(
      `${op}: padding [${ph},${pw}] must be smaller than the window [${kh},${kw}] ` +
        "(else a window could hold only padding)",
    );
  }
  return { kh, kw, ph, pw, sh, sw };
}

// ---------------------------------------------------------------- CPU twins

/** Clipped extent [lo, hi) of window `o` along a dim of size `n`. */
function clip(o: number, s: number, pad: number, k: number, n: number): [number, number] {
  const start = o * s - pad;
  return [Math.max(start, 0), Math.min(start + k, n)];
}

/** Offset within the plane of the first maximum of window (oy, ox) (row-major order). */
function argmaxCpu(xs: HostArray, base: number, oy: number, ox: number, g: PoolGeometry): number {
  const [y0, y1] = clip(oy, g.sh, g.ph, g.kh, g.h);
  const [x0, x1] = clip(ox, g.sw, g.pw, g.kw, g.w);
  let at = y0 * g.w + x0;
  let best = xs[base + at];
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const j = y * g.w + x;
      const v = xs[base + j];
      if (v > best || (v !== v && best === best)) { // the first NaN wins (Knet's NaN option)
        best = v;
        at = j;
      }
    }
  }
  return at;
}

/** CPU twin of pool.wgsl `main`: [N,C,h,w] → [N,C,oh,ow] (x's dtype). */
export function poolForwardCpu(x: Tensor, g: PoolGeometry): Tensor {
  const xs = x.host("pool");
  const planes = g.n * g.c;
  const out = hostArray(x.dtype, planes * g.oh * g.ow);
  let i = 0;
  for (let pl = 0; pl < planes; pl++) {
    const base = pl * g.h * g.w;
    for (let oy = 0; oy < g.oh; oy++) {
      const [y0, y1] = clip(oy, g.sh, g.ph, g.kh, g.h);
      for (let ox = 0; ox < g.ow; ox++, i++) {
        if (g.mode === 0) {
          out[i] = g.scale * xs[base + argmaxCpu(xs, base, oy, ox, g)];
          continue;
        }
        const [x0, x1] = clip(ox, g.sw, g.pw, g.kw, g.w);
        let s = 0;
        for (let y = y0; y < y1; y++) {
          for (let x = x0; x < x1; x++) s += xs[base + y * g.w + x];
        }
        const count = g.mode === 1 ? g.kh * g.kw : (y1 - y0) * (x1 - x0);
        out[i] = g.scale * (s / count);
      }
    }
  }
  return new Tensor([g.n, g.c, g.oh, g.ow], x.dtype, out);
}

/** Windows [first, last] along a dim holding input index t. */
function windowsOf(t: number, s: number, pad: number, k: number, nout: number): [number, number] {
  const lo = t + pad - k + 1;
  const first = lo > 0 ? Math.ceil(lo / s) : 0;
  return [first, Math.min(Math.floor((t + pad) / s), nout - 1)];
}

/**
 * CPU twin of pool.wgsl `backward`: the gradient [N,C,h,w] of the pooling from `dy`
 * [N,C,oh,ow]. `x` is read in mode 0 only (for the argmax) and may be null otherwise.
 */
export function poolBackwardCpu(x: Tensor | null, dy: Tensor, g: PoolGeometry): Tensor {
  const xs = g.mode === 0 ? x!.host("pool backward") : null;
  const ds = dy.host("pool backward");
  const planes = g.n * g.c;
  const out = hostArray(dy.dtype, planes * g.h * g.w);
  const area = g.kh * g.kw;
  // Mode 0: each window's first maximum, once (as pool.wgsl's argmax table).
  const am = new Int32Array(g.mode === 0 ? planes * g.oh * g.ow : 0);
  for (let pl = 0, k = 0; pl < planes && g.mode === 0; pl++) {
    for (let oy = 0; oy < g.oh; oy++) {
      for (let ox = 0; ox < g.ow; ox++, k++) am[k] = argmaxCpu(xs!, pl * g.h * g.w, oy, ox, g);
    }
  }
  let i = 0;
  for (let pl = 0; pl < planes; pl++) {
    const obase = pl * g.oh * g.ow;
    for (let iy = 0; iy < g.h; iy++) {
      const [oy0, oy1] = windowsOf(iy, g.sh, g.ph, g.kh, g.oh);
      for (let ix = 0; ix < g.w; ix++, i++) {
        const [ox0, ox1] = windowsOf(ix, g.sw, g.pw, g.kw, g.ow);
        const j = iy * g.w + ix;
        let acc = 0;
        for (let oy = oy0; oy <= oy1; oy++) {
          for (let ox = ox0; ox <= ox1; ox++) {
            const d = ds[obase + oy * g.ow + ox];
            if (g.mode === 0) {
              if (am[obase + oy * g.ow + ox] === j) acc += d;
            } else if (g.mode === 1) {
              acc += d / area;
            } else {
              const [y0, y1] = clip(oy, g.sh, g.ph, g.kh, g.h);
              const [x0, x1] = clip(ox, g.sw, g.pw, g.kw, g.w);
              acc += d / ((y1 - y0) * (x1 - x0));
            }
          }
        }
        out[i] = g.scale * acc;
      }
    }
  }
  return new Tensor([g.n, g.c, g.h, g.w], dy.dtype, out);
}

// ---------------------------------------------------------------- GPU

function uniforms(g: PoolGeometry, total: number, r0: number, r1: number, rows: number) {
  return new UniformWriter()
    .u32(total).u32(g.h).u32(g.w).u32(g.oh)
    .u32(g.ow).u32(g.kh).u32(g.kw).u32(g.sh)
    .u32(g.sw).u32(g.ph).u32(g.pw).f32(g.scale)
    .u32(r0).u32(r1).u32(rows).u32(0)
    .build();
}

/**
 * Row slices [r0, r1) of `rows` rows of `inner` loop iterations each, within the
 * profile's `poolBudget` per slice (on software adapters, whose loops are cut short after
 * about 65 535 iterations, windows and the windows holding an element are covered a slice
 * of rows per dispatch).
 */
function slices(op: string, g: PoolGeometry, rows: number, inner: number): [number, number][] {
  const budget = gpuProfile().poolBudget;
  if (inner + 1 > budget) {
    throw new Error(
      `${op}: a window row of ${inner} steps (window ${g.kh}×${g.kw}, stride ${g.sh}×${g.sw}) ` +
        `exceeds the GPU kernel's loop budget of ${budget - 1} per row`,
    );
  }
  const step = Math.floor(budget / (inner + 1));
  const out: [number, number][] = [];
  for (let r0 = 0; r0 < Math.max(rows, 1); r0 += step) out.push([r0, Math.min(rows, r0 + step)]);
  return out;
}

/** Dispatches pool.wgsl `main` into `y` (and the argmax table `ai` when given). */
function poolMainGpu(x: Tensor, g: PoolGeometry, y: StorageBinding, ai: StorageBinding | null) {
  const rt = gpuRuntime();
  const total = g.n * g.c * g.oh * g.ow;
  for (const [r0, r1] of slices("pool", g, g.kh, g.kw)) {
    rt.dispatch({
      kernel: "pool",
      constants: { MODE: g.mode, ARG: ai !== null },
      uniforms: uniforms(g, total, r0, r1, g.kh),
      buffers: [x.binding("pool"), null, y, ai ?? rt.dummy],
      workgroups: grid2d(Math.ceil(total / 256)),
    });
  }
}

function poolForwardGpu(x: Tensor, g: PoolGeometry): Tensor {
  const y = emptyGpu([g.n, g.c, g.oh, g.ow]);
  if (y.size === 0) return y;
  poolMainGpu(x, g, y.binding("pool"), null);
  return y;
}

function poolBackwardGpu(x: Tensor | null, dy: Tensor, g: PoolGeometry): Tensor {
  const dx = emptyGpu([g.n, g.c, g.h, g.w]);
  if (dx.size === 0) return dx;
  const rt = gpuRuntime();
  // Max pooling with windows that do not overlap: one pass, each element rescanning its
  // only window (kernels/pool.wgsl backward_tiled).
  if (
    g.mode === 0 && g.sh >= g.kh && g.sw >= g.kw && g.kh * (g.kw + 1) < gpuProfile().poolBudget
  ) {
    rt.dispatch({
      kernel: "pool",
      entryPoint: "backward_tiled",
      uniforms: uniforms(g, dx.size, 0, g.kh, g.kh),
      buffers: [
        x!.binding("pool backward"),
        dy.size > 0 ? dy.binding("pool backward") : rt.dummy,
        dx.binding("pool backward"),
      ],
      workgroups: grid2d(Math.ceil(dx.size / 256)),
    });
    return dx;
  }
  // Otherwise a table of each window's first maximum, so that the backward pass does
  // not rescan every window holding an element (kh·kw more iterations per window).
  let ai: GPUBuffer | null = null;
  if (g.mode === 0 && dy.size > 0) {
    const vals = rt.alloc(dy.size * 4);
    ai = rt.alloc(dy.size * 4);
    poolMainGpu(x!, g, vals, ai);
    rt.free(vals);
  }
  const rows = Math.ceil(g.kh / g.sh);
  for (const [r0, r1] of slices("pool backward", g, rows, Math.ceil(g.kw / g.sw))) {
    rt.dispatch({
      kernel: "pool",
      entryPoint: "backward",
      constants: { MODE: g.mode },
      uniforms: uniforms(g, dx.size, r0, r1, rows),
      buffers: [
        null,
        dy.size > 0 ? dy.binding("pool backward") : rt.dummy,
        dx.binding("pool backward"),
        ai ?? rt.dummy,
      ],
      workgroups: grid2d(Math.ceil(dx.size / 256)),
    });
  }
  if (ai) rt.free(ai);
  return dx;
}

// ---------------------------------------------------------------- CPU backend (kernels/cpu/pool.c)

function poolInts(g: PoolGeometry): number[] {
  return [g.n * g.c, g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.ph, g.pw, g.sh, g.sw, g.mode];
}

/** CPU backend twin of {@link poolForwardCpu}. */
function poolForwardWasm(x: Tensor, g: PoolGeometry): Tensor {
  return kernelCall("pool", (k) => {
    const [y, py] = k.out([g.n, g.c, g.oh, g.ow]);
    if (y.size === 0) return y;
    k.run("pool_fwd", [k.ints(poolInts(g)), g.scale, k.in(x), py], x.size);
    return y;
  });
}

/** CPU backend twin of {@link poolBackwardCpu}. */
function poolBackwardWasm(x: Tensor | null, dy: Tensor, g: PoolGeometry): Tensor {
  return kernelCall("pool backward", (k) => {
    const [dx, pdx] = k.out([g.n, g.c, g.h, g.w]);
    if (dx.size === 0) return dx;
    const px = g.mode === 0 ? k.in(x!) : 0;
    k.run("pool_bwd", [k.ints(poolInts(g)), g.scale, px, k.in(dy), pdx], dx.size);
    return dx;
  });
}

// ---------------------------------------------------------------- ops

/** The gradient of pooling: inputs [x, dy] → dx (Knet's `poolx`; no gradient of its own). */
const poolGradOp = defineOp<PoolGeometry>({
  name: "pool_grad",
  cpu: ([x, dy], g) => poolBackwardCpu(x, dy, g),
  gpu: ([x, dy], g) => poolBackwardGpu(x, dy, g),
  wasm: ([x, dy], g) => poolBackwardWasm(x, dy, g),
});

const poolOp = defineOp<PoolGeometry>({
  name: "pool",
  cpu: ([x], g) => poolForwardCpu(x, g),
  gpu: ([x], g) => poolForwardGpu(x, g),
  wasm: ([x], g) => poolForwardWasm(x, g),
  backward: (dy, [x], _y, g) => [runOp(poolGradOp, [x, dy], g)],
});

/**
 * unpool's attrs are the geometry of the pooling it reverses (h×w its output, oh×ow
 * its input): forward is that pooling's mode-1 backward, backward its mode-1 forward.
 */
const unpoolOp = defineOp<PoolGeometry>({
  name: "unpool",
  cpu: ([x], g) => poolBackwardCpu(null, x, g),
  gpu: ([x], g) => poolBackwardGpu(null, x, g),
  wasm: ([x], g) => poolBackwardWasm(null, x, g),
  backward: (dy, _x, _y, g) => [runOp(poolOp, [dy], g)],
});

/** The option names of {@link PoolOptions}. */
export const POOL_OPTIONS: readonly string[] = ["window", "padding", "stride", "mode", "alpha"];

/**
 * Pools windows of the spatial dims of `x` [N,C,H,W] (Knet's `pool`). The result is
 * [N,C,Y1,Y2] with Yi = 1 + floor((Xi + 2·padding − window)/stride).
 *
 * - mode 0: maximum of the window's real cells (padding never wins). Gradient: dy goes
 *   to the window's argmax; on ties, to the first maximum in row-major window order.
 * - mode 1: window sum / window area (padded cells count as zeros in the divisor).
 * - mode 2: window sum / number of real cells.
 *
 * Averages spread dy/count over the window. `alpha` scales the result (and its
 * gradient; Knet's cuDNN refuses alpha ≠ 1 with mode 0, we allow it).
 * Differences from Knet: 4-D inputs only (Knet also pools 5-D), `padding` must be
 * smaller than `window`, and max pooling always propagates NaN (a window holding NaN
 * gives NaN and its gradient goes to the first NaN: Knet's `maxpoolingNanOpt=1`, its
 * default; the non-propagating option is not offered).
 */
export function pool(x: Tensor, opts: PoolOptions = {}): Tensor {
  checkInputs("pool", [x]);
  if (opts !== null && typeof opts === "object") checkOptionNames("pool", opts, POOL_OPTIONS);
  const mode = opts.mode ?? 0;
  const alpha = opts.alpha ?? 1;
  const { kh, kw, ph, pw, sh, sw } = geometry("pool", x, opts, mode, alpha);
  const [n, c, h, w] = x.shape;
  if (h + 2 * ph < kh || w + 2 * pw < kw) {
    throw new Error(
      `pool: window [${kh},${kw}] is larger than the padded input ` +
        `[${h + 2 * ph},${w + 2 * pw}] of ${describe(x)} (padding [${ph},${pw}])`,
    );
  }
  const oh = 1 + Math.floor((h + 2 * ph - kh) / sh);
  const ow = 1 + Math.floor((w + 2 * pw - kw) / sw);
  const g: PoolGeometry = { n, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw, mode, scale: alpha };
  return runOp(poolOp, [x], g);
}

/**
 * Knet's `unpool`, the reverse of average pooling: `pool(unpool(x, o), {...o, mode: 1})`
 * equals x. `x` [N,C,Y1,Y2] gives [N,C,X1,X2] with Xi = (Yi − 1)·stride + window −
 * 2·padding, computed as the mode-1 pooling gradient of x·(window area) / alpha: with
 * the default stride each element is repeated over its window. Its gradient is the
 * mode-1 pooling of dy times (window area) / alpha.
 */
export function unpool(x: Tensor, opts: UnpoolOptions = {}): Tensor {
  checkInputs("unpool", [x]);
  const alpha = opts.alpha ?? 1;
  const { kh, kw, ph, pw, sh, sw } = geometry("unpool", x, opts, 1, alpha);
  const [n, c, oh, ow] = x.shape;
  const h = (oh - 1) * sh + kh - 2 * ph;
  const w = (ow - 1) * sw + kw - 2 * pw;
  if (oh < 1 || ow < 1 || h < 1 || w < 1) {
    throw new Error(
      `unpool: ${describe(x)} with window [${kh},${kw}], stride [${sh},${sw}] and ` +
        `padding [${ph},${pw}] gives an empty output [${h},${w}]`,
    );
  }
  const scale = (kh * kw) / alpha;
  const g: PoolGeometry = { n, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw, mode: 1, scale };
  return runOp(unpoolOp, [x], g);
}
