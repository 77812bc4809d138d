/**
 * `cli.ts tune`: the flags of the hyperparameter-search job ({@link tuneMlp}), parsed
 * here so that cli.ts only dispatches to {@link tuneCommand}.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { init } from "../tensor/device.ts";
import { TUNE_METHODS, TUNE_MODELS, tuneMlp } from "./tune.ts";

/** `cli.ts tune --help`. */
export const TUNE_USAGE = `usage: deno run -A cli.ts tune [flags]

Tunes Knet's MNIST MLP (hidden size, SGD learning rate) and prints a table of the
configurations tried (hidden, lr, epochs, held-out loss and accuracy, seconds), then the
best one with its test accuracy.

  --model NAME       ${TUNE_MODELS.join("|")} (default mlp)
  --method NAME      ${TUNE_METHODS.join("|")} (required)
  --budget N         epochs per configuration (goldensection, default 3) or hyperband's
                     maxresource in epochs (default 9)
  --reduction N      hyperband's reduction η (default 3)
  --dxmin X          goldensection's smallest step (default 0.1)
  --seed N           seed of the weights, shuffles and draws (default 1)
  --device D         gpu|cpu (default: the GPU when there is one)
  --data DIR         directory with the MNIST IDX files (default: the download cache)
  --limit N          use the first N training images (default 60000)
  --val N            hold out the last N of them for the search (default 10000)
  --test-limit N     test on the first N test images only`;

/** Runs `tune` with its flags; returns the exit code (errors are thrown). */
export async function tuneCommand(args: string[]): Promise<number> {
  const flags = ["model", "method", "budget", "reduction", "seed", "device", "data", "limit"];
  const options = Object.fromEntries(
    flags.concat("val", "test-limit", "dxmin").map((k) => [k, { type: "string" as const }]),
  );
  const { values } = parseArgs({
    args,
    strict: true,
    options: { ...options, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(TUNE_USAGE);
    return 0;
  }
  const v = values as Record<string, string | undefined>;
  if (v.method === undefined) throw new Error(`tune needs --method ${TUNE_METHODS.join("|")}`);
  const int = (flag: string): number | undefined => {
    const s = v[flag];
    if (s === undefined) return undefined;
    if (!/^\d+$/.test(s.trim())) throw new Error(`--${flag} expects an integer, got '${s}'`);
    return Number(s);
  };
  const device = v.device ?? "auto";
  if (device !== "auto" && device !== "gpu" && device !== "cpu") {
    throw new Error(`--device must be gpu or cpu, got '${device}'`);
  }
  const cfg = {
    model: v.model,
    method: v.method,
    budget: int("budget"),
    reduction: int("reduction"),
    dxmin: v.dxmin === undefined ? undefined : Number(v.dxmin),
    seed: int("seed"),
    dataDir: v.data,
    limit: int("limit"),
    val: int("val"),
    testLimit: int("test-limit"),
    log: (line: string) => console.log(line),
  };
  console.log(`tune ${cfg.method} on ${await init({ device })}`);
  await tuneMlp(cfg);
  return 0;
}
