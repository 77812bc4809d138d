/**
 * The training API: minimize and the optimizer shorthands (updates, Param.opt, params),
 * progress (the bar's text, device-side loss sums and how often they are read back),
 * converge (Knet's stopping rule, exact on the CPU, bounded overshoot on the GPU) and
 * the data-stream helpers.
 */

import assert from "node:assert/strict";
import {
  adam,
  converge,
  counters,
  cycle,
  drain,
  formatBar,
  formatSpeed,
  formatTime,
  fromArray,
  limit,
  minimize,
  ncycle,
  Param,
  progress,
  type ProgressOutput,
  SGD,
  sgd,
  sum,
  type Tensor,
  zeros,
} from "../internals.ts";
import { mul, sub } from "../src/ops/math.ts";
import { assertClose, GPU_TEST, haveGpu } from "./_helpers.ts";

const EXACT = { rtol: 1e-12, atol: 1e-12 };

const gpu = await haveGpu();

/** f(w) = Σ (w − c)², one "batch" per item (the batch is unused). */
function quadratic(device: "cpu" | "gpu", dtype: "f32" | "f64" = "f32") {
  const w = new Param(fromArray([3, -1, 2], { shape: [3], device, dtype }));
  const c = fromArray([1, 1, 1], { shape: [3], device, dtype });
  const f = () => {
    const d = sub(w, c);
    return sum(mul(d, d));
  };
  return { w, c, f };
}

function tick(n: number, device: "cpu" | "gpu" = "cpu"): Tensor[] {
  return Array.from({ length: n }, () => zeros([1], { device }));
}

Deno.test("minimize: each step is Knet's update, the loss is yielded, Param.opt is a clone", async () => {
  const { w, f } = quadratic("cpu", "f64");
  const opt = new SGD({ lr: 0.1 });
  const losses: number[] = [];
  for (const loss of minimize(f, tick(3), opt)) losses.push((await loss.data())[0]);
  // w − c = [2,−2,1]; each SGD step multiplies it by (1 − 2·0.1) = 0.8.
  assertClose(losses, [9, 5.76, 3.6864], EXACT);
  assertClose(await w.data(), [1 + 2 * 0.512, 1 - 2 * 0.512, 1 + 0.512], EXACT);
  assert.ok(w.opt instanceof SGD && w.opt !== opt, "a clone is attached to the Param");
});

Deno.test("minimize: a Param with its own opt keeps it; `params` limits what is updated", async () => {
  const { w, f } = quadratic("cpu", "f64");
  const own = new SGD({ lr: 0.25 });
  w.opt = own;
  drain(sgd(f, tick(1), { lr: 0.1 }));
  assert.equal(w.opt, own);
  assert.deepEqual([...await w.data()], [2, 0, 1.5]); // lr 0.25: w − 0.25·2(w − c)
  const other = new Param(fromArray([5], { shape: [1], dtype: "f64" }));
  drain(sgd(() => sum(mul(other, w)), tick(1), { lr: 0.1, params: [other] }));
  assert.deepEqual([...await w.data()], [2, 0, 1.5], "w is not listed, so not updated");
  assert.equal((await other.data())[0], 5 - 0.1 * 3.5);
});

Deno.test("minimize: bad arguments are named", () => {
  assert.throws(() => minimize(null as never, []), /loss must be a function/);
  assert.throws(() => minimize(() => zeros([1]), 5 as never), /data must be an iterable/);
  assert.throws(
    () => minimize(() => zeros([1]), [], {} as never),
    /optimizer must be an Optimizer/,
  );
  assert.throws(() => drain(minimize(() => zeros([2]), tick(1))), /one-element|scalar|1 element/i);
});

Deno.test("iterators: ncycle, cycle and limit", () => {
  assert.deepEqual([...ncycle([1, 2], 3)], [1, 2, 1, 2, 1, 2]);
  assert.equal(ncycle(Object.assign([1, 2], {}), 3).length, 6);
  assert.deepEqual([...limit(cycle([1, 2, 3]), 7)], [1, 2, 3, 1, 2, 3, 1]);
  assert.deepEqual([...cycle([])], []);
  assert.equal(limit([1, 2, 3], 10).length, 3);
  assert.throws(() => ncycle([1], -1), /ncycle: n must be a non-negative integer/);
  assert.throws(() => limit([1], 1.5), /limit: n must be a non-negative integer/);
});

Deno.test("progress: Knet's bar, time and speed formats", () => {
  assert.equal(formatBar(0, 100), "┣ " + " ".repeat(19) + "┫");
  assert.equal(formatBar(100, 100), "┣" + "█".repeat(20) + "┫");
  // 903/1040: 17 full cells (cell = 52 steps), remainder 19 → floor(8·19/52) = 2 eighths.
  assert.equal(formatBar(903, 1040), "┣" + "█".repeat(17) + "▎" + "  ┫");
  assert.equal(formatTime(96), "01:36");
  assert.equal(formatTime(3725), "01:02:05");
  assert.equal(formatSpeed(9.421), "9.42i/s");
  assert.equal(formatSpeed(0.25), "4.00s/i");
});

Deno.test("progress: the mean loss is summed on the device; refreshes every `steps`", async () => {
  const { f } = quadratic("cpu", "f64");
  const lines: string[] = [];
  const output: ProgressOutput = { write: (s) => lines.push(s) };
  const data = Object.assign(tick(30), {});
  const p = await progress(sgd(f, data, { lr: 0.01 }), { output, steps: 10 }).run();
  // Reference losses: (w − c) shrinks by 0.98 per step from [2,−2,1], so loss_k = 9·0.98^(2k).
  const ref = Array.from({ length: 30 }, (_, k) => 9 * 0.98 ** (2 * k));
  const mean = ref.reduce((a, b) => a + b) / 30;
  assert.ok(Math.abs(p.meanLoss - mean) < 1e-12, `${p.meanLoss} vs ${mean}`);
  // As Knet: the bar is drawn at step 1 (nothing read yet), then every 10 steps from
  // there (11, 21) and at the end (the 9 steps 22..30).
  const last9 = ref.slice(21).reduce((a, b) => a + b) / 9;
  assert.ok(Math.abs(p.lastLoss - last9) < 1e-12, `${p.lastLoss} vs ${last9}`);
  assert.equal(p.reads, 3, "one read per refresh: steps 11, 21 and the end");
  assert.equal(p.curriter, 30);
  assert.match(lines[0], /^\r┣.{20}┫ \[3\.33%, 1\/30, 00:00\/\d\d:\d\d, [\d.]+(i\/s|s\/i)\] $/);
  assert.match(lines.at(-1)!, /^\r┣█{20}┫ \[100\.00%, 30\/30, .*\] loss [\d.]+ \(recent mean\)\n$/);
});

Deno.test({
  name: "progress: a GPU epoch without a bar reads the loss back once",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const { w, f } = quadratic("gpu");
    const before = counters().hostSyncs;
    const p = await progress(adam(f, tick(50), { lr: 0.05 }), { output: null }).run();
    assert.equal(counters().hostSyncs - before, 1);
    assert.equal(p.reads, 1);
    assert.ok(p.meanLoss > 0 && p.meanLoss < 9);
    w.dispose();
  },
});

/** Knet's converge rule on a host sequence: the 1-based step at which it stops, or 0. */
function knetStop(xs: number[], alpha: number): number {
  let avgx = Infinity;
  let avgp = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (avgx === Infinity) avgx = x;
    const p = x - avgx;
    avgx = alpha * x + (1 - alpha) * avgx;
    avgp = alpha * p + (1 - alpha) * avgp;
    if (avgp > 0) return i + 1;
  }
  return 0;
}

/** Falls, then rises: 10, 9, ..., 1, then 1.5, 2, 2.5, ... */
const VALLEY = [
  ...Array.from({ length: 10 }, (_, i) => 10 - i),
  ...Array.from({ length: 20 }, (_, i) => 1.5 + i / 2),
];

Deno.test("converge: stops where Knet's rule does (CPU: checked every step)", async () => {
  const expected = knetStop(VALLEY, 0.1);
  assert.ok(expected > 10 && expected < VALLEY.length);
  const c = converge(VALLEY.map((v) => fromArray([v], { shape: [1] })), { alpha: 0.1 });
  let n = 0;
  for await (const _ of c) n++;
  assert.equal(n, expected - 1, "as Knet, the item where the rule fires is not passed on");
  assert.equal(c.stoppedAt, expected);
  assert.ok(c.converged);
  const falling = converge(VALLEY.slice(0, 10).map((v) => fromArray([v], { shape: [1] })));
  await falling.run();
  assert.equal(falling.converged, false);
  assert.equal(falling.steps, 10);
  assert.throws(() => converge([], { alpha: 0 }), /alpha must be in \(0, 1\]/);
});

Deno.test({
  name: "converge: on the GPU the flag is read every `steps`; stoppedAt is exact",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const expected = knetStop(VALLEY, 0.1);
    const before = counters().hostSyncs;
    const c = converge(VALLEY.map((v) => fromArray([v], { shape: [1], device: "gpu" })), {
      alpha: 0.1,
      steps: 5,
    });
    await c.run();
    assert.equal(c.stoppedAt, expected);
    assert.equal(c.steps, Math.ceil(expected / 5) * 5, "stops at the first check after it");
    assert.equal(counters().hostSyncs - before, c.steps / 5);
  },
});
