// Gradients of the elementwise unary ops: DX[i] = g(DY[i], X[i], Y[i]) where Y = f(X).
// Specialised by the override OP (the same codes as unary.wgsl; CPU twins in
// src/ops/elementwise.ts, UNARY_GRADS). Ops whose gradient is zero (sign, floor, ceil,
// round) have no entry.
// Entry points: `main` and `main_vec4` (as in unary.wgsl).
// dispatch: 2-D grid of 256-wide workgroups covering n (main) or ceil(n/4) (main_vec4).

struct Params { n: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> DY: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read> Y: array<f32>;
@group(0) @binding(4) var<storage, read_write> DX: array<f32>;
@group(0) @binding(1) var<storage, read> DY4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> X4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> Y4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> DX4: array<vec4<f32>>;

override OP: u32 = 0u;

const SELU_LAMBDA: f32 = 1.0507009873554805;
const SELU_ALPHA: f32 = 1.6732632423543772;

fn sigm_(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}

fn g(dy: f32, x: f32, y: f32) -> f32 {
  switch OP {
    case 0u: { return -dy; }
    case 1u: { return dy * sign(x); }
    case 3u: { return dy * y; }
    case 4u: { return dy / x; }
    case 5u: { return dy / (1.0 + x); }
    case 6u: { return dy * (y + 1.0); }
    case 7u: { return dy * 0.5 / y; }
    case 8u: { return -0.5 * dy * y * y * y; }
    case 9u: { return 2.0 * dy * x; }
    case 10u: { return dy * (1.0 - y * y); }
    case 11u: { return dy * y * (1.0 - y); }
    case 12u: { return select(0.0, dy, x > 0.0); }
    case 13u: { return select(dy * (y + 1.0), dy, x > 0.0); }
    case 14u: { return select(dy * (y + SELU_LAMBDA * SELU_ALPHA), SELU_LAMBDA * dy, x > 0.0); }
    case 15u: { return dy * sigm_(x); }
    case 16u: { return dy * cos(x); }
    case 17u: { return -dy * sin(x); }
    default: { return 0.0; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i < p.n) {
    DX[i] = g(DY[i], X[i], Y[i]);
  }
}

@compute @workgroup_size(256)
fn main_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i < (p.n + 3u) / 4u) {
    let dy = DY4[i];
    let x = X4[i];
    let y = Y4[i];
    DX4[i] = vec4<f32>(g(dy.x, x.x, y.x), g(dy.y, x.y, y.y), g(dy.z, x.z, y.z), g(dy.w, x.w, y.w));
  }
}
