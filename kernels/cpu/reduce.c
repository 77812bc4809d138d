/*
 * Row reductions (src/ops/reduce.ts, reduceRowsCpu): sum, prod, max, min, argmax, argmin
 * of map(x) with map id, x², x·x2, |x|, over rows of len elements `inner` apart. Values
 * are mapped and accumulated in f64 (as the twin). Max/min follow Julia: NaN wins;
 * argmax/argmin give the first NaN's index if any, else the first extremum's.
 *
 * Two passes: reduce_part reduces fixed chunks of each row (chunking independent of the
 * thread count, so results never depend on it) into f64 partials, reduce_final combines
 * each row's partials in order and applies sqrt and scale.
 */
#include "denet.h"

enum { K_SUM, K_PROD, K_MAX, K_MIN, K_ARGMAX, K_ARGMIN };
enum { M_ID, M_SQUARE, M_MUL, M_ABS };

INLINE double mapped(int map, f32 a, f32 b) {
  double x = a;
  switch (map) {
    case M_SQUARE: return x * x;
    case M_MUL: return x * (double)b;
    case M_ABS: return __builtin_fabs(x);
    default: return x;
  }
}

/* Whether v replaces best in an extremum search (NaN wins, the first one stays). */
INLINE int better(int kind, double v, double best) {
  if (best != best) return 0;
  if (v != v) return 1;
  return (kind == K_MAX || kind == K_ARGMAX) ? v > best : v < best;
}

/* p: kind, map, rows, len, inner, chunks, chunkLen. Unit u = row * chunks + chunk. */
EXPORT(reduce_part)
void reduce_part(const int *p, const f32 *x, const f32 *x2, double *vals, int *idx, int tid,
                 int nt) {
  int kind = p[0], map = p[1], rows = p[2], len = p[3], inner = p[4], chunks = p[5];
  int clen = p[6];
  int lo, hi;
  share(rows * chunks, tid, nt, &lo, &hi);
  for (int u = lo; u < hi; u++) {
    int row = u / chunks, c = u % chunks;
    long base = (long)(row / inner) * len * inner + row % inner;
    int j0 = c * clen, j1 = imin(len, j0 + clen);
    const f32 *xs = x + base, *ys = x2 + base;
    double acc;
    int at = j0;
    if (kind == K_SUM) {
      acc = 0.0;
      if (inner == 1 && map == M_ID) {
        for (int j = j0; j < j1; j++) acc += xs[j];
      } else if (inner == 1 && map == M_SQUARE) {
        for (int j = j0; j < j1; j++) acc += (double)xs[j] * xs[j];
      } else if (inner == 1 && map == M_MUL) {
        for (int j = j0; j < j1; j++) acc += (double)xs[j] * ys[j];
      } else {
        for (int j = j0; j < j1; j++) acc += mapped(map, xs[(long)j * inner], ys[(long)j * inner]);
      }
    } else if (kind == K_PROD) {
      acc = 1.0;
      for (int j = j0; j < j1; j++) acc *= mapped(map, xs[(long)j * inner], ys[(long)j * inner]);
    } else {
      acc = j0 < j1 ? mapped(map, xs[(long)j0 * inner], ys[(long)j0 * inner]) : 0.0;
      for (int j = j0 + 1; j < j1 && acc == acc; j++) {
        double v = mapped(map, xs[(long)j * inner], ys[(long)j * inner]);
        if (better(kind, v, acc)) {
          acc = v;
          at = j;
        }
      }
    }
    vals[u] = acc;
    idx[u] = at;
  }
}

/* Combines each row's `chunks` partials in order into out (f32). */
EXPORT(reduce_final)
void reduce_final(int kind, int rows, int chunks, int sqrt_, double scale, const double *vals,
                  const int *idx, f32 *out, int tid, int nt) {
  int lo, hi;
  share(rows, tid, nt, &lo, &hi);
  for (int r = lo; r < hi; r++) {
    const double *v = vals + (long)r * chunks;
    const int *ix = idx + (long)r * chunks;
    double acc = v[0];
    int at = ix[0];
    for (int c = 1; c < chunks; c++) {
      if (kind == K_SUM) acc += v[c];
      else if (kind == K_PROD) acc *= v[c];
      else if (better(kind, v[c], acc)) {
        acc = v[c];
        at = ix[c];
      }
    }
    if (kind == K_ARGMAX || kind == K_ARGMIN) {
      out[r] = (f32)at;
      continue;
    }
    if (sqrt_) acc = __builtin_sqrt(acc);
    out[r] = (f32)(acc * scale);
  }
}

/* Columns one unit of reduce_cols takes. */
#define COLS 64

/*
 * reduce_part's single-chunk case for strided rows (inner > 1), reading x by contiguous
 * runs: a unit is (outer index, block of COLS columns), and each column's value
 * accumulates over j in order exactly as a row of reduce_part does. Writes vals[row],
 * idx[row] for row = o·inner + i.
 */
EXPORT(reduce_cols)
void reduce_cols(const int *p, const f32 *x, const f32 *x2, double *vals, int *idx, int tid,
                 int nt) {
  int kind = p[0], map = p[1], len = p[3], inner = p[4];
  int outer = p[2] / inner, blocks = (inner + COLS - 1) / COLS;
  int lo, hi;
  share(outer * blocks, tid, nt, &lo, &hi);
  for (int u = lo; u < hi; u++) {
    int o = u / blocks, i0 = (u % blocks) * COLS, w = imin(inner, i0 + COLS) - i0;
    long base = (long)o * len * inner + i0;
    const f32 *xs = x + base, *ys = x2 + base;
    double acc[COLS];
    int at[COLS];
    int extremum = kind != K_SUM && kind != K_PROD;
    for (int c = 0; c < w; c++) {
      acc[c] = kind == K_SUM ? 0.0 : kind == K_PROD ? 1.0
             : len > 0      ? mapped(map, xs[c], ys[c])
                            : 0.0;
      at[c] = 0;
    }
    for (int j = extremum ? 1 : 0; j < len; j++) {
      const f32 *r = xs + (long)j * inner, *q = ys + (long)j * inner;
      if (kind == K_SUM && map == M_ID) {
        for (int c = 0; c < w; c++) acc[c] += r[c];
      } else if (kind == K_SUM) {
        for (int c = 0; c < w; c++) acc[c] += mapped(map, r[c], q[c]);
      } else if (kind == K_PROD) {
        for (int c = 0; c < w; c++) acc[c] *= mapped(map, r[c], q[c]);
      } else {
        for (int c = 0; c < w; c++) {
          double v = mapped(map, r[c], q[c]);
          if (better(kind, v, acc[c])) {
            acc[c] = v;
            at[c] = j;
          }
        }
      }
    }
    double *vo = vals + (long)o * inner + i0;
    int *io = idx + (long)o * inner + i0;
    for (int c = 0; c < w; c++) {
      vo[c] = acc[c];
      io[c] = at[c];
    }
  }
}
