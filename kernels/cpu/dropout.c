/*
 * dropout (src/ops/dropout.ts): y[i] = x[i]·scale where pcg(pcg(i) xor key) ≥ threshold,
 * else exactly 0; the same counter-based hash as the twin and kernels/dropout.wgsl, so
 * the masks agree bit for bit for a seed.
 */
#include "denet.h"

/* The PCG-RXS-M-XS hash of a 32-bit word. */
INLINE uint32_t pcg_hash(uint32_t v) {
  uint32_t state = v * 747796405u + 2891336453u;
  uint32_t word = ((state >> ((state >> 28) + 4)) ^ state) * 277803737u;
  return (word >> 22) ^ word;
}

EXPORT(dropout)
void dropout(int n, const f32 *x, f32 *y, uint32_t key, uint32_t threshold, f32 scale,
             int tid, int nt) {
  int lo, hi;
  share(n, tid, nt, &lo, &hi);
  for (int i = lo; i < hi; i++) {
    y[i] = pcg_hash(pcg_hash((uint32_t)i) ^ key) >= threshold ? x[i] * scale : 0.0f;
  }
}
