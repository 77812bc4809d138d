/**
 * Line charts as SVG text (no dependency): the training curves behind `cli.ts train
 * --plot FILE.svg` and {@link TrainingCurves}, which notebooks (`deno jupyter`) display.
 *
 * @module
 */

/** One line of a panel. */
export interface Series {
  /** Legend text. */
  label: string;
  /** One value per x position (NaN leaves a gap). */
  values: readonly number[];
  /** Stroke colour (CSS). */
  color: string;
}

/** One panel of a chart: a title, a y-axis label and its lines over a shared x. */
export interface Panel {
  /** Title above the panel. */
  title: string;
  /** The y axis's label. */
  yLabel: string;
  /** The lines. */
  series: readonly Series[];
  /** Format of the y tick labels (default: up to 3 significant digits). */
  format?: (v: number) => string;
}

/** Options of {@link lineChartSVG}. */
export interface ChartOptions {
  /** The x values, shared by every series (default 1..n). */
  x?: readonly number[];
  /** The x axis's label (default "epoch"). */
  xLabel?: string;
  /** Width of one panel in pixels (default 360). */
  panelWidth?: number;
  /** Height of one panel in pixels (default 260). */
  panelHeight?: number;
}

const esc = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** About five round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) return [];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

const fmt3 = (v: number): string => String(Number(v.toPrecision(3)));

/**
 * Panels side by side, each with axes, round ticks, grid lines, a title, axis labels,
 * a legend and one polyline (with a dot per point) per series. Returns a complete SVG
 * document.
 */
export function lineChartSVG(panels: readonly Panel[], opts: ChartOptions = {}): string {
  if (panels.length === 0) throw new Error("lineChartSVG: no panels");
  const n = Math.max(0, ...panels.flatMap((p) => p.series.map((s) => s.values.length)));
  const xs = opts.x ?? Array.from({ length: n }, (_, i) => i + 1);
  if (xs.length < n) {
    throw new Error(`lineChartSVG: ${xs.length} x values for series of ${n} points`);
  }
  const W = opts.panelWidth ?? 360, H = opts.panelHeight ?? 260;
  const m = { left: 56, right: 14, top: 30, bottom: 64 };
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W * panels.length}" height="${H}" ` +
    `viewBox="0 0 ${W * panels.length} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  const xl = Math.min(...xs.slice(0, n)), xh = Math.max(...xs.slice(0, n));
  const xt = n === 0 ? [] : niceTicks(xl, xh, Math.min(6, Math.max(1, n - 1))).filter(
    (v) => n > 10 || Number.isInteger(v),
  );
  panels.forEach((p, k) => {
    const ox = k * W;
    const pw = W - m.left - m.right, ph = H - m.top - m.bottom;
    const finite = p.series.flatMap((s) => s.values.filter(Number.isFinite));
    let lo = finite.length ? Math.min(...finite) : 0, hi = finite.length ? Math.max(...finite) : 1;
    if (lo === hi) [lo, hi] = [lo - Math.abs(lo || 1) * 0.05, hi + Math.abs(hi || 1) * 0.05];
    const pad = (hi - lo) * 0.05;
    lo -= pad;
    hi += pad;
    const X = (v: number) => ox + m.left + (xh === xl ? pw / 2 : ((v - xl) / (xh - xl)) * pw);
    const Y = (v: number) => m.top + ph - ((v - lo) / (hi - lo)) * ph;
    const f = p.format ?? fmt3;
    out.push(`<g>`);
    out.push(
      `<text x="${ox + W / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${
        esc(p.title)
      }</text>`,
    );
    for (const t of niceTicks(lo, hi)) {
      const y = Y(t).toFixed(1);
      out.push(
        `<line x1="${ox + m.left}" y1="${y}" x2="${ox + m.left + pw}" y2="${y}" stroke="#e5e5e5"/>`,
        `<text x="${ox + m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${
          esc(f(t))
        }</text>`,
      );
    }
    for (const t of xt) {
      const x = X(t).toFixed(1);
      out.push(
        `<line x1="${x}" y1="${m.top + ph}" x2="${x}" y2="${m.top + ph + 4}" stroke="#333"/>`,
        `<text x="${x}" y="${m.top + ph + 16}" text-anchor="middle">${esc(fmt3(t))}</text>`,
      );
    }
    out.push(
      `<rect x="${
        ox + m.left
      }" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
      `<text x="${ox + m.left + pw / 2}" y="${m.top + ph + 32}" text-anchor="middle">${
        esc(opts.xLabel ?? "epoch")
      }</text>`,
      `<text transform="translate(${ox + 14},${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${
        esc(p.yLabel)
      }</text>`,
    );
    p.series.forEach((s, j) => {
      const pts: string[] = [];
      const dots: string[] = [];
      s.values.forEach((v, i) => {
        if (!Number.isFinite(v)) return;
        const x = X(xs[i]).toFixed(1), y = Y(v).toFixed(1);
        pts.push(`${x},${y}`);
        dots.push(`<circle cx="${x}" cy="${y}" r="2.5" fill="${s.color}"/>`);
      });
      out.push(
        `<polyline class="series" data-label="${esc(s.label)}" fill="none" stroke="${s.color}" ` +
          `stroke-width="2" points="${pts.join(" ")}"/>`,
        ...dots,
      );
      const lx = ox + m.left + j * 110, ly = H - 12;
      out.push(
        `<line x1="${lx}" y1="${ly}" x2="${
          lx + 18
        }" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`,
        `<text x="${lx + 22}" y="${ly}" dominant-baseline="middle">${esc(s.label)}</text>`,
      );
    });
    out.push(`</g>`);
  });
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

/** One epoch's figures as {@link TrainingCurves} holds them. */
export interface CurvePoint {
  /** 1-based epoch. */
  epoch: number;
  /** Mean training loss over the epoch. */
  loss: number;
  /** Mean test loss after the epoch (NaN when not measured). */
  testLoss: number;
  /** Training accuracy (running, during the epoch). */
  trainAccuracy: number;
  /** Test accuracy after the epoch. */
  testAccuracy: number;
}

const pct = (v: number): string => `${Number((100 * v).toPrecision(3))}%`;

/**
 * Loss and accuracy per epoch, training against test: `toSVG()` draws them (two panels),
 * `toString()` tabulates them, and notebooks (`deno jupyter`) display them as the chart.
 * `trainClassifier` returns its reports, which `TrainingCurves.from(reports)` takes.
 */
export class TrainingCurves {
  /** The epochs, in order. */
  readonly points: CurvePoint[];

  /** Curves over `points` (copied). */
  constructor(points: readonly CurvePoint[] = []) {
    this.points = points.map((p) => ({ ...p }));
  }

  /** Curves from epoch reports (a missing `testLoss` becomes NaN). */
  static from(
    reports: readonly (Omit<CurvePoint, "testLoss"> & { testLoss?: number })[],
  ): TrainingCurves {
    return new TrainingCurves(reports.map((r) => ({
      epoch: r.epoch,
      loss: r.loss,
      testLoss: r.testLoss ?? NaN,
      trainAccuracy: r.trainAccuracy,
      testAccuracy: r.testAccuracy,
    })));
  }

  /** Adds an epoch. */
  push(p: CurvePoint): void {
    this.points.push({ ...p });
  }

  /** The chart: loss (train, test) and accuracy (train, test) per epoch. */
  toSVG(): string {
    const col = (k: keyof CurvePoint) => this.points.map((p) => p[k]);
    return lineChartSVG([
      {
        title: "Loss",
        yLabel: "mean loss (nll)",
        series: [
          { label: "train", values: col("loss"), color: "#1f77b4" },
          { label: "test", values: col("testLoss"), color: "#d62728" },
        ],
      },
      {
        title: "Accuracy",
        yLabel: "accuracy",
        format: pct,
        series: [
          { label: "train", values: col("trainAccuracy"), color: "#1f77b4" },
          { label: "test", values: col("testAccuracy"), color: "#d62728" },
        ],
      },
    ], { x: col("epoch") });
  }

  /** A table: epoch, train loss, test loss, train and test accuracy. */
  toString(): string {
    const rows = this.points.map((p) =>
      `${String(p.epoch).padStart(5)}  ${p.loss.toFixed(4).padStart(10)}  ${
        p.testLoss.toFixed(4).padStart(9)
      }  ${pct(p.trainAccuracy).padStart(9)}  ${pct(p.testAccuracy).padStart(8)}`
    );
    return ["epoch  train loss  test loss  train acc  test acc", ...rows].join("\n");
  }

  /** What `deno jupyter` shows: the chart, with the table as plain text. */
  [Symbol.for("Jupyter.display")](): Record<string, string> {
    return { "image/svg+xml": this.toSVG(), "text/plain": this.toString() };
  }
}
