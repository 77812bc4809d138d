/**
 * The CPU backend's WebAssembly kernels of softmax/logsoftmax/logsumexp, xent and its
 * gradient, row reductions (and dot/nrm2), the fused optimizer updates and gclip,
 * dropout, take and its scatter-add gradient (kernels/cpu/{softmax,reduce,optim,dropout,
 * gather}.c) against their TypeScript twins (`withReferenceKernels`) on random inputs at
 * odd sizes, axis variants and empty tensors; the same results for DENET_THREADS=1 (a
 * subprocess) and the default thread count.
 */

import assert from "node:assert/strict";
import { diff } from "../src/autograd/diff.ts";
import { Param } from "../src/autograd/param.ts";
import { withReferenceKernels } from "../src/cpu/runtime.ts";
import { dropout } from "../src/ops/dropout.ts";
import { take } from "../src/ops/indexing.ts";
import { mul } from "../src/ops/math.ts";
import { argmax, argmin, dot, max, mean, min, nrm2, prod, sum } from "../src/ops/reduce.ts";
import { logsoftmax, logsumexp, softmax } from "../src/ops/softmax.ts";
import { xent, xentOp } from "../src/ops/xent.ts";
import {
  Adadelta,
  Adagrad,
  Adam,
  gclip,
  Momentum,
  Nesterov,
  Rmsprop,
  SGD,
} from "../src/optim/optimizers.ts";
import type { Optimizer } from "../src/optim/optimizer.ts";
import { shapeSize, Tensor } from "../src/tensor/tensor.ts";
import { assertClose, assertExact, EDGE_SIZES, F32_TOL } from "./_helpers.ts";

/** A deterministic f32 tensor of normal-ish values (sum of uniforms) times `scale`. */
function randT(shape: readonly number[], seed: number, scale = 1): Tensor {
  const n = shapeSize(shape);
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  for (let i = 0; i < n; i++) a[i] = (u() + u() + u() - 1.5) * 2 * scale;
  return new Tensor(shape, "f32", a);
}

/** The values of `f()` with the wasm kernels, then with the twins. */
function both(f: () => Tensor): [Float32Array, Float32Array] {
  const w = f();
  const r = withReferenceKernels(f);
  return [Float32Array.from(w.host()), Float32Array.from(r.host())];
}

const ROW_SHAPES: number[][] = [
  [1, 1],
  [7, 33],
  [33, 7],
  [257, 10],
  [3, 1000],
  [1, 100_003],
  [100_003, 1],
];

Deno.test("softmax, logsoftmax, logsumexp: wasm vs twin on rows, axes and empty tensors", () => {
  const cases: [number[], number][] = [
    ...ROW_SHAPES.map((s) => [s, -1] as [number[], number]),
    [[7, 33, 5], 0],
    [[7, 33, 5], 1],
    [[0, 5], -1],
    [[5, 0], -1],
  ];
  let seed = 1;
  for (const [shape, axis] of cases) {
    const x = randT(shape, seed++, 4);
    for (const [name, f] of [["softmax", softmax], ["logsoftmax", logsoftmax]] as const) {
      const [w, r] = both(() => f(x, axis));
      assertClose(w, r, F32_TOL, `${name} [${shape}] axis ${axis}`);
    }
    const [w, r] = both(() => logsumexp(x, axis));
    assertClose(w, r, F32_TOL, `logsumexp [${shape}] axis ${axis}`);
  }
  // Infinities and a NaN row (NaN propagates through the row maximum).
  const x = new Tensor([3, 3], "f32", new Float32Array([1, -Infinity, 2, NaN, 0, 1, 5, 5, 5]));
  for (const f of [softmax, logsoftmax, logsumexp]) {
    const [w, r] = both(() => f(x));
    assertClose(w, r, F32_TOL, `${f.name} special values`);
  }
});

Deno.test("xent and its gradient: wasm vs twin, skipped labels, bad labels", () => {
  let seed = 100;
  for (const [n, c] of [[1, 1], [7, 33], [257, 10], [33, 1000], [2, 100_003], [0, 4], [3, 0]]) {
    const x = randT([n, c], seed++, 5);
    const lab = new Float32Array(n);
    for (let i = 0; i < n; i++) lab[i] = c === 0 || i % 5 === 3 ? -1 : (i * 7919) % c;
    const l = new Tensor([n], "f32", lab);
    const dy = randT([n], seed++);
    const [yw, yr] = both(() => xent(x, l));
    assertClose(yw, yr, F32_TOL, `xent [${n},${c}]`);
    const a = { rows: n, len: c };
    const g = () => xentOp.backward!(dy, [x, l], null as unknown as Tensor, a, [true, false])[0]!;
    const [gw, gr] = both(g);
    assertClose(gw, gr, F32_TOL, `xent_grad [${n},${c}]`);
  }
  // A confident row (tiny loss through log1p) and a label that is not a class.
  const x = new Tensor([1, 3], "f32", new Float32Array([30, 0, -2]));
  const [w, r] = both(() => xent(x, new Tensor([1], "f32", new Float32Array([0]))));
  assertClose(w, r, F32_TOL, "xent tiny loss");
  assert.throws(
    () => xent(x, new Tensor([1], "f32", new Float32Array([3]))),
    /xent: label 3 of instance 0/,
  );
});

Deno.test("row reductions: wasm vs twin for every kind, map, axis and size", () => {
  let seed = 200;
  const shapes = [...ROW_SHAPES, [100, 500], [9, 257, 300], [0, 3], [3, 0]];
  for (const shape of shapes) {
    const x = randT(shape, seed++);
    const xp = randT(shape, seed++, 0.05);
    const xp1 = new Tensor(shape, "f32", Float32Array.from(xp.host(), (v) => 1 + v));
    for (const p of [xp, xp1]) {
      for (const axis of [undefined, 0, shape.length - 1]) {
        const [w, r] = both(() => prod(p, axis));
        assertClose(w, r, F32_TOL, `prod [${shape}] axis ${axis}`);
      }
    }
    const axes: (number | number[] | undefined)[] = [undefined, 0, shape.length - 1];
    if (shape.length === 3) axes.push(1, [1, 2], [0, 2]);
    for (const axis of axes) {
      const fs = [sum, mean];
      if (x.size > 0) fs.push(max, min, argmax, argmin);
      for (const f of fs) {
        if (x.size === 0 && axis !== 0 && f !== sum && f !== mean) continue;
        const [w, r] = both(() => f(x, axis, { keepdims: true }));
        assertClose(w, r, F32_TOL, `${f.name} [${shape}] axis ${axis}`);
      }
    }
  }
  for (const n of [...EDGE_SIZES, 0]) {
    const x = randT([n], seed++);
    const y = randT([n], seed++);
    const [dw, dr] = both(() => dot(x, y));
    // A dot of random signs cancels: bound the error by Σ|x·y| (f32 rounding of the result).
    const [xs, ys] = [x.host(), y.host()];
    let mag = 0;
    for (let i = 0; i < n; i++) mag += Math.abs(xs[i] * ys[i]);
    assertClose(dw, dr, { rtol: 1e-6, atol: 1e-7 * mag + 1e-12 }, `dot ${n}`);
    const [nw, nr] = both(() => nrm2(x));
    assertClose(nw, nr, F32_TOL, `nrm2 ${n}`);
    const [sw, sr] = both(() => sum(x));
    assertClose(sw, sr, { rtol: 1e-6, atol: 1e-7 * n }, `sum ${n}`);
  }
});

Deno.test("max/min/argmax/argmin follow Julia: NaN wins, the first NaN's index", () => {
  const n = 100_003;
  for (const at of [[5], [70_000, 90_000], [0]]) {
    const a = randT([2, n], 7).host() as Float32Array;
    for (const i of at) a[n + i] = NaN;
    const x = new Tensor([2, n], "f32", a);
    assertExact(max(x, 1).host(), [Math.max(...a.subarray(0, n)), NaN], "max");
    assert.ok(Number.isNaN(min(x, 1).host()[1]), "min");
    assert.equal(argmax(x, 1).host()[1], at[0], "argmax");
    assert.equal(argmin(x, 1).host()[1], at[0], "argmin");
  }
  const t = new Tensor([4, 2], "f32", new Float32Array([1, 3, NaN, 2, 3, 3, 9, NaN]));
  assertExact(max(t, 0).host(), [NaN, NaN], "max over axis 0");
  assertExact(argmin(t, 0).host(), [1, 3], "argmin over axis 0");
  assertExact(argmax(new Tensor([3], "f32", new Float32Array([2, 7, 7]))).host(), [1], "tie");
  // Strided columns (reduce_cols): [5, 300] over axis 0.
  const c = randT([5, 300], 8).host() as Float32Array;
  c[2 * 300 + 7] = NaN;
  c[4 * 300 + 7] = NaN;
  c[3 * 300 + 9] = NaN;
  const ct = new Tensor([5, 300], "f32", c);
  const [am, an, mx] = [argmax(ct, 0).host(), argmin(ct, 0).host(), max(ct, 0).host()];
  assert.deepEqual([am[7], am[9], an[7], an[9]], [2, 3, 2, 3], "strided arg NaN");
  assert.ok(Number.isNaN(mx[7]) && Number.isNaN(mx[9]) && !Number.isNaN(mx[8]), "strided max");
});

Deno.test("optimizer updates and gclip: wasm equals the twin bit for bit", () => {
  const makers: [string, () => Optimizer][] = [
    ["SGD", () => new SGD({ lr: 0.1 })],
    ["Momentum", () => new Momentum({ lr: 0.05 })],
    ["Nesterov", () => new Nesterov({ lr: 0.05 })],
    ["Adagrad", () => new Adagrad({ lr: 0.05 })],
    ["Rmsprop", () => new Rmsprop({ lr: 0.01 })],
    ["Adadelta", () => new Adadelta({ lr: 0.5 })],
    ["Adam", () => new Adam({ lr: 0.01 })],
    ["Adam+gclip", () => new Adam({ lr: 0.01, gclip: 0.5 })],
    ["SGD+gclip", () => new SGD({ lr: 0.1, gclip: 1e9 })],
  ];
  let seed = 300;
  for (const n of [...EDGE_SIZES, 0]) {
    const w0 = randT([n], seed++);
    const gs = [0, 1, 2].map(() => randT([n], seed++));
    for (const [name, make] of makers) {
      // Plain (non-heap) copies for the twin; the wasm run updates them in place too.
      const run = () => {
        const w = new Tensor([n], "f32", Float32Array.from(w0.host()));
        const opt = make();
        for (const g of gs) opt.update(w, g);
        return w;
      };
      const [ww, wr] = both(run);
      assertExact(ww, wr, `${name} ${n}`);
    }
    for (const limit of [0, 0.5, 1e9]) {
      const [cw, cr] = both(() => gclip(gs[0], limit));
      assertExact(cw, cr, `gclip ${limit} ${n}`);
    }
  }
});

Deno.test("dropout: the same mask and values as the twin, bit for bit", () => {
  let seed = 400;
  for (const n of [...EDGE_SIZES, 0]) {
    const x = randT([n], seed++);
    if (n > 0) x.host()[0] = NaN;
    for (const p of [0.1, 0.5, 0.999]) {
      const [w, r] = both(() => dropout(x, p, { seed: 0xfffffff0 - n, drop: true }));
      assertExact(w, r, `dropout ${n} p ${p}`);
    }
  }
});

Deno.test("take and its scatter-add gradient: wasm equals the twin", () => {
  let seed = 500;
  const cases: [number[], number, number][] = [
    [[1], 0, 1],
    [[7, 33], 0, 20],
    [[7, 33], 1, 257],
    [[33, 7, 5], 1, 1000],
    [[100_003], 0, 33],
    [[5, 1000], 0, 7],
    [[4, 0], 0, 3],
    [[4, 3], 1, 0],
  ];
  for (const [shape, axis, m] of cases) {
    const x = randT(shape, seed++);
    const len = shape[axis];
    const idx = Array.from({ length: m }, (_, j) => (j * 7 + (j % 3)) % Math.max(len, 1));
    const [yw, yr] = both(() => take(x, idx, axis));
    assertExact(yw, yr, `take [${shape}] axis ${axis}`);
    const outShape = [...shape.slice(0, axis), m, ...shape.slice(axis + 1)];
    const r = randT(outShape, seed++);
    const grad = () => {
      const w = new Param(x);
      const J = diff(() => sum(mul(take(w, idx, axis), r)));
      return J.grad(w) ?? new Tensor(shape, "f32", new Float32Array(x.size));
    };
    const [gw, gr] = both(grad);
    assertExact(gw, gr, `take grad [${shape}] axis ${axis}`);
  }
});

const HERE = new URL(import.meta.url).pathname;

Deno.test("the new kernels give the same results on 1 thread and on all", async () => {
  if (Deno.env.get("DENET_KERNELS_B_PRINT") === "1") return;
  const run = async (threads?: string) => {
    const env: Record<string, string> = { DENET_KERNELS_B_PRINT: "1", XDG_RUNTIME_DIR: "/tmp" };
    if (threads) env.DENET_THREADS = threads;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", HERE, "--print"],
      env,
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assert.equal(out.code, 0, "subprocess failed");
    return new TextDecoder().decode(out.stdout);
  };
  const [one, all] = await Promise.all([run("1"), run()]);
  assert.ok(one.length > 100);
  assert.equal(one, all);
});

/** Prints digests of large results (the thread-count test's subprocess). */
function printDigests(): void {
  const x = randT([300, 1000], 11);
  const v = randT([300_000], 12);
  const l = new Tensor([300], "f32", new Float32Array(300).map((_, i) => i % 1000));
  const w = new Tensor([300_000], "f32", Float32Array.from(v.host()));
  new Adam().update(w, randT([300_000], 13));
  const outs = [
    softmax(x),
    logsumexp(x, 0),
    xent(x, l),
    sum(x, 0),
    sum(v),
    nrm2(v),
    dot(v, v),
    argmax(x, 1),
    max(x, 0),
    w,
    dropout(v, 0.3, { seed: 5, drop: true }),
    take(x, [5, 3, 299, 0], 0),
  ];
  for (const t of outs) {
    const h = new Int32Array(Float32Array.from(t.host()).buffer);
    let d = 0;
    for (let i = 0; i < h.length; i++) d = (Math.imul(d, 31) + h[i]) | 0;
    console.log(t.shape.join("x"), d);
  }
}

if (import.meta.main && Deno.args.includes("--print")) printDigests();
