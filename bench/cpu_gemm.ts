/**
 * CPU GEMM benchmark: f32 GFLOP/s of denet's CPU backend `matmul` (WebAssembly SIMD on all
 * cores, after `init({ device: "cpu" })`) at n×n×n, beside TensorFlow.js' WASM `matMul`
 * (loaded as in `bench/peers/tfjs_train.ts`; one core, SIMD) and PyTorch's `torch.mm`
 * (Debian's python3-torch in a subprocess, as many threads as cores; skipped with a note
 * where torch is missing) in the same run, and each as a fraction of the machine's 128-bit
 * SIMD peak: cores × GHz × 4 f32 lanes × 2 flops per FMA × FMA units per core (2 on current
 * x86). GHz is measured (a dependent multiply-add chain of known latency, see
 * {@link measureGhz}: the turbo clock the kernels run at) unless `--ghz` gives it;
 * /proc/cpuinfo's nominal "cpu MHz" is printed beside it.
 *
 * Each size: a warm-up multiply, then `--reps` timed reps (each one multiply, or several for
 * small sizes so that a rep lasts ≥ ~20 ms), the median reported. denet's and tfjs' timings
 * include reading the product back (`await data()`), the honest end of a CPU op.
 *
 * Run: `deno run -A bench/cpu_gemm.ts [--sizes 256,1024,2048] [--reps 5] [--fma-units 2]
 *   [--ghz G] [--no-torch] [--no-tfjs] [--json FILE]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { cpuRuntime } from "../src/cpu/runtime.ts";
import { matmul } from "../src/ops/matmul.ts";
import { randn } from "../src/tensor/create.ts";
import { init } from "../src/tensor/device.ts";
import { loadTfjs } from "./peers/tfjs_train.ts";
import { torchEval, torchInfo } from "./peers/torch_train.ts";

/** How the peak was computed. */
export interface Peak {
  /** Logical cores (navigator.hardwareConcurrency). */
  cores: number;
  /** Clock in GHz. */
  ghz: number;
  /** Where the clock came from. */
  ghzSource: string;
  /** FMA units per core. */
  fmaUnits: number;
  /** cores × GHz × 4 × 2 × fmaUnits. */
  gflops: number;
}

/** One size's measurements (GFLOP/s; null where that framework did not run). */
export interface GemmRow {
  /** n of the n×n×n product. */
  n: number;
  /** denet CPU backend. */
  denet: number;
  /** tfjs-wasm. */
  tfjsWasm: number | null;
  /** PyTorch torch.mm. */
  torch: number | null;
}

/** The whole run, as written by `--json`. */
export interface GemmResult {
  /** The peak and how it was computed. */
  peak: Peak;
  /** One entry per size. */
  rows: GemmRow[];
  /** Skipped peers and other remarks. */
  notes: string[];
}

/** The mean "cpu MHz" of /proc/cpuinfo in GHz, or null when it has none. */
export function cpuinfoGhz(text: string): number | null {
  const mhz = [...text.matchAll(/^cpu MHz\s*:\s*([\d.]+)/gm)].map((m) => Number(m[1]));
  return mhz.length ? mhz.reduce((a, b) => a + b, 0) / mhz.length / 1000 : null;
}

/** The 128-bit SIMD f32 peak (see the module doc). */
export function simdPeak(cores: number, ghz: number, fmaUnits: number, ghzSource: string): Peak {
  return { cores, ghz, ghzSource, fmaUnits, gflops: cores * ghz * 4 * 2 * fmaUnits };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median GFLOP/s of `run` (one n×n×n product, awaited) over `reps` reps after a warm-up. */
async function measure(n: number, reps: number, run: () => Promise<void>): Promise<number> {
  const flops = 2 * n * n * n;
  let t = performance.now();
  await run();
  const once = Math.max(performance.now() - t, 1e-3);
  const inner = Math.max(1, Math.min(100, Math.ceil(20 / once)));
  const rates: number[] = [];
  for (let r = 0; r < reps; r++) {
    t = performance.now();
    for (let i = 0; i < inner; i++) await run();
    rates.push((flops * inner) / ((performance.now() - t) / 1000) / 1e9);
  }
  return median(rates);
}

/** torch.mm GFLOP/s per size (median of `reps`, warm-up first), from one python subprocess. */
async function torchGemm(sizes: number[], reps: number): Promise<Record<string, number>> {
  const code = [
    "import json, os, time, statistics, torch",
    "torch.set_num_threads(os.cpu_count())",
    "out = {}",
    `for n in ${JSON.stringify(sizes)}:`,
    "    a = torch.randn(n, n); b = torch.randn(n, n); torch.mm(a, b)",
    "    t = time.perf_counter(); torch.mm(a, b); once = max(time.perf_counter() - t, 1e-6)",
    "    inner = max(1, min(100, int(0.02 / once) + 1)); rates = []",
    `    for r in range(${reps}):`,
    "        t = time.perf_counter()",
    "        for i in range(inner): torch.mm(a, b)",
    "        rates.append(2 * n**3 * inner / (time.perf_counter() - t) / 1e9)",
    "    out[str(n)] = statistics.median(rates)",
    "print(json.dumps(out))",
  ].join("\n");
  return await torchEval<Record<string, number>>(code);
}

/** Options of {@link runGemm}. */
export interface GemmOptions {
  /** Sizes n (default 256, 1024, 2048). */
  sizes?: number[];
  /** Timed reps per size (default 5). */
  reps?: number;
  /** FMA units per core (default 2). */
  fmaUnits?: number;
  /** Clock in GHz (default: /proc/cpuinfo). */
  ghz?: number;
  /** Run tfjs-wasm (default true). */
  tfjs?: boolean;
  /** Run PyTorch (default true). */
  torch?: boolean;
}

/**
 * The cores' running clock in GHz: the CPU kernels' `clock_probe` runs a dependent chain
 * x = x·v + 1 (a 3-cycle integer multiply and a 1-cycle add on current x86); the best of
 * three timed runs of 2·10⁸ steps.
 */
export function measureGhz(): number {
  const probe = cpuRuntime().kernels.clock_probe as unknown as (n: number, v: bigint) => bigint;
  probe(1e6, 3n);
  let best = 0;
  for (let r = 0; r < 3; r++) {
    const n = 2e8;
    const t0 = performance.now();
    probe(n, 3n);
    best = Math.max(best, (4 * n) / ((performance.now() - t0) * 1e6));
  }
  return best;
}

/** Measures every size with every framework (see the module doc). */
export async function runGemm(opts: GemmOptions = {}): Promise<GemmResult> {
  const sizes = opts.sizes ?? [256, 1024, 2048];
  const reps = opts.reps ?? 5;
  const notes: string[] = [];
  let ghz = opts.ghz ?? null;
  let source = "--ghz";
  let nominal: number | null = null;
  try {
    nominal = cpuinfoGhz(await Deno.readTextFile("/proc/cpuinfo"));
  } catch {
    nominal = null;
  }
  if (ghz === null) {
    // the clock the cores run at (turbo included), which is what the kernels see
    ghz = measureGhz();
    source = "measured: a dependent multiply-add chain, 4 cycles a step";
  }
  if (nominal !== null) {
    notes.push(`/proc/cpuinfo's nominal clock is ${nominal.toFixed(3)} GHz`);
  }
  const peak = simdPeak(navigator.hardwareConcurrency, ghz, opts.fmaUnits ?? 2, source);
  await init({ device: "cpu" });
  const tf = opts.tfjs === false ? null : (await loadTfjs("wasm")).tf;
  if (opts.tfjs !== false && !tf) notes.push("tfjs-wasm skipped: did not load");
  let torch: Record<string, number> | null = null;
  if (opts.torch !== false) {
    const { info, reason } = await torchInfo();
    if (!info) notes.push(`pytorch skipped: ${reason}`);
    else {
      notes.push(
        `PyTorch ${info.torch}, ${info.threads} threads, BLAS_INFO ${info.blas}, ` +
          `BLAS loaded: ${info.blasLibrary}`,
      );
      torch = await torchGemm(sizes, reps);
    }
  }
  const rows: GemmRow[] = [];
  for (const n of sizes) {
    const a = randn([n, n], { device: "cpu" });
    const b = randn([n, n], { device: "cpu" });
    const denet = await measure(n, reps, async () => {
      const c = matmul(a, b);
      await c.data();
      c.dispose();
    });
    a.dispose();
    b.dispose();
    let tfjsWasm: number | null = null;
    if (tf) {
      const ta = tf.randomNormal([n, n]);
      const tb = tf.randomNormal([n, n]);
      tfjsWasm = await measure(n, reps, async () => {
        const c = tf.matMul(ta, tb);
        await c.data();
        c.dispose();
      });
      ta.dispose();
      tb.dispose();
    }
    rows.push({ n, denet, tfjsWasm, torch: torch ? torch[String(n)] : null });
  }
  return { peak, rows, notes };
}

/** The result as text: how the peak was computed, then a markdown table. */
export function gemmReport(r: GemmResult): string {
  const p = r.peak;
  const cell = (g: number | null) =>
    g === null ? "—" : `${g.toFixed(1)} (${((100 * g) / p.gflops).toFixed(0)}%)`;
  return [
    `Peak (128-bit SIMD f32) = ${p.cores} cores × ${p.ghz.toFixed(3)} GHz (${p.ghzSource}) × ` +
    `4 lanes × 2 flops/FMA × ${p.fmaUnits} FMA units/core = ${p.gflops.toFixed(1)} GFLOP/s`,
    "",
    "| n | denet cpu GFLOP/s (% peak) | tfjs-wasm GFLOP/s (% peak) | pytorch GFLOP/s (% peak) |",
    "| --- | --- | --- | --- |",
    ...r.rows.map((x) => `| ${x.n} | ${cell(x.denet)} | ${cell(x.tfjsWasm)} | ${cell(x.torch)} |`),
    "",
    ...r.notes.map((n) => `- ${n}`),
  ].join("\n");
}

/** The command line (see the module doc); prints with `print` and returns the result. */
export async function main(
  args: string[],
  print: (line: string) => void = console.log,
): Promise<GemmResult> {
  const { values } = parseArgs({
    args,
    options: {
      sizes: { type: "string" },
      reps: { type: "string" },
      "fma-units": { type: "string" },
      ghz: { type: "string" },
      "no-torch": { type: "boolean", default: false },
      "no-tfjs": { type: "boolean", default: false },
      json: { type: "string" },
    },
  });
  const num = (name: string, s: string | undefined, int: boolean) => {
    if (s === undefined) return undefined;
    const x = Number(s);
    if (!(x > 0) || (int && !Number.isInteger(x))) {
      throw new Error(`cpu_gemm: --${name} must be a positive ${int ? "integer" : "number"}`);
    }
    return x;
  };
  const sizes = values.sizes?.split(",").map((s) => num("sizes", s.trim(), true)!);
  const result = await runGemm({
    sizes,
    reps: num("reps", values.reps, true),
    fmaUnits: num("fma-units", values["fma-units"], true),
    ghz: num("ghz", values.ghz, false),
    tfjs: !values["no-tfjs"],
    torch: !values["no-torch"],
  });
  print(gemmReport(result));
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(result, null, 2) + "\n");
  return result;
}

if (import.meta.main) {
  await main(Deno.args);
  Deno.exit(0);
}
