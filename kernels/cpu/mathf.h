/*
 * f32 elementary functions for the CPU kernels (there is no libm in a freestanding wasm
 * build): exp, log, log1p, expm1, tanh, sigmoid. Each is range reduction plus a short
 * polynomial, evaluated in f32, within a few ulp of the correctly rounded result, with
 * IEEE behaviour at the edges (NaN in, NaN out; overflow to inf; log of 0 is -inf).
 */
#ifndef DENET_MATHF_H
#define DENET_MATHF_H

#include "denet.h"

INLINE uint32_t f2u(f32 x) { return __builtin_bit_cast(uint32_t, x); }
INLINE f32 u2f(uint32_t u) { return __builtin_bit_cast(f32, u); }

#define F_INF u2f(0x7f800000u)
#define F_NAN u2f(0x7fc00000u)
#define LN2_HI 0.693145751953125f
#define LN2_LO 1.428606765330187e-06f

/* 2^n for integer n in [-252, 254] (as the product of two in-range powers). */
INLINE f32 pow2i(int n) {
  int h = n / 2;
  return u2f((uint32_t)(h + 127) << 23) * u2f((uint32_t)(n - h + 127) << 23);
}

/* e^r for |r| <= ln2/2: degree-6 Taylor polynomial (error < 2e-8 relative). */
INLINE f32 exp_poly(f32 r) {
  f32 p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  return p * r + 1.0f;
}

INLINE f32 d_expf(f32 x) {
  if (x != x) return x;
  if (x > 88.72284f) return F_INF;
  if (x < -103.97208f) return 0.0f;
  f32 t = x * 1.44269504088896341f;
  int n = (int)(t + (t >= 0.0f ? 0.5f : -0.5f));
  f32 r = (x - (f32)n * LN2_HI) - (f32)n * LN2_LO;
  return exp_poly(r) * pow2i(n);
}

INLINE f32 d_logf(f32 x) {
  if (x != x) return x;
  if (x < 0.0f) return F_NAN;
  if (x == 0.0f) return -F_INF;
  if (x == F_INF) return x;
  int e = 0;
  if (x < 1.17549435e-38f) { /* subnormal: scale into the normal range */
    x *= 8388608.0f;
    e = -23;
  }
  uint32_t u = f2u(x);
  e += (int)(u >> 23) - 127;
  f32 m = u2f((u & 0x007fffffu) | 0x3f800000u); /* [1, 2) */
  if (m > 1.41421356f) {
    m *= 0.5f;
    e += 1;
  }
  /* log(m) = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.1716 */
  f32 s = (m - 1.0f) / (m + 1.0f);
  f32 z = s * s;
  f32 p = 2.0f / 9.0f;
  p = p * z + 2.0f / 7.0f;
  p = p * z + 2.0f / 5.0f;
  p = p * z + 2.0f / 3.0f;
  f32 lm = 2.0f * s + s * z * p;
  return (f32)e * LN2_HI + ((f32)e * LN2_LO + lm);
}

INLINE f32 d_log1pf(f32 x) {
  if (x != x) return x;
  f32 u = 1.0f + x;
  if (u == 1.0f) return x;
  if (u == F_INF) return u;
  /* log(u) corrected for the rounding of 1 + x */
  return d_logf(u) - ((u - 1.0f) - x) / u;
}

INLINE f32 d_expm1f(f32 x) {
  if (x != x) return x;
  f32 a = x < 0.0f ? -x : x;
  if (a < 0.35f) {
    f32 p = 1.0f / 40320.0f;
    p = p * x + 1.0f / 5040.0f;
    p = p * x + 1.0f / 720.0f;
    p = p * x + 1.0f / 120.0f;
    p = p * x + 1.0f / 24.0f;
    p = p * x + 1.0f / 6.0f;
    p = p * x + 0.5f;
    return x + x * x * p;
  }
  if (x < -17.0f) return -1.0f;
  return d_expf(x) - 1.0f;
}

INLINE f32 d_tanhf(f32 x) {
  if (x != x) return x;
  if (x > 9.0f) return 1.0f;
  if (x < -9.0f) return -1.0f;
  f32 e = d_expm1f(2.0f * x);
  return e / (e + 2.0f);
}

INLINE f32 d_sigmf(f32 x) {
  if (x != x) return x;
  if (x >= 0.0f) return 1.0f / (1.0f + d_expf(-x));
  f32 e = d_expf(x);
  return e / (1.0f + e);
}

#endif
