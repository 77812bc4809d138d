// One time step of a recurrent layer, fused: gate pre-activations, nonlinearities, the
// state update and the values the backward pass needs (`forward`), and the gate
// gradients of a step (`backward`). The formulas, layouts and offsets are those of the
// reference in src/ops/rnn_cell.ts (cellForwardRef / cellBackwardRef); read it first.
// Specialised by the override MODE: 0 relu, 1 tanh, 2 LSTM (gates i,f,g,o), 3 GRU (r,z,n).
// dispatch: 2-D grid of 256-wide workgroups covering rows·H, one invocation per (row, j).

struct Params {
  rows: u32, H: u32,
  // forward: off0 xg, off1 y, stride1 y's row stride, off3 hPrev, off4 saved (off2 0);
  // backward: off0 dy, stride1 dy's row stride, off1 dHg, off2 dXg, off3 hPrev, off4 saved.
  off0: u32, off1: u32, stride1: u32, off2: u32, off3: u32, off4: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// forward bindings
@group(0) @binding(1) var<storage, read> XG: array<f32>;
@group(0) @binding(2) var<storage, read> HG: array<f32>;
@group(0) @binding(3) var<storage, read> BR: array<f32>;
@group(0) @binding(4) var<storage, read_write> Hs: array<f32>;
@group(0) @binding(5) var<storage, read_write> Cs: array<f32>;
@group(0) @binding(6) var<storage, read_write> Y: array<f32>;
@group(0) @binding(7) var<storage, read_write> HP: array<f32>;
@group(0) @binding(8) var<storage, read_write> SV: array<f32>;

// backward bindings
@group(0) @binding(1) var<storage, read> DY: array<f32>;
@group(0) @binding(2) var<storage, read> SVr: array<f32>;
@group(0) @binding(3) var<storage, read> HPr: array<f32>;
@group(0) @binding(4) var<storage, read_write> DH: array<f32>;
@group(0) @binding(5) var<storage, read_write> DC: array<f32>;
@group(0) @binding(6) var<storage, read_write> DXG: array<f32>;
@group(0) @binding(7) var<storage, read_write> DHG: array<f32>;
@group(0) @binding(8) var<storage, read_write> DSTEP: array<f32>;

override MODE: u32 = 2u;
// GRU backward: whether DHG (the whole-sequence recurrent-side gradients) is written.
override WRITE_DHG: bool = false;

fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// Logistic sigmoid without overflow for large |x|; NaN propagates.
fn sigm(x: f32) -> f32 {
  let e = exp(-abs(x));
  let pos = 1.0 / (1.0 + e);
  let r = select(e / (1.0 + e), pos, x >= 0.0);
  return select(r, x, is_nan(x));
}

// tanh without overflow for large |x|; NaN propagates.
fn tanh_s(x: f32) -> f32 {
  let a = abs(x);
  var r: f32;
  if (a < 0.0625) {
    // short series: 1 - t/(1+t) loses relative digits near zero
    let x2 = x * x;
    r = a * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0))));
  } else {
    let t = exp(-2.0 * a);
    r = (1.0 - t) / (1.0 + t);
  }
  let s = select(-r, r, x >= 0.0);
  return select(s, x, is_nan(x));
}

fn relu_nan(v: f32) -> f32 {
  return select(select(0.0, v, is_nan(v)), v, v > 0.0);
}

fn cell(gid: vec3<u32>, nwg: vec3<u32>) -> vec2<u32> {
  let i = gid.x + gid.y * nwg.x * 256u;
  return vec2<u32>(i / p.H, i % p.H);
}

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>,
           @builtin(num_workgroups) nwg: vec3<u32>) {
  let H = p.H;
  let bj = cell(gid, nwg);
  let b = bj.x;
  let j = bj.y;
  if (b >= p.rows) { return; }
  var G = 1u;
  var S = 1u;
  if (MODE == 2u) { G = 4u; S = 6u; }
  if (MODE == 3u) { G = 3u; S = 4u; }
  let gx = p.off0 + b * G * H + j;
  let gh = b * G * H + j;
  let s = p.off4 + b * S * H + j;
  let hprev = Hs[b * H + j];
  var hn: f32;
  if (MODE <= 1u) {
    let v = XG[gx] + HG[gh] + BR[j];
    if (MODE == 0u) { hn = relu_nan(v); } else { hn = tanh_s(v); }
    SV[s] = hn;
  } else if (MODE == 2u) {
    let ig = sigm(XG[gx] + HG[gh] + BR[j]);
    let fg = sigm(XG[gx + H] + HG[gh + H] + BR[H + j]);
    let gg = tanh_s(XG[gx + 2u * H] + HG[gh + 2u * H] + BR[2u * H + j]);
    let og = sigm(XG[gx + 3u * H] + HG[gh + 3u * H] + BR[3u * H + j]);
    let cp = Cs[b * H + j];
    let cn = fg * cp + ig * gg;
    hn = og * tanh_s(cn);
    SV[s] = ig;
    SV[s + H] = fg;
    SV[s + 2u * H] = gg;
    SV[s + 3u * H] = og;
    SV[s + 4u * H] = cp;
    SV[s + 5u * H] = cn;
    Cs[b * H + j] = cn;
  } else {
    let r = sigm(XG[gx] + HG[gh] + BR[j]);
    let z = sigm(XG[gx + H] + HG[gh + H] + BR[H + j]);
    let hnn = HG[gh + 2u * H] + BR[2u * H + j];
    let n = tanh_s(XG[gx + 2u * H] + r * hnn);
    hn = (1.0 - z) * n + z * hprev;
    SV[s] = r;
    SV[s + H] = z;
    SV[s + 2u * H] = n;
    SV[s + 3u * H] = hnn;
  }
  HP[p.off3 + b * H + j] = hprev;
  Hs[b * H + j] = hn;
  Y[p.off1 + b * p.stride1 + j] = hn;
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>,
            @builtin(num_workgroups) nwg: vec3<u32>) {
  let H = p.H;
  let bj = cell(gid, nwg);
  let b = bj.x;
  let j = bj.y;
  if (b >= p.rows) { return; }
  var G = 1u;
  var S = 1u;
  if (MODE == 2u) { G = 4u; S = 6u; }
  if (MODE == 3u) { G = 3u; S = 4u; }
  let s = p.off4 + b * S * H + j;
  let gx = p.off2 + b * G * H + j;
  let gs = b * G * H + j;
  let g = DY[p.off0 + b * p.stride1 + j] + DH[b * H + j];
  if (MODE <= 1u) {
    let hn = SVr[s];
    var d: f32;
    if (MODE == 0u) { d = select(0.0, g, hn > 0.0); } else { d = g * (1.0 - hn * hn); }
    DXG[gx] = d;
    DSTEP[gs] = d;
  } else if (MODE == 2u) {
    let ig = SVr[s];
    let fg = SVr[s + H];
    let gg = SVr[s + 2u * H];
    let og = SVr[s + 3u * H];
    let cp = SVr[s + 4u * H];
    let cn = SVr[s + 5u * H];
    let tc = tanh_s(cn);
    let dcn = DC[b * H + j] + g * og * (1.0 - tc * tc);
    let di = dcn * gg * ig * (1.0 - ig);
    let df = dcn * cp * fg * (1.0 - fg);
    let dg = dcn * ig * (1.0 - gg * gg);
    let dout = g * tc * og * (1.0 - og);
    DXG[gx] = di;
    DXG[gx + H] = df;
    DXG[gx + 2u * H] = dg;
    DXG[gx + 3u * H] = dout;
    DSTEP[gs] = di;
    DSTEP[gs + H] = df;
    DSTEP[gs + 2u * H] = dg;
    DSTEP[gs + 3u * H] = dout;
    DC[b * H + j] = dcn * fg;
  } else {
    let r = SVr[s];
    let z = SVr[s + H];
    let n = SVr[s + 2u * H];
    let hnn = SVr[s + 3u * H];
    let hprev = HPr[p.off3 + b * H + j];
    let dn = g * (1.0 - z) * (1.0 - n * n);
    let dz = g * (hprev - n) * z * (1.0 - z);
    let dr = dn * hnn * r * (1.0 - r);
    DXG[gx] = dr;
    DXG[gx + H] = dz;
    DXG[gx + 2u * H] = dn;
    DSTEP[gs] = dr;
    DSTEP[gs + H] = dz;
    DSTEP[gs + 2u * H] = dn * r;
    if (WRITE_DHG) {
      let gd = p.off1 + b * G * H + j;
      DHG[gd] = dr;
      DHG[gd + H] = dz;
      DHG[gd + 2u * H] = dn * r;
    }
    DH[b * H + j] = g * z;
  }
}
