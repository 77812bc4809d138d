/*
 * 4-lane (wasm SIMD) twins of mathf.h's exp, expm1, tanh and sigmoid: the same range
 * reductions and polynomials in the same f32 operations, branch-free (both sides of a
 * branch are computed and the lanes selected), so each lane equals the scalar function
 * up to the rounding of n in the exp reduction. NaN in gives NaN out; overflow and the
 * saturated ends behave as the scalar ones.
 */
#ifndef DENET_MATHF4_H
#define DENET_MATHF4_H

#include "mathf.h"

#define V4(x) wasm_f32x4_splat(x)
#define VADD wasm_f32x4_add
#define VSUB wasm_f32x4_sub
#define VMUL wasm_f32x4_mul
#define VDIV wasm_f32x4_div
#define VSEL(m, a, b) wasm_v128_bitselect((a), (b), (m))

/* e^r for |r| <= ln2/2 (exp_poly). */
INLINE f32x4 v_exp_poly(f32x4 r) {
  f32x4 p = V4(1.0f / 720.0f);
  p = VADD(VMUL(p, r), V4(1.0f / 120.0f));
  p = VADD(VMUL(p, r), V4(1.0f / 24.0f));
  p = VADD(VMUL(p, r), V4(1.0f / 6.0f));
  p = VADD(VMUL(p, r), V4(0.5f));
  p = VADD(VMUL(p, r), V4(1.0f));
  return VADD(VMUL(p, r), V4(1.0f));
}

/* 2^n for integer lanes n in [-252, 254] (pow2i: two in-range powers). */
INLINE f32x4 v_pow2i(v128_t n) {
  v128_t h = wasm_i32x4_shr(n, 1);
  v128_t a = wasm_i32x4_shl(wasm_i32x4_add(h, wasm_i32x4_splat(127)), 23);
  v128_t b = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_sub(n, h), wasm_i32x4_splat(127)), 23);
  return VMUL(a, b);
}

INLINE f32x4 v_expf(f32x4 x) {
  f32x4 t = VMUL(x, V4(1.44269504088896341f));
  f32x4 half = VSEL(wasm_f32x4_ge(t, V4(0.0f)), V4(0.5f), V4(-0.5f));
  v128_t n = wasm_i32x4_trunc_sat_f32x4(VADD(t, half));
  /* lanes outside the range are replaced below; keep their n harmless */
  n = wasm_i32x4_min(wasm_i32x4_max(n, wasm_i32x4_splat(-252)), wasm_i32x4_splat(254));
  f32x4 nf = wasm_f32x4_convert_i32x4(n);
  f32x4 r = VSUB(VSUB(x, VMUL(nf, V4(LN2_HI))), VMUL(nf, V4(LN2_LO)));
  f32x4 y = VMUL(v_exp_poly(r), v_pow2i(n));
  y = VSEL(wasm_f32x4_gt(x, V4(88.72284f)), V4(F_INF), y);
  y = VSEL(wasm_f32x4_lt(x, V4(-103.97208f)), V4(0.0f), y);
  return VSEL(wasm_f32x4_ne(x, x), x, y);
}

INLINE f32x4 v_expm1f(f32x4 x) {
  f32x4 p = V4(1.0f / 40320.0f);
  p = VADD(VMUL(p, x), V4(1.0f / 5040.0f));
  p = VADD(VMUL(p, x), V4(1.0f / 720.0f));
  p = VADD(VMUL(p, x), V4(1.0f / 120.0f));
  p = VADD(VMUL(p, x), V4(1.0f / 24.0f));
  p = VADD(VMUL(p, x), V4(1.0f / 6.0f));
  p = VADD(VMUL(p, x), V4(0.5f));
  f32x4 small = VADD(x, VMUL(VMUL(x, x), p));
  f32x4 y = VSUB(v_expf(x), V4(1.0f));
  y = VSEL(wasm_f32x4_lt(x, V4(-17.0f)), V4(-1.0f), y);
  y = VSEL(wasm_f32x4_lt(wasm_f32x4_abs(x), V4(0.35f)), small, y);
  return VSEL(wasm_f32x4_ne(x, x), x, y);
}

INLINE f32x4 v_tanhf(f32x4 x) {
  f32x4 e = v_expm1f(VADD(x, x));
  f32x4 y = VDIV(e, VADD(e, V4(2.0f)));
  y = VSEL(wasm_f32x4_gt(x, V4(9.0f)), V4(1.0f), y);
  y = VSEL(wasm_f32x4_lt(x, V4(-9.0f)), V4(-1.0f), y);
  return VSEL(wasm_f32x4_ne(x, x), x, y);
}

INLINE f32x4 v_sigmf(f32x4 x) {
  f32x4 e = v_expf(wasm_f32x4_neg(wasm_f32x4_abs(x)));
  f32x4 pos = VDIV(V4(1.0f), VADD(V4(1.0f), e));
  f32x4 neg = VDIV(e, VADD(V4(1.0f), e));
  f32x4 y = VSEL(wasm_f32x4_ge(x, V4(0.0f)), pos, neg);
  return VSEL(wasm_f32x4_ne(x, x), x, y);
}

#endif
