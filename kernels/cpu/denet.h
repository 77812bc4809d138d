/*
 * Shared definitions of the CPU backend's WebAssembly kernels (the .c files of kernels/cpu).
 *
 * The kernels are freestanding C (no libc) compiled by clang for wasm32 with 128-bit SIMD
 * (scripts/build_wasm.ts). Every kernel that runs on several threads takes (tid, nt) and
 * computes its own share; shares never depend on nt in a way that changes a result (the
 * same additions in the same order whatever the thread count). Memory is one shared
 * WebAssembly.Memory: pointers are byte offsets into it, handed over by src/cpu/.
 */
#ifndef DENET_H
#define DENET_H

#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
#define INLINE static inline __attribute__((always_inline))

typedef float f32;
typedef v128_t f32x4;

/* a*b + c: one fused multiply-add with relaxed SIMD, a multiply and an add without. */
#ifdef DENET_RELAXED
#define MADD(a, b, c) wasm_f32x4_relaxed_madd((a), (b), (c))
#else
#define MADD(a, b, c) wasm_f32x4_add(wasm_f32x4_mul((a), (b)), (c))
#endif

/* The share [*lo, *hi) of n items that thread tid of nt takes (contiguous blocks). */
INLINE void share(int n, int tid, int nt, int *lo, int *hi) {
  int q = n / nt, r = n % nt;
  *lo = tid * q + (tid < r ? tid : r);
  *hi = *lo + q + (tid < r ? 1 : 0);
}

/*
 * Element offsets (in two strided operands) of run r of a row-major `shape` cut into
 * runs of its last dimension: r decomposed over the leading dims.
 */
INLINE void run_offsets(int r, int rank, const int *shape, const int *sa, const int *sb,
                        long *oa, long *ob) {
  for (int d = rank - 2; d >= 0; d--) {
    int i = r % shape[d];
    r /= shape[d];
    *oa += (long)i * sa[d];
    *ob += (long)i * sb[d];
  }
}

/*
 * The job's shared work counter (misc.c): the runtime zeroes it before every kernel call,
 * and the threads of a call take chunks from it until the work runs out, so a thread that
 * the OS deschedules does not hold up a share of its own. A kernel uses it for one loop.
 */
extern volatile int denet_job_counter;

/* Takes the next chunk [*lo, *hi) of n items, `step` at a time; 0 when none is left. */
INLINE int grab(int n, int step, int *lo, int *hi) {
  int s = __atomic_fetch_add(&denet_job_counter, step, __ATOMIC_RELAXED);
  if (s >= n) return 0;
  *lo = s;
  *hi = s + step < n ? s + step : n;
  return 1;
}

INLINE int imin(int a, int b) { return a < b ? a : b; }
INLINE int imax(int a, int b) { return a > b ? a : b; }

/* Julia's max/min: NaN wins (propagates), unlike C's fmaxf. */
INLINE f32 nanmax(f32 a, f32 b) { return (a != a || a > b) ? a : b; }
INLINE f32 nanmin(f32 a, f32 b) { return (a != a || a < b) ? a : b; }

/* Single-threaded GEMM on a sub-problem (gemm.c): C = alpha*op(A)*op(B) + beta*C with
 * general strides; beta == 0 never reads C. `work` is scratch of gemm_work_floats(). */
void gemm_core(int M, int N, int K, const f32 *A, int rsA, int csA, const f32 *B, int rsB,
               int csB, f32 *C, int ldc, f32 alpha, f32 beta, f32 *work);

#endif
