/**
 * The `train.job` metadata of a `cli.ts train` checkpoint: its validation (before
 * anything changes, like the tensors are validated) and what `--resume` does with each
 * flag given beside it (issue 16: every flag is applied or refused, never ignored).
 *
 * @module
 */

import { MODEL_NAMES } from "../models.ts";
import { MAX_SEED } from "../tensor/random.ts";

/** The checkpoint metadata key holding the job's state. */
export const JOB_KEY = "train.job";

/** The metadata key of a `cli.ts train --model charlm` checkpoint (src/app/charlm_checkpoint.ts). */
export const CHARLM_JOB_KEY = "charlm.job";

/** What a checkpoint records about the job, to resume or evaluate it. */
export interface JobState {
  /** One of the model names of src/models.ts. */
  model: string;
  /** mnist or fashion. */
  dataset: string;
  /** The optimizer's command-line name. */
  optimizer: string;
  /** The learning rate given (null: the optimizer's default). */
  lr: number | null;
  /** Minibatch size. */
  batch: number;
  /** The seed of the run. */
  seed: number;
  /** Epochs done (≥ 1). */
  epoch: number;
  /** The training-set limit (null: all of it). */
  limit: number | null;
  /** The global generator's state after the epoch ({@link Rng.getState}). */
  rng: (number | null)[];
}

const KEYS = ["model", "dataset", "optimizer", "lr", "batch", "seed", "epoch", "limit", "rng"];

const positiveInt = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 1;

/**
 * Parses and validates `train.job` metadata of the checkpoint `path` (`raw` undefined
 * when the key is absent): a JSON object with exactly the {@link JobState} keys, each of
 * its type and range (`datasets`, `optimizers`: the names the job knows). Throws one
 * Error naming the file and every bad field.
 */
export function parseJobState(
  raw: string | undefined,
  path: string,
  datasets: readonly string[],
  optimizers: readonly string[],
): JobState {
  if (raw === undefined) {
    throw new Error(`${path}: not a checkpoint of cli.ts train (no ${JOB_KEY} metadata)`);
  }
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new Error(`${path}: the ${JOB_KEY} metadata is not valid JSON`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new Error(`${path}: the ${JOB_KEY} metadata must be a JSON object, got ${raw}`);
  }
  const j = v as Record<string, unknown>;
  const bad: string[] = [];
  const need = (ok: boolean, key: string, what: string) => {
    if (!ok) bad.push(`${key} ${JSON.stringify(j[key]) ?? "missing"} (expected ${what})`);
  };
  const oneOf = (key: string, names: readonly string[]) =>
    need(names.includes(j[key] as string), key, `one of ${names.join(", ")}`);
  oneOf("model", MODEL_NAMES);
  oneOf("dataset", datasets);
  oneOf("optimizer", optimizers);
  need(
    j.lr === null || (typeof j.lr === "number" && j.lr > 0 && Number.isFinite(j.lr)),
    "lr",
    "null or a positive number",
  );
  need(positiveInt(j.batch), "batch", "a positive integer");
  need(
    Number.isInteger(j.seed) && (j.seed as number) >= 0 && (j.seed as number) <= MAX_SEED,
    "seed",
    `an integer in [0, ${MAX_SEED}]`,
  );
  need(positiveInt(j.epoch), "epoch", "a positive integer (epochs done)");
  need(j.limit === null || positiveInt(j.limit), "limit", "null or a positive integer");
  const rng = j.rng as unknown[];
  need(
    Array.isArray(rng) && rng.length === 5 &&
      rng.slice(0, 4).every((w) =>
        Number.isInteger(w) && (w as number) >= 0 && (w as number) < 2 ** 32
      ) &&
      rng.slice(0, 4).some((w) => w !== 0) && (rng[4] === null || typeof rng[4] === "number"),
    "rng",
    "4 non-zero 32-bit words and a spare",
  );
  for (const k of Object.keys(j)) if (!KEYS.includes(k)) bad.push(`unknown key ${k}`);
  if (bad.length > 0) {
    throw new Error(`${path}: the ${JOB_KEY} metadata is invalid: ${bad.join("; ")}`);
  }
  return j as unknown as JobState;
}

/** The flags `--resume` compares with the checkpoint (must be equal when given). */
export interface ResumeFlags {
  model?: string;
  dataset?: string;
  optimizer?: string;
  batch?: number;
  seed?: number;
  limit?: number;
  solver?: string;
}

/**
 * Refuses the flags given with `--resume` that contradict the checkpoint's job: a model,
 * dataset, optimizer, batch size, seed or limit other than the saved one (a flag not
 * given takes the saved value), and `--solver` (a checkpoint continues the minibatch
 * loop). The learning rate is not compared: a given one is applied (see the caller).
 * Returns the job's settings with the given flags.
 */
export function resumeSettings(
  state: JobState,
  flags: ResumeFlags,
  path: string,
): Required<Omit<ResumeFlags, "solver" | "limit">> & { limit?: number } {
  if (flags.solver !== undefined) {
    throw new Error(`--resume ${path}: --solver cannot continue a minibatch-loop checkpoint`);
  }
  const given: [keyof JobState, unknown][] = [
    ["model", flags.model],
    ["dataset", flags.dataset],
    ["optimizer", flags.optimizer],
    ["batch", flags.batch],
    ["seed", flags.seed],
    ["limit", flags.limit],
  ];
  for (const [k, v] of given) {
    if (v !== undefined && state[k] !== v) {
      throw new Error(
        `--resume ${path}: the checkpoint was trained with ${k} ${JSON.stringify(state[k])}, ` +
          `not ${JSON.stringify(v)} (leave --${k} out to keep it)`,
      );
    }
  }
  return {
    model: state.model,
    dataset: state.dataset,
    optimizer: state.optimizer,
    batch: state.batch,
    seed: state.seed,
    limit: state.limit ?? undefined,
  };
}
