/**
 * The RNN layer on the GPU against the same layer on the CPU (f32 both): outputs, final
 * states and every gradient, for each type, 2 layers, bidirectional, with and without
 * batchSizes; and the dispatches per time step, forward and backward, small and
 * independent of the sequence length, with no host sync and no GPU memory left behind.
 */

import assert from "node:assert/strict";
import * as dn from "../mod.ts";
import { RNN, Tensor } from "../mod.ts";
import { backendOf } from "../src/backend.ts";
import { assertClose, GPU_TEST, haveGpu } from "./_helpers.ts";

type Mode = "relu" | "tanh" | "lstm" | "gru";
const MODES: Mode[] = ["relu", "tanh", "lstm", "gru"];

function rand(n: number, seed: number, s = 1): Float32Array {
  const r = new dn.Rng(seed);
  return Float32Array.from({ length: n }, () => (2 * r.uniform() - 1) * s);
}

/** An f32 RNN on `device` with seeded random parameters (the same on both devices). */
function makeRnn(mode: Mode, device: "cpu" | "gpu", X: number, H: number, L: number, bi: boolean) {
  const r = new RNN(X, H, {
    rnnType: mode,
    numLayers: L,
    bidirectional: bi,
    device,
    rng: new dn.Rng(5),
  });
  let s = 40;
  for (const p of dn.params(r)) backendOf(device).write(p, 0, rand(p.size, s++, 0.5));
  return r;
}

/** f32 on two devices: the GEMMs sum in different orders. */
const TOL = { rtol: 1e-4, atol: 1e-5 };

Deno.test({
  name: "rnn gpu: outputs, final states and gradients equal the CPU's for every type",
  ...GPU_TEST,
  async fn() {
    if (!(await haveGpu())) return;
    const X = 5, H = 7, L = 2;
    for (const mode of MODES) {
      for (const packed of [false, true]) {
        const bs = packed ? [4, 3, 3, 1, 1] : [3, 3, 3, 3];
        const N = bs.reduce((a, b) => a + b, 0);
        const xv = rand(N * X, 1);
        const h0 = rand(L * 2 * bs[0] * H, 2, 0.5);
        const c0 = rand(L * 2 * bs[0] * H, 3, 0.5);
        const results: Float32Array[][] = [];
        for (const device of ["cpu", "gpu"] as const) {
          const r = makeRnn(mode, device, X, H, L, true);
          const up = (shape: number[], v: Float32Array) =>
            device === "gpu"
              ? new Tensor(shape, "f32", v.slice()).gpu()
              : new Tensor(shape, "f32", v.slice());
          const x = new dn.Param(up([N, X], xv));
          const hP = new dn.Param(up([2 * L, bs[0], H], h0));
          const cP = new dn.Param(up([2 * L, bs[0], H], c0));
          r.h = hP;
          if (mode === "lstm") r.c = cP;
          const J = dn.diff(() => {
            const y = r.forward(x, { batchSizes: bs });
            let loss = dn.add(dn.sum(dn.mul(y, y)), dn.sum(r.h as Tensor));
            if (mode === "lstm") loss = dn.add(loss, dn.sum(r.c as Tensor));
            return loss;
          });
          const outs = [J.value, r.h as Tensor, ...(mode === "lstm" ? [r.c as Tensor] : [])];
          const grads = [x, hP, ...dn.params(r)].map((p) => J.grad(p)!);
          if (mode === "lstm") grads.push(J.grad(cP)!);
          const host = await Promise.all(
            [...outs, ...grads].map(async (t) => Float32Array.from(await t.data())),
          );
          results.push(host);
          J.dispose();
          r.dispose();
        }
        const [cpu, gpu] = results;
        assert.equal(cpu.length, gpu.length);
        cpu.forEach((v, i) =>
          assertClose(gpu[i], v, TOL, `${mode} ${packed ? "batchSizes" : "fixed"} result ${i}`)
        );
      }
    }
  },
});

Deno.test({
  name: "rnn gpu: dispatches per time step are few and constant (forward and backward)",
  ...GPU_TEST,
  async fn() {
    if (!(await haveGpu())) return;
    for (const mode of MODES) {
      const X = 8, H = 8, B = 4;
      const r = makeRnn(mode, "gpu", X, H, 1, false);
      const count = (T: number) => {
        const x = new Tensor([T, B, X], "f32", rand(T * B * X, 9)).gpu();
        // warm-up: compile the pipelines outside the count
        dn.diff(() => dn.sum(r.forward(x))).dispose();
        dn.resetCounters();
        r.forward(x).dispose(); // forward alone (outside diff)
        const fwd = dn.counters().dispatches;
        dn.resetCounters();
        const J = dn.diff(() => dn.sum(r.forward(x))); // forward and backward
        for (const p of dn.params(r)) J.grad(p);
        const all = dn.counters().dispatches;
        const syncs = dn.counters().hostSyncs;
        J.dispose();
        x.dispose();
        return { fwd, bwd: all - fwd, syncs };
      };
      const a = count(5), b = count(15);
      const perStepF = (b.fwd - a.fwd) / 10, perStepB = (b.bwd - a.bwd) / 10;
      console.log(`${mode}: dispatches per time step forward ${perStepF}, backward ${perStepB}`);
      // forward: one GEMM (h·Rᵀ) + one fused cell; backward: one fused cell + one GEMM
      // (dh·R); at these sizes a GEMM is one dispatch.
      assert.equal(perStepF, 2, `${mode}: forward dispatches per step`);
      assert.equal(perStepB, 2, `${mode}: backward dispatches per step`);
      // the remaining dispatches do not depend on T: per-step counts are exact multiples
      const c = count(25);
      assert.equal(c.fwd - b.fwd, b.fwd - a.fwd, `${mode}: forward linear in T`);
      assert.equal(c.bwd - b.bwd, b.bwd - a.bwd, `${mode}: backward linear in T`);
      assert.equal(a.syncs + b.syncs + c.syncs, 0, `${mode}: no host sync`);
      r.dispose();
    }
  },
});

Deno.test({
  name: "rnn gpu: a training step leaves no GPU memory behind; kept states stay bounded",
  ...GPU_TEST,
  async fn() {
    if (!(await haveGpu())) return;
    const r = makeRnn("lstm", "gpu", 6, 6, 2, true);
    r.h = 0;
    r.c = 0;
    const x = new Tensor([4, 3, 6], "f32", rand(72, 3)).gpu();
    const step = () => {
      const J = dn.diff(() => dn.sum(r.forward(x)));
      for (const p of dn.params(r)) J.grad(p);
      J.dispose();
    };
    step();
    step();
    const before = dn.counters().liveBytes;
    for (let i = 0; i < 5; i++) step();
    assert.equal(dn.counters().liveBytes, before, "liveBytes flat across steps");
    x.dispose();
    r.dispose();
  },
});
