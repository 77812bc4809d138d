/**
 * Hyperparameter search: Knet's goldensection (shifted quadratics in 1–4 dimensions, a
 * NaN-outside-a-box objective, the history cache, async f, bad options) and hyperband
 * (the paper's schedule for R = 81, η = 3; the best arm of a synthetic problem).
 */

import assert from "node:assert/strict";
import { goldensection, type HistoryEntry, hyperband, hyperbandSchedule } from "../src/tune/mod.ts";

const CENTERS = [[0.7], [-1.3, 2.2], [3.1, -0.4, 1.6], [-2.5, 0.35, 1.05, -0.8]];

Deno.test("goldensection finds shifted quadratics' minimisers in 1–4 dimensions within dxmin", async () => {
  for (const c of CENTERS) {
    const w = c.map((_, i) => i + 1);
    let evals = 0;
    const f = (x: number[]) => {
      evals++;
      return x.reduce((s, v, i) => s + w[i] * (v - c[i]) ** 2, 0);
    };
    const history: HistoryEntry[] = [];
    const { fmin, xmin } = await goldensection(f, c.length, { history });
    xmin.forEach((v, i) =>
      // dxmin plus the rounding of x (3.0000000000000004 is 0.1 from 3.1 in exact terms)
      assert.ok(
        Math.abs(v - c[i]) <= 0.1 + 1e-12,
        `n=${c.length}: x[${i}] = ${v}, want ${c[i]} ± 0.1`,
      )
    );
    assert.equal(fmin, f(xmin));
    evals--; // the check above
    assert.equal(evals, history.length, "each distinct point evaluated once");
    assert.ok(evals <= 40 * c.length, `n=${c.length}: ${evals} evaluations`);
  }
});

Deno.test("goldensection with an async f returning NaN outside the box |xᵢ| ≤ 2 finds the box's minimiser", async () => {
  // min of (x0 − 1.5)² + (x1 + 1.2)² inside the box; NaN outside.
  let evals = 0;
  const f = async (x: number[]) => {
    evals++;
    await new Promise((r) => setTimeout(r, 0));
    if (x.some((v) => Math.abs(v) > 2)) return NaN;
    return (x[0] - 1.5) ** 2 + (x[1] + 1.2) ** 2;
  };
  const { fmin, xmin } = await goldensection(f, 2, { dxmin: 0.05 });
  assert.ok(Math.abs(xmin[0] - 1.5) <= 0.05 && Math.abs(xmin[1] + 1.2) <= 0.05, `${xmin}`);
  assert.ok(Number.isFinite(fmin));
  assert.ok(evals <= 100, `${evals} evaluations`);
});

Deno.test("goldensection: the history caches repeated points (calls = distinct points)", async () => {
  // A 1-D bowl: the search revisits points (e.g. 0 after bouncing back), served from the
  // cache. Counted against the number of search steps.
  let calls = 0;
  const seen: number[] = [];
  const f = (x: number[]) => {
    calls++;
    seen.push(x[0]);
    return (x[0] - 0.3) ** 2;
  };
  const history: HistoryEntry[] = [];
  await goldensection(f, 1, { history, verbose: false });
  assert.equal(calls, history.length);
  assert.equal(new Set(seen.map((v) => v.toFixed(12))).size, calls, "no point evaluated twice");
  // From 0: +1 (worse: 0.49 > 0.09), then −0.618 (worse), then +0.382 (better), ...
  assert.deepEqual(history.slice(0, 3).map((h) => h.x[0]), [0, 1, -1 / 1.618033988749895]);
  // A second search sharing the history evaluates nothing new.
  const before = calls;
  const again = await goldensection(f, 1, { history });
  assert.equal(calls, before, "every point of the second search came from the cache");
  assert.ok(Math.abs(again.xmin[0] - 0.3) <= 0.1);
});

Deno.test("goldensection: bad n, dxmin or accel give an Error naming it", async () => {
  const f = (x: number[]) => x[0] ** 2;
  await assert.rejects(() => goldensection(f, 0), /goldensection: n must/);
  await assert.rejects(() => goldensection(f, 1, { dxmin: -1 }), /goldensection: dxmin/);
  await assert.rejects(() => goldensection(f, 1, { accel: 1 }), /goldensection: accel/);
});

Deno.test("hyperband's schedule equals Li et al.'s Table 1 (R = 81, η = 3)", () => {
  const table = hyperbandSchedule(81, 3).map((b) => b.rounds.map((r) => [r.n, r.r]));
  assert.deepEqual(table, [
    [[81, 1], [27, 3], [9, 9], [3, 27], [1, 81]],
    [[34, 3], [11, 9], [3, 27], [1, 81]],
    [[15, 9], [5, 27], [1, 81]],
    [[8, 27], [2, 81]],
    [[5, 81]],
  ]);
  assert.deepEqual(hyperbandSchedule().map((b) => [b.n, b.r]), [[27, 1], [12, 3], [6, 9], [4, 27]]);
  assert.throws(() => hyperbandSchedule(81, 1), /hyperband: reduction/);
  assert.throws(() => hyperbandSchedule(0, 3), /hyperband: maxresource/);
});

Deno.test("hyperband finds the best arm of a synthetic problem with known losses", async () => {
  // Arm k has final loss ℓ_k = 0.1 + |k − 37|/100 and loss ℓ_k + 1/r at resource r
  // (every arm improves with resource; arm 37 is best at every resource).
  let next = 0;
  const getconfig = () => ({ arm: (next++ * 29) % 100 }); // every arm, in a scrambled order
  const evals: [number, number][] = [];
  const getloss = async (c: { arm: number }, r: number) => {
    evals.push([c.arm, r]);
    await Promise.resolve();
    return 0.1 + Math.abs(c.arm - 37) / 100 + 1 / r + (c.arm === 13 ? NaN : 0);
  };
  const best = await hyperband(getconfig, getloss, 81, 3);
  const sched = hyperbandSchedule(81, 3);
  const drawn = sched.reduce((s, b) => s + b.n, 0);
  assert.equal(next, drawn, "configurations drawn = Σ brackets' n");
  assert.equal(evals.length, sched.reduce((s, b) => s + b.rounds.reduce((t, r) => t + r.n, 0), 0));
  assert.ok(drawn >= 100, "arm 37 was drawn");
  assert.equal(best.config!.arm, 37);
  assert.equal(best.resource, 81);
  assert.ok(Math.abs(best.loss - (0.1 + 1 / 81)) < 1e-15);
  // Successive halving promoted the best of each round: every resource-81 evaluation
  // of the first bracket is the best arm it drew.
  assert.ok(evals.some(([a, r]) => a === 37 && r === 81));
});
