/**
 * Parameters packed flat (src/nlp/flat.ts) and GPU tensor views (GpuStorage.view,
 * Tensor.binding, the runtime's aliasing rule): ops on views of one flat buffer equal
 * the same ops on CPU copies (elementwise, GEMM, reductions, conv, pool, their
 * gradients); reads and copies honour the offsets; in-place ops between two views of
 * one buffer (which WebGPU cannot bind in one dispatch: the runtime copies the read
 * range first) are right and leave neighbours and padding alone; packParams keeps the
 * Params' identity and values, frees their old buffers, and training through the
 * packed Params matches training the unpacked model; writeGradients places each
 * gradient in its slot with buffer copies only.
 *
 * Tolerances: CPU packed vs CPU unpacked is the same arithmetic (exact); GPU vs CPU is
 * one f32 kernel against the CPU reference (F32_TOL, or the GEMM/conv accumulation
 * tolerance used by their own tests).
 */

import assert from "node:assert/strict";
import { diff } from "../src/autograd/diff.ts";
import { Param } from "../src/autograd/param.ts";
import { counters } from "../src/gpu/counters.ts";
import { sizeClass } from "../src/gpu/pool.ts";
import { gpuRuntime } from "../src/gpu/runtime.ts";
import { Chain } from "../src/layers/chain.ts";
import { Dense } from "../src/layers/dense.ts";
import { nll } from "../src/loss.ts";
import { packParams, slotAlignment, writeGradients } from "../src/nlp/flat.ts";
import { conv4 } from "../src/ops/conv.ts";
import { add, exp, mul, relu, sub, tanh } from "../src/ops/math.ts";
import { matmul } from "../src/ops/matmul.ts";
import { pool } from "../src/ops/pool.ts";
import { max, sum } from "../src/ops/reduce.ts";
import { axpy, copyInto, fill, scal } from "../src/ops/vector.ts";
import { Adam, update } from "../src/optim/mod.ts";
import { fromArray } from "../src/tensor/create.ts";
import { Rng } from "../src/tensor/random.ts";
import { GpuStorage, type HostArray, readAll, type Tensor } from "../src/tensor/tensor.ts";
import { assertClose, assertExact, F32_TOL, GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();
/** Accumulations over ≤ 100 terms in f32 (GEMM, conv, sums), as in gemm_test/conv_test. */
const ACC_TOL = { rtol: 1e-4, atol: 1e-5 };

function values(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.uniform() * 2 - 1);
}

/** Shapes of a small model touching every op family (sizes not multiples of 4 or 64). */
const SHAPES: Record<string, number[]> = {
  a: [5, 7],
  v: [5, 7],
  b: [7, 3],
  bias: [3],
  w: [2, 3, 3, 3],
  img: [2, 3, 6, 6],
  s: [1],
};

function makeParams(device: "cpu" | "gpu", seed = 1): Record<string, Param> {
  const rng = new Rng(seed);
  const out: Record<string, Param> = {};
  for (const [k, shape] of Object.entries(SHAPES)) {
    const n = shape.reduce((a, b) => a * b, 1);
    out[k] = new Param(fromArray(values(rng, n), { shape, device }));
  }
  return out;
}

/** Every op family on the params; returns named results. */
function opsOn(p: Record<string, Tensor>): Record<string, Tensor> {
  const h = matmul(p.a, p.b);
  return {
    add: add(p.a, p.v),
    sub_scalar: sub(p.a, 0.25),
    mul_scalar_param: mul(p.v, p.s),
    relu: relu(p.a),
    exp: exp(p.v),
    gemm: h,
    bias: tanh(add(h, p.bias)),
    sum: sum(p.a),
    rowsum: sum(p.a, 1),
    max: max(p.v, 0),
    conv: conv4(p.w, p.img, { padding: 1 }),
    pool: pool(p.img),
  };
}

/** Σ of every op result weighted: a scalar depending on every param. */
function lossOf(p: Record<string, Tensor>): Tensor {
  const r = opsOn(p);
  let total = sum(r.add);
  for (const k of ["relu", "exp", "bias", "sum", "rowsum", "max", "conv", "pool"]) {
    total = add(total, mul(sum(r[k]), 0.5));
  }
  return add(total, sum(r.mul_scalar_param));
}

async function readNamed(r: Record<string, Tensor>): Promise<Record<string, HostArray>> {
  const keys = Object.keys(r);
  const vals = await readAll(keys.map((k) => r[k]));
  return Object.fromEntries(keys.map((k, i) => [k, vals[i]]));
}

Deno.test("packParams on the CPU: identity, values, subarray views of x, no gaps", async () => {
  for (const dtype of ["f32", "f64"] as const) {
    const rng = new Rng(3);
    const model = {
      layers: [
        { w: new Param(fromArray(values(rng, 6), { shape: [2, 3], dtype, device: "cpu" })) },
        { w: new Param(fromArray(values(rng, 4), { shape: [4], dtype, device: "cpu" })) },
      ],
    };
    const before = model.layers.map((l) => l.w.dataSync());
    const w0 = model.layers[0].w;
    const packed = packParams(model);
    assert.equal(model.layers[0].w, w0, "the Param object is kept");
    assert.deepEqual(packed.offsets, [0, 6]);
    assert.equal(packed.nvar, 10);
    assert.equal(packed.nparams, 10);
    assert.deepEqual(packed.names, ["layers.0.w", "layers.1.w"]);
    assert.equal(packed.x.dtype, dtype);
    const x = packed.x.host();
    assertExact(x, [...before[0], ...before[1]], `${dtype} x`);
    // The Params (and their values) are views of x: writing x changes them and back.
    x[7] = 42;
    assert.equal(model.layers[1].w.host()[1], 42);
    assert.equal(model.layers[1].w.value.host()[1], 42);
    model.layers[0].w.host()[5] = -3;
    assert.equal(x[5], -3);
    assert.equal((await model.layers[0].w.data())[5], -3);
  }
});

Deno.test("packParams: mixed devices or dtypes and empty models are errors", async () => {
  const a = new Param(fromArray([1, 2], { dtype: "f64", device: "cpu" }));
  const b = new Param(fromArray([1, 2], { dtype: "f32", device: "cpu" }));
  assert.throws(
    () => packParams({ a, b }),
    /packParams: all Params must share device and dtype; a is f64 on cpu but b is f32 on cpu/,
  );
  assert.throws(() => packParams({ w: 3 }), /packParams: the model has no \(live\) Params/);
  if (gpu) {
    const c = new Param(fromArray([1, 2], { device: "gpu" }));
    assert.throws(() => packParams([b, c]), /0 is f32 on cpu but 1 is f32 on gpu/);
    const x = fromArray(new Float32Array(200), { device: "gpu" });
    const s = x.gpuStorage()!;
    assert.throws(
      () => GpuStorage.view(s, 4, 8),
      /byte offset 4 is not a multiple of the adapter's minStorageBufferOffsetAlignment/,
    );
    assert.throws(() => GpuStorage.view(s, 0, 1000), /does not fit a parent of 800 bytes/);
    c.dispose();
    x.dispose();
    await gpuRuntime().sync();
  }
});

Deno.test({
  name: "packParams on the GPU: aligned slots, values read through offsets, zero padding, identity",
  ...GPU_TEST,
  ignore: !gpu,
  fn: async () => {
    const p = makeParams("gpu");
    const before = await readAll(Object.values(p));
    const ids = { ...p };
    const packed = packParams(p);
    const align = slotAlignment("gpu");
    assert.equal(align, gpuRuntime().info.limits.minStorageBufferOffsetAlignment / 4);
    for (const k of Object.keys(p)) assert.equal(p[k], ids[k], `${k} keeps its identity`);
    let expectEnd = 0;
    packed.params.forEach((q, i) => {
      assert.equal(packed.offsets[i] % align, 0, "aligned");
      assert.ok(packed.offsets[i] >= expectEnd, "slots do not overlap");
      assert.equal(q.byteOffset(), packed.offsets[i] * 4);
      assert.equal(q.buffer(), packed.x.buffer(), "one buffer");
      expectEnd = packed.offsets[i] + q.size;
    });
    assert.equal(packed.nvar, expectEnd);
    assert.equal(packed.x.size, packed.nvar);
    // data() / readAll of each view (offsets honoured), and of their value aliases.
    const after = await readAll(Object.values(p));
    after.forEach((v, i) => assertExact(v, before[i], `${Object.keys(p)[i]} values`));
    const vals = await readAll(Object.values(p).map((q) => q.value));
    vals.forEach((v, i) => assertExact(v, before[i], `${Object.keys(p)[i]}.value`));
    // x: each slot holds its param, every gap is zero.
    const x = await packed.x.data();
    const inSlot = new Uint8Array(x.length);
    packed.params.forEach((q, i) => {
      assertExact(x.subarray(packed.offsets[i], packed.offsets[i] + q.size), before[i], "slot");
      inSlot.fill(1, packed.offsets[i], packed.offsets[i] + q.size);
    });
    x.forEach((v, i) => {
      if (!inSlot[i]) assert.equal(v, 0, `padding element ${i}`);
    });
    // A reshaped view keeps the offset.
    assertExact(
      await p.img.reshape(2, -1).data(),
      before[Object.keys(p).indexOf("img")],
      "reshape",
    );
    packed.x.dispose();
    for (const q of Object.values(p)) q.dispose();
  },
});

Deno.test({
  name: "GPU views: elementwise, GEMM, reductions, conv, pool and their gradients equal the CPU",
  ...GPU_TEST,
  ignore: !gpu,
  fn: async () => {
    const cpuP = makeParams("cpu");
    const gpuP = makeParams("gpu");
    const packed = packParams(gpuP);
    const want = await readNamed(opsOn(cpuP));
    const got = await readNamed(opsOn(gpuP));
    for (const k of Object.keys(want)) {
      const tol = ["gemm", "bias", "sum", "rowsum", "conv"].includes(k) ? ACC_TOL : F32_TOL;
      assertClose(got[k], want[k], tol, `op ${k} on views`);
    }
    const jc = diff(() => lossOf(cpuP));
    const jg = diff(() => lossOf(gpuP));
    const keys = Object.keys(cpuP);
    const gc = await readAll(keys.map((k) => jc.grad(cpuP[k])!));
    const gg = await readAll(keys.map((k) => jg.grad(gpuP[k])!));
    keys.forEach((k, i) => assertClose(gg[i], gc[i], ACC_TOL, `gradient of ${k}`));
    assertClose(await jg.value.data(), await jc.value.data(), ACC_TOL, "loss");
    // writeGradients: one copy per Param, no kernel; padding zero even over garbage.
    const g = fromArray(new Float32Array(packed.nvar).fill(7), { device: "gpu" });
    const d0 = counters().dispatches;
    writeGradients(packed, jg, g);
    assert.equal(counters().dispatches - d0, 0, "no kernel dispatch");
    const gx = await g.data();
    const inSlot = new Uint8Array(gx.length);
    packed.params.forEach((q, i) => {
      const o = packed.offsets[i];
      assertExact(gx.subarray(o, o + q.size), gg[i], `slot of ${keys[i]}`);
      inSlot.fill(1, o, o + q.size);
    });
    gx.forEach((v, i) => {
      if (!inSlot[i]) assert.equal(v, 0, `gradient padding ${i}`);
    });
    jc.dispose();
    jg.dispose();
    g.dispose();
    packed.x.dispose();
    for (const q of Object.values(gpuP)) q.dispose();
  },
});

Deno.test({
  name:
    "GPU views: in-place ops between views of one buffer (the aliasing rule) leave neighbours alone",
  ...GPU_TEST,
  ignore: !gpu,
  fn: async () => {
    const rng = new Rng(9);
    const host = { a: values(rng, 35), v: values(rng, 35), c: values(rng, 35) };
    const p = {
      a: new Param(fromArray(host.a, { device: "gpu" })),
      v: new Param(fromArray(host.v, { device: "gpu" })),
      c: new Param(fromArray(host.c, { device: "gpu" })),
      k: new Param(fromArray([0.5], { device: "gpu" })),
    };
    const packed = packParams(p);
    // axpy reads a and writes v: two views of x's buffer in one dispatch.
    axpy(2, p.a, p.v);
    const v1 = host.v.map((y, i) => Math.fround(2 * host.a[i] + y));
    // scal by a device coefficient that is a view of the same buffer.
    scal(p.k, p.c);
    const c1 = host.c.map((y) => Math.fround(0.5 * y));
    const [v, c] = await readAll([p.v, p.c]);
    assertClose(v, v1, F32_TOL, "axpy(2, a, v)");
    assertExact(c, c1, "scal(k, c)");
    // The whole flat vector scaled by one of its own elements: every element (k too)
    // by the value k had before the dispatch.
    const before = await packed.x.data();
    scal(p.k, packed.x);
    assertExact(await packed.x.data(), before.map((e) => Math.fround(0.5 * e)), "scal(k, x)");
    // copyInto between views of one buffer (copyBufferToBuffer forbids src = dst).
    copyInto(p.a, p.c);
    // fill of a view: only its slot.
    fill(p.a, 3);
    const [a, c2, x] = await readAll([p.a, p.c, packed.x]);
    assertExact(a, new Float32Array(35).fill(3), "fill(a)");
    assertExact(c2, host.a.map((e) => Math.fround(0.5 * e)), "copyInto(a, c)");
    // Padding untouched (zero) after all of it.
    packed.params.forEach((q, i) => {
      const end = packed.offsets[i] + q.size;
      const next = i + 1 < packed.params.length ? packed.offsets[i + 1] : packed.nvar;
      for (let j = end; j < next; j++) assert.equal(x[j], 0, `padding after slot ${i}`);
    });
    packed.x.dispose();
    for (const q of Object.values(p)) q.dispose();
  },
});

/** A two-layer MLP with its Params drawn from `seed`. */
function mlp(device: "cpu" | "gpu", dtype: "f32" | "f64", seed: number): Chain {
  const rng = new Rng(seed);
  return new Chain(
    new Dense(12, 9, { rng, device, dtype }),
    new Dense(9, 4, { rng, device, dtype, activation: "identity" }),
  );
}

async function trainSteps(model: Chain, device: "cpu" | "gpu", dtype: "f32" | "f64") {
  const rng = new Rng(5);
  const x = fromArray(values(rng, 16 * 12), { shape: [16, 12], dtype, device });
  const y = fromArray(Array.from({ length: 16 }, (_, i) => i % 4), { dtype, device });
  const opt = new Adam({ lr: 0.05 });
  const ps = [model.layers[0] as Dense, model.layers[1] as Dense].flatMap((l) => [l.w, l.b!]);
  for (const q of ps) q.opt = opt.clone();
  for (let step = 0; step < 4; step++) {
    const J = diff(() => nll(model.forward(x), y));
    for (const q of ps) update(q, J.grad(q));
    J.dispose();
  }
  x.dispose();
  y.dispose();
  return await readAll(ps);
}

Deno.test("training through packed Params on the CPU (f64) equals training the unpacked model", async () => {
  const plain = await trainSteps(mlp("cpu", "f64", 11), "cpu", "f64");
  const model = mlp("cpu", "f64", 11);
  const packed = packParams(model);
  const trained = await trainSteps(model, "cpu", "f64");
  trained.forEach((v, i) => assertExact(v, plain[i], `param ${i}`));
  // The packed x saw every update.
  const x = packed.x.host();
  packed.params.forEach((q, i) => {
    assertExact(x.subarray(packed.offsets[i], packed.offsets[i] + q.size), trained[i], `slot ${i}`);
  });
});

Deno.test({
  name: "training through packed Params on the GPU equals the CPU; old buffers are freed",
  ...GPU_TEST,
  ignore: !gpu,
  fn: async () => {
    const want = await trainSteps(mlp("cpu", "f32", 12), "cpu", "f32");
    const model = mlp("gpu", "f32", 12);
    const sizes = [12 * 9, 9, 9 * 4, 4];
    await gpuRuntime().sync();
    const live0 = counters().liveBytes;
    const packed = packParams(model);
    const live1 = counters().liveBytes;
    const freed = sizes.reduce((s, n) => s + sizeClass(n * 4), 0);
    assert.equal(live1 - live0, sizeClass(packed.nvar * 4) - freed, "old param buffers freed");
    const got = await trainSteps(model, "gpu", "f32");
    got.forEach((v, i) => assertClose(v, want[i], ACC_TOL, `param ${i}`));
    const x = await packed.x.data();
    packed.params.forEach((q, i) => {
      assertExact(x.subarray(packed.offsets[i], packed.offsets[i] + q.size), got[i], `slot ${i}`);
    });
    for (const q of packed.params) q.dispose();
    packed.x.dispose();
  },
});
