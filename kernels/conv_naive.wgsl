// Direct (naive) convolution for conv4 (src/ops/conv.ts): one output element per invocation, no
// tiling or shared memory. The benchmark baseline and a GPU test oracle for the im2col+GEMM path.
// Row-major x [N,C,H,W], w [O,C/G,kH,kW], y [N,O,Ho,Wo], Cg = C/G input and Og = O/G output
// channels per group; tap (th, tw) = (kH-1-kh, kW-1-kw) when FLIP (mode 0) else (kh, kw):
//   y[n,o,oh,ow] = alpha * sum_{c<Cg,kh,kw} w[o,c,kh,kw] * x[n, g*Cg+c, oh*sH-pH+th*dH, ow*sW-pW+tw*dW]
// Entry points (bindings 1, 2 read; 3 written):
//   main: A = w, B = x,  OUT = y   (total = N*O*Ho*Wo)
//   dx:   A = w, B = dy, OUT = dx  (total = N*C*H*W; dx = alpha * conv4's input gradient)
//   dw:   A = x, B = dy, OUT = dw  (total = O*Cg*kH*kW; dw = alpha * conv4's filter gradient)
// dispatch: 2-D grid of 256-wide workgroups covering p.total outputs.
// Each entry point sums over "rows" [p.rBegin, p.rEnd) of its reduction, a row being one
// inner loop: main (c, kh) of Cg*kH rows of kW taps, dx (oo, kh) of Og*kH rows of kW taps,
// dw (n, oh) of N*Ho rows of Wo outputs. llvmpipe caps the loop iterations of one
// invocation (about 65 535, all loops together) and silently cuts the loops short beyond,
// so src/ops/conv.ts (naiveGpu) slices the rows over dispatches: trip count per invocation
// (rEnd - rBegin) * (inner + 1). A slice after the first resumes from the unscaled partial
// sum in OUT; alpha applies in the slice that ends the rows. Summation order is unsliced.

struct Params {
  N: u32, C: u32, H: u32, W: u32,
  O: u32, G: u32, kH: u32, kW: u32,
  Ho: u32, Wo: u32, pH: i32, pW: i32,
  sH: i32, sW: i32, dH: i32, dW: i32,
  alpha: f32, total: u32, rBegin: u32, rEnd: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> OUT: array<f32>;
override FLIP: bool = true;

fn tap(k: u32, extent: u32) -> u32 {
  return select(k, extent - 1u - k, FLIP);
}

// The partial sum this slice starts from.
fn start(i: u32) -> f32 {
  return select(0.0, OUT[i], p.rBegin > 0u);
}

// Writes the sum after this slice: scaled by alpha when the slice ends at `rows`.
fn finish(i: u32, acc: f32, rows: u32) {
  OUT[i] = select(acc, p.alpha * acc, p.rEnd >= rows);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= p.total) { return; }
  let ow = i % p.Wo;
  let oh = (i / p.Wo) % p.Ho;
  let o = (i / (p.Wo * p.Ho)) % p.O;
  let n = i / (p.Wo * p.Ho * p.O);
  let Cg = p.C / p.G;
  let c0 = (o / (p.O / p.G)) * Cg;
  var acc = start(i);
  for (var r = p.rBegin; r < p.rEnd; r++) {
    let c = r / p.kH;
    let kh = r % p.kH;
    let ih = i32(oh) * p.sH - p.pH + i32(tap(kh, p.kH)) * p.dH;
    if (ih < 0 || ih >= i32(p.H)) { continue; }
    for (var kw = 0u; kw < p.kW; kw++) {
      let iw = i32(ow) * p.sW - p.pW + i32(tap(kw, p.kW)) * p.dW;
      if (iw < 0 || iw >= i32(p.W)) { continue; }
      acc += A[((o * Cg + c) * p.kH + kh) * p.kW + kw] *
             B[(((n * p.C) + c0 + c) * p.H + u32(ih)) * p.W + u32(iw)];
    }
  }
  finish(i, acc, Cg * p.kH);
}

@compute @workgroup_size(256)
fn dx(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
      @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= p.total) { return; }
  let iw = i32(i % p.W);
  let ih = i32((i / p.W) % p.H);
  let ch = (i / (p.W * p.H)) % p.C;
  let n = i / (p.W * p.H * p.C);
  let Cg = p.C / p.G;
  let Og = p.O / p.G;
  let g = ch / Cg;
  let c = ch % Cg;
  var acc = start(i);
  for (var r = p.rBegin; r < p.rEnd; r++) {
    let o = g * Og + r / p.kH;
    let kh = r % p.kH;
    let t = ih + p.pH - i32(tap(kh, p.kH)) * p.dH;
    if (t < 0 || t % p.sH != 0 || u32(t / p.sH) >= p.Ho) { continue; }
    let oh = u32(t / p.sH);
    for (var kw = 0u; kw < p.kW; kw++) {
      let s = iw + p.pW - i32(tap(kw, p.kW)) * p.dW;
      if (s < 0 || s % p.sW != 0 || u32(s / p.sW) >= p.Wo) { continue; }
      let ow = u32(s / p.sW);
      acc += A[((o * Cg + c) * p.kH + kh) * p.kW + kw] *
             B[((n * p.O + o) * p.Ho + oh) * p.Wo + ow];
    }
  }
  finish(i, acc, Og * p.kH);
}

@compute @workgroup_size(256)
fn dw(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
      @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= p.total) { return; }
  let kw = i % p.kW;
  let kh = (i / p.kW) % p.kH;
  let Cg = p.C / p.G;
  let c = (i / (p.kW * p.kH)) % Cg;
  let o = i / (p.kW * p.kH * Cg);
  let ch = (o / (p.O / p.G)) * Cg + c;
  let th = i32(tap(kh, p.kH));
  let tw = i32(tap(kw, p.kW));
  var acc = start(i);
  for (var r = p.rBegin; r < p.rEnd; r++) {
    let n = r / p.Ho;
    let oh = r % p.Ho;
    let ih = i32(oh) * p.sH - p.pH + th * p.dH;
    if (ih < 0 || ih >= i32(p.H)) { continue; }
    for (var ow = 0u; ow < p.Wo; ow++) {
      let iw = i32(ow) * p.sW - p.pW + tw * p.dW;
      if (iw < 0 || iw >= i32(p.W)) { continue; }
      acc += B[((n * p.O + o) * p.Ho + oh) * p.Wo + ow] *
             A[((n * p.C + ch) * p.H + u32(ih)) * p.W + u32(iw)];
    }
  }
  finish(i, acc, p.N * p.Ho);
}
