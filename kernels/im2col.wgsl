// im2col / col2im for conv4 (src/ops/conv.ts), row-major x [N,C,H,W], filter [O,C/group,kH,kW].
//
// main   (im2col): COLS[n*colStrideN + k*colStrideK + p] = X[n0+n, c0+c, ih, iw] (0 in the padding),
//   k = (c*kH + kh)*kW + kw  (the filter's own element order, so the filter is a [O, Cg*kH*kW] matrix),
//   p = oh*Wo + ow,  ih = oh*sH - pH + th*dH,  iw = ow*sW - pW + tw*dW,
//   (th, tw) = (kH-1-kh, kW-1-kw) when FLIP (mode 0, convolution) else (kh, kw) (mode 1).
//   colStrideN/K choose the layout: [Nc, K, P] (K*P, P) for the forward GEMM, [K, Nc*P] (P, Nc*P) for dw.
// col2im: DX[n0+n, c0+c, ih, iw] = sum of the COLS entries that im2col copied from that element
//   (a gather: each invocation owns one x element, so no atomics and a fixed summation order).
// dispatch: 2-D grid of 256-wide workgroups covering p.total elements (Nc*Cg*kH*kW*Ho*Wo for main,
//   Nc*Cg*H*W for col2im).

struct Params {
  C: u32, H: u32, W: u32, Cg: u32,
  kH: u32, kW: u32, Ho: u32, Wo: u32,
  pH: i32, pW: i32, sH: i32, sW: i32,
  dH: i32, dW: i32, n0: u32, c0: u32,
  colStrideN: u32, colStrideK: u32, total: u32, _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> SRC: array<f32>;        // X (main) or COLS (col2im)
@group(0) @binding(2) var<storage, read_write> DST: array<f32>;  // COLS (main) or DX (col2im)
override FLIP: bool = true;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= p.total) { return; }
  let P = p.Ho * p.Wo;
  let K = p.Cg * p.kH * p.kW;
  let pix = i % P;
  let k = (i / P) % K;
  let n = i / (P * K);
  let kw = k % p.kW;
  let kh = (k / p.kW) % p.kH;
  let c = k / (p.kW * p.kH);
  let th = select(kh, p.kH - 1u - kh, FLIP);
  let tw = select(kw, p.kW - 1u - kw, FLIP);
  let ih = i32(pix / p.Wo) * p.sH - p.pH + i32(th) * p.dH;
  let iw = i32(pix % p.Wo) * p.sW - p.pW + i32(tw) * p.dW;
  var v = 0.0;
  if (ih >= 0 && ih < i32(p.H) && iw >= 0 && iw < i32(p.W)) {
    v = SRC[(((p.n0 + n) * p.C + p.c0 + c) * p.H + u32(ih)) * p.W + u32(iw)];
  }
  DST[n * p.colStrideN + k * p.colStrideK + pix] = v;
}

@compute @workgroup_size(256)
fn col2im(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= p.total) { return; }
  let iw = i32(i % p.W);
  let ih = i32((i / p.W) % p.H);
  let c = (i / (p.W * p.H)) % p.Cg;
  let n = i / (p.W * p.H * p.Cg);
  var acc = 0.0;
  for (var kh = 0u; kh < p.kH; kh++) {
    let th = select(kh, p.kH - 1u - kh, FLIP);
    let t = ih + p.pH - i32(th) * p.dH;       // = oh * sH when this tap hits (ih, .)
    if (t < 0 || t % p.sH != 0) { continue; }
    let oh = u32(t / p.sH);
    if (oh >= p.Ho) { continue; }
    for (var kw = 0u; kw < p.kW; kw++) {
      let tw = select(kw, p.kW - 1u - kw, FLIP);
      let s = iw + p.pW - i32(tw) * p.dW;
      if (s < 0 || s % p.sW != 0) { continue; }
      let ow = u32(s / p.sW);
      if (ow >= p.Wo) { continue; }
      let k = (c * p.kH + kh) * p.kW + kw;
      acc += SRC[n * p.colStrideN + k * p.colStrideK + oh * p.Wo + ow];
    }
  }
  DST[(((p.n0 + n) * p.C + p.c0 + c) * p.H + u32(ih)) * p.W + u32(iw)] = acc;
}
