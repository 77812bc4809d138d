/**
 * Limited-memory quasi-Newton operators on flat vectors (LinearOperators.jl's
 * `LBFGSOperator`, `InverseLBFGSOperator` and `LSR1Operator`): a memory of `mem` pairs
 * (s, y) = (x₊ − x, ∇f(x₊) − ∇f(x)) that defines an approximation B of the Hessian (or
 * H ≈ B⁻¹), applied to a vector without forming a matrix.
 *
 * Everything stays on the device. Every pair is copied into the next memory slot, with a
 * device-side weight w ∈ {0, 1} that says whether it passed the update's acceptance test
 * (L-BFGS: sᵀy > eps; L-SR1: the SR1 well-definedness rule), and a rejected pair is stored
 * with weight 0 so it contributes nothing. So `push` and `apply` never wait for the device
 * (no host sync: the GPU counters' `hostSyncs` stays put), and the count of rejected pairs
 * is a one-element device tensor, `skipped`.
 *
 * The one consequence of deciding on the device: **a rejected pair still takes a memory
 * slot**, so after a rejection the operator holds the accepted pairs among the newest
 * `mem` pushes, where LinearOperators keeps the newest `mem` accepted pairs. While fewer
 * than `mem` pairs have been pushed the two agree exactly (a rejection leaves the operator
 * unchanged). Pairs with non-finite entries are not guarded against (as in
 * LinearOperators, they poison the operator).
 *
 * Vectors are tensors of `n` elements (any shape) on the operator's device and dtype:
 * CPU f32/f64, GPU f32.
 *
 * @module
 */

import { abs, add, div, ge, gt, lt, mul, ne, neg, sqrt, sub } from "../ops/math.ts";
import { dot, nrm2 } from "../ops/reduce.ts";
import { axpby, axpy, copyInto, fill, scal } from "../ops/vector.ts";
import { full, zeros } from "../tensor/create.ts";
import { defaultDevice } from "../tensor/device.ts";
import { keep, tidy } from "../tensor/scope.ts";
import { fmtShape } from "../tensor/shape.ts";
import { type DeviceName, type DType, readAll, type Tensor } from "../tensor/tensor.ts";

/** Options shared by the quasi-Newton operators. */
export interface QuasiNewtonOptions {
  /** Number of (s, y) pairs kept (default 5, an integer ≥ 1). */
  mem?: number;
  /**
   * Scale the initial approximation by the newest accepted pair (default true): B₀ = I/γ,
   * H₀ = γI with γ = sᵀy / yᵀy (LinearOperators' `scaling`). Off: B₀ = H₀ = I.
   */
  scaling?: boolean;
  /** Device of the vectors (default: the default device). */
  device?: DeviceName;
  /** Element type (default f32; f64 on the CPU only). */
  dtype?: DType;
}

/** Options of {@link LBFGSOperator}. */
export interface LBFGSOptions extends QuasiNewtonOptions {
  /**
   * Powell damping (default false; LinearOperators' `damped` with σ₂ = 0.99, σ₃ = 10):
   * `push` replaces y by θy + (1 − θ)Bs so that sᵀy lies in [(1 − σ₂)·sᵀBs,
   * (1 + σ₃)·sᵀBs], and accepts every pair with sᵀy > 0 after damping.
   */
  damped?: boolean;
  /** Apply H ≈ B⁻¹ (the two-loop recursion) instead of B (default false). */
  inverse?: boolean;
}

/** Options of {@link LSR1Operator}. */
export type LSR1Options = QuasiNewtonOptions;

/** What the L-BFGS and L-SR1 operators have in common. */
export interface QuasiNewtonOperator {
  /** Length of the vectors. */
  readonly n: number;
  /** Memory: the number of pairs kept. */
  readonly mem: number;
  /** Device of the vectors. */
  readonly device: DeviceName;
  /** Element type of the vectors. */
  readonly dtype: DType;
  /** Memory slots in use: min(pushes since reset, mem), rejected pairs included. */
  readonly npairs: number;
  /** Pairs pushed since the last reset. */
  readonly pushes: number;
  /** Pairs rejected since the last reset, as a one-element tensor on the device. */
  readonly skipped: Tensor;
  /** out ← (the operator)·v; returns out (`out` must not be `v`). */
  apply(v: Tensor, out: Tensor): Tensor;
  /** Adds the pair (s, y) (copied), or rejects it by the update's rule. */
  push(s: Tensor, y: Tensor): void;
  /** Forgets every pair: back to the initial approximation (the identity). */
  reset(): void;
  /** The number of accepted pairs in memory (reads the device: one host sync). */
  acceptedPairs(): Promise<number>;
  /** Releases the operator's device memory; it cannot be used afterwards. */
  dispose(): void;
}

/** Machine epsilon of a dtype (Julia's `eps(T)`). */
function machineEps(dtype: DType): number {
  return dtype === "f64" ? 2 ** -52 : 2 ** -23;
}

/** c·a + (1 − c)·b for a 0/1 flag c: exactly a or b when both are finite. */
function select(c: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  return add(mul(c, a), mul(sub(1, c), b));
}

/** The pair memory: a ring of `mem` slots with device-side weights and scaling factor. */
class PairMemory {
  readonly S: Tensor[];
  readonly Y: Tensor[];
  /** 1 when the slot's pair was accepted, 0 when rejected. */
  readonly W: Tensor[];
  /** γ and 1/γ of the newest accepted pair (1 until one is accepted or without scaling). */
  readonly gamma: Tensor;
  readonly invGamma: Tensor;
  readonly skipped: Tensor;
  readonly owned: Tensor[] = [];
  insert = 0;
  filled = 0;
  pushes = 0;
  disposed = false;

  constructor(
    readonly kind: string,
    readonly n: number,
    readonly mem: number,
    readonly device: DeviceName,
    readonly dtype: DType,
  ) {
    this.S = this.vectors();
    this.Y = this.vectors();
    this.W = this.scalars();
    this.gamma = this.scalar(1);
    this.invGamma = this.scalar(1);
    this.skipped = this.scalar(0);
  }

  /** A persistent vector of length n (survives enclosing tidy scopes). */
  vector(): Tensor {
    const t = keep(zeros([this.n], { dtype: this.dtype, device: this.device }));
    this.owned.push(t);
    return t;
  }

  vectors(): Tensor[] {
    return Array.from({ length: this.mem }, () => this.vector());
  }

  /** A persistent one-element tensor holding v. */
  scalar(v: number): Tensor {
    const t = keep(full([1], v, { dtype: this.dtype, device: this.device }));
    this.owned.push(t);
    return t;
  }

  scalars(): Tensor[] {
    return Array.from({ length: this.mem }, () => this.scalar(0));
  }

  /** Slots in use, oldest pair first. */
  order(): number[] {
    const m = this.mem;
    return Array.from({ length: this.filled }, (_, i) => (this.insert - this.filled + i + m) % m);
  }

  /** Records that the slot `insert` now holds the newest pair. */
  commit(): void {
    this.insert = (this.insert + 1) % this.mem;
    this.filled = Math.min(this.filled + 1, this.mem);
    this.pushes++;
  }

  /** skipped += 1 − w. */
  countSkip(w: Tensor): void {
    copyInto(add(this.skipped, sub(1, w)), this.skipped);
  }

  reset(): void {
    this.check("reset");
    // Slots are rewritten before they are read again; only the scalars need resetting.
    fill(this.gamma, 1);
    fill(this.invGamma, 1);
    fill(this.skipped, 0);
    this.insert = 0;
    this.filled = 0;
    this.pushes = 0;
  }

  async accepted(): Promise<number> {
    this.check("acceptedPairs");
    const slots = this.order();
    if (slots.length === 0) return 0;
    const ws = await readAll(slots.map((k) => this.W[k]));
    return ws.reduce((acc, w) => acc + w[0], 0);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.owned) t.dispose();
  }

  check(op: string): void {
    if (this.disposed) throw new Error(`${this.kind}.${op}: the operator was disposed`);
  }

  /** Throws unless t is a tensor of n elements on the operator's device and dtype. */
  checkVector(op: string, name: string, t: Tensor): void {
    const where = `${this.kind}.${op}`;
    if (t === null || typeof t !== "object" || !("shape" in t)) {
      throw new Error(`${where}: ${name} is not a Tensor (got ${String(t)})`);
    }
    if (t.disposed) throw new Error(`${where}: ${name} was disposed`);
    if (t.size !== this.n) {
      throw new Error(
        `${where}: ${name} ${fmtShape(t.shape)} has ${t.size} elements, expected n = ${this.n}`,
      );
    }
    if (t.device !== this.device || t.dtype !== this.dtype) {
      throw new Error(
        `${where}: ${name} is ${t.dtype} on ${t.device}, the operator is ${this.dtype} on ${this.device}`,
      );
    }
  }

  checkApply(op: string, v: Tensor, out: Tensor): void {
    this.check(op);
    this.checkVector(op, "v", v);
    this.checkVector(op, "out", out);
    if (v === out) throw new Error(`${this.kind}.${op}: out must be a different tensor from v`);
  }
}

function checkConfig(kind: string, n: number, opts: QuasiNewtonOptions): {
  mem: number;
  device: DeviceName;
  dtype: DType;
} {
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`${kind}: n must be an integer ≥ 1, got ${n}`);
  }
  const mem = opts.mem ?? 5;
  if (!Number.isInteger(mem) || mem < 1) {
    throw new Error(`${kind}: mem must be an integer ≥ 1, got ${mem}`);
  }
  const device = opts.device ?? defaultDevice();
  if (device !== "cpu" && device !== "gpu") {
    throw new Error(`${kind}: device must be "cpu" or "gpu", got ${String(device)}`);
  }
  const dtype = opts.dtype ?? "f32";
  if (dtype !== "f32" && dtype !== "f64") {
    throw new Error(`${kind}: dtype must be "f32" or "f64", got ${String(dtype)}`);
  }
  if (device === "gpu" && dtype === "f64") {
    throw new Error(`${kind}: GPU vectors are f32, got dtype f64`);
  }
  return { mem, device, dtype };
}

/** Powell damping constants (LinearOperators' defaults). */
const SIGMA2 = 0.99;
const SIGMA3 = 10;

/**
 * Limited-memory BFGS (LinearOperators.jl's `LBFGSOperator`, or `InverseLBFGSOperator`
 * with `inverse: true`).
 *
 * Forward form: B = B₀ + Σᵢ (bᵢbᵢᵀ − aᵢaᵢᵀ) over the pairs, oldest first, with
 * bᵢ = yᵢ/√(yᵢᵀsᵢ) and aᵢ = Bᵢ₋₁sᵢ/√(sᵢᵀBᵢ₋₁sᵢ) (Nocedal & Wright, procedure 7.6):
 * equal to the BFGS update of B₀ applied once per pair. `push` recomputes every aᵢ
 * (O(mem²) vector operations), because B₀ = I/γ changes with each accepted pair.
 * Inverse form: the two-loop recursion (procedure 7.4) with H₀ = γI. With the same
 * pairs, the inverse operator is the exact inverse of the forward one.
 *
 * A pair is rejected when yᵀs ≤ eps(dtype) (LinearOperators' threshold: 2⁻²³ for f32,
 * 2⁻⁵² for f64, absolute). With `damped: true`, y is first damped (Powell) and the pair
 * is rejected only when the damped yᵀs ≤ 0, which for a positive definite B happens only
 * when s = 0 (LinearOperators accepts those too, then divides by zero).
 */
export class LBFGSOperator implements QuasiNewtonOperator {
  /** Length of the vectors. */
  readonly n: number;
  /** Memory: the number of pairs kept. */
  readonly mem: number;
  /** Whether B₀ = I/γ (H₀ = γI) with γ from the newest accepted pair. */
  readonly scaling: boolean;
  /** Whether `push` applies Powell damping. */
  readonly damped: boolean;
  /** Whether `apply` applies H ≈ B⁻¹ (true) or B (false). */
  readonly inverse: boolean;
  /** Device of the vectors. */
  readonly device: DeviceName;
  /** Element type of the vectors. */
  readonly dtype: DType;
  #m: PairMemory;
  /** −w/(sᵀy) per slot (0 for a rejected pair). */
  #nrho: Tensor[];
  /** Forward form only: the aᵢ and bᵢ vectors. */
  #A: Tensor[];
  #B: Tensor[];
  /** Forward damped form: B·s. */
  #bs: Tensor | null;

  /** An L-BFGS operator on vectors of length n, starting from B₀ = H₀ = I. */
  constructor(n: number, opts: LBFGSOptions = {}) {
    const { mem, device, dtype } = checkConfig("LBFGSOperator", n, opts);
    this.n = n;
    this.mem = mem;
    this.scaling = opts.scaling ?? true;
    this.damped = opts.damped ?? false;
    this.inverse = opts.inverse ?? false;
    this.device = device;
    this.dtype = dtype;
    this.#m = new PairMemory("LBFGSOperator", n, mem, device, dtype);
    this.#nrho = this.#m.scalars();
    this.#A = this.inverse ? [] : this.#m.vectors();
    this.#B = this.inverse ? [] : this.#m.vectors();
    this.#bs = this.damped && !this.inverse ? this.#m.vector() : null;
  }

  /** Memory slots in use: min(pushes since reset, mem), rejected pairs included. */
  get npairs(): number {
    return this.#m.filled;
  }

  /** Pairs pushed since the last reset. */
  get pushes(): number {
    return this.#m.pushes;
  }

  /** Pairs rejected since the last reset (a one-element tensor on the device). */
  get skipped(): Tensor {
    return this.#m.skipped;
  }

  /** γ = sᵀy/yᵀy of the newest accepted pair (1 before any, or without scaling). */
  get scalingFactor(): Tensor {
    return this.#m.gamma;
  }

  /** out ← B·v (forward operator) or H·v (`inverse: true`); returns out. No host sync. */
  apply(v: Tensor, out: Tensor): Tensor {
    this.#m.checkApply("apply", v, out);
    if (this.inverse) this.#twoLoop(v, out);
    else this.#forward(v, out);
    return out;
  }

  /**
   * out ← H·v with H = B⁻¹ (the two-loop recursion), for the forward operator as well:
   * it needs only the stored pairs. Returns out. No host sync.
   */
  applyInverse(v: Tensor, out: Tensor): Tensor {
    this.#m.checkApply("applyInverse", v, out);
    this.#twoLoop(v, out);
    return out;
  }

  /**
   * Adds the pair (s, y) (both copied; the caller's tensors are not modified), rejecting
   * it when yᵀs ≤ eps (see the class doc). With damping, `bs` is B·s for the current
   * operator: optional for a forward operator (computed when omitted), required for an
   * inverse one (pass −α·g, as LinearOperators' `push!(op, s, y, α, g)`: the step
   * s = α·d solved B·d = −g). `bs` without damping is an error. No host sync.
   */
  push(s: Tensor, y: Tensor, bs?: Tensor): void {
    const m = this.#m;
    m.check("push");
    m.checkVector("push", "s", s);
    m.checkVector("push", "y", y);
    if (bs !== undefined) {
      if (!this.damped) {
        throw new Error("LBFGSOperator.push: bs is only used by a damped operator (damped: true)");
      }
      m.checkVector("push", "bs", bs);
    } else if (this.damped && this.inverse) {
      throw new Error(
        "LBFGSOperator.push: a damped inverse operator needs bs = B·s (pass −α·g)",
      );
    }
    const k = m.insert;
    tidy(() => {
      let bsv: Tensor | null = null;
      if (this.damped) bsv = bs ?? this.#forward(s, this.#bs!);
      copyInto(s, m.S[k]);
      copyInto(y, m.Y[k]);
      let ys = dot(m.Y[k], m.S[k]);
      let w: Tensor;
      if (bsv) {
        const sBs = dot(m.S[k], bsv);
        // Powell: θ = σ₂sᵀBs/(sᵀBs − yᵀs) when yᵀs < (1 − σ₂)sᵀBs, else
        // θ = σ₃sᵀBs/(yᵀs − sᵀBs) when yᵀs > (1 + σ₃)sᵀBs, else θ = 1. The unused
        // branch's denominator is replaced by 1 so that nothing divides by zero.
        const c1 = lt(ys, mul(sBs, 1 - SIGMA2));
        const c2 = mul(gt(ys, mul(sBs, 1 + SIGMA3)), sub(1, c1));
        const th1 = div(mul(sBs, SIGMA2), select(c1, sub(sBs, ys), 1));
        const th2 = div(mul(sBs, SIGMA3), select(c2, sub(ys, sBs), 1));
        const th = add(add(mul(c1, th1), mul(c2, th2)), sub(sub(1, c1), c2));
        const omth = sub(1, th);
        scal(th, m.Y[k]);
        axpy(omth, bsv, m.Y[k]);
        ys = add(mul(th, ys), mul(omth, sBs));
        w = gt(ys, 0);
      } else {
        w = gt(ys, machineEps(this.dtype));
      }
      const ysSafe = select(w, ys, 1);
      copyInto(neg(div(w, ysSafe)), this.#nrho[k]);
      copyInto(w, m.W[k]);
      m.countSkip(w);
      if (this.scaling) {
        const yy = dot(m.Y[k], m.Y[k]);
        const g = select(w, div(ysSafe, select(w, yy, 1)), m.gamma);
        copyInto(g, m.gamma);
        copyInto(div(1, g), m.invGamma);
      }
      if (!this.inverse) {
        copyInto(m.Y[k], this.#B[k]);
        scal(div(w, sqrt(ysSafe)), this.#B[k]);
      }
    });
    m.commit();
    if (!this.inverse) tidy(() => this.#recompute());
  }

  /** Forgets every pair (B = H = I, γ = 1, skipped = 0). */
  reset(): void {
    this.#m.reset();
  }

  /** The number of accepted pairs in memory (one host sync). */
  acceptedPairs(): Promise<number> {
    return this.#m.accepted();
  }

  /** Releases the operator's device memory. */
  dispose(): void {
    this.#m.dispose();
  }

  /** aₖ = B₀sₖ + Σ_{l older} [(bₗᵀsₖ)bₗ − (aₗᵀsₖ)aₗ], normalised by √(sₖᵀaₖ). */
  #recompute(): void {
    const m = this.#m;
    const order = m.order();
    for (let i = 0; i < order.length; i++) {
      const k = order[i];
      const a = this.#A[k];
      copyInto(m.S[k], a);
      if (this.scaling) scal(m.invGamma, a);
      for (let j = 0; j < i; j++) {
        const l = order[j];
        axpy(dot(this.#B[l], m.S[k]), this.#B[l], a);
        axpy(neg(dot(this.#A[l], m.S[k])), this.#A[l], a);
      }
      const sa = dot(m.S[k], a);
      scal(div(m.W[k], sqrt(select(m.W[k], sa, 1))), a);
    }
  }

  /** out ← B₀v + Σ (bᵀv)b − (aᵀv)a. */
  #forward(v: Tensor, out: Tensor): Tensor {
    const m = this.#m;
    tidy(() => {
      copyInto(v, out);
      if (this.scaling) scal(m.invGamma, out);
      for (const k of m.order()) {
        axpy(dot(this.#B[k], v), this.#B[k], out);
        axpy(neg(dot(this.#A[k], v)), this.#A[k], out);
      }
    });
    return out;
  }

  /** The two-loop recursion, q = out. */
  #twoLoop(v: Tensor, out: Tensor): void {
    const m = this.#m;
    tidy(() => {
      copyInto(v, out);
      const order = m.order();
      const nalpha: Tensor[] = new Array(order.length);
      for (let i = order.length - 1; i >= 0; i--) {
        const k = order[i];
        nalpha[i] = mul(this.#nrho[k], dot(m.S[k], out)); // −αₖ = −ρₖsₖᵀq
        axpy(nalpha[i], m.Y[k], out);
      }
      if (this.scaling) scal(m.gamma, out);
      for (let i = 0; i < order.length; i++) {
        const k = order[i];
        const beta = sub(mul(this.#nrho[k], dot(m.Y[k], out)), nalpha[i]); // αₖ − ρₖyₖᵀq
        axpy(beta, m.S[k], out);
      }
    });
  }
}

/**
 * Limited-memory SR1 (LinearOperators.jl's `LSR1Operator`), forward form only: like
 * LinearOperators, there is no inverse L-SR1 (B need not be positive definite or even
 * invertible). B = B₀ + Σᵢ aᵢaᵢᵀ/(aᵢᵀsᵢ) with aᵢ = yᵢ − Bᵢ₋₁sᵢ, oldest pair first:
 * the SR1 update of B₀ applied once per accepted pair.
 *
 * A pair is rejected unless (LinearOperators' rule, ε = eps(dtype)) with r = y − Bs:
 * |sᵀr| ≥ ε + ε‖r‖‖s‖, and, with scaling, |sᵀy| ≥ ε‖y‖‖s‖ (and sᵀy ≠ 0) and
 * ‖y − s/γ₊‖ ≥ ε‖y‖‖s‖ for the new γ₊ = sᵀy/yᵀy.
 */
export class LSR1Operator implements QuasiNewtonOperator {
  /** Length of the vectors. */
  readonly n: number;
  /** Memory: the number of pairs kept. */
  readonly mem: number;
  /** Whether B₀ = I/γ with γ from the newest accepted pair. */
  readonly scaling: boolean;
  /** Device of the vectors. */
  readonly device: DeviceName;
  /** Element type of the vectors. */
  readonly dtype: DType;
  #m: PairMemory;
  #A: Tensor[];
  /** w/(aᵀs) and its negation, per slot (0 for a rejected pair). */
  #D: Tensor[];
  #ND: Tensor[];
  #tmp: Tensor;
  #tmp2: Tensor;

  /** An L-SR1 operator on vectors of length n, starting from B₀ = I. */
  constructor(n: number, opts: LSR1Options = {}) {
    const { mem, device, dtype } = checkConfig("LSR1Operator", n, opts);
    this.n = n;
    this.mem = mem;
    this.scaling = opts.scaling ?? true;
    this.device = device;
    this.dtype = dtype;
    this.#m = new PairMemory("LSR1Operator", n, mem, device, dtype);
    this.#A = this.#m.vectors();
    this.#D = this.#m.scalars();
    this.#ND = this.#m.scalars();
    this.#tmp = this.#m.vector();
    this.#tmp2 = this.#m.vector();
  }

  /** Memory slots in use: min(pushes since reset, mem), rejected pairs included. */
  get npairs(): number {
    return this.#m.filled;
  }

  /** Pairs pushed since the last reset. */
  get pushes(): number {
    return this.#m.pushes;
  }

  /** Pairs rejected since the last reset (a one-element tensor on the device). */
  get skipped(): Tensor {
    return this.#m.skipped;
  }

  /** γ = sᵀy/yᵀy of the newest accepted pair (1 before any, or without scaling). */
  get scalingFactor(): Tensor {
    return this.#m.gamma;
  }

  /** out ← B·v; returns out. No host sync. */
  apply(v: Tensor, out: Tensor): Tensor {
    this.#m.checkApply("apply", v, out);
    return this.#forward(v, out);
  }

  /** Adds the pair (s, y) (copied), or rejects it by the SR1 rule (class doc). No host sync. */
  push(s: Tensor, y: Tensor): void {
    const m = this.#m;
    m.check("push");
    m.checkVector("push", "s", s);
    m.checkVector("push", "y", y);
    const eps = machineEps(this.dtype);
    const k = m.insert;
    tidy(() => {
      const r = this.#forward(s, this.#tmp);
      axpby(1, y, -1, r); // r = y − Bs
      const ys = dot(y, s);
      const sn = nrm2(s);
      let w = ge(abs(dot(r, s)), add(mul(mul(nrm2(r), sn), eps), eps));
      if (this.scaling) {
        const yy = dot(y, y);
        const thr = mul(mul(sqrt(yy), sn), eps);
        const curv = mul(ge(abs(ys), thr), ne(ys, 0));
        const ysSafe = select(curv, ys, 1);
        const yySafe = select(curv, yy, 1);
        const invg = div(yySafe, ysSafe);
        copyInto(y, this.#tmp2);
        axpy(neg(invg), s, this.#tmp2); // y − s/γ₊
        w = mul(mul(w, curv), ge(nrm2(this.#tmp2), thr));
        copyInto(select(w, div(ysSafe, yySafe), m.gamma), m.gamma);
        copyInto(select(w, invg, m.invGamma), m.invGamma);
      }
      copyInto(s, m.S[k]);
      copyInto(y, m.Y[k]);
      copyInto(w, m.W[k]);
      m.countSkip(w);
    });
    m.commit();
    tidy(() => this.#recompute());
  }

  /** Forgets every pair (B = I, γ = 1, skipped = 0). */
  reset(): void {
    this.#m.reset();
  }

  /** The number of accepted pairs in memory (one host sync). */
  acceptedPairs(): Promise<number> {
    return this.#m.accepted();
  }

  /** Releases the operator's device memory. */
  dispose(): void {
    this.#m.dispose();
  }

  /** aₖ = yₖ − B₀sₖ − Σ_{l older} (aₗᵀsₖ)/(aₗᵀsₗ)·aₗ; dₖ = wₖ/(aₖᵀsₖ). */
  #recompute(): void {
    const m = this.#m;
    const order = m.order();
    const nInvGamma = this.scaling ? neg(m.invGamma) : -1;
    for (let i = 0; i < order.length; i++) {
      const k = order[i];
      const a = this.#A[k];
      copyInto(m.Y[k], a);
      axpy(nInvGamma, m.S[k], a);
      for (let j = 0; j < i; j++) {
        const l = order[j];
        axpy(mul(dot(this.#A[l], m.S[k]), this.#ND[l]), this.#A[l], a);
      }
      const as = dot(a, m.S[k]);
      const wk = mul(m.W[k], ne(as, 0)); // a pair with aᵀs = 0 (after γ changed) drops out
      const d = div(wk, select(wk, as, 1));
      copyInto(d, this.#D[k]);
      copyInto(neg(d), this.#ND[k]);
    }
  }

  /** out ← B₀v + Σ dₖ(aₖᵀv)aₖ. */
  #forward(v: Tensor, out: Tensor): Tensor {
    const m = this.#m;
    tidy(() => {
      copyInto(v, out);
      if (this.scaling) scal(m.invGamma, out);
      for (const k of m.order()) {
        axpy(mul(dot(this.#A[k], v), this.#D[k]), this.#A[k], out);
      }
    });
    return out;
  }
}
