/**
 * The recurrent layer's speed: one LSTM layer 256 → 256 (CharLM's), batch 128, over T
 * time steps (default 100), forward alone and forward + backward (`diff` and every
 * Param's gradient), on the CPU backend and, when an adapter is present, on the GPU.
 * Prints milliseconds per time step, the GEMM rate that implies, and the GPU's
 * dispatches per time step and host syncs.
 *
 * Run: `deno run -A bench/rnn_layer.ts [--T 100] [--reps 2]`.
 */

import { parseArgs } from "node:util";
import * as dn from "../internals.ts";
import { gpuRuntime } from "../src/gpu/runtime.ts";

/** One device's figures. */
export interface RnnLayerTiming {
  device: dn.DeviceName;
  /** Forward alone, ms per time step. */
  forwardMs: number;
  /** Forward + backward, ms per time step. */
  trainMs: number;
  /** GFLOP/s of the layer's GEMMs in forward + backward. */
  gflops: number;
  /** GPU dispatches per time step, forward + backward (0 on the CPU). */
  dispatchesPerStep: number;
  /** Host syncs per forward + backward (GPU). */
  syncs: number;
}

async function finish(device: dn.DeviceName): Promise<void> {
  if (device === "gpu") await gpuRuntime().sync();
}

/** Times the layer on `device` (the best of `reps` runs of each kind). */
export async function timeRnnLayer(
  device: dn.DeviceName,
  T = 100,
  reps = 2,
  B = 128,
  H = 256,
): Promise<RnnLayerTiming> {
  const rng = new dn.Rng(1);
  const r = new dn.RNN(H, H, { device, rng });
  const x = dn.mul(dn.randn([T, B, H], { device, rng }), 0.5);
  const ps = dn.params(r);
  const train = () => {
    const J = dn.diff(() => dn.sum(r.forward(x)));
    for (const p of ps) J.grad(p);
    J.dispose();
  };
  // warm-up (pipelines, pools)
  r.forward(x).dispose();
  train();
  await finish(device);
  let forwardMs = Infinity, trainMs = Infinity;
  for (let i = 0; i < reps; i++) {
    let t0 = performance.now();
    r.forward(x).dispose();
    await finish(device);
    forwardMs = Math.min(forwardMs, (performance.now() - t0) / T);
    t0 = performance.now();
    train();
    await finish(device);
    trainMs = Math.min(trainMs, (performance.now() - t0) / T);
  }
  dn.resetCounters();
  train();
  const c = dn.counters();
  await finish(device);
  x.dispose();
  r.dispose();
  // GEMM work per step: forward x·Wᵀ and h·Rᵀ; backward dX, dh, dW, dR: 6 of 2·B·4H·H
  const flops = 6 * 2 * B * 4 * H * H;
  return {
    device,
    forwardMs,
    trainMs,
    gflops: flops / (trainMs * 1e6),
    dispatchesPerStep: device === "gpu" ? c.dispatches / T : 0,
    syncs: c.hostSyncs,
  };
}

/** Runs the benchmark on every device present and prints a table. */
export async function runRnnLayerBench(T: number, reps: number): Promise<RnnLayerTiming[]> {
  const devices: dn.DeviceName[] = ["cpu"];
  try {
    await dn.init({ device: "gpu" });
    dn.setDefaultDevice("cpu");
    devices.push("gpu");
  } catch (e) {
    console.warn(`rnn_layer: no GPU (${(e as Error).message}); CPU only`);
  }
  console.log(`LSTM 256→256, batch 128, T ${T}: ms per time step (best of ${reps})`);
  const rows: RnnLayerTiming[] = [];
  for (const d of devices) {
    const t = await timeRnnLayer(d, T, reps);
    rows.push(t);
    console.log(
      `${d.padEnd(4)} forward ${t.forwardMs.toFixed(2)} ms  forward+backward ${
        t.trainMs.toFixed(2)
      } ms  (${t.gflops.toFixed(1)} GFLOP/s)` +
        (d === "gpu"
          ? `  dispatches/step ${t.dispatchesPerStep.toFixed(2)}, host syncs ${t.syncs}`
          : ""),
    );
  }
  return rows;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { T: { type: "string", default: "100" }, reps: { type: "string", default: "2" } },
  });
  await runRnnLayerBench(Number(values.T), Number(values.reps));
}
