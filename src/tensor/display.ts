/**
 * Showing a tensor's values where printing cannot wait for the GPU: {@link show} for the
 * REPL and scripts, and the bundle `deno jupyter` displays (a table, or an image grid for
 * image batches).
 *
 * @module
 */

import { imageGrid } from "../app/image_grid.ts";
import { toBase64 } from "../io/png.ts";
import { formatTensor } from "./format.ts";
import { readAll, type Tensor } from "./tensor.ts";

/**
 * Reads the values of `x` (and of `more`) back in one host sync and returns `x`, which
 * then prints with its values: in the REPL `await show(softmax(x))` shows the numbers of
 * a GPU result (a CPU tensor prints them anyway); in a script
 * `console.log(await show(y))`.
 */
export async function show(x: Tensor, ...more: Tensor[]): Promise<Tensor> {
  await readAll([x, ...more]);
  return x;
}

const MAX_CELLS = 20;

function htmlTable(values: ArrayLike<number>, shape: readonly number[]): string {
  const [r, c] = shape.length === 1 ? [1, shape[0]] : [shape[0], shape[1]];
  const rows = Math.min(r, MAX_CELLS), cols = Math.min(c, MAX_CELLS);
  const cell = (v: number) => `<td>${Number.isInteger(v) ? v : Number(v.toPrecision(5))}</td>`;
  const out = ["<table>"];
  for (let i = 0; i < rows; i++) {
    const tds: string[] = [];
    for (let j = 0; j < cols; j++) tds.push(cell(values[i * c + j]));
    if (cols < c) tds.push("<td>…</td>");
    out.push(`<tr>${tds.join("")}</tr>`);
  }
  if (rows < r) out.push(`<tr><td colspan="${cols + 1}">… ${r - rows} more rows</td></tr>`);
  out.push("</table>");
  return out.join("");
}

/**
 * What `deno jupyter` displays for a tensor: `text/plain` (the printed values), plus an
 * HTML table for rank 1 and 2 (up to 20×20 shown), or a PNG grid of the images for
 * [N,1,H,W] and [N,3,H,W] batches (up to 100 images). One host sync for a GPU tensor.
 */
export async function tensorDisplayBundle(t: Tensor): Promise<Record<string, string>> {
  if (t.disposed) return { "text/plain": `${t} (disposed)` };
  const [values] = await readAll([t]);
  const bundle: Record<string, string> = {
    "text/plain": `${t}\n${formatTensor(values, t.shape)}`,
  };
  if ((t.rank === 1 || t.rank === 2) && t.size > 0) {
    bundle["text/html"] = `<div><small>${t}</small>${htmlTable(values, t.shape)}</div>`;
  } else if (t.rank === 4 && (t.shape[1] === 1 || t.shape[1] === 3) && t.size > 0) {
    const n = Math.min(t.shape[0], 100);
    const { Tensor } = await import("./tensor.ts");
    const first = new Tensor(
      [n, ...t.shape.slice(1)],
      "f32",
      Float32Array.from(values.subarray(0, n * t.size / t.shape[0])),
    );
    bundle["image/png"] = toBase64(await imageGrid(first));
  }
  return bundle;
}
