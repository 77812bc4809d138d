/*
 * conv4 / deconv4 for the CPU backend (Knet's semantics, see src/ops/conv.ts): per image
 * and group, the input window matrix ("cols", [Cg*kH*kW, Ho*Wo]) is built in per-thread
 * scratch and multiplied with the filters by gemm_core. Threads take whole images as they
 * come free; the filter gradient sums images in fixed chunks (see gemm_batched), so every result is the
 * same whatever the thread count.
 */
#include "denet.h"

typedef struct {
  int N, C, H, W, O, G, kH, kW, Ho, Wo, pH, pW, sH, sW, dH, dW, flip;
} Geom;

/* cols[(c*kH + kh)*kW + kw][oh*Wo + ow] = x[c][ih][iw] (0 outside the image). */
static void im2col(const Geom *g, const f32 *x, int Cg, f32 *cols) {
  int P = g->Ho * g->Wo;
  for (int c = 0; c < Cg; c++) {
    const f32 *xc = x + (long)c * g->H * g->W;
    for (int kh = 0; kh < g->kH; kh++) {
      int fh = g->flip ? g->kH - 1 - kh : kh;
      for (int kw = 0; kw < g->kW; kw++) {
        int fw = g->flip ? g->kW - 1 - kw : kw;
        f32 *row = cols + (long)((c * g->kH + kh) * g->kW + kw) * P;
        for (int oh = 0; oh < g->Ho; oh++) {
          int ih = oh * g->sH - g->pH + fh * g->dH;
          f32 *r = row + oh * g->Wo;
          if (ih < 0 || ih >= g->H) {
            for (int ow = 0; ow < g->Wo; ow++) r[ow] = 0.0f;
            continue;
          }
          const f32 *xr = xc + (long)ih * g->W;
          int iw0 = -g->pW + fw * g->dW;
          if (g->sW == 1 && iw0 >= 0 && iw0 + g->Wo <= g->W) {
            for (int ow = 0; ow < g->Wo; ow++) r[ow] = xr[iw0 + ow];
          } else {
            for (int ow = 0; ow < g->Wo; ow++) {
              int iw = ow * g->sW + iw0;
              r[ow] = (iw >= 0 && iw < g->W) ? xr[iw] : 0.0f;
            }
          }
        }
      }
    }
  }
}

/* The adjoint of im2col: x[c][ih][iw] += cols[...] (x must be zeroed first). */
static void col2im(const Geom *g, const f32 *cols, int Cg, f32 *x) {
  int P = g->Ho * g->Wo;
  for (int c = 0; c < Cg; c++) {
    f32 *xc = x + (long)c * g->H * g->W;
    for (int kh = 0; kh < g->kH; kh++) {
      int fh = g->flip ? g->kH - 1 - kh : kh;
      for (int kw = 0; kw < g->kW; kw++) {
        int fw = g->flip ? g->kW - 1 - kw : kw;
        const f32 *row = cols + (long)((c * g->kH + kh) * g->kW + kw) * P;
        for (int oh = 0; oh < g->Ho; oh++) {
          int ih = oh * g->sH - g->pH + fh * g->dH;
          if (ih < 0 || ih >= g->H) continue;
          f32 *xr = xc + (long)ih * g->W;
          const f32 *r = row + oh * g->Wo;
          for (int ow = 0; ow < g->Wo; ow++) {
            int iw = ow * g->sW - g->pW + fw * g->dW;
            if (iw >= 0 && iw < g->W) xr[iw] += r[ow];
          }
        }
      }
    }
  }
}

static Geom geom(const int *p) {
  Geom g = {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8],
            p[9], p[10], p[11], p[12], p[13], p[14], p[15], p[16]};
  return g;
}

/* One thread's view of a conv call: the geometry, its sizes and its scratch. */
typedef struct {
  Geom g;
  int Cg, Og, K, P; /* channels and filters per group, cols rows, output pixels */
  f32 *cols, *work; /* this thread's im2col buffer and GEMM scratch */
} Call;

static Call call_of(const int *p, f32 *cols, f32 *work, int workFloats, int tid) {
  Call c;
  c.g = geom(p);
  c.Cg = c.g.C / c.g.G;
  c.Og = c.g.O / c.g.G;
  c.K = c.Cg * c.g.kH * c.g.kW;
  c.P = c.g.Ho * c.g.Wo;
  c.cols = cols + (long)tid * c.K * c.P;
  c.work = work + (long)tid * workFloats;
  return c;
}

/* Floats of cols scratch one thread needs. */
EXPORT(conv_cols_floats)
int conv_cols_floats(const int *p) {
  Geom g = geom(p);
  return (g.C / g.G) * g.kH * g.kW * g.Ho * g.Wo;
}

/* y[N,O,Ho,Wo] = alpha * conv(w[O,Cg,kH,kW], x[N,C,H,W]). p: the 17 geometry ints. */
EXPORT(conv_fwd)
void conv_fwd(const int *p, f32 alpha, const f32 *w, const f32 *x, f32 *y, f32 *cols,
              f32 *work, int workFloats, int tid, int nt) {
  Call k = call_of(p, cols, work, workFloats, tid);
  Geom g = k.g;
  int Cg = k.Cg, Og = k.Og, K = k.K, P = k.P;
  f32 *c = k.cols, *wk = k.work;
  int n, n1;
  while (grab(g.N, 1, &n, &n1)) {
    for (int gi = 0; gi < g.G; gi++) {
      im2col(&g, x + ((long)n * g.C + gi * Cg) * g.H * g.W, Cg, c);
      gemm_core(Og, P, K, w + (long)gi * Og * K, K, 1, c, P, 1,
                y + ((long)n * g.O + gi * Og) * P, P, alpha, 0.0f, wk);
    }
  }
}

/* dx[N,C,H,W] = alpha * conv4's input gradient from dy[N,O,Ho,Wo] (deconv4). */
EXPORT(conv_dx)
void conv_dx(const int *p, f32 alpha, const f32 *w, const f32 *dy, f32 *dx, f32 *cols,
             f32 *work, int workFloats, int tid, int nt) {
  Call k = call_of(p, cols, work, workFloats, tid);
  Geom g = k.g;
  int Cg = k.Cg, Og = k.Og, K = k.K, P = k.P;
  f32 *c = k.cols, *wk = k.work;
  int n, n1;
  while (grab(g.N, 1, &n, &n1)) {
    f32 *xn = dx + (long)n * g.C * g.H * g.W;
    for (long i = 0; i < (long)g.C * g.H * g.W; i++) xn[i] = 0.0f;
    for (int gi = 0; gi < g.G; gi++) {
      /* cols[K,P] = w_g^T [K,Og] * dy_n,g [Og,P]; w_g is stored [Og,K]. */
      gemm_core(K, P, Og, w + (long)gi * Og * K, 1, K, dy + ((long)n * g.O + gi * Og) * P, P, 1,
                c, P, alpha, 0.0f, wk);
      col2im(&g, c, Cg, xn + (long)gi * Cg * g.H * g.W);
    }
  }
}

/*
 * The filter gradient alpha * sum_n dy_n,g [Og,P] * cols_n,g^T [P,K]: images in `chunks`
 * fixed runs, run r written to runs + r*O*K (the caller adds the runs up).
 */
EXPORT(conv_dw)
void conv_dw(const int *p, f32 alpha, const f32 *x, const f32 *dy, f32 *runs, int chunks,
             f32 *cols, f32 *work, int workFloats, int tid, int nt) {
  Call k = call_of(p, cols, work, workFloats, tid);
  Geom g = k.g;
  int Cg = k.Cg, Og = k.Og, K = k.K, P = k.P;
  f32 *c = k.cols, *wk = k.work;
  int r, r1;
  while (grab(chunks, 1, &r, &r1)) {
    int lo, hi;
    share(g.N, r, chunks, &lo, &hi);
    f32 *out = runs + (long)r * g.O * K;
    if (lo == hi) {
      for (long i = 0; i < (long)g.O * K; i++) out[i] = 0.0f;
      continue;
    }
    for (int n = lo; n < hi; n++) {
      for (int gi = 0; gi < g.G; gi++) {
        im2col(&g, x + ((long)n * g.C + gi * Cg) * g.H * g.W, Cg, c);
        /* B = cols^T: logical [P,K], stored [K,P] -> rsB = 1, csB = P. */
        gemm_core(Og, K, P, dy + ((long)n * g.O + gi * Og) * P, P, 1, c, 1, P,
                  out + (long)gi * Og * K, K, alpha, n == lo ? 0.0f : 1.0f, wk);
      }
    }
  }
}
