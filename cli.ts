/**
 * denet's command line: `deno run -A cli.ts <command> [flags]`.
 *
 * Commands:
 *   info     the WebGPU adapter, its limits and features, and the default device
 *   bench    kernel benchmarks (GEMM, elementwise, reductions) with baselines and peers
 *
 * @module
 */

import { parseArgs } from "node:util";
import { init } from "./mod.ts";
import { gpuRuntime } from "./src/gpu/runtime.ts";

const USAGE = `usage: deno run -A cli.ts <command> [flags]

commands:
  info                 show the WebGPU adapter, limits, features and default device
  bench [--quick]      kernel benchmarks: GEMM GFLOP/s (vs a naive kernel and TensorFlow.js
                       WebGPU), elementwise and reduction GB/s (vs naive kernels)
  help                 this text`;

/** Runs the CLI with `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case "info":
      return await info(rest);
    case "bench":
      return await bench(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return 0;
    default:
      console.error(`denet: unknown command '${command}' (try: deno run -A cli.ts help)`);
      return 2;
  }
}

async function info(args: string[]): Promise<number> {
  parseArgs({ args, options: {}, strict: true });
  const device = await init();
  console.log(`default device: ${device}`);
  if (device !== "gpu") {
    console.log("no WebGPU adapter found (install a Vulkan driver, e.g. mesa-vulkan-drivers)");
    return 0;
  }
  const { info } = gpuRuntime();
  console.log(
    `adapter:  ${info.description}${info.isFallbackAdapter ? " (fallback/software)" : ""}`,
  );
  console.log(`vendor:   ${info.vendor || "-"}  architecture: ${info.architecture || "-"}`);
  console.log(`features: ${info.features.join(", ") || "-"}`);
  console.log("limits:");
  for (const [k, v] of Object.entries(info.limits)) console.log(`  ${k.padEnd(36)} ${v}`);
  return 0;
}

async function bench(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { quick: { type: "boolean" } }, strict: true });
  const { runKernelReport } = await import("./bench/report.ts");
  await runKernelReport({ quick: values.quick ?? false });
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`denet: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
