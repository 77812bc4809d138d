// Row reductions: X viewed as [rows, len] (reduced axes last and contiguous).
// Each workgroup reduces one chunk of one row (chunks = p.chunks per row) with 256
// threads and a shared-memory tree; with chunks > 1 a second dispatch (SECOND = true)
// reduces the partials. Overrides:
//   OP:    0 sum, 1 prod, 2 max, 3 min, 4 argmax, 5 argmin
//   MAP:   applied to each input element first: 0 x, 1 x*x, 2 x*X2[i], 3 |x|
//   FINAL: applied to the result (final pass only): 0 x*scale, 1 sqrt(x)*scale
//   SECOND: the input is partials (values in X, indices in XI)
// Arg ops return the index (within the row) as f32 in YI; ties keep the first index.
// dispatch: rows*chunks workgroups as a 2-D grid (see grid2d).
//
// Entry point `main_strided` reduces a middle axis in place: X viewed as
// [outer, len, inner], one invocation per output (outer*inner of them) looping over len,
// so neighbouring invocations read neighbouring addresses (no permute needed).
// dispatch: ceil(rows / 256) workgroups as a 2-D grid, rows = outer*inner.

struct Params { rows: u32, len: u32, chunks: u32, chunkLen: u32, scale: f32, inner: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> X2: array<f32>;
@group(0) @binding(3) var<storage, read> XI: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
@group(0) @binding(5) var<storage, read_write> YI: array<f32>;

override OP: u32 = 0u;
override MAP: u32 = 0u;
override FINAL: u32 = 0u;
override SECOND: bool = false;

const WG: u32 = 256u;
var<workgroup> sv: array<f32, WG>;
var<workgroup> si: array<u32, WG>;

fn identity() -> f32 {
  switch OP {
    case 1u: { return 1.0; }
    case 2u, 4u: { return bitcast<f32>(0xff800000u); } // -Inf
    case 3u, 5u: { return bitcast<f32>(0x7f800000u); } // +Inf
    default: { return 0.0; }
  }
}

fn mapped(i: u32) -> f32 {
  let x = X[i];
  switch MAP {
    case 1u: { return x * x; }
    case 2u: { return x * X2[i]; }
    case 3u: { return abs(x); }
    default: { return x; }
  }
}

// Whether (v, i) should replace (acc, ai) for arg ops.
fn better(v: f32, i: u32, acc: f32, ai: u32) -> bool {
  if (OP == 4u) { return v > acc || (v == acc && i < ai); }
  return v < acc || (v == acc && i < ai);
}

fn combine(a: f32, b: f32) -> f32 {
  switch OP {
    case 1u: { return a * b; }
    case 2u: { return max(a, b); }
    case 3u: { return min(a, b); }
    default: { return a + b; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wid.y * nwg.x + wid.x;
  let total = p.rows * p.chunks;
  let inRange = g < total;
  let row = g / p.chunks;
  let chunk = g % p.chunks;
  let start = chunk * p.chunkLen;
  let end = min(start + p.chunkLen, p.len);
  let isArg = OP == 4u || OP == 5u;
  var acc = identity();
  var ai = 0xffffffffu;
  if (inRange) {
    let base = row * p.len;
    for (var j = start + lid; j < end; j += WG) {
      var v: f32;
      var idx = j;
      if (SECOND) {
        v = X[base + j];
        if (isArg) { idx = u32(XI[base + j]); }
      } else {
        v = mapped(base + j);
      }
      if (isArg) {
        if (better(v, idx, acc, ai)) { acc = v; ai = idx; }
      } else {
        acc = combine(acc, v);
      }
    }
  }
  sv[lid] = acc;
  si[lid] = ai;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) {
      let v = sv[lid + s];
      let vi = si[lid + s];
      if (isArg) {
        if (vi != 0xffffffffu && (si[lid] == 0xffffffffu || better(v, vi, sv[lid], si[lid]))) {
          sv[lid] = v;
          si[lid] = vi;
        }
      } else {
        sv[lid] = combine(sv[lid], v);
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u && inRange) {
    var r = sv[0];
    if (p.chunks == 1u) {
      if (FINAL == 1u) { r = sqrt(r); }
      r = r * p.scale;
    }
    Y[g] = r;
    // A row with no candidate (all NaN) reports index 0, like the CPU twin.
    if (isArg) { YI[g] = select(f32(si[0]), 0.0, si[0] == 0xffffffffu); }
  }
}

@compute @workgroup_size(256)
fn main_strided(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let g = (wid.y * nwg.x + wid.x) * WG + lid;
  if (g >= p.rows) { return; }
  let base = (g / p.inner) * p.len * p.inner + g % p.inner;
  let isArg = OP == 4u || OP == 5u;
  var acc = identity();
  var ai = 0xffffffffu;
  for (var j = 0u; j < p.len; j++) {
    let v = mapped(base + j * p.inner);
    if (isArg) {
      if (better(v, j, acc, ai)) { acc = v; ai = j; }
    } else {
      acc = combine(acc, v);
    }
  }
  if (isArg) {
    YI[g] = select(f32(ai), 0.0, ai == 0xffffffffu);
  } else {
    if (FINAL == 1u) { acc = sqrt(acc); }
    Y[g] = acc * p.scale;
  }
}
