/**
 * File helpers of the checkpoint writer: the atomic write (a temporary file beside the
 * target, fsync'd, renamed over it, then the directory fsync'd), the cleanup of
 * temporary files that killed writers left, and a process-liveness test for lock files.
 *
 * @module
 */

/** Splits a path into its directory (`.` when none) and its last component. */
export function dirAndBase(path: string): [dir: string, base: string] {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return cut < 0 ? [".", path] : [path.slice(0, cut) || "/", path.slice(cut + 1)];
}

/**
 * Whether process `pid` is alive on this machine: read from /proc where there is one;
 * without /proc, true (the caller then refuses rather than steals).
 */
export function processAlive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  try {
    Deno.statSync("/proc/self");
  } catch {
    return true; // no /proc: cannot tell
  }
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The temporary file names of `base` in its directory: `.<base>.<pid>.<uuid>.tmp`. */
function tempPattern(base: string): RegExp {
  return new RegExp(`^\\.${escapeRegExp(base)}\\.(?:(\\d+)\\.)?${UUID}\\.tmp$`);
}

/**
 * Removes the temporary files of `path` (see {@link writeAtomic}) whose writer process is
 * gone (killed inside a save); another live writer's file is left alone. Returns the
 * names removed.
 */
export async function removeStaleTemps(path: string): Promise<string[]> {
  const [dir, base] = dirAndBase(path);
  const re = tempPattern(base);
  const removed: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = e.isFile ? re.exec(e.name) : null;
      if (m === null) continue;
      const pid = m[1] === undefined ? NaN : Number(m[1]);
      if (Number.isInteger(pid) && processAlive(pid)) continue;
      try {
        await Deno.remove(`${dir}/${e.name}`);
        removed.push(e.name);
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    // an unreadable directory: the write below reports the real problem
  }
  return removed;
}

/**
 * Writes `bytes` to `path` atomically and durably: first removes stale temporary files
 * of `path` ({@link removeStaleTemps}), then writes `.<name>.<pid>.<uuid>.tmp` beside it,
 * fsyncs it, renames it over `path` and fsyncs the directory (where the platform allows).
 * On failure the temporary file is removed, an existing `path` is untouched, and the
 * Error says `op: cannot write ...`.
 */
export async function writeAtomic(path: string, bytes: Uint8Array, op: string): Promise<void> {
  const [dir, base] = dirAndBase(path);
  await removeStaleTemps(path);
  const tmp = `${dir}/.${base}.${Deno.pid}.${crypto.randomUUID()}.tmp`;
  try {
    const f = await Deno.open(tmp, { write: true, createNew: true });
    try {
      let off = 0;
      while (off < bytes.length) off += await f.write(bytes.subarray(off));
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    try {
      await Deno.remove(tmp);
    } catch {
      // the temporary file was never created (or is already gone)
    }
    throw new Error(`${op}: cannot write the checkpoint: ${(e as Error).message}`);
  }
  try {
    const d = await Deno.open(dir, { read: true });
    try {
      await d.sync();
    } finally {
      d.close();
    }
  } catch {
    // directories cannot be opened or synced on every platform; the rename is done
  }
}
