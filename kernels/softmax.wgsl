// Numerically stable softmax family over the last axis of X viewed as [rows, len]:
//   OP 0: Y = softmax(x)        = exp(x - m) / sum(exp(x - m))
//   OP 1: Y = logsoftmax(x)     = x - m - log(sum(exp(x - m)))
//   OP 2: Y[row] = logsumexp(x) = m + log(sum(exp(x - m)))
// with m the row maximum. One 256-thread workgroup per row (max and sum in two passes,
// or one with ONLINE).
// dispatch: rows workgroups as a 2-D grid (see grid2d).

struct Params { rows: u32, len: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

override OP: u32 = 0u;
// `main` in one pass over the row for the maximum and the sum (online softmax), for
// adapters where memory bounds it (src/gpu/profile.ts onlineSoftmax).
override ONLINE: bool = false;

const WG: u32 = 256u;
var<workgroup> sh: array<f32, WG>;
var<workgroup> sh2: array<f32, WG>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  let inRange = row < p.rows;
  let base = row * p.len;
  var m = bitcast<f32>(0xff800000u);
  var total: f32;
  if (ONLINE) {
    // One pass: a running maximum with the sum rescaled as it grows, then a tree that
    // merges (max, sum) pairs.
    var acc = 0.0;
    if (inRange) {
      for (var j = lid; j < p.len; j += WG) {
        let v = X[base + j];
        if (v > m) {
          acc = acc * exp(m - v);
          m = v;
        }
        if (m != bitcast<f32>(0xff800000u)) { acc += exp(v - m); }
      }
    }
    sh[lid] = m;
    sh2[lid] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
      if (lid < s) {
        let m1 = sh[lid];
        let m2 = sh[lid + s];
        let mm = max(m1, m2);
        var t = 0.0;
        if (sh2[lid] != 0.0) { t += sh2[lid] * exp(m1 - mm); }
        if (sh2[lid + s] != 0.0) { t += sh2[lid + s] * exp(m2 - mm); }
        sh[lid] = mm;
        sh2[lid] = t;
      }
      workgroupBarrier();
    }
    m = sh[0];
    total = sh2[0];
    // A row of -inf: exp(-inf + inf) = NaN, as the two-pass form gives.
    if (m == bitcast<f32>(0xff800000u)) { total = bitcast<f32>(0x7fc00000u); }
  } else {
    if (inRange) {
      for (var j = lid; j < p.len; j += WG) { m = max(m, X[base + j]); }
    }
    sh[lid] = m;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
      if (lid < s) { sh[lid] = max(sh[lid], sh[lid + s]); }
      workgroupBarrier();
    }
    m = sh[0];
    workgroupBarrier();
    var acc = 0.0;
    if (inRange) {
      for (var j = lid; j < p.len; j += WG) { acc += exp(X[base + j] - m); }
    }
    sh[lid] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
      if (lid < s) { sh[lid] = sh[lid] + sh[lid + s]; }
      workgroupBarrier();
    }
    total = sh[0];
  }
  if (!inRange) { return; }
  if (OP == 2u) {
    if (lid == 0u) { Y[row] = m + log(total); }
    return;
  }
  let lse = log(total);
  for (var j = lid; j < p.len; j += WG) {
    let x = X[base + j] - m;
    if (OP == 0u) { Y[base + j] = exp(x) / total; } else { Y[base + j] = x - lse; }
  }
}

// Many short rows (e.g. a classifier's [batch, classes]): one invocation per row, three
// serial passes, no workgroup memory or barriers. dispatch: ceil(rows / 64) workgroups.
@compute @workgroup_size(64)
fn main_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (row >= p.rows) { return; }
  let base = row * p.len;
  var m = bitcast<f32>(0xff800000u);
  for (var j = 0u; j < p.len; j++) { m = max(m, X[base + j]); }
  var total = 0.0;
  for (var j = 0u; j < p.len; j++) { total += exp(X[base + j] - m); }
  if (OP == 2u) {
    Y[row] = m + log(total);
    return;
  }
  let lse = log(total);
  for (var j = 0u; j < p.len; j++) {
    let x = X[base + j] - m;
    if (OP == 0u) { Y[base + j] = exp(x) / total; } else { Y[base + j] = x - lse; }
  }
}
