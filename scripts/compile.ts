/**
 * Builds denet's command line (cli.ts) into ONE executable file:
 * `deno run -A scripts/compile.ts [--output dist/denet] [--mode auto|compile|launcher]`.
 *
 * Two ways, picked by `--mode` (default `auto`):
 *
 * - `compile`: `deno compile -A --output <out> cli.ts`, a real Deno single-file binary.
 *   It needs Deno's `denort` base binary, which `deno compile` downloads from dl.deno.land
 *   unless the DENORT_BIN environment variable names a local copy. The WGSL kernels are
 *   text imports (src/gpu/kernels.ts), so they are embedded without `--include`.
 * - `launcher`: a self-extracting executable for hosts where denort is out of reach: a
 *   POSIX sh launcher followed by a gzip'd tar that holds the Deno runtime running this
 *   script (`Deno.execPath()`) and an esbuild bundle of the CLI (scripts/bundle.ts, the
 *   kernels inlined). On its first run the launcher unpacks the payload into
 *   `${XDG_CACHE_HOME:-$HOME/.cache}/denet/exe-<payload hash>/` (through a temporary
 *   directory and a rename, so concurrent first runs are safe), then every run `exec`s
 *   `deno run -A <bundle> <args>`: same arguments, same exit code. It needs nothing but
 *   sh, tail, gzip, tar, mkdir, mv and rm on the target, and no network.
 *
 * `auto` uses `compile` when DENORT_BIN is set or when `deno compile` succeeds (denort
 * reachable), and falls back to `launcher` when `deno compile` fails to fetch denort.
 * The mode used is printed.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { bundle } from "./bundle.ts";

/** How the executable was built. */
export type CompileMode = "compile" | "launcher";

/** What {@link compile} built. */
export interface CompileResult {
  /** The mode used. */
  mode: CompileMode;
  /** Absolute path of the executable. */
  output: string;
  /** Size of the executable in bytes. */
  bytes: number;
  /** Wall time of the build in milliseconds. */
  ms: number;
  /** Why `auto` fell back to the launcher (absent otherwise). */
  fallbackReason?: string;
}

/** Options of {@link compile}. */
export interface CompileOptions {
  /** Where to write the executable (default `dist/denet` under the repository). */
  output?: string;
  /** `auto` (default), `compile` (deno compile only) or `launcher` (self-extracting only). */
  mode?: "auto" | CompileMode;
  /** Progress messages (default: none). */
  log?: (msg: string) => void;
}

const ROOT = new URL("../", import.meta.url);
const ROOT_DIR = ROOT.pathname.replace(/\/$/, "");
const CLI = new URL("cli.ts", ROOT).pathname;

/** Absolute path of `p`, relative paths taken from the current directory. */
function absolute(p: string): string {
  return p.startsWith("/") ? p : `${Deno.cwd()}/${p}`;
}

/** `deno compile` failed because the denort base binary could not be fetched. */
function denortUnreachable(stderr: string): boolean {
  return /dl\.deno\.land|denort|Setting up base binary|error sending request/.test(stderr);
}

async function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** Runs `deno compile`; returns null on success, else its stderr. */
async function denoCompile(output: string): Promise<string | null> {
  const r = await run(
    Deno.execPath(),
    ["compile", "-A", "-q", "--output", output, CLI],
    { cwd: ROOT_DIR, env: { DENO_NO_UPDATE_CHECK: "1" } },
  );
  return r.code === 0 ? null : r.stderr;
}

/**
 * The bundle's entry: runs the CLI's exported `main` as cli.ts does when it is the main
 * module. In a bundle every module shares the entry's `import.meta`, so `import.meta.main`
 * blocks of other modules (bench/report.ts) would fire; the bundle has them all turned off
 * and this entry calls `main` itself.
 */
function entrySource(): string {
  return `import { main } from ${JSON.stringify(CLI)};
try {
  Deno.exit(await main(Deno.args));
} catch (e) {
  console.error(\`denet: \${e instanceof Error ? e.message : String(e)}\`);
  Deno.exit(1);
}
`;
}

/**
 * Post-processes the esbuild output: disables `import.meta.main` blocks and maps the bare
 * npm specifiers that stay dynamic imports (tfjs, loaded by `bench` inside a try, which
 * esbuild leaves unresolved) to their `npm:` specifiers from deno.json, since the bundle
 * runs without the project's config. The mapped specifier is a computed expression, so
 * Deno does not pre-load it at start-up: `info`, `train` and `eval` never touch the
 * network; `bench` fetches tfjs (or finds it in the Deno cache) when it runs.
 */
async function fixBundle(text: string): Promise<string> {
  let out = text.replaceAll("import.meta.main", "false");
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as {
    imports?: Record<string, string>;
  };
  for (const [key, target] of Object.entries(config.imports ?? {})) {
    if (!target.startsWith("npm:")) continue;
    // Not a string literal: Deno would otherwise fetch the package when the bundle starts.
    out = out.replaceAll(
      `import(${JSON.stringify(key)})`,
      `import(String(${JSON.stringify(target)}))`,
    );
  }
  const bare = [...out.matchAll(/\bimport\(\s*["']([^"'./][^"']*)["']\s*\)/g)]
    .map((m) => m[1])
    .filter((s) => !/^(node|npm|jsr|https?|file|data):/.test(s));
  if (bare.length > 0) {
    throw new Error(
      `compile: the bundle has unmapped bare dynamic imports ${bare.join(", ")}; add them to ` +
        `deno.json "imports" as npm: specifiers`,
    );
  }
  return out;
}

/** sh-quotes a string. */
function shq(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The POSIX sh header; the payload starts right after it, at byte `skip` (1-based). */
function launcherHeader(hash: string, skip: number): string {
  // Fixed width (trailing blanks) so that the header length does not depend on the value.
  const skipField = String(skip).padEnd(12, " ");
  return `#!/bin/sh
# denet: self-extracting executable built by scripts/compile.ts (launcher mode).
# After this script: a gzip'd tar of the Deno runtime (deno) and the bundled CLI
# (denet.js). The first run unpacks it into $XDG_CACHE_HOME/denet/exe-<hash>/ and every run
# execs: deno run -A denet.js "$@".
hash=${shq(hash)}
skip=${skipField}
: "\${XDG_RUNTIME_DIR:=/tmp}"
export XDG_RUNTIME_DIR
base="\${XDG_CACHE_HOME:-\${HOME:-/tmp}/.cache}/denet"
if ! mkdir -p "$base" 2>/dev/null || [ ! -w "$base" ]; then
  base="\${TMPDIR:-/tmp}/denet-cache-$(id -u)"
  mkdir -p "$base" || exit 1
fi
dir="$base/exe-$hash"
if [ ! -x "$dir/deno" ] || [ ! -f "$dir/denet.js" ]; then
  tmp="$base/.exe-$hash.tmp.$$"
  rm -rf "$tmp"
  mkdir "$tmp" || exit 1
  if ! tail -c "+$skip" "$0" 2>/dev/null | gzip -dc | tar -xf - -C "$tmp" ||
    [ ! -x "$tmp/deno" ] || [ ! -f "$tmp/denet.js" ]; then
    rm -rf "$tmp"
    echo "denet: cannot unpack $0 into $base" >&2
    exit 1
  fi
  # A published dir is always complete (rename is atomic): an incomplete one was damaged.
  if [ -d "$dir" ] && { [ ! -x "$dir/deno" ] || [ ! -f "$dir/denet.js" ]; }; then
    rm -rf "$dir"
  fi
  # Publish. If another first run won the race, mv puts tmp inside its dir: drop it.
  mv "$tmp" "$dir" 2>/dev/null
  rm -rf "$tmp" "$dir/\${tmp##*/}"
  if [ ! -x "$dir/deno" ] || [ ! -f "$dir/denet.js" ]; then
    echo "denet: cannot unpack $0 into $dir" >&2
    exit 1
  fi
fi
DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 DENO_NO_PACKAGE_JSON=1
export DENO_NO_UPDATE_CHECK DENO_NO_PROMPT DENO_NO_PACKAGE_JSON
DENET_PROGRAM="$(basename "$0")" exec "$dir/deno" run -A --no-config --no-lock "$dir/denet.js" "$@"
exit 127
`;
}

/** Builds the self-extracting executable at `output`. */
async function buildLauncher(output: string, log: (msg: string) => void): Promise<void> {
  const stage = await Deno.makeTempDir({ prefix: "denet-compile-" });
  try {
    const pkg = `${stage}/pkg`;
    await Deno.mkdir(pkg);
    const entry = `${stage}/entry.ts`;
    await Deno.writeTextFile(entry, entrySource());
    log("bundling cli.ts with esbuild");
    await bundle(entry, `${pkg}/denet.js`);
    await Deno.writeTextFile(
      `${pkg}/denet.js`,
      await fixBundle(await Deno.readTextFile(`${pkg}/denet.js`)),
    );
    log(`packing the Deno runtime ${Deno.execPath()} (deno ${Deno.version.deno})`);
    await Deno.copyFile(Deno.execPath(), `${pkg}/deno`);
    await Deno.chmod(`${pkg}/deno`, 0o755);
    const tar = await run("tar", ["-czf", `${stage}/payload.tgz`, "-C", pkg, "deno", "denet.js"]);
    if (tar.code !== 0) throw new Error(`compile: tar failed: ${tar.stderr}`);
    const payload = await Deno.readFile(`${stage}/payload.tgz`);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", payload));
    const hash = Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join(
      "",
    );
    // The header's length does not depend on the (fixed-width) skip value.
    const size = new TextEncoder().encode(launcherHeader(hash, 0)).length;
    const header = new TextEncoder().encode(launcherHeader(hash, size + 1));
    if (header.length !== size) throw new Error("compile: launcher header length changed");
    const tmpOut = `${output}.tmp-${Deno.pid}`;
    const file = await Deno.open(tmpOut, { write: true, create: true, truncate: true });
    try {
      for (const bytes of [header, payload]) {
        let off = 0;
        while (off < bytes.length) off += await file.write(bytes.subarray(off));
      }
    } finally {
      file.close();
    }
    await Deno.chmod(tmpOut, 0o755);
    await Deno.rename(tmpOut, output);
  } finally {
    await Deno.remove(stage, { recursive: true });
  }
}

/** Builds the executable of cli.ts; see the module documentation for the modes. */
export async function compile(opts: CompileOptions = {}): Promise<CompileResult> {
  const t0 = performance.now();
  const output = absolute(opts.output ?? `${ROOT_DIR}/dist/denet`);
  const mode = opts.mode ?? "auto";
  const log = opts.log ?? (() => {});
  if (!["auto", "compile", "launcher"].includes(mode)) {
    throw new Error(`compile: unknown mode '${mode}' (auto, compile or launcher)`);
  }
  await Deno.mkdir(output.slice(0, output.lastIndexOf("/")) || "/", { recursive: true });
  let used: CompileMode = "launcher";
  let fallbackReason: string | undefined;
  if (mode !== "launcher") {
    log(`deno compile -A --output ${output} cli.ts`);
    const err = await denoCompile(output);
    if (err === null) {
      used = "compile";
    } else if (mode === "auto" && !Deno.env.get("DENORT_BIN") && denortUnreachable(err)) {
      fallbackReason = "deno compile could not fetch the denort base binary " +
        "(dl.deno.land unreachable and DENORT_BIN unset)";
      log(`${fallbackReason}; building the self-extracting launcher instead`);
    } else {
      throw new Error(`compile: deno compile failed:\n${err}`);
    }
  }
  if (used === "launcher") await buildLauncher(output, log);
  const bytes = (await Deno.stat(output)).size;
  return { mode: used, output, bytes, ms: performance.now() - t0, fallbackReason };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { output: { type: "string", short: "o" }, mode: { type: "string" } },
    strict: true,
  });
  try {
    const r = await compile({
      output: values.output,
      mode: values.mode as CompileOptions["mode"],
      log: (m) => console.log(`compile: ${m}`),
    });
    const what = r.mode === "compile"
      ? "deno compile binary"
      : "self-extracting launcher (sh + Deno runtime + bundle)";
    console.log(
      `compile: mode=${r.mode}: ${what} -> ${r.output} ` +
        `(${(r.bytes / 2 ** 20).toFixed(1)} MiB, ${(r.ms / 1000).toFixed(1)} s)`,
    );
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(1);
  }
}
