// Row reductions: X viewed as [rows, len] (reduced axes last and contiguous), or with
// GATHER the reduced axes around the rows: X viewed as [len / seg, rows, seg] and row r
// reducing X[:, r, :] (element j of row r at r*seg + (j / seg)*segStride + j % seg; a
// bias gradient's sum over batch and space in one pass, no permute).
// Each workgroup reduces one chunk of one row (chunks = p.chunks per row) with WG
// threads: each group of 8 lanes reads one contiguous segment 8 elements at a time, then
// one barrier and the WG partials are combined: serially by thread 0 in thread order
// (TREE = false; on llvmpipe every barrier round costs more than 64 serial adds), or in
// a log-depth tree (TREE = true, hardware GPUs with 256-thread workgroups, where a
// 256-long serial tail would idle the workgroup). With chunks > 1 a second dispatch
// (SECOND = true) reduces the partials. Overrides:
//   OP:    0 sum, 1 prod, 2 max, 3 min, 4 argmax, 5 argmin
//   MAP:   applied to each input element first: 0 x, 1 x*x, 2 x*X2[i], 3 |x|
//   FINAL: applied to the result (final pass only): 0 x*scale, 1 sqrt(x)*scale
//   SECOND: the input is partials (values in X, indices in XI)
//   GATHER: the addressing above (first pass only)
//   WG, TREE: workgroup size (a multiple of 8, a power of two with TREE) and combine
// Arg ops return the index (within the row) as f32 in YI; ties keep the first index.
// dispatch: rows*chunks workgroups as a 2-D grid (see grid2d).
//
// Entry point `main_strided` reduces a middle axis in place: X viewed as
// [outer, len, inner], one invocation per output (outer*inner of them) looping over len,
// so neighbouring invocations read neighbouring addresses (no permute needed).
// With inner = 1 it is the one-invocation-per-row path for many short rows.
// It covers j in [p.jBegin, p.jEnd) of the reduced axis per dispatch: llvmpipe caps the
// loop iterations of one shader invocation (about 65 535, all loops together) and silently
// cuts the loop short beyond, so src/ops/reduce.ts slices long axes over several
// dispatches. A slice after the first resumes from the partial result in Y (for arg ops
// the value in Y and the index in YI, -1 for none yet); FINAL and scale apply only in
// the slice that ends at p.len. The order of operations is the unsliced one.
// dispatch: ceil(rows / 64) workgroups as a 2-D grid, rows = outer*inner.
// Trip counts per invocation (loop iterations, the thing llvmpipe caps): `main`
// ceil(chunkLen / WG) + WG (serial combine) or + log2(WG) (tree); `main_vec4` the same
// with 4 steps per vec4; `main_strided` jEnd - jBegin. The software profile (WG 64,
// chunks ≤ 2^20) stays under 20 500.

struct Params {
  rows: u32, len: u32, chunks: u32, chunkLen: u32,
  scale: f32, inner: u32, jBegin: u32, jEnd: u32,
  seg: u32, segStride: u32, pad0: u32, pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> X2: array<f32>;
@group(0) @binding(3) var<storage, read> XI: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
@group(0) @binding(5) var<storage, read_write> YI: array<f32>;
// X and X2 as vec4s (main_vec4).
@group(0) @binding(1) var<storage, read> X4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> X24: array<vec4<f32>>;

override OP: u32 = 0u;
override MAP: u32 = 0u;
override FINAL: u32 = 0u;
override SECOND: bool = false;
override GATHER: bool = false;
override WG: u32 = 64u;
override TREE: bool = false;

const STRIDED_WG: u32 = 64u;
const LANES: u32 = 8u;
override SEGS: u32 = WG / LANES;
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

fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// Whether (v, i) should replace (acc, ai) for arg ops. NaN beats every number and the
// first NaN wins (Julia's findmax/findmin).
fn better(v: f32, i: u32, acc: f32, ai: u32) -> bool {
  if (is_nan(v) || is_nan(acc)) { return is_nan(v) && (!is_nan(acc) || i < ai); }
  if (OP == 4u) { return v > acc || (v == acc && i < ai); }
  return v < acc || (v == acc && i < ai);
}

fn combine(a: f32, b: f32) -> f32 {
  switch OP {
    case 1u: { return a * b; }
    case 2u: { if (is_nan(a) || is_nan(b)) { return a + b; } return max(a, b); }
    case 3u: { if (is_nan(a) || is_nan(b)) { return a + b; } return min(a, b); }
    default: { return a + b; }
  }
}

// Whether partial (v, vi) replaces partial (r, ri) for arg ops: an empty partial (index
// 0xffffffff) never wins and `better` keeps the first index on ties.
fn wins(v: f32, vi: u32, r: f32, ri: u32) -> bool {
  return vi != 0xffffffffu && (ri == 0xffffffffu || better(v, vi, r, ri));
}

// Combines partial k into partial i (workgroup memory): one step of the tree.
fn merge(i: u32, k: u32, isArg: bool) {
  let v = sv[k];
  if (isArg) {
    let vi = si[k];
    if (wins(v, vi, sv[i], si[i])) {
      sv[i] = v;
      si[i] = vi;
    }
  } else {
    sv[i] = combine(sv[i], v);
  }
}

// Folds element v (index idx within its row) into a thread's partial (acc, ai).
fn accumulate(acc: ptr<function, f32>, ai: ptr<function, u32>, v: f32, idx: u32) {
  if (OP == 4u || OP == 5u) {
    if (better(v, idx, *acc, *ai)) {
      *acc = v;
      *ai = idx;
    }
  } else {
    *acc = combine(*acc, v);
  }
}

// Combines the workgroup's partials and writes output g (thread 0; the final map and
// scale when the row is in one chunk).
fn finish(g: u32, lid: u32, inRange: bool, acc: f32, ai: u32) {
  let isArg = OP == 4u || OP == 5u;
  sv[lid] = acc;
  si[lid] = ai;
  workgroupBarrier();
  if (TREE) {
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
      if (lid < s) { merge(lid, lid + s, isArg); }
      workgroupBarrier();
    }
  } else if (lid == 0u) {
    // Serially in thread order, the running partial in registers.
    var r = acc;
    var ri = ai;
    for (var k = 1u; k < WG; k++) {
      let v = sv[k];
      if (isArg) {
        let vi = si[k];
        if (wins(v, vi, r, ri)) {
          r = v;
          ri = vi;
        }
      } else {
        r = combine(r, v);
      }
    }
    sv[0] = r;
    si[0] = ri;
  }
  if (lid == 0u && inRange) {
    var r = sv[0];
    let ri = si[0];
    if (p.chunks == 1u) {
      if (FINAL == 1u) { r = sqrt(r); }
      r = r * p.scale;
    }
    Y[g] = r;
    // A row with no candidate (an empty row) reports index 0, like the CPU twin.
    if (isArg) { YI[g] = select(f32(ri), 0.0, ri == 0xffffffffu); }
  }
}

// The segment [segStart, segEnd) of [start, end) that lane group lid / LANES walks, in
// steps of LANES units: lanes 8s..8s+7 walk segment s 8 consecutive units at a time
// (32-byte sectors on a GPU; on llvmpipe each 8-wide SIMD group streams through
// contiguous memory instead of striding over the whole chunk).
fn segment(start: u32, end: u32, lid: u32) -> vec2<u32> {
  let segLen = ((end - min(start, end) + SEGS * LANES - 1u) / (SEGS * LANES)) * LANES;
  let segStart = start + (lid / LANES) * segLen;
  return vec2<u32>(segStart, min(segStart + segLen, end));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wid.y * nwg.x + wid.x;
  let inRange = g < p.rows * p.chunks;
  let row = g / p.chunks;
  let start = (g % p.chunks) * p.chunkLen;
  let end = min(start + p.chunkLen, p.len);
  let isArg = OP == 4u || OP == 5u;
  var acc = identity();
  var ai = 0xffffffffu;
  if (inRange && GATHER) {
    // Element j is at row·seg + o·segStride + t with (o, t) = (j / seg, j % seg), kept
    // incrementally: a division only where the walk crosses into the next outer index.
    let seg = segment(start, end, lid);
    var j = seg.x + lid % LANES;
    var o = j / p.seg;
    var t = j % p.seg;
    let rowBase = row * p.seg;
    for (; j < seg.y; j += LANES) {
      accumulate(&acc, &ai, mapped(rowBase + o * p.segStride + t), j);
      t += LANES;
      if (t >= p.seg) {
        o += t / p.seg;
        t = t % p.seg;
      }
    }
  } else if (inRange) {
    let base = row * p.len;
    let seg = segment(start, end, lid);
    for (var j = seg.x + lid % LANES; j < seg.y; j += LANES) {
      var v: f32;
      var idx = j;
      if (SECOND) {
        v = X[base + j];
        if (isArg) { idx = u32(XI[base + j]); }
      } else {
        v = mapped(base + j);
      }
      accumulate(&acc, &ai, v, idx);
    }
  }
  finish(g, lid, inRange, acc, ai);
}

// `main` for contiguous rows (first pass) whose length and chunk length are multiples of
// 4, bound at 16-byte offsets: one vec4 load per lane step. Units are vec4s; the four
// lanes of a vec4 are folded in order, so arg ops still see indices in order.
@compute @workgroup_size(WG)
fn main_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let g = wid.y * nwg.x + wid.x;
  let inRange = g < p.rows * p.chunks;
  let row = g / p.chunks;
  let start = (g % p.chunks) * (p.chunkLen / 4u);
  let end = min(start + p.chunkLen / 4u, p.len / 4u);
  var acc = identity();
  var ai = 0xffffffffu;
  if (inRange) {
    let base = row * (p.len / 4u);
    let seg = segment(start, end, lid);
    for (var j = seg.x + lid % LANES; j < seg.y; j += LANES) {
      let x = X4[base + j];
      var v: vec4<f32>;
      switch MAP {
        case 1u: { v = x * x; }
        case 2u: { v = x * X24[base + j]; }
        case 3u: { v = abs(x); }
        default: { v = x; }
      }
      for (var c = 0u; c < 4u; c++) { accumulate(&acc, &ai, v[c], 4u * j + c); }
    }
  }
  finish(g, lid, inRange, acc, ai);
}

@compute @workgroup_size(64)
fn main_strided(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let g = (wid.y * nwg.x + wid.x) * STRIDED_WG + lid;
  if (g >= p.rows) { return; }
  let base = (g / p.inner) * p.len * p.inner + g % p.inner;
  let isArg = OP == 4u || OP == 5u;
  var acc = identity();
  var ai = 0xffffffffu;
  if (p.jBegin > 0u) {
    acc = Y[g];
    if (isArg && YI[g] >= 0.0) { ai = u32(YI[g]); }
  }
  for (var j = p.jBegin; j < p.jEnd; j++) {
    let v = mapped(base + j * p.inner);
    if (isArg) {
      if (better(v, j, acc, ai)) { acc = v; ai = j; }
    } else {
      acc = combine(acc, v);
    }
  }
  if (p.jEnd < p.len) {
    // A partial result for the next slice.
    Y[g] = acc;
    if (isArg) { YI[g] = select(f32(ai), -1.0, ai == 0xffffffffu); }
  } else if (isArg) {
    YI[g] = select(f32(ai), 0.0, ai == 0xffffffffu);
  } else {
    if (FINAL == 1u) { acc = sqrt(acc); }
    Y[g] = acc * p.scale;
  }
}
