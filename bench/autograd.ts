/**
 * Autograd overhead on Knet's MNIST MLP shape (batch 100, 784 → 64 → 10, relu, nll):
 * the forward pass plain, the same forward recorded on a tape (no backward), and the
 * full `diff` (forward + record + backward). Knet reports about +15% for recording and
 * about 2× the forward time for the backward pass; this prints ours on the CPU (f32)
 * and, when an adapter is present, on the GPU (each timed span ends with one sync).
 *
 * Run: `deno run -A bench/autograd.ts [--quick]`; `deno task bench` runs the same
 * functions through `deno bench` (bench/autograd_bench.ts).
 */

import * as dn from "../internals.ts";
import { setActiveTape, Tape } from "../src/autograd/tape.ts";
import { nll } from "../src/loss.ts";
import { timeGpu } from "./timing.ts";

/** An MLP problem on one device: its loss function and its Params. */
export interface MlpProblem {
  /** The scalar loss (nll of the MLP's scores). */
  loss: () => dn.Tensor;
  /** w1, b1, w2, b2. */
  params: dn.Param[];
  /** Releases the tensors. */
  dispose: () => void;
}

/** Knet's MNIST MLP with random data (batch × 784 → hidden → 10). */
export function mlpProblem(device: dn.DeviceName, batch = 100, hidden = 64): MlpProblem {
  const rng = new dn.Rng(7);
  const opts = { device, rng } as const;
  const x = dn.rand([batch, 784], opts);
  const labels = dn.fromArray(Array.from({ length: batch }, () => rng.int(10)), { device });
  const w1 = new dn.Param(dn.mul(dn.randn([784, hidden], opts), 0.05));
  const b1 = new dn.Param(dn.zeros([hidden], { device }));
  const w2 = new dn.Param(dn.mul(dn.randn([hidden, 10], opts), 0.1));
  const b2 = new dn.Param(dn.zeros([10], { device }));
  const loss = () => {
    const h = dn.relu(dn.add(dn.matmul(x, w1), b1));
    return nll(dn.add(dn.matmul(h, w2), b2), labels);
  };
  const params = [w1, b1, w2, b2];
  return { loss, params, dispose: () => [x, labels, ...params].forEach((t) => t.dispose()) };
}

/** Runs `f` with its ops recorded on a tape, without the backward pass. */
export function recordOnly(f: () => dn.Tensor): void {
  const tape = new Tape();
  setActiveTape(tape);
  try {
    dn.tidy(f);
  } finally {
    setActiveTape(null);
    tape.close();
  }
}

/** One step of each kind, as benchmarks call them. */
export function steps(p: MlpProblem): Record<"forward" | "recorded" | "diff", () => void> {
  return {
    forward: () => dn.tidy(p.loss).dispose(),
    recorded: () => recordOnly(p.loss),
    diff: () => dn.diff(p.loss).dispose(),
  };
}

async function timeCpu(run: () => void, minMs: number): Promise<number> {
  run();
  let reps = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) run();
    const dt = performance.now() - t0;
    if (dt >= minMs) return dt / reps;
    reps *= 2;
    await Promise.resolve();
  }
}

/** Milliseconds per forward / recorded forward / diff, and dispatches of each (GPU). */
export interface OverheadRow {
  device: dn.DeviceName;
  forward: number;
  recorded: number;
  diff: number;
  dispatches: { forward: number; diff: number };
}

/** Measures one device. */
export async function measure(device: dn.DeviceName, minMs = 500): Promise<OverheadRow> {
  const p = mlpProblem(device);
  const s = steps(p);
  const time = (run: () => void) =>
    device === "gpu" ? timeGpu(run, minMs).then((t) => t.ms) : timeCpu(run, minMs);
  const count = (run: () => void) => {
    const before = dn.counters().dispatches;
    run();
    return dn.counters().dispatches - before;
  };
  // Warm every path first (JIT, pipelines, pool), then take the best of 3 interleaved
  // rounds so that the order of measurement does not favour one kind.
  for (const run of [s.forward, s.recorded, s.diff]) await time(run);
  const best = { forward: Infinity, recorded: Infinity, diff: Infinity };
  for (let round = 0; round < 3; round++) {
    for (const k of ["forward", "recorded", "diff"] as const) {
      best[k] = Math.min(best[k], await time(s[k]));
    }
  }
  const row: OverheadRow = {
    device,
    ...best,
    dispatches: { forward: count(s.forward), diff: count(s.diff) },
  };
  p.dispose();
  return row;
}

/** Prints the table. */
export async function runAutogradReport(opts: { quick?: boolean } = {}): Promise<OverheadRow[]> {
  const devices: dn.DeviceName[] = ["cpu"];
  if ((await dn.init()) === "gpu") devices.push("gpu");
  const rows: OverheadRow[] = [];
  console.log("MLP 784→64→10, batch 100, nll (ms per step)");
  console.log(
    "device  forward  recorded (overhead)  diff  backward  backward/forward  dispatches fwd/diff",
  );
  for (const d of devices) {
    const r = await measure(d, opts.quick ? 100 : 400);
    rows.push(r);
    const back = r.diff - r.recorded;
    console.log(
      [
        d.padEnd(6),
        r.forward.toFixed(2).padStart(7),
        `${r.recorded.toFixed(2)} (${((r.recorded / r.forward - 1) * 100).toFixed(0)}%)`.padStart(
          19,
        ),
        r.diff.toFixed(2).padStart(5),
        back.toFixed(2).padStart(8),
        `${(back / r.forward).toFixed(2)}×`.padStart(16),
        `${r.dispatches.forward}/${r.dispatches.diff}`.padStart(20),
      ].join("  "),
    );
  }
  return rows;
}

if (import.meta.main) await runAutogradReport({ quick: Deno.args.includes("--quick") });
