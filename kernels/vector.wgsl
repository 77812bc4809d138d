// In-place vector ops for solvers, on flat buffers of n elements:
//   OP 0 axpy:  Y = a*X + Y
//   OP 1 scal:  Y = a*Y          (X unused: bind any other buffer)
//   OP 2 fill:  Y = a            (X unused)
//   OP 3 axpby: Y = a*X + b*Y
// The coefficient a (and b) come from the uniform block, or, when A_ON_DEVICE, from
// the 1-element buffer Acoef (times p.a): a device-side scalar needs no host sync.
// dispatch: 2-D grid of 256-wide workgroups covering n elements.

struct Params { n: u32, a: f32, b: f32, _p: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Acoef: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

override OP: u32 = 0u;
override A_ON_DEVICE: bool = false;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.n) { return; }
  var a = p.a;
  if (A_ON_DEVICE) { a = a * Acoef[0]; }
  switch OP {
    case 0u: { Y[i] = a * X[i] + Y[i]; }
    case 1u: { Y[i] = a * Y[i]; }
    case 2u: { Y[i] = a; }
    default: { Y[i] = a * X[i] + p.b * Y[i]; }
  }
}
