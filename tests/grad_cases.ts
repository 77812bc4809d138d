/**
 * The catalogue of differentiable ops shared by the gradient tests: every op with a
 * backward rule, called through its public function, on inputs drawn from a domain where
 * the op is smooth (away from kinks, poles and ties) so that central differences are
 * meaningful. tests/grad_ops_test.ts checks each case numerically in f64 on the CPU;
 * tests/grad_gpu_test.ts checks that the GPU computes the same gradients as the CPU.
 *
 * Not a test file itself (no `_test` suffix): imported by the two above.
 */

import * as dn from "../internals.ts";
import type { Tensor } from "../internals.ts";

/**
 * Where an argument's values are drawn from:
 * - normal: N(0, 1)
 * - positive: U(0.3, 3) (log, sqrt, rsqrt, pow bases)
 * - awayZero: ±U(0.2, 2) (kinks of abs, relu, elu, selu at 0; divisors)
 * - unit: ±U(0.5, 1.5) (products: no factor near 0, partial products stay O(1))
 * - [lo, hi]: U(lo, hi)
 */
export type Domain = "normal" | "positive" | "awayZero" | "unit" | readonly [number, number];

/** One argument: its shape and value domain (default normal). */
export interface ArgSpec {
  shape: readonly number[];
  domain?: Domain;
}

/** A differentiable expression of its arguments, all of which get gradients. */
export interface GradCase {
  name: string;
  args: ArgSpec[];
  f: (...xs: Tensor[]) => Tensor;
}

/** Values for one argument (deterministic given the generator). */
export function sample(domain: Domain, n: number, rng: dn.Rng): number[] {
  const u = (lo: number, hi: number) => lo + (hi - lo) * rng.uniform();
  const signed = (lo: number, hi: number) => (rng.uniform() < 0.5 ? -1 : 1) * u(lo, hi);
  return Array.from({ length: n }, () => {
    if (Array.isArray(domain)) return u(domain[0], domain[1]);
    switch (domain) {
      case "positive":
        return u(0.3, 3);
      case "awayZero":
        return signed(0.2, 2);
      case "unit":
        return signed(0.5, 1.5);
      default:
        return rng.normal();
    }
  });
}

/** Domains of the unary ops that have a gradient. */
export const UNARY_DOMAINS: Readonly<Record<string, Domain>> = {
  neg: "normal",
  abs: "awayZero",
  exp: [-2, 2],
  log: "positive",
  log1p: [-0.7, 3],
  expm1: [-2, 2],
  sqrt: "positive",
  rsqrt: "positive",
  square: "normal",
  tanh: [-3, 3],
  sigm: [-4, 4],
  relu: "awayZero",
  elu: "awayZero",
  selu: "awayZero",
  softplus: [-4, 4],
  sin: [-4, 4],
  cos: [-4, 4],
};

const BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"] as const;
type Bin = typeof BINARY[number];

/** Domains of a binary op's operands: (a, b). */
function binaryDomains(op: Bin): [Domain, Domain] {
  switch (op) {
    case "div":
      return ["normal", "awayZero"];
    case "pow":
      return ["positive", [-2, 2]];
    default:
      return ["normal", "normal"];
  }
}

/** Numbers used as the scalar operand of each binary op, on the left and on the right. */
const SCALARS: Record<Bin, { left: number; right: number; domain: Domain }> = {
  add: { left: 1.5, right: -0.75, domain: "normal" },
  sub: { left: 1.5, right: -0.75, domain: "normal" },
  mul: { left: 1.5, right: -0.75, domain: "normal" },
  div: { left: 1.5, right: -0.75, domain: "awayZero" },
  pow: { left: 1.7, right: 2.5, domain: "positive" },
  maximum: { left: 0.3, right: -0.2, domain: "normal" },
  minimum: { left: 0.3, right: -0.2, domain: "normal" },
};

const REDUCTIONS = ["sum", "mean", "prod", "max", "min", "variance", "std"] as const;
type Red = typeof REDUCTIONS[number];

function reduce(op: Red, x: Tensor, axes: dn.Axes, keepdims = false): Tensor {
  return dn[op](x, axes, { keepdims });
}

/** The domain of a reduction's input: products stay O(1) and never cross zero. */
const redDomain = (op: Red): Domain => (op === "prod" ? "unit" : "normal");

/** Every case. Shapes are drawn from `rng` where the op allows any shape. */
export function gradCases(rng: dn.Rng): GradCase[] {
  const d = (lo: number, hi: number) => lo + rng.int(hi - lo + 1);
  const cases: GradCase[] = [];
  const add = (name: string, args: ArgSpec[], f: (...xs: Tensor[]) => Tensor) =>
    cases.push({ name, args, f });

  // Unary ops, on a random 2-D and a random 3-D shape.
  for (const [op, domain] of Object.entries(UNARY_DOMAINS)) {
    const u = (x: Tensor) => dn.unary(op as dn.UnaryOpName, x);
    add(`${op} 2-D`, [{ shape: [d(1, 4), d(1, 7)], domain }], u);
    add(`${op} 3-D`, [{ shape: [d(1, 3), d(1, 3), d(2, 5)], domain }], u);
  }

  // Binary ops: equal shapes, broadcasting both ways, scalar tensors, number operands.
  for (const op of BINARY) {
    const [da, db] = binaryDomains(op);
    const b = (x: Tensor | number, y: Tensor | number) => dn.binary(op, x, y);
    const s = [d(1, 4), d(1, 5)];
    add(`${op} equal shapes`, [{ shape: s, domain: da }, { shape: s, domain: db }], b);
    add(`${op} [3,1]x[1,4]`, [{ shape: [3, 1], domain: da }, { shape: [1, 4], domain: db }], b);
    add(`${op} [2,3,4]x[4]`, [{ shape: [2, 3, 4], domain: da }, { shape: [4], domain: db }], b);
    add(`${op} [4]x[2,3,4]`, [{ shape: [4], domain: da }, { shape: [2, 3, 4], domain: db }], b);
    add(`${op} [2,1,4]x[3,1]`, [{ shape: [2, 1, 4], domain: da }, {
      shape: [3, 1],
      domain: db,
    }], b);
    add(`${op} []x[2,3]`, [{ shape: [], domain: da }, { shape: [2, 3], domain: db }], b);
    add(`${op} [2,3]x[]`, [{ shape: [2, 3], domain: da }, { shape: [], domain: db }], b);
    const sc = SCALARS[op];
    add(`${op} number left`, [{ shape: [2, 3], domain: sc.domain }], (x) => b(sc.left, x));
    add(`${op} number right`, [{ shape: [2, 3], domain: sc.domain }], (x) => b(x, sc.right));
  }
  // The same Param on both sides (its two gradients accumulate).
  add("mul(x, x)", [{ shape: [3, 4] }], (x) => dn.mul(x, x));
  add("div(x, x + 3)", [{ shape: [3, 4], domain: "positive" }], (x) => dn.div(x, dn.add(x, 3)));

  // Reductions: all axes, one axis, negative axis, several axes, keepdims, and middle
  // axes with at least STRIDED_MIN_ROWS = 256 outputs (reduced strided, in place).
  for (const op of REDUCTIONS) {
    const domain = redDomain(op);
    const r = (axes: dn.Axes, keepdims = false) => (x: Tensor) => reduce(op, x, axes, keepdims);
    const s3 = [d(2, 3), d(2, 4), d(2, 5)];
    add(`${op} all`, [{ shape: s3, domain }], r(undefined));
    add(`${op} axis 0`, [{ shape: s3, domain }], r(0));
    add(`${op} axis 1`, [{ shape: s3, domain }], r(1));
    add(`${op} axis -1`, [{ shape: s3, domain }], r(-1));
    add(`${op} axes [0,2]`, [{ shape: s3, domain }], r([0, 2]));
    add(`${op} axes [1,2] keepdims`, [{ shape: s3, domain }], r([1, 2], true));
    add(`${op} axis 1 keepdims`, [{ shape: s3, domain }], r(1, true));
    add(`${op} middle axis strided [86,5,3]`, [{ shape: [86, 5, 3], domain }], r(1));
    add(`${op} middle axes strided [20,3,2,13]`, [{ shape: [20, 3, 2, 13], domain }], r([1, 2]));
  }
  for (const corrected of [true, false]) {
    for (const op of ["variance", "std"] as const) {
      add(
        `${op} corrected=${corrected} axis 0`,
        [{ shape: [4, 3] }],
        (x) => dn[op](x, 0, { corrected }),
      );
    }
  }
  const nv = d(2, 9);
  add("dot(x, y)", [{ shape: [nv] }, { shape: [nv] }], dn.dot);
  add("dot(x, x)", [{ shape: [d(2, 9)] }], (x) => dn.dot(x, x));
  add("dot(x, y) of different shapes", [{ shape: [2, 6] }, { shape: [3, 4] }], dn.dot);
  add("nrm2", [{ shape: [d(2, 5), d(2, 5)] }], dn.nrm2);

  // softmax family on every axis of a 3-D input.
  for (const axis of [0, 1, 2, -1]) {
    add(`softmax axis ${axis}`, [{ shape: [3, 4, 5] }], (x) => dn.softmax(x, axis));
    add(`logsoftmax axis ${axis}`, [{ shape: [3, 4, 5] }], (x) => dn.logsoftmax(x, axis));
    add(`logsumexp axis ${axis}`, [{ shape: [3, 4, 5] }], (x) => dn.logsumexp(x, axis));
  }
  add("logsumexp keepdims", [{ shape: [3, 4, 5] }], (x) => dn.logsumexp(x, 1, { keepdims: true }));
  add("softmax 1-D", [{ shape: [7] }], (x) => dn.softmax(x));
  add("softmax long rows [2,300]", [{ shape: [2, 300] }], (x) => dn.softmax(x));
  add("logsoftmax long rows [2,300]", [{ shape: [2, 300] }], (x) => dn.logsoftmax(x));
  // Many short rows: the GPU's one-invocation-per-row kernels.
  add("softmax short rows [300,5]", [{ shape: [300, 5] }], (x) => dn.softmax(x));
  add("logsumexp short rows [300,5]", [{ shape: [300, 5] }], (x) => dn.logsumexp(x));
  add("sum short rows [300,5]", [{ shape: [300, 5] }], (x) => dn.sum(x, 1));

  // GEMM: every transpose combination, with α, β and C.
  const [M, K, N] = [d(2, 4), d(2, 5), d(2, 4)];
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const sa = transA ? [K, M] : [M, K];
      const sb = transB ? [N, K] : [K, N];
      const tag = `${transA ? "T" : "N"}${transB ? "T" : "N"}`;
      add(
        `gemm ${tag}`,
        [{ shape: sa }, { shape: sb }],
        (a, b) => dn.gemm(a, b, { transA, transB }),
      );
      add(
        `gemm ${tag} alpha beta c`,
        [{ shape: sa }, { shape: sb }, { shape: [M, N] }],
        (a, b, c) => dn.gemm(a, b, { transA, transB, alpha: 1.5, beta: -0.5, c }),
      );
      add(
        `gemm ${tag} batched 3-D x 2-D`,
        [{ shape: [2, ...sa] }, { shape: sb }],
        (a, b) => dn.gemm(a, b, { transA, transB, alpha: 0.7 }),
      );
      add(
        `gemm ${tag} batched 2-D x 3-D`,
        [{ shape: sa }, { shape: [3, ...sb] }],
        (a, b) => dn.gemm(a, b, { transA, transB }),
      );
      add(
        `bmm ${tag}`,
        [{ shape: [2, ...sa] }, { shape: [2, ...sb] }],
        (a, b) => dn.bmm(a, b, { transA, transB }),
      );
    }
  }
  add("gemm batched with c", [{ shape: [2, 3, 4] }, { shape: [4, 5] }, { shape: [2, 3, 5] }], (
    a,
    b,
    c,
  ) => dn.gemm(a, b, { beta: 2, c }));
  // Large enough for the GPU's register-blocked kernel (min(M, N) > GEMM_SKINNY = 16).
  add(
    "linear",
    [{ shape: [5, 7] }, { shape: [7, 3] }, { shape: [3] }],
    (x, w, b) => dn.linear(x, w, b),
  );
  add(
    "linear relu",
    [{ shape: [6, 4] }, { shape: [4, 5] }, { shape: [5] }],
    (x, w, b) => dn.linear(x, w, b, "relu"),
  );
  add("gemm tiled [33,17]x[17,20]", [{ shape: [33, 17] }, { shape: [17, 20] }], dn.matmul);
  add(
    "gemm tiled NT [33,17]x[20,17]",
    [{ shape: [33, 17] }, { shape: [20, 17] }],
    (a, b) => dn.gemm(a, b, { transB: true }),
  );
  add("matmul 2-D", [{ shape: [3, 4] }, { shape: [4, 2] }], dn.matmul);
  add("matmul 1-D x 2-D", [{ shape: [4] }, { shape: [4, 3] }], dn.matmul);
  add("matmul 2-D x 1-D", [{ shape: [3, 4] }, { shape: [4] }], dn.matmul);
  add("matmul 1-D x 1-D", [{ shape: [5] }, { shape: [5] }], dn.matmul);
  add("matmul 1-D x 3-D", [{ shape: [4] }, { shape: [2, 4, 3] }], dn.matmul);
  add("matmul 3-D x 1-D", [{ shape: [2, 3, 4] }, { shape: [4] }], dn.matmul);
  add("matmul 3-D x 2-D", [{ shape: [2, 3, 4] }, { shape: [4, 2] }], dn.matmul);
  add("matmul 2-D x 3-D", [{ shape: [3, 4] }, { shape: [2, 4, 2] }], dn.matmul);
  add("matmul broadcast batch [2,1,3,4]x[5,4,2]", [{ shape: [2, 1, 3, 4] }, {
    shape: [5, 4, 2],
  }], dn.matmul);
  add(
    "matmul broadcast batch [1,3,4]x[2,4,2]",
    [{ shape: [1, 3, 4] }, { shape: [2, 4, 2] }],
    dn.matmul,
  );

  // Shape ops.
  add("reshape", [{ shape: [2, 3, 4] }], (x) => x.reshape(4, -1));
  add("reshape then mul", [{ shape: [2, 3, 4] }], (x) => dn.mul(x.reshape(4, -1), x.reshape(4, 6)));
  add("reshape to scalar", [{ shape: [1, 1] }], (x) => x.reshape([]));
  add("permute [2,0,1]", [{ shape: [2, 3, 4] }], (x) => dn.permute(x, [2, 0, 1]));
  add("permute [1,0,3,2]", [{ shape: [2, 3, 2, 3] }], (x) => dn.permute(x, [1, 0, 3, 2]));
  add("transpose", [{ shape: [3, 5] }], (x) => dn.transpose(x));
  add("transpose dims 0,2", [{ shape: [2, 3, 4] }], (x) => dn.transpose(x, 0, 2));
  add("transpose 1-D", [{ shape: [4] }], (x) => dn.transpose(x));
  add("slice ranges", [{ shape: [5, 6] }], (x) => dn.slice(x, [[1, 4], [0, 6, 2]]));
  add(
    "slice negative steps",
    [{ shape: [5, 6] }],
    (x) => dn.slice(x, [[4, 0, -2], [undefined, undefined, -1]]),
  );
  add("slice index dims", [{ shape: [3, 4, 5] }], (x) => dn.slice(x, [1, null, -2]));
  add(
    "slice index and steps",
    [{ shape: [4, 5, 6] }],
    (x) => dn.slice(x, [[undefined, undefined, -3], 2, [1, undefined, 2]]),
  );
  add("flip dim 0", [{ shape: [3, 4] }], (x) => dn.flip(x, 0));
  add("flip dims [0,2]", [{ shape: [2, 3, 4] }], (x) => dn.flip(x, [0, 2]));
  add(
    "concat axis 0",
    [{ shape: [2, 3] }, { shape: [1, 3] }, { shape: [3, 3] }],
    (a, b, c) => dn.concat([a, b, c], 0),
  );
  add(
    "concat axis 1",
    [{ shape: [2, 3] }, { shape: [2, 1] }, { shape: [2, 4] }],
    (a, b, c) => dn.concat([a, b, c], 1),
  );
  add(
    "concat axis -1 of 3-D",
    [{ shape: [2, 3, 2] }, { shape: [2, 3, 1] }],
    (a, b) => dn.concat([a, b], -1),
  );
  add("concat the same tensor twice", [{ shape: [2, 3] }], (a) => dn.concat([a, a, a], 1));
  add("broadcastTo [3,1]->[2,3,4]", [{ shape: [3, 1] }], (x) => dn.broadcastTo(x, [2, 3, 4]));
  add("broadcastTo []->[2,2]", [{ shape: [] }], (x) => dn.broadcastTo(x, [2, 2]));
  add("broadcastTo same shape", [{ shape: [2, 3] }], (x) => dn.broadcastTo(x, [2, 3]));
  add("clone", [{ shape: [3, 4] }], (x) => dn.clone(x));
  const mask = (like: Tensor) =>
    dn.fromArray([1, 0, 1, 1, 0, 0], { shape: [2, 3], dtype: like.dtype, device: like.device });
  add(
    "where (full operands)",
    [{ shape: [2, 3] }, { shape: [2, 3] }],
    (a, b) => dn.where(mask(a), a, b),
  );
  add(
    "where (broadcast b [3])",
    [{ shape: [2, 3] }, { shape: [3] }],
    (a, b) => dn.where(mask(a), a, b),
  );

  // Compositions: a two-layer network with a log-softmax loss, and a normalisation.
  add(
    "mlp: logsoftmax(tanh(x·w1 + b1)·w2)",
    [{ shape: [5, 4] }, { shape: [4, 6] }, { shape: [6] }, { shape: [6, 3] }],
    (x, w1, b1, w2) => {
      const h = dn.tanh(dn.add(dn.matmul(x, w1), b1));
      return dn.neg(dn.mean(dn.max(dn.logsoftmax(dn.matmul(h, w2)), 1)));
    },
  );
  add(
    "standardise: (x − mean)/std",
    [{ shape: [4, 5] }],
    (x) => dn.div(dn.sub(x, dn.mean(x, 1, { keepdims: true })), dn.std(x, 1, { keepdims: true })),
  );
  return cases;
}
