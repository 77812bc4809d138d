// Baseline row sum for benchmarks: one invocation per row, a serial loop, no sharing.
// Each dispatch sums the columns [p.jBegin, p.jEnd) of every row, a slice after the first
// adding onto Y; p.jEnd = 0 means the whole row in one dispatch. llvmpipe caps the loop
// iterations of one invocation (about 65 535) and silently cuts the loop short beyond, so
// a caller summing longer rows must slice them (at most ~16 384 columns per dispatch);
// one whole-row dispatch of a longer row reads only its first ~65 535 elements.
// dispatch: ceil(rows / 64) workgroups as a 2-D grid (see grid2d).

struct Params { rows: u32, len: u32, jBegin: u32, jEnd: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (row >= p.rows) { return; }
  let end = select(p.len, p.jEnd, p.jEnd > 0u);
  var acc = 0.0;
  if (p.jBegin > 0u) { acc = Y[row]; }
  for (var j = p.jBegin; j < end; j++) {
    acc += X[row * p.len + j];
  }
  Y[row] = acc;
}
