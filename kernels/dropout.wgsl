// Inverted dropout with a counter-based mask (src/ops/dropout.ts; CPU twin dropoutCpu,
// the same hash in TypeScript):
//   Y[i] = keep(i) ? X[i] * p.scale : 0,   keep(i) = pcg(pcg(i) ^ p.key) >= p.threshold
// where pcg is the PCG-RXS-M-XS hash (a bijection on u32), key = pcg(seed) (computed on the
// host), threshold = floor(prob * 2^32) and scale = 1/(1 - prob): an element is kept with
// probability 1 - prob. The mask depends only on (seed, i), so the backward pass runs this
// same kernel on dy with the same seed (dx = dy * mask * scale) and no mask is stored.
// Entry points: `main` (one element per invocation) and `main_vec4` (four; the tail of
// the last vec4 lands in the buffer's padding: pooled buffers are multiples of 256 bytes).
// dispatch: 2-D grid of 256-wide workgroups covering n (main) or ceil(n/4) (main_vec4).

struct Params { n: u32, key: u32, threshold: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(1) var<storage, read> X4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> Y4: array<vec4<f32>>;

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn keep(i: u32) -> bool {
  return pcg(pcg(i) ^ p.key) >= p.threshold;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.n) { return; }
  Y[i] = select(0.0, X[i] * p.scale, keep(i));
}

@compute @workgroup_size(256)
fn main_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let q = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (q >= (p.n + 3u) / 4u) { return; }
  let i = q * 4u;
  let m = vec4<bool>(keep(i), keep(i + 1u), keep(i + 2u), keep(i + 3u));
  Y4[q] = select(vec4<f32>(0.0), X4[q] * p.scale, m);
}
