/**
 * `--save` checked before training starts (issue 16): the directory exists and is
 * writable, the target is not a file other than a `cli.ts train` checkpoint, an existing
 * checkpoint is replaced only when the run resumes it or with `--force`, and a lock file
 * (`.<name>.lock` beside the target) refuses a second run saving to the same path while
 * the first is alive. A lock left by a killed run is taken over (its process is gone).
 * Nothing on disk changes when a check fails.
 *
 * @module
 */

import { readCheckpointInfo } from "../io/checkpoint.ts";
import { dirAndBase, processAlive } from "../io/files.ts";
import { CHARLM_JOB_KEY, JOB_KEY } from "./resume.ts";

/** What {@link checkSaveTarget} needs to know about the run. */
export interface SaveIntent {
  /** The `--save` path. */
  save: string;
  /** The `--resume` path, if any. */
  resume?: string;
  /** `--force`: replace an existing checkpoint that the run does not resume. */
  force?: boolean;
}

async function realPath(path: string): Promise<string | null> {
  try {
    return await Deno.realPath(path);
  } catch {
    return null;
  }
}

/**
 * Throws an Error naming `--save` and the problem when the run must not save to
 * `intent.save`; reads only (nothing is created or changed).
 */
export async function checkSaveTarget(intent: SaveIntent): Promise<void> {
  const { save } = intent;
  const [dir] = dirAndBase(save);
  let dirInfo: Deno.FileInfo;
  try {
    dirInfo = await Deno.stat(dir);
  } catch {
    throw new Error(`--save ${save}: the directory ${dir} does not exist`);
  }
  if (!dirInfo.isDirectory) throw new Error(`--save ${save}: ${dir} is not a directory`);
  if (dirInfo.mode !== null && Deno.uid() !== 0 && Deno.uid() === dirInfo.uid) {
    if ((dirInfo.mode & 0o200) === 0) {
      throw new Error(`--save ${save}: the directory ${dir} is not writable`);
    }
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(save);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw new Error(`--save ${save}: ${(e as Error).message}`);
  }
  if (!info.isFile) throw new Error(`--save ${save}: the path exists and is not a file`);
  let isJob = false;
  try {
    const meta = (await readCheckpointInfo(save)).metadata;
    isJob = meta[JOB_KEY] !== undefined || meta[CHARLM_JOB_KEY] !== undefined;
  } catch {
    isJob = false;
  }
  if (!isJob) {
    throw new Error(
      `--save ${save}: the file exists and is not a checkpoint of cli.ts train; refusing to ` +
        "replace it (choose another path)",
    );
  }
  if (intent.force) return;
  if (intent.resume !== undefined && (await realPath(intent.resume)) === (await realPath(save))) {
    return;
  }
  throw new Error(
    `--save ${save}: a checkpoint is already there; pass --resume ${save} to continue it or ` +
      "--force to replace it",
  );
}

/** The lock file of a save target: `.<name>.lock` in its directory. */
export function lockPath(save: string): string {
  const [dir, base] = dirAndBase(save);
  return `${dir}/.${base}.lock`;
}

/** A held save lock; {@link SaveLock.release} removes it. */
export interface SaveLock {
  /** The lock file. */
  path: string;
  /** Removes the lock file (idempotent). */
  release(): void;
}

/**
 * Takes the lock of `save` (creates `.<name>.lock` holding this process id). Throws when
 * another live process holds it; a lock whose process is gone (a killed run) is replaced.
 */
export async function acquireSaveLock(save: string): Promise<SaveLock> {
  const path = lockPath(save);
  const mine = `${Deno.pid}\n`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await Deno.writeTextFile(path, mine, { createNew: true });
      let released = false;
      return {
        path,
        release() {
          if (released) return;
          released = true;
          try {
            Deno.removeSync(path);
          } catch {
            // already gone
          }
        },
      };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) {
        throw new Error(
          `--save ${save}: cannot create the lock file ${path}: ${(e as Error).message}`,
        );
      }
    }
    let holder = NaN;
    try {
      holder = Number.parseInt(await Deno.readTextFile(path), 10);
    } catch {
      // removed meanwhile: try again
    }
    if (Number.isInteger(holder) && holder !== Deno.pid && processAlive(holder)) {
      throw new Error(
        `--save ${save}: another run (process ${holder}) is saving to this path (lock file ` +
          `${path}); wait for it to end or choose another path`,
      );
    }
    try {
      await Deno.remove(path); // stale: its run was killed
    } catch {
      // removed meanwhile
    }
  }
  throw new Error(`--save ${save}: cannot take the lock file ${path} (another run races for it)`);
}
