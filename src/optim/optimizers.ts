/**
 * Knet's optimizers (Knet.jl src/train20/update.jl): {@link SGD}, {@link Momentum},
 * {@link Nesterov}, {@link Adagrad}, {@link Rmsprop}, {@link Adadelta} and {@link Adam},
 * with Knet's formulas, defaults and state field names.
 *
 * Each update of one parameter is ONE fused dispatch of kernels/optim.wgsl (the override
 * `ALGO` selects the rule), two with gradient clipping: `nrm2` computes ‖g‖ on the
 * device and the update kernel applies the scale gclip/‖g‖ when ‖g‖ > gclip, so nothing
 * is read back to the host (no sync). nrm2 takes a second pass above 32768 elements,
 * making that three. Inside a training step (./grouped.ts) unclipped updates of one
 * setting go four Params per dispatch. The CPU twin (f32 and f64) below computes the
 * same expressions.
 *
 * One difference from Knet: Knet's `gclip!` scales the caller's gradient in place; here
 * the gradient is never modified (the scale is applied inside the update).
 *
 * @module
 */

import { gpuRuntime } from "../gpu/runtime.ts";
import { grid2d } from "../gpu/uniforms.ts";
import { kernelCall } from "../cpu/call.ts";
import { inHeapMemory } from "../cpu/heap.ts";
import { backendOf } from "../backend.ts";
import { checkInputs, defineOp, describe, runOp } from "../ops/registry.ts";
import { nrm2 } from "../ops/reduce.ts";
import { copyInto } from "../ops/vector.ts";
import { fmtShape } from "../tensor/shape.ts";
import { keep } from "../tensor/scope.ts";
import { emptyGpu, hostArray, Tensor } from "../tensor/tensor.ts";
import type { Optimizer, OptimizerConfig } from "./optimizer.ts";
import { optimUniforms, queueUpdate, type UpdateCoefficients } from "./grouped.ts";

// ---------------------------------------------------------------------------------------
// The fused update op (kernels/optim.wgsl) and its CPU twin

/** The override ALGO of kernels/optim.wgsl. */
const ALGOS = {
  SGD: 0,
  Momentum: 1,
  Nesterov: 2,
  Adagrad: 3,
  Rmsprop: 4,
  Adadelta: 5,
  Adam: 6,
  clip: 7,
} as const;
type AlgoName = keyof typeof ALGOS;

/** Number of state tensors each rule reads and writes (bindings S1, S2). */
const STATE_COUNT: Record<AlgoName, number> = {
  SGD: 0,
  Momentum: 1,
  Nesterov: 1,
  Adagrad: 1,
  Rmsprop: 1,
  Adadelta: 2,
  Adam: 2,
  clip: 0,
};

/** The uniform block of kernels/optim.wgsl, plus the algorithm and clipping switch. */
interface UpdateAttrs extends UpdateCoefficients {
  algo: AlgoName;
  /** Whether the last input is the 1-element norm of g (clip when norm > gclip). */
  clip: boolean;
}

/** Inputs: [w, g, ...state (STATE_COUNT), norm (when clip)]. */
function splitInputs(inputs: readonly Tensor[], u: UpdateAttrs) {
  const ns = STATE_COUNT[u.algo];
  return {
    w: inputs[0],
    g: inputs[1],
    s1: ns >= 1 ? inputs[2] : null,
    s2: ns >= 2 ? inputs[3] : null,
    norm: u.clip ? inputs[2 + ns] : null,
  };
}

function updateCpu(inputs: readonly Tensor[], u: UpdateAttrs): Tensor {
  const { w, g, s1, s2, norm } = splitInputs(inputs, u);
  const op = u.algo;
  const W = w.host(op);
  const G = g.host(op);
  const S1 = s1?.host(op) ?? W;
  const S2 = s2?.host(op) ?? W;
  let scale = 1;
  if (norm) {
    const nrm = norm.host(op)[0];
    if (nrm > u.gclip) scale = u.gclip / nrm;
  }
  const { lr, a, a1, b, b1, eps, c1, c2 } = u;
  const n = W.length;
  // The clipped g is rounded to the storage type, as the GPU holds it in an f32.
  const gv = W instanceof Float32Array ? new Float32Array(1) : new Float64Array(1);
  for (let i = 0; i < n; i++) {
    let gi = G[i];
    if (scale !== 1) {
      gv[0] = gi * scale;
      gi = gv[0];
    }
    switch (op) {
      case "SGD":
        W[i] = W[i] - lr * gi;
        break;
      case "Momentum": {
        const v = a * S1[i] - lr * gi;
        S1[i] = v;
        W[i] = W[i] + S1[i];
        break;
      }
      case "Nesterov": {
        S1[i] = a * S1[i];
        W[i] = W[i] - S1[i];
        S1[i] = S1[i] - lr * gi;
        W[i] = W[i] + (1 + a) * S1[i];
        break;
      }
      case "Adagrad":
        S1[i] = S1[i] + gi * gi;
        W[i] = W[i] - lr * (gi / Math.sqrt(S1[i] + eps));
        break;
      case "Rmsprop":
        S1[i] = a * S1[i] + a1 * (gi * gi);
        W[i] = W[i] - lr * (gi / Math.sqrt(S1[i] + eps));
        break;
      case "Adadelta": {
        S1[i] = a * S1[i] + a1 * (gi * gi);
        const du = gi * Math.sqrt(S2[i] + eps) / Math.sqrt(S1[i] + eps);
        S2[i] = a * S2[i] + a1 * (du * du);
        W[i] = W[i] - lr * du;
        break;
      }
      case "Adam":
        S1[i] = a * S1[i] + a1 * gi;
        S2[i] = b * S2[i] + b1 * (gi * gi);
        W[i] = W[i] - lr * ((S1[i] / c1) / (Math.sqrt(S2[i] / c2) + eps));
        break;
      case "clip":
        W[i] = gi;
        break;
    }
  }
  return w;
}

/**
 * CPU backend twin of {@link updateCpu} (kernels/cpu/optim.c, bitwise equal): in place on
 * w and the state tensors; one whose storage lies outside the kernels' heap is updated
 * on a staged copy and copied back.
 */
function updateWasm(inputs: readonly Tensor[], u: UpdateAttrs): Tensor {
  const { w, g, s1, s2, norm } = splitInputs(inputs, u);
  if (w.size === 0) return w;
  const op = u.algo;
  return kernelCall(op, (k) => {
    const written = [w, s1, s2].filter((t) => t !== null).map((t) => [t, k.in(t)] as const);
    const ptr = (t: Tensor | null) => t ? written.find(([s]) => s === t)![1] : 0;
    const c = k.scratch(9 * 8);
    new Float64Array(k.rt.memory.buffer, c, 9).set([
      u.lr,
      u.a,
      u.a1,
      u.b,
      u.b1,
      u.eps,
      u.c1,
      u.c2,
      u.gclip,
    ]);
    const pnorm = norm ? k.in(norm) : 0;
    const args = [ALGOS[op], w.size, ptr(w), k.in(g), ptr(s1), ptr(s2), pnorm, c];
    k.run("optim_update", args, w.size * 4);
    for (const [t, at] of written) {
      const h = t.host(op);
      if (!inHeapMemory(h)) h.set(new Float32Array(k.rt.memory.buffer, at, h.length));
    }
    return w;
  });
}

/**
 * A zero state tensor like w: in the CPU kernels' heap for an f32 CPU w while the kernels
 * are on, so {@link updateWasm} updates it in place without staging copies.
 */
function stateZeros(w: Tensor): Tensor {
  // on the CPU the backend's storage is the kernels' heap (f32): updated in place
  const be = backendOf(w.device);
  const t = be.empty(w.shape, w.dtype);
  be.clear(t, 0, t.size);
  return t;
}

function updateGpu(inputs: readonly Tensor[], u: UpdateAttrs): Tensor {
  const { w, g, s1, s2, norm } = splitInputs(inputs, u);
  w.invalidateHostMirror();
  s1?.invalidateHostMirror();
  s2?.invalidateHostMirror();
  if (w.size === 0) return w;
  const op = u.algo;
  // In place, unclipped: may join a grouped dispatch (see ./grouped.ts).
  if (op !== "clip" && !u.clip && queueUpdate({ algo: ALGOS[op], u, w, g, s1, s2 })) return w;
  const rt = gpuRuntime();
  const gBuf = g.binding(op);
  rt.dispatch({
    kernel: "optim",
    constants: { ALGO: ALGOS[u.algo], CLIP: u.clip },
    uniforms: optimUniforms(w.size, u),
    // Unused bindings get spare buffers: two distinct writable ones for S1/S2 (no
    // aliasing of writable bindings), and G itself for the norm (read-only twice).
    buffers: [
      w.binding(op),
      gBuf,
      s1 ? s1.binding(op) : rt.sink,
      s2 ? s2.binding(op) : rt.dummy,
      norm ? norm.binding(op) : gBuf,
    ],
    workgroups: grid2d(Math.ceil(w.size / 256)),
  });
  return w;
}

/** The fused in-place update: w (and the state tensors) ← one step of the rule. */
const optimUpdateOp = defineOp<UpdateAttrs>({
  name: "optim_update",
  inPlace: true,
  cpu: updateCpu,
  wasm: updateWasm,
  gpu: updateGpu,
});

/** Standalone clipping: a new tensor holding g·min(1, limit/‖g‖) (no gradient, as Knet). */
const gclipOp = defineOp<UpdateAttrs>({
  name: "gclip",
  cpu: (inputs, u) => {
    const g = inputs[0];
    const out = new Tensor(g.shape, g.dtype, hostArray(g.dtype, g.size));
    return updateCpu([out, ...inputs], u);
  },
  wasm: (inputs, u) =>
    kernelCall("gclip", (k) => updateWasm([k.out(inputs[0].shape)[0], ...inputs], u)),
  gpu: (inputs, u) => updateGpu([emptyGpu(inputs[0].shape), ...inputs], u),
});

function noCoefs(lr: number, gclip: number): UpdateAttrs {
  return {
    algo: "SGD",
    clip: false,
    lr,
    a: 0,
    a1: 1,
    b: 0,
    b1: 1,
    eps: 0,
    c1: 1,
    c2: 1,
    gclip,
  };
}

/**
 * A new tensor holding g scaled to norm `limit` when ‖g‖ > limit > 0, else a copy of g
 * (Knet's `gclip!`, without modifying g). The norm is computed and applied on g's device:
 * no host sync. The caller owns (disposes) the result. Outside `diff` use: the result
 * carries no gradient.
 */
export function gclip(g: Tensor, limit: number): Tensor {
  checkInputs("gclip", [g]);
  if (typeof limit !== "number" || !Number.isFinite(limit) || limit < 0) {
    throw new Error(`gclip: limit must be a finite number ≥ 0, got ${String(limit)}`);
  }
  const clip = limit > 0 && g.size > 0;
  const norm = clip ? nrm2(g) : null;
  try {
    const attrs: UpdateAttrs = { ...noCoefs(0, limit), algo: "clip", clip };
    return runOp(gclipOp, norm ? [g, norm] : [g], attrs);
  } finally {
    norm?.dispose();
  }
}

// ---------------------------------------------------------------------------------------
// Options

/** Hyperparameters of the optimizers (each class takes the ones it uses). */
export interface OptimizerOptions {
  /** Learning rate (> 0). */
  lr?: number;
  /** Per-parameter gradient clipping norm (≥ 0; 0 = off). */
  gclip?: number;
  /** Momentum decay of Momentum and Nesterov, in [0, 1]. */
  gamma?: number;
  /** Decay of the squared-gradient averages of Rmsprop and Adadelta, in [0, 1]. */
  rho?: number;
  /** Added under the square roots (Adam: to the root) for stability (> 0). */
  eps?: number;
  /** Adam's first-moment decay, in [0, 1). */
  beta1?: number;
  /** Adam's second-moment decay, in [0, 1). */
  beta2?: number;
}

/** Options of {@link SGD}. */
export type SGDOptions = Pick<OptimizerOptions, "lr" | "gclip">;
/** Options of {@link Momentum} and {@link Nesterov}. */
export type MomentumOptions = Pick<OptimizerOptions, "lr" | "gamma" | "gclip">;
/** Options of {@link Adagrad}. */
export type AdagradOptions = Pick<OptimizerOptions, "lr" | "eps" | "gclip">;
/** Options of {@link Rmsprop} and {@link Adadelta}. */
export type RmspropOptions = Pick<OptimizerOptions, "lr" | "rho" | "eps" | "gclip">;
/** Options of {@link Adam}. */
export type AdamOptions = Pick<OptimizerOptions, "lr" | "beta1" | "beta2" | "eps" | "gclip">;

type OptionName = keyof OptimizerOptions;

/** Valid range of each option (checked on construction, load and every update). */
/** f32's smallest normal and largest finite values: GPU kernels compute in f32. */
const F32_MIN_NORMAL = 2 ** -126;
const F32_MAX = 3.4028234663852886e38;
const f32Positive = (v: number) => v >= F32_MIN_NORMAL && v <= F32_MAX;
const F32_RANGE = "normal range [1.1754944e-38, 3.4028235e38]";

/** The options a GPU kernel takes as an f32 (0, for gclip, turns clipping off). */
const F32_OPTIONS: readonly string[] = ["lr", "gclip", "eps"];

const RANGES: Record<OptionName, { ok: (v: number) => boolean; says: string }> = {
  lr: { ok: (v) => v > 0, says: "> 0" },
  gclip: { ok: (v) => v >= 0, says: "≥ 0 (0 turns clipping off)" },
  gamma: { ok: (v) => v >= 0 && v <= 1, says: "in [0, 1]" },
  rho: { ok: (v) => v >= 0 && v <= 1, says: "in [0, 1]" },
  eps: { ok: (v) => v > 0, says: "> 0" },
  beta1: { ok: (v) => v >= 0 && v < 1, says: "in [0, 1)" },
  beta2: { ok: (v) => v >= 0 && v < 1, says: "in [0, 1)" },
};

function checkValue(where: string, key: string, v: unknown, range: (typeof RANGES)[OptionName]) {
  if (typeof v !== "number" || !Number.isFinite(v) || !range.ok(v)) {
    throw new Error(`${where}: ${key} must be a finite number ${range.says}, got ${String(v)}`);
  }
  if (F32_OPTIONS.includes(key) && v !== 0 && !f32Positive(v)) {
    throw new Error(
      `${where}: ${key} = ${v} is outside f32's ${F32_RANGE} (the kernels compute in f32: ` +
        "it would underflow to 0 or overflow to Inf)",
    );
  }
}

/**
 * The options merged over the defaults, after checking that every given key is one the
 * optimizer takes and every value is in range.
 */
function resolveOptions(
  name: string,
  given: unknown,
  defaults: Readonly<Record<string, number>>,
): Record<string, number> {
  if (given === undefined || given === null) given = {};
  if (typeof given !== "object" || Array.isArray(given)) {
    throw new Error(`${name}: options must be an object, got ${String(given)}`);
  }
  const out: Record<string, number> = { ...defaults };
  for (const [k, v] of Object.entries(given as Record<string, unknown>)) {
    if (!(k in defaults)) {
      throw new Error(
        `${name}: unknown option '${k}' (${name} takes ${Object.keys(defaults).join(", ")})`,
      );
    }
    if (v === undefined) continue;
    out[k] = v as number;
  }
  checkHyper(name, out);
  return out;
}

function checkHyper(where: string, h: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(h)) checkValue(where, k, v, RANGES[k as OptionName]);
}

// ---------------------------------------------------------------------------------------
// The shared implementation

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

type Coefs = Omit<UpdateAttrs, "algo" | "clip" | "lr" | "gclip">;

/** What distinguishes the algorithms (the shared code below does the rest). */
interface Rule {
  /** Hyperparameters (fields of the optimizer), in config order, with defaults. */
  defaults: Readonly<Record<string, number>>;
  /** Knet's names of the state tensors, in kernel binding order (S1, S2). */
  state: readonly string[];
  /** Whether the optimizer counts its steps in a field `t` (Adam). */
  counts: boolean;
  /** The kernel coefficients of step number `t` (1 for the first) from the hyperparameters. */
  coefficients(h: Readonly<Record<string, number>>, t: number): Coefs;
}

const PLAIN: Coefs = { a: 0, a1: 1, b: 0, b1: 1, eps: 0, c1: 1, c2: 1 };

const RULES: Record<string, Rule> = {
  SGD: {
    defaults: { lr: 0.1, gclip: 0 },
    state: [],
    counts: false,
    coefficients: () => PLAIN,
  },
  Momentum: {
    defaults: { lr: 0.05, gamma: 0.95, gclip: 0 },
    state: ["velocity"],
    counts: false,
    coefficients: (h) => ({ ...PLAIN, a: h.gamma, a1: 1 - h.gamma }),
  },
  Nesterov: {
    defaults: { lr: 0.05, gamma: 0.95, gclip: 0 },
    state: ["velocity"],
    counts: false,
    coefficients: (h) => ({ ...PLAIN, a: h.gamma, a1: 1 - h.gamma }),
  },
  Adagrad: {
    defaults: { lr: 0.05, eps: 1e-6, gclip: 0 },
    state: ["G"],
    counts: false,
    coefficients: (h) => ({ ...PLAIN, a: 1, a1: 0, eps: h.eps }),
  },
  Rmsprop: {
    defaults: { lr: 0.01, rho: 0.9, eps: 1e-6, gclip: 0 },
    state: ["G"],
    counts: false,
    coefficients: (h) => ({ ...PLAIN, a: h.rho, a1: 1 - h.rho, eps: h.eps }),
  },
  Adadelta: {
    defaults: { lr: 1.0, rho: 0.9, eps: 1e-6, gclip: 0 },
    state: ["G", "delta"],
    counts: false,
    coefficients: (h) => ({ ...PLAIN, a: h.rho, a1: 1 - h.rho, eps: h.eps }),
  },
  Adam: {
    defaults: { lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8, gclip: 0 },
    state: ["fstm", "scndm"],
    counts: true,
    coefficients: (h, t) => ({
      a: h.beta1,
      a1: 1 - h.beta1,
      b: h.beta2,
      b1: 1 - h.beta2,
      eps: h.eps,
      c1: 1 - h.beta1 ** t,
      c2: 1 - h.beta2 ** t,
    }),
  },
};

/**
 * The state tensors that accumulate squares, so every value is ≥ 0 (a negative one, or
 * NaN, would make the update's square root NaN).
 */
const NONNEGATIVE_STATE: Readonly<Record<string, readonly string[]>> = {
  Adagrad: ["G"],
  Rmsprop: ["G"],
  Adadelta: ["G", "delta"],
  Adam: ["scndm"],
};

/**
 * Checks the values of state tensor `field` of optimizer `name` (e.g. Adam's second
 * moment `scndm` must be ≥ 0 everywhere); throws an Error naming the field, the first
 * bad element and its value. Other fields are not checked.
 */
export function checkStateValues(name: string, field: string, values: ArrayLike<number>): void {
  const algo = name.split(".")[0];
  if (!(NONNEGATIVE_STATE[algo] ?? []).includes(field)) return;
  for (let i = 0; i < values.length; i++) {
    if (!(values[i] >= 0)) {
      throw new Error(
        `${name}: state '${field}' must be ≥ 0 (it accumulates squares), got ${
          values[i]
        } at element ${i}`,
      );
    }
  }
}

/** The optimizer's fields as a record (hyperparameters and `t`). */
const fields = (o: OptimizerBase) => o as unknown as Record<string, number>;

/** The hyperparameters of `o` by option name, in config order. */
function hyperOf(o: OptimizerBase): Record<string, number> {
  const h: Record<string, number> = {};
  for (const k of Object.keys(RULES[o.name].defaults)) h[k] = fields(o)[k];
  return h;
}

/** Checks Adam's step count against the presence of its state tensors. */
function checkSteps(where: string, t: unknown, hasState: boolean): void {
  if (typeof t !== "number" || !Number.isSafeInteger(t) || t < 0) {
    throw new Error(`${where}: t must be a non-negative integer, got ${String(t)}`);
  }
  if ((t > 0) !== hasState) {
    throw new Error(
      hasState
        ? `${where}: t = 0 but state tensors are given (t counts the updates that made them)`
        : `${where}: t = ${t} but the state tensors are missing`,
    );
  }
}

/**
 * The implementation the seven optimizers share: hyperparameter checks, lazy state on
 * the parameter's device and dtype, the fused update, config and state save / load.
 * Use the concrete classes; this one is exported for `instanceof` and documentation.
 */
export abstract class OptimizerBase implements Optimizer {
  /** The algorithm's name as Knet spells it. */
  abstract readonly name: string;
  /** Learning rate (> 0). */
  lr: number;
  /** Gradient clipping norm (0 = off): when ‖g‖ > gclip, g is scaled to norm gclip. */
  gclip: number;
  /** State tensors in the rule's order; null before the first update. */
  #state: Tensor[] | null = null;

  /** Sets lr and gclip (validated by the subclass). */
  protected constructor(lr: number, gclip: number) {
    this.lr = lr;
    this.gclip = gclip;
  }

  /** A copy with the same hyperparameters and empty state (Knet's `clone`). */
  abstract clone(): Optimizer;

  /**
   * w ← one step of the rule from gradient g (same shape, device and dtype as w), in
   * place. The state is created (zeros, on w's device and dtype) at the first call. On
   * the GPU: one dispatch, two with gclip (see the module doc), no host sync. g is not
   * modified. The hyperparameters may be changed between updates (a learning-rate
   * schedule); they are checked at each call.
   */
  update(w: Tensor, g: Tensor): void {
    const where = `${this.name}.update`;
    const rule = RULES[this.name];
    checkInputs(where, [w, g]);
    if (!sameShape(w.shape, g.shape)) {
      throw new Error(`${where}: gradient ${describe(g)} does not match w ${describe(w)}`);
    }
    const h = hyperOf(this);
    checkHyper(where, h);
    if (rule.counts) checkSteps(where, fields(this).t, this.#state !== null);
    if (this.#state) {
      const s = this.#state[0];
      if (!sameShape(s.shape, w.shape) || s.device !== w.device || s.dtype !== w.dtype) {
        throw new Error(
          `${where}: the state (${describe(s)}) does not match w ${describe(w)}; an ` +
            "optimizer holds the state of one parameter, clone() it for another",
        );
      }
      if (this.#state.some((t) => t.disposed)) {
        throw new Error(`${where}: a state tensor was disposed`);
      }
    }
    if (!this.#state && rule.state.length > 0) {
      this.#state = rule.state.map(() => keep(stateZeros(w)));
    }
    const t = rule.counts ? fields(this).t + 1 : 1;
    const clip = this.gclip > 0 && g.size > 0;
    const norm = clip ? nrm2(g) : null;
    try {
      const attrs: UpdateAttrs = {
        ...rule.coefficients(h, t),
        algo: this.name as AlgoName,
        clip,
        lr: this.lr,
        gclip: this.gclip,
      };
      runOp(optimUpdateOp, [w, g, ...(this.#state ?? []), ...(norm ? [norm] : [])], attrs);
    } finally {
      norm?.dispose();
    }
    if (rule.counts) fields(this).t = t;
  }

  /** Hyperparameters and scalar state (Adam's `t`), JSON-safe. */
  config(): OptimizerConfig {
    const c = hyperOf(this);
    if (RULES[this.name].counts) c.t = fields(this).t;
    return c;
  }

  /**
   * The state tensors by Knet field name (`{}` before the first update). These are the
   * optimizer's own tensors, not copies: read them, do not dispose them.
   */
  stateTensors(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    if (this.#state) RULES[this.name].state.forEach((n, i) => (out[n] = this.#state![i]));
    return out;
  }

  /**
   * Restores hyperparameters, scalar state and state tensors from {@link config} and
   * {@link stateTensors} output. `config` must have exactly this optimizer's keys;
   * `tensors` must be empty (no state yet) or hold exactly its state fields, each of
   * `like`'s shape. They are copied onto `like`'s device and dtype (a GPU tensor cannot
   * be copied to a CPU parameter synchronously: read it with `await t.cpu()` first).
   * Everything is checked before anything changes.
   */
  loadState(config: OptimizerConfig, tensors: Record<string, Tensor>, like: Tensor): void {
    const where = `${this.name}.loadState`;
    const rule = RULES[this.name];
    if (!(like instanceof Tensor)) {
      throw new Error(`${where}: like must be a Tensor, got ${String(like)}`);
    }
    checkInputs(where, [like]);
    if (config === null || typeof config !== "object") {
      throw new Error(`${where}: config must be an object, got ${String(config)}`);
    }
    if (tensors === null || typeof tensors !== "object") {
      throw new Error(`${where}: tensors must be an object, got ${String(tensors)}`);
    }
    const want = Object.keys(this.config());
    const got = Object.keys(config);
    const missing = want.filter((k) => !got.includes(k));
    const extra = got.filter((k) => !want.includes(k));
    if (missing.length > 0 || extra.length > 0) {
      throw new Error(
        `${where}: config keys [${got.join(", ")}] do not match [${want.join(", ")}]` +
          (missing.length ? `; missing ${missing.join(", ")}` : "") +
          (extra.length ? `; unknown ${extra.join(", ")}` : ""),
      );
    }
    const h: Record<string, number> = {};
    for (const k of Object.keys(rule.defaults)) h[k] = config[k];
    checkHyper(where, h);
    const given = Object.keys(tensors);
    if (given.length > 0) {
      const missingT = rule.state.filter((n) => !given.includes(n));
      const extraT = given.filter((n) => !rule.state.includes(n));
      if (missingT.length > 0 || extraT.length > 0) {
        throw new Error(
          `${where}: state tensors [${given.join(", ")}] do not match [${rule.state.join(", ")}]`,
        );
      }
    }
    if (rule.counts) checkSteps(where, config.t, given.length > 0);
    for (const n of given) {
      const t = tensors[n];
      if (!(t instanceof Tensor)) {
        throw new Error(`${where}: state '${n}' is not a Tensor (got ${String(t)})`);
      }
      if (t.disposed) throw new Error(`${where}: state '${n}' (${describe(t)}) was disposed`);
      if (!sameShape(t.shape, like.shape)) {
        throw new Error(
          `${where}: state '${n}' has shape ${fmtShape(t.shape)}, the parameter ${
            fmtShape(like.shape)
          }`,
        );
      }
      if (t.device === "gpu" && like.device === "cpu") {
        throw new Error(
          `${where}: state '${n}' is on the gpu and the parameter on the cpu; ` +
            "read it with `await t.cpu()` first",
        );
      }
      // GPU state is not read back here (loadCheckpoint checks the file's values).
      if (t.device === "cpu") checkStateValues(where, n, t.host(where));
    }
    // Everything checked: copy and commit.
    const copies = given.length > 0 ? rule.state.map((n) => keep(copyTo(tensors[n], like))) : null;
    this.dispose();
    this.#state = copies;
    for (const [k, v] of Object.entries(h)) fields(this)[k] = v;
    if (rule.counts) fields(this).t = config.t;
  }

  /** Releases the state tensors; the next update starts afresh (Adam: t = 0). */
  dispose(): void {
    for (const t of this.#state ?? []) t.dispose();
    this.#state = null;
    if (RULES[this.name].counts) fields(this).t = 0;
  }
}

/** A copy of `src` on `like`'s device and dtype (src is not a GPU tensor for a CPU like). */
function copyTo(src: Tensor, like: Tensor): Tensor {
  if (like.device === "gpu") {
    if (src.device === "gpu") {
      const dst = emptyGpu(src.shape);
      copyInto(src, dst);
      return dst;
    }
    return src.asType("f32").gpu();
  }
  const out = hostArray(like.dtype, src.size);
  out.set(src.host("loadState"));
  return new Tensor(src.shape, like.dtype, out);
}

// ---------------------------------------------------------------------------------------
// The optimizers

/** Stochastic gradient descent (Knet's `SGD(; lr=0.1, gclip=0)`): w ← w − lr·g. */
export class SGD extends OptimizerBase {
  /** "SGD". */
  readonly name: string = "SGD";

  /** Options: lr = 0.1, gclip = 0. */
  constructor(options: SGDOptions = {}) {
    const o = resolveOptions("SGD", options, RULES.SGD.defaults);
    super(o.lr, o.gclip);
  }

  /** A copy with the same hyperparameters (SGD has no state). */
  clone(): SGD {
    return new SGD(hyperOf(this));
  }
}

/**
 * Momentum (Knet's `Momentum(; lr=0.05, gamma=0.95, gclip=0)`):
 * v ← gamma·v; v ← v − lr·g; w ← w + v, with v (`velocity`) starting at 0.
 */
export class Momentum extends OptimizerBase {
  /** "Momentum". */
  readonly name: string = "Momentum";
  /** Velocity decay, in [0, 1]. */
  gamma: number;

  /** Options: lr = 0.05, gamma = 0.95, gclip = 0. */
  constructor(options: MomentumOptions = {}) {
    const o = resolveOptions("Momentum", options, RULES.Momentum.defaults);
    super(o.lr, o.gclip);
    this.gamma = o.gamma;
  }

  /** The velocity (null before the first update). */
  get velocity(): Tensor | null {
    return this.stateTensors().velocity ?? null;
  }

  /** A copy with the same hyperparameters and no state. */
  clone(): Momentum {
    return new Momentum(hyperOf(this));
  }
}

/**
 * Nesterov momentum (Knet's `Nesterov(; lr=0.05, gamma=0.95, gclip=0)`):
 * v ← gamma·v; w ← w − v; v ← v − lr·g; w ← w + (1 + gamma)·v.
 */
export class Nesterov extends OptimizerBase {
  /** "Nesterov". */
  readonly name: string = "Nesterov";
  /** Velocity decay, in [0, 1]. */
  gamma: number;

  /** Options: lr = 0.05, gamma = 0.95, gclip = 0. */
  constructor(options: MomentumOptions = {}) {
    const o = resolveOptions("Nesterov", options, RULES.Nesterov.defaults);
    super(o.lr, o.gclip);
    this.gamma = o.gamma;
  }

  /** The velocity (null before the first update). */
  get velocity(): Tensor | null {
    return this.stateTensors().velocity ?? null;
  }

  /** A copy with the same hyperparameters and no state. */
  clone(): Nesterov {
    return new Nesterov(hyperOf(this));
  }
}

/**
 * Adagrad (Knet's `Adagrad(; lr=0.05, eps=1e-6, gclip=0)`):
 * G ← G + g²; w ← w − lr·g/√(G + eps).
 */
export class Adagrad extends OptimizerBase {
  /** "Adagrad". */
  readonly name: string = "Adagrad";
  /** Added to G under the square root (> 0). */
  eps: number;

  /** Options: lr = 0.05, eps = 1e-6, gclip = 0. */
  constructor(options: AdagradOptions = {}) {
    const o = resolveOptions("Adagrad", options, RULES.Adagrad.defaults);
    super(o.lr, o.gclip);
    this.eps = o.eps;
  }

  /** The sum of squared gradients (null before the first update). */
  get G(): Tensor | null {
    return this.stateTensors().G ?? null;
  }

  /** A copy with the same hyperparameters and no state. */
  clone(): Adagrad {
    return new Adagrad(hyperOf(this));
  }
}

/**
 * RMSprop (Knet's `Rmsprop(; lr=0.01, rho=0.9, eps=1e-6, gclip=0)`):
 * G ← rho·G + (1 − rho)·g²; w ← w − lr·g/√(G + eps).
 */
export class Rmsprop extends OptimizerBase {
  /** "Rmsprop". */
  readonly name: string = "Rmsprop";
  /** Decay of the squared-gradient average, in [0, 1]. */
  rho: number;
  /** Added under the square root (> 0). */
  eps: number;

  /** Options: lr = 0.01, rho = 0.9, eps = 1e-6, gclip = 0. */
  constructor(options: RmspropOptions = {}) {
    const o = resolveOptions("Rmsprop", options, RULES.Rmsprop.defaults);
    super(o.lr, o.gclip);
    this.rho = o.rho;
    this.eps = o.eps;
  }

  /** The running average of squared gradients (null before the first update). */
  get G(): Tensor | null {
    return this.stateTensors().G ?? null;
  }

  /** A copy with the same hyperparameters and no state. */
  clone(): Rmsprop {
    return new Rmsprop(hyperOf(this));
  }
}

/**
 * Adadelta (Knet's `Adadelta(; lr=1.0, rho=0.9, eps=1e-6, gclip=0)`):
 * G ← rho·G + (1 − rho)·g²; u = g·√(delta + eps)/√(G + eps);
 * delta ← rho·delta + (1 − rho)·u²; w ← w − lr·u.
 */
export class Adadelta extends OptimizerBase {
  /** "Adadelta". */
  readonly name: string = "Adadelta";
  /** Decay of the running averages, in [0, 1]. */
  rho: number;
  /** Added under the square roots (> 0). */
  eps: number;

  /** Options: lr = 1.0, rho = 0.9, eps = 1e-6, gclip = 0. */
  constructor(options: RmspropOptions = {}) {
    const o = resolveOptions("Adadelta", options, RULES.Adadelta.defaults);
    super(o.lr, o.gclip);
    this.rho = o.rho;
    this.eps = o.eps;
  }

  /** The running average of squared gradients (null before the first update). */
  get G(): Tensor | null {
    return this.stateTensors().G ?? null;
  }

  /** The running average of squared updates (null before the first update). */
  get delta(): Tensor | null {
    return this.stateTensors().delta ?? null;
  }

  /** A copy with the same hyperparameters and no state. */
  clone(): Adadelta {
    return new Adadelta(hyperOf(this));
  }
}

/**
 * Adam (Knet's `Adam(; lr=0.001, gclip=0, beta1=0.9, beta2=0.999, eps=1e-8)`):
 * t ← t + 1; m ← beta1·m + (1 − beta1)·g; v ← beta2·v + (1 − beta2)·g²;
 * w ← w − lr·(m/(1 − beta1^t)) / (√(v/(1 − beta2^t)) + eps), with m (`fstm`) and
 * v (`scndm`) starting at 0. The bias corrections are computed on the host from t.
 */
export class Adam extends OptimizerBase {
  /** "Adam". */
  readonly name: string = "Adam";
  /** First-moment decay, in [0, 1). */
  beta1: number;
  /** Second-moment decay, in [0, 1). */
  beta2: number;
  /** Added to the root of the second moment (> 0). */
  eps: number;
  /** Updates done so far (part of {@link config}; 0 exactly when there is no state). */
  t = 0;

  /** Options: lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, gclip = 0. */
  constructor(options: AdamOptions = {}) {
    const o = resolveOptions("Adam", options, RULES.Adam.defaults);
    super(o.lr, o.gclip);
    this.beta1 = o.beta1;
    this.beta2 = o.beta2;
    this.eps = o.eps;
  }

  /** The first moment m (null before the first update). */
  get fstm(): Tensor | null {
    return this.stateTensors().fstm ?? null;
  }

  /** The second moment v (null before the first update). */
  get scndm(): Tensor | null {
    return this.stateTensors().scndm ?? null;
  }

  /** A copy with the same hyperparameters, no state and t = 0. */
  clone(): Adam {
    return new Adam(hyperOf(this));
  }
}

/** A concrete optimizer class (constructor from options). */
export type OptimizerClass = new (options?: OptimizerOptions) => OptimizerBase;

/** The optimizer classes by Knet name. */
export const OPTIMIZERS: Readonly<Record<string, OptimizerClass>> = Object.freeze({
  SGD,
  Momentum,
  Nesterov,
  Adagrad,
  Rmsprop,
  Adadelta,
  Adam,
});

/**
 * An optimizer of the named algorithm with the hyperparameters and scalar state of
 * `config` (the output of {@link Optimizer.config}) and no state tensors: restore those
 * with `loadState`. Throws an Error on an unknown name or on a config whose keys or
 * values do not fit the algorithm.
 */
export function optimizerFromConfig(name: string, config: OptimizerConfig): Optimizer {
  const cls = Object.hasOwn(OPTIMIZERS, name) ? OPTIMIZERS[name] : undefined;
  if (!cls) {
    throw new Error(
      `optimizerFromConfig: unknown optimizer '${String(name)}' (known: ${
        Object.keys(OPTIMIZERS).join(", ")
      })`,
    );
  }
  if (config === null || typeof config !== "object") {
    throw new Error(`optimizerFromConfig: config must be an object, got ${String(config)}`);
  }
  const rule = RULES[name];
  const want = [...Object.keys(rule.defaults), ...(rule.counts ? ["t"] : [])];
  const got = Object.keys(config);
  if (want.length !== got.length || want.some((k) => !got.includes(k))) {
    throw new Error(
      `optimizerFromConfig: ${name} config keys [${got.join(", ")}] do not match [${
        want.join(", ")
      }]`,
    );
  }
  const h: Record<string, number> = {};
  for (const k of Object.keys(rule.defaults)) h[k] = config[k];
  const out = new cls(h);
  if (rule.counts) {
    const t = config.t;
    if (typeof t !== "number" || !Number.isSafeInteger(t) || t < 0) {
      throw new Error(`optimizerFromConfig: ${name}: t must be a non-negative integer, got ${t}`);
    }
    fields(out).t = t;
  }
  return out;
}
