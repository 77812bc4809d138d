/*
 * pool / pool's gradient for the CPU backend (Knet's semantics, see src/ops/pool.ts):
 * mode 0 max (the first maximum of the window wins; NaN wins over numbers, as Julia's
 * max), 1 average over the window area, 2 average over the real cells. Threads take
 * whole planes (N*C of them).
 */
#include "denet.h"

typedef struct {
  int planes, h, w, oh, ow, kh, kw, ph, pw, sh, sw, mode;
} PoolGeom;

static PoolGeom pgeom(const int *p) {
  PoolGeom g = {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11]};
  return g;
}

/* Index in the plane of window (oy, ox)'s first maximum, and its clipped extent. */
INLINE int window_argmax(const PoolGeom *g, const f32 *xs, int y0, int y1, int x0, int x1) {
  int at = y0 * g->w + x0;
  f32 best = xs[at];
  for (int y = y0; y < y1; y++) {
    for (int x = x0; x < x1; x++) {
      int j = y * g->w + x;
      f32 v = xs[j];
      if (v > best || (v != v && best == best)) {
        best = v;
        at = j;
      }
    }
  }
  return at;
}

#define CLIP(o, s, pad, k, n, lo, hi) \
  do {                                \
    int st_ = (o) * (s) - (pad);      \
    lo = imax(st_, 0);                \
    hi = imin(st_ + (k), (n));        \
  } while (0)

EXPORT(pool_fwd)
void pool_fwd(const int *p, f32 scale, const f32 *x, f32 *y, int tid, int nt) {
  PoolGeom g = pgeom(p);
  int lo, hi;
  share(g.planes, tid, nt, &lo, &hi);
  for (int pl = lo; pl < hi; pl++) {
    const f32 *xs = x + (long)pl * g.h * g.w;
    f32 *out = y + (long)pl * g.oh * g.ow;
    for (int oy = 0; oy < g.oh; oy++) {
      int y0, y1;
      CLIP(oy, g.sh, g.ph, g.kh, g.h, y0, y1);
      for (int ox = 0; ox < g.ow; ox++) {
        int x0, x1;
        CLIP(ox, g.sw, g.pw, g.kw, g.w, x0, x1);
        f32 v;
        if (g.mode == 0) {
          v = xs[window_argmax(&g, xs, y0, y1, x0, x1)];
        } else {
          f32 s = 0.0f;
          for (int yy = y0; yy < y1; yy++)
            for (int xx = x0; xx < x1; xx++) s += xs[yy * g.w + xx];
          int count = g.mode == 1 ? g.kh * g.kw : (y1 - y0) * (x1 - x0);
          v = s / (f32)count;
        }
        out[oy * g.ow + ox] = scale * v;
      }
    }
  }
}

/* dx from dy: each window hands its gradient to its argmax (mode 0) or spreads it. */
EXPORT(pool_bwd)
void pool_bwd(const int *p, f32 scale, const f32 *x, const f32 *dy, f32 *dx, int tid, int nt) {
  PoolGeom g = pgeom(p);
  int lo, hi;
  share(g.planes, tid, nt, &lo, &hi);
  for (int pl = lo; pl < hi; pl++) {
    const f32 *ds = dy + (long)pl * g.oh * g.ow;
    f32 *out = dx + (long)pl * g.h * g.w;
    for (int i = 0; i < g.h * g.w; i++) out[i] = 0.0f;
    for (int oy = 0; oy < g.oh; oy++) {
      int y0, y1;
      CLIP(oy, g.sh, g.ph, g.kh, g.h, y0, y1);
      for (int ox = 0; ox < g.ow; ox++) {
        int x0, x1;
        CLIP(ox, g.sw, g.pw, g.kw, g.w, x0, x1);
        f32 d = ds[oy * g.ow + ox];
        if (g.mode == 0) {
          out[window_argmax(&g, x + (long)pl * g.h * g.w, y0, y1, x0, x1)] += d;
        } else {
          int count = g.mode == 1 ? g.kh * g.kw : (y1 - y0) * (x1 - x0);
          f32 share_ = d / (f32)count;
          for (int yy = y0; yy < y1; yy++)
            for (int xx = x0; xx < x1; xx++) out[yy * g.w + xx] += share_;
        }
      }
    }
    for (int i = 0; i < g.h * g.w; i++) out[i] *= scale;
  }
}
