/**
 * Limited-memory quasi-Newton operators on flat vectors (LinearOperators.jl's
 * `LBFGSOperator`, `InverseLBFGSOperator` and `LSR1Operator`): a memory of `mem` pairs
 * (s, y) = (x₊ − x, ∇f(x₊) − ∇f(x)) that defines an approximation B of the Hessian (or
 * H ≈ B⁻¹), applied to a vector without forming a matrix.
 *
 * Everything stays on the device, the slot bookkeeping included. The memory is a fixed
 * array of `mem` slots, oldest first, the newest pair always in the last slot, each with
 * a device-side weight w ∈ {0, 1} (0: an empty slot). A push decides on the device
 * whether the pair is accepted (L-BFGS: sᵀy > eps; L-SR1: the SR1 well-definedness rule;
 * and the caller's optional `accept` mask), and, only when it is, shifts every stored
 * pair one slot toward the oldest (dropping the oldest) and writes the new pair into the
 * last slot, all with exact masked copies (a gather: bit-for-bit, NaN-safe). A rejected
 * or masked-out pair therefore leaves the operator bit-for-bit unchanged and consumes no
 * slot: the operator holds exactly the newest `mem` accepted pairs, in order, as
 * LinearOperators does. `apply` always runs over the `mem` slots (an empty slot has
 * weight 0 and zero vectors and contributes exactly nothing). So `push` and `apply`
 * never wait for the device (no host sync: the GPU counters' `hostSyncs` stays put),
 * and the count of rejected pairs is a one-element device tensor, `skipped`.
 *
 * Pairs with non-finite entries are rejected by the rules (their comparisons are false).
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
import { type DeviceName, type DType, readAll, Tensor } from "../tensor/tensor.ts";
import { selectInto } from "./stats.ts";

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

/** Options of a push (both operators). */
export interface PushOptions {
  /**
   * A one-element 0/1 tensor on the operator's device and dtype: with 0 the push is a
   * no-op (the operator stays bit-for-bit unchanged, no slot is consumed, `skipped` does
   * not count it), with 1 the pair goes through the update's own rule. Lets a solver
   * push at every step and decide on the device whether the step produced a pair.
   */
  accept?: Tensor;
}

/** Options of {@link LBFGSOperator.push}. */
export interface LBFGSPushOptions extends PushOptions {
  /** B·s for the current operator, used by Powell damping (see {@link LBFGSOperator.push}). */
  bs?: Tensor;
}

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
  /** `push` calls since the last reset (accepted, rejected and masked out alike). */
  readonly pushes: number;
  /** Pairs offered (accept = 1) and rejected by the rule since the last reset (device). */
  readonly skipped: Tensor;
  /** out ← (the operator)·v; returns out (`out` must not be `v`). */
  apply(v: Tensor, out: Tensor): Tensor;
  /** Adds the pair (s, y) (copied), or rejects it by the update's rule or `opts.accept`. */
  push(s: Tensor, y: Tensor, opts?: PushOptions): void;
  /** Forgets every pair: back to the initial approximation (the identity). */
  reset(): void;
  /** The number of pairs in memory, ≤ mem (reads the device: one host sync). */
  acceptedPairs(): Promise<number>;
  /** Releases the operator's device memory; it cannot be used afterwards. */
  dispose(): void;
}

/** Machine epsilon of a dtype (Julia's `eps(T)`). */
function machineEps(dtype: DType): number {
  return dtype === "f64" ? 2 ** -52 : 2 ** -23;
}

/**
 * c·a + (1 − c)·b for a 0/1 flag c: exactly a or b when both are finite. Used only for
 * temporaries (guarded denominators); state is written through {@link selectInto}.
 */
function select(c: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  return add(mul(c, a), mul(sub(1, c), b));
}

/**
 * The pair memory: `mem` slots, oldest first (slot mem − 1 holds the newest pair), with
 * device-side weights, the scaling factor and the rejection count.
 */
class PairMemory {
  readonly S: Tensor[];
  readonly Y: Tensor[];
  /** 1 when the slot holds a pair, 0 when it is empty. */
  readonly W: Tensor[];
  /** γ and 1/γ of the newest accepted pair (1 until one is accepted or without scaling). */
  readonly gamma: Tensor;
  readonly invGamma: Tensor;
  readonly skipped: Tensor;
  readonly owned: Tensor[] = [];
  /** Per-slot arrays zeroed by reset (S, Y, W and the operator's own). */
  readonly slotArrays: Tensor[][] = [];
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

  /** `mem` persistent zero vectors: one per slot. */
  vectors(): Tensor[] {
    const ts = Array.from({ length: this.mem }, () => this.vector());
    this.slotArrays.push(ts);
    return ts;
  }

  /** A persistent one-element tensor holding v. */
  scalar(v: number): Tensor {
    const t = keep(full([1], v, { dtype: this.dtype, device: this.device }));
    this.owned.push(t);
    return t;
  }

  /** `mem` persistent zero scalars: one per slot. */
  scalars(): Tensor[] {
    const ts = Array.from({ length: this.mem }, () => this.scalar(0));
    this.slotArrays.push(ts);
    return ts;
  }

  /**
   * When w = 1: every slot array moves one slot toward the oldest (slot 0 is dropped)
   * and its new value goes into the newest slot; when w = 0: nothing changes (exact
   * gathers, so a NaN in a rejected value never leaks in).
   */
  shift(w: Tensor, entries: [Tensor[], Tensor][]): void {
    const last = this.mem - 1;
    for (const [T, v] of entries) {
      for (let i = 0; i < last; i++) selectInto(w, T[i + 1], T[i], T[i]);
      selectInto(w, v, T[last], T[last]);
    }
  }

  /** skipped += accept − w (offered but rejected by the rule). */
  countSkip(accept: Tensor | null, w: Tensor): void {
    copyInto(add(this.skipped, sub(accept ?? 1, w)), this.skipped);
  }

  reset(): void {
    this.check("reset");
    for (const arr of this.slotArrays) for (const t of arr) fill(t, 0);
    fill(this.gamma, 1);
    fill(this.invGamma, 1);
    fill(this.skipped, 0);
    this.pushes = 0;
  }

  async accepted(): Promise<number> {
    this.check("acceptedPairs");
    const ws = await readAll(this.W);
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

  /** Throws unless t is a tensor of `size` elements on the operator's device and dtype. */
  checkTensor(op: string, name: string, t: Tensor, size: number, what: string): void {
    const where = `${this.kind}.${op}`;
    if (t === null || typeof t !== "object" || !("shape" in t)) {
      throw new Error(`${where}: ${name} is not a Tensor (got ${String(t)})`);
    }
    if (t.disposed) throw new Error(`${where}: ${name} was disposed`);
    if (t.size !== size) {
      throw new Error(
        `${where}: ${name} ${fmtShape(t.shape)} has ${t.size} elements, expected ${what}`,
      );
    }
    if (t.device !== this.device || t.dtype !== this.dtype) {
      throw new Error(
        `${where}: ${name} is ${t.dtype} on ${t.device}, the operator is ${this.dtype} on ${this.device}`,
      );
    }
  }

  /** Throws unless t is a tensor of n elements on the operator's device and dtype. */
  checkVector(op: string, name: string, t: Tensor): void {
    this.checkTensor(op, name, t, this.n, `n = ${this.n}`);
  }

  /** Validates a push's s, y and `accept`; returns the accept mask (null: none). */
  checkPush(s: Tensor, y: Tensor, accept: Tensor | undefined): Tensor | null {
    this.check("push");
    this.checkVector("push", "s", s);
    this.checkVector("push", "y", y);
    if (accept === undefined) return null;
    this.checkTensor("push", "accept", accept, 1, "1 (a 0/1 flag)");
    return accept;
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
 * What both operators share: the configuration, the pair memory and its bookkeeping
 * (push count, rejections, γ, reset, release).
 */
export abstract class PairOperator {
  /** Length of the vectors. */
  readonly n: number;
  /** Memory: the number of pairs kept. */
  readonly mem: number;
  /** Whether B₀ = I/γ (H₀ = γI) with γ from the newest accepted pair. */
  readonly scaling: boolean;
  /** Device of the vectors. */
  readonly device: DeviceName;
  /** Element type of the vectors. */
  readonly dtype: DType;
  /** @internal The stored pairs, their weights and γ. */
  protected readonly memory: PairMemory;

  /** Validates the configuration and allocates the pair memory (names `who` in errors). */
  protected constructor(who: string, n: number, opts: QuasiNewtonOptions) {
    const { mem, device, dtype } = checkConfig(who, n, opts);
    this.n = n;
    this.mem = mem;
    this.scaling = opts.scaling ?? true;
    this.device = device;
    this.dtype = dtype;
    this.memory = new PairMemory(who, n, mem, device, dtype);
  }

  /** `push` calls since the last reset (accepted, rejected and masked out alike). */
  get pushes(): number {
    return this.memory.pushes;
  }

  /** Pairs offered and rejected by the rule since the last reset (one element, device). */
  get skipped(): Tensor {
    return this.memory.skipped;
  }

  /** γ = sᵀy/yᵀy of the newest accepted pair (1 before any, or without scaling). */
  get scalingFactor(): Tensor {
    return this.memory.gamma;
  }

  /** Forgets every pair (B = H = I, γ = 1, skipped = 0). */
  reset(): void {
    this.memory.reset();
  }

  /** The number of pairs in memory (one host sync). */
  acceptedPairs(): Promise<number> {
    return this.memory.accepted();
  }

  /** Releases the operator's device memory. */
  dispose(): void {
    this.memory.dispose();
  }
}

/**
 * Limited-memory BFGS (LinearOperators.jl's `LBFGSOperator`, or `InverseLBFGSOperator`
 * with `inverse: true`), holding the newest `mem` accepted pairs.
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
export class LBFGSOperator extends PairOperator implements QuasiNewtonOperator {
  /** Whether `push` applies Powell damping. */
  readonly damped: boolean;
  /** Whether `apply` applies H ≈ B⁻¹ (true) or B (false). */
  readonly inverse: boolean;
  /** −w/(sᵀy) per slot (0 for an empty slot). */
  #nrho: Tensor[];
  /** Forward form only: the aᵢ (recomputed by each push) and bᵢ (shifted) vectors. */
  #A: Tensor[];
  #B: Tensor[];
  /** Forward damped form: B·s. */
  #bs: Tensor | null;

  /** An L-BFGS operator on vectors of length n, starting from B₀ = H₀ = I. */
  constructor(n: number, opts: LBFGSOptions = {}) {
    super("LBFGSOperator", n, opts);
    this.damped = opts.damped ?? false;
    this.inverse = opts.inverse ?? false;
    this.#nrho = this.memory.scalars();
    this.#A = this.inverse ? [] : this.memory.vectors();
    this.#B = this.inverse ? [] : this.memory.vectors();
    this.#bs = this.damped && !this.inverse ? this.memory.vector() : null;
  }

  /** out ← B·v (forward operator) or H·v (`inverse: true`); returns out. No host sync. */
  apply(v: Tensor, out: Tensor): Tensor {
    this.memory.checkApply("apply", v, out);
    if (this.inverse) this.#twoLoop(v, out);
    else this.#forward(v, out);
    return out;
  }

  /**
   * out ← H·v with H = B⁻¹ (the two-loop recursion), for the forward operator as well:
   * it needs only the stored pairs. Returns out. No host sync.
   */
  applyInverse(v: Tensor, out: Tensor): Tensor {
    this.memory.checkApply("applyInverse", v, out);
    this.#twoLoop(v, out);
    return out;
  }

  /**
   * Adds the pair (s, y) (both copied; the caller's tensors are not modified) as the
   * newest, dropping the oldest when the memory is full, or rejects it — leaving the
   * operator bit-for-bit unchanged — when yᵀs ≤ eps (see the class doc) or when
   * `opts.accept` is 0. With damping, `bs` is B·s for the current operator: optional
   * for a forward operator (computed when omitted), required for an inverse one (pass
   * −α·g, as LinearOperators' `push!(op, s, y, α, g)`: the step s = α·d solved
   * B·d = −g). `bs` without damping is an error. The third argument may also be `bs`
   * itself (a Tensor). No host sync.
   */
  push(s: Tensor, y: Tensor, opts?: Tensor | LBFGSPushOptions): void {
    const m = this.memory;
    const o: LBFGSPushOptions = opts instanceof Tensor ? { bs: opts } : opts ?? {};
    const accept = m.checkPush(s, y, o.accept);
    const bs = o.bs;
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
    tidy(() => {
      let bsv: Tensor | null = null;
      if (this.damped) bsv = bs ?? this.#forward(s, this.#bs!);
      let yv = y;
      let ys = dot(y, s).reshape(1);
      let w: Tensor;
      if (bsv) {
        const sBs = dot(s, bsv).reshape(1);
        // Powell: θ = σ₂sᵀBs/(sᵀBs − yᵀs) when yᵀs < (1 − σ₂)sᵀBs, else
        // θ = σ₃sᵀBs/(yᵀs − sᵀBs) when yᵀs > (1 + σ₃)sᵀBs, else θ = 1. The unused
        // branch's denominator is replaced by 1 so that nothing divides by zero.
        const c1 = lt(ys, mul(sBs, 1 - SIGMA2));
        const c2 = mul(gt(ys, mul(sBs, 1 + SIGMA3)), sub(1, c1));
        const th1 = div(mul(sBs, SIGMA2), select(c1, sub(sBs, ys), 1));
        const th2 = div(mul(sBs, SIGMA3), select(c2, sub(ys, sBs), 1));
        const th = add(add(mul(c1, th1), mul(c2, th2)), sub(sub(1, c1), c2));
        const omth = sub(1, th);
        yv = zeros([this.n], { dtype: this.dtype, device: this.device });
        copyInto(y, yv);
        scal(th, yv);
        axpy(omth, bsv, yv);
        ys = add(mul(th, ys), mul(omth, sBs));
        w = gt(ys, 0);
      } else {
        w = gt(ys, machineEps(this.dtype));
      }
      if (accept) w = mul(w, accept);
      m.countSkip(accept, w);
      const ysSafe = select(w, ys, 1);
      const entries: [Tensor[], Tensor][] = [
        [m.S, s.reshape(this.n)],
        [m.Y, yv.reshape(this.n)],
        [m.W, w],
        [this.#nrho, neg(div(w, ysSafe))],
      ];
      if (!this.inverse) {
        const b = zeros([this.n], { dtype: this.dtype, device: this.device });
        copyInto(yv, b);
        scal(div(w, sqrt(ysSafe)), b);
        entries.push([this.#B, b]);
      }
      if (this.scaling) {
        const yy = dot(yv, yv).reshape(1);
        const g = div(ysSafe, select(w, yy, 1));
        selectInto(w, g, m.gamma, m.gamma);
        selectInto(w, div(1, g), m.invGamma, m.invGamma);
      }
      m.shift(w, entries);
    });
    m.pushes++;
    if (!this.inverse) tidy(() => this.#recompute());
  }

  /**
   * aₖ = B₀sₖ + Σ_{l older} [(bₗᵀsₖ)bₗ − (aₗᵀsₖ)aₗ], normalised by √(sₖᵀaₖ) (0 for an
   * empty slot). Deterministic in the stored pairs, so it reproduces A exactly when a
   * push was rejected.
   */
  #recompute(): void {
    const m = this.memory;
    for (let k = 0; k < this.mem; k++) {
      const a = this.#A[k];
      copyInto(m.S[k], a);
      if (this.scaling) scal(m.invGamma, a);
      for (let l = 0; l < k; l++) {
        axpy(dot(this.#B[l], m.S[k]), this.#B[l], a);
        axpy(neg(dot(this.#A[l], m.S[k])), this.#A[l], a);
      }
      const sa = dot(m.S[k], a);
      scal(div(m.W[k], sqrt(select(m.W[k], sa, 1))), a);
    }
  }

  /** out ← B₀v + Σ (bᵀv)b − (aᵀv)a. */
  #forward(v: Tensor, out: Tensor): Tensor {
    const m = this.memory;
    tidy(() => {
      copyInto(v, out);
      if (this.scaling) scal(m.invGamma, out);
      for (let k = 0; k < this.mem; k++) {
        axpy(dot(this.#B[k], v), this.#B[k], out);
        axpy(neg(dot(this.#A[k], v)), this.#A[k], out);
      }
    });
    return out;
  }

  /** The two-loop recursion, q = out. */
  #twoLoop(v: Tensor, out: Tensor): void {
    const m = this.memory;
    tidy(() => {
      copyInto(v, out);
      const nalpha: Tensor[] = new Array(this.mem);
      for (let k = this.mem - 1; k >= 0; k--) {
        nalpha[k] = mul(this.#nrho[k], dot(m.S[k], out)); // −αₖ = −ρₖsₖᵀq
        axpy(nalpha[k], m.Y[k], out);
      }
      if (this.scaling) scal(m.gamma, out);
      for (let k = 0; k < this.mem; k++) {
        const beta = sub(mul(this.#nrho[k], dot(m.Y[k], out)), nalpha[k]); // αₖ − ρₖyₖᵀq
        axpy(beta, m.S[k], out);
      }
    });
  }
}

/**
 * Limited-memory SR1 (LinearOperators.jl's `LSR1Operator`), forward form only: like
 * LinearOperators, there is no inverse L-SR1 (B need not be positive definite or even
 * invertible). B = B₀ + Σᵢ aᵢaᵢᵀ/(aᵢᵀsᵢ) with aᵢ = yᵢ − Bᵢ₋₁sᵢ, oldest pair first:
 * the SR1 update of B₀ applied once per pair, over the newest `mem` accepted pairs.
 *
 * A pair is rejected unless (LinearOperators' rule, ε = eps(dtype)) with r = y − Bs:
 * |sᵀr| ≥ ε + ε‖r‖‖s‖, and, with scaling, |sᵀy| ≥ ε‖y‖‖s‖ (and sᵀy ≠ 0) and
 * ‖y − s/γ₊‖ ≥ ε‖y‖‖s‖ for the new γ₊ = sᵀy/yᵀy.
 */
export class LSR1Operator extends PairOperator implements QuasiNewtonOperator {
  #A: Tensor[];
  /** w/(aᵀs) and its negation, per slot (0 for an empty slot). */
  #D: Tensor[];
  #ND: Tensor[];
  #tmp: Tensor;
  #tmp2: Tensor;

  /** An L-SR1 operator on vectors of length n, starting from B₀ = I. */
  constructor(n: number, opts: LSR1Options = {}) {
    super("LSR1Operator", n, opts);
    this.#A = this.memory.vectors();
    this.#D = this.memory.scalars();
    this.#ND = this.memory.scalars();
    this.#tmp = this.memory.vector();
    this.#tmp2 = this.memory.vector();
  }

  /** out ← B·v; returns out. No host sync. */
  apply(v: Tensor, out: Tensor): Tensor {
    this.memory.checkApply("apply", v, out);
    return this.#forward(v, out);
  }

  /**
   * Adds the pair (s, y) (copied) as the newest, dropping the oldest when the memory is
   * full, or rejects it — leaving the operator bit-for-bit unchanged — by the SR1 rule
   * (class doc) or when `opts.accept` is 0. No host sync.
   */
  push(s: Tensor, y: Tensor, opts: PushOptions = {}): void {
    const m = this.memory;
    const accept = m.checkPush(s, y, opts.accept);
    const eps = machineEps(this.dtype);
    tidy(() => {
      const r = this.#forward(s, this.#tmp);
      axpby(1, y, -1, r); // r = y − Bs
      const ys = dot(y, s).reshape(1);
      const sn = nrm2(s).reshape(1);
      let w = ge(abs(dot(r, s).reshape(1)), add(mul(mul(nrm2(r).reshape(1), sn), eps), eps));
      if (this.scaling) {
        const yy = dot(y, y).reshape(1);
        const thr = mul(mul(sqrt(yy), sn), eps);
        const curv = mul(ge(abs(ys), thr), ne(ys, 0));
        const ysSafe = select(curv, ys, 1);
        const yySafe = select(curv, yy, 1);
        const invg = div(yySafe, ysSafe);
        copyInto(y, this.#tmp2);
        axpy(neg(invg), s, this.#tmp2); // y − s/γ₊
        w = mul(mul(w, curv), ge(nrm2(this.#tmp2).reshape(1), thr));
        if (accept) w = mul(w, accept);
        selectInto(w, div(ysSafe, yySafe), m.gamma, m.gamma);
        selectInto(w, invg, m.invGamma, m.invGamma);
      } else if (accept) w = mul(w, accept);
      m.countSkip(accept, w);
      m.shift(w, [[m.S, s.reshape(this.n)], [m.Y, y.reshape(this.n)], [m.W, w]]);
    });
    m.pushes++;
    tidy(() => this.#recompute());
  }

  /** aₖ = yₖ − B₀sₖ − Σ_{l older} (aₗᵀsₖ)/(aₗᵀsₗ)·aₗ; dₖ = wₖ/(aₖᵀsₖ). */
  #recompute(): void {
    const m = this.memory;
    const nInvGamma = this.scaling ? neg(m.invGamma) : -1;
    for (let k = 0; k < this.mem; k++) {
      const a = this.#A[k];
      copyInto(m.Y[k], a);
      axpy(nInvGamma, m.S[k], a);
      for (let l = 0; l < k; l++) {
        axpy(mul(dot(this.#A[l], m.S[k]), this.#ND[l]), this.#A[l], a);
      }
      const as = dot(a, m.S[k]).reshape(1);
      const wk = mul(m.W[k], ne(as, 0)); // a pair with aᵀs = 0 (after γ changed) drops out
      const d = div(wk, select(wk, as, 1));
      copyInto(d, this.#D[k]);
      copyInto(neg(d), this.#ND[k]);
    }
  }

  /** out ← B₀v + Σ dₖ(aₖᵀv)aₖ. */
  #forward(v: Tensor, out: Tensor): Tensor {
    const m = this.memory;
    tidy(() => {
      copyInto(v, out);
      if (this.scaling) scal(m.invGamma, out);
      for (let k = 0; k < this.mem; k++) {
        axpy(mul(dot(this.#A[k], v), this.#D[k]), this.#A[k], out);
      }
    });
    return out;
  }
}
