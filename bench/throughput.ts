/**
 * Throughput alongside `deno bench`: each bench launches its work `reps` times and waits
 * once (a host sync costs ≥ 10 ms in Deno), and the work per second measured in those
 * same timed iterations is printed after Deno's table.
 */

import { gpuRuntime } from "../src/gpu/runtime.ts";
import type { Tensor } from "../src/tensor/tensor.ts";

/** Units the table prints. */
export type ThroughputUnit = "GFLOP/s" | "GB/s";

/** Options of {@link ThroughputTable.bench}. */
export interface ThroughputBenchOptions {
  /** This bench is its group's baseline. */
  baseline?: boolean;
  /** Launches per timed iteration (one sync at its end). */
  reps: number;
  /** Timed iterations (default 10). */
  n?: number;
  /** Flops or bytes per launch. */
  work: number;
  /** Unit of `work` per second. */
  unit: ThroughputUnit;
  /** Wait for the GPU at the end of an iteration (default true; false for CPU work). */
  gpu?: boolean;
}

/** Collects throughput per bench and prints it when the bench process ends. */
export class ThroughputTable {
  readonly #rows = new Map<
    string,
    { unit: ThroughputUnit; work: number; reps: number; ms: number }
  >();

  /** Prints the table under `title` at process exit. */
  constructor(title: string) {
    globalThis.addEventListener("unload", () => {
      if (this.#rows.size === 0) return;
      console.log(`\n${title} (from the timed iterations):`);
      for (const [key, r] of this.#rows) {
        const perSecond = (r.work * r.reps) / (r.ms * 1e6);
        console.log(`  ${key.padEnd(72)} ${perSecond.toFixed(2).padStart(8)} ${r.unit}`);
      }
    });
  }

  /** Adds `reps` launches of `work` units taking `ms` to the row `key`. */
  record(key: string, unit: ThroughputUnit, work: number, reps: number, ms: number): void {
    const r = this.#rows.get(key) ?? { unit, work, reps: 0, ms: 0 };
    r.reps += reps;
    r.ms += ms;
    this.#rows.set(key, r);
  }

  /** Registers a `Deno.bench` that times `reps` launches of `launch` and records them. */
  bench(
    group: string,
    name: string,
    opts: ThroughputBenchOptions,
    launch: () => Tensor | void,
  ): void {
    Deno.bench({
      name,
      group,
      baseline: opts.baseline,
      n: opts.n ?? 10,
      warmup: 1,
      fn: async (b) => {
        b.start();
        const t0 = performance.now();
        for (let i = 0; i < opts.reps; i++) launch()?.dispose();
        if (opts.gpu !== false) await gpuRuntime().sync();
        const ms = performance.now() - t0;
        b.end();
        this.record(`${group} / ${name}`, opts.unit, opts.work, opts.reps, ms);
      },
    });
  }
}
