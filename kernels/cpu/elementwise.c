/*
 * Elementwise ops for the CPU backend: unary math and activations, their gradients, and
 * binary arithmetic/comparisons with NumPy broadcasting or a scalar operand. The op codes
 * are those of kernels/unary.wgsl and kernels/binary.wgsl (UNARY_OPS / BINARY_OPS in
 * src/ops/elementwise.ts). NaN propagates as in Julia: relu(NaN), max(x, NaN) are NaN.
 */
#include "mathf.h"

#define SELU_L 1.0507009873554805f
#define SELU_A 1.6732632423543772f

INLINE f32 fabs_(f32 x) { return __builtin_fabsf(x); }

/* Round half to even (Julia's round). */
INLINE f32 round_even(f32 x) { return __builtin_rintf(x); }

INLINE f32 unary_f(int code, f32 x) {
  switch (code) {
    case 0: return -x;
    case 1: return fabs_(x);
    case 2: return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x;
    case 3: return d_expf(x);
    case 4: return d_logf(x);
    case 5: return d_log1pf(x);
    case 6: return d_expm1f(x);
    case 7: return __builtin_sqrtf(x);
    case 8: return 1.0f / __builtin_sqrtf(x);
    case 9: return x * x;
    case 10: return d_tanhf(x);
    case 11: return d_sigmf(x);
    case 12: return x > 0.0f ? x : (x != x ? x : 0.0f);
    case 13: return x > 0.0f ? x : d_expm1f(x);
    case 14: return SELU_L * (x > 0.0f ? x : SELU_A * d_expm1f(x));
    case 15: return (x != x) ? x : (x > 0.0f ? x : 0.0f) + d_log1pf(d_expf(-fabs_(x)));
    case 18: return __builtin_floorf(x);
    case 19: return __builtin_ceilf(x);
    case 20: return round_even(x);
  }
  return F_NAN;
}

/* Elements a thread takes at a time (grab). */
#define CHUNK 16384

static void unary_range(int code, const f32 *x, f32 *y, int lo, int hi) {
  if (code == 12) { /* relu: the hot one, in SIMD; NaN stays NaN (x != x keeps x) */
    int i = lo;
    f32x4 z = wasm_f32x4_splat(0.0f);
    for (; i + 4 <= hi; i += 4) {
      f32x4 v = wasm_v128_load(x + i);
      f32x4 keep = wasm_v128_or(wasm_f32x4_gt(v, z), wasm_f32x4_ne(v, v));
      wasm_v128_store(y + i, wasm_v128_and(v, keep));
    }
    for (; i < hi; i++) y[i] = unary_f(12, x[i]);
    return;
  }
  for (int i = lo; i < hi; i++) y[i] = unary_f(code, x[i]);
}

EXPORT(unary)
void unary(int code, const f32 *x, f32 *y, int n, int tid, int nt) {
  int lo, hi;
  while (grab(n, CHUNK, &lo, &hi)) unary_range(code, x, y, lo, hi);
}

INLINE f32 unary_grad_f(int code, f32 dy, f32 x, f32 y) {
  switch (code) {
    case 0: return -dy;
    case 1: return dy * (x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x);
    case 3: return dy * y;
    case 4: return dy / x;
    case 5: return dy / (1.0f + x);
    case 6: return dy * (y + 1.0f);
    case 7: return dy * 0.5f / y;
    case 8: return -0.5f * dy * y * y * y;
    case 9: return 2.0f * dy * x;
    case 10: return dy * (1.0f - y * y);
    case 11: return dy * y * (1.0f - y);
    case 12: return x > 0.0f ? dy : (x != x ? x : 0.0f);
    case 13: return x > 0.0f ? dy : dy * (y + 1.0f);
    case 14: return x > 0.0f ? SELU_L * dy : dy * (y + SELU_L * SELU_A);
    case 15: return dy * d_sigmf(x);
  }
  return F_NAN;
}

static void unary_grad_range(int code, const f32 *dy, const f32 *x, const f32 *y, f32 *dx,
                             int lo, int hi) {
  if (code == 12) {
    int i = lo;
    f32x4 z = wasm_f32x4_splat(0.0f);
    for (; i + 4 <= hi; i += 4) {
      f32x4 v = wasm_v128_load(x + i);
      f32x4 d = wasm_v128_load(dy + i);
      f32x4 pos = wasm_f32x4_gt(v, z), nan = wasm_f32x4_ne(v, v);
      wasm_v128_store(dx + i, wasm_v128_or(wasm_v128_and(d, pos), wasm_v128_and(v, nan)));
    }
    for (; i < hi; i++) dx[i] = unary_grad_f(12, dy[i], x[i], 0.0f);
    return;
  }
  for (int i = lo; i < hi; i++) dx[i] = unary_grad_f(code, dy[i], x[i], y[i]);
}

EXPORT(unary_grad)
void unary_grad(int code, const f32 *dy, const f32 *x, const f32 *y, f32 *dx, int n, int tid,
                int nt) {
  int lo, hi;
  while (grab(n, CHUNK, &lo, &hi)) unary_grad_range(code, dy, x, y, dx, lo, hi);
}

INLINE f32 binary_f(int code, f32 a, f32 b) {
  switch (code) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return a / b;
    case 5: return (a != a || b != b) ? F_NAN : (a > b ? a : b);
    case 6: return (a != a || b != b) ? F_NAN : (a < b ? a : b);
    case 7: return a == b ? 1.0f : 0.0f;
    case 8: return a != b ? 1.0f : 0.0f;
    case 9: return a < b ? 1.0f : 0.0f;
    case 10: return a <= b ? 1.0f : 0.0f;
    case 11: return a > b ? 1.0f : 0.0f;
    case 12: return a >= b ? 1.0f : 0.0f;
  }
  return F_NAN;
}

/* One run of `len` outputs with input strides sa, sb (0 or 1 on the fast paths). */
INLINE void binary_run(int code, const f32 *a, int sa, const f32 *b, int sb, f32 *y, int len) {
#define RUN(EXPR)                                                 \
  if (sa == 1 && sb == 1) {                                       \
    for (int i = 0; i < len; i++) { f32 p = a[i], q = b[i]; y[i] = EXPR; } \
  } else if (sa == 1 && sb == 0) {                                \
    f32 q = b[0];                                                 \
    for (int i = 0; i < len; i++) { f32 p = a[i]; y[i] = EXPR; } \
  } else if (sa == 0 && sb == 1) {                                \
    f32 p = a[0];                                                 \
    for (int i = 0; i < len; i++) { f32 q = b[i]; y[i] = EXPR; } \
  } else {                                                        \
    for (int i = 0; i < len; i++) { f32 p = a[(long)i * sa], q = b[(long)i * sb]; y[i] = EXPR; } \
  }
  switch (code) {
    case 0: RUN(p + q) break;
    case 1: RUN(p - q) break;
    case 2: RUN(p * q) break;
    case 3: RUN(p / q) break;
    default: RUN(binary_f(code, p, q)) break;
  }
#undef RUN
}

/*
 * y = a (op) b over `shape` (rank dims, row-major) with element strides sa, sb of a and b
 * (0 along broadcast dims). mode 2: b is the scalar s; mode 3: a is the scalar s (then
 * sa/sb/shape describe the tensor operand as one contiguous run of n). Threads take runs
 * of the last dimension (chunks of elements in scalar modes) as they come free.
 */
EXPORT(binary)
void binary(int code, int mode, int n, int rank, const int *shape, const int *sa, const int *sb,
            const f32 *a, const f32 *b, f32 *y, f32 s, int tid, int nt) {
  int lo, hi;
  if (mode >= 2) {
    while (grab(n, CHUNK, &lo, &hi)) {
      if (mode == 2) binary_run(code, a + lo, 1, &s, 0, y + lo, hi - lo);
      else binary_run(code, &s, 0, b + lo, 1, y + lo, hi - lo);
    }
    return;
  }
  int len = rank > 0 ? shape[rank - 1] : 1;
  if (len == 0) return;
  int runs = n / len;
  int la = rank > 0 ? sa[rank - 1] : 0, lb = rank > 0 ? sb[rank - 1] : 0;
  while (grab(runs, imax(1, CHUNK / len), &lo, &hi)) {
    for (int r = lo; r < hi; r++) {
      long oa = 0, ob = 0;
      run_offsets(r, rank, shape, sa, sb, &oa, &ob);
      binary_run(code, a + oa, la, b + ob, lb, y + (long)r * len, len);
    }
  }
}
