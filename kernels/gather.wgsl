// Gather along one axis and its gradient, a deterministic scatter-add (src/ops/indexing.ts,
// CPU twins takeCpu / scatterAddCpu). The source is viewed as [outer, n, inner] (n = the
// axis length) and the m indices IDX (f32 holding integers, 0-based) as a flat list:
//
//   main:        Y[o, j, i] = X[o, IDX[j], i]                Y is [outer, m, inner]
//                (X is the source tensor)
//   scatter_add: Y[o, k, i] = sum over j with IDX[j] == k of X[o, j, i], j ascending
//                (X is dy, [outer, m, inner]; Y is dx, [outer, n, inner])
//
// An index that is not an integer in [0, n) (negative, too large, fractional, NaN) reads
// as 0 in `main` and contributes nothing in `scatter_add`: no access is ever out of bounds.
// WGSL has no float atomics, so `scatter_add` gives each invocation one (o, i) column of
// Y and walks the indices j in [p.jBegin, p.jEnd) in order, adding onto Y (which the
// driver zeroes first). No two invocations write the same element, and the sum order is
// the CPU twin's, so results are reproducible (and bitwise equal to the CPU f32 twin).
// Trip count: jEnd - jBegin loop iterations per invocation. llvmpipe caps the loop
// iterations of one invocation (about 65 535, all loops together) and silently cuts the
// loop short beyond, so src/ops/indexing.ts covers the m indices in slices, one dispatch
// each (an Embedding's gradient with more than 65 535 indices needs several).
// dispatch: main: 2-D grid of 256-wide workgroups covering outer*m*inner elements;
//           scatter_add: 2-D grid of 64-wide workgroups covering outer*inner columns.

struct Params { outer: u32, n: u32, m: u32, inner: u32, jBegin: u32, jEnd: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> IDX: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

// Whether k is a valid index along an axis of length p.n.
fn valid(k: f32) -> bool {
  return k >= 0.0 && k < f32(p.n) && floor(k) == k && u32(k) < p.n;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let e = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (e >= p.outer * p.m * p.inner) { return; }
  let i = e % p.inner;
  let t = e / p.inner;
  let j = t % p.m;
  let o = t / p.m;
  let k = IDX[j];
  var v = 0.0;
  if (valid(k)) {
    v = X[(o * p.n + u32(k)) * p.inner + i];
  }
  Y[e] = v;
}

@compute @workgroup_size(64)
fn scatter_add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let c = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (c >= p.outer * p.inner) { return; }
  let i = c % p.inner;
  let o = c / p.inner;
  let yBase = o * p.n * p.inner + i;
  let xBase = o * p.m * p.inner + i;
  for (var j = p.jBegin; j < p.jEnd; j++) {
    let k = IDX[j];
    if (valid(k)) {
      let at = yBase + u32(k) * p.inner;
      Y[at] = Y[at] + X[xBase + j * p.inner];
    }
  }
}
