/**
 * `deno bench` for the kernels: GEMM at 256/512/1024/2048 (denet's register-blocked
 * kernel, the naive kernel as baseline, TensorFlow.js's WebGPU backend as peer),
 * elementwise and reductions against baseline kernels. Each iteration encodes several
 * launches and ends with one host sync; throughput (GFLOP/s, GB/s) per bench is printed
 * after Deno's table, from the same iterations.
 *
 * Run: `deno task bench` (a GPU adapter is required).
 */

import * as dn from "../internals.ts";
import { baselineBinary, baselineRowSum, baselineUnary } from "./baselines.ts";
import { ThroughputTable } from "./throughput.ts";
import { tfjsWebgpuAvailable, tfjsWebgpuMatmul } from "./peers/tfjs_webgpu.ts";

await dn.init({ device: "gpu" });
const rt = dn.gpuRuntime();
const haveTf = await tfjsWebgpuAvailable();

const table = new ThroughputTable(`throughput on ${rt.info.description}`);
const bench = table.bench.bind(table);

for (const n of [256, 512, 1024, 2048]) {
  const a = dn.randn([n, n], { device: "gpu" });
  const b = dn.randn([n, n], { device: "gpu" });
  const flops = 2 * n ** 3;
  const reps = Math.max(1, Math.round(2 ** 28 / flops));
  const iters = n >= 2048 ? 2 : 5;
  const group = `gemm ${n}x${n}x${n}`;
  bench(group, "naive kernel", {
    baseline: true,
    reps,
    n: n >= 1024 ? 1 : 3,
    work: flops,
    unit: "GFLOP/s",
  }, () => dn.gemm(a, b, { kernel: "gemm_naive" }));
  bench(
    group,
    "denet gemm",
    { reps, n: iters, work: flops, unit: "GFLOP/s" },
    () => dn.gemm(a, b, { kernel: "gemm" }),
  );
  if (haveTf) {
    Deno.bench({
      name: "tfjs-webgpu matMul",
      group,
      n: iters,
      async fn(bb) {
        bb.start();
        const r = await tfjsWebgpuMatmul(n, reps);
        bb.end();
        table.record(`${group} / tfjs-webgpu matMul`, "GFLOP/s", flops, reps, r.msPerIter * reps);
      },
    });
  }
}

const N = 1 << 22;
const x = dn.randn([N], { device: "gpu" });
const y = dn.randn([N], { device: "gpu" });
const two = dn.full([1], 2, { device: "gpu" });
bench("exp(x), 4M", "one element per invocation", {
  baseline: true,
  reps: 8,
  work: 8 * N,
  unit: "GB/s",
}, () => baselineUnary("exp", x));
bench("exp(x), 4M", "denet (vec4)", { reps: 8, work: 8 * N, unit: "GB/s" }, () => dn.exp(x));
bench(
  "x + y, 4M",
  "broadcast-index path",
  { baseline: true, reps: 8, work: 12 * N, unit: "GB/s" },
  () => baselineBinary("add", x, y),
);
bench("x + y, 4M", "denet (vec4)", { reps: 8, work: 12 * N, unit: "GB/s" }, () => dn.add(x, y));
bench(
  "x * 2, 4M",
  "broadcast-index path",
  { baseline: true, reps: 8, work: 8 * N, unit: "GB/s" },
  () => baselineBinary("mul", x, two),
);
bench(
  "x * 2, 4M",
  "denet (scalar operand, vec4)",
  { reps: 8, work: 8 * N, unit: "GB/s" },
  () => dn.mul(x, 2),
);

const rows = x.reshape(1024, N / 1024);
const flat = x.reshape(1, N);
bench("sum all, 4M", "naive (one invocation)", {
  baseline: true,
  reps: 4,
  work: 4 * N,
  unit: "GB/s",
}, () => baselineRowSum(flat));
bench("sum all, 4M", "denet", { reps: 4, work: 4 * N, unit: "GB/s" }, () => dn.sum(x));
bench("row sums [1024,4096]", "naive (one invocation per row)", {
  baseline: true,
  reps: 4,
  work: 4 * N,
  unit: "GB/s",
}, () => baselineRowSum(rows));
bench(
  "row sums [1024,4096]",
  "denet",
  { reps: 4, work: 4 * N, unit: "GB/s" },
  () => dn.sum(rows, 1),
);
