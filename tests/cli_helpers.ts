/**
 * Running `cli.ts` as a user does, in a subprocess, for the CLI tests. Not a test file
 * itself (no `_test` suffix).
 */

/** The CLI's path. */
export const CLI = new URL("../cli.ts", import.meta.url).pathname;

/** What a CLI run printed and its exit code. */
export interface CliRun {
  /** Exit code. */
  code: number;
  /** Standard output. */
  out: string;
  /** Standard error. */
  err: string;
}

/** Runs `deno run -A cli.ts ...args` with XDG_RUNTIME_DIR set (Mesa wants one). */
export async function cli(...args: string[]): Promise<CliRun> {
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: p.code, out: dec.decode(p.stdout), err: dec.decode(p.stderr) };
}

/** stderr without Mesa's driver chatter. */
export function errorLines(err: string): string[] {
  return err.split("\n").filter((l) => l.trim() !== "" && !/MESA|XDG_RUNTIME_DIR/.test(l));
}
