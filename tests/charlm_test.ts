// CharLM (issue 13): BPTT windows, the held-out split, the model, training, sampling and
// checkpoints, on small texts so that each test takes seconds.

import assert from "node:assert/strict";
import { CharLM } from "../src/app/charlm.ts";
import { loadCharLM, readCharLMJob, saveCharLM } from "../src/app/charlm_checkpoint.ts";
import { charlmLoss, trainCharLM } from "../src/app/charlm_train.ts";
import { drawIndex, sample } from "../src/app/generate.ts";
import { gcheck } from "../src/autograd/gcheck.ts";
import { bptt, splitHeldOut } from "../src/data/bptt.ts";
import { charCorpus } from "../src/data/text.ts";
import { saveCheckpoint } from "../src/io/checkpoint.ts";
import { fill } from "../src/ops/vector.ts";
import { fromArray } from "../src/tensor/create.ts";
import { init } from "../src/tensor/device.ts";
import type { Tensor } from "../src/tensor/tensor.ts";
import { Rng } from "../src/tensor/random.ts";
import { assertClose, GPU_TEST, haveGpu } from "./_helpers.ts";
import { tempDir } from "./data_helpers.ts";

await init({ device: "cpu" });

/** A text whose next character is fully determined by the current one. */
const CYCLE = charCorpus("abcd\n".repeat(400));

Deno.test("bptt: B streams of ⌊(n−1)/B⌋ tokens, read T steps at a time, targets shifted by one", () => {
  const data = Int32Array.from({ length: 50 }, (_, i) => i);
  const w = bptt(data, 3, 4); // streams of 16 inputs: 4 windows
  assert.equal(w.streamLength, 16);
  assert.equal(w.length, 4);
  for (let k = 0; k < w.length; k++) {
    const { x, y } = w.window(k);
    for (let t = 0; t < 4; t++) {
      for (let b = 0; b < 3; b++) {
        assert.equal(x[t * 3 + b], b * 16 + k * 4 + t, `x window ${k} t ${t} b ${b}`);
        assert.equal(y[t * 3 + b], x[t * 3 + b] + 1);
      }
    }
  }
  // The last window of each stream continues where the previous one stopped.
  assert.deepEqual([...w.window(1).x.subarray(0, 3)], [4, 20, 36]);
  assert.equal([...w].length, 4);
});

Deno.test("bptt: tensors are [T,B] inputs and [T·B] labels, released as the loop advances", () => {
  const w = bptt(Int32Array.from({ length: 29 }, (_, i) => i % 7), 2, 5);
  const seen: [Tensor, Tensor][] = [];
  for (const pair of w.tensors()) {
    assert.deepEqual(pair[0].shape, [5, 2]);
    assert.deepEqual(pair[1].shape, [10]);
    for (const s of seen) assert.ok(s[0].disposed && s[1].disposed, "the previous pair is freed");
    seen.push(pair);
  }
  assert.equal(seen.length, w.length);
  assert.ok(seen.every(([x, y]) => x.disposed && y.disposed), "the last pair is freed at the end");
  assert.equal(w.tensors().length, 2);
});

Deno.test("bptt and splitHeldOut: bad input is named", () => {
  const d = new Int32Array(10);
  assert.throws(() => bptt(d, 0, 3), /batch must be a positive integer, got 0/);
  assert.throws(() => bptt(d, 2, 1.5), /seqLength must be a positive integer/);
  assert.throws(() => bptt(d, 4, 3), /10 tokens make no window of 3 steps × 4 streams/);
  assert.throws(() => bptt([1, 2, 3] as unknown as Int32Array, 1, 1), /Int32Array/);
  assert.throws(() => splitHeldOut(d, 1), /fraction must be in \(0, 1\)/);
  assert.throws(() => splitHeldOut(new Int32Array(3)), /too few/);
});

Deno.test("splitHeldOut: the last 10% of the characters are held out, the rest trains", () => {
  const d = Int32Array.from({ length: 1000 }, (_, i) => i);
  const { train, heldOut } = splitHeldOut(d);
  assert.equal(train.length, 900);
  assert.equal(heldOut.length, 100);
  assert.equal(train[899], 899);
  assert.equal(heldOut[0], 900);
});

Deno.test("CharLM: scores [T·B, vocab]; the initial loss is about ln(vocab); gradients pass gcheck in f64", async () => {
  const V = CYCLE.vocab.length;
  const m = new CharLM(CYCLE.vocab, { embed: 3, hidden: 4, rng: new Rng(3), dtype: "f64" });
  const x = fromArray([[0, 1], [2, 3], [4, 0]], { dtype: "f64" }); // [T=3, B=2]
  const y = fromArray([2, 3, 4, 0, 0, 1], { dtype: "f64" });
  const s = m.forward(x);
  assert.deepEqual(s.shape, [6, V]);
  s.dispose();
  m.reset();
  const l0 = await m.loss(x, y).item();
  assert.ok(Math.abs(l0 - Math.log(V)) < 0.5, `initial loss ${l0} vs ln ${V}`);
  const ok = await gcheck(
    () => {
      m.reset(); // every evaluation from the zero state
      return m.loss(x, y);
    },
    m,
    { nsample: 20, atol: 1e-6, rtol: 1e-4, delta: 1e-6 },
  );
  assert.ok(ok, "CharLM gradients agree with central differences");
  m.dispose();
});

Deno.test("CharLM: the LSTM state carries from window to window until reset", () => {
  const m = new CharLM(CYCLE.vocab, { embed: 4, hidden: 5, rng: new Rng(1) });
  const x = fromArray([[0, 1]]);
  m.forward(x).dispose();
  const h = m.rnn.h;
  assert.ok(h !== null && h !== 0, "a final state is kept");
  assert.deepEqual((h as Tensor).shape, [1, 2, 5]);
  m.reset();
  assert.equal(m.rnn.h, 0);
  assert.equal(m.rnn.c, 0);
  assert.throws(
    () => m.forward(fromArray([0, 1])),
    /CharLM: x must be \[T, B\] token ids, got \[2\]/,
  );
  assert.throws(() => new CharLM(["a"]), /at least 2 characters/);
  m.dispose();
});

Deno.test("trainCharLM: learns a deterministic text to a held-out loss near 0; sample reproduces it", async () => {
  const { train, heldOut } = splitHeldOut(CYCLE.data);
  const m = new CharLM(CYCLE.vocab, { embed: 8, hidden: 16, rng: new Rng(2) });
  const before = await charlmLoss(m, heldOut, { batch: 4, seqLength: 10 });
  const reports = await trainCharLM(m, train, heldOut, {
    epochs: 8,
    batch: 4,
    seqLength: 10,
    lr: 0.02,
    progressOutput: null,
  });
  assert.equal(reports.length, 8);
  assert.deepEqual(reports.map((r) => r.epoch), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(reports[0].steps, Math.floor(Math.floor((train.length - 1) / 4) / 10));
  const last = reports.at(-1)!;
  assert.ok(before > 1.2, `untrained held-out loss ${before}`);
  assert.ok(last.heldOutLoss < 0.05, `held-out loss after training ${last.heldOutLoss}`);
  assert.ok(
    Math.abs(last.heldOutLoss - await charlmLoss(m, heldOut, { batch: 4, seqLength: 10 })) < 1e-6,
  );
  // Greedy (temperature 0) generation continues the cycle.
  assert.equal(await sample(m, "ab", 12, { temperature: 0 }), "cd\nabcd\nabcd");
  // The same seed draws the same text; the state is reset between calls.
  const a = await sample(m, "a", 40, { temperature: 1.5, seed: 7 });
  assert.equal(await sample(m, "a", 40, { temperature: 1.5, seed: 7 }), a);
  assert.equal(a.length, 40);
  m.dispose();
});

Deno.test("trainCharLM: stepsPerEpoch limits the windows; a diverged run is reported", async () => {
  const m = new CharLM(CYCLE.vocab, { embed: 4, hidden: 4, rng: new Rng(5) });
  const [r] = await trainCharLM(m, CYCLE.data, null, {
    batch: 2,
    seqLength: 5,
    stepsPerEpoch: 3,
    progressOutput: null,
  });
  assert.equal(r.steps, 3);
  assert.ok(Number.isNaN(r.heldOutLoss));
  await assert.rejects(
    trainCharLM(m, CYCLE.data, null, { batch: 2, seqLength: 5, epochs: 0 }),
    /epochs must be a positive integer, got 0/,
  );
  fill(m.out.w, NaN);
  await assert.rejects(
    trainCharLM(m, CYCLE.data, null, {
      batch: 2,
      seqLength: 5,
      stepsPerEpoch: 2,
      progressOutput: null,
    }),
    /epoch 1: the training loss is NaN: the run diverged/,
  );
  m.dispose();
});

Deno.test("drawIndex: softmax(scores / temperature) sampling by inverse CDF; temperature 0 is argmax", () => {
  // Probabilities 1/4 and 3/4.
  const s = [0, Math.log(3)];
  assert.equal(drawIndex(s, 1, 0.24), 0);
  assert.equal(drawIndex(s, 1, 0.26), 1);
  // Temperature 2 flattens: p0 = 1/(1+√3) ≈ 0.366.
  assert.equal(drawIndex(s, 2, 0.36), 0);
  assert.equal(drawIndex(s, 2, 0.37), 1);
  assert.equal(drawIndex([1, 5, 5, 2], 0, 0.99), 1);
  assert.throws(() => drawIndex([0, NaN], 1, 0.5), /score 1 is NaN/);
});

Deno.test("sample: bad input is named", async () => {
  const m = new CharLM(CYCLE.vocab, { embed: 4, hidden: 4, rng: new Rng(5) });
  await assert.rejects(sample(m, "aZ", 3), /character "Z" at position 1 of the prime is not in/);
  await assert.rejects(sample(m, "", 3), /prime text must be a non-empty string/);
  await assert.rejects(sample(m, "a", -1), /n must be a non-negative integer/);
  await assert.rejects(
    sample(m, "a", 3, { temperature: -1 }),
    /temperature must be a finite number ≥ 0/,
  );
  m.dispose();
});

Deno.test("CharLM checkpoints: round trip, vocabulary kept, non-finite weights refused, other files named", async () => {
  using tmp = tempDir();
  const path = `${tmp.dir}/charlm.safetensors`;
  const m = new CharLM(CYCLE.vocab, { embed: 6, hidden: 7, rng: new Rng(9) });
  await saveCharLM(path, m, { epoch: 3, heldOutLoss: 1.25 });
  const { model, job } = await loadCharLM(path);
  assert.deepEqual(job.vocab, CYCLE.vocab);
  assert.deepEqual([job.embed, job.hidden, job.epoch, job.heldOutLoss], [6, 7, 3, 1.25]);
  const x = fromArray([[0, 1], [2, 3]]);
  assertClose(await model.forward(x).data(), await m.forward(x).data(), { rtol: 0, atol: 0 });
  // NaN weights never replace a good file.
  const before = await Deno.readFile(path);
  fill(m.rnn.weights[0][0].R, NaN);
  await assert.rejects(saveCharLM(path, m, { epoch: 4, heldOutLoss: NaN }), /finite|NaN/);
  assert.deepEqual(await Deno.readFile(path), before);
  // A checkpoint that is not a CharLM's.
  const other = `${tmp.dir}/other.safetensors`;
  await saveCheckpoint(other, { w: m.out.w });
  await assert.rejects(readCharLMJob(other), /not a CharLM checkpoint \(no charlm.job metadata\)/);
  m.dispose();
  model.dispose();
});

Deno.test({
  name: "CharLM on the GPU follows the CPU run (same weights, same windows, 3 Adam steps)",
  ignore: !(await haveGpu()),
  ...GPU_TEST,
  fn: async () => {
    const run = async (device: "cpu" | "gpu") => {
      const m = new CharLM(CYCLE.vocab, { embed: 9, hidden: 13, rng: new Rng(4), device });
      const r = await trainCharLM(m, CYCLE.data, CYCLE.data.subarray(0, 300), {
        batch: 5,
        seqLength: 7,
        stepsPerEpoch: 3,
        epochs: 2,
        lr: 0.01,
        progressOutput: null,
      });
      const text = await sample(m, "a", 20, { temperature: 0.5 });
      m.dispose();
      return { r, text };
    };
    const cpu = await run("cpu");
    const gpu = await run("gpu");
    cpu.r.forEach((c, i) => {
      assertClose([gpu.r[i].trainLoss, gpu.r[i].heldOutLoss], [c.trainLoss, c.heldOutLoss], {
        rtol: 1e-4,
        atol: 1e-5,
      }, `epoch ${c.epoch}`);
    });
    assert.equal(gpu.text, cpu.text);
  },
});
