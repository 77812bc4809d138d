// Baseline row sum for benchmarks: one invocation per row, a serial loop, no sharing.
// dispatch: x = ceil(rows / 64).

struct Params { rows: u32, len: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= p.rows) { return; }
  var acc = 0.0;
  for (var j = 0u; j < p.len; j++) {
    acc += X[row * p.len + j];
  }
  Y[row] = acc;
}
