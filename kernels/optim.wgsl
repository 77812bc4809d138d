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
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> W: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> S1: array<f32>;
@group(0) @binding(4) var<storage, read_write> S2: array<f32>;
@group(0) @binding(5) var<storage, read> NRM: array<f32>;

override ALGO: u32 = 0u;
override CLIP: bool = false;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.n) { return; }
  var g = G[i];
  if (CLIP) {
    let nrm = NRM[0];
    if (nrm > p.gclip) { g = g * (p.gclip / nrm); }
  }
  switch ALGO {
    case 0u: {
      W[i] = W[i] - p.lr * g;
    }
    case 1u: {
      let v = p.a * S1[i] - p.lr * g;
      S1[i] = v;
      W[i] = W[i] + v;
    }
    case 2u: {
      let v0 = p.a * S1[i];
      let w0 = W[i] - v0;
      let v = v0 - p.lr * g;
      S1[i] = v;
      W[i] = w0 + (1.0 + p.a) * v;
    }
    case 3u: {
      let s = S1[i] + g * g;
      S1[i] = s;
      W[i] = W[i] - p.lr * (g / sqrt(s + p.eps));
    }
    case 4u: {
      let s = p.a * S1[i] + p.a1 * (g * g);
      S1[i] = s;
      W[i] = W[i] - p.lr * (g / sqrt(s + p.eps));
    }
    case 5u: {
      let s = p.a * S1[i] + p.a1 * (g * g);
      S1[i] = s;
      let u = g * sqrt(S2[i] + p.eps) / sqrt(s + p.eps);
      S2[i] = p.a * S2[i] + p.a1 * (u * u);
      W[i] = W[i] - p.lr * u;
    }
    case 6u: {
      let m = p.a * S1[i] + p.a1 * g;
      let v = p.b * S2[i] + p.b1 * (g * g);
      S1[i] = m;
      S2[i] = v;
      W[i] = W[i] - p.lr * ((m / p.c1) / (sqrt(v / p.c2) + p.eps));
    }
    default: {
      W[i] = g;
    }
  }
}
