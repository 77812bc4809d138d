/**
 * Knet's CharLM tutorial on tinyshakespeare: a character embedding of 256, one LSTM layer
 * of 256 and a linear layer to the 65 characters, trained with Adam over windows of 128
 * streams × 100 characters (the last 10% of the text held out), then a sample.
 *
 *     deno run -A examples/charlm.ts [--epochs 10] [--lr 0.003] [--steps N] [--data DIR]
 *
 * One epoch is 78 windows (about 75 s on the CPU backend of a 2-core machine); the
 * held-out loss falls below 1.75 nats per character within 20 epochs (at epoch 7 with
 * these settings, measured by bench/charlm_learning.ts).
 *
 * @module
 */

import { mainOf } from "./_main.ts";
import * as dn from "../mod.ts";

/** Options of {@link trainCharLMExample}. */
export interface CharLMExampleOptions {
  /** Epochs (default 10). */
  epochs?: number;
  /** Adam's learning rate (default 0.003; gradients clipped to norm 5). */
  lr?: number;
  /** Windows per epoch (default: all 78). */
  steps?: number;
  /** Folder of tinyshakespeare.txt (default: the data cache, downloading it). */
  dir?: string;
  /** Characters generated after training (default 300). */
  sampleLength?: number;
  /** Called after each epoch. */
  onEpoch?: (r: dn.CharLMEpoch) => void;
}

/** Trains CharLM; returns the epochs' reports and a sample at temperature 0.8. */
export async function trainCharLMExample(
  opts: CharLMExampleOptions = {},
): Promise<{ epochs: dn.CharLMEpoch[]; text: string }> {
  const corpus = await dn.textCorpus(opts.dir ? { dir: opts.dir } : {});
  const { train, heldOut } = dn.splitHeldOut(corpus.data); // last 10% held out
  const model = new dn.CharLM(corpus.vocab, { rng: new dn.Rng(1) }); // 256 → LSTM 256 → 65
  try {
    const epochs = await dn.trainCharLM(model, train, heldOut, {
      epochs: opts.epochs ?? 10,
      lr: opts.lr ?? 0.003,
      gclip: 5,
      stepsPerEpoch: opts.steps,
      onEpoch: opts.onEpoch,
    });
    const text = await dn.sample(model, "ROMEO:", opts.sampleLength ?? 300, { temperature: 0.8 });
    return { epochs, text };
  } finally {
    model.dispose();
  }
}

if (import.meta.main) {
  await mainOf(import.meta.url, async () => {
    const { parseArgs } = await import("node:util");
    const { values } = parseArgs({
      args: Deno.args,
      options: {
        epochs: { type: "string" },
        lr: { type: "string" },
        steps: { type: "string" },
        data: { type: "string" },
      },
    });
    await dn.init();
    const num = (s?: string) => (s === undefined ? undefined : Number(s));
    const { text } = await trainCharLMExample({
      epochs: num(values.epochs),
      lr: num(values.lr),
      steps: num(values.steps),
      dir: values.data,
      onEpoch: (r) =>
        console.log(
          `epoch ${r.epoch}: train ${r.trainLoss.toFixed(4)}, held-out ` +
            `${r.heldOutLoss.toFixed(4)} nats/char (${r.seconds.toFixed(1)} s)`,
        ),
    });
    console.log(`\nROMEO:${text}`);
  });
}
