/*
 * pool / pool's gradient for the CPU backend (Knet's semantics, see src/ops/pool.ts):
 * mode 0 max (the first maximum of the window wins; NaN wins over numbers, as Julia's
 * max), 1 average over the window area, 2 average over the real cells. Threads take
 * runs of whole planes (N*C of them) as they come free.
 */
#include "denet.h"

typedef struct {
  int planes, h, w, oh, ow, kh, kw, ph, pw, sh, sw, mode;
} PoolGeom;

static PoolGeom pgeom(const int *p) {
  PoolGeom g = {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11]};
  return g;
}

/* Index in the plane of the window's first maximum (branch-free: random data would
 * mispredict every comparison). */
INLINE int window_argmax(const PoolGeom *g, const f32 *xs, int y0, int y1, int x0, int x1) {
  int at = y0 * g->w + x0;
  f32 best = xs[at];
  for (int y = y0; y < y1; y++) {
    for (int x = x0; x < x1; x++) {
      int j = y * g->w + x;
      f32 v = xs[j];
      int take = (v > best) | ((v != v) & (best == best));
      best = take ? v : best;
      at = take ? j : at;
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

/* Whether windows tile the plane: no padding, stride = window, and the windows fit. */
INLINE int tiled(const PoolGeom *g) {
  return g->ph == 0 && g->pw == 0 && g->sh == g->kh && g->sw == g->kw &&
         g->oh * g->kh <= g->h && g->ow * g->kw <= g->w;
}

/* Max pooling of tiling windows: f32.max keeps NaN, as Julia's max. 2x2 windows in SIMD. */
static void max_tiled(const PoolGeom *g, const f32 *xs, f32 *out, f32 scale) {
  f32x4 vs = wasm_f32x4_splat(scale);
  for (int oy = 0; oy < g->oh; oy++) {
    const f32 *r = xs + (long)oy * g->kh * g->w;
    f32 *o = out + oy * g->ow;
    int ox = 0;
    if (g->kh == 2 && g->kw == 2) {
      for (; ox + 4 <= g->ow; ox += 4) {
        f32x4 a = wasm_f32x4_max(wasm_v128_load(r + 2 * ox), wasm_v128_load(r + g->w + 2 * ox));
        f32x4 b = wasm_f32x4_max(wasm_v128_load(r + 2 * ox + 4),
                                 wasm_v128_load(r + g->w + 2 * ox + 4));
        f32x4 even = wasm_i32x4_shuffle(a, b, 0, 2, 4, 6), odd = wasm_i32x4_shuffle(a, b, 1, 3, 5, 7);
        wasm_v128_store(o + ox, wasm_f32x4_mul(vs, wasm_f32x4_max(even, odd)));
      }
    }
    for (; ox < g->ow; ox++) {
      const f32 *c = r + ox * g->kw;
      f32 m = c[0];
      for (int yy = 0; yy < g->kh; yy++)
        for (int xx = 0; xx < g->kw; xx++) m = __builtin_wasm_max_f32(m, c[yy * g->w + xx]);
      o[ox] = scale * m;
    }
  }
}

/* One plane of the pooling (the general path). */
static void pool_fwd_plane(const PoolGeom *gp, int pl, f32 scale, const f32 *x, f32 *y) {
  PoolGeom g = *gp;
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

EXPORT(pool_fwd)
void pool_fwd(const int *p, f32 scale, const f32 *x, f32 *y, int tid, int nt) {
  PoolGeom g = pgeom(p);
  int fast = g.mode == 0 && tiled(&g);
  int lo, hi;
  while (grab(g.planes, 16, &lo, &hi)) {
    for (int pl = lo; pl < hi; pl++) {
      if (fast) max_tiled(&g, x + (long)pl * g.h * g.w, y + (long)pl * g.oh * g.ow, scale);
      else pool_fwd_plane(&g, pl, scale, x, y);
    }
  }
}

/*
 * One plane of dx from dy: each window hands its gradient to its argmax (mode 0) or
 * spreads it; `covered`: tiling max windows that cover the plane (no zeroing pass).
 */
static void pool_bwd_plane(const PoolGeom *gp, int pl, int fast, int covered, f32 scale,
                           const f32 *x, const f32 *dy, f32 *dx) {
  PoolGeom g = *gp;
  const f32 *ds = dy + (long)pl * g.oh * g.ow;
  f32 *out = dx + (long)pl * g.h * g.w;
  if (!covered)
    for (int i = 0; i < g.h * g.w; i++) out[i] = 0.0f;
  if (fast) { /* disjoint windows: the argmax cell takes scale*dy, the others 0 */
    const f32 *xs = x + (long)pl * g.h * g.w;
    for (int oy = 0; oy < g.oh; oy++) {
      for (int ox = 0; ox < g.ow; ox++) {
        int y0 = oy * g.kh, x0 = ox * g.kw;
        int at = window_argmax(&g, xs, y0, y0 + g.kh, x0, x0 + g.kw);
        f32 d = scale * ds[oy * g.ow + ox];
        for (int yy = y0; yy < y0 + g.kh; yy++)
          for (int xx = x0; xx < x0 + g.kw; xx++) {
            int j = yy * g.w + xx;
            out[j] = j == at ? d : 0.0f;
          }
      }
    }
    return;
  }
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

EXPORT(pool_bwd)
void pool_bwd(const int *p, f32 scale, const f32 *x, const f32 *dy, f32 *dx, int tid, int nt) {
  PoolGeom g = pgeom(p);
  int fast = g.mode == 0 && tiled(&g);
  /* the windows cover the whole plane: every cell is written once, no zeroing pass */
  int covered = fast && g.oh * g.kh == g.h && g.ow * g.kw == g.w;
  int lo, hi;
  while (grab(g.planes, 16, &lo, &hi))
    for (int pl = lo; pl < hi; pl++) pool_bwd_plane(&g, pl, fast, covered, scale, x, dy, dx);
}
