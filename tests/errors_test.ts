/**
 * Bad input gives an Error whose message names the op and the offending shapes/values
 * (DESIGN.md: nothing fails silently, bad input never leaves state half-changed).
 */

import assert from "node:assert/strict";
import {
  add,
  arange,
  binary,
  broadcastTo,
  concat,
  counters,
  flip,
  fromArray,
  full,
  matmul,
  maximum,
  mul,
  ones,
  permute,
  rand,
  randn,
  readAll,
  relu,
  setDefaultDevice,
  slice,
  softmax,
  sub,
  sum,
  type Tensor,
  transpose,
  unary,
  type UnaryOpName,
  zeros,
} from "../internals.ts";
import { GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

const cpu = (shape: number[]) => zeros(shape, { device: "cpu" });

// ---------------------------------------------------------------------------------------
// Shapes that do not broadcast

Deno.test("binary ops: non-broadcastable shapes name the op and both shapes", () => {
  assert.throws(
    () => add(cpu([2, 3]), cpu([4])),
    /add: shapes \[2,3\] and \[4\] do not broadcast \(dimension 1: 3 vs 4\)/,
  );
  assert.throws(
    () => sub(cpu([3, 2]), cpu([2, 3])),
    /sub: shapes \[3,2\] and \[2,3\] do not broadcast/,
  );
  assert.throws(
    () => maximum(cpu([5, 1, 7]), cpu([6, 2])),
    /maximum: shapes \[5,1,7\] and \[6,2\]/,
  );
  assert.throws(
    () => binary("lt", cpu([0]), cpu([2])),
    /lt: shapes \[0\] and \[2\] do not broadcast/,
  );
  assert.throws(
    () => add(cpu([1, 1, 1, 1, 1, 1, 1, 1, 1]), cpu([1])),
    /add: rank 9 exceeds the maximum rank 8 \(\[1,1,1,1,1,1,1,1,1\]\)/,
  );
  assert.throws(() => add(2 as unknown as Tensor, 3), /add: at least one operand must be a Tensor/);
  assert.throws(() => unary("nope" as UnaryOpName, cpu([1])), /unary: unknown op 'nope'/);
  assert.throws(
    () => relu([1, 2] as unknown as Tensor),
    /relu: input 0 is not a Tensor \(got 1,2\)/,
  );
});

Deno.test({
  name: "binary ops on the gpu: non-broadcastable shapes throw before allocating",
  ignore: !gpu,
  ...GPU_TEST,
  fn() {
    const a = zeros([2, 3], { device: "gpu" });
    const b = zeros([4], { device: "gpu" });
    const live = counters().liveBytes;
    assert.throws(() => mul(a, b), /mul: shapes \[2,3\] and \[4\] do not broadcast/);
    assert.throws(() => concat([a, b]), /concat: shapes \[2,3\], \[4\] differ outside axis 0/);
    assert.equal(counters().liveBytes, live, "nothing allocated by failed ops");
    a.dispose();
    b.dispose();
  },
});

// ---------------------------------------------------------------------------------------
// Devices and dtypes

Deno.test({
  name: "mixing cpu and gpu tensors names the op and both tensors",
  ignore: !gpu,
  ...GPU_TEST,
  fn() {
    const c = fromArray([1, 2], { device: "cpu" });
    const g = fromArray([1, 2], { device: "gpu" });
    const msg = /add: inputs are on different devices \(f32\[2\] cpu and f32\[2\] gpu\)/;
    assert.throws(() => add(c, g), msg);
    assert.throws(
      () => add(g, c),
      /add: inputs are on different devices \(f32\[2\] gpu and f32\[2\] cpu\)/,
    );
    assert.throws(() => concat([g, c]), /concat: inputs are on different devices/);
    assert.throws(
      () => matmul(c.reshape(1, 2), g.reshape(2, 1)),
      /matmul: inputs are on different devices \(f32\[1,2\] cpu and f32\[2,1\] gpu\)/,
    );
    assert.throws(
      () => add(c, g),
      /\.gpu\(\) or await \.cpu\(\)/,
      "the message says how to fix it",
    );
    g.dispose();
  },
});

Deno.test("f64 tensors cannot go to the gpu; the message names the op and the dtype", () => {
  // These fail before any GPU work, so they run without a GPU too.
  assert.throws(
    () => fromArray([1, 2], { dtype: "f64", device: "gpu" }),
    /fromArray: dtype f64 is not supported on the GPU \(f32 only\)/,
  );
  assert.throws(
    () => zeros([2], { dtype: "f64", device: "gpu" }),
    /zeros: dtype f64 is not supported on the GPU/,
  );
  assert.throws(() => ones([2], { dtype: "f64", device: "gpu" }), /ones: dtype f64/);
  assert.throws(() => full([2], 1, { dtype: "f64", device: "gpu" }), /full: dtype f64/);
  assert.throws(() => randn([2], { dtype: "f64", device: "gpu" }), /randn: dtype f64/);
  assert.throws(
    () => arange(3, undefined, 1, { dtype: "f64", device: "gpu" }),
    /arange: dtype f64/,
  );
  const x = fromArray([1, 2], { dtype: "f64" });
  assert.throws(() => x.gpu(), /gpu: dtype f64 is not supported on the GPU \(f32 only\)/);
  assert.throws(() => x.gpu(), /asType\("f32"\)/, "names the conversion that exists");
  // Mixed dtypes on the CPU.
  assert.throws(
    () => add(x, fromArray([1, 2])),
    /add: inputs have different dtypes \(f64\[2\] cpu and f32\[2\] cpu\)/,
  );
  // Unknown dtypes and devices.
  assert.throws(() => zeros([2], { dtype: "i32" as "f32" }), /zeros: unknown dtype "i32"/);
  assert.throws(() => zeros([2], { device: "tpu" as "cpu" }), /zeros: unknown device "tpu"/);
  assert.throws(() => x.asType("f16" as "f32"), /asType: unknown dtype "f16"/);
  assert.throws(
    () => setDefaultDevice("tpu" as "cpu"),
    /setDefaultDevice: expected "cpu" or "gpu", got "tpu"/,
  );
});

// ---------------------------------------------------------------------------------------
// Axes

Deno.test("out-of-range axes name the op, the axis and the rank", () => {
  const x = cpu([2, 3]);
  assert.throws(() => sum(x, 2), /sum: axis 2 is out of range for a tensor of rank 2/);
  assert.throws(() => sum(x, -3), /sum: axis -3 is out of range for a tensor of rank 2/);
  assert.throws(() => sum(x, [0, 5]), /sum: axis 5 is out of range/);
  assert.throws(() => sum(x, 0.5), /sum: axis 0\.5 is out of range/);
  assert.throws(() => sum(x, [1, -1]), /sum: repeated axis in \[1,-1\]/);
  assert.throws(() => softmax(x, 2), /softmax: axis 2 is out of range for a tensor of rank 2/);
  assert.throws(() => softmax(x, -3), /softmax: axis -3 is out of range/);
  assert.throws(() => permute(x, [0, 2]), /permute: axis 2 is out of range for a tensor of rank 2/);
  assert.throws(
    () => permute(x, [0]),
    /permute: permutation \[0\] does not match rank 2 of \[2,3\]/,
  );
  assert.throws(() => permute(x, [1, 1]), /permute: \[1,1\] is not a permutation/);
  assert.throws(() => transpose(x, 0, 2), /transpose: axis 2 is out of range/);
  assert.throws(() => flip(x, 2), /flip: axis 2 is out of range/);
  assert.throws(() => concat([x, x], 2), /concat: axis 2 is out of range for a tensor of rank 2/);
  assert.throws(() => concat([x, x], -3), /concat: axis -3 is out of range/);
  assert.throws(
    () => concat([x, cpu([3, 3])], 1),
    /concat: shapes \[2,3\], \[3,3\] differ outside axis 1/,
  );
  assert.throws(() => concat([x, cpu([6])]), /concat: shapes \[2,3\], \[6\] differ outside axis 0/);
  assert.throws(() => concat([]), /concat: no tensors given/);
  assert.throws(
    () => concat([fromArray(1), fromArray(2)]),
    /concat: cannot concatenate scalars \(shape \[\]\)/,
  );
});

Deno.test("slice: bad specs name the dimension and the value", () => {
  const x = cpu([2, 3]);
  assert.throws(
    () => slice(x, [0, 0, 0]),
    /slice: 3 slice specs for a tensor of rank 2 \[2,3\]/,
  );
  assert.throws(() => slice(x, [2]), /slice: index 2 is out of range for dimension 0 of size 2/);
  assert.throws(
    () => slice(x, [null, -4]),
    /slice: index -4 is out of range for dimension 1 of size 3/,
  );
  assert.throws(() => slice(x, [0.5]), /slice: index 0\.5 is out of range for dimension 0/);
  assert.throws(
    () => slice(x, [null, [0, 3, 0]]),
    /slice: step must be a non-zero integer in dimension 1, got 0/,
  );
  assert.throws(() => slice(x, [[0.5, 2]]), /slice: bound 0\.5 in dimension 0 is not an integer/);
});

// ---------------------------------------------------------------------------------------
// Shapes

Deno.test("non-finite, negative and fractional shapes name the op and the shape", () => {
  const invalid = (op: string, shape: string) =>
    new RegExp(`${op}: invalid shape ${shape}: dimensions must be non-negative integers`);
  assert.throws(() => zeros([NaN]), invalid("zeros", "\\[NaN\\]"));
  assert.throws(() => zeros([-1]), invalid("zeros", "\\[-1\\]"));
  assert.throws(() => zeros([1.5]), invalid("zeros", "\\[1\\.5\\]"));
  assert.throws(() => zeros([2, Infinity]), invalid("zeros", "\\[2,Infinity\\]"));
  assert.throws(() => zeros(-3), invalid("zeros", "\\[-3\\]"));
  assert.throws(() => ones([2, -2]), invalid("ones", "\\[2,-2\\]"));
  assert.throws(() => full([0.5], 1), invalid("full", "\\[0\\.5\\]"));
  assert.throws(() => rand([NaN]), invalid("rand", "\\[NaN\\]"));
  assert.throws(() => randn([3, -1]), invalid("randn", "\\[3,-1\\]"));
  assert.throws(() => fromArray([1, 2], { shape: [-2, -1] }), /fromArray: invalid shape \[-2,-1\]/);
  assert.throws(() => broadcastTo(cpu([1]), [-1]), invalid("broadcastTo", "\\[-1\\]"));
  assert.throws(() => broadcastTo(cpu([1]), [2.5]), invalid("broadcastTo", "\\[2\\.5\\]"));
  assert.throws(
    () => broadcastTo(cpu([2, 3]), [3, 3]),
    /broadcastTo: shapes \[2,3\] and \[3,3\] do not broadcast/,
  );
  assert.throws(
    () => broadcastTo(cpu([2, 3]), [3]),
    /broadcastTo: cannot broadcast \[2,3\] to \[3\]/,
  );
  // Data that does not fit the shape.
  assert.throws(
    () => fromArray([1, 2, 3, 4, 5], { shape: [2, 2] }),
    /fromArray: 5 values do not fit shape \[2,2\]/,
  );
  assert.throws(
    () => fromArray(5, { shape: [2, 2] }),
    /fromArray: 1 value does not fit shape \[2,2\]/,
  );
  assert.throws(
    () => fromArray([[1, 2], [3]]),
    /fromArray: ragged nested array: expected length 2 at depth 1, got 1/,
  );
  assert.throws(() => arange(0, 10, 0), /arange: .*step non-zero \(got 0, 10, 0\)/);
  assert.throws(() => arange(NaN), /arange: start, stop and step must be finite/);
});

Deno.test("reshape mismatches name the source and target shapes", () => {
  const x = cpu([2, 3]);
  assert.throws(() => x.reshape(4), /reshape: cannot reshape \[2,3\] \(6 elements\) to \[4\]/);
  assert.throws(() => x.reshape([7]), /reshape: cannot reshape \[2,3\] \(6 elements\) to \[7\]/);
  assert.throws(() => x.reshape(4, -1), /reshape: cannot infer -1 in \[4,-1\] from \[2,3\]/);
  assert.throws(() => x.reshape(-1, -1), /reshape: at most one -1 in shape \[-1,-1\]/);
  assert.throws(() => x.reshape(0, -1), /reshape: cannot infer -1 in \[0,-1\] from \[2,3\]/);
  assert.throws(() => x.reshape(-2, -3), /reshape: invalid shape \[-2,-3\]/);
  assert.throws(() => x.reshape(1.5, 4), /reshape: invalid shape \[1\.5,4\]/);
  assert.throws(() => x.reshape(NaN), /reshape: invalid shape \[NaN\]/);
  // The failed reshapes left x as it was.
  assert.deepEqual(x.shape, [2, 3]);
  assert.ok(!x.disposed);
});

Deno.test("matmul: inner-dimension mismatch names both shapes and the sizes", () => {
  assert.throws(
    () => matmul(cpu([2, 3]), cpu([4, 5])),
    /matmul: inner dimensions differ: \[2,3\] · \[4,5\] \(3 vs 4\)/,
  );
  assert.throws(
    () => matmul(cpu([7, 2, 3]), cpu([2, 5])),
    /matmul: inner dimensions differ: \[7,2,3\] · \[2,5\] \(3 vs 2\)/,
  );
  assert.throws(() => matmul(cpu([3]), cpu([4])), /matmul: inner dimensions differ: \[3\] · \[4\]/);
});

// ---------------------------------------------------------------------------------------
// Use after dispose

Deno.test("using a tensor after dispose names the op and the tensor", async () => {
  const x = fromArray([[1, 2, 3], [4, 5, 6]]);
  const y = fromArray([1, 2, 3]);
  x.dispose();
  assert.throws(() => add(y, x), /add: input 1 \(f32\[2,3\] cpu\) was disposed/);
  assert.throws(() => sum(x), /sum: input 0 \(f32\[2,3\] cpu\) was disposed/);
  assert.throws(() => softmax(x), /softmax: input 0 \(f32\[2,3\] cpu\) was disposed/);
  assert.throws(
    () => matmul(x, y.reshape(3, 1)),
    /matmul: input 0 \(f32\[2,3\] cpu\) was disposed/,
  );
  assert.throws(() => permute(x, [1, 0]), /permute: input 0 \(f32\[2,3\] cpu\) was disposed/);
  assert.throws(() => slice(x, [0]), /slice: input 0 \(f32\[2,3\] cpu\) was disposed/);
  assert.throws(
    () => concat([y.reshape(1, 3), x]),
    /concat: input 1 \(f32\[2,3\] cpu\) was disposed/,
  );
  assert.throws(() => x.gpu(), /gpu: tensor \[2,3\] was disposed/);
  await assert.rejects(() => x.cpu(), /cpu: tensor \[2,3\] was disposed/);
  await assert.rejects(() => readAll([y, x]), /readAll: tensor 1 \[2,3\] was disposed/);
});

Deno.test({
  name: "using a gpu tensor after dispose names the op and the tensor",
  ignore: !gpu,
  ...GPU_TEST,
  async fn() {
    const g = fromArray([1, 2, 3, 4], { device: "gpu" });
    const h = fromArray([1, 2, 3, 4], { device: "gpu" });
    g.dispose();
    assert.throws(() => mul(h, g), /mul: input 1 \(f32\[4\] gpu\) was disposed/);
    assert.throws(() => sum(g), /sum: input 0 \(f32\[4\] gpu\) was disposed/);
    assert.throws(() => g.reshape(2, 2), /reshape: tensor \[4\] was disposed/);
    await assert.rejects(() => g.data(), /data: tensor \[4\] was disposed/);
    await assert.rejects(() => readAll([h, g]), /readAll: tensor 1 \[4\] was disposed/);
    // The failed calls did not disturb h.
    assert.deepEqual(Array.from(await h.data()), [1, 2, 3, 4]);
    h.dispose();
  },
});
