/**
 * `deno bench` for convolution: conv4 forward + backward (y, dx and dw) GFLOP/s on the
 * LeNet layer shapes and a VGG-like 3×3 layer, denet's im2col + GEMM path against the
 * naive direct kernels (kernels/conv_naive.wgsl, one output per invocation) in the same
 * run (baseline). GFLOP/s are printed after Deno's table; flops = 3 · 2·N·O·(C/g)·kH·kW·Ho·Wo
 * (forward, dx and dw each one such product).
 *
 * `deno run -A bench/conv_bench.ts` prints the same GFLOP/s as a plain table (through
 * {@link convThroughput}, also usable from other scripts).
 *
 * Measured on llvmpipe (2 cores, Mesa software Vulkan), fwd+bwd GFLOP/s, im2col+GEMM vs
 * naive: LeNet conv1 0.23 vs 0.22, LeNet conv2 2.2 vs 0.27, VGG 3×3 4.0 vs 0.39.
 *
 * Run: `deno task bench` (a GPU adapter is required).
 *
 * @module
 */

import * as dn from "../internals.ts";
import { conv4, type ConvOptions } from "../src/ops/conv.ts";
import { ThroughputTable } from "./throughput.ts";

/** One benchmarked layer. */
export interface ConvLayer {
  /** Label. */
  name: string;
  /** x shape [N,C,H,W]. */
  x: number[];
  /** w shape [O,C/g,kH,kW]. */
  w: number[];
  /** conv4 options. */
  opts: ConvOptions;
}

/** The layers: LeNet's two convolutions and a VGG-like 3×3 layer. */
export const LAYERS: ConvLayer[] = [
  {
    name: "LeNet conv1 x[100,1,28,28] w[20,1,5,5]",
    x: [100, 1, 28, 28],
    w: [20, 1, 5, 5],
    opts: {},
  },
  {
    name: "LeNet conv2 x[100,20,12,12] w[50,20,5,5]",
    x: [100, 20, 12, 12],
    w: [50, 20, 5, 5],
    opts: {},
  },
  {
    name: "VGG 3x3 x[16,64,32,32] w[64,64,3,3] pad 1",
    x: [16, 64, 32, 32],
    w: [64, 64, 3, 3],
    opts: { padding: 1 },
  },
];

/** Flops of one forward + backward (y, dx, dw) of a layer. */
export function convFlops(l: ConvLayer): number {
  const y = conv4(
    dn.zeros(l.w, { device: "cpu" }),
    dn.zeros([1, ...l.x.slice(1)], { device: "cpu" }),
    l.opts,
  );
  const [O, Cg, kH, kW] = l.w;
  return 3 * 2 * l.x[0] * O * Cg * kH * kW * y.shape[2] * y.shape[3];
}

/** Encodes one forward + backward pass on the GPU (no host sync). */
export function convStep(w: dn.Param, x: dn.Param, opts: ConvOptions): void {
  const J = dn.diff(() => dn.sum(conv4(w, x, opts)));
  J.dispose();
}

/**
 * Times fwd+bwd for each layer and algorithm (one warm-up, then `reps` passes and one
 * sync) and returns GFLOP/s; GPU must be initialised.
 */
export async function convThroughput(
  reps = 2,
): Promise<{ layer: string; algo: string; gflops: number }[]> {
  const rt = dn.gpuRuntime();
  const out: { layer: string; algo: string; gflops: number }[] = [];
  for (const l of LAYERS) {
    const w = new dn.Param(dn.randn(l.w, { device: "gpu" }));
    const x = new dn.Param(dn.randn(l.x, { device: "gpu" }));
    for (const algo of ["naive", "im2col"] as const) {
      convStep(w, x, { ...l.opts, algo });
      await rt.sync();
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) convStep(w, x, { ...l.opts, algo });
      await rt.sync();
      const ms = (performance.now() - t0) / reps;
      out.push({ layer: l.name, algo, gflops: convFlops(l) / (ms * 1e6) });
    }
    w.dispose();
    x.dispose();
  }
  return out;
}

await dn.init({ device: "gpu" });

if (import.meta.main) {
  // `deno run -A bench/conv_bench.ts`: a printed table without Deno's bench runner.
  for (const r of await convThroughput()) {
    console.log(`${r.layer.padEnd(48)} ${r.algo.padEnd(8)} ${r.gflops.toFixed(2)} GFLOP/s`);
  }
} else {
  const rt = dn.gpuRuntime();
  const table = new ThroughputTable(`conv4 forward+backward throughput on ${rt.info.description}`);
  for (const l of LAYERS) {
    const w = new dn.Param(dn.randn(l.w, { device: "gpu" }));
    const x = new dn.Param(dn.randn(l.x, { device: "gpu" }));
    for (const algo of ["naive", "im2col"] as const) {
      table.bench(
        l.name,
        algo === "naive" ? "naive direct kernel" : "denet im2col+gemm",
        { baseline: algo === "naive", reps: 1, n: 2, work: convFlops(l), unit: "GFLOP/s" },
        () => convStep(w, x, { ...l.opts, algo }),
      );
    }
  }
}
