// Fused softmax cross-entropy over the rows of X viewed as [rows, len] (scores, classes
// last), with L[rows] the class of each row as an f32 (0-based):
//   forward:  Y[r]     = logsumexp(X[r, :]) - X[r, c]  = (m - X[r, c]) + log(s)
//   backward: DX[r, j] = DY[r] * (exp(X[r, j] - m) / s - (j == c ? 1 : 0))
// with c = L[r], m the row maximum and s = sum_j exp(X[r, j] - m) (stable: no exp
// overflows). For confident rows (X[r, c] = m, the others far below) s rounds to 1, so
// the kernel also sums o = sum_{j != c} exp(X[r, j] - m) in the same pass and uses
// Y[r] = log1p(o) when X[r, c] = m, and DX[r, c] = -DY[r] * o / s: tiny losses and the
// label's gradient keep their relative accuracy instead of rounding to 0.
// Labels: L[r] < 0 skips the row (Y[r] = 0, DX row 0). A label >= len or not an
// integer (or NaN, where the compiler keeps NaN) gives NaN (Y[r] and the whole DX row);
// no read ever leaves the row. Labels are exact integers in f32 up to 2^24.
//
// Entry points (one pass over the data per direction):
//   forward, backward:           one 64-thread workgroup per row (long rows); each thread
//       reduces a strided part (two passes, or one with ONLINE), then every thread
//       combines the 64 partials in the same order (identical values, no broadcast
//       barrier).
//       dispatch: rows workgroups as a 2-D grid (see grid2d).
//   forward_rows, backward_rows: one invocation per row (short rows, many of them).
//       dispatch: ceil(rows / 64) workgroups as a 2-D grid.
//   stats_max, stats_sum, loss_rows, backward_slice: rows longer than the driver's slice
//       (src/ops/xent.ts XENT_SLICE). One 64-thread workgroup per row covers the columns
//       [p.jBegin, p.jEnd) per dispatch: stats_max over all slices, then stats_sum over all
//       slices accumulate (m, s, o) in ST[4 row ..]; then loss_rows (one invocation per
//       row) writes Y, or backward_slice per slice writes DX. The same formulas; only the
//       partial sums of s and o are added slice by slice.
//   total: one 256-thread workgroup after a forward pass: OUT[0] = the sum of Y over the
//       rows, divided by the number of kept rows (label >= 0) when p.average is 1, and
//       OUT[1] = the scale of the scalar upstream gradient (1 / kept, or 1). It also checks
//       the labels (as kernels/check.wgsl does): the first bad one is recorded in E with
//       p.code unless an earlier check failed. dispatch: 1 workgroup.
// Scalar upstream gradient (override SCALAR_DY): the backward entry points take
// DY[0] * SC[1] for every row instead of DY[row], where SC is the OUT of `total` (the
// gradient of the mean or total of the rows). Every backward dispatch binds SC (a dummy
// when SCALAR_DY is false).
// Trip counts (loop iterations per invocation): forward ceil(len/64)*2 + 128, backward
// ceil(len/64)*3 + 128 (one ceil(len/64) less with ONLINE), the *_rows entry points 2*len (+ len backward), the sliced ones
// ceil((jEnd - jBegin)/64) + 64, total ceil(rows/256) + 8. llvmpipe caps the loop iterations of one invocation
// (about 65 535, all loops together) and silently cuts the loops short beyond: the
// driver keeps long rows (len > 2^18) on the sliced entry points.
// Bindings: 1 X, 2 L, then forward 3 Y; backward 4 DY, 5 DX, 9 SC; sliced 6 ST; total
// 2 L, 3 Y, 7 E, 8 OUT.

struct Params {
  rows: u32, len: u32, nanBits: u32, jBegin: u32, jEnd: u32, code: u32, average: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> L: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<storage, read> DY: array<f32>;
@group(0) @binding(5) var<storage, read_write> DX: array<f32>;
@group(0) @binding(6) var<storage, read_write> ST: array<f32>;
@group(0) @binding(7) var<storage, read_write> E: array<u32>;
@group(0) @binding(8) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(9) var<storage, read> SC: array<f32>;

override SCALAR_DY: bool = false;
override ONLINE: bool = false; // rowStats in one pass (see there)

const WG: u32 = 64u;
const SKIP: i32 = -1;
const BAD: i32 = -2;
var<workgroup> shm: array<f32, WG>;
var<workgroup> shs: array<f32, WG>;
var<workgroup> sho: array<f32, WG>;

// The class of row `row`: its index, SKIP (negative label) or BAD (out of range,
// not an integer, NaN).
fn classOf(row: u32) -> i32 {
  let l = L[row];
  if (l < 0.0) { return SKIP; }
  if (!(l < f32(p.len)) || l != floor(l)) { return BAD; }
  return i32(min(u32(l), p.len - 1u));
}

// A NaN built at run time (a NaN constant expression is a shader-creation error).
fn nan() -> f32 {
  return bitcast<f32>(p.nanBits);
}

fn negInf() -> f32 {
  return bitcast<f32>(0xff800000u);
}

// log(1 + x) for x >= 0, accurate for tiny x (WGSL has no log1p).
fn log1p(x: f32) -> f32 {
  let u = 1.0 + x;
  if (u == 1.0) { return x; }
  return log(u) * (x / (u - 1.0));
}

// The loss of a row from its class and stats (m, s, o).
fn rowLoss(base: u32, c: i32, st: vec3<f32>) -> f32 {
  if (c == SKIP) { return 0.0; }
  if (c == BAD) { return nan(); }
  let xc = X[base + u32(c)];
  if (xc == st.x) { return log1p(st.z); }
  return (st.x - xc) + log(st.y);
}

// The upstream gradient of row `row`'s loss.
fn upstream(row: u32) -> f32 {
  if (SCALAR_DY) { return DY[0] * SC[1]; }
  return DY[row];
}

// Writes one gradient element: upstream * (softmax_j - onehot_j), given the row's class.
fn gradAt(row: u32, base: u32, j: u32, c: i32, st: vec3<f32>) {
  if (c == SKIP) {
    DX[base + j] = 0.0;
    return;
  }
  if (c == BAD) {
    DX[base + j] = nan();
    return;
  }
  if (i32(j) == c) {
    DX[base + j] = -upstream(row) * (st.z / st.y);
  } else {
    DX[base + j] = upstream(row) * (exp(X[base + j] - st.x) / st.y);
  }
}

// This thread's share of the maximum over the columns [j0, j1) (stride WG).
fn partMax(base: u32, lid: u32, j0: u32, j1: u32) -> f32 {
  var m = negInf();
  for (var j = j0 + lid; j < j1; j += WG) { m = max(m, X[base + j]); }
  return m;
}

// This thread's share of (s, o) over the columns [j0, j1) (stride WG), given the max m.
fn partSums(base: u32, lid: u32, j0: u32, j1: u32, c: i32, m: f32) -> vec2<f32> {
  var acc = 0.0;
  var other = 0.0;
  for (var j = j0 + lid; j < j1; j += WG) {
    let e = exp(X[base + j] - m);
    acc += e;
    if (i32(j) != c) { other += e; }
  }
  return vec2<f32>(acc, other);
}

// The maximum of the workgroup's shares in shm (call after a barrier).
fn sharedMax() -> f32 {
  var m = shm[0];
  for (var k = 1u; k < WG; k++) { m = max(m, shm[k]); }
  return m;
}

// The totals of the workgroup's shares in shs and sho (call after a barrier).
fn sharedSums() -> vec2<f32> {
  var s = 0.0;
  var o = 0.0;
  for (var k = 0u; k < WG; k++) {
    s += shs[k];
    o += sho[k];
  }
  return vec2<f32>(s, o);
}

// Row stats (m, s, o) by one workgroup: max, sum of exp(x - m), and that sum without
// class c. Every thread returns the same values. Two passes over the row (the maximum,
// then the sums), or with ONLINE one pass: each thread keeps a running maximum with its
// sums rescaled as it grows, then rescales them to the row maximum (online softmax: half
// the reads, for adapters where memory bounds the pass; src/gpu/profile.ts decides).
fn rowStats(base: u32, lid: u32, c: i32) -> vec3<f32> {
  if (!ONLINE) {
    shm[lid] = partMax(base, lid, 0u, p.len);
    workgroupBarrier();
    let m = sharedMax();
    let part = partSums(base, lid, 0u, p.len, c, m);
    shs[lid] = part.x;
    sho[lid] = part.y;
    workgroupBarrier();
    return vec3<f32>(m, sharedSums());
  }
  var m = negInf();
  var s = 0.0;
  var o = 0.0;
  for (var j = lid; j < p.len; j += WG) {
    let v = X[base + j];
    if (v > m) {
      let r = exp(m - v);
      s = s * r;
      o = o * r;
      m = v;
    }
    // While the maximum is -inf every entry so far is -inf: it adds exp(-inf) = 0.
    var e = 0.0;
    if (m != negInf()) { e = exp(v - m); }
    s += e;
    if (i32(j) != c) { o += e; }
  }
  shm[lid] = m;
  workgroupBarrier();
  let mr = sharedMax();
  // A thread that saw nothing (or only -inf) adds 0, not 0 * exp(-inf + inf) = NaN.
  var r = 0.0;
  if (s != 0.0) { r = exp(m - mr); }
  shs[lid] = s * r;
  sho[lid] = o * r;
  workgroupBarrier();
  // A row of -inf has no softmax: NaN, as the two-pass form gives (exp(-inf + inf)).
  if (mr == negInf()) { return vec3<f32>(mr, nan(), nan()); }
  return vec3<f32>(mr, sharedSums());
}

// Row stats (m, s, o) by one invocation.
fn rowStatsSerial(base: u32, c: i32) -> vec3<f32> {
  var m = negInf();
  for (var j = 0u; j < p.len; j++) { m = max(m, X[base + j]); }
  var s = 0.0;
  var o = 0.0;
  for (var j = 0u; j < p.len; j++) {
    let e = exp(X[base + j] - m);
    s += e;
    if (i32(j) != c) { o += e; }
  }
  return vec3<f32>(m, s, o);
}

@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; } // uniform: the whole workgroup has one row
  let base = row * p.len;
  let c = classOf(row);
  let st = rowStats(base, lid, c);
  if (lid == 0u) { Y[row] = rowLoss(base, c, st); }
}

@compute @workgroup_size(64)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }
  let base = row * p.len;
  let c = classOf(row);
  let st = rowStats(base, lid, c);
  for (var j = lid; j < p.len; j += WG) { gradAt(row, base, j, c, st); }
}

@compute @workgroup_size(64)
fn forward_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= p.rows) { return; }
  let base = row * p.len;
  let c = classOf(row);
  Y[row] = rowLoss(base, c, rowStatsSerial(base, c));
}

@compute @workgroup_size(64)
fn backward_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= p.rows) { return; }
  let base = row * p.len;
  let c = classOf(row);
  let st = rowStatsSerial(base, c);
  for (var j = 0u; j < p.len; j++) { gradAt(row, base, j, c, st); }
}

// The stats of a long row accumulated in ST.
fn storedStats(row: u32) -> vec3<f32> {
  return vec3<f32>(ST[4u * row], ST[4u * row + 1u], ST[4u * row + 2u]);
}

@compute @workgroup_size(64)
fn stats_max(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }
  shm[lid] = partMax(row * p.len, lid, p.jBegin, p.jEnd);
  workgroupBarrier();
  if (lid == 0u) {
    var r = sharedMax();
    if (p.jBegin > 0u) { r = max(ST[4u * row], r); }
    ST[4u * row] = r;
  }
}

@compute @workgroup_size(64)
fn stats_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }
  let part = partSums(row * p.len, lid, p.jBegin, p.jEnd, classOf(row), ST[4u * row]);
  shs[lid] = part.x;
  sho[lid] = part.y;
  workgroupBarrier();
  if (lid == 0u) {
    var so = sharedSums();
    if (p.jBegin > 0u) { so += vec2<f32>(ST[4u * row + 1u], ST[4u * row + 2u]); }
    ST[4u * row + 1u] = so.x;
    ST[4u * row + 2u] = so.y;
  }
}

@compute @workgroup_size(64)
fn loss_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= p.rows) { return; }
  Y[row] = rowLoss(row * p.len, classOf(row), storedStats(row));
}

@compute @workgroup_size(64)
fn backward_slice(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }
  let base = row * p.len;
  let c = classOf(row);
  let st = storedStats(row);
  for (var j = p.jBegin + lid; j < p.jEnd; j += WG) { gradAt(row, base, j, c, st); }
}

const TWG: u32 = 256u;
var<workgroup> tot: array<f32, TWG>;
var<workgroup> cnt: array<f32, TWG>;
var<workgroup> firstBad: atomic<u32>;

@compute @workgroup_size(256)
fn total(@builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) { atomicStore(&firstBad, 0xffffffffu); }
  workgroupBarrier();
  var s = 0.0;
  var n = 0.0;
  for (var r = lid; r < p.rows; r += TWG) {
    let c = classOf(r);
    if (c == BAD) { atomicMin(&firstBad, r); }
    if (c != SKIP) { n += 1.0; }
    s += Y[r];
  }
  tot[lid] = s;
  cnt[lid] = n;
  workgroupBarrier();
  for (var k = TWG / 2u; k > 0u; k = k / 2u) {
    if (lid < k) {
      tot[lid] += tot[lid + k];
      cnt[lid] += cnt[lid + k];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let kept = cnt[0];
    if (p.average == 1u && kept == 0.0) {
      // Knet's 0/0: every instance skipped (no row then needs the scale).
      OUT[0] = nan();
      OUT[1] = 0.0;
    } else if (p.average == 1u) {
      OUT[0] = tot[0] / kept;
      OUT[1] = 1.0 / kept;
    } else {
      OUT[0] = tot[0];
      OUT[1] = 1.0;
    }
    let f = atomicLoad(&firstBad);
    if (f != 0xffffffffu && E[0] == 0u) {
      E[0] = 1u;
      E[1] = p.code;
      E[2] = f;
      E[3] = bitcast<u32>(L[f]);
    }
  }
}
