/**
 * Where datasets live on disk.
 *
 * A dataset's directory is resolved in this order:
 *
 * 1. the loader's explicit `dir` option (used as is: the files sit directly in it);
 * 2. `$DENET_DATA/<dataset>` when the `DENET_DATA` environment variable is set
 *    (e.g. `DENET_DATA=/data` gives `/data/mnist` for MNIST);
 * 3. `${XDG_CACHE_HOME or ~/.cache}/denet/<dataset>`.
 *
 * @module
 */

import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** A directory given as a path or a `file:` URL. */
export type DirLike = string | URL;

function env(name: string): string | undefined {
  try {
    const v = Deno.env.get(name);
    return v === undefined || v === "" ? undefined : v;
  } catch {
    return undefined; // no env permission: behave as if unset
  }
}

/**
 * Converts a path or `file:` URL to a plain path string.
 *
 * @param p a path or a `file:` URL
 * @returns the path
 */
export function toPath(p: DirLike): string {
  if (p instanceof URL) {
    if (p.protocol !== "file:") {
      throw new Error(`toPath: expected a file: URL, got ${p.href}`);
    }
    return fileURLToPath(p);
  }
  if (p.startsWith("file:")) return fileURLToPath(p);
  return p;
}

/**
 * The directory of a dataset (see the module doc for the order).
 *
 * @param dataset the dataset's folder name, e.g. `"mnist"`, `"housing"`, `"text"`
 * @param dir an explicit directory, used as is when given
 * @returns an absolute path (it may not exist yet)
 */
export function dataDir(dataset: string, dir?: DirLike): string {
  if (dataset === "" || /[/\\]/.test(dataset)) {
    throw new Error(`dataDir: invalid dataset name "${dataset}"`);
  }
  if (dir !== undefined) return resolve(toPath(dir));
  const root = env("DENET_DATA");
  if (root !== undefined) return resolve(root, dataset);
  const xdg = env("XDG_CACHE_HOME");
  const cache = xdg !== undefined && isAbsolute(xdg) ? xdg : join(homeDir(), ".cache");
  return join(cache, "denet", dataset);
}

function homeDir(): string {
  const h = env("HOME") ?? env("USERPROFILE");
  if (h !== undefined) return h;
  try {
    return homedir();
  } catch {
    throw new Error(
      "dataDir: cannot find a home directory for the dataset cache; set DENET_DATA or pass dir",
    );
  }
}
