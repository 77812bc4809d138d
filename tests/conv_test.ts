/**
 * conv4 / deconv4 (src/ops/conv.ts, kernels/im2col.wgsl, kernels/conv_naive.wgsl): Knet's
 * worked examples from its CNN chapter, option errors, and GPU (im2col + GEMM, and the
 * naive direct kernels) against the CPU twin on random shapes, forward and both gradients.
 *
 * Tolerance: every output element is a sum of products, so as in tests/gemm_test.ts the
 * f32 error is bounded relative to the magnitude E = the same sum over absolute values
 * (computed here by running the CPU op on |w|, |x|, |dy|): |ĝ − g| ≤ atol + rtol·E with
 * F32_TOL (rtol 1e-5 ≈ 168 units of f32 rounding; the sums here have ≤ 600 terms).
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import type { Tensor } from "../internals.ts";
import { conv4, convConfig, type ConvOptions, deconv4 } from "../src/ops/conv.ts";
import { F32_TOL, GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

function t(values: number[], shape: number[], dtype: "f32" | "f64" = "f64"): Tensor {
  return dn.fromArray(values, { shape, dtype, device: "cpu" });
}
const iota = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

// ---------------------------------------------------------------- Knet's CNN chapter

Deno.test("conv4: Knet's 1-D examples (x = 1..7, w = [1,2,3]) with padding and stride", async () => {
  // Knet's (7,1,1,1) and (3,1,1,1) arrays are our [1,1,1,7] and [1,1,1,3]: a 1-D
  // convolution through a singleton height.
  const w = t([1, 2, 3], [1, 1, 1, 3]);
  const x = t(iota(7), [1, 1, 1, 7]);
  const y = conv4(w, x);
  assert.deepEqual(y.shape, [1, 1, 1, 5]);
  assert.deepEqual([...await y.data()], [10, 16, 22, 28, 34]);
  // Knet's padding=(1,0) pads its first dim, which is our last (width): [0, 1].
  assert.deepEqual([...await conv4(w, x, { padding: [0, 1] }).data()], [4, 10, 16, 22, 28, 34, 32]);
  assert.deepEqual(
    [...await conv4(w, x, { padding: [0, 1], stride: 3 }).data()],
    [4, 22, 32],
  );
  // Cross-correlation does not flip: [1,2,3]·[1,2,3] = 14, ...
  assert.deepEqual([...await conv4(w, x, { mode: 1 }).data()], [14, 20, 26, 32, 38]);
  // alpha scales the result.
  assert.deepEqual([...await conv4(w, x, { alpha: 0.5 }).data()], [5, 8, 11, 14, 17]);
});

Deno.test("conv4: Knet's 2-D example (w = 1..4 as 2×2, x = 1..9 as 3×3)", async () => {
  // Knet: w = reshape(1:4, 2,2,1,1), x = reshape(1:9, 3,3,1,1) are column-major, so
  // Knet's w[i,j] (i the fast dim) is memory element i + 2j. Our row-major [1,1,2,2] over
  // the same memory reads it transposed: our w[h][w] = Knet's w[w,h], i.e. our w is
  // [[1,2],[3,4]] and our x is [[1,2,3],[4,5,6],[7,8,9]]. Knet prints
  // y = [23 53; 33 63] (column-major: memory 23,33,53,63), so our y is [[23,33],[53,63]].
  // Check: the flipped w [[4,3],[2,1]] times our x's top-left [[1,2],[4,5]] = 23.
  const y = conv4(t(iota(4), [1, 1, 2, 2]), t(iota(9), [1, 1, 3, 3]));
  assert.deepEqual(y.shape, [1, 1, 2, 2]);
  assert.deepEqual([...await y.data()], [23, 33, 53, 63]);
});

Deno.test("conv4: Knet's dense layer as a convolution (mode 1) gives [22, 28]", async () => {
  // Knet: x2 = reshape(1:3, (3,1,1,1)) → our [1,1,1,3]; w2 = reshape(w', (3,1,1,2)) with
  // w = [1 3 5; 2 4 6] holds memory 1,3,5,2,4,6 → our [2,1,1,3] = filters [1,3,5], [2,4,6].
  // y2 = conv4(w2, x2; mode=1) is (1,1,2,1) → our [1,2,1,1] = w·x = [22, 28].
  const y = conv4(t([1, 3, 5, 2, 4, 6], [2, 1, 1, 3]), t([1, 2, 3], [1, 1, 1, 3]), { mode: 1 });
  assert.deepEqual(y.shape, [1, 2, 1, 1]);
  assert.deepEqual([...await y.data()], [22, 28]);
});

Deno.test("conv4: output size with dilation, groups and 2-D options", async () => {
  // Window (3−1)·2+1 = 5 over H = 9 + 2·1: Ho = 1 + ⌊(11 − 5)/2⌋ = 4; W: 1 + ⌊(8 − 3)/1⌋ = 6.
  const x = dn.zeros([2, 4, 9, 8], { dtype: "f64", device: "cpu" });
  const w = dn.zeros([6, 2, 3, 3], { dtype: "f64", device: "cpu" });
  const y = conv4(w, x, { padding: [1, 0], stride: [2, 1], dilation: [2, 1], group: 2 });
  assert.deepEqual(y.shape, [2, 6, 4, 6]);
  // Grouped: output channel o sees only its group's input channels.
  const xg = t([1, 10], [1, 2, 1, 1]);
  const wg = t([2, 3], [2, 1, 1, 1]);
  assert.deepEqual([...await conv4(wg, xg, { group: 2 }).data()], [2, 30]);
  // Dilation 2 on 1-D: taps x[i], x[i+2], x[i+4] with the flipped filter [3,2,1].
  const yd = conv4(t([1, 2, 3], [1, 1, 1, 3]), t(iota(7), [1, 1, 1, 7]), { dilation: 2 });
  assert.deepEqual([...await yd.data()], [3 * 1 + 2 * 3 + 5, 3 * 2 + 2 * 4 + 6, 3 * 3 + 2 * 5 + 7]);
});

Deno.test("deconv4: Knet's output size and the transpose of conv4", async () => {
  // Y = S·(X−1) + (k−1)·D + 1 − 2P: X = 3, k = 3, S = 2, P = 1 → 2·2 + 3 − 2 = 5.
  const w = t(iota(3), [1, 1, 1, 3]);
  const x = t([1, 2, 3], [1, 1, 1, 3]);
  const y = deconv4(w, x, { stride: [1, 2], padding: [0, 1] });
  assert.deepEqual(y.shape, [1, 1, 1, 5]);
  // ⟨conv4(w, u), x⟩ = ⟨u, deconv4(w, x)⟩ for every u: check on the unit vectors, i.e.
  // deconv4's value at i is conv4's output for the unit input e_i.
  const got = await y.data();
  for (let i = 0; i < 5; i++) {
    const e = t(iota(5).map((_, j) => (j === i ? 1 : 0)), [1, 1, 1, 5]);
    const c = await conv4(w, e, { stride: [1, 2], padding: [0, 1] }).data();
    assert.equal(got[i], c[0] * 1 + c[1] * 2 + c[2] * 3, `element ${i}`);
  }
  // Mode 0: conv4 uses x[j+t]·w[2−t], so its transpose is y[i] = Σ_j x[j]·w[2−(i−j)]:
  // deconv4([1,2,3], [1,1]) = [3, 3+2, 2+1, 1]; mode 1 (no flip) gives [1, 3, 5, 3].
  assert.deepEqual([...await deconv4(w, t([1, 1], [1, 1, 1, 2])).data()], [3, 5, 3, 1]);
  assert.deepEqual([...await deconv4(w, t([1, 1], [1, 1, 1, 2]), { mode: 1 }).data()], [
    1,
    3,
    5,
    3,
  ]);
  // Channels: w [I, O/group, kH, kW]; x [N, I, H, W] → y [N, O, ...].
  const y2 = deconv4(
    dn.zeros([4, 3, 2, 2], { dtype: "f64" }),
    dn.zeros([2, 4, 5, 5], { dtype: "f64" }),
    {
      group: 2,
    },
  );
  assert.deepEqual(y2.shape, [2, 6, 6, 6]);
});

// ---------------------------------------------------------------- errors

Deno.test("conv4 / deconv4: errors name the op and the shapes", () => {
  const z = (...s: number[]) => dn.zeros(s, { dtype: "f64", device: "cpu" });
  const cases: [() => unknown, RegExp][] = [
    [
      () => conv4(z(2, 3, 3, 3), z(1, 4, 8, 8)),
      /conv4: channel mismatch: x f64\[1,4,8,8\].*3·group = 3/,
    ],
    [
      () => conv4(z(2, 2, 3, 3), z(1, 4, 8, 8), { group: 3 }),
      /conv4: group 3 does not divide the 2 output/,
    ],
    [
      () => conv4(z(3, 2, 3, 3), z(1, 4, 8, 8), { group: 2 }),
      /conv4: group 2 does not divide the 3 output/,
    ],
    [
      () => conv4(z(2, 1, 3, 3), z(1, 3, 8, 8), { group: 2 }),
      /conv4: group 2 does not divide the 3 channels/,
    ],
    [
      () => conv4(z(1, 1, 5, 5), z(1, 1, 4, 4)),
      /conv4: the filter window 5×5 .* larger than the padded input 4×4/,
    ],
    [() => conv4(z(1, 1, 3, 3), z(1, 1, 4, 4), { dilation: 2 }), /window 5×5/],
    [() => conv4(z(1, 1, 3), z(1, 1, 4, 4)), /conv4: the filter w must be 4-D .* got f64\[1,1,3\]/],
    [
      () => conv4(z(1, 1, 3, 3), z(1, 4, 4)),
      /conv4: x must be 4-D \[N, C, H, W\], got f64\[1,4,4\]/,
    ],
    [
      () => conv4(z(1, 1, 3, 3), z(1, 1, 4, 4), { stride: 0 }),
      /conv4: stride must be an integer ≥ 1/,
    ],
    [() => conv4(z(1, 1, 3, 3), z(1, 1, 4, 4), { padding: -1 }), /conv4: padding must be/],
    [() => conv4(z(1, 1, 3, 3), z(1, 1, 4, 4), { padding: [1, 1.5] as any }), /padding must be/],
    [() => conv4(z(1, 1, 3, 3), z(1, 1, 4, 4), { dilation: [1] as any }), /dilation must be/],
    [() => conv4(z(1, 1, 3, 3), z(1, 1, 4, 4), { mode: 2 as any }), /conv4: mode must be 0/],
    [() => conv4(z(1, 1, 3, 3), z(1, 1, 4, 4), { alpha: NaN }), /conv4: alpha must be a finite/],
    [() => conv4(z(1, 1, 3, 3), z(1, 1, 4, 4), { group: 0 }), /conv4: group must be a positive/],
    [() => conv4(z(1, 1, 3, 3), z(1, 1, 4, 4), { pad: 1 } as any), /conv4: unknown option 'pad'/],
    [() => conv4(z(1, 0, 3, 3), z(1, 0, 4, 4)), /conv4: the filter w must not have an empty/],
    [
      () => conv4(z(1, 1, 3, 3), dn.zeros([1, 1, 4, 4], { dtype: "f32" })),
      /conv4: inputs have different dtypes/,
    ],
    [
      () => deconv4(z(3, 1, 3, 3), z(1, 2, 4, 4)),
      /deconv4: channel mismatch: x f64\[1,2,4,4\] cpu has 2 channels but w f64\[3,1,3,3\] cpu has 3/,
    ],
    [
      () => deconv4(z(3, 1, 3, 3), z(1, 3, 4, 4), { group: 2 }),
      /deconv4: group 2 does not divide the 3/,
    ],
    [
      () => deconv4(z(1, 1, 3, 3), z(1, 1, 1, 1), { padding: 2 }),
      /deconv4: the padding \[2,2\] is too large/,
    ],
    [() => deconv4(z(1, 1, 3, 3), z(1, 1, 4)), /deconv4: x must be 4-D/],
  ];
  for (const [f, re] of cases) assert.throws(f, re);
});

// ---------------------------------------------------------------- GPU vs CPU

type ConvFn = (w: Tensor, x: Tensor, o: ConvOptions) => Tensor;

interface Grads {
  y: ArrayLike<number>;
  dw: ArrayLike<number>;
  dx: ArrayLike<number>;
}

/** y = f(w, x) and the gradients of Σ y·dy, on the tensors' device. */
async function run(f: ConvFn, w: Tensor, x: Tensor, dy: Tensor, o: ConvOptions): Promise<Grads> {
  const pw = new dn.Param(w);
  const px = new dn.Param(x);
  const y = f(w, x, o);
  const J = dn.diff(() => dn.sum(dn.binary("mul", f(pw, px, o), dy)));
  const [yv, dw, dx] = await dn.readAll([y, J.grad(pw)!, J.grad(px)!]);
  J.dispose();
  y.dispose();
  return { y: yv, dw, dx };
}

function within(
  actual: ArrayLike<number>,
  ref: ArrayLike<number>,
  mag: ArrayLike<number>,
  what: string,
) {
  assert.equal(actual.length, ref.length, `${what}: length`);
  for (let i = 0; i < ref.length; i++) {
    const bound = F32_TOL.atol + F32_TOL.rtol * mag[i];
    if (!(Math.abs(actual[i] - ref[i]) <= bound)) {
      throw new Error(`${what}: element ${i} is ${actual[i]}, expected ${ref[i]} (bound ${bound})`);
    }
  }
}

const absT = (t: Tensor) => dn.abs(t);

async function compareGpu(
  f: ConvFn,
  xShape: number[],
  wShape: number[],
  o: ConvOptions,
  seed: number,
): Promise<void> {
  const rng = new dn.Rng(seed);
  const x = dn.randn(xShape, { rng, device: "cpu" });
  const w = dn.randn(wShape, { rng, device: "cpu" });
  const yShape = f(w, x, o).shape;
  const dy = dn.randn([...yShape], { rng, device: "cpu" });
  const ref = await run(f, w, x, dy, o);
  const mag = await run(f, absT(w), absT(x), absT(dy), { ...o, alpha: Math.abs(o.alpha ?? 1) });
  const what = `${f.name} x [${xShape}] w [${wShape}] ${JSON.stringify(o)}`;
  for (const algo of ["im2col", "naive"] as const) {
    const g = await run(f, w.gpu(), x.gpu(), dy.gpu(), { ...o, algo });
    within(g.y, ref.y, mag.y, `${what} ${algo}: y`);
    within(g.dw, ref.dw, mag.dw, `${what} ${algo}: dw`);
    within(g.dx, ref.dx, mag.dx, `${what} ${algo}: dx`);
  }
}

/** [x shape, w shape, options] for conv4; deconv4 takes x in conv4's output shape. */
const CASES: [number[], number[], ConvOptions][] = [
  [[1, 1, 1, 7], [1, 1, 1, 3], {}],
  [[1, 1, 1, 33], [3, 1, 1, 5], { padding: [0, 2], stride: [1, 3], mode: 1 }],
  [[2, 3, 7, 9], [5, 3, 3, 3], { padding: 1 }],
  [[3, 4, 11, 10], [6, 2, 3, 2], { group: 2, stride: 2, dilation: [2, 1], padding: [2, 0] }],
  [[1, 6, 9, 9], [6, 1, 3, 3], { group: 6, mode: 1, alpha: -0.5, padding: 1 }],
  [[2, 5, 8, 13], [7, 5, 1, 1], { stride: [2, 3] }],
  [[1, 2, 17, 5], [33, 2, 4, 5], { padding: [3, 2], dilation: [3, 1], mode: 1 }],
  [[128, 3, 9, 8], [4, 3, 3, 3], { padding: [1, 0], stride: [1, 2] }],
  [[128, 2, 6, 6], [20, 2, 5, 5], { mode: 1, alpha: 2 }],
  [[4, 8, 6, 7], [24, 4, 3, 3], { group: 2, padding: 1 }],
];

Deno.test({
  name: "conv4 GPU (im2col+GEMM and naive) = CPU: forward, dx and dw on random shapes",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    for (const [i, [xs, ws, o]] of CASES.entries()) await compareGpu(conv4, xs, ws, o, 100 + i);
  },
});

Deno.test({
  name: "deconv4 GPU (im2col+GEMM and naive) = CPU: forward, dx and dw on random shapes",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    for (const [i, [xs, ws, o]] of CASES.entries()) {
      // deconv4's x is conv4's output; its w is [I = conv's O, O/group = conv's C/group, ...].
      const y = conv4(dn.zeros(ws, { device: "cpu" }), dn.zeros(xs, { device: "cpu" }), o);
      await compareGpu(deconv4, [...y.shape], ws, o, 200 + i);
    }
  },
});

Deno.test({
  name: "conv4 GPU: the batch is split into chunks when the columns exceed the budget",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const saved = convConfig.colsBytes;
    // K·P·4 = 2·9·8·8·4 = 4608 bytes per instance: a 10000-byte budget gives chunks of
    // 2, 2, 1 (of 5); the third case (1296 bytes per instance) chunks of 7 and 2.
    convConfig.colsBytes = 10000;
    try {
      await compareGpu(conv4, [5, 4, 8, 8], [6, 2, 3, 3], { padding: 1, group: 2 }, 300);
      await compareGpu(deconv4, [5, 6, 8, 8], [6, 2, 3, 3], { padding: 1, group: 2 }, 301);
      await compareGpu(conv4, [9, 1, 8, 8], [2, 1, 3, 3], {}, 302);
    } finally {
      convConfig.colsBytes = saved;
    }
  },
});

Deno.test({
  name: "conv4 GPU: an empty batch gives empty y and zero dw",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const w = new dn.Param(dn.randn([2, 1, 3, 3], { device: "gpu" }));
    const x = dn.zeros([0, 1, 5, 5], { device: "gpu" });
    const J = dn.diff(() => dn.sum(conv4(w, x)));
    assert.deepEqual([...await J.grad(w)!.data()], new Array(18).fill(0));
    J.dispose();
  },
});
