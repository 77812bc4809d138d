// Strided copy: for every index tuple t over p.shape (rank <= 8),
//   Y[yOffset + sum_d t[d]*yStrides[d]] = X[xOffset + sum_d t[d]*xStrides[d]].
// Serves permute/transpose (permuted X strides), slicing (X offset and strides),
// concatenation (Y offset and strides), broadcastTo (X stride 0) and contiguous copies.
// dispatch: 2-D grid of 256-wide workgroups covering n = prod(shape) elements.

struct Params {
  n: u32, rank: u32, xOffset: u32, yOffset: u32,
  shape: array<vec4<u32>, 2>,
  xStrides: array<vec4<u32>, 2>,
  yStrides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

fn dim(v: array<vec4<u32>, 2>, d: u32) -> u32 {
  return v[d / 4u][d % 4u];
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.n) { return; }
  var rest = i;
  var ix = p.xOffset;
  var iy = p.yOffset;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let ud = u32(d);
    let extent = dim(p.shape, ud);
    let idx = rest % extent;
    rest = rest / extent;
    ix += idx * dim(p.xStrides, ud);
    iy += idx * dim(p.yStrides, ud);
  }
  Y[iy] = X[ix];
}
