/**
 * CharLM checkpoints: the project's safetensors checkpoint (atomic write, optimizer
 * state included) with the vocabulary and the model's sizes in the `charlm.job`
 * metadata, so that `cli.ts generate --load FILE` rebuilds the model from the file alone.
 *
 * @module
 */

import { loadCheckpoint, readCheckpointInfo, saveCheckpoint } from "../io/checkpoint.ts";
import type { DeviceName } from "../tensor/tensor.ts";
import { CharLM } from "./charlm.ts";
import { CHARLM_JOB_KEY } from "./resume.ts";

/** What a CharLM checkpoint records besides the weights. */
export interface CharLMJob {
  /** The characters, indexed by token id. */
  vocab: string[];
  /** Embedding width. */
  embed: number;
  /** LSTM hidden size. */
  hidden: number;
  /** Epochs trained. */
  epoch: number;
  /** Held-out loss after the last epoch (nats per character; null when not measured). */
  heldOutLoss: number | null;
}

/**
 * Writes `model` and `job` to `path` atomically (an existing file is replaced only once
 * the new one is complete); refuses weights that are not finite, so a diverged run never
 * replaces a good file.
 */
export async function saveCharLM(
  path: string,
  model: CharLM,
  job: Omit<CharLMJob, "vocab" | "embed" | "hidden">,
): Promise<void> {
  const full: CharLMJob = {
    vocab: [...model.vocab],
    embed: model.embed.dim,
    hidden: model.rnn.hiddenSize,
    epoch: job.epoch,
    heldOutLoss: Number.isFinite(job.heldOutLoss) ? job.heldOutLoss : null,
  };
  await saveCheckpoint(path, model, {
    metadata: { [CHARLM_JOB_KEY]: JSON.stringify(full) },
    requireFinite: true,
  });
}

/** The `charlm.job` metadata of `path`, validated; an Error names what is wrong. */
export async function readCharLMJob(path: string): Promise<CharLMJob> {
  const raw = (await readCheckpointInfo(path)).metadata[CHARLM_JOB_KEY];
  if (raw === undefined) {
    throw new Error(`${path}: not a CharLM checkpoint (no ${CHARLM_JOB_KEY} metadata)`);
  }
  let j: Partial<CharLMJob>;
  try {
    j = JSON.parse(raw);
  } catch {
    throw new Error(`${path}: the ${CHARLM_JOB_KEY} metadata is not valid JSON`);
  }
  const posInt = (v: unknown) => Number.isInteger(v) && (v as number) >= 1;
  const ok = j !== null && typeof j === "object" && Array.isArray(j.vocab) &&
    j.vocab.length >= 2 && j.vocab.every((c) => typeof c === "string" && [...c].length === 1) &&
    new Set(j.vocab).size === j.vocab.length && posInt(j.embed) && posInt(j.hidden) &&
    Number.isInteger(j.epoch) && (j.epoch as number) >= 0;
  if (!ok) {
    throw new Error(
      `${path}: the ${CHARLM_JOB_KEY} metadata is invalid (expected vocab: distinct ` +
        "characters, embed, hidden: positive integers, epoch ≥ 0)",
    );
  }
  return j as CharLMJob;
}

/**
 * The model saved at `path` by {@link saveCharLM}, on `device` (default: the default
 * device), with its job record. Shapes are checked against the record before any weight
 * is read into the model.
 */
export async function loadCharLM(
  path: string,
  opts: { device?: DeviceName } = {},
): Promise<{ model: CharLM; job: CharLMJob }> {
  const job = await readCharLMJob(path);
  const model = new CharLM(job.vocab, { embed: job.embed, hidden: job.hidden, ...opts });
  try {
    await loadCheckpoint(path, model, { optimizer: false });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, job };
}
