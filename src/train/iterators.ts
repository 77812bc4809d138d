/**
 * Iterator helpers for training loops, as Julia's `Iterators` are used with Knet:
 * `ncycle(data, n)` (n epochs), `cycle(data)` (forever; stop it with `limit` or
 * `converge`) and `limit(itr, n)` (the first n items).
 *
 * @module
 */

/** `data` repeated `n` times (Knet's `ncycle`); re-iterable, with a length when data has one. */
export function ncycle<T>(data: Iterable<T>, n: number): Iterable<T> & { length?: number } {
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`ncycle: n must be a non-negative integer, got ${n}`);
  }
  const len = (data as { length?: unknown }).length;
  return {
    length: typeof len === "number" ? len * n : undefined,
    *[Symbol.iterator]() {
      for (let i = 0; i < n; i++) yield* data;
    },
  };
}

/** `data` repeated without end (Julia's `cycle`). */
export function cycle<T>(data: Iterable<T>): Iterable<T> {
  return {
    *[Symbol.iterator]() {
      for (;;) {
        let any = false;
        for (const x of data) {
          any = true;
          yield x;
        }
        if (!any) return; // an empty dataset would otherwise spin forever
      }
    },
  };
}

/** The first `n` items of `itr` (Julia's `take`); stopping early closes `itr`. */
export function limit<T>(itr: Iterable<T>, n: number): Iterable<T> & { length: number } {
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`limit: n must be a non-negative integer, got ${n}`);
  }
  const len = (itr as { length?: unknown }).length;
  return {
    length: typeof len === "number" ? Math.min(len, n) : n,
    *[Symbol.iterator]() {
      if (n === 0) return;
      let i = 0;
      for (const x of itr) {
        yield x;
        if (++i >= n) return;
      }
    },
  };
}
