// Elementwise unary ops: Y[i] = f(X[i]).
// Specialised by the override OP (codes in src/ops/elementwise.ts, UNARY_OPS).
// Entry points: `main` (one element per invocation) and `main_vec4` (four per invocation
// through vec4 loads; reads and writes up to ceil(n/4)*4 elements, which the pool's
// 256-byte size classes always hold).
// dispatch: 2-D grid of 256-wide workgroups covering n (main) or ceil(n/4) (main_vec4).

struct Params { n: u32, alpha: f32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(1) var<storage, read> X4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> Y4: array<vec4<f32>>;

override OP: u32 = 0u;

const SELU_LAMBDA: f32 = 1.0507009873554805;
const SELU_ALPHA: f32 = 1.6732632423543772;

fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// log(1 + x) accurate for small |x| (Kahan's trick).
fn log1p_(x: f32) -> f32 {
  let u = 1.0 + x;
  if (u == 1.0) { return x; }
  return log(u) * x / (u - 1.0);
}

// exp(x) - 1 accurate for small |x|.
fn expm1_(x: f32) -> f32 {
  if (abs(x) < 1e-5) { return x + 0.5 * x * x; }
  return exp(x) - 1.0;
}

fn tanh_(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}

fn sigm_(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}

fn f(x: f32) -> f32 {
  switch OP {
    case 0u: { return -x; }
    case 1u: { return abs(x); }
    case 2u: { return select(sign(x), x, is_nan(x)); } // sign(NaN) = NaN, as Julia
    case 3u: { return exp(x); }
    case 4u: { return log(x); }
    case 5u: { return log1p_(x); }
    case 6u: { return expm1_(x); }
    case 7u: { return sqrt(x); }
    case 8u: { return 1.0 / sqrt(x); }
    case 9u: { return x * x; }
    case 10u: { return tanh_(x); }
    case 11u: { return sigm_(x); }
    case 12u: { return select(x, 0.0, x <= 0.0); } // NaN stays NaN (WGSL max may drop it)
    case 13u: { return select(expm1_(x), x, x > 0.0); }
    case 14u: { return SELU_LAMBDA * select(SELU_ALPHA * expm1_(x), x, x > 0.0); }
    case 15u: { return select(x, 0.0, x <= 0.0) + log1p_(exp(-abs(x))); }
    case 16u: { return sin(x); }
    case 17u: { return cos(x); }
    case 18u: { return floor(x); }
    case 19u: { return ceil(x); }
    case 20u: { return round(x); }
    default: { return x; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i < p.n) {
    Y[i] = f(X[i]);
  }
}

@compute @workgroup_size(256)
fn main_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i < (p.n + 3u) / 4u) {
    let x = X4[i];
    Y4[i] = vec4<f32>(f(x.x), f(x.y), f(x.z), f(x.w));
  }
}
