/**
 * `deno bench` for pooling (src/ops/pool.ts, kernels/pool.wgsl): max and average pooling
 * forward and backward on a LeNet-like [100,20,24,24] (window 2) and a VGG-like
 * [16,64,32,32] (window 2) batch, in GB/s = bytes read + written per launch / time.
 * Baselines in the same run: `clone` of a tensor moving the same number of bytes (a
 * plain copy: the memory-bandwidth reference) and the CPU twin (one launch per
 * iteration). Each GPU iteration encodes several launches and ends with one host sync;
 * GB/s per bench is printed after Deno's table, from the same iterations.
 *
 * Run: `XDG_RUNTIME_DIR=/tmp deno bench -A bench/pool_bench.ts` (a GPU adapter is required).
 */

import * as dn from "../mod.ts";
import { getOp, runOp } from "../src/ops/registry.ts";
import { clone } from "../src/ops/shape.ts";
import { pool, type PoolGeometry } from "../src/ops/pool.ts";

await dn.init({ device: "gpu" });
const rt = dn.gpuRuntime();

/** Bytes per launch and the measured launches/ms of each bench. */
const throughput = new Map<string, { bytes: number; launches: number; ms: number }>();

function bench(
  group: string,
  name: string,
  opts: { baseline?: boolean; reps: number; bytes: number; gpu?: boolean },
  launch: () => dn.Tensor,
): void {
  const key = `${group} / ${name}`;
  Deno.bench({
    name,
    group,
    baseline: opts.baseline,
    n: 10,
    warmup: 1,
    async fn(b) {
      b.start();
      const t0 = performance.now();
      for (let i = 0; i < opts.reps; i++) launch().dispose();
      if (opts.gpu !== false) await rt.sync();
      const ms = performance.now() - t0;
      b.end();
      const rec = throughput.get(key) ?? { bytes: opts.bytes, launches: 0, ms: 0 };
      rec.launches += opts.reps;
      rec.ms += ms;
      throughput.set(key, rec);
    },
  });
}

const poolGrad = getOp("pool_grad");

for (const [label, shape] of [["LeNet", [100, 20, 24, 24]], ["VGG", [16, 64, 32, 32]]] as const) {
  const [n, c, h, w] = shape;
  const size = n * c * h * w;
  const xc = dn.randn([...shape], { device: "cpu", rng: new dn.Rng(1) });
  const x = xc.gpu();
  const oh = h / 2, ow = w / 2;
  const osize = n * c * oh * ow;
  const dyc = dn.randn([n, c, oh, ow], { device: "cpu", rng: new dn.Rng(2) });
  const dy = dyc.gpu();
  // The copy baseline moves 2·m·4 bytes: m = half the bytes of the pooling being compared.
  const copyOf = (bytes: number) =>
    dn.randn([Math.round(bytes / 8)], { device: "cpu", rng: new dn.Rng(3) }).gpu();
  for (const mode of [0, 1] as const) {
    const kind = mode === 0 ? "max" : "avg";
    const g: PoolGeometry = {
      n,
      c,
      h,
      w,
      oh,
      ow,
      kh: 2,
      kw: 2,
      sh: 2,
      sw: 2,
      ph: 0,
      pw: 0,
      mode,
      scale: 1,
    };
    const fwdBytes = 4 * (size + osize);
    const fwd = `${label} [${shape}] ${kind} pool forward`;
    const fcopy = copyOf(fwdBytes);
    bench(
      fwd,
      "clone (same bytes)",
      { baseline: true, reps: 8, bytes: fwdBytes },
      () => clone(fcopy),
    );
    bench(fwd, "denet gpu", { reps: 8, bytes: fwdBytes }, () => pool(x, { mode }));
    bench(fwd, "cpu twin", { reps: 1, bytes: fwdBytes, gpu: false }, () => pool(xc, { mode }));
    // Backward reads dy and writes dx; max also reads x (its argmax is recomputed).
    const bwdBytes = 4 * (osize + size + (mode === 0 ? size : 0));
    const bwd = `${label} [${shape}] ${kind} pool backward`;
    const bcopy = copyOf(bwdBytes);
    bench(
      bwd,
      "clone (same bytes)",
      { baseline: true, reps: 8, bytes: bwdBytes },
      () => clone(bcopy),
    );
    bench(bwd, "denet gpu", { reps: 8, bytes: bwdBytes }, () => runOp(poolGrad, [x, dy], g));
    bench(
      bwd,
      "cpu twin",
      { reps: 1, bytes: bwdBytes, gpu: false },
      () => runOp(poolGrad, [xc, dyc], g),
    );
  }
}

globalThis.addEventListener("unload", () => {
  if (throughput.size === 0) return;
  console.log(`\npooling throughput on ${rt.info.description} (from the timed iterations):`);
  for (const [key, r] of throughput) {
    const perMs = (r.bytes * r.launches) / r.ms;
    console.log(`  ${key.padEnd(72)} ${(perMs / 1e6).toFixed(2).padStart(8)} GB/s`);
  }
});
