/**
 * Bundles an entry point (default mod.ts) with esbuild into one ES module, the WGSL
 * kernels inlined as text: `deno run -A scripts/bundle.ts [entry] [outfile]`.
 */

import * as esbuild from "esbuild";

/** Bundles `entry` into `outfile` (ESM, kernels inlined). */
export async function bundle(entry: string, outfile: string): Promise<void> {
  try {
    await esbuild.build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      loader: { ".wgsl": "text" },
      // Node built-ins (node:crypto, node:path, ...) are provided by Deno at run time.
      external: ["node:*"],
      logLevel: "error",
    });
  } finally {
    await esbuild.stop();
  }
}

if (import.meta.main) {
  const [entry = "mod.ts", outfile = "dist/denet.js"] = Deno.args;
  await bundle(entry, outfile);
  console.log(`bundled ${entry} -> ${outfile}`);
}
