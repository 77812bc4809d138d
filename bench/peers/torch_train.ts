/**
 * Peer benchmark: the four trainings of Knet's benchmark table in PyTorch (Debian's
 * `python3-torch`, run by `/usr/bin/python3`, or `$DENET_PYTHON`) on the CPU, with as many
 * threads as the machine has cores. The training itself is `bench/peers/torch_train.py`
 * (its doc says how denet's weights become PyTorch's layouts); this module writes the
 * weights and data as raw f32 files plus a JSON plan into a temporary folder, spawns the
 * script and parses the one JSON line it prints. Same method as the tfjs peer
 * (`bench/peers/tfjs_train.ts`): same weights, same minibatches in file order, plain SGD,
 * loss read back once per epoch, accuracy after the clock stops.
 *
 * Setup: `bench/peers/setup_torch.sh` (apt-get install python3-torch libopenblas0-pthread).
 * Without torch, {@link torchInfo} says why and the table skips the column.
 *
 * @module
 */

import type { HostWeight, RowSpec } from "../knet_models.ts";
import type { HostData, TrainPlan, TrainResult } from "./tfjs_train.ts";

/** The script this peer runs. */
export const TORCH_SCRIPT = decodeURIComponent(
  new URL("./torch_train.py", import.meta.url).pathname,
);

/** The Python interpreter that has torch: `$DENET_PYTHON`, else Debian's `/usr/bin/python3`. */
export function torchPython(): string {
  return Deno.env.get("DENET_PYTHON") || "/usr/bin/python3";
}

/** What `torch_train.py --info` reports. */
export interface TorchInfo {
  /** torch.__version__. */
  torch: string;
  /** torch.get_num_threads() after set_num_threads(os.cpu_count()). */
  threads: number;
  /** BLAS_INFO of torch.__config__.show() (Debian's build says "generic": it links libblas.so.3). */
  blas: string;
  /** The BLAS shared libraries the process actually loaded (Debian's alternatives pick it). */
  blasLibrary: string;
}

/** Runs `python args...`; returns stdout, or throws with stderr's tail. */
async function python(args: string[]): Promise<string> {
  const out = await new Deno.Command(torchPython(), {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { OMP_NUM_THREADS: String(navigator.hardwareConcurrency) },
  }).output();
  const err = new TextDecoder().decode(out.stderr).trim();
  if (!out.success) {
    throw new Error(`${torchPython()} ${args.join(" ")}: exit ${out.code}: ${err.slice(-400)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** The last line of `text` that parses as a JSON object. */
function lastJson<T>(text: string): T {
  const line = text.trim().split("\n").pop() ?? "";
  return JSON.parse(line) as T;
}

let infoPromise: Promise<{ info: TorchInfo | null; reason: string }> | null = null;

/**
 * torch's version, threads and BLAS, or null with the reason when torch cannot be imported
 * (with the command that installs it). Probed once per process.
 */
export function torchInfo(): Promise<{ info: TorchInfo | null; reason: string }> {
  infoPromise ??= (async () => {
    try {
      return { info: lastJson<TorchInfo>(await python([TORCH_SCRIPT, "--info"])), reason: "" };
    } catch (e) {
      return {
        info: null,
        reason: `PyTorch not importable by ${torchPython()} (run bench/peers/setup_torch.sh): ` +
          (e as Error).message.split("\n").pop(),
      };
    }
  })();
  return infoPromise;
}

/** Runs python code `code` with the torch interpreter and parses its last JSON line. */
export async function torchEval<T>(code: string): Promise<T> {
  return lastJson<T>(await python(["-c", code]));
}

/**
 * Trains `row` with PyTorch as `plan` says, from `weights` (denet's layout), on `data`:
 * writes them to a temporary folder, runs `torch_train.py` and returns its measurements.
 */
export async function torchTrain(
  row: RowSpec,
  weights: readonly HostWeight[],
  data: HostData,
  plan: TrainPlan,
): Promise<TrainResult> {
  const per = row.name === "linreg" ? [13] : row.name === "lenet" ? [1, 28, 28] : [784];
  const size = per.reduce((a, b) => a * b, 1);
  const b = row.batch;
  const maxSteps = Math.floor(data.n / b);
  if (plan.stepsPerEpoch > maxSteps || plan.stepsPerEpoch < 1) {
    throw new Error(`torchTrain: ${row.name} has ${maxSteps} batches of ${b}, plan wants more`);
  }
  const dir = await Deno.makeTempDir({ prefix: "denet_torch_" });
  let k = 0;
  const put = async (values: Float32Array, shape: number[]) => {
    const file = `${dir}/${k++}.f32`;
    await Deno.writeFile(file, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    return { file, shape };
  };
  try {
    // Only the instances the plan uses travel.
    const n = plan.stepsPerEpoch * b;
    const yShape = row.loss === "mse" ? [n, 1] : [n];
    const ntst = data.xtst && data.ytst ? Math.floor((data.ntst ?? 0) / b) * b : 0;
    const json = {
      row: row.name,
      loss: row.loss,
      lr: row.lr,
      batch: b,
      xShape: per,
      epochs: plan.epochs,
      stepsPerEpoch: plan.stepsPerEpoch,
      readEpochs: [...plan.readEpochs],
      warmupSteps: plan.warmupSteps,
      weights: await Promise.all(weights.map((w) => put(w.values, [...w.shape]))),
      x: await put(data.x.subarray(0, n * size), [n, size]),
      y: await put(data.y.subarray(0, yShape.reduce((a, c) => a * c, 1)), yShape),
      xtst: ntst > 0 ? await put(data.xtst!.subarray(0, ntst * size), [ntst, size]) : null,
      ytst: ntst > 0 ? await put(data.ytst!.subarray(0, ntst), [ntst]) : null,
      ntst,
    };
    await Deno.writeTextFile(`${dir}/plan.json`, JSON.stringify(json));
    const r = lastJson<TrainResult & { threads: number; blas: string }>(
      await python([TORCH_SCRIPT, `${dir}/plan.json`]),
    );
    return {
      seconds: r.seconds,
      steps: r.steps,
      finalLoss: r.finalLoss,
      testAccuracy: r.testAccuracy,
      readbacks: r.readbacks,
      note: "",
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
