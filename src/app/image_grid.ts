/**
 * Sample images in a grid, with their (predicted) labels: `imageGrid(x, { cols })` as a
 * PNG (labels drawn with a built-in 3×5 digit font) or an SVG (an embedded PNG with the
 * labels as text). Green labels are right and red ones wrong when `truth` is given.
 *
 * @module
 */

import { encodePNG, toBase64 } from "../io/png.ts";
import { readAll, type Tensor } from "../tensor/tensor.ts";

/** Options of {@link imageGrid}. */
export interface ImageGridOptions {
  /** Images per row (default: up to 10). */
  cols?: number;
  /** A label per image (usually the predicted class), drawn under it. */
  labels?: ArrayLike<number> | Tensor;
  /** The true class per image: labels that differ from it are drawn in red, others in green. */
  truth?: ArrayLike<number> | Tensor;
  /** Class names for the SVG labels (the PNG draws the class numbers). */
  names?: readonly string[];
  /** Pixels per image pixel (default 2). */
  scale?: number;
  /** "png" (default) or "svg". */
  format?: "png" | "svg";
}

const DIGITS = [
  "111101101101111",
  "010110010010111",
  "111001111100111",
  "111001111001111",
  "101101111001001",
  "111100111001111",
  "111100111101111",
  "111001001001001",
  "111101111101111",
  "111101111001111",
];

interface Layout {
  n: number;
  c: number;
  h: number;
  w: number;
  cols: number;
  rows: number;
  scale: number;
  strip: number;
  gap: number;
  width: number;
  height: number;
}

function layout(shape: readonly number[], opts: ImageGridOptions, strip: number): Layout {
  let [n, c, h, w] = shape.length === 4
    ? shape
    : shape.length === 3
    ? [shape[0], 1, shape[1], shape[2]]
    : [NaN, NaN, NaN, NaN];
  if (!Number.isFinite(n) || (c !== 1 && c !== 3)) {
    throw new Error(
      `imageGrid: expected images [N,1,H,W], [N,3,H,W] or [N,H,W], got [${shape.join(",")}]`,
    );
  }
  if (n === 0) throw new Error("imageGrid: no images");
  const cols = opts.cols ?? Math.min(n, 10);
  if (!Number.isInteger(cols) || cols < 1) {
    throw new Error(`imageGrid: cols must be a positive integer, got ${cols}`);
  }
  const scale = opts.scale ?? 2;
  if (!Number.isInteger(scale) || scale < 1) {
    throw new Error(`imageGrid: scale must be a positive integer, got ${scale}`);
  }
  const rows = Math.ceil(n / cols), gap = 2;
  [n, c, h, w] = [n, c, h, w].map(Number);
  return {
    n,
    c,
    h,
    w,
    cols,
    rows,
    scale,
    strip,
    gap,
    width: cols * (w * scale + gap) + gap,
    height: rows * (h * scale + strip + gap) + gap,
  };
}

async function host(v: ArrayLike<number> | Tensor | undefined, n: number, what: string) {
  if (v === undefined) return undefined;
  const a = (v as Tensor).shape !== undefined && typeof (v as Tensor).data === "function"
    ? await (v as Tensor).data()
    : (v as ArrayLike<number>);
  if (a.length !== n) throw new Error(`imageGrid: ${a.length} ${what} for ${n} images`);
  return a;
}

/** The RGB pixels of the grid (labels drawn when `font`). */
function paint(
  L: Layout,
  x: ArrayLike<number>,
  labels?: ArrayLike<number>,
  truth?: ArrayLike<number>,
  font = true,
): Uint8Array {
  const px = new Uint8Array(L.width * L.height * 3).fill(255);
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  const range = hi > lo ? hi - lo : 1;
  const set = (X: number, Y: number, r: number, g: number, b: number) => {
    const o = (Y * L.width + X) * 3;
    px[o] = r;
    px[o + 1] = g;
    px[o + 2] = b;
  };
  const plane = L.h * L.w;
  for (let k = 0; k < L.n; k++) {
    const ox = L.gap + (k % L.cols) * (L.w * L.scale + L.gap);
    const oy = L.gap + Math.floor(k / L.cols) * (L.h * L.scale + L.strip + L.gap);
    for (let i = 0; i < L.h; i++) {
      for (let j = 0; j < L.w; j++) {
        const v = (ch: number) =>
          Math.round(255 * (x[(k * L.c + ch) * plane + i * L.w + j] - lo) / range);
        // Dark ink on white for single-channel images (MNIST strokes are high values).
        const rgb = L.c === 1 ? [255 - v(0), 255 - v(0), 255 - v(0)] : [v(0), v(1), v(2)];
        for (let a = 0; a < L.scale; a++) {
          for (let b = 0; b < L.scale; b++) {
            set(ox + j * L.scale + b, oy + i * L.scale + a, rgb[0], rgb[1], rgb[2]);
          }
        }
      }
    }
    if (font && labels !== undefined) {
      const text = String(labels[k]);
      const wrong = truth !== undefined && truth[k] !== labels[k];
      const color = truth === undefined ? [0, 0, 0] : wrong ? [220, 20, 20] : [0, 140, 0];
      const fs = Math.max(1, Math.floor((L.strip - 2) / 5));
      let cx = ox;
      for (const ch of text) {
        const g = DIGITS[Number(ch)];
        if (g === undefined) {
          cx += 4 * fs;
          continue;
        }
        for (let r = 0; r < 5; r++) {
          for (let q = 0; q < 3; q++) {
            if (g[r * 3 + q] !== "1") continue;
            for (let a = 0; a < fs; a++) {
              for (let b = 0; b < fs; b++) {
                const X = cx + q * fs + b, Y = oy + L.h * L.scale + 1 + r * fs + a;
                if (X < L.width && Y < L.height) set(X, Y, color[0], color[1], color[2]);
              }
            }
          }
        }
        cx += 4 * fs;
      }
    }
  }
  return px;
}

/**
 * Draws images `x` ([N,1,H,W], [N,3,H,W] or [N,H,W], any device; values scaled from
 * their min..max) in a grid of `cols` columns, each with its label (e.g. the predicted
 * class) underneath. Returns PNG bytes, or SVG text with `format: "svg"`. One host sync
 * for a GPU tensor.
 */
export async function imageGrid(
  x: Tensor,
  opts: ImageGridOptions & { format: "svg" },
): Promise<string>;
/** See the overload above: PNG bytes by default. */
export async function imageGrid(
  x: Tensor,
  opts?: ImageGridOptions & { format?: "png" },
): Promise<Uint8Array>;
export async function imageGrid(
  x: Tensor,
  opts: ImageGridOptions = {},
): Promise<Uint8Array | string> {
  const format = opts.format ?? "png";
  if (format !== "png" && format !== "svg") {
    throw new Error(`imageGrid: format must be "png" or "svg", got "${format}"`);
  }
  const labeled = opts.labels !== undefined;
  const L = layout(x.shape, opts, labeled ? (format === "png" ? 12 : 14) : 0);
  const [values] = await readAll([x]);
  const labels = await host(opts.labels, L.n, "labels");
  const truth = await host(opts.truth, L.n, "true labels");
  const png = await encodePNG(
    L.width,
    L.height,
    paint(L, values, labels, truth, format === "png"),
    3,
  );
  if (format === "png") return png;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" ` +
    `width="${L.width}" height="${L.height}" viewBox="0 0 ${L.width} ${L.height}" ` +
    `font-family="sans-serif" font-size="11">`,
    `<image width="${L.width}" height="${L.height}" xlink:href="data:image/png;base64,${
      toBase64(png)
    }"/>`,
  ];
  if (labels !== undefined) {
    for (let k = 0; k < L.n; k++) {
      const ox = L.gap + (k % L.cols) * (L.w * L.scale + L.gap);
      const oy = L.gap + Math.floor(k / L.cols) * (L.h * L.scale + L.strip + L.gap) +
        L.h * L.scale + 11;
      const wrong = truth !== undefined && truth[k] !== labels[k];
      const fill = truth === undefined ? "black" : wrong ? "#d62728" : "#2ca02c";
      const name = opts.names?.[labels[k]] ?? String(labels[k]);
      out.push(
        `<text class="label" x="${ox}" y="${oy}" fill="${fill}">${
          name.replace(/&/g, "&amp;").replace(/</g, "&lt;")
        }</text>`,
      );
    }
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}

/** Writes {@link imageGrid}'s picture to `path`: SVG when it ends in .svg, else PNG. */
export async function saveImageGrid(
  path: string,
  x: Tensor,
  opts: Omit<ImageGridOptions, "format"> = {},
): Promise<void> {
  if (/\.svg$/i.test(path)) {
    await Deno.writeTextFile(path, await imageGrid(x, { ...opts, format: "svg" }));
  } else await Deno.writeFile(path, await imageGrid(x, { ...opts, format: "png" }));
}
