/**
 * Pretty printing of tensor values, NumPy/Julia style: nested brackets, aligned columns,
 * long dimensions elided with `...` (first and last three entries shown).
 *
 * @module
 */

const EDGE = 3;

function formatNumber(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "Inf" : "-Inf";
  if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e6)) return v.toExponential(4);
  return String(Number(v.toPrecision(5)));
}

function keptIndices(n: number): (number | null)[] {
  if (n <= 2 * EDGE) return Array.from({ length: n }, (_, i) => i);
  const head = Array.from({ length: EDGE }, (_, i) => i);
  const tail = Array.from({ length: EDGE }, (_, i) => n - EDGE + i);
  return [...head, null, ...tail];
}

/** Formats flat row-major `values` of `shape` as nested, aligned, elided rows. */
export function formatTensor(values: ArrayLike<number>, shape: readonly number[]): string {
  if (shape.length === 0) return formatNumber(values[0]);
  if (values.length === 0) return "[]";
  const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
  // Column width from the values that will be shown.
  let width = 1;
  const visit = (dim: number, offset: number) => {
    for (const i of keptIndices(shape[dim])) {
      if (i === null) continue;
      const o = offset + i * strides[dim];
      if (dim === shape.length - 1) width = Math.max(width, formatNumber(values[o]).length);
      else visit(dim + 1, o);
    }
  };
  visit(0, 0);
  const render = (dim: number, offset: number, indent: string): string => {
    const parts: string[] = [];
    for (const i of keptIndices(shape[dim])) {
      if (i === null) {
        parts.push("...");
        continue;
      }
      const o = offset + i * strides[dim];
      parts.push(
        dim === shape.length - 1
          ? formatNumber(values[o]).padStart(width)
          : render(dim + 1, o, indent + " "),
      );
    }
    if (dim === shape.length - 1) return `[${parts.join(", ")}]`;
    const sep = ",\n" + "\n".repeat(shape.length - dim - 2) + indent + " ";
    return `[${parts.join(sep)}]`;
  };
  return render(0, 0, "");
}
