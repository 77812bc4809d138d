// Fused optimizer updates (Knet's update! rules, src/train20/update.jl), one thread per
// element of flat buffers of n elements. W is updated in place, G is read, S1/S2 hold the
// optimizer's state (unused ones are bound to spare buffers and never touched).
//   ALGO 0 SGD:      W -= lr*g
//   ALGO 1 Momentum: S1 = a*S1; S1 -= lr*g; W += S1                          (S1 velocity, a gamma)
//   ALGO 2 Nesterov: S1 = a*S1; W -= S1; S1 -= lr*g; W += (1+a)*S1           (S1 velocity, a gamma)
//   ALGO 3 Adagrad:  S1 += g*g; W -= lr*g/sqrt(S1+eps)                       (S1 G)
//   ALGO 4 Rmsprop:  S1 = a*S1 + a1*g*g; W -= lr*g/sqrt(S1+eps)              (S1 G, a rho)
//   ALGO 5 Adadelta: S1 = a*S1 + a1*g*g; u = g*sqrt(S2+eps)/sqrt(S1+eps);
//                    S2 = a*S2 + a1*u*u; W -= lr*u                           (S1 G, S2 delta)
//   ALGO 6 Adam:     S1 = a*S1 + a1*g; S2 = b*S2 + b1*g*g;
//                    W -= lr*(S1/c1)/(sqrt(S2/c2)+eps)                       (S1 fstm, S2 scndm)
//   ALGO 7 clip:     W = g (the clipped gradient; standalone gclip)
// a1 = 1-a and b1 = 1-b come from the host (f64 there); c1 = 1-beta1^t, c2 = 1-beta2^t.
// CLIP: g = G[i] scaled by gclip/norm when norm = NRM[0] (the device-side nrm2 of G)
// exceeds gclip, as Knet's gclip!, so no norm is read back to the host.
// dispatch: 2-D grid of 256-wide workgroups covering n elements.
// Entry point `multi` (no CLIP): up to four parameters of one optimizer setting in one
// dispatch (PyTorch's "foreach" updates): slot k holds Wk, Gk, Ak (S1), Bk (S2) and covers
// the elements [o_k, o_{k+1}) of the 2-D grid (o_0 = 0, o_4 = n); every binding is bound
// (spare buffers for empty slots and unused state, never indexed past their slot's range
// by a thread that matters: threads only touch their own slot).

struct Params {
  n: u32,
  lr: f32,
  a: f32,
  a1: f32,
  b: f32,
  b1: f32,
  eps: f32,
  c1: f32,
  c2: f32,
  gclip: f32,
  o1: u32,
  o2: u32,
  o3: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> W: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> S1: array<f32>;
@group(0) @binding(4) var<storage, read_write> S2: array<f32>;
@group(0) @binding(5) var<storage, read> NRM: array<f32>;
@group(0) @binding(6) var<storage, read_write> W0: array<f32>;
@group(0) @binding(7) var<storage, read> G0: array<f32>;
@group(0) @binding(8) var<storage, read_write> A0: array<f32>;
@group(0) @binding(9) var<storage, read_write> B0: array<f32>;
@group(0) @binding(10) var<storage, read_write> W1: array<f32>;
@group(0) @binding(11) var<storage, read> G1: array<f32>;
@group(0) @binding(12) var<storage, read_write> A1: array<f32>;
@group(0) @binding(13) var<storage, read_write> B1: array<f32>;
@group(0) @binding(14) var<storage, read_write> W2: array<f32>;
@group(0) @binding(15) var<storage, read> G2: array<f32>;
@group(0) @binding(16) var<storage, read_write> A2: array<f32>;
@group(0) @binding(17) var<storage, read_write> B2: array<f32>;
@group(0) @binding(18) var<storage, read_write> W3: array<f32>;
@group(0) @binding(19) var<storage, read> G3: array<f32>;
@group(0) @binding(20) var<storage, read_write> A3: array<f32>;
@group(0) @binding(21) var<storage, read_write> B3: array<f32>;

override ALGO: u32 = 0u;
override CLIP: bool = false;

// One element's step: the new (w, s1, s2) from the old ones and the gradient g.
fn rule(w: f32, g: f32, s1: f32, s2: f32) -> vec3<f32> {
  switch ALGO {
    case 0u: {
      return vec3<f32>(w - p.lr * g, s1, s2);
    }
    case 1u: {
      let v = p.a * s1 - p.lr * g;
      return vec3<f32>(w + v, v, s2);
    }
    case 2u: {
      let v0 = p.a * s1;
      let w0 = w - v0;
      let v = v0 - p.lr * g;
      return vec3<f32>(w0 + (1.0 + p.a) * v, v, s2);
    }
    case 3u: {
      let s = s1 + g * g;
      return vec3<f32>(w - p.lr * (g / sqrt(s + p.eps)), s, s2);
    }
    case 4u: {
      let s = p.a * s1 + p.a1 * (g * g);
      return vec3<f32>(w - p.lr * (g / sqrt(s + p.eps)), s, s2);
    }
    case 5u: {
      let s = p.a * s1 + p.a1 * (g * g);
      let u = g * sqrt(s2 + p.eps) / sqrt(s + p.eps);
      return vec3<f32>(w - p.lr * u, s, p.a * s2 + p.a1 * (u * u));
    }
    case 6u: {
      let m = p.a * s1 + p.a1 * g;
      let v = p.b * s2 + p.b1 * (g * g);
      return vec3<f32>(w - p.lr * ((m / p.c1) / (sqrt(v / p.c2) + p.eps)), m, v);
    }
    default: {
      return vec3<f32>(g, s1, s2);
    }
  }
}

// Whether the rule keeps a first / second state buffer.
fn hasS1() -> bool { return ALGO >= 1u && ALGO <= 6u; }
fn hasS2() -> bool { return ALGO == 5u || ALGO == 6u; }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= p.n) { return; }
  var g = G[i];
  if (CLIP) {
    let nrm = NRM[0];
    if (nrm > p.gclip) { g = g * (p.gclip / nrm); }
  }
  var s1 = 0.0;
  var s2 = 0.0;
  if (hasS1()) { s1 = S1[i]; }
  if (hasS2()) { s2 = S2[i]; }
  let r = rule(W[i], g, s1, s2);
  W[i] = r.x;
  if (hasS1()) { S1[i] = r.y; }
  if (hasS2()) { S2[i] = r.z; }
}

@compute @workgroup_size(256)
fn multi(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= p.n) { return; }
  var s1 = 0.0;
  var s2 = 0.0;
  if (i < p.o1) {
    if (hasS1()) { s1 = A0[i]; }
    if (hasS2()) { s2 = B0[i]; }
    let r = rule(W0[i], G0[i], s1, s2);
    W0[i] = r.x;
    if (hasS1()) { A0[i] = r.y; }
    if (hasS2()) { B0[i] = r.z; }
  } else if (i < p.o2) {
    let j = i - p.o1;
    if (hasS1()) { s1 = A1[j]; }
    if (hasS2()) { s2 = B1[j]; }
    let r = rule(W1[j], G1[j], s1, s2);
    W1[j] = r.x;
    if (hasS1()) { A1[j] = r.y; }
    if (hasS2()) { B1[j] = r.z; }
  } else if (i < p.o3) {
    let j = i - p.o2;
    if (hasS1()) { s1 = A2[j]; }
    if (hasS2()) { s2 = B2[j]; }
    let r = rule(W2[j], G2[j], s1, s2);
    W2[j] = r.x;
    if (hasS1()) { A2[j] = r.y; }
    if (hasS2()) { B2[j] = r.z; }
  } else {
    let j = i - p.o3;
    if (hasS1()) { s1 = A3[j]; }
    if (hasS2()) { s2 = B3[j]; }
    let r = rule(W3[j], G3[j], s1, s2);
    W3[j] = r.x;
    if (hasS1()) { A3[j] = r.y; }
    if (hasS2()) { B3[j] = r.z; }
  }
}
