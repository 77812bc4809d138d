/**
 * The kernel report behind `deno run -A cli.ts bench`: GEMM GFLOP/s against the naive
 * kernel and TensorFlow.js's WebGPU backend on the same adapter, elementwise and
 * reduction GB/s against baseline kernels, all in one process run, plus the runtime's
 * counters (dispatches, submits, host syncs) for the whole report.
 *
 * Run directly: `deno run -A bench/report.ts [--quick]`.
 */

import * as dn from "../internals.ts";
import { counters, resetCounters } from "../internals.ts";
import { tfjsWebgpuAvailable, tfjsWebgpuMatmul } from "./peers/tfjs_webgpu.ts";
import { baselineBinary, baselineRowSum, baselineUnary } from "./baselines.ts";
import { gbps, gemmGflops, timeGpu } from "./timing.ts";

/** Options of {@link runKernelReport}. */
export interface ReportOptions {
  /** Fewer sizes and shorter timings (about a minute on a 2-core software adapter). */
  quick?: boolean;
}

function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => String(c).padStart(widths[i])).join("  ");
}

const fmt = (v: number | null) => (v === null ? "-" : v.toFixed(2));

/** Runs the report and prints it on stdout. */
export async function runKernelReport(opts: ReportOptions = {}): Promise<void> {
  const device = await dn.init({ device: "gpu" });
  const rt = dn.gpuRuntime();
  console.log(`denet kernel report on ${rt.info.description} (default device ${device})`);
  resetCounters();
  const minMs = opts.quick ? 200 : 500;

  // GEMM ----------------------------------------------------------------------------
  const sizes = opts.quick ? [256, 512, 1024] : [256, 512, 1024, 2048];
  const haveTf = await tfjsWebgpuAvailable();
  console.log("\nGEMM C = A·B, f32, square n×n (GFLOP/s; one sync per timed span)");
  const w = [6, 12, 12, 14, 12, 12];
  console.log(row(["n", "denet gemm", "naive", "tfjs-webgpu", "vs naive", "vs tfjs"], w));
  for (const n of sizes) {
    const a = dn.randn([n, n], { device: "gpu" });
    const b = dn.randn([n, n], { device: "gpu" });
    const ours = gemmGflops(
      n,
      n,
      n,
      (await timeGpu(() => dn.gemm(a, b, { kernel: "gemm" }), minMs)).ms,
    );
    // The naive kernel needs seconds per launch at 2048² on a software adapter: skip it there.
    const naive = n <= 1024
      ? gemmGflops(
        n,
        n,
        n,
        (await timeGpu(() => dn.gemm(a, b, { kernel: "gemm_naive" }), minMs)).ms,
      )
      : null;
    let tf: number | null = null;
    if (haveTf) {
      const iters = Math.max(1, Math.round((minMs * ours * 1e6) / (2 * n ** 3) / 1.5));
      tf = (await tfjsWebgpuMatmul(n, iters)).gflops;
    }
    console.log(row([
      n,
      fmt(ours),
      fmt(naive),
      haveTf ? fmt(tf) : "n/a",
      naive ? `${(ours / naive).toFixed(1)}×` : "-",
      tf ? `${(ours / tf).toFixed(2)}×` : "-",
    ], w));
    a.dispose();
    b.dispose();
  }

  // Elementwise ---------------------------------------------------------------------
  const n = opts.quick ? 1 << 20 : 1 << 22;
  console.log(`\nElementwise, n = ${n} f32 (GB/s of reads + writes)`);
  const we = [28, 10, 14, 9];
  console.log(row(["op", "denet", "baseline", "speedup"], we));
  const x = dn.randn([n], { device: "gpu" });
  const y = dn.randn([n], { device: "gpu" });
  const cases: [string, () => dn.Tensor, () => dn.Tensor, number][] = [
    ["exp(x)", () => dn.exp(x), () => baselineUnary("exp", x), 8 * n],
    ["relu(x)", () => dn.relu(x), () => baselineUnary("relu", x), 8 * n],
    ["x + y", () => dn.add(x, y), () => baselineBinary("add", x, y), 12 * n],
    [
      "x * 2",
      () => dn.mul(x, 2),
      () => baselineBinary("mul", x, dn.full([1], 2, { device: "gpu" })),
      12 * n,
    ],
  ];
  for (const [name, fast, slow, bytes] of cases) {
    const f = gbps(bytes, (await timeGpu(fast, minMs)).ms);
    const s = gbps(bytes, (await timeGpu(slow, minMs)).ms);
    console.log(row([name, fmt(f), fmt(s), `${(f / s).toFixed(2)}×`], we));
  }

  // Reductions ----------------------------------------------------------------------
  console.log(`\nReductions, ${n} f32 elements (GB/s of input read)`);
  console.log(row(["op", "denet", "naive", "speedup"], we));
  const rows = 1024;
  const mat = x.reshape(rows, n / rows);
  const colMat = x.reshape(n / rows, rows);
  const red: [string, () => dn.Tensor, (() => dn.Tensor) | null][] = [
    ["sum(x) (all)", () => dn.sum(x), () => baselineRowSum(x.reshape(1, n))],
    [`sum(x[${rows},${n / rows}], 1) (rows)`, () => dn.sum(mat, 1), () => baselineRowSum(mat)],
    [`sum(x[${n / rows},${rows}], 0) (cols)`, () => dn.sum(colMat, 0), null],
    [`softmax(x[${rows},${n / rows}])`, () => dn.softmax(mat), null],
    ["nrm2(x)", () => dn.nrm2(x), null],
  ];
  for (const [name, fast, slow] of red) {
    const f = gbps(4 * n, (await timeGpu(fast, minMs)).ms);
    const s = slow ? gbps(4 * n, (await timeGpu(slow, minMs)).ms) : null;
    console.log(row([name, fmt(f), fmt(s), s ? `${(f / s).toFixed(1)}×` : "-"], we));
  }
  for (const t of [x, y, mat, colMat]) t.dispose();
  const c = counters();
  console.log(
    `\ncounters for the whole report: ${c.dispatches} dispatches, ${c.submits} submits, ` +
      `${c.hostSyncs} host syncs, ${c.pipelinesCompiled} pipelines compiled`,
  );
}

if (import.meta.main) {
  await runKernelReport({ quick: Deno.args.includes("--quick") });
}
