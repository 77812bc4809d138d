/**
 * Knet's linear-regression example on the Boston housing data: 13 standardized
 * features, w = 0.1·randn(13), b = 0, loss = mean((x·w + b − y)²), 10 full-batch SGD
 * steps with lr 0.1. The loss falls from the hundreds to about 30.
 *
 * Run: `deno run -A examples/housing.ts [--data DIR] [--device cpu|gpu]`.
 */

import { mainOf } from "./_main.ts";
import * as dn from "../mod.ts";

/** Options of {@link trainHousing}. */
export interface HousingRunOptions {
  /** Learning rate (default 0.1, as in Knet's example). */
  lr?: number;
  /** Full-batch SGD steps (default 10). */
  steps?: number;
  /** Seed of w's initialization (default 1). */
  seed?: number;
  /** Where to train (default: the default device). */
  device?: dn.DeviceName;
  /** Directory holding housing.data (default: the loaders' resolution). */
  dir?: string;
}

/** Trains the linear model; returns the loss before each step and after the last. */
export async function trainHousing(opts: HousingRunOptions = {}): Promise<number[]> {
  const { lr = 0.1, steps = 10, seed = 1 } = opts;
  const device = opts.device ?? dn.defaultDevice();
  const { x: xh, y: yh } = await dn.housing({ dir: opts.dir });
  const x = device === "gpu" ? xh.gpu() : xh;
  const y = device === "gpu" ? yh.gpu() : yh;
  const w = new dn.Param(dn.mul(dn.randn([13, 1], { rng: new dn.Rng(seed), device }), 0.1));
  const b = new dn.Param(dn.zeros([1], { device }));
  const loss = () => dn.mean(dn.square(dn.sub(dn.add(dn.matmul(x, w), b), y)));
  // Losses stay on the device and are read back together at the end: one host sync.
  const losses: dn.Tensor[] = [];
  for (let i = 0; i < steps; i++) {
    const J = dn.diff(loss);
    for (const p of [w, b]) dn.axpy(-lr, J.grad(p)!, p);
    losses.push(J.value);
    J.disposeGradients();
  }
  losses.push(dn.tidy(loss));
  const values = (await dn.readAll(losses)).map((v) => v[0]);
  for (const t of [...losses, w, b]) t.dispose();
  if (device === "gpu") [x, y].forEach((t) => t.dispose());
  return values;
}

if (import.meta.main) {
  await mainOf(import.meta.url, async () => {
    const { parseArgs } = await import("node:util");
    const { values } = parseArgs({
      args: Deno.args,
      options: { data: { type: "string" }, device: { type: "string" } },
    });
    const device = await dn.init(values.device ? { device: values.device as dn.DeviceName } : {});
    const losses = await trainHousing({ device, dir: values.data });
    losses.forEach((l, i) => console.log(`step ${String(i).padStart(2)}  loss ${l.toFixed(2)}`));
  });
}
