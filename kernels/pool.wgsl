// Pooling over the two spatial dims of row-major [planes, H, W] (planes = N*C), Knet's
// semantics (src/ops/pool.ts has the CPU twin):
//   window (kh,kw), stride (sh,sw), padding (ph,pw) < window; OH = 1 + (H + 2ph - kh)/sh.
//   MODE 0: max over the real cells of the window (padded cells are -inf; ties and the
//           gradient go to the first maximum in row-major window order).
//   MODE 1: sum / (kh*kw)  (average counting padded cells).
//   MODE 2: sum / (number of real cells)  (average excluding padding).
//   Results (and gradients) are multiplied by p.scale (Knet's alpha).
// Entry points, one output element per invocation, 2-D grid of 256-wide workgroups:
//   main:     Y[plane, oy, ox] from X                      (p.total = planes*OH*OW)
//             With ARG (MODE 0 only) it also writes the window's first maximum, as a
//             flat offset within the plane, to AI (the backward pass's argmax table).
//   backward: DX[plane, iy, ix] = sum over the windows holding (iy, ix) of their share of
//             DY; a gather, so it is deterministic and needs no atomics (p.total =
//             planes*H*W). MODE 0 compares each window's argmax from AI with (iy, ix).
//   backward_tiled: MODE 0 with windows that do not overlap, in one pass (see below).
// Slicing: llvmpipe caps the loop iterations of one invocation (about 65 535, all loops
// together) and silently cuts the loops short beyond. So each dispatch covers the rows
// [p.rBegin, p.rEnd) of p.rTotal: `main` the rows of the (clipped) window, kw + 1
// iterations each; `backward` the rows of windows holding the element, ceil(kw/sw) + 1
// iterations each. src/ops/pool.ts picks the slices. A slice after the first resumes from
// the partial result in Y (and AI); the scale (and an average's divisor) applies in the
// slice that ends at p.rTotal. Results equal the unsliced ones bit for bit.

override MODE: u32 = 0u;
override ARG: bool = false;

struct Params {
  total: u32, h: u32, w: u32, oh: u32,
  ow: u32, kh: u32, kw: u32, sh: u32,
  sw: u32, ph: u32, pw: u32, scale: f32,
  rBegin: u32, rEnd: u32, rTotal: u32, _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> DY: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<storage, read_write> AI: array<u32>;

fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}

// Clipped extent [lo, hi) of window o along a dim of size n (start o*s - pad).
fn clip(o: u32, s: u32, pad: u32, k: u32, n: u32) -> vec2<i32> {
  let start = i32(o * s) - i32(pad);
  return vec2<i32>(max(start, 0), min(start + i32(k), i32(n)));
}

// A running first maximum in row-major window order: its value, its flat offset in the
// plane, and whether nothing was seen yet.
struct Best { v: f32, at: u32, first: bool }

// Scans the window rows [y0, y1) and columns [rx.x, rx.y) of the plane at `base` into b
// (padded cells never count; NaN beats any number, the first NaN wins).
fn scanMax(base: u32, y0: i32, y1: i32, rx: vec2<i32>, b0: Best) -> Best {
  var b = b0;
  for (var y = y0; y < y1; y++) {
    for (var x = rx.x; x < rx.y; x++) {
      let j = u32(y) * p.w + u32(x);
      let v = X[base + j];
      if (b.first || v > b.v || (is_nan(v) && !is_nan(b.v))) {
        b = Best(v, j, false);
      }
    }
  }
  return b;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.total) { return; }
  let per = p.oh * p.ow;
  let plane = i / per;
  let r = i - plane * per;
  let oy = r / p.ow;
  let ox = r - oy * p.ow;
  let base = plane * p.h * p.w;
  let ry = clip(oy, p.sh, p.ph, p.kh, p.h);
  let rx = clip(ox, p.sw, p.pw, p.kw, p.w);
  let y1 = min(ry.y, ry.x + i32(p.rEnd));
  let resume = p.rBegin > 0u;
  var out: f32;
  if (MODE == 0u) {
    var b = Best(-3.4028234663852886e38, u32(ry.x) * p.w + u32(rx.x), !resume);
    if (resume) {
      b.v = Y[i];
      if (ARG) { b.at = AI[i]; }
    }
    b = scanMax(base, ry.x + i32(p.rBegin), y1, rx, b);
    if (ARG) { AI[i] = b.at; }
    out = b.v;
  } else {
    var s = 0.0;
    if (resume) { s = Y[i]; }
    for (var y = ry.x + i32(p.rBegin); y < y1; y++) {
      for (var x = rx.x; x < rx.y; x++) {
        s += X[base + u32(y) * p.w + u32(x)];
      }
    }
    out = s;
    if (p.rEnd >= p.rTotal) {
      var count = f32(p.kh * p.kw);
      if (MODE == 2u) { count = f32((ry.y - ry.x) * (rx.y - rx.x)); }
      out = s / count;
    }
  }
  Y[i] = select(out, p.scale * out, p.rEnd >= p.rTotal);
}

// Windows o along a dim that hold input index t: o*s - pad <= t < o*s - pad + k.
fn windows(t: u32, s: u32, pad: u32, k: u32, nout: u32) -> vec2<u32> {
  let lo = i32(t + pad) - i32(k) + 1;
  var first = 0u;
  if (lo > 0) { first = (u32(lo) + s - 1u) / s; }
  let last = min((t + pad) / s, nout - 1u);
  return vec2<u32>(first, last + 1u);
}

// Input element i of the backward passes: its plane, its offset j in the plane, and the
// ranges [x, y) of window rows (wy) and columns (wx) that hold it.
struct InputAt { plane: u32, j: u32, wy: vec2<u32>, wx: vec2<u32> }

fn inputAt(i: u32) -> InputAt {
  let per = p.h * p.w;
  let plane = i / per;
  let j = i - plane * per;
  let iy = j / p.w;
  let ix = j - iy * p.w;
  return InputAt(plane, j, windows(iy, p.sh, p.ph, p.kh, p.oh), windows(ix, p.sw, p.pw, p.kw, p.ow));
}

@compute @workgroup_size(256)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.total) { return; }
  let at = inputAt(i);
  let plane = at.plane;
  let j = at.j;
  let obase = plane * p.oh * p.ow;
  let wy = at.wy;
  let wx = at.wx;
  var acc = 0.0;
  if (p.rBegin > 0u) { acc = Y[i]; }
  let oy1 = min(wy.y, wy.x + p.rEnd);
  for (var oy = wy.x + p.rBegin; oy < oy1; oy++) {
    for (var ox = wx.x; ox < wx.y; ox++) {
      let o = obase + oy * p.ow + ox;
      let g = DY[o];
      if (MODE == 0u) {
        if (AI[o] == j) { acc += g; }
      } else if (MODE == 1u) {
        acc += g / f32(p.kh * p.kw);
      } else {
        let ry = clip(oy, p.sh, p.ph, p.kh, p.h);
        let rx = clip(ox, p.sw, p.pw, p.kw, p.w);
        acc += g / f32((ry.y - ry.x) * (rx.y - rx.x));
      }
    }
  }
  Y[i] = select(acc, p.scale * acc, p.rEnd >= p.rTotal);
}

// Max pooling's gradient when windows do not overlap (stride >= window in both dims): each
// input element lies in at most one window, so the invocation finds that window's first
// maximum itself (as `main` does) and takes the window's DY if it is that element: one
// pass, no argmax table. Unsliced (kh * kw + kh iterations; src/ops/pool.ts checks the
// budget). Bindings: 1 X, 2 DY, 3 DX (as Y).
@compute @workgroup_size(256)
fn backward_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.total) { return; }
  let at = inputAt(i);
  var g = 0.0;
  if (at.wy.x < at.wy.y && at.wx.x < at.wx.y) {
    let ry = clip(at.wy.x, p.sh, p.ph, p.kh, p.h);
    let rx = clip(at.wx.x, p.sw, p.pw, p.kw, p.w);
    let b = scanMax(at.plane * p.h * p.w, ry.x, ry.y, rx, Best(0.0, 0u, true));
    if (b.at == at.j) { g = p.scale * DY[(at.plane * p.oh + at.wy.x) * p.ow + at.wx.x]; }
  }
  Y[i] = g;
}
