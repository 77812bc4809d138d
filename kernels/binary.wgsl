// Elementwise binary ops with NumPy broadcasting: Y = op(A, B).
// Overrides: OP (codes in src/ops/elementwise.ts, BINARY_OPS) and MODE:
//   0: A and B have the output's shape (contiguous, no index math)
//   1: general broadcast through per-operand strides (0 on broadcast dims), rank <= 8
//   2: B is the scalar p.scalar (A has the output's shape)
//   3: A is the scalar p.scalar (B has the output's shape)
// Entry points: `main` (all modes, one element per invocation) and `main_vec4` (modes 0,
// 2 and 3, four elements per invocation through vec4 loads; touches up to ceil(n/4)*4
// elements, which the pool's 256-byte size classes always hold).
// dispatch: 2-D grid of 256-wide workgroups covering n (main) or ceil(n/4) (main_vec4).

struct Params {
  n: u32, rank: u32, scalar: f32, _p: u32,
  shape: array<vec4<u32>, 2>,
  aStrides: array<vec4<u32>, 2>,
  bStrides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(1) var<storage, read> A4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> B4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> Y4: array<vec4<f32>>;

override OP: u32 = 0u;
override MODE: u32 = 0u;

fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// Real power with the rules of IEEE/JS pow: negative bases need integer exponents (else
// NaN), odd integer exponents keep the base's sign (also of ±0 and ±Inf), NaN exponents
// give NaN and x^0 = 1. |b| >= 2^24 is always an even integer in f32.
fn pow_(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (is_nan(b)) { return b; }
  if (is_nan(a)) { return a; }
  let odd = floor(b) == b && abs(b) < 16777216.0 && fract(b * 0.5) != 0.0;
  if (a == 0.0) {
    if (b > 0.0) {
      return select(0.0, a, odd); // keeps -0 for odd exponents
    }
    // ±Inf: the sign of a zero base survives odd negative exponents (pow(-0, -1) = -Inf).
    let sgn = select(0u, bitcast<u32>(a) & 0x80000000u, odd);
    return bitcast<f32>(sgn | 0x7f800000u);
  }
  if (a < 0.0) {
    if (floor(b) != b) { return bitcast<f32>(0x7fc00000u); }
    let m = exp2(b * log2(-a));
    return select(m, -m, odd);
  }
  return exp2(b * log2(a));
}

fn op(a: f32, b: f32) -> f32 {
  switch OP {
    case 0u: { return a + b; }
    case 1u: { return a - b; }
    case 2u: { return a * b; }
    case 3u: { return a / b; }
    case 4u: { return pow_(a, b); }
    case 5u: { if (is_nan(a) || is_nan(b)) { return a + b; } return max(a, b); }
    case 6u: { if (is_nan(a) || is_nan(b)) { return a + b; } return min(a, b); }
    case 7u: { return select(0.0, 1.0, a == b); }
    // Written as !(a == b): some compilers lower `!=` to an ordered compare, false for NaN.
    case 8u: { return select(1.0, 0.0, a == b); }
    case 9u: { return select(0.0, 1.0, a < b); }
    case 10u: { return select(0.0, 1.0, a <= b); }
    case 11u: { return select(0.0, 1.0, a > b); }
    case 12u: { return select(0.0, 1.0, a >= b); }
    default: { return a; }
  }
}

fn dim(v: array<vec4<u32>, 2>, d: u32) -> u32 {
  return v[d / 4u][d % 4u];
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.n) { return; }
  switch MODE {
    case 0u: { Y[i] = op(A[i], B[i]); }
    case 2u: { Y[i] = op(A[i], p.scalar); }
    case 3u: { Y[i] = op(p.scalar, B[i]); }
    default: {
      var rest = i;
      var ia = 0u;
      var ib = 0u;
      for (var d = i32(p.rank) - 1; d >= 0; d--) {
        let ud = u32(d);
        let extent = dim(p.shape, ud);
        let idx = rest % extent;
        rest = rest / extent;
        ia += idx * dim(p.aStrides, ud);
        ib += idx * dim(p.bStrides, ud);
      }
      Y[i] = op(A[ia], B[ib]);
    }
  }
}

fn op4(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(op(a.x, b.x), op(a.y, b.y), op(a.z, b.z), op(a.w, b.w));
}

@compute @workgroup_size(256)
fn main_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= (p.n + 3u) / 4u) { return; }
  let s = vec4<f32>(p.scalar);
  switch MODE {
    case 2u: { Y4[i] = op4(A4[i], s); }
    case 3u: { Y4[i] = op4(s, B4[i]); }
    default: { Y4[i] = op4(A4[i], B4[i]); }
  }
}
