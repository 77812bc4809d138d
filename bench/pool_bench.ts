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

import * as dn from "../internals.ts";
import { getOp, runOp } from "../src/ops/registry.ts";
import { clone } from "../src/ops/shape.ts";
import { pool, type PoolGeometry } from "../src/ops/pool.ts";
import { ThroughputTable } from "./throughput.ts";

await dn.init({ device: "gpu" });
const rt = dn.gpuRuntime();

const table = new ThroughputTable(`pooling throughput on ${rt.info.description}`);
/** Pooling benches count bytes read and written. */
const bench = (
  group: string,
  name: string,
  opts: { baseline?: boolean; reps: number; bytes: number; gpu?: boolean },
  launch: () => dn.Tensor,
) => table.bench(group, name, { ...opts, work: opts.bytes, unit: "GB/s" }, launch);

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
