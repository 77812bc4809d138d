/**
 * Shape arithmetic shared by the ops: row-major strides, NumPy broadcasting and axis
 * normalisation, each with errors that name the op and the shapes.
 *
 * @module
 */

/** Row-major (C-order) strides of a shape, in elements. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

/** `[2,3]` for messages. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(",")}]`;
}

/** The NumPy broadcast of two shapes; throws naming the op when they do not broadcast. */
export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(
        `${op}: shapes ${fmtShape(a)} and ${
          fmtShape(b)
        } do not broadcast (dimension ${i}: ${da} vs ${db})`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Strides that read an operand of shape `from` as if it had the broadcast shape `to`
 * (0 on broadcast dimensions).
 */
export function broadcastStrides(from: readonly number[], to: readonly number[]): number[] {
  const s = stridesOf(from);
  const out = new Array<number>(to.length).fill(0);
  for (let i = 0; i < from.length; i++) {
    const j = to.length - from.length + i;
    out[j] = from[i] === 1 && to[j] !== 1 ? 0 : s[i];
  }
  return out;
}

/** Normalises a possibly negative axis; throws naming the op when out of range. */
export function normalizeAxis(op: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= Math.max(rank, 1)) {
    throw new Error(`${op}: axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Normalises a list of axes (undefined = all), sorted and without duplicates. */
export function normalizeAxes(
  op: string,
  axes: number | readonly number[] | undefined,
  rank: number,
): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === "number" ? [axes] : [...axes];
  const norm = list.map((a) => normalizeAxis(op, a, rank));
  if (new Set(norm).size !== norm.length) {
    throw new Error(`${op}: repeated axis in [${list.join(",")}]`);
  }
  return norm.sort((x, y) => x - y);
}

/** Maximum tensor rank handled by the GPU kernels. */
export const MAX_RANK = 8;

/** Throws when a shape exceeds the kernels' rank limit. */
export function checkRank(op: string, shape: readonly number[]): void {
  if (shape.length > MAX_RANK) {
    throw new Error(
      `${op}: rank ${shape.length} exceeds the maximum rank ${MAX_RANK} (${fmtShape(shape)})`,
    );
  }
}
