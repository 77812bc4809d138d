/*
 * One time step of a recurrent layer, fused (src/ops/rnn_cell_kernels.ts): the forward
 * step (gate pre-activations, nonlinearities, state update, saved values) and the
 * backward step (gate gradients). Formulas and layouts are the reference's in
 * src/ops/rnn_cell.ts. Pointers arrive already advanced to the step's offsets.
 * mode: 0 relu, 1 tanh, 2 LSTM (i, f, g, o), 3 GRU (r, z, n). Threads take whole rows.
 * LSTM steps run 4 columns at a time (mathf4.h), the last H % 4 columns one at a time.
 */
#include "denet.h"
#include "mathf.h"
#include "mathf4.h"

#define LD(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store((p), (v))

INLINE int gates_of(int mode) { return mode == 2 ? 4 : mode == 3 ? 3 : 1; }
INLINE int saved_of(int mode) { return mode == 2 ? 6 : mode == 3 ? 4 : 1; }
INLINE f32 relu_nan(f32 v) { return v > 0.0f ? v : (v == v ? 0.0f : v); }

EXPORT(rnn_cell_fwd)
void rnn_cell_fwd(int mode, int rows, int H, const f32 *xg, const f32 *hg, const f32 *bR,
                  f32 *h, f32 *c, f32 *y, int yStride, f32 *hp, f32 *sv, int tid, int nt) {
  int lo, hi;
  share(rows, tid, nt, &lo, &hi);
  const int G = gates_of(mode), S = saved_of(mode);
  for (int b = lo; b < hi; b++) {
    const f32 *gx = xg + (long)b * G * H, *gh = hg + (long)b * G * H;
    f32 *s = sv + (long)b * S * H, *hb = h + (long)b * H, *yb = y + (long)b * yStride;
    f32 *hpb = hp + (long)b * H;
    if (mode <= 1) {
      for (int j = 0; j < H; j++) {
        f32 v = gx[j] + gh[j] + bR[j];
        f32 hn = mode == 0 ? relu_nan(v) : d_tanhf(v);
        s[j] = hn;
        hpb[j] = hb[j];
        hb[j] = hn;
        yb[j] = hn;
      }
    } else if (mode == 2) {
      f32 *cb = c + (long)b * H;
      int j = 0;
      for (; j + 4 <= H; j += 4) {
#define PRE(k) VADD(VADD(LD(gx + (k) * H + j), LD(gh + (k) * H + j)), LD(bR + (k) * H + j))
        f32x4 i = v_sigmf(PRE(0)), f = v_sigmf(PRE(1)), g = v_tanhf(PRE(2)), o = v_sigmf(PRE(3));
#undef PRE
        f32x4 cp = LD(cb + j);
        f32x4 cn = VADD(VMUL(f, cp), VMUL(i, g));
        f32x4 hn = VMUL(o, v_tanhf(cn));
        ST(s + j, i);
        ST(s + H + j, f);
        ST(s + 2 * H + j, g);
        ST(s + 3 * H + j, o);
        ST(s + 4 * H + j, cp);
        ST(s + 5 * H + j, cn);
        ST(cb + j, cn);
        ST(hpb + j, LD(hb + j));
        ST(hb + j, hn);
        ST(yb + j, hn);
      }
      for (; j < H; j++) {
        f32 i = d_sigmf(gx[j] + gh[j] + bR[j]);
        f32 f = d_sigmf(gx[H + j] + gh[H + j] + bR[H + j]);
        f32 g = d_tanhf(gx[2 * H + j] + gh[2 * H + j] + bR[2 * H + j]);
        f32 o = d_sigmf(gx[3 * H + j] + gh[3 * H + j] + bR[3 * H + j]);
        f32 cp = cb[j];
        f32 cn = f * cp + i * g;
        f32 hn = o * d_tanhf(cn);
        s[j] = i;
        s[H + j] = f;
        s[2 * H + j] = g;
        s[3 * H + j] = o;
        s[4 * H + j] = cp;
        s[5 * H + j] = cn;
        cb[j] = cn;
        hpb[j] = hb[j];
        hb[j] = hn;
        yb[j] = hn;
      }
    } else {
      for (int j = 0; j < H; j++) {
        f32 r = d_sigmf(gx[j] + gh[j] + bR[j]);
        f32 z = d_sigmf(gx[H + j] + gh[H + j] + bR[H + j]);
        f32 hnn = gh[2 * H + j] + bR[2 * H + j];
        f32 n = d_tanhf(gx[2 * H + j] + r * hnn);
        f32 hprev = hb[j];
        f32 hn = (1.0f - z) * n + z * hprev;
        s[j] = r;
        s[H + j] = z;
        s[2 * H + j] = n;
        s[3 * H + j] = hnn;
        hpb[j] = hprev;
        hb[j] = hn;
        yb[j] = hn;
      }
    }
  }
}

/* dHg may be 0 (not written); for GRU it receives the recurrent-side gradients. */
EXPORT(rnn_cell_bwd)
void rnn_cell_bwd(int mode, int rows, int H, const f32 *dy, int dyStride, f32 *dh, f32 *dc,
                  const f32 *sv, const f32 *hp, f32 *dXg, f32 *dHg, f32 *dStep, int tid, int nt) {
  int lo, hi;
  share(rows, tid, nt, &lo, &hi);
  const int G = gates_of(mode), S = saved_of(mode);
  for (int b = lo; b < hi; b++) {
    const f32 *s = sv + (long)b * S * H, *dyb = dy + (long)b * dyStride;
    f32 *dhb = dh + (long)b * H, *dx = dXg + (long)b * G * H, *ds = dStep + (long)b * G * H;
    if (mode <= 1) {
      for (int j = 0; j < H; j++) {
        f32 g = dyb[j] + dhb[j];
        f32 hn = s[j];
        f32 d = mode == 0 ? (hn > 0.0f ? g : 0.0f) : g * (1.0f - hn * hn);
        dx[j] = d;
        ds[j] = d;
      }
    } else if (mode == 2) {
      f32 *dcb = dc + (long)b * H;
      int j = 0;
      for (; j + 4 <= H; j += 4) {
        f32x4 one = V4(1.0f);
        f32x4 g = VADD(LD(dyb + j), LD(dhb + j));
        f32x4 i = LD(s + j), f = LD(s + H + j), gg = LD(s + 2 * H + j), o = LD(s + 3 * H + j);
        f32x4 cp = LD(s + 4 * H + j), cn = LD(s + 5 * H + j);
        f32x4 tc = v_tanhf(cn);
        f32x4 dcn = VADD(LD(dcb + j), VMUL(VMUL(g, o), VSUB(one, VMUL(tc, tc))));
        f32x4 di = VMUL(VMUL(VMUL(dcn, gg), i), VSUB(one, i));
        f32x4 df = VMUL(VMUL(VMUL(dcn, cp), f), VSUB(one, f));
        f32x4 dg = VMUL(VMUL(dcn, i), VSUB(one, VMUL(gg, gg)));
        f32x4 dout = VMUL(VMUL(VMUL(g, tc), o), VSUB(one, o));
        ST(dx + j, di);
        ST(dx + H + j, df);
        ST(dx + 2 * H + j, dg);
        ST(dx + 3 * H + j, dout);
        ST(ds + j, di);
        ST(ds + H + j, df);
        ST(ds + 2 * H + j, dg);
        ST(ds + 3 * H + j, dout);
        ST(dcb + j, VMUL(dcn, f));
      }
      for (; j < H; j++) {
        f32 g = dyb[j] + dhb[j];
        f32 i = s[j], f = s[H + j], gg = s[2 * H + j], o = s[3 * H + j];
        f32 cp = s[4 * H + j], cn = s[5 * H + j];
        f32 tc = d_tanhf(cn);
        f32 dcn = dcb[j] + g * o * (1.0f - tc * tc);
        f32 di = dcn * gg * i * (1.0f - i);
        f32 df = dcn * cp * f * (1.0f - f);
        f32 dg = dcn * i * (1.0f - gg * gg);
        f32 dout = g * tc * o * (1.0f - o);
        dx[j] = di;
        dx[H + j] = df;
        dx[2 * H + j] = dg;
        dx[3 * H + j] = dout;
        ds[j] = di;
        ds[H + j] = df;
        ds[2 * H + j] = dg;
        ds[3 * H + j] = dout;
        dcb[j] = dcn * f;
      }
    } else {
      const f32 *hpb = hp + (long)b * H;
      f32 *dhg = dHg ? dHg + (long)b * G * H : 0;
      for (int j = 0; j < H; j++) {
        f32 g = dyb[j] + dhb[j];
        f32 r = s[j], z = s[H + j], n = s[2 * H + j], hnn = s[3 * H + j];
        f32 dn = g * (1.0f - z) * (1.0f - n * n);
        f32 dz = g * (hpb[j] - n) * z * (1.0f - z);
        f32 dr = dn * hnn * r * (1.0f - r);
        dx[j] = dr;
        dx[H + j] = dz;
        dx[2 * H + j] = dn;
        ds[j] = dr;
        ds[H + j] = dz;
        ds[2 * H + j] = dn * r;
        if (dhg) {
          dhg[j] = dr;
          dhg[H + j] = dz;
          dhg[2 * H + j] = dn * r;
        }
        dhb[j] = g * z;
      }
    }
  }
}
