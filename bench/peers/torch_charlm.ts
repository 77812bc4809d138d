/**
 * Peer run of CharLM in PyTorch (`bench/peers/torch_charlm.py`, Debian's `python3-torch`
 * on all cores): writes the corpus and a denet CharLM's weights as raw files into a
 * temporary folder, runs the script and returns its per-epoch figures, passing each epoch
 * to `onEpoch` as it finishes. Same model, weights, windows and optimizer as denet's
 * {@link trainCharLM}; the script's doc says how the layouts map.
 *
 * @module
 */

import type { CharLM } from "../../src/app/charlm.ts";
import type { HostWeight } from "../knet_models.ts";
import type { Tensor } from "../../src/tensor/tensor.ts";
import { torchPython } from "./torch_train.ts";

/** The script this peer runs. */
export const TORCH_CHARLM_SCRIPT = decodeURIComponent(
  new URL("./torch_charlm.py", import.meta.url).pathname,
);

/** One epoch of the PyTorch run. */
export interface TorchCharLMEpoch {
  /** The epoch's number (from 1). */
  epoch: number;
  /** Windows trained on. */
  steps: number;
  /** Mean training loss (nats per character). */
  trainLoss: number;
  /** Mean held-out loss, null without held-out text. */
  heldOutLoss: number | null;
  /** Seconds of training (evaluation excluded). */
  seconds: number;
}

/** What {@link torchCharLM} runs. */
export interface TorchCharLMPlan {
  /** The corpus as token ids: training text first, then the held-out text. */
  data: Int32Array;
  /** Characters of training text at the start of `data`. */
  trainLen: number;
  /** Held-out characters after them (0: no evaluation). */
  heldOutLen: number;
  /** Streams per window. */
  batch: number;
  /** Steps per window. */
  seqLength: number;
  /** Adam's learning rate. */
  lr: number;
  /** Per-parameter gradient clipping norm (0: off). */
  gclip: number;
  /** Epochs. */
  epochs: number;
  /** Windows per epoch. */
  stepsPerEpoch: number;
  /** Untimed steps on a throwaway copy first (0: none). */
  warmupSteps: number;
}

/**
 * The weights of `model` in denet's layouts, named as the peers read them (copied to the
 * host now, so the model can go on training): embed, W, R, bW, bR, outW, outB.
 */
export async function charlmWeights(model: CharLM): Promise<HostWeight[]> {
  const l = model.rnn.weights[0][0];
  if (model.rnn.numLayers !== 1 || model.rnn.bidirectional || l.W === null) {
    throw new Error("torchCharLM: the peer runs a single forward LSTM layer with input weights");
  }
  if (model.out.b === null) throw new Error("torchCharLM: the output layer needs its bias");
  const named: [string, Tensor][] = [
    ["embed", model.embed.w],
    ["W", l.W],
    ["R", l.R],
    ["bW", l.bW],
    ["bR", l.bR],
    ["outW", model.out.w],
    ["outB", model.out.b],
  ];
  const out: HostWeight[] = [];
  for (const [name, t] of named) {
    out.push({ name, values: Float32Array.from(await t.data()), shape: [...t.shape] });
  }
  return out;
}

/**
 * Trains a PyTorch CharLM from `weights` (see {@link charlmWeights}) as `plan` says;
 * returns the epochs and torch's thread count. Throws with the script's stderr tail when
 * it fails.
 */
export async function torchCharLM(
  weights: readonly HostWeight[],
  plan: TorchCharLMPlan,
  onEpoch: (e: TorchCharLMEpoch) => void = () => {},
): Promise<{ threads: number; epochs: TorchCharLMEpoch[] }> {
  const dir = await Deno.makeTempDir({ prefix: "denet_torch_charlm_" });
  try {
    const put = async (name: string, bytes: Uint8Array, shape: number[]) => {
      const file = `${dir}/${name}.bin`;
      await Deno.writeFile(file, bytes);
      return { file, shape };
    };
    const asBytes = (a: Int32Array | Float32Array) =>
      new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const files: Record<string, { file: string; shape: number[] }> = {};
    for (const w of weights) files[w.name] = await put(w.name, asBytes(w.values), w.shape);
    const json = {
      data: await put("data", asBytes(plan.data), [plan.data.length]),
      trainLen: plan.trainLen,
      heldOutLen: plan.heldOutLen,
      batch: plan.batch,
      seq: plan.seqLength,
      lr: plan.lr,
      gclip: plan.gclip,
      epochs: plan.epochs,
      stepsPerEpoch: plan.stepsPerEpoch,
      warmupSteps: plan.warmupSteps,
      weights: files,
    };
    await Deno.writeTextFile(`${dir}/plan.json`, JSON.stringify(json));
    const child = new Deno.Command(torchPython(), {
      args: [TORCH_CHARLM_SCRIPT, `${dir}/plan.json`],
      stdout: "piped",
      stderr: "piped",
      env: { OMP_NUM_THREADS: String(navigator.hardwareConcurrency) },
    }).spawn();
    const stdout = new Response(child.stdout).text();
    let errTail = "";
    const lines = child.stderr.pipeThrough(new TextDecoderStream());
    let pending = "";
    for await (const chunk of lines) {
      pending += chunk;
      const parts = pending.split("\n");
      pending = parts.pop() ?? "";
      for (const line of parts) {
        if (line.startsWith('{"epoch"')) onEpoch(JSON.parse(line) as TorchCharLMEpoch);
        else errTail = (errTail + line + "\n").slice(-600);
      }
    }
    const status = await child.status;
    const out = (await stdout).trim().split("\n").pop() ?? "";
    if (!status.success) {
      throw new Error(`${TORCH_CHARLM_SCRIPT}: exit ${status.code}: ${errTail + pending}`);
    }
    return JSON.parse(out) as { threads: number; epochs: TorchCharLMEpoch[] };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
