/**
 * Quasi-Newton operators (src/solvers/operators.ts) and models (src/solvers/qn_models.ts).
 *
 * CPU f64 operators are checked against dense n×n matrices built here in f64 from the same
 * pairs: the BFGS update B₊ = B − BssᵀB/(sᵀBs) + yyᵀ/(yᵀs) and the SR1 update
 * B₊ = B + rrᵀ/(rᵀs), r = y − Bs, applied once per accepted pair starting from B₀ = I/γ.
 * The operator's matrix is read column by column (apply to eᵢ). f64 tolerance 1e-10: the
 * matrices have entries of O(1..10) and each product is a few dozen f64 roundings.
 *
 * GPU f32 operators are compared with the same pairs on CPU f64 operators (validated by
 * the dense tests). Tolerance, set before measuring: the pairs come from a diagonal SPD
 * matrix with eigenvalues in [1, 4] (condition ≤ 4), each pair costs a few f32 roundings
 * in dots of length n = 1000 (relative error ≲ 1e-6 each), so ≤ 1e-4 of max|B·v| holds
 * with a wide margin (measured: 3.4e-7; damped 1.4e-5, because a damped pair has
 * sᵀy = (1 − σ₂)·sᵀBs, so 1/(sᵀy) amplifies the f32 dot errors by 1/(1 − σ₂) = 100).
 * GPU push/apply must not wait for the device (hostSyncs delta 0) and must free their
 * temporaries (liveBytes unchanged); masked-out pushes (accept = 0, junk pairs) in between
 * must leave the operator bit-for-bit unchanged.
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import { LBFGSOperator, LSR1Operator, type QuasiNewtonOperator } from "../src/solvers/operators.ts";
import { LBFGSModel, LSR1Model } from "../src/solvers/qn_models.ts";
import type { NLPCounters, NLPMeta, SmoothNLP } from "../src/nlp/nlp.ts";
import { assertClose, assertExact, GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

const F64 = { dtype: "f64", device: "cpu" } as const;
const DENSE_TOL = { rtol: 1e-10, atol: 1e-10 };
const EPS64 = 2 ** -52;

type Mat = number[][];

function eye(n: number, diag = 1): Mat {
  return Array.from(
    { length: n },
    (_, i) => Array.from({ length: n }, (_, j) => i === j ? diag : 0),
  );
}

function matvec(A: Mat, v: ArrayLike<number>): number[] {
  return A.map((row) => row.reduce((acc, a, j) => acc + a * v[j], 0));
}

function vdot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function bfgs(B: Mat, s: number[], y: number[]): Mat {
  const Bs = matvec(B, s);
  const sBs = vdot(s, Bs);
  const ys = vdot(y, s);
  return B.map((row, i) => row.map((b, j) => b - Bs[i] * Bs[j] / sBs + y[i] * y[j] / ys));
}

function sr1(B: Mat, s: number[], y: number[]): Mat {
  const Bs = matvec(B, s);
  const r = y.map((yi, i) => yi - Bs[i]);
  const rs = vdot(r, s);
  return B.map((row, i) => row.map((b, j) => b + r[i] * r[j] / rs));
}

/** Dense quasi-Newton matrix from B₀ = I/γ and the pairs, oldest first. */
function dense(
  update: (B: Mat, s: number[], y: number[]) => Mat,
  n: number,
  pairs: [number[], number[]][],
  gamma = 1,
): Mat {
  let B = eye(n, 1 / gamma);
  for (const [s, y] of pairs) B = update(B, s, y);
  return B;
}

/** Random symmetric matrix Q·diag(eigs)·Qᵀ (Q from Gram–Schmidt of a Gaussian matrix). */
function symmetric(n: number, eigs: number[], rng: dn.Rng): Mat {
  const Q: number[][] = [];
  while (Q.length < n) {
    const v = Array.from({ length: n }, () => rng.normal());
    for (const q of Q) {
      const c = vdot(v, q);
      for (let i = 0; i < n; i++) v[i] -= c * q[i];
    }
    const nv = Math.sqrt(vdot(v, v));
    Q.push(v.map((x) => x / nv));
  }
  return Array.from(
    { length: n },
    (_, i) =>
      Array.from({ length: n }, (_, j) => Q.reduce((acc, q, k) => acc + q[i] * eigs[k] * q[j], 0)),
  );
}

function randvec(n: number, rng: dn.Rng): number[] {
  return Array.from({ length: n }, () => rng.normal());
}

function vec(x: ArrayLike<number>, opts: dn.CreateOptions = F64): dn.Tensor {
  return dn.fromArray(Array.from(x), opts);
}

/** The operator's matrix, column j = apply(eⱼ) (f64 CPU operators). */
function matrixOf(op: { apply(v: dn.Tensor, out: dn.Tensor): dn.Tensor; n: number }): Mat {
  const n = op.n;
  const cols: number[][] = [];
  const out = dn.zeros([n], F64);
  for (let j = 0; j < n; j++) {
    const e = dn.zeros([n], F64);
    e.host()[j] = 1;
    op.apply(e, out);
    cols.push(Array.from(out.host()));
  }
  return Array.from({ length: n }, (_, i) => cols.map((c) => c[i]));
}

function assertMat(actual: Mat, expected: Mat, what: string, tol = DENSE_TOL): void {
  assertClose(actual.flat(), expected.flat(), tol, what);
}

function push(op: QuasiNewtonOperator, s: number[], y: number[]): void {
  op.push(vec(s), vec(y));
}

Deno.test("L-BFGS forward, scaling off, mem ≥ k: equals k dense BFGS updates of I", async () => {
  const rng = new dn.Rng(1);
  const n = 6;
  const A = symmetric(n, [1, 2, 3, 5, 8, 10], rng);
  const op = new LBFGSOperator(n, { mem: 8, scaling: false, ...F64 });
  assert.equal(op.inverse, false);
  assertMat(matrixOf(op), eye(n), "B₀");
  const pairs: [number[], number[]][] = [];
  for (let k = 1; k <= 8; k++) {
    const s = randvec(n, rng);
    const y = matvec(A, s);
    push(op, s, y);
    pairs.push([s, y]);
    assert.equal(await op.acceptedPairs(), k);
    assertMat(matrixOf(op), dense(bfgs, n, pairs), `B after ${k} pushes`);
  }
});

Deno.test("L-BFGS forward, scaling on, mem < k: newest mem pairs from B₀ = I/γ of the newest", async () => {
  const rng = new dn.Rng(2);
  const n = 6;
  const A = symmetric(n, [1, 1.5, 2, 4, 6, 9], rng);
  const mem = 3;
  const op = new LBFGSOperator(n, { mem, ...F64 });
  const pairs: [number[], number[]][] = [];
  for (let k = 1; k <= 7; k++) {
    const s = randvec(n, rng);
    const y = matvec(A, s);
    push(op, s, y);
    pairs.push([s, y]);
    const gamma = vdot(s, y) / vdot(y, y);
    assertClose([await op.scalingFactor.item()], [gamma], { rtol: 1e-14, atol: 0 }, "γ");
    assert.equal(await op.acceptedPairs(), Math.min(k, mem));
    assertMat(matrixOf(op), dense(bfgs, n, pairs.slice(-mem), gamma), `B after ${k} pushes`);
  }
  assert.equal(op.pushes, 7);
  op.reset();
  assert.equal(await op.acceptedPairs(), 0);
  assert.equal(op.pushes, 0);
  assert.equal(await op.scalingFactor.item(), 1);
  assertMat(matrixOf(op), eye(n), "B after reset");
});

Deno.test("inverse L-BFGS is the inverse of the forward operator on the same pairs", () => {
  const rng = new dn.Rng(3);
  const n = 7;
  const A = symmetric(n, [1, 2, 2.5, 3, 6, 9, 12], rng);
  for (const scaling of [true, false]) {
    const fwd = new LBFGSOperator(n, { mem: 4, scaling, ...F64 });
    const inv = new LBFGSOperator(n, { mem: 4, scaling, inverse: true, ...F64 });
    const pairs: [number[], number[]][] = [];
    for (let k = 0; k < 6; k++) {
      const s = randvec(n, rng);
      const y = matvec(A, s);
      push(fwd, s, y);
      push(inv, s, y);
      pairs.push([s, y]);
    }
    const Hdense = matrixOf(inv);
    const [s, y] = pairs[pairs.length - 1];
    const gamma = scaling ? vdot(s, y) / vdot(y, y) : 1;
    const Bdense = dense(bfgs, n, pairs.slice(-4), gamma);
    // H·B = I, with B the dense BFGS matrix.
    const HB = Hdense.map((row) => Bdense[0].map((_, j) => vdot(row, Bdense.map((r) => r[j]))));
    assertMat(HB, eye(n), `H·B (scaling ${scaling})`);
    // H(Bv) = v through the operators; applyInverse of the forward op = the inverse op.
    for (let t = 0; t < 3; t++) {
      const v = vec(randvec(n, rng));
      const Bv = fwd.apply(v, dn.zeros([n], F64));
      const HBv = inv.apply(Bv, dn.zeros([n], F64));
      assertClose(HBv.host(), v.host(), DENSE_TOL, "H(Bv)");
      const HBv2 = fwd.applyInverse(Bv, dn.zeros([n], F64));
      assertExact(HBv2.host(), HBv.host(), "forward applyInverse vs inverse apply");
    }
  }
});

Deno.test("L-BFGS rejects yᵀs ≤ eps: operator bit-for-bit unchanged, no slot used; newest mem accepted pairs kept", async () => {
  const rng = new dn.Rng(4);
  const n = 5;
  const A = symmetric(n, [1, 2, 3, 4, 5], rng);
  for (const inverse of [false, true]) {
    const mem = 4;
    const op = new LBFGSOperator(n, { mem, inverse, ...F64 });
    const good: [number[], number[]][] = [];
    const pushGood = () => {
      const s = randvec(n, rng);
      good.push([s, matvec(A, s)]);
      push(op, s, good[good.length - 1][1]);
    };
    pushGood();
    pushGood();
    const before = matrixOf(op);
    const gammaBefore = await op.scalingFactor.item();
    // yᵀs < 0, yᵀs = 0, 0 < yᵀs = 2⁻⁵⁴ < eps = 2⁻⁵², and NaN: all rejected.
    const s = [1, 0, 0, 0, 0];
    push(op, s, [-1, 2, 0, 0, 0]);
    push(op, [1, 1, 0, 0, 0], [1, -1, 3, 0, 0]);
    push(op, s, [2 ** -54, 5, 0, 0, 0]);
    push(op, s, [NaN, 5, 0, 0, 0]);
    assert.equal(await op.skipped.item(), 4);
    assert.equal(op.pushes, 6);
    assert.equal(await op.acceptedPairs(), 2, "rejected pairs take no slot");
    assert.equal(await op.scalingFactor.item(), gammaBefore, "γ unchanged by rejections");
    assert.deepEqual(matrixOf(op), before, "rejections leave the operator unchanged");
    // Four more good pairs (6 accepted in all, mem = 4): the newest 4 accepted are kept,
    // whatever rejections came between them (LinearOperators' memory).
    pushGood();
    push(op, s, [-1, 2, 0, 0, 0]);
    pushGood();
    pushGood();
    push(op, s, [0, 0, 0, 0, 0]);
    pushGood();
    assert.equal(await op.acceptedPairs(), mem);
    assert.equal(await op.skipped.item(), 6);
    const kept = good.slice(-mem);
    const [sl, yl] = kept[mem - 1];
    const expectB = dense(bfgs, n, kept, vdot(sl, yl) / vdot(yl, yl));
    const now = matrixOf(op);
    if (inverse) {
      const HB = now.map((row) => expectB[0].map((_, j) => vdot(row, expectB.map((r) => r[j]))));
      assertMat(HB, eye(n), "H·B with the newest mem accepted pairs");
    } else {
      assertMat(now, expectB, "B with the newest mem accepted pairs");
    }
    // Threshold: yᵀs = 2⁻⁵¹ > eps is accepted.
    const op2 = new LBFGSOperator(n, { mem, inverse, ...F64 });
    push(op2, s, [2 ** -51, 0, 0, 0, 0]);
    assert.equal(await op2.skipped.item(), 0);
    assert.equal(await op2.acceptedPairs(), 1);
  }
});

/** One element 0/1 flag on the operator's device (f64 CPU or f32 GPU). */
function flag(v: 0 | 1, opts: dn.CreateOptions = F64): dn.Tensor {
  return dn.fromArray([v], opts);
}

Deno.test("masked push: accept = 0 leaves every operator bit-for-bit unchanged, accept = 1 = plain push", async () => {
  const rng = new dn.Rng(12);
  const n = 6;
  const A = symmetric(n, [1, 2, 3, 4, 6, 9], rng);
  const makers: [string, () => QuasiNewtonOperator][] = [
    ["L-BFGS forward", () => new LBFGSOperator(n, { mem: 3, ...F64 })],
    ["L-BFGS inverse", () => new LBFGSOperator(n, { mem: 3, inverse: true, ...F64 })],
    ["L-BFGS damped", () => new LBFGSOperator(n, { mem: 3, damped: true, ...F64 })],
    ["L-SR1", () => new LSR1Operator(n, { mem: 3, ...F64 })],
  ];
  for (const [what, make] of makers) {
    const masked = make();
    const plain = make();
    let kept = 0;
    for (let k = 0; k < 9; k++) {
      const s = randvec(n, rng);
      const y = matvec(A, s);
      const before = matrixOf(masked);
      const skippedBefore = await masked.skipped.item();
      // Every other push masked out, with garbage (NaN, Inf) half of the time.
      const junk = k % 4 === 1;
      const ys = junk ? y.map((v, i) => i === 0 ? NaN : i === 1 ? Infinity : v) : y;
      masked.push(vec(s), vec(ys), { accept: flag(k % 2 === 0 ? 1 : 0) });
      if (k % 2 === 0) {
        push(plain, s, y);
        kept++;
        assertExact(
          matrixOf(masked).flat(),
          matrixOf(plain).flat(),
          `${what}: accept = 1 equals a plain push (${k})`,
        );
      } else {
        assert.deepEqual(matrixOf(masked), before, `${what}: accept = 0 changes nothing (${k})`);
        assert.equal(await masked.skipped.item(), skippedBefore, `${what}: not counted`);
      }
    }
    assert.equal(await masked.acceptedPairs(), Math.min(kept, 3), what);
    assert.equal(masked.pushes, 9);
    assert.equal(await masked.skipped.item(), 0, what);
  }
  const op = new LBFGSOperator(n, F64);
  assert.throws(
    () => op.push(vec(randvec(n, rng)), vec(randvec(n, rng)), { accept: vec([1, 1]) }),
    /LBFGSOperator.push: accept \[2\] has 2 elements, expected 1/,
  );
  assert.throws(
    () =>
      op.push(vec(randvec(n, rng)), vec(randvec(n, rng)), { accept: flag(1, { dtype: "f32" }) }),
    /LBFGSOperator.push: accept is f32 on cpu, the operator is f64 on cpu/,
  );
  assert.equal(op.pushes, 0);
});

/** The dense reference of a damped push: y replaced by θy + (1 − θ)Bs (Powell). */
function powell(B: Mat, s: number[], y: number[]): { y: number[]; theta: number } {
  const Bs = matvec(B, s);
  const sBs = vdot(s, Bs);
  const ys = vdot(y, s);
  let theta = 1;
  if (ys < 0.01 * sBs) theta = 0.99 * sBs / (sBs - ys);
  else if (ys > 11 * sBs) theta = 10 * sBs / (ys - sBs);
  return { y: y.map((yi, i) => theta * yi + (1 - theta) * Bs[i]), theta };
}

Deno.test("damped L-BFGS: Powell's modified y, inverse from bs = B·s is the exact inverse", async () => {
  const rng = new dn.Rng(5);
  const n = 5;
  const A = symmetric(n, [1, 2, 3, 4, 6], rng);
  const fwd = new LBFGSOperator(n, { mem: 5, damped: true, ...F64 });
  const inv = new LBFGSOperator(n, { mem: 5, damped: true, inverse: true, ...F64 });
  const pairs: [number[], number[]][] = [];
  let gamma = 1;
  const thetas: number[] = [];
  // Normal curvature, negative curvature, tiny curvature, excessive curvature, normal.
  const kinds = [1, -1, 0.001, 60, 1];
  for (const c of kinds) {
    const s = randvec(n, rng);
    const y = matvec(A, s).map((v) => c * v);
    const { y: yd, theta } = powell(dense(bfgs, n, pairs, gamma), s, y);
    thetas.push(theta);
    const bs = fwd.apply(vec(s), dn.zeros([n], F64));
    fwd.push(vec(s), vec(y));
    inv.push(vec(s), vec(y), bs);
    pairs.push([s, yd]);
    gamma = vdot(s, yd) / vdot(yd, yd);
    assertMat(matrixOf(fwd), dense(bfgs, n, pairs, gamma), `damped B (c = ${c})`);
  }
  assert.ok(thetas[0] === 1 && thetas[4] === 1, "normal pairs are not damped");
  assert.ok(thetas[1] < 1 && thetas[2] < 1 && thetas[3] < 1, `damped: θ = ${thetas}`);
  assert.equal(await fwd.skipped.item(), 0, "damped operators accept negative curvature");
  assert.equal(await inv.skipped.item(), 0);
  for (let t = 0; t < 3; t++) {
    const v = vec(randvec(n, rng));
    const HBv = inv.apply(fwd.apply(v, dn.zeros([n], F64)), dn.zeros([n], F64));
    assertClose(HBv.host(), v.host(), DENSE_TOL, "damped H(Bv)");
  }
  // An undamped operator would reject the negative-curvature pair.
  const plain = new LBFGSOperator(n, { ...F64 });
  const s = randvec(n, rng);
  push(plain, s, matvec(A, s).map((v) => -v));
  assert.equal(await plain.skipped.item(), 1);
});

Deno.test("L-SR1 equals dense SR1 updates of the pairs it accepts (scaling off and on, mem < k)", async () => {
  const rng = new dn.Rng(6);
  const n = 5;
  const A = symmetric(n, [-3, -1, 1, 2, 5], rng); // indefinite: SR1's use case
  for (const scaling of [false, true]) {
    const mem = 3;
    const op = new LSR1Operator(n, { mem, scaling, ...F64 });
    const accepted: [number[], number[]][] = [];
    let gamma = 1;
    for (let k = 0; k < 6; k++) {
      const s = randvec(n, rng);
      const y = matvec(A, s);
      push(op, s, y);
      accepted.push([s, y]);
      if (scaling) gamma = vdot(s, y) / vdot(y, y);
      assertMat(
        matrixOf(op),
        dense(sr1, n, accepted.slice(-mem), gamma),
        `SR1 (scaling ${scaling}) after ${k + 1}`,
      );
    }
    // y = B·s exactly (from the operator): r = 0, rejected; operator unchanged.
    const before = matrixOf(op);
    const s = vec(randvec(n, rng));
    const y = op.apply(s, dn.zeros([n], F64));
    op.push(s, y);
    assert.equal(await op.skipped.item(), 1);
    assert.equal(await op.acceptedPairs(), mem, "the rejected pair takes no slot");
    assert.deepEqual(matrixOf(op), before, "rejection leaves the operator unchanged");
    // The next accepted pair evicts the oldest accepted one.
    const s2 = randvec(n, rng);
    push(op, s2, matvec(A, s2));
    accepted.push([s2, matvec(A, s2)]);
    if (scaling) {
      gamma = vdot(s2, accepted[accepted.length - 1][1]) / vdot(matvec(A, s2), matvec(A, s2));
    }
    assertMat(
      matrixOf(op),
      dense(sr1, n, accepted.slice(-mem), gamma),
      "after rejection, one more",
    );
  }
});

Deno.test("L-SR1 rule: |sᵀr| ≥ ε + ε‖r‖‖s‖ (LinearOperators' constant), curvature with scaling", async () => {
  // B = I (fresh, scaling off); s = (1, 1, 0), y = s + r with r = (1, −1 + δ, 0): sᵀr = δ
  // exactly, threshold ε(1 + ‖r‖‖s‖) ≈ 3ε.
  for (const [delta, accept] of [[EPS64, false], [2 * EPS64, false], [16 * EPS64, true]] as const) {
    const op = new LSR1Operator(3, { scaling: false, ...F64 });
    push(op, [1, 1, 0], [2, delta, 0]);
    assert.equal(await op.acceptedPairs(), accept ? 1 : 0, `δ = ${delta / EPS64}ε`);
    assert.equal(await op.skipped.item(), accept ? 0 : 1);
    if (accept) {
      assertMat(matrixOf(op), sr1(eye(3), [1, 1, 0], [2, delta, 0]), "accepted SR1");
    } else {
      assert.deepEqual(matrixOf(op), eye(3));
    }
  }
  // Well-defined pairs that only the scaling tests reject: sᵀy = 0 and sᵀy = 1e-20
  // (|sᵀy| < ε‖y‖‖s‖), and y = 2s (y − s/γ₊ = 0 with γ₊ = sᵀy/yᵀy = 1/2).
  const cases: [number[], number[]][] = [
    [[1, 0, 0], [0, 1, 0]],
    [[1, 0, 0], [1e-20, 1, 0]],
    [[1, 2, 0], [2, 4, 0]],
  ];
  for (const [s, y] of cases) {
    for (const scaling of [false, true]) {
      const op = new LSR1Operator(3, { scaling, ...F64 });
      push(op, s, y);
      assert.equal(await op.acceptedPairs(), scaling ? 0 : 1, `s ${s}, y ${y}, scaling ${scaling}`);
      if (!scaling) assertMat(matrixOf(op), sr1(eye(3), s, y), `SR1 of s ${s}, y ${y}`);
    }
  }
});

Deno.test("bad input throws and leaves the operator unchanged", async () => {
  for (const mem of [0, -1, 2.5, NaN]) {
    assert.throws(() => new LBFGSOperator(4, { mem, ...F64 }), /LBFGSOperator: mem must be/);
    assert.throws(() => new LSR1Operator(4, { mem, ...F64 }), /LSR1Operator: mem must be/);
  }
  assert.throws(() => new LBFGSOperator(0, F64), /LBFGSOperator: n must be an integer ≥ 1, got 0/);
  assert.throws(
    () => new LBFGSOperator(3, { device: "gpu", dtype: "f64" }),
    /LBFGSOperator: GPU vectors are f32/,
  );
  const op = new LBFGSOperator(4, F64);
  const sr = new LSR1Operator(4, F64);
  const v4 = vec([1, 2, 3, 4]);
  const v3 = vec([1, 2, 3]);
  assert.throws(
    () => op.push(v3, v4),
    /LBFGSOperator.push: s \[3\] has 3 elements, expected n = 4/,
  );
  assert.throws(() => op.push(v4, v3), /LBFGSOperator.push: y \[3\] has 3 elements/);
  assert.throws(() => sr.push(v4, v3), /LSR1Operator.push: y \[3\] has 3 elements/);
  assert.throws(() => op.apply(v3, dn.zeros([4], F64)), /LBFGSOperator.apply: v \[3\]/);
  assert.throws(() => sr.apply(v4, dn.zeros([5], F64)), /LSR1Operator.apply: out \[5\]/);
  assert.throws(() => op.apply(v4, v4), /out must be a different tensor from v/);
  assert.throws(
    () => op.push(v4, dn.fromArray([1, 2, 3, 4], { dtype: "f32", device: "cpu" })),
    /LBFGSOperator.push: y is f32 on cpu, the operator is f64 on cpu/,
  );
  assert.throws(() => op.push(v4, v4, v4), /bs is only used by a damped operator/);
  const dinv = new LBFGSOperator(4, { damped: true, inverse: true, ...F64 });
  assert.throws(() => dinv.push(v4, v4), /a damped inverse operator needs bs/);
  assert.equal(op.pushes, 0);
  assert.equal(sr.pushes, 0);
  assert.equal(dinv.pushes, 0);
  assert.equal(await op.skipped.item(), 0);
  op.dispose();
  assert.throws(() => op.push(v4, v4), /LBFGSOperator.push: the operator was disposed/);
  assert.throws(
    () => op.apply(v4, dn.zeros([4], F64)),
    /LBFGSOperator.apply: the operator was disposed/,
  );
});

/** f(x) = ½xᵀAx − bᵀx on the CPU in f64, counting evaluations (a minimal SmoothNLP). */
class Quadratic implements SmoothNLP {
  readonly meta: NLPMeta;
  readonly counters: NLPCounters = { neval_obj: 0, neval_grad: 0 };
  readonly version = 0;
  constructor(readonly A: Mat, readonly b: number[]) {
    this.meta = { nvar: b.length, x0: dn.zeros([b.length], F64), name: "quadratic" };
  }
  obj(x: dn.Tensor): dn.Tensor {
    this.counters.neval_obj++;
    const xs = Array.from(x.host());
    return dn.fromArray([0.5 * vdot(xs, matvec(this.A, xs)) - vdot(this.b, xs)], F64);
  }
  grad(x: dn.Tensor, g: dn.Tensor): dn.Tensor {
    this.counters.neval_grad++;
    const Ax = matvec(this.A, x.host());
    g.host().set(Ax.map((v, i) => v - this.b[i]));
    return g;
  }
  objgrad(x: dn.Tensor, g: dn.Tensor): dn.Tensor {
    this.grad(x, g);
    return this.obj(x);
  }
}

Deno.test("LBFGSModel / LSR1Model: pass-through obj/grad/meta/counters, hprod = B·v ignoring x", async () => {
  const rng = new dn.Rng(7);
  const n = 4;
  const A = symmetric(n, [1, 2, 3, 4], rng);
  const nlp = new Quadratic(A, randvec(n, rng));
  for (const model of [new LBFGSModel(nlp, { mem: 3 }), new LSR1Model(nlp, { mem: 3 })]) {
    assert.equal(model.meta, nlp.meta);
    assert.equal(model.counters, nlp.counters);
    assert.equal(model.version, 0);
    assert.equal(model.op.dtype, "f64");
    assert.equal(model.op.n, n);
    const x = vec(randvec(n, rng));
    const before = { ...nlp.counters };
    const f = await model.obj(x).item();
    assert.equal(f, await nlp.obj(x).item());
    const g1 = model.grad(x, dn.zeros([n], F64));
    assertExact(g1.host(), nlp.grad(x, dn.zeros([n], F64)).host(), "grad");
    const g2 = dn.zeros([n], F64);
    assert.equal(await model.objgrad(x, g2).item(), f);
    assertExact(g2.host(), g1.host(), "objgrad");
    assert.deepEqual(nlp.counters, {
      neval_obj: before.neval_obj + 3,
      neval_grad: before.neval_grad + 3,
    });
    // Feed pairs from the gradient: y = ∇f(x₊) − ∇f(x) = A s.
    for (let k = 0; k < 3; k++) {
      const s = randvec(n, rng);
      model.push(vec(s), vec(matvec(A, s)));
    }
    const v = vec(randvec(n, rng));
    const hv1 = model.hprod(x, v, dn.zeros([n], F64));
    const hv2 = model.hprod(vec(randvec(n, rng)), v, dn.zeros([n], F64));
    assertExact(hv2.host(), hv1.host(), "hprod ignores x");
    assertExact(hv1.host(), model.op.apply(v, dn.zeros([n], F64)).host(), "hprod = op.apply");
    // The secant equation B·s = y holds for the newest pair (BFGS and SR1).
    const s = randvec(n, rng);
    const y = matvec(A, s);
    model.push(vec(s), vec(y));
    assertClose(model.hprod(x, vec(s), dn.zeros([n], F64)).host(), y, DENSE_TOL, "secant");
    model.reset();
    assertExact(model.hprod(x, v, dn.zeros([n], F64)).host(), v.host(), "reset → B = I");
    model.dispose();
  }
  assert.throws(
    () => new LBFGSModel({ meta: {} } as unknown as SmoothNLP),
    /LBFGSModel: expected a SmoothNLP with meta.x0/,
  );
});

/** Runs the same pushes/applies on a GPU f32 op and a CPU f64 op; compares and counts syncs. */
async function gpuVsCpu(
  make: (opts: dn.CreateOptions) => QuasiNewtonOperator,
  what: string,
  expectSkipped: number,
): Promise<void> {
  const n = 1000;
  const rng = new dn.Rng(11);
  const diag = Array.from({ length: n }, () => 1 + 3 * rng.uniform());
  const g = make({ device: "gpu", dtype: "f32" });
  const c = make(F64);
  const steps = 7; // > mem = 5: wraps the ring
  const data: { s: number[]; y: number[]; v: number[] }[] = [];
  for (let k = 0; k < steps; k++) {
    const s = randvec(n, rng).map((x) => Math.fround(x));
    let y = s.map((x, i) => Math.fround(x * diag[i]));
    if (k === 3) y = y.map((x) => -x); // negative curvature: rejected (or damped)
    data.push({ s, y, v: randvec(n, rng).map((x) => Math.fround(x)) });
  }
  const gpuIn = data.map(({ s, y, v }) => ({
    s: vec(s, { device: "gpu" }),
    y: vec(y, { device: "gpu" }),
    v: vec(v, { device: "gpu" }),
    out: dn.zeros([n], { device: "gpu" }),
  }));
  // Masked-out pushes of a junk pair (NaN/Inf in y) between the real ones: they must
  // change nothing (the CPU reference never sees them), checked bit for bit on apply.
  const zero = dn.zeros([1], { device: "gpu" });
  const junkY = vec(data[0].y.map((v, i) => i === 0 ? NaN : i === 1 ? Infinity : v), {
    device: "gpu",
  });
  const before = dn.zeros([n], { device: "gpu" });
  const after = dn.zeros([n], { device: "gpu" });
  const live = dn.counters().liveBytes;
  const syncs = dn.counters().hostSyncs;
  for (const [k, t] of gpuIn.entries()) {
    if (k === 4) g.apply(t.v, before);
    g.push(t.s, junkY, { accept: zero });
    if (k === 4) g.apply(t.v, after);
    g.push(t.s, t.y);
    g.apply(t.v, t.out);
  }
  assert.equal(dn.counters().hostSyncs - syncs, 0, `${what}: host syncs in push/apply`);
  assert.equal(dn.counters().liveBytes, live, `${what}: push/apply leave no live temporaries`);
  let worst = 0;
  for (let k = 0; k < steps; k++) {
    c.push(vec(data[k].s), vec(data[k].y));
    const want = c.apply(vec(data[k].v), dn.zeros([n], F64)).host();
    const got = await gpuIn[k].out.data();
    const scale = Math.max(...Array.from(want, Math.abs));
    assertClose(got, want, { rtol: 0, atol: 1e-4 * scale }, `${what}: apply after push ${k + 1}`);
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / scale);
  }
  assert.equal(await g.skipped.item(), await c.skipped.item(), `${what}: skipped`);
  assert.equal(await g.skipped.item(), expectSkipped, `${what}: skipped count`);
  assertExact(await after.data(), await before.data(), `${what}: a masked-out push is a no-op`);
  assert.equal(g.pushes, 2 * steps);
  console.log(`${what}: GPU f32 vs CPU f64 worst error / max|Bv| = ${worst.toExponential(2)}`);
  g.dispose();
  for (const t of gpuIn) for (const x of Object.values(t)) x.dispose();
  for (const t of [zero, junkY, before, after]) t.dispose();
}

Deno.test({
  name: "GPU f32 L-BFGS (forward, inverse, damped) and L-SR1 match CPU f64, with no host sync",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    // The negative-curvature pair: rejected by L-BFGS, damped by damped L-BFGS, and
    // accepted by L-SR1 (its rule does not ask for positive curvature).
    await gpuVsCpu((o) => new LBFGSOperator(1000, o), "L-BFGS forward", 1);
    await gpuVsCpu((o) => new LBFGSOperator(1000, { ...o, inverse: true }), "L-BFGS inverse", 1);
    await gpuVsCpu((o) => new LBFGSOperator(1000, { ...o, damped: true }), "L-BFGS damped", 0);
    await gpuVsCpu((o) => new LSR1Operator(1000, o), "L-SR1", 0);
  },
});
