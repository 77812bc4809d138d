/* Small helpers of the CPU backend's drivers. */
#include "denet.h"

volatile int denet_job_counter;

/* Byte offset of the job counter (the runtime zeroes it before each kernel call). */
EXPORT(job_counter_addr) int job_counter_addr(void) { return (int)(intptr_t)&denet_job_counter; }

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

/*
 * Clock probe for the benchmarks' peak figures: n steps of the dependent chain
 * x = x*v + 1 (an integer multiply, 3 cycles on current x86, then an add, 1 cycle), so
 * n steps take 4n cycles. v comes from the caller so nothing folds at compile time.
 */
EXPORT(clock_probe)
long long clock_probe(int n, long long v) {
  long long x = v;
  for (int i = 0; i < n; i++) x = x * v + 1;
  return x;
}
