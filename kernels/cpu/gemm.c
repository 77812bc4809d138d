/*
 * GEMM for the CPU backend: C = alpha*op(A)*op(B) + beta*C, f32, 128-bit SIMD.
 *
 * The classic layered scheme: B is packed in KC x NC blocks of NR-column panels, A in
 * MC x KC blocks of MR-row panels (both zero-padded to whole panels), and an MR x NR
 * register-blocked micro-kernel runs over the packed panels. Packing makes every
 * transpose the same problem for the micro-kernel. `gemm` splits C into row or column
 * blocks across threads; `gemm_batched` runs many GEMMs (shared operands have stride 0)
 * and can sum a batch into one C in fixed chunks (conv's filter gradient).
 */
#include "denet.h"

#define MR 6
#define NR 8
#define KC 256
#define MC 72
#define NC 512

/* Floats of scratch one thread's gemm_core needs. */
#define WORK_FLOATS (MC * KC + KC * NC + MR * NR)

EXPORT(gemm_work_floats) int gemm_work_floats(void) { return WORK_FLOATS; }

/* Packs op(A)[i0.., p0..] (mc x kc) into MR-row panels: Ap[(panel*kc + k)*MR + r]. */
static void pack_a(int mc, int kc, const f32 *A, int rsA, int csA, f32 *Ap) {
  for (int i = 0; i < mc; i += MR) {
    int rows = imin(MR, mc - i);
    const f32 *a = A + (long)i * rsA;
    if (rows == MR && rsA == 1) {
      /* op(A) column-contiguous (A transposed): MR values of one k are adjacent. */
      for (int k = 0; k < kc; k++) {
        const f32 *src = a + (long)k * csA;
        for (int r = 0; r < MR; r++) Ap[k * MR + r] = src[r];
      }
    } else {
      for (int r = 0; r < MR; r++) {
        if (r < rows) {
          const f32 *src = a + (long)r * rsA;
          for (int k = 0; k < kc; k++) Ap[k * MR + r] = src[(long)k * csA];
        } else {
          for (int k = 0; k < kc; k++) Ap[k * MR + r] = 0.0f;
        }
      }
    }
    Ap += kc * MR;
  }
}

/* Packs op(B)[p0.., j0..] (kc x nc) into NR-column panels: Bp[(panel*kc + k)*NR + c]. */
static void pack_b(int kc, int nc, const f32 *B, int rsB, int csB, f32 *Bp) {
  for (int j = 0; j < nc; j += NR) {
    int cols = imin(NR, nc - j);
    const f32 *b = B + (long)j * csB;
    if (cols == NR && csB == 1) {
      for (int k = 0; k < kc; k++) {
        const f32 *src = b + (long)k * rsB;
        wasm_v128_store(Bp + k * NR, wasm_v128_load(src));
        wasm_v128_store(Bp + k * NR + 4, wasm_v128_load(src + 4));
      }
    } else {
      for (int c = 0; c < NR; c++) {
        if (c < cols) {
          const f32 *src = b + (long)c * csB;
          for (int k = 0; k < kc; k++) Bp[k * NR + c] = src[(long)k * rsB];
        } else {
          for (int k = 0; k < kc; k++) Bp[k * NR + c] = 0.0f;
        }
      }
    }
    Bp += kc * NR;
  }
}

/*
 * The micro-kernel: an MR x NR tile of C from kc steps of packed panels. first: C =
 * alpha*acc + beta*C (beta == 0: C is not read); else C += alpha*acc. Partial tiles
 * (rows < MR or cols < NR) go through `tile`.
 */
static void micro(int kc, const f32 *Ap, const f32 *Bp, f32 *C, int ldc, int rows, int cols,
                  f32 alpha, f32 beta, int first, f32 *tile) {
  f32x4 c0[MR], c1[MR];
#pragma clang loop unroll(full)
  for (int r = 0; r < MR; r++) {
    c0[r] = wasm_f32x4_splat(0.0f);
    c1[r] = wasm_f32x4_splat(0.0f);
  }
  for (int k = 0; k < kc; k++) {
    f32x4 b0 = wasm_v128_load(Bp);
    f32x4 b1 = wasm_v128_load(Bp + 4);
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
      f32x4 a = wasm_v128_load32_splat(Ap + r);
      c0[r] = MADD(a, b0, c0[r]);
      c1[r] = MADD(a, b1, c1[r]);
    }
    Ap += MR;
    Bp += NR;
  }
  f32x4 va = wasm_f32x4_splat(alpha);
  if (rows == MR && cols == NR) {
    f32x4 vb = wasm_f32x4_splat(beta);
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
      f32 *c = C + (long)r * ldc;
      f32x4 x0 = wasm_f32x4_mul(va, c0[r]), x1 = wasm_f32x4_mul(va, c1[r]);
      if (!first) {
        x0 = wasm_f32x4_add(wasm_v128_load(c), x0);
        x1 = wasm_f32x4_add(wasm_v128_load(c + 4), x1);
      } else if (beta != 0.0f) {
        x0 = wasm_f32x4_add(x0, wasm_f32x4_mul(vb, wasm_v128_load(c)));
        x1 = wasm_f32x4_add(x1, wasm_f32x4_mul(vb, wasm_v128_load(c + 4)));
      }
      wasm_v128_store(c, x0);
      wasm_v128_store(c + 4, x1);
    }
    return;
  }
#pragma clang loop unroll(full)
  for (int r = 0; r < MR; r++) {
    wasm_v128_store(tile + r * NR, wasm_f32x4_mul(va, c0[r]));
    wasm_v128_store(tile + r * NR + 4, wasm_f32x4_mul(va, c1[r]));
  }
  for (int r = 0; r < rows; r++) {
    f32 *c = C + (long)r * ldc;
    for (int j = 0; j < cols; j++) {
      f32 x = tile[r * NR + j];
      if (!first) x = c[j] + x;
      else if (beta != 0.0f) x = x + beta * c[j];
      c[j] = x;
    }
  }
}

static void scale_c(int M, int N, f32 *C, int ldc, f32 beta) {
  for (int i = 0; i < M; i++) {
    f32 *c = C + (long)i * ldc;
    for (int j = 0; j < N; j++) c[j] = beta == 0.0f ? 0.0f : beta * c[j];
  }
}

void gemm_core(int M, int N, int K, const f32 *A, int rsA, int csA, const f32 *B, int rsB,
               int csB, f32 *C, int ldc, f32 alpha, f32 beta, f32 *work) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    scale_c(M, N, C, ldc, beta);
    return;
  }
  f32 *Ap = work, *Bp = work + MC * KC, *tile = Bp + KC * NC;
  for (int jc = 0; jc < N; jc += NC) {
    int nc = imin(NC, N - jc);
    for (int pc = 0; pc < K; pc += KC) {
      int kc = imin(KC, K - pc);
      pack_b(kc, nc, B + (long)pc * rsB + (long)jc * csB, rsB, csB, Bp);
      for (int ic = 0; ic < M; ic += MC) {
        int mc = imin(MC, M - ic);
        pack_a(mc, kc, A + (long)ic * rsA + (long)pc * csA, rsA, csA, Ap);
        for (int jr = 0; jr < nc; jr += NR) {
          for (int ir = 0; ir < mc; ir += MR) {
            micro(kc, Ap + ir * kc, Bp + jr * kc, C + (long)(ic + ir) * ldc + jc + jr, ldc,
                  imin(MR, mc - ir), imin(NR, nc - jr), alpha, beta, pc == 0, tile);
          }
        }
      }
    }
  }
}

/* Strides of op(X) for a row-major stored X: (rows, cols) of the logical matrix. */
INLINE void strides(int trans, int rows, int cols, int *rs, int *cs) {
  if (trans) { *rs = 1; *cs = rows; }
  else { *rs = cols; *cs = 1; }
}

/* A block of n rows (or columns) for nt threads: about n/(2 nt), a multiple of `unit`,
 * at least `least`. */
INLINE int block_of(int n, int nt, int unit, int least) {
  int b = (n + 2 * nt - 1) / (2 * nt);
  b = (b + unit - 1) / unit * unit;
  return imax(b, least);
}

/*
 * One GEMM over threads: C[M,N] (ldc = N) = alpha*op(A)*op(B) + beta*C, where A is stored
 * [M,K] ([K,M] when transA) and B [K,N] ([N,K] when transB). Threads take blocks of
 * rows of C (of columns when C has fewer rows than columns) as they come free; every
 * element is computed the same way whatever the split.
 */
EXPORT(gemm)
void gemm(int M, int N, int K, const f32 *A, int transA, const f32 *B, int transB, f32 *C,
          f32 alpha, f32 beta, f32 *work, int tid, int nt) {
  int rsA, csA, rsB, csB;
  strides(transA, M, K, &rsA, &csA);
  strides(transB, K, N, &rsB, &csB);
  f32 *w = work + (long)tid * WORK_FLOATS;
  int lo, hi;
  /* each block packs all of op(B) (or op(A)) again: about two blocks per thread */
  if (M >= N) {
    while (grab(M, block_of(M, nt, MR, MC), &lo, &hi))
      gemm_core(hi - lo, N, K, A + (long)lo * rsA, rsA, csA, B, rsB, csB, C + (long)lo * N, N,
                alpha, beta, w);
  } else {
    while (grab(N, block_of(N, nt, NR, 4 * NR), &lo, &hi))
      gemm_core(M, hi - lo, K, A, rsA, csA, B + (long)lo * csB, rsB, csB, C + lo, N, alpha, beta,
                w);
  }
}

/*
 * `batch` GEMMs C_b = alpha*op(A_b)*op(B_b) + beta*C_b with element strides sA, sB, sC
 * between entries (0: shared). Threads take whole entries as they come free. With
 * sC == 0 every entry adds into one C: the entries are cut into `chunks` fixed runs, run c
 * summing into
 * C + c*M*N (the caller adds the runs up in order), so results do not depend on nt.
 */
EXPORT(gemm_batched)
void gemm_batched(int batch, int M, int N, int K, const f32 *A, int sA, int transA, const f32 *B,
                  int sB, int transB, f32 *C, int sC, f32 alpha, f32 beta, int chunks, f32 *work,
                  int tid, int nt) {
  int rsA, csA, rsB, csB;
  strides(transA, M, K, &rsA, &csA);
  strides(transB, K, N, &rsB, &csB);
  f32 *w = work + (long)tid * WORK_FLOATS;
  int b0, b1;
  if (sC != 0) {
    while (grab(batch, 1, &b0, &b1))
      gemm_core(M, N, K, A + (long)b0 * sA, rsA, csA, B + (long)b0 * sB, rsB, csB,
                C + (long)b0 * sC, N, alpha, beta, w);
    return;
  }
  int c, c1;
  while (grab(chunks, 1, &c, &c1)) {
    int lo, hi;
    share(batch, c, chunks, &lo, &hi);
    f32 *out = C + (long)c * M * N;
    for (int b = lo; b < hi; b++)
      gemm_core(M, N, K, A + (long)b * sA, rsA, csA, B + (long)b * sB, rsB, csB, out, N, alpha,
                b == lo ? 0.0f : 1.0f, w);
    if (lo == hi) scale_c(M, N, out, N, 0.0f);
  }
}
