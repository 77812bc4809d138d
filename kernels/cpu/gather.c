/*
 * take (gather along an axis) and its gradient scatter_add (src/ops/indexing.ts): x is
 * [outer, n, inner], the indices m floats (validated by the caller; an invalid one reads
 * as 0 / adds nothing, as the twin). p: outer, n, inner, m.
 */
#include "denet.h"

/* Width of the inner slices scatter_add's units take. */
#define SLICE 256

INLINE int valid_index(f32 k, int n) { return k >= 0.0f && k < (f32)n && (f32)(int)k == k; }

/* y[o, j, :] = x[o, idx[j], :]; threads take (o, j) rows. */
EXPORT(take)
void take(const int *p, const f32 *x, const f32 *idx, f32 *y, int tid, int nt) {
  int outer = p[0], n = p[1], inner = p[2], m = p[3];
  int lo, hi;
  share(outer * m, tid, nt, &lo, &hi);
  for (int u = lo; u < hi; u++) {
    int o = u / m, j = u % m;
    f32 k = idx[j];
    f32 *dst = y + (long)u * inner;
    if (!valid_index(k, n)) {
      for (int i = 0; i < inner; i++) dst[i] = 0.0f;
      continue;
    }
    const f32 *src = x + ((long)o * n + (int)k) * inner;
    for (int i = 0; i < inner; i++) dst[i] = src[i];
  }
}

/* dx[o, idx[j], :] += dy[o, j, :] for j in order; threads take (o, inner slice) units, so
 * every element's additions run in the twin's order whatever the thread count. */
EXPORT(scatter_add)
void scatter_add(const int *p, const f32 *dy, const f32 *idx, f32 *dx, int tid, int nt) {
  int outer = p[0], n = p[1], inner = p[2], m = p[3];
  int slices = (inner + SLICE - 1) / SLICE;
  int lo, hi;
  share(outer * slices, tid, nt, &lo, &hi);
  for (int u = lo; u < hi; u++) {
    int o = u / slices, i0 = (u % slices) * SLICE, i1 = imin(inner, i0 + SLICE);
    f32 *out = dx + (long)o * n * inner;
    for (int k = 0; k < n; k++)
      for (int i = i0; i < i1; i++) out[(long)k * inner + i] = 0.0f;
    for (int j = 0; j < m; j++) {
      f32 k = idx[j];
      if (!valid_index(k, n)) continue;
      f32 *d = out + (long)(int)k * inner;
      const f32 *s = dy + ((long)o * m + j) * inner;
      for (int i = i0; i < i1; i++) d[i] += s[i];
    }
  }
}
