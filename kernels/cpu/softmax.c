/*
 * softmax / logsoftmax / logsumexp over rows of a contiguous [rows, len] view, and the
 * fused softmax cross-entropy (xent) with its gradient (src/ops/softmax.ts,
 * src/ops/xent.ts). The row maximum is Julia's (NaN wins); sums of exponentials
 * accumulate in f64 as the TypeScript twins do. Threads take whole rows.
 */
#include "denet.h"
#include "mathf.h"

/* -ffast-math would turn (x - m) - lse into x - (m + lse), losing digits of large rows. */
#pragma clang fp reassociate(off)

/* The row maximum (NaN wins; -inf for an empty row). */
INLINE f32 row_max(const f32 *x, int len) {
  f32 m = -__builtin_inff();
  for (int j = 0; j < len; j++) m = nanmax(m, x[j]);
  return m;
}

/* kind 0 softmax, 1 logsoftmax, 2 logsumexp (one value per row). */
EXPORT(softmax_rows)
void softmax_rows(int kind, int rows, int len, const f32 *x, f32 *y, int tid, int nt) {
  int lo, hi;
  share(rows, tid, nt, &lo, &hi);
  for (int r = lo; r < hi; r++) {
    const f32 *xs = x + (long)r * len;
    f32 m = row_max(xs, len);
    double s = 0.0;
    if (kind == 0) {
      f32 *out = y + (long)r * len;
      for (int j = 0; j < len; j++) {
        f32 e = d_expf(xs[j] - m);
        out[j] = e;
        s += e;
      }
      f32 sf = (f32)s;
      for (int j = 0; j < len; j++) out[j] = out[j] / sf;
      continue;
    }
    for (int j = 0; j < len; j++) s += d_expf(xs[j] - m);
    f32 lse = d_logf((f32)s);
    if (kind == 2) {
      y[r] = m + lse;
      continue;
    }
    f32 *out = y + (long)r * len;
    for (int j = 0; j < len; j++) out[j] = (xs[j] - m) - lse;
  }
}

/* Row stats for class c: the maximum, s = sum exp(x - m), o = s without class c. */
INLINE f32 xent_stats(const f32 *xs, int len, int c, double *s, double *o) {
  f32 m = row_max(xs, len);
  double ss = 0.0, oo = 0.0;
  for (int j = 0; j < len; j++) {
    f32 e = d_expf(xs[j] - m);
    ss += e;
    oo += j == c ? 0.0f : e;
  }
  *s = ss;
  *o = oo;
  return m;
}

/* Per-row loss (m - x[c]) + log s, or log1p(o) when x[c] is the maximum; 0 for a
 * negative label. Labels were validated by the caller. */
EXPORT(xent_fwd)
void xent_fwd(int rows, int len, const f32 *x, const f32 *labels, f32 *y, int tid, int nt) {
  int lo, hi;
  share(rows, tid, nt, &lo, &hi);
  for (int r = lo; r < hi; r++) {
    f32 l = labels[r];
    if (l < 0.0f) {
      y[r] = 0.0f;
      continue;
    }
    int c = (int)l;
    const f32 *xs = x + (long)r * len;
    double s, o;
    f32 m = xent_stats(xs, len, c, &s, &o);
    f32 xc = xs[c];
    y[r] = xc == m ? d_log1pf((f32)o) : (m - xc) + d_logf((f32)s);
  }
}

/* dx[r] = dy[r] * (softmax(x[r]) - onehot(c)), the label's entry as -dy[r] * o/s. */
EXPORT(xent_bwd)
void xent_bwd(int rows, int len, const f32 *x, const f32 *labels, const f32 *dy, f32 *dx,
              int tid, int nt) {
  int lo, hi;
  share(rows, tid, nt, &lo, &hi);
  for (int r = lo; r < hi; r++) {
    f32 *out = dx + (long)r * len;
    f32 l = labels[r];
    if (l < 0.0f) {
      for (int j = 0; j < len; j++) out[j] = 0.0f;
      continue;
    }
    int c = (int)l;
    const f32 *xs = x + (long)r * len;
    double s, o;
    f32 m = xent_stats(xs, len, c, &s, &o);
    f32 d = dy[r], sf = (f32)s;
    for (int j = 0; j < len; j++) out[j] = d * (d_expf(xs[j] - m) / sf);
    out[c] = -d * (f32)(o / s);
  }
}
