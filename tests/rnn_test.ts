/**
 * Knet's RNN layer (src/layers/rnn.ts, src/ops/rnn.ts) on the CPU: every rnnType × {1, 2
 * layers} × {uni, bidirectional} × {fixed batch, batchSizes} against the plain formulas
 * of tests/rnn_ref.ts, f64 gradient checks of every element w.r.t. weights, input and
 * initial states, rnnparam's ids and order, the h / c state semantics (nothing / 0 /
 * array, no tape kept across `diff` calls), and bad input.
 */

import assert from "node:assert/strict";
import * as dn from "../mod.ts";
import { RNN, rnnparam, rnnparams, Tensor } from "../mod.ts";
import { refRnn } from "./rnn_ref.ts";
import { assertClose } from "./_helpers.ts";

type Mode = "relu" | "tanh" | "lstm" | "gru";
const MODES: Mode[] = ["relu", "tanh", "lstm", "gru"];

/** Random values in [-s, s) from a seeded generator. */
function rand(n: number, seed: number, s = 1): Float64Array {
  const r = new dn.Rng(seed);
  return Float64Array.from({ length: n }, () => (2 * r.uniform() - 1) * s);
}

/** A kept state, which must be a Tensor here. */
function asT(s: unknown): Tensor {
  assert.ok(s instanceof Tensor, `expected a Tensor state, got ${String(s)}`);
  return s;
}

function tensor(shape: number[], v: Float64Array, dtype: "f32" | "f64"): Tensor {
  return new Tensor(shape, dtype, dtype === "f64" ? v.slice() : new Float32Array(v));
}

/** Sets every Param of `r` to random values (so biases are not all zero or one). */
function randomize(r: RNN, seed: number): void {
  let s = seed;
  for (const p of dn.params(r)) p.host().set(rand(p.size, s++, 0.6));
}

interface Case {
  mode: Mode;
  L: number;
  bi: boolean;
  packed: boolean;
}

const CASES: Case[] = MODES.flatMap((mode) =>
  [1, 2].flatMap((L) =>
    [false, true].flatMap((bi) => [false, true].map((packed) => ({ mode, L, bi, packed })))
  )
);

const X = 3, H = 4;
/** Steps of the batchSizes cases: 3 sequences of lengths 4, 2, 1. */
const BS = [3, 2, 1, 1];

Deno.test("rnn: every type × layers × directions × batchSizes matches the formulas (f64 and f32)", () => {
  for (const c of CASES) {
    for (const dtype of ["f64", "f32"] as const) {
      const r = new RNN(X, H, {
        rnnType: c.mode,
        numLayers: c.L,
        bidirectional: c.bi,
        dtype,
        device: "cpu",
        rng: new dn.Rng(3),
      });
      randomize(r, 10);
      const dirs = c.bi ? 2 : 1;
      const T = 5, B = 3;
      const bs = c.packed ? BS : Array(T).fill(B);
      const N = bs.reduce((a, b) => a + b, 0);
      const xv = rand(N * X, 1);
      const h0 = rand(c.L * dirs * bs[0] * H, 2, 0.5);
      const c0 = rand(c.L * dirs * bs[0] * H, 3, 0.5);
      const ref = refRnn(r, xv, bs, h0, c.mode === "lstm" ? c0 : null);
      r.h = tensor([c.L * dirs, bs[0], H], h0, dtype);
      if (c.mode === "lstm") r.c = tensor([c.L * dirs, bs[0], H], c0, dtype);
      const x = c.packed ? tensor([N, X], xv, dtype) : tensor([T, B, X], xv, dtype);
      const y = r.forward(x, c.packed ? { batchSizes: bs } : {});
      const what = `${c.mode} L=${c.L} ${c.bi ? "bi" : "uni"} ${
        c.packed ? "batchSizes" : "fixed"
      } ${dtype}`;
      assert.deepEqual(y.shape, c.packed ? [N, H * dirs] : [T, B, H * dirs], what);
      const tol = dtype === "f64" ? { rtol: 1e-12, atol: 1e-12 } : { rtol: 1e-5, atol: 2e-6 };
      assertClose(y.host(), ref.y, tol, `${what}: y`);
      assertClose(asT(r.h).host(), ref.hy, tol, `${what}: h`);
      if (c.mode === "lstm") assertClose(asT(r.c).host(), ref.cy, tol, `${what}: c`);
      r.dispose();
    }
  }
});

Deno.test("rnn: inputs of 1 and 2 dims are one time step; skipInput adds the input itself", () => {
  for (const mode of MODES) {
    const r = new RNN(H, H, { rnnType: mode, dtype: "f64", device: "cpu", skipInput: true });
    randomize(r, 20);
    assert.equal(rnnparam(r, 1, 1, 1), null, "skipInput: no input matrix");
    const b = rnnparam(r, 1, 1, 2)!;
    assert.deepEqual(b.shape, [H], "skipInput keeps the input biases");
    const xv = rand(2 * H, 5);
    const y2 = r.forward(tensor([2, H], xv, "f64"));
    assert.deepEqual(y2.shape, [2, H]);
    assertClose(y2.host(), refRnn(r, xv, [2], null, null).y, { rtol: 1e-12, atol: 1e-12 }, mode);
    const y1 = r.forward(tensor([H], xv.subarray(0, H), "f64"));
    assert.deepEqual(y1.shape, [H]);
    assertClose(y1.host(), refRnn(r, xv.subarray(0, H), [1], null, null).y, {
      rtol: 1e-12,
      atol: 1e-12,
    });
  }
  assert.throws(
    () => new RNN(3, 4, { skipInput: true }),
    /RNN: skipInput needs inputSize = hiddenSize, got 3 and 4/,
  );
});

Deno.test("rnn: f64 gradients of every element w.r.t. weights, input and initial states", async () => {
  const opts = { atol: 1e-6, rtol: 1e-6, delta: 1e-6, verbose: true };
  for (const c of CASES.filter((c) => c.L === 2 || c.packed)) {
    const dirs = c.bi ? 2 : 1;
    const r = new RNN(2, 3, {
      rnnType: c.mode,
      numLayers: c.L,
      bidirectional: c.bi,
      dtype: "f64",
      device: "cpu",
      rng: new dn.Rng(7),
    });
    randomize(r, 30);
    const bs = c.packed ? [3, 2, 2, 1] : [2, 2, 2];
    const N = bs.reduce((a, b) => a + b, 0);
    const x = new dn.Param(tensor([N, 2], rand(N * 2, 8), "f64"));
    const h0 = new dn.Param(
      tensor([c.L * dirs, bs[0], 3], rand(c.L * dirs * bs[0] * 3, 9, 0.5), "f64"),
    );
    const c0 = new dn.Param(
      tensor([c.L * dirs, bs[0], 3], rand(c.L * dirs * bs[0] * 3, 4, 0.5), "f64"),
    );
    const lstm = c.mode === "lstm";
    // The final states take part too, so their gradient paths are checked.
    const f = (m: RNN, xx: Tensor, hh: Tensor, cc: Tensor) => {
      m.h = hh;
      if (lstm) m.c = cc;
      const y = m.forward(xx, { batchSizes: bs });
      const parts = [dn.sum(dn.mul(y, y)), dn.sum(asT(m.h))];
      if (lstm) parts.push(dn.sum(dn.mul(asT(m.c), asT(m.c))));
      m.h = null;
      m.c = null;
      return parts.reduce((a, b) => dn.add(a, b));
    };
    const args = lstm ? [r, x, h0, c0] : [r, x, h0, c0];
    const ok = await dn.gcheck(f, ...args, { ...opts, nsample: 1e9 });
    assert.ok(
      ok,
      `gcheck ${c.mode} L=${c.L} ${c.bi ? "bi" : "uni"} ${c.packed ? "batchSizes" : "fixed"}`,
    );
    r.dispose();
  }
});

Deno.test("rnnparam / rnnparams: Knet's ids, order, shapes and initial values", () => {
  for (const mode of MODES) {
    const G = { relu: 1, tanh: 1, lstm: 4, gru: 3 }[mode];
    const r = new RNN(5, 3, { rnnType: mode, numLayers: 2, bidirectional: true, device: "cpu" });
    const ps = rnnparams(r);
    // all weights (4 layer-directions × 2G ids), then all biases in the same order
    assert.equal(ps.length, 2 * 4 * 2 * G, mode);
    for (let l = 1; l <= 4; l++) {
      for (let id = 1; id <= 2 * G; id++) {
        const w = ps[(l - 1) * 2 * G + id - 1]!, b = ps[8 * G + (l - 1) * 2 * G + id - 1]!;
        // input weights of layer 2 (l = 3, 4) see both directions of layer 1
        const cols = id > G ? 3 : l <= 2 ? 5 : 6;
        assert.deepEqual(w.shape, [3, cols], `${mode} layer ${l} id ${id} weight`);
        assert.deepEqual(b.shape, [3], `${mode} layer ${l} id ${id} bias`);
        assertClose(w.host(), rnnparam(r, l, id, 1)!.host(), { rtol: 0, atol: 0 });
        // xavier per gate matrix: |w| ≤ √(6 / (fanin + fanout)), not all equal
        const bound = Math.sqrt(6 / (3 + cols));
        const wv = [...w.host()];
        assert.ok(wv.every((v) => Math.abs(v) <= bound) && new Set(wv).size > 1, `${mode} xavier`);
        // biases: zeros, except Knet's forget gate (ids 2 and 6) of the LSTM: ones
        const forget = mode === "lstm" && (id === 2 || id === 6);
        assert.deepEqual([...b.host()], [forget ? 1 : 0, forget ? 1 : 0, forget ? 1 : 0]);
      }
    }
    assert.throws(
      () => rnnparam(r, 5, 1, 1),
      /rnnparam: bad arguments \(layer 5, id 1, param 1\) for RNN\(5→3/,
    );
    assert.throws(() => rnnparam(r, 1, 2 * G + 1, 1), /id must be in|id in 1\.\./);
    assert.throws(() => rnnparam(r, 1, 1, 3), /param 1 \(weight\) or 2 \(bias\)/);
    r.dispose();
  }
  // winit / binit / finit are used
  const one = (shape: readonly number[]) => dn.ones(shape as number[], { device: "cpu" });
  const two = (shape: readonly number[]) => {
    const t = one(shape);
    t.host().fill(2);
    return t;
  };
  const r = new RNN(2, 2, { winit: one, binit: one, finit: two, device: "cpu" });
  assert.deepEqual([...rnnparam(r, 1, 1, 1)!.host()], [1, 1, 1, 1]);
  assert.deepEqual([...rnnparam(r, 1, 5, 2)!.host()], [1, 1]);
  assert.deepEqual([...rnnparam(r, 1, 6, 2)!.host()], [2, 2]);
  assert.deepEqual([...rnnparam(r, 1, 2, 2)!.host()], [2, 2]);
});

Deno.test("rnn: h / c semantics (nothing, 0, array) and no tape kept across diff calls", () => {
  const r = new RNN(3, 4, { dtype: "f64", device: "cpu", rng: new dn.Rng(1) });
  randomize(r, 50);
  const xv = rand(2 * 2 * 3, 6);
  const x = tensor([2, 2, 3], xv, "f64");
  const bs = [2, 2];
  // nothing: starts from zeros, keeps no state
  r.forward(x);
  assert.equal(r.h, null);
  assert.equal(r.c, null);
  // 0: starts from zeros, keeps the final state
  r.h = 0;
  r.c = 0;
  const first = refRnn(r, xv, bs, null, null);
  const y1 = r.forward(x);
  assertClose(y1.host(), first.y, { rtol: 1e-12, atol: 1e-12 });
  asT(r.h);
  asT(r.c);
  assert.deepEqual(asT(r.h).shape, [1, 2, 4]);
  assertClose(asT(r.h).host(), first.hy, { rtol: 1e-12, atol: 1e-12 });
  // an array: starts from it (the kept final state of the previous call)
  const second = refRnn(r, xv, bs, first.hy, first.cy);
  assertClose(r.forward(x).host(), second.y, { rtol: 1e-12, atol: 1e-12 });
  assertClose(asT(r.c).host(), second.cy, { rtol: 1e-12, atol: 1e-12 });
  // a state the caller gives stays the caller's (not released when replaced)
  const mine = tensor([1, 2, 4], rand(8, 7), "f64");
  r.h = mine;
  r.forward(x);
  assert.notEqual(r.h, mine);
  assert.equal(mine.disposed, false);

  // Inside diff the initial state takes part in the gradient; after the call the kept
  // state is plain data, so the next diff's gradient stops at it.
  r.h = 0;
  r.c = 0;
  const J1 = dn.diff(() => dn.sum(r.forward(x)));
  const g1 = J1.grad(r.weights[0][0].R)!.host().slice();
  J1.dispose();
  const kept = asT(r.h);
  assert.equal(kept.disposed, false, "the kept state survives the tape");
  const h0 = Float64Array.from(kept.host()), c0 = Float64Array.from(asT(r.c).host());
  const J2 = dn.diff(() => dn.sum(r.forward(x)));
  const g2 = J2.grad(r.weights[0][0].R)!.host().slice();
  J2.dispose();
  // the same gradient as a fresh diff from those states given as constants
  const r2 = new RNN(3, 4, { dtype: "f64", device: "cpu" });
  dn.params(r2).forEach((p, i) => p.host().set(dn.params(r)[i].host()));
  r2.h = tensor([1, 2, 4], h0, "f64");
  r2.c = tensor([1, 2, 4], c0, "f64");
  const J3 = dn.diff(() => dn.sum(r2.forward(x)));
  assertClose(g2, J3.grad(r2.weights[0][0].R)!.host(), { rtol: 1e-12, atol: 1e-12 });
  J3.dispose();
  assert.ok(
    g1.some((v, i) => Math.abs(v - g2[i]) > 1e-6),
    "the two calls start from different states",
  );
  // within one diff, two calls chain: the second call's initial state carries gradient
  r.h = 0;
  r.c = 0;
  const J4 = dn.diff(() => {
    r.forward(x);
    return dn.sum(r.forward(x));
  });
  const g4 = J4.grad(r.weights[0][0].W!)!.host();
  J4.dispose();
  const r3 = new RNN(3, 4, { dtype: "f64", device: "cpu" });
  dn.params(r3).forEach((p, i) => p.host().set(dn.params(r)[i].host()));
  const x2 = tensor([4, 2, 3], Float64Array.of(...xv, ...xv), "f64");
  const J5 = dn.diff(() => dn.sum(dn.slice(r3.forward(x2), [[2, 4]])));
  assertClose(g4, J5.grad(r3.weights[0][0].W!)!.host(), { rtol: 1e-10, atol: 1e-12 });
  J5.dispose();
});

Deno.test("rnn: dropout acts on the input and between layers only inside diff", () => {
  const r = new RNN(4, 4, { numLayers: 2, dropout: 0.5, seed: 3, dtype: "f64", device: "cpu" });
  const plain = new RNN(4, 4, { numLayers: 2, dtype: "f64", device: "cpu" });
  dn.params(plain).forEach((p, i) => p.host().set(dn.params(r)[i].host()));
  const x = tensor([3, 2, 4], rand(24, 1), "f64");
  // prediction: no dropout
  assertClose(r.forward(x).host(), plain.forward(x).host(), { rtol: 0, atol: 0 });
  // training: different outputs, and the gradient is that of the dropped-out network
  let yTrain: Float64Array | null = null;
  const J = dn.diff(() => {
    const y = r.forward(x);
    yTrain = Float64Array.from(y.host());
    return dn.sum(y);
  });
  J.dispose();
  const yPlain = plain.forward(x).host();
  assert.ok(
    yTrain!.some((v, i) => Math.abs(v - yPlain[i]) > 1e-6),
    "dropout changed the training output",
  );
});

Deno.test("rnn: bad input gives an Error naming the RNN and the shapes", () => {
  const r = new RNN(3, 4, { numLayers: 2, device: "cpu" });
  assert.throws(
    () => r.forward(new Tensor([2, 2, 5], "f32", new Float32Array(20))),
    /RNN\(3→4, lstm\): expected x \[T, B, 3\], \[B, 3\] or \[3\], got \[2,2,5\]|RNN\(3→4, lstm\): expected x \[T, B, 3\], \[B, 3\] or \[3\], got \[2, 2, 5\]/,
  );
  const x = new Tensor([6, 3], "f32", new Float32Array(18));
  assert.throws(
    () => r.forward(x, { batchSizes: [2, 3, 1] }),
    /RNN\(3→4, lstm\): batchSizes must be non-increasing, got \[2, 3, 1\]/,
  );
  assert.throws(
    () => r.forward(x, { batchSizes: [3, 2] }),
    /RNN\(3→4, lstm\): batchSizes \[3, 2\] sum to 5, but x .*6.*3.* has 6 rows/,
  );
  assert.throws(
    () => r.forward(x, { batchSizes: [3, 0, 3] }),
    /batchSizes must be positive integers/,
  );
  assert.throws(() => {
    r.h = new Tensor([1, 2, 4], "f32", new Float32Array(8));
  }, /RNN\(3→4, lstm\): h must be \[2, B, 4\] .* got \[1,2,4\]|got \[1, 2, 4\]/);
  r.c = new Tensor([2, 5, 4], "f32", new Float32Array(40));
  assert.throws(
    () => r.forward(new Tensor([2, 2, 3], "f32", new Float32Array(12))),
    /RNN\(3→4, lstm\): c is \[2, ?5, ?4\] but x has batch 2 \(expected \[2, 2, 4\]\)/,
  );
  assert.throws(
    () => new RNN(3, 4, { rnnType: "lstmm" as "lstm" }),
    /RNN: unknown rnnType "lstmm" \(expected relu, tanh, lstm or gru\)/,
  );
  r.dispose();
});
