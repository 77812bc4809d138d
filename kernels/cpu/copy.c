/* Strided copies for the CPU backend (permute, slice, concat; src/ops/shape.ts). */
#include "denet.h"

/*
 * dst[yOff + sum t*ys] = src[xOff + sum t*xs] for every index t of shape (rank dims,
 * strides in elements, possibly negative). Threads take runs of the last dimension as
 * they come free.
 */
EXPORT(strided_copy)
void strided_copy(int n, int rank, const int *shape, const f32 *src, int xOff, const int *xs,
                  f32 *dst, int yOff, const int *ys, int tid, int nt) {
  int len = rank > 0 ? shape[rank - 1] : 1;
  if (len == 0 || n == 0) return;
  int runs = n / len;
  int lx = rank > 0 ? xs[rank - 1] : 0, ly = rank > 0 ? ys[rank - 1] : 0;
  int lo, hi;
  while (grab(runs, imax(1, 16384 / len), &lo, &hi)) {
    for (int r = lo; r < hi; r++) {
      long ox = xOff, oy = yOff;
      run_offsets(r, rank, shape, xs, ys, &ox, &oy);
      const f32 *s = src + ox;
      f32 *t = dst + oy;
      if (lx == 1 && ly == 1) {
        for (int i = 0; i < len; i++) t[i] = s[i];
      } else {
        for (int i = 0; i < len; i++) t[(long)i * ly] = s[(long)i * lx];
      }
    }
  }
}
