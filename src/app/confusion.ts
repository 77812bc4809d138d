/**
 * Confusion matrices: counts of (true class, predicted class) pairs, as text and as an
 * SVG heat map (`cli.ts eval --confusion [FILE.svg]`).
 *
 * @module
 */

const esc = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/**
 * Counts of true class (rows) against predicted class (columns). Instances whose label is
 * negative are skipped (the "skip" label); labels or predictions outside 0..classes−1
 * are an error.
 */
export class ConfusionMatrix {
  /** `counts[t][p]`: instances of class t predicted as p. */
  readonly counts: number[][];
  /** Class names (default "0", "1", ...). */
  readonly names: readonly string[];

  /** A matrix of `classes` classes counting `predicted` against `labels`. */
  constructor(
    predicted: ArrayLike<number>,
    labels: ArrayLike<number>,
    classes: number,
    names?: readonly string[],
  ) {
    if (!Number.isInteger(classes) || classes < 1) {
      throw new Error(`ConfusionMatrix: classes must be a positive integer, got ${classes}`);
    }
    if (predicted.length !== labels.length) {
      throw new Error(
        `ConfusionMatrix: ${predicted.length} predictions for ${labels.length} labels`,
      );
    }
    if (names !== undefined && names.length !== classes) {
      throw new Error(`ConfusionMatrix: ${names.length} names for ${classes} classes`);
    }
    this.names = names ?? Array.from({ length: classes }, (_, i) => String(i));
    this.counts = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
    for (let i = 0; i < labels.length; i++) {
      const t = labels[i], p = predicted[i];
      if (t < 0) continue;
      for (const [what, v] of [["label", t], ["prediction", p]] as const) {
        if (!Number.isInteger(v) || v >= classes || v < 0) {
          throw new Error(
            `ConfusionMatrix: ${what} ${v} at index ${i} is not a class 0..${classes - 1}`,
          );
        }
      }
      this.counts[t][p]++;
    }
  }

  /** Number of instances counted. */
  get total(): number {
    return this.counts.reduce((n, r) => n + r.reduce((a, b) => a + b, 0), 0);
  }

  /** Fraction on the diagonal. */
  get accuracy(): number {
    return this.counts.reduce((n, r, i) => n + r[i], 0) / this.total;
  }

  /** Aligned rows: a header of predicted classes, one row per true class, with recall. */
  toString(): string {
    const k = this.counts.length;
    const w = Math.max(5, ...this.counts.flat().map((c) => String(c).length)) + 1;
    const nw = Math.max(...this.names.map((n) => n.length), "true\\pred".length);
    const head = `${"true\\pred".padEnd(nw)} ` +
      this.names.map((n) => n.slice(0, w - 1).padStart(w)).join("") + "  recall";
    const rows = this.counts.map((r, i) => {
      const n = r.reduce((a, b) => a + b, 0);
      const recall = n === 0 ? "-" : `${(100 * r[i] / n).toFixed(1)}%`;
      return `${this.names[i].padEnd(nw)} ${r.map((c) => String(c).padStart(w)).join("")}  ${
        recall.padStart(6)
      }`;
    });
    return [
      head,
      ...rows,
      `${k} classes, ${this.total} instances, accuracy ${(100 * this.accuracy).toFixed(2)}%`,
    ].join("\n");
  }

  /** A heat map: cell shade by the row's fraction, the count written in each cell. */
  toSVG(): string {
    const k = this.counts.length;
    // Long class names (Fashion-MNIST's) stand vertical above the columns.
    const longest = Math.max(...this.names.map((n) => n.length));
    const vertical = longest > 5;
    const cell = 40, size = cell * k;
    const left = Math.max(90, Math.ceil(6.5 * longest) + 36);
    const top = vertical ? 48 + Math.ceil(6.5 * longest) : 60;
    const W = left + size + 20, H = top + size + 50;
    const out = [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
      `viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
      `<rect width="100%" height="100%" fill="white"/>`,
      `<text x="${left + size / 2}" y="16" text-anchor="middle" font-size="13" ` +
      `font-weight="bold">Confusion matrix (accuracy ${(100 * this.accuracy).toFixed(2)}%)</text>`,
      `<text x="${left + size / 2}" y="34" text-anchor="middle">predicted class</text>`,
      `<text transform="translate(16,${top + size / 2}) rotate(-90)" text-anchor="middle">` +
      `true class</text>`,
    ];
    this.counts.forEach((r, i) => {
      const n = r.reduce((a, b) => a + b, 0) || 1;
      out.push(
        `<text x="${left - 6}" y="${top + i * cell + cell / 2}" text-anchor="end" ` +
          `dominant-baseline="middle">${esc(this.names[i])}</text>`,
        vertical
          ? `<text transform="translate(${left + i * cell + cell / 2 + 4},${top - 6}) ` +
            `rotate(-90)">${esc(this.names[i])}</text>`
          : `<text x="${left + i * cell + cell / 2}" y="${top - 6}" text-anchor="middle">${
            esc(this.names[i])
          }</text>`,
      );
      r.forEach((c, j) => {
        const f = c / n;
        const shade = Math.round(255 * (1 - f));
        const fill = i === j
          ? `rgb(${shade},${Math.round(255 - 120 * f)},${shade})`
          : `rgb(255,${shade},${shade})`;
        out.push(
          `<rect class="cell" data-true="${i}" data-pred="${j}" data-count="${c}" x="${
            left + j * cell
          }" y="${top + i * cell}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ccc"/>`,
          `<text x="${left + j * cell + cell / 2}" y="${top + i * cell + cell / 2}" ` +
            `text-anchor="middle" dominant-baseline="middle" fill="${
              f > 0.6 ? "white" : "black"
            }">${c}</text>`,
        );
      });
    });
    out.push(
      `<text x="${left}" y="${H - 14}">rows: true class; shade: fraction of the row</text>`,
      `</svg>`,
    );
    return out.join("\n") + "\n";
  }

  /** What `deno jupyter` shows: the heat map, with the text matrix as plain text. */
  [Symbol.for("Jupyter.display")](): Record<string, string> {
    return { "image/svg+xml": this.toSVG(), "text/plain": this.toString() };
  }
}
