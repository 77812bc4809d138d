/**
 * Knet's `dropout`: inverted dropout that is active only while `diff` records. The mask
 * is not stored: it is a counter-based hash of (seed, element index), computed
 * identically by kernels/dropout.wgsl and by the CPU twin {@link dropoutCpu}, so the
 * CPU and the GPU drop the same elements for the same seed, and the backward pass
 * regenerates the mask from the seed kept in the op's attrs.
 *
 * @module
 */

import { checkOptionNames } from "../options.ts";
import { isRecording } from "../autograd/tape.ts";
import { kernelCall } from "../cpu/call.ts";
import { gpuRuntime } from "../gpu/runtime.ts";
import { grid2d, UniformWriter } from "../gpu/uniforms.ts";
import { globalRng, type Rng } from "../tensor/random.ts";
import { emptyGpu, hostArray, Tensor } from "../tensor/tensor.ts";
import { checkInputs, defineOp, describe, type OpDef, runOp } from "./registry.ts";

/** Options of {@link dropout}. */
export interface DropoutOptions {
  /** Generator the per-call mask seed is drawn from (default: the global one, see `seed`). */
  rng?: Rng;
  /**
   * The mask seed itself (a 32-bit unsigned integer): the same seed gives the same mask
   * on the CPU and the GPU. Default: drawn from `rng`, a new mask per call.
   */
  seed?: number;
  /**
   * Whether to drop (Knet's `drop` keyword). Default: while `diff` records (Knet's
   * `training()`); pass true to apply dropout outside `diff`, false to disable it.
   */
  drop?: boolean;
}

/** Attrs of the dropout op: everything the mask depends on. */
export interface DropoutAttrs {
  /** The mask seed. */
  seed: number;
  /** pcg(seed), the key mixed into each element's hash. */
  key: number;
  /** An element is kept when its hash ≥ threshold = floor(p·2³²). */
  threshold: number;
  /** 1/(1 − p). */
  scale: number;
}

/**
 * The PCG-RXS-M-XS hash of a 32-bit unsigned integer (a bijection on u32), as in
 * kernels/dropout.wgsl.
 */
export function pcgHash(v: number): number {
  const state = (Math.imul(v, 747796405) + 2891336453) >>> 0;
  const word = Math.imul((state >>> ((state >>> 28) + 4)) ^ state, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/**
 * Whether dropout with mask seed `seed` and drop probability `p` keeps element `i`
 * (kept with probability 1 − p): pcg(pcg(i) xor pcg(seed)) ≥ floor(p·2³²).
 */
export function dropoutKeeps(seed: number, p: number, i: number): boolean {
  return pcgHash(pcgHash(i >>> 0) ^ pcgHash(seed >>> 0)) >= threshold(p);
}

function threshold(p: number): number {
  return Math.min(Math.floor(p * 4294967296), 4294967295);
}

/** CPU twin of kernels/dropout.wgsl: y[i] = keep(i) ? x[i]·scale : 0. */
export function dropoutCpu(x: Tensor, a: DropoutAttrs): Tensor {
  const xs = x.host("dropout");
  const out = hostArray(x.dtype, x.size);
  // An f32 tensor is scaled by the f32 scale, as the kernel does (bitwise equal results).
  const scale = x.dtype === "f32" ? Math.fround(a.scale) : a.scale;
  const { key, threshold: t } = a;
  for (let i = 0; i < xs.length; i++) {
    if (pcgHash(pcgHash(i) ^ key) >= t) out[i] = xs[i] * scale;
  }
  return new Tensor(x.shape, x.dtype, out);
}

/** CPU backend twin of {@link dropoutCpu} (kernels/cpu/dropout.c, bitwise equal). */
function dropoutWasm(x: Tensor, a: DropoutAttrs): Tensor {
  return kernelCall("dropout", (k) => {
    const [y, py] = k.out(x.shape);
    if (x.size === 0) return y;
    k.run("dropout", [x.size, k.in(x), py, a.key, a.threshold, a.scale], x.size * 4);
    return y;
  });
}

/** y = x·mask·scale; its gradient is the same op on dy (same seed, same mask). */
const dropoutOp: OpDef<DropoutAttrs> = defineOp<DropoutAttrs>({
  name: "dropout",
  cpu: ([x], a) => dropoutCpu(x, a),
  wasm: ([x], a) => dropoutWasm(x, a),
  gpu: ([x], a) => {
    const y = emptyGpu(x.shape);
    if (x.size === 0) return y;
    gpuRuntime().dispatch({
      kernel: "dropout",
      entryPoint: "main_vec4",
      uniforms: new UniformWriter().u32(x.size).u32(a.key).u32(a.threshold).f32(a.scale)
        .build(),
      buffers: [x.binding("dropout"), y.binding("dropout")],
      workgroups: grid2d(Math.ceil(x.size / 1024)),
    });
    return y;
  },
  backward: (dy, _inputs, _y, a) => [runOp(dropoutOp, [dy], a)],
});

/**
 * Knet's `dropout(x, p)`: while `diff` records (or with `drop: true`), each element is
 * zeroed with probability `p` and the survivors are scaled by 1/(1 − p), so the
 * expectation is unchanged; otherwise (prediction) `x` itself is returned. `p` must be
 * in [0, 1); `p = 0` returns `x`.
 *
 * The mask is a hash of (seed, element index): the seed is `opts.seed`, else drawn per
 * call from `opts.rng` or the global generator (seed it with `seed(...)` for
 * reproducible runs). The same seed gives the same mask on the CPU and the GPU, and the
 * gradient dx = dy·mask/(1 − p) regenerates it, so no mask is stored. Dropped elements
 * are exactly 0 even where x is NaN or infinite (Knet's x·0 would give NaN there).
 */
export function dropout(x: Tensor, p: number, opts: DropoutOptions = {}): Tensor {
  checkInputs("dropout", [x]);
  if (opts !== null && typeof opts === "object") {
    checkOptionNames("dropout", opts, ["rng", "seed", "drop"]);
  }
  if (typeof p !== "number" || !(p >= 0 && p < 1)) {
    throw new Error(`dropout: p must be a probability in [0, 1), got ${p} (x ${describe(x)})`);
  }
  if (
    opts.seed !== undefined && !(Number.isInteger(opts.seed) && opts.seed >= 0 &&
      opts.seed <= 0xffffffff)
  ) {
    throw new Error(`dropout: seed must be an integer in [0, 2^32), got ${opts.seed}`);
  }
  const drop = opts.drop ?? isRecording();
  if (!drop || p === 0) return x;
  const seed = opts.seed ?? (opts.rng ?? globalRng).nextU32();
  return runOp(dropoutOp, [x], {
    seed,
    key: pcgHash(seed),
    threshold: threshold(p),
    scale: 1 / (1 - p),
  });
}
