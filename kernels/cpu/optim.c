/*
 * The fused optimizer updates (src/optim/optimizers.ts, updateCpu), in place on w and the
 * state tensors s1, s2: SGD, Momentum, Nesterov, Adagrad, Rmsprop, Adadelta, Adam, and
 * clip (w = g, gclip's copy). Each element is computed in f64 from the f32 values and the
 * f64 coefficients, every stored value rounded to f32 exactly where the twin stores it,
 * so the results equal the twin's bit for bit. With clipping, g is scaled by
 * gclip/‖g‖ when ‖g‖ (norm[0]) exceeds gclip, and rounded to f32 as the twin does.
 */
#include "denet.h"

#pragma clang fp contract(off)
#pragma clang fp reassociate(off)

enum { SGD, MOMENTUM, NESTEROV, ADAGRAD, RMSPROP, ADADELTA, ADAM, CLIP };

/* c: lr, a, a1, b, b1, eps, c1, c2, gclip (f64). norm: 0 without clipping. */
EXPORT(optim_update)
void optim_update(int algo, int n, f32 *restrict w, const f32 *restrict g, f32 *restrict s1,
                  f32 *restrict s2, const f32 *norm,
                  const double *c, int tid, int nt) {
  double lr = c[0], a = c[1], a1 = c[2], b = c[3], b1 = c[4], eps = c[5], c1 = c[6];
  double c2 = c[7], gclip = c[8];
  double scale = 1.0;
  if (norm) {
    double nrm = norm[0];
    if (nrm > gclip) scale = gclip / nrm;
  }
  int lo, hi;
  share(n, tid, nt, &lo, &hi);
/* One loop per rule (no branch inside, so clang vectorizes it as f64x2). g·scale rounded
 * to f32 is g itself when scale is 1, so the clipped and plain cases share the loop. */
#define EACH(body)                         \
  for (int i = lo; i < hi; i++) {          \
    double gi = (f32)((double)g[i] * scale); \
    body                                   \
  }                                        \
  return;
  switch (algo) {
    case SGD:
      EACH(w[i] = (f32)(w[i] - lr * gi);)
    case MOMENTUM:
      EACH(s1[i] = (f32)(a * s1[i] - lr * gi); w[i] = (f32)((double)w[i] + s1[i]);)
    case NESTEROV:
      EACH(s1[i] = (f32)(a * s1[i]); w[i] = (f32)((double)w[i] - s1[i]);
           s1[i] = (f32)(s1[i] - lr * gi); w[i] = (f32)(w[i] + (1 + a) * s1[i]);)
    case ADAGRAD:
      EACH(s1[i] = (f32)(s1[i] + gi * gi);
           w[i] = (f32)(w[i] - lr * (gi / __builtin_sqrt(s1[i] + eps)));)
    case RMSPROP:
      EACH(s1[i] = (f32)(a * s1[i] + a1 * (gi * gi));
           w[i] = (f32)(w[i] - lr * (gi / __builtin_sqrt(s1[i] + eps)));)
    case ADADELTA:
      EACH(s1[i] = (f32)(a * s1[i] + a1 * (gi * gi));
           double du = gi * __builtin_sqrt(s2[i] + eps) / __builtin_sqrt(s1[i] + eps);
           s2[i] = (f32)(a * s2[i] + a1 * (du * du)); w[i] = (f32)(w[i] - lr * du);)
    case ADAM:
      EACH(s1[i] = (f32)(a * s1[i] + a1 * gi); s2[i] = (f32)(b * s2[i] + b1 * (gi * gi));
           w[i] = (f32)(w[i] - lr * ((s1[i] / c1) / (__builtin_sqrt(s2[i] / c2) + eps)));)
    default:
      EACH(w[i] = (f32)gi;)
  }
#undef EACH
}
