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

/* pcg_hash on four lanes; the data-dependent shift by 4 + (state >> 28) is done as a
 * shift by 4 and four conditional shifts by 1, 2, 4 and 8 (SIMD shifts take one count). */
INLINE v128_t pcg_hash4(v128_t v) {
  v128_t state = wasm_i32x4_add(wasm_i32x4_mul(v, wasm_u32x4_splat(747796405u)),
                                wasm_u32x4_splat(2891336453u));
  v128_t k = wasm_u32x4_shr(state, 28);
  v128_t s = wasm_u32x4_shr(state, 4);
  for (int bit = 1; bit <= 8; bit <<= 1) {
    v128_t on = wasm_i32x4_ne(wasm_v128_and(k, wasm_u32x4_splat(bit)), wasm_i32x4_splat(0));
    s = wasm_v128_bitselect(wasm_u32x4_shr(s, bit), s, on);
  }
  v128_t word = wasm_i32x4_mul(wasm_v128_xor(s, state), wasm_u32x4_splat(277803737u));
  return wasm_v128_xor(wasm_u32x4_shr(word, 22), word);
}

EXPORT(dropout)
void dropout(int n, const f32 *x, f32 *y, uint32_t key, uint32_t threshold, f32 scale,
             int tid, int nt) {
  int lo, hi;
  share(n, tid, nt, &lo, &hi);
  int i = lo;
  v128_t vkey = wasm_u32x4_splat(key), vthr = wasm_u32x4_splat(threshold);
  v128_t vscale = wasm_f32x4_splat(scale), idx = wasm_u32x4_make(lo, lo + 1, lo + 2, lo + 3);
  for (; i + 4 <= hi; i += 4) {
    v128_t h = pcg_hash4(wasm_v128_xor(pcg_hash4(idx), vkey));
    v128_t keep = wasm_u32x4_ge(h, vthr);
    v128_t v = wasm_f32x4_mul(wasm_v128_load(x + i), vscale);
    wasm_v128_store(y + i, wasm_v128_and(v, keep));
    idx = wasm_i32x4_add(idx, wasm_u32x4_splat(4));
  }
  for (; i < hi; i++) {
    y[i] = pcg_hash(pcg_hash((uint32_t)i) ^ key) >= threshold ? x[i] * scale : 0.0f;
  }
}
