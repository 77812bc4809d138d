/**
 * The command-line side of CharLM: `cli.ts train --model charlm --dataset shakespeare`
 * ({@link charlmTrainCommand}) and `cli.ts generate --load FILE` ({@link generateCommand}).
 * Every flag is checked before a device starts or a file is touched.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { splitHeldOut } from "../data/bptt.ts";
import { textCorpus } from "../data/text.ts";
import { paramCount } from "../layers/layer.ts";
import { init, type InitOptions } from "../tensor/device.ts";
import { Rng } from "../tensor/random.ts";
import { CharLM } from "./charlm.ts";
import { loadCharLM, saveCharLM } from "./charlm_checkpoint.ts";
import { CHARLM_DEFAULTS, trainCharLM } from "./charlm_train.ts";
import { describeDevice } from "./device_summary.ts";
import { sample } from "./generate.ts";
import { acquireSaveLock, checkSaveTarget } from "./save_guard.ts";

/** `cli.ts train --model charlm --help`. */
export const CHARLM_TRAIN_USAGE = `usage: deno run -A cli.ts train --model charlm [flags]

Trains Knet's character-level language model (embedding 256, one LSTM layer of 256, a
linear layer to the characters) on tinyshakespeare with Adam, over BPTT windows of
--batch streams × --seq-length characters; the last 10% of the text is held out. Prints
a header line, then one line per epoch: mean training loss, held-out loss (nats per
character), seconds.

  --dataset NAME     shakespeare (default), or --text FILE for any UTF-8 text
  --text FILE        train on this text file instead of tinyshakespeare
  --epochs N         epochs (default 10)
  --batch N          streams per window (default ${CHARLM_DEFAULTS.batch})
  --seq-length N     characters per window (default ${CHARLM_DEFAULTS.seqLength})
  --lr X             Adam's learning rate (default ${CHARLM_DEFAULTS.lr})
  --gclip X          clip each gradient's norm to X (default 0: off)
  --steps N          at most N windows per epoch (default: all)
  --seed N           seed of the weights (default 1)
  --device D         gpu|cpu (default: DENET_DEVICE, else a hardware GPU when there is
                     one, else the CPU backend)
  --data DIR         the folder of tinyshakespeare.txt (default DENET_DATA/text, else
                     ~/.cache/denet/text; downloaded when missing)
  --offline          never download: a missing data file is an error
  --save FILE        write a safetensors checkpoint after every epoch (atomically); an
                     existing checkpoint is replaced only with --force
  --force            let --save replace an existing checkpoint
  -h, --help         this text`;

/** `cli.ts generate --help`. */
export const GENERATE_USAGE = `usage: deno run -A cli.ts generate --load FILE [flags]

Generates text with a CharLM checkpoint written by train --model charlm --save: primes
the LSTM with --prime, then draws --length characters one at a time from the softmax of
the scores divided by --temperature. Prints the prime followed by the generated text.

  --load FILE        the checkpoint (required)
  --length N         characters to generate (default 300)
  --temperature T    0 = always the likeliest character; below 1 more conservative,
                     above 1 more varied (default 1)
  --prime TEXT       the text to start from (default a newline)
  --seed N           seed of the draws (default 1)
  --device D         gpu|cpu (default: DENET_DEVICE, else a hardware GPU, else the CPU)
  -h, --help         this text`;

type Values = Record<string, string | boolean | undefined>;

/** A flag's value as a number in [min, ∞) (an integer when `int`), or undefined. */
function numberFlag(v: Values, flag: string, int: boolean, min: number): number | undefined {
  const s = v[flag];
  if (s === undefined) return undefined;
  const x = Number(s);
  if (typeof s !== "string" || s.trim() === "" || !Number.isFinite(x)) {
    throw new Error(`--${flag} expects a number, got '${s}'`);
  }
  if ((int && !Number.isInteger(x)) || x < min) {
    throw new Error(`--${flag} must be ${int ? "an integer" : "a number"} ≥ ${min}, got ${s}`);
  }
  return x;
}

/** `--device`, checked; DENET_DEVICE is left to `init`. */
function deviceFlag(v: Values): InitOptions {
  const d = v.device;
  if (d === undefined) return {};
  if (d !== "gpu" && d !== "cpu") throw new Error(`--device must be gpu or cpu, got '${d}'`);
  return { device: d, source: `--device ${d}` };
}

function parse(args: string[], flags: string[], booleans: string[]): Values {
  const options = Object.fromEntries([
    ...flags.map((k) => [k, { type: "string" as const }]),
    ...booleans.map((k) => [k, { type: "boolean" as const }]),
    ["help", { type: "boolean" as const, short: "h" }],
  ]);
  return parseArgs({ args, strict: true, options }).values as Values;
}

/**
 * `cli.ts train --model charlm [flags]` (see {@link CHARLM_TRAIN_USAGE}); returns the exit
 * code. `log` receives the header and epoch lines.
 */
export async function charlmTrainCommand(
  args: string[],
  log: (line: string) => void = console.log,
): Promise<number> {
  const v = parse(args, [
    "model",
    "dataset",
    "text",
    "epochs",
    "batch",
    "seq-length",
    "lr",
    "gclip",
    "steps",
    "seed",
    "device",
    "data",
    "save",
  ], ["offline", "force"]);
  if (v.help) {
    log(CHARLM_TRAIN_USAGE);
    return 0;
  }
  if (v.model !== "charlm") throw new Error(`charlm: --model must be charlm, got '${v.model}'`);
  if (v.dataset !== undefined && v.dataset !== "shakespeare") {
    throw new Error(`--dataset must be shakespeare for --model charlm, got '${v.dataset}'`);
  }
  if (v.dataset !== undefined && v.text !== undefined) {
    throw new Error("--dataset and --text are alternatives: give one");
  }
  const epochs = numberFlag(v, "epochs", true, 1) ?? 10;
  const batch = numberFlag(v, "batch", true, 1) ?? CHARLM_DEFAULTS.batch;
  const seqLength = numberFlag(v, "seq-length", true, 1) ?? CHARLM_DEFAULTS.seqLength;
  const lr = numberFlag(v, "lr", false, 0) ?? CHARLM_DEFAULTS.lr;
  if (!(lr > 0)) throw new Error(`--lr must be positive, got ${v.lr}`);
  const gclip = numberFlag(v, "gclip", false, 0) ?? 0;
  const stepsPerEpoch = numberFlag(v, "steps", true, 1);
  const seed = numberFlag(v, "seed", true, 0) ?? 1;
  new Rng(seed); // range check (an Error names the limit)
  const device = deviceFlag(v);
  const save = v.save as string | undefined;
  if (v.force && save === undefined) throw new Error("--force applies to --save only");
  if (save !== undefined) await checkSaveTarget({ save, force: v.force === true });

  const corpus = await textCorpus({
    ...(v.text !== undefined ? { path: v.text as string } : {}),
    ...(v.data !== undefined ? { dir: v.data as string } : {}),
    ...(v.offline ? { download: false } : {}),
  });
  const { train, heldOut } = splitHeldOut(corpus.data);
  await init(device);
  const model = new CharLM(corpus.vocab, { rng: new Rng(seed) });
  const lock = save !== undefined ? await acquireSaveLock(save) : null;
  try {
    log(
      `train charlm: ${paramCount(model).toLocaleString("en-US")} parameters, ` +
        `${corpus.vocab.length} characters, ${train.length.toLocaleString("en-US")} training ` +
        `and ${heldOut.length.toLocaleString("en-US")} held-out characters; Adam lr ${lr}` +
        `${gclip > 0 ? ` gclip ${gclip}` : ""}, windows of ${batch} × ${seqLength}; ` +
        `device ${describeDevice()}`,
    );
    await trainCharLM(model, train, heldOut, {
      epochs,
      batch,
      seqLength,
      lr,
      gclip,
      stepsPerEpoch,
      onEpoch: async (r) => {
        log(
          `epoch ${r.epoch}: train loss ${r.trainLoss.toFixed(4)}, held-out loss ` +
            `${r.heldOutLoss.toFixed(4)} nats/char, ${r.steps} steps, ${r.seconds.toFixed(1)} s`,
        );
        if (save !== undefined) {
          await saveCharLM(save, model, { epoch: r.epoch, heldOutLoss: r.heldOutLoss });
        }
      },
    });
  } finally {
    lock?.release();
    model.dispose();
  }
  return 0;
}

/**
 * `cli.ts generate --load FILE [flags]` (see {@link GENERATE_USAGE}); returns the exit
 * code. The text goes to `write`.
 */
export async function generateCommand(
  args: string[],
  write: (text: string) => void = console.log,
): Promise<number> {
  const v = parse(args, ["load", "length", "temperature", "prime", "seed", "device"], []);
  if (v.help) {
    write(GENERATE_USAGE);
    return 0;
  }
  if (v.load === undefined) throw new Error("generate needs --load FILE");
  const length = numberFlag(v, "length", true, 0) ?? 300;
  const temperature = numberFlag(v, "temperature", false, 0) ?? 1;
  const seed = numberFlag(v, "seed", true, 0) ?? 1;
  new Rng(seed); // range check
  const prime = (v.prime as string | undefined) ?? "\n";
  if (prime.length === 0) throw new Error("--prime must not be empty");
  const device = deviceFlag(v);
  await init(device);
  const { model } = await loadCharLM(v.load as string);
  try {
    write(prime + await sample(model, prime, length, { temperature, seed }));
  } finally {
    model.dispose();
  }
  return 0;
}
