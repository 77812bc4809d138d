/* Small helpers of the CPU backend's drivers. */
#include "denet.h"

/* C[i] = sum_c runs[c*n + i] + beta*C[i] over this thread's share of i, summing the runs
 * in order 0..chunks-1 (gemm_batched's fixed chunks; beta == 0 never reads C). */
EXPORT(sum_runs)
void sum_runs(int n, int chunks, const f32 *runs, f32 *C, f32 beta, int tid, int nt) {
  int lo, hi;
  share(n, tid, nt, &lo, &hi);
  for (int i = lo; i < hi; i++) {
    f32 s = runs[i];
    for (int c = 1; c < chunks; c++) s += runs[(long)c * n + i];
    C[i] = beta == 0.0f ? s : s + beta * C[i];
  }
}
