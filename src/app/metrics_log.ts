/**
 * The per-epoch metrics file of `cli.ts train --log FILE.jsonl|csv`: one row per epoch
 * (losses, accuracies, seconds, learning rate), appended as each epoch ends so an
 * interrupted run keeps the epochs it finished.
 *
 * @module
 */

/** One row of the metrics file. */
export interface MetricsRow {
  /** 1-based epoch. */
  epoch: number;
  /** Mean training loss over the epoch. */
  loss: number;
  /** Mean test loss after the epoch. */
  testLoss: number;
  /** Running training accuracy during the epoch. */
  trainAccuracy: number;
  /** Test accuracy after the epoch. */
  testAccuracy: number;
  /** Wall seconds of the epoch. */
  seconds: number;
  /** The learning rate used (null for solvers that choose their own steps). */
  lr: number | null;
}

/** The columns, in file order (CSV header and JSON keys). */
export const METRICS_COLUMNS = [
  "epoch",
  "loss",
  "test_loss",
  "train_accuracy",
  "test_accuracy",
  "seconds",
  "lr",
] as const;

/** The format a metrics file name asks for: "jsonl" or "csv"; throws for anything else. */
export function metricsFormat(path: string): "jsonl" | "csv" {
  const m = /\.(jsonl|csv)$/i.exec(path);
  if (!m) {
    throw new Error(`--log ${path}: the file name must end in .jsonl or .csv`);
  }
  return m[1].toLowerCase() as "jsonl" | "csv";
}

function values(r: MetricsRow): (number | null)[] {
  return [r.epoch, r.loss, r.testLoss, r.trainAccuracy, r.testAccuracy, r.seconds, r.lr];
}

/** One row as a line of the format (with its newline). */
export function formatMetricsRow(r: MetricsRow, format: "jsonl" | "csv"): string {
  const v = values(r);
  if (format === "csv") return v.map((x) => (x === null ? "" : String(x))).join(",") + "\n";
  const o: Record<string, number | null> = {};
  METRICS_COLUMNS.forEach((k, i) => {
    const x = v[i];
    o[k] = x !== null && !Number.isFinite(x) ? null : x;
  });
  return JSON.stringify(o) + "\n";
}

/** Writes the metrics file: `open()` truncates it (and writes the CSV header). */
export class MetricsLog {
  /** The file. */
  readonly path: string;
  /** jsonl or csv, from the file name. */
  readonly format: "jsonl" | "csv";

  /** A log to `path` (its name must end in .jsonl or .csv); nothing is written yet. */
  constructor(path: string) {
    this.format = metricsFormat(path);
    this.path = path;
  }

  /** Creates or truncates the file (with the header, for CSV). */
  async open(): Promise<void> {
    const head = this.format === "csv" ? METRICS_COLUMNS.join(",") + "\n" : "";
    try {
      await Deno.writeTextFile(this.path, head);
    } catch (e) {
      throw new Error(`--log ${this.path}: cannot write: ${(e as Error).message}`);
    }
  }

  /** Appends one epoch's row. */
  async append(r: MetricsRow): Promise<void> {
    await Deno.writeTextFile(this.path, formatMetricsRow(r, this.format), { append: true });
  }
}
