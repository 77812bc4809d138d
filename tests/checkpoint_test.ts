/**
 * Checkpoints (src/io/checkpoint.ts): round trips of nested models on the CPU (f64) and
 * the GPU restore identical values in place (same Param objects, same GPU buffers,
 * aliases see the new values); saving reads every tensor with one host sync; the file
 * is valid safetensors for an independent minimal reader, with the exact little-endian
 * bytes of a known tensor; another model's checkpoint, a truncated file and a corrupted
 * header are Errors that leave the model untouched; a failed save leaves an existing
 * file byte-identical and no temporary file; optimizer state round trips so that the
 * next updates equal an uninterrupted run (with a test-local optimizer and every real
 * one of src/optim/optimizers.ts, on the CPU in f64 and on the GPU); user metadata round trips and
 * bad metadata is refused; readCheckpointInfo reads names and shapes without a model.
 * BatchNorm running statistics: a Conv/BatchNorm/Dense/BatchNorm chain trained a few
 * steps, saved and loaded into a freshly built chain (moments null) or a differently
 * trained one (moments in place) evaluates exactly like the original (CPU f64, GPU, and
 * a GPU checkpoint widened into CPU f64 moments); missing, unexpected and mismatched
 * moments are one listed Error that changes nothing (not even the valid params);
 * untrained (null) moments round trip as null; a checkpoint without `denet.moments`
 * leaves the running statistics alone.
 */

import assert from "node:assert/strict";
import { diff, namedParams, params } from "../src/autograd/diff.ts";
import { Param } from "../src/autograd/param.ts";
import { counters } from "../src/gpu/counters.ts";
import {
  CHECKPOINT_FORMAT,
  loadCheckpoint,
  namedMoments,
  readCheckpointInfo,
  saveCheckpoint,
} from "../src/io/checkpoint.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsTensor,
} from "../src/io/safetensors.ts";
import { BatchNorm } from "../src/layers/batchnorm.ts";
import { Chain } from "../src/layers/chain.ts";
import { Conv } from "../src/layers/conv.ts";
import { Dense } from "../src/layers/dense.ts";
import { Flatten } from "../src/layers/flatten.ts";
import { bnmoments } from "../src/ops/batchnorm.ts";
import { add, tanh } from "../src/ops/math.ts";
import { matmul } from "../src/ops/matmul.ts";
import { sum } from "../src/ops/reduce.ts";
import { axpby, axpy, copyInto } from "../src/ops/vector.ts";
import type { Optimizer, OptimizerConfig } from "../src/optim/optimizer.ts";
import {
  Adadelta,
  Adagrad,
  Adam,
  Momentum,
  Nesterov,
  OPTIMIZERS,
  Rmsprop,
  SGD,
} from "../src/optim/optimizers.ts";
import { fromArray, zeros } from "../src/tensor/create.ts";
import { Rng } from "../src/tensor/random.ts";
import { type DeviceName, type DType, readAll, type Tensor } from "../src/tensor/tensor.ts";
import { assertExact, GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

/**
 * A test-local optimizer (heavy-ball momentum, v ← γv + lr·g; w ← w − v) implementing
 * the Optimizer interface, with one state tensor and one scalar state (`t`).
 */
class TestMomentum implements Optimizer {
  readonly name = "TestMomentum";
  lr: number;
  gclip = 0;
  gamma: number;
  t = 0;
  v: Tensor | null = null;
  constructor(lr = 0.1, gamma = 0.9) {
    this.lr = lr;
    this.gamma = gamma;
  }
  clone(): TestMomentum {
    const o = new TestMomentum(this.lr, this.gamma);
    o.gclip = this.gclip;
    return o;
  }
  update(w: Tensor, g: Tensor): void {
    this.v ??= zeros(w.shape, { dtype: w.dtype, device: w.device });
    axpby(this.lr, g, this.gamma, this.v);
    axpy(-1, this.v, w);
    this.t++;
  }
  config(): OptimizerConfig {
    return { lr: this.lr, gclip: this.gclip, gamma: this.gamma, t: this.t };
  }
  stateTensors(): Record<string, Tensor> {
    return this.v ? { v: this.v } : {};
  }
  loadState(config: OptimizerConfig, tensors: Record<string, Tensor>, like: Tensor): void {
    const keys = Object.keys(tensors);
    if (keys.some((k) => k !== "v")) throw new Error(`TestMomentum: unknown state ${keys}`);
    const v = tensors.v;
    if (v && v.shape.join() !== like.shape.join()) {
      throw new Error(`TestMomentum: state v [${v.shape}] does not match [${like.shape}]`);
    }
    this.lr = config.lr;
    this.gclip = config.gclip;
    this.gamma = config.gamma;
    this.t = config.t;
    this.v?.dispose();
    this.v = v ? copyInto(v, zeros(like.shape, { dtype: like.dtype, device: like.device })) : null;
  }
  dispose(): void {
    this.v?.dispose();
    this.v = null;
  }
}

function makeTest(name: string, config: OptimizerConfig): Optimizer {
  if (name !== "TestMomentum") throw new Error(`unknown optimizer "${name}"`);
  const o = new TestMomentum(config.lr, config.gamma);
  o.gclip = config.gclip;
  o.t = config.t;
  return o;
}

function values(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.uniform() * 2 - 1);
}

interface Model {
  layers: { w: Param; b: Param }[];
  extra: Map<string, Param[]>;
}

/** A small nested model: two dense layers plus a Map of a list of Params. */
function makeModel(seed: number, device: DeviceName, dtype: DType = "f32"): Model {
  const rng = new Rng(seed);
  const p = (shape: number[]) =>
    new Param(fromArray(values(rng, shape.reduce((a, b) => a * b, 1)), { shape, device, dtype }));
  return {
    layers: [{ w: p([3, 4]), b: p([4]) }, { w: p([4, 2]), b: p([2]) }],
    extra: new Map([["s", [p([])]]]),
  };
}

/** A loss using every parameter. */
function loss(m: Model, x: Tensor): Tensor {
  let h = x;
  for (const l of m.layers) h = tanh(add(matmul(h, l.w), l.b));
  return add(sum(h), sum(m.extra.get("s")![0]));
}

function step(m: Model, x: Tensor): void {
  const J = diff(() => loss(m, x));
  for (const [, p] of namedParams(m)) (p.opt as Optimizer).update(p, J.grad(p)!);
  J.dispose();
}

async function snapshot(m: unknown): Promise<Float32Array[] | Float64Array[]> {
  return (await readAll(namedParams(m).map(([, p]) => p))) as Float32Array[];
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "denet_ckpt_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function rejectsWith(p: Promise<unknown>, ...parts: string[]): Promise<Error> {
  let err: Error | null = null;
  try {
    await p;
  } catch (e) {
    err = e as Error;
  }
  assert.ok(err instanceof Error, `expected an Error containing ${parts.join(", ")}`);
  for (const s of parts) assert.ok(err.message.includes(s), `"${err.message}" lacks "${s}"`);
  return err;
}

function assertSame(a: ArrayLike<number>[], b: ArrayLike<number>[], what: string): void {
  assert.equal(a.length, b.length);
  a.forEach((x, i) => assertExact(x, b[i], `${what} ${i}`));
}

Deno.test("checkpoint round trip: nested CPU f64 model, in place, aliases see the values", async () => {
  await withDir(async (dir) => {
    const src = makeModel(1, "cpu", "f64");
    const path = `${dir}/m.safetensors`;
    await saveCheckpoint(path, src, { optimizer: false });
    const dst = makeModel(2, "cpu", "f64");
    const before = namedParams(dst).map(([, p]) => p);
    const wrapped = dst.layers[0].w.value; // shares storage with the Param
    assert.notDeepEqual(await snapshot(dst), await snapshot(src));
    const md = await loadCheckpoint(path, dst);
    assert.deepEqual(md, {});
    await assertSame(await snapshot(dst), await snapshot(src), "param");
    assert.deepEqual(namedParams(dst).map(([, p]) => p), before, "same Param objects");
    assertExact(wrapped.dataSync(), src.layers[0].w.dataSync(), "alias");
    assert.deepEqual(namedParams(dst).map(([n]) => n), [
      "layers.0.w",
      "layers.0.b",
      "layers.1.w",
      "layers.1.b",
      "extra.s.0",
    ]);
  });
});

Deno.test({
  name: "checkpoint round trip on the GPU: one host sync to save, same buffers after load",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    await withDir(async (dir) => {
      const src = makeModel(3, "gpu");
      const cpuParam = new Param(fromArray([0.25, -1e-300, 1e300], { dtype: "f64" }));
      const model = { net: src, cpu: cpuParam };
      const path = `${dir}/g.safetensors`;
      const syncs = counters().hostSyncs;
      await saveCheckpoint(path, model, { optimizer: false });
      assert.equal(counters().hostSyncs - syncs, 1, "one host sync for all tensors");
      const dst = { net: makeModel(4, "gpu"), cpu: new Param(zeros([3], { dtype: "f64" })) };
      const buffers = namedParams(dst).filter(([, p]) => p.device === "gpu")
        .map(([, p]) => p.buffer());
      const alias = dst.net.layers[1].w.value;
      await loadCheckpoint(path, dst);
      await assertSame(await snapshot(dst), await snapshot(model), "param");
      assert.deepEqual(
        namedParams(dst).filter(([, p]) => p.device === "gpu").map(([, p]) => p.buffer()),
        buffers,
        "the Params keep their GPU buffers",
      );
      assertExact(await alias.data(), await src.layers[1].w.data(), "alias");
      // A GPU (f32) checkpoint loads into a CPU f64 model (exact widening).
      const wide = makeModel(5, "cpu", "f64");
      await loadCheckpoint(path, { net: wide, cpu: new Param(zeros([3], { dtype: "f64" })) });
      await assertSame(await snapshot(wide), await snapshot(src), "widened");
    });
  },
});

Deno.test("the file is safetensors: an independent reader, exact bytes of a known tensor", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/tiny.safetensors`;
    const model = {
      a: new Param(fromArray([1.5, -2], { dtype: "f32", device: "cpu" })),
      b: new Param(fromArray([[1], [0.1]], { dtype: "f64", device: "cpu" })),
    };
    await saveCheckpoint(path, model, { metadata: { note: "hi" } });
    const bytes = await Deno.readFile(path);
    // Minimal reader written from the specification.
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.ok(8 + n <= bytes.length);
    assert.equal((8 + n) % 8, 0, "data section aligned to 8");
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    assert.match(text, /^\{.*\} *$/);
    const header = JSON.parse(text);
    assert.deepEqual(header.__metadata__, {
      note: "hi",
      "denet.format": CHECKPOINT_FORMAT,
      "denet.params": '["a","b"]',
      "denet.optimizer": "1",
    });
    assert.deepEqual(header.a, { dtype: "F32", shape: [2], data_offsets: [0, 8] });
    assert.deepEqual(header.b, { dtype: "F64", shape: [2, 1], data_offsets: [8, 24] });
    assert.equal(bytes.length, 8 + n + 24);
    const data = bytes.subarray(8 + n);
    assertExact(data.subarray(0, 8), [0, 0, 0xc0, 0x3f, 0, 0, 0, 0xc0], "F32 1.5, -2 LE");
    // 1.0 = 0x3FF0000000000000; 0.1 = 0x3FB999999999999A
    assertExact(data.subarray(8, 16), [0, 0, 0, 0, 0, 0, 0xf0, 0x3f], "F64 1.0 LE");
    assertExact(data.subarray(16), [0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f], "F64 0.1");
    // No temporary file left behind.
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, ["tiny.safetensors"]);
  });
});

Deno.test("another model's checkpoint: one Error listing names and shapes, model unchanged", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/other.safetensors`;
    const other = {
      layers: [{ w: new Param(zeros([3, 5], { dtype: "f64" })), b: new Param(zeros([4])) }],
      head: new Param(zeros([7, 7])),
    };
    await saveCheckpoint(path, other);
    const target = makeModel(6, "cpu", "f64");
    const before = await snapshot(target);
    const err = await rejectsWith(
      loadCheckpoint(path, target),
      `loadCheckpoint ${path}`,
      "does not match the model",
      "missing 3: layers.1.w [4,2]; layers.1.b [2]; extra.s.0 []",
      "unexpected 1: head [7,7]",
      "mismatched 1: layers.0.w: model [3,4], checkpoint [3,5]",
    );
    assert.ok(!err.message.includes("layers.0.b"), "layers.0.b matches (F32 into f64)");
    await assertSame(await snapshot(target), before, "unchanged");
    // Not strict: unexpected tensors are ignored, the missing ones still fail.
    await rejectsWith(loadCheckpoint(path, target, { strict: false }), "missing 3");
    const sub = { layers: [{ b: new Param(zeros([4], { dtype: "f64" })) }] };
    await loadCheckpoint(path, sub, { strict: false });
    await rejectsWith(loadCheckpoint(path, sub), "unexpected 2: layers.0.w [3,5]; head [7,7]");
    // F64 does not load into an f32 param.
    const narrow = { layers: [{ w: new Param(zeros([3, 5])), b: new Param(zeros([4])) }] };
    await rejectsWith(
      loadCheckpoint(path, { ...narrow, head: new Param(zeros([7, 7])) }),
      "mismatched 1: layers.0.w: checkpoint F64 does not load into a f32 cpu param",
    );
    // The listing is capped.
    const many = { p: Array.from({ length: 8 }, () => new Param(zeros([1]))) };
    await rejectsWith(loadCheckpoint(path, many), "missing 8:", "... (8 in all)");
  });
});

Deno.test("truncated files and corrupted headers are Errors naming the file", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/t.safetensors`;
    const model = makeModel(7, "cpu", "f64");
    await saveCheckpoint(path, model);
    const bytes = await Deno.readFile(path);
    const target = makeModel(8, "cpu", "f64");
    const before = await snapshot(target);
    await Deno.writeFile(path, bytes.subarray(0, bytes.length - 8));
    await rejectsWith(loadCheckpoint(path, target), path, "truncated");
    await rejectsWith(readCheckpointInfo(path), path, "truncated");
    await Deno.writeFile(path, bytes.subarray(0, 100));
    await rejectsWith(loadCheckpoint(path, target), path, "exceeds the file");
    const corrupt = bytes.slice();
    corrupt[8 + 1] = "}".charCodeAt(0);
    await Deno.writeFile(path, corrupt);
    await rejectsWith(loadCheckpoint(path, target), path, "invalid JSON header");
    await rejectsWith(loadCheckpoint(`${dir}/absent`, target), "absent", "cannot read");
    // Inconsistent denet metadata in a well-formed safetensors file.
    const t = { name: "w", dtype: "F32" as const, shape: [1], data: new Float32Array(1) };
    const bad = async (md: Record<string, string>, ...parts: string[]) => {
      await Deno.writeFile(path, encodeSafetensors([t], md));
      await rejectsWith(loadCheckpoint(path, { w: new Param(zeros([1])) }), path, ...parts);
    };
    const ok = { "denet.format": CHECKPOINT_FORMAT, "denet.optimizer": "0" };
    await bad({ ...ok, "denet.format": "x" }, 'unknown format "x"');
    await bad({ ...ok, "denet.params": "[" }, "denet.params");
    await bad({ ...ok, "denet.params": '["w","v"]' }, 'parameter "v" has no tensor');
    await bad({ ...ok, "denet.params": "[]" }, 'tensor "w" is neither a parameter nor');
    await bad({ ...ok, "denet.params": '["w"]', "denet.zzz": "1" }, "unknown metadata key");
    await bad(
      { ...ok, "denet.params": '["w"]', "denet.opt.w": "{}" },
      '"denet.opt.w" must be {"name": string, "config": {...}}',
    );
    await assertSame(await snapshot(target), before, "unchanged");
  });
});

Deno.test("a failed save leaves the existing file byte-identical and no temporary file", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/keep.safetensors`;
    await saveCheckpoint(path, makeModel(9, "cpu", "f64"), { metadata: { v: "1" } });
    const original = await Deno.readFile(path);
    const listing = async () => {
      const names = [];
      for await (const e of Deno.readDir(dir)) names.push(e.name);
      return names.sort();
    };
    // A param that cannot be read.
    const broken = makeModel(10, "cpu", "f64");
    broken.layers[1].b.dispose();
    await rejectsWith(saveCheckpoint(path, broken), `saveCheckpoint ${path}`, "disposed");
    // Bad metadata.
    const good = makeModel(11, "cpu", "f64");
    await rejectsWith(
      saveCheckpoint(path, good, { metadata: { epoch: 3 as unknown as string } }),
      'metadata value of key "epoch" must be a string',
      "the number 3",
    );
    await rejectsWith(
      saveCheckpoint(path, good, { metadata: { "denet.format": "x" } }),
      "reserved",
    );
    await rejectsWith(saveCheckpoint(path, { nothing: 1 }), "the model has no Params");
    const badOpt = makeModel(12, "cpu", "f64");
    badOpt.layers[0].w.opt = { name: "fake" };
    await rejectsWith(saveCheckpoint(path, badOpt), '"layers.0.w" has an opt field');
    assertExact(await Deno.readFile(path), original, "existing checkpoint");
    assert.deepEqual(await listing(), ["keep.safetensors"]);
    // The write itself fails after the temporary file was written: the target is a
    // non-empty directory, so the rename fails; the temporary file is removed.
    const blocked = `${dir}/blocked`;
    await Deno.mkdir(blocked);
    await Deno.writeFile(`${blocked}/inside`, new Uint8Array([7]));
    await rejectsWith(saveCheckpoint(blocked, good), `saveCheckpoint ${blocked}`, "cannot write");
    assert.deepEqual(await listing(), ["blocked", "keep.safetensors"]);
    assertExact(await Deno.readFile(`${blocked}/inside`), [7], "untouched");
    // A missing directory.
    await rejectsWith(saveCheckpoint(`${dir}/no/such/x`, good), "cannot write");
    assert.deepEqual(await listing(), ["blocked", "keep.safetensors"]);
    // A successful save replaces the file.
    await saveCheckpoint(path, good);
    assert.notDeepEqual(await Deno.readFile(path), original);
    assert.deepEqual(await listing(), ["blocked", "keep.safetensors"]);
  });
});

/**
 * Trains 3 steps, saves, trains 2 more (the reference); then loads the checkpoint into
 * a differently initialised model and trains 2 steps: values must be identical.
 */
async function optimizerRoundTrip(
  device: DeviceName,
  dtype: DType,
  attach: () => Optimizer,
  make?: (name: string, config: OptimizerConfig) => Optimizer,
): Promise<void> {
  await withDir(async (dir) => {
    const path = `${dir}/opt.safetensors`;
    const x = fromArray(values(new Rng(99), 5 * 3), { shape: [5, 3], device, dtype });
    const a = makeModel(20, device, dtype);
    for (const [, p] of namedParams(a)) p.opt = attach();
    for (let i = 0; i < 3; i++) step(a, x);
    await saveCheckpoint(path, a, { metadata: { epoch: "3" } });
    for (let i = 0; i < 2; i++) step(a, x);
    const reference = await snapshot(a);

    const b = makeModel(21, device, dtype);
    const old = attach();
    b.layers[0].w.opt = old;
    const g = fromArray(values(new Rng(7), 12), { shape: [3, 4], device, dtype });
    old.update(b.layers[0].w, g); // give it state to dispose
    g.dispose();
    const md = await loadCheckpoint(path, b, make ? { makeOptimizer: make } : {});
    assert.deepEqual(md, { epoch: "3" });
    assert.notEqual(b.layers[0].w.opt, old, "a new optimizer replaces the old one");
    for (const [name, p] of namedParams(b)) {
      const o = p.opt as Optimizer;
      const ref = namedParams(a).find(([n]) => n === name)![1].opt as Optimizer;
      assert.equal(o.name, ref.name);
      assert.equal(Object.keys(o.stateTensors()).length, Object.keys(ref.stateTensors()).length);
    }
    for (let i = 0; i < 2; i++) step(b, x);
    await assertSame(await snapshot(b), reference, `${device} ${dtype} resumed`);

    // Without optimizer state: values load, opt untouched.
    const c = makeModel(22, device, dtype);
    const keepOpt = attach();
    c.layers[0].b.opt = keepOpt;
    await loadCheckpoint(path, c, { optimizer: false, makeOptimizer: make });
    assert.equal(c.layers[0].b.opt, keepOpt);
    assert.equal(c.layers[1].w.opt, undefined);

    const info = await readCheckpointInfo(path);
    assert.equal(info.format, CHECKPOINT_FORMAT);
    assert.deepEqual(info.metadata, { epoch: "3" });
    assert.ok(info.hasOptimizerState);
    assert.deepEqual(
      info.params.map((p) => `${p.name}:${p.dtype}[${p.shape}]`),
      namedParams(a).map(([n, p]) => `${n}:${dtype === "f64" ? "F64" : "F32"}[${p.shape}]`),
    );
    const w0 = info.optimizers["layers.0.w"];
    const ref = a.layers[0].w.opt as Optimizer;
    assert.equal(w0.name, ref.name);
    assert.deepEqual(
      w0.state.map((s) => `${s.name}[${s.shape}]`).sort(),
      Object.keys(ref.stateTensors()).map((f) => `layers.0.w/opt/${f}[3,4]`).sort(),
    );
    for (const [, p] of [...namedParams(a), ...namedParams(b)]) (p.opt as Optimizer).dispose();
  });
}

Deno.test("optimizer state round trip (test-local optimizer, CPU f64): resumed == uninterrupted", async () => {
  await optimizerRoundTrip("cpu", "f64", () => new TestMomentum(0.05, 0.9), makeTest);
});

Deno.test({
  name: "optimizer state round trip (test-local optimizer, GPU): resumed == uninterrupted",
  ignore: !gpu,
  ...GPU_TEST,
  fn: () => optimizerRoundTrip("gpu", "f32", () => new TestMomentum(0.05, 0.9), makeTest),
});

const REAL: [string, () => Optimizer][] = [
  ["SGD", () => new SGD({ lr: 0.05 })],
  ["Momentum", () => new Momentum({ lr: 0.05, gamma: 0.8 })],
  ["Nesterov", () => new Nesterov({ lr: 0.05, gamma: 0.8 })],
  ["Adagrad", () => new Adagrad({ lr: 0.05 })],
  ["Rmsprop", () => new Rmsprop({ lr: 0.01 })],
  ["Adadelta", () => new Adadelta({ lr: 0.5 })],
  ["Adam", () => new Adam({ lr: 0.01, gclip: 0.5 })],
];

Deno.test("the real optimizers are all covered here", () => {
  assert.deepEqual(REAL.map(([n]) => n).sort(), Object.keys(OPTIMIZERS).sort());
});

for (const [name, attach] of REAL) {
  Deno.test(`optimizer state round trip (${name}, CPU f64): resumed == uninterrupted`, () =>
    optimizerRoundTrip("cpu", "f64", attach));
  Deno.test({
    name: `optimizer state round trip (${name}, GPU): resumed == uninterrupted`,
    ignore: !gpu,
    ...GPU_TEST,
    fn: () => optimizerRoundTrip("gpu", "f32", attach),
  });
}

Deno.test("an optimizer the default factory does not know is an Error", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/u.safetensors`;
    const a = makeModel(50, "cpu", "f64");
    for (const [, p] of namedParams(a)) p.opt = new TestMomentum();
    await saveCheckpoint(path, a);
    const b = makeModel(51, "cpu", "f64");
    const before = await snapshot(b);
    await rejectsWith(
      loadCheckpoint(path, b),
      `loadCheckpoint ${path}`,
      'parameter "layers.0.w"',
      "unknown optimizer 'TestMomentum'",
    );
    await assertSame(await snapshot(b), before, "unchanged");
    assert.equal(b.layers[0].w.opt, undefined);
  });
});

Deno.test("optimizer state is validated before anything changes", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/o.safetensors`;
    const x = fromArray(values(new Rng(5), 6), { shape: [2, 3], dtype: "f64" });
    const a = makeModel(30, "cpu", "f64");
    for (const [, p] of namedParams(a)) p.opt = new TestMomentum();
    step(a, x);
    a.layers[0].b.opt = undefined; // saved without an optimizer
    const infinite = a.layers[1].b.opt as TestMomentum;
    infinite.gclip = Infinity;
    await saveCheckpoint(path, a);

    const b = makeModel(31, "cpu", "f64");
    const sentinel = new TestMomentum();
    b.layers[0].b.opt = sentinel;
    sentinel.update(b.layers[0].b, zeros([4], { dtype: "f64" })); // give it state
    assert.ok(sentinel.v !== null);
    const before = await snapshot(b);
    // Unknown optimizer name (the default factory or a custom one that refuses it).
    await rejectsWith(
      loadCheckpoint(path, b, { makeOptimizer: () => makeTest("nope", {}) }),
      `loadCheckpoint ${path}`,
      'parameter "layers.0.w"',
      'unknown optimizer "nope"',
    );
    // loadState refusing the state (shape check).
    const picky = (name: string, config: OptimizerConfig) => {
      const o = makeTest(name, config) as TestMomentum;
      o.loadState = () => {
        throw new Error("state v [9] does not match");
      };
      return o;
    };
    await rejectsWith(
      loadCheckpoint(path, b, { makeOptimizer: picky }),
      "optimizer TestMomentum: state v [9] does not match",
    );
    await assertSame(await snapshot(b), before, "values unchanged");
    assert.equal(b.layers[0].b.opt, sentinel, "opt unchanged");

    await loadCheckpoint(path, b, { makeOptimizer: makeTest });
    assert.equal(b.layers[0].b.opt, undefined, "saved without an optimizer → none");
    assert.equal(sentinel.v, null, "the replaced optimizer was disposed");
    assert.equal((b.layers[1].b.opt as TestMomentum).gclip, Infinity);
    assert.equal((b.layers[1].w.opt as TestMomentum).t, 1);

    // An F64 checkpoint does not load into an f32 model.
    const f32 = makeModel(32, "cpu", "f32");
    await rejectsWith(loadCheckpoint(path, f32, { makeOptimizer: makeTest }), "mismatched 5");
  });
});

Deno.test("metadata round trip, reserved and non-string values refused", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/md.safetensors`;
    // JSON.parse makes "__proto__" an own key (an object literal would not).
    const withProto = JSON.parse(
      '{"epoch": "12", "ünï": "✓ \\"quoted\\"\\n", "": "empty key", "__proto__": "x"}',
    );
    assert.deepEqual(Object.keys(withProto), ["epoch", "ünï", "", "__proto__"]);
    const m = makeModel(40, "cpu", "f64");
    await saveCheckpoint(path, m, { metadata: withProto });
    assert.deepEqual(
      JSON.stringify(await loadCheckpoint(path, makeModel(41, "cpu", "f64"))),
      JSON.stringify(withProto),
    );
    const info = await readCheckpointInfo(path);
    assert.equal(JSON.stringify(info.metadata), JSON.stringify(withProto));
    await rejectsWith(
      saveCheckpoint(path, m, { metadata: { ok: "1", bad: null as unknown as string } }),
      'metadata value of key "bad" must be a string, got null',
    );
    await rejectsWith(
      saveCheckpoint(path, m, { metadata: [] as unknown as Record<string, string> }),
      "metadata must be an object of strings",
    );
  });
});

Deno.test("a plain safetensors file (no denet metadata) loads by tensor names", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/plain.safetensors`;
    await Deno.writeFile(
      path,
      encodeSafetensors([
        { name: "w", dtype: "F64", shape: [2], data: new Float64Array([1, 2]) },
        { name: "b", dtype: "F32", shape: [], data: new Float32Array([3]) },
      ], { source: "elsewhere" }),
    );
    const model = { w: new Param(zeros([2], { dtype: "f64" })), b: new Param(zeros([])) };
    assert.deepEqual(await loadCheckpoint(path, model), { source: "elsewhere" });
    assertExact(model.w.dataSync(), [1, 2], "w");
    assertExact(model.b.dataSync(), [3], "b");
    const info = await readCheckpointInfo(path);
    assert.equal(info.format, null);
    assert.deepEqual(info.params.map((p) => p.name), ["w", "b"]);
    assert.deepEqual(info.optimizers, {});
  });
});

// ---------------------------------------------------------------------------------------
// BatchNorm running statistics

/** Conv → BatchNorm (4-D) → Flatten → Dense → BatchNorm (2-D): two BNMoments. */
function bnNet(seed: number, device: DeviceName, dtype: DType): Chain {
  const o = { device, dtype };
  return new Chain(
    new Conv(3, 3, 2, 4, { ...o, activation: "identity", padding: 1, rng: new Rng(seed) }),
    new BatchNorm(4, o),
    tanh,
    new Flatten(),
    new Dense(4 * 5 * 5, 3, { ...o, activation: "identity", rng: new Rng(seed + 1) }),
    new BatchNorm(3, o),
  );
}

function bnBatch(seed: number, n: number, device: DeviceName, dtype: DType): [Tensor, Tensor] {
  const rng = new Rng(seed);
  const x = fromArray(values(rng, n * 2 * 5 * 5), { shape: [n, 2, 5, 5], device, dtype });
  const y = fromArray(Array.from({ length: n }, (_, i) => i % 3), { device, dtype });
  return [x, y];
}

/** A few SGD steps on random batches: params and running statistics both move. */
function trainBn(net: Chain, seed: number, device: DeviceName, dtype: DType): void {
  for (let s = 0; s < 3; s++) {
    const [x, y] = bnBatch(seed + s, 6, device, dtype);
    const J = diff(() => net.loss(x, y));
    for (const p of params(net)) axpy(-0.1, J.grad(p)!, p);
    J.dispose();
    x.dispose();
    y.dispose();
  }
}

/** The running statistics of every BNMoments, in namedMoments order (null stays null). */
async function momentValues(m: unknown): Promise<(Float32Array | Float64Array | null)[]> {
  const ts = namedMoments(m).flatMap(([, bm]) => [bm.mean, bm.var]);
  const read = (await readAll(ts.filter((t) => t !== null) as Tensor[])) as Float64Array[];
  return ts.map((t) => (t === null ? null : read.shift()!));
}

function assertSameMoments(
  a: (ArrayLike<number> | null)[],
  b: (ArrayLike<number> | null)[],
  what: string,
): void {
  assert.equal(a.length, b.length, `${what}: count`);
  a.forEach((x, i) => {
    if (x === null || b[i] === null) assert.equal(x, b[i], `${what} ${i}: null`);
    else assertExact(x, b[i]!, `${what} ${i}`);
  });
}

async function infer(net: Chain, device: DeviceName, dtype: DType): Promise<ArrayLike<number>> {
  const [x] = bnBatch(99, 4, device, dtype);
  const out = net.forward(x); // not recording: inference mode, running statistics
  const v = await out.data();
  out.dispose();
  x.dispose();
  return v;
}

/** Re-encodes a checkpoint with edited tensors and metadata. */
async function rewrite(
  path: string,
  edit: (tensors: SafetensorsTensor[], md: Record<string, string>) => SafetensorsTensor[],
): Promise<void> {
  const file = decodeSafetensors(await Deno.readFile(path), path);
  const md = { ...file.metadata };
  const ts = [...file.tensors].map(([name, t]) => ({ name, ...t }));
  await Deno.writeFile(path, encodeSafetensors(edit(ts, md), md));
}

async function bnRoundTrip(device: DeviceName, dtype: DType): Promise<void> {
  await withDir(async (dir) => {
    const path = `${dir}/bn.safetensors`;
    const src = bnNet(50, device, dtype);
    trainBn(src, 60, device, dtype);
    assert.deepEqual(namedMoments(src).map(([n]) => n), ["layers.1.moments", "layers.5.moments"]);
    const saved = await momentValues(src);
    // The running statistics moved away from their initial zeros / ones.
    saved.forEach((v, i) => assert.ok(v!.some((e) => e !== i % 2), `moment ${i} is trained`));
    const want = await infer(src, device, dtype);
    await saveCheckpoint(path, src, { optimizer: false });
    const info = await readCheckpointInfo(path);
    assert.deepEqual(info.moments.map((t) => `${t.name} ${t.dtype} [${t.shape}]`), [
      `layers.1.moments.mean ${dtype === "f64" ? "F64" : "F32"} [1,4,1,1]`,
      `layers.1.moments.var ${dtype === "f64" ? "F64" : "F32"} [1,4,1,1]`,
      `layers.5.moments.mean ${dtype === "f64" ? "F64" : "F32"} [1,3]`,
      `layers.5.moments.var ${dtype === "f64" ? "F64" : "F32"} [1,3]`,
    ]);

    // Into a freshly built model: its moments are null until the load creates them.
    const fresh = bnNet(70, device, dtype);
    assert.ok(namedMoments(fresh).every(([, m]) => m.mean === null && m.var === null));
    assert.notDeepEqual(Array.from(await infer(fresh, device, dtype)), Array.from(want));
    fresh.dispose();
    const dst = bnNet(70, device, dtype);
    await loadCheckpoint(path, dst);
    for (const [, m] of namedMoments(dst)) {
      for (const t of [m.mean!, m.var!]) assert.deepEqual([t.device, t.dtype], [device, dtype]);
    }
    assertSameMoments(await momentValues(dst), saved, "fresh: moment");
    assertExact(await infer(dst, device, dtype), want, "fresh: inference output");

    // Into a differently trained model: the same tensors, updated in place.
    const other = bnNet(80, device, dtype);
    trainBn(other, 90, device, dtype);
    const tensors = namedMoments(other).flatMap(([, m]) => [m.mean, m.var]);
    await loadCheckpoint(path, other);
    assert.deepEqual(namedMoments(other).flatMap(([, m]) => [m.mean, m.var]), tensors);
    assertSameMoments(await momentValues(other), saved, "in place: moment");
    assertExact(await infer(other, device, dtype), want, "in place: inference output");

    // Without the running statistics (a checkpoint of the old layout) the params alone
    // do not reproduce the outputs: the test above depends on them.
    await rewrite(path, (ts, md) => {
      delete md["denet.moments"];
      return ts.filter((t) => !t.name.includes(".moments."));
    });
    const paramsOnly = bnNet(70, device, dtype);
    await loadCheckpoint(path, paramsOnly);
    assert.ok(namedMoments(paramsOnly).every(([, m]) => m.mean === null && m.var === null));
    assert.notDeepEqual(Array.from(await infer(paramsOnly, device, dtype)), Array.from(want));
    for (const m of [src, dst, other, paramsOnly]) m.dispose();
  });
}

Deno.test("BatchNorm running statistics round trip (CPU f64): inference outputs identical", () =>
  bnRoundTrip("cpu", "f64"));

Deno.test({
  name: "BatchNorm running statistics round trip (GPU): inference outputs identical",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    await bnRoundTrip("gpu", "f32");
    // A GPU checkpoint loads into a CPU f64 model: the moments are widened exactly.
    await withDir(async (dir) => {
      const path = `${dir}/g.safetensors`;
      const src = bnNet(51, "gpu", "f32");
      trainBn(src, 61, "gpu", "f32");
      await saveCheckpoint(path, src);
      const wide = bnNet(71, "cpu", "f64");
      await loadCheckpoint(path, wide);
      const got = await momentValues(wide);
      assert.ok(got.every((v) => v instanceof Float64Array));
      assertSameMoments(got, (await momentValues(src)).map((v) => Float64Array.from(v!)), "wide");
      src.dispose();
    });
  },
});

Deno.test("missing, unexpected and mismatched moments: one listed Error, nothing changes", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bn.safetensors`;
    const src = bnNet(52, "cpu", "f64");
    trainBn(src, 62, "cpu", "f64");
    await saveCheckpoint(path, { net: src, extra: { moments: bnmoments() } });
    const bytes = await Deno.readFile(path);

    // A trained target (moments in place) and a fresh one (moments null).
    const trained = bnNet(72, "cpu", "f64");
    trainBn(trained, 82, "cpu", "f64");
    const fresh = bnNet(73, "cpu", "f64");
    const targets = [{ net: trained }, { net: fresh }];
    const before = await Promise.all(
      targets.map(async (t) => [await snapshot(t), await momentValues(t)] as const),
    );
    const unchanged = async () => {
      for (const [i, t] of targets.entries()) {
        await assertSame(await snapshot(t), before[i][0], `target ${i} param`);
        assertSameMoments(await momentValues(t), before[i][1], `target ${i} moment`);
      }
    };
    // The params match; the checkpoint has a BNMoments the targets lack.
    for (const t of targets) {
      await rejectsWith(
        loadCheckpoint(path, t),
        `loadCheckpoint ${path}`,
        "does not match the model",
        "unexpected 1: extra.moments (BNMoments)",
      );
    }
    await unchanged();

    // A checkpoint lacking one of the model's BNMoments.
    await rewrite(path, (ts, md) => {
      md["denet.moments"] = JSON.stringify(["net.layers.1.moments", "extra.moments"]);
      return ts.filter((t) => !t.name.startsWith("net.layers.5.moments."));
    });
    for (const t of targets) {
      const err = await rejectsWith(
        loadCheckpoint(path, t, { strict: false }),
        "missing 1: net.layers.5.moments (BNMoments)",
      );
      assert.ok(!err.message.includes("unexpected"), "not strict: extra.moments is ignored");
    }
    await unchanged();

    // Wrong sizes and a dtype that does not fit.
    await Deno.writeFile(path, bytes);
    await rewrite(path, (ts) =>
      ts.map((t) => {
        if (t.name === "net.layers.1.moments.mean") {
          return { ...t, shape: [1, 5, 1, 1], data: new Float64Array(5) };
        }
        return t;
      }));
    for (const [i, t] of targets.entries()) {
      await rejectsWith(
        loadCheckpoint(path, t, { strict: false }),
        "mismatched 1: net.layers.1.moments.mean: model " +
          (i === 0 ? "[1,4,1,1]" : "C = 4 elements") + ", checkpoint [1,5,1,1]",
      );
    }
    await unchanged();
    await Deno.writeFile(path, bytes);
    await rewrite(
      path,
      (ts) =>
        ts.map((t) =>
          t.name.includes(".moments.") ? t : { ...t, dtype: "F32", data: Float32Array.from(t.data) }
        ),
    );
    const f32 = { net: bnNet(74, "cpu", "f32") };
    await rejectsWith(
      loadCheckpoint(path, f32, { strict: false }),
      "mismatched 4: net.layers.1.moments.mean: checkpoint F64 does not load into a model " +
        "whose params are f32 cpu",
      "net.layers.5.moments.var: checkpoint F64",
    );
    await Deno.writeFile(path, bytes);
    assert.ok(namedMoments(f32).every(([, m]) => m.mean === null && m.var === null));

    // Bad denet.moments metadata.
    await rewrite(path, (ts, md) => {
      md["denet.moments"] = "{";
      return ts;
    });
    await rejectsWith(loadCheckpoint(path, targets[0]), path, '"denet.moments" is not valid JSON');
    await Deno.writeFile(path, bytes);
    await rewrite(path, (ts, md) => {
      md["denet.moments"] = "[]";
      return ts;
    });
    await rejectsWith(
      loadCheckpoint(path, targets[0]),
      'tensor "net.layers.1.moments.mean" is neither a parameter nor',
    );
    await unchanged();

    // Finally the intact file loads (not strict) and the trained target evaluates as src.
    await Deno.writeFile(path, bytes);
    for (const t of targets) {
      await loadCheckpoint(path, t, { strict: false });
      assertExact(await infer(t.net, "cpu", "f64"), await infer(src, "cpu", "f64"), "loaded");
    }
  });
});

Deno.test("untrained (null) moments round trip as null; an old-layout file leaves them alone", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bn0.safetensors`;
    const src = bnNet(53, "cpu", "f64");
    await saveCheckpoint(path, src);
    const info = await readCheckpointInfo(path);
    assert.deepEqual(info.moments, []);
    const header = decodeSafetensors(await Deno.readFile(path), path);
    assert.equal(header.metadata["denet.moments"], '["layers.1.moments","layers.5.moments"]');
    const want = await infer(bnNet(53, "cpu", "f64"), "cpu", "f64"); // before src's first use

    const fresh = bnNet(75, "cpu", "f64");
    await loadCheckpoint(path, fresh);
    assert.ok(namedMoments(fresh).every(([, m]) => m.mean === null && m.var === null));
    assertExact(await infer(fresh, "cpu", "f64"), want, "fresh");

    // A trained model takes the untrained state: its statistics are disposed, made null.
    const trained = bnNet(76, "cpu", "f64");
    trainBn(trained, 86, "cpu", "f64");
    const old = namedMoments(trained).flatMap(([, m]) => [m.mean!, m.var!]);
    await loadCheckpoint(path, trained);
    assert.ok(namedMoments(trained).every(([, m]) => m.mean === null && m.var === null));
    assert.ok(old.every((t) => t.disposed));
    assertExact(await infer(trained, "cpu", "f64"), want, "reset");

    // A file without denet.moments restores no statistics and keeps the model's.
    const withStats = bnNet(77, "cpu", "f64");
    trainBn(withStats, 87, "cpu", "f64");
    const stats = await momentValues(withStats);
    await rewrite(path, (ts, md) => {
      delete md["denet.moments"];
      return ts;
    });
    await loadCheckpoint(path, withStats);
    assertSameMoments(await momentValues(withStats), stats, "kept");
  });
});
