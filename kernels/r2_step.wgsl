// One iteration of R2 / TR without momentum and with M = 1 (src/solvers/r2.ts, JSO's `fo`
// with β = 0), fused around the trial's objgrad: the solver's decisions are the same
// elementwise expressions as its generic path, in three dispatches instead of ~40 on
// one-element tensors.
//   trial  (vector): XT = (-mu) * D + X, mu = alpha (R2) or alpha / gn (TR, ‖d‖ = ‖∇f‖);
//                    CH[0] != 0 afterwards when some XT[i] != X[i].
//   decide (1 invocation): the ratio test on FT = f(xt) and GNT = ‖∇f(xt)‖, alpha's update,
//                    the recorded rho and step kind, f and ‖∇f‖ of the accepted iterate,
//                    the stopping flags, the iteration count and S[ACC]; resets CH.
//   accept (vector): X = XT and G = GT where S[ACC] != 0.
// S holds the solver's one-element state tensors, slot k at S[k * p.stride] (views of one
// flat buffer; the slot numbers below are R2Solver's scalar order).
// dispatch: trial and accept a 2-D grid of 256-wide workgroups over n; decide 1.

struct Params {
  n: u32, stride: u32, tr: u32, _p0: u32,
  eta1: f32, eta2: f32, gamma1m1: f32, gamma2m1: f32,
  alphaMax: f32, _p1: f32, _p2: f32, _p3: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> S: array<f32>;
@group(0) @binding(2) var<storage, read_write> X: array<f32>;
@group(0) @binding(3) var<storage, read> D: array<f32>;
@group(0) @binding(4) var<storage, read_write> XT: array<f32>;
@group(0) @binding(5) var<storage, read_write> G: array<f32>;
@group(0) @binding(6) var<storage, read> GT: array<f32>;
@group(0) @binding(7) var<storage, read> FT: array<f32>;
@group(0) @binding(8) var<storage, read> GNT: array<f32>;
@group(0) @binding(9) var<storage, read_write> CH: array<atomic<u32>>;

const F = 0u;
const GN = 1u;
const ALPHA = 2u;
const EPST = 3u;
const FMIN = 4u;
const DONE = 5u;
const ITER = 6u;
const RHOT = 11u;
const STEPT = 12u;
const OPTF = 15u;
const UNBF = 16u;
const SMALLF = 17u;
const ZEROF = 18u;
const ACC = 20u;

fn s(k: u32) -> f32 { return S[k * p.stride]; }
fn setS(k: u32, v: f32) { S[k * p.stride] = v; }

fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// binary.wgsl's maximum / minimum: NaN when either side is.
fn nanMax(a: f32, b: f32) -> f32 {
  if (is_nan(a) || is_nan(b)) { return a + b; }
  return max(a, b);
}
fn nanMin(a: f32, b: f32) -> f32 {
  if (is_nan(a) || is_nan(b)) { return a + b; }
  return min(a, b);
}
fn flag(c: bool) -> f32 { return select(0.0, 1.0, c); }

fn mu() -> f32 {
  if (p.tr == 1u) { return s(ALPHA) / s(GN); }
  return s(ALPHA);
}

@compute @workgroup_size(256)
fn trial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= p.n) { return; }
  let a = 1.0 * (mu() * -1.0);
  let x = X[i];
  let v = a * D[i] + x;
  XT[i] = v;
  // Written as !(v == x): some compilers lower `!=` to an ordered compare.
  if (!(v == x)) { atomicOr(&CH[0], 1u); }
}

@compute @workgroup_size(1)
fn decide() {
  let live = 1.0 - s(DONE);
  let m = mu();
  let changed = atomicLoad(&CH[0]);
  atomicStore(&CH[0], 0u);
  let underflow = live * flag(changed == 0u);
  let f = s(F);
  let gn = s(GN);
  let ft = FT[0];
  let rho = (f - ft) / ((f - f) + (gn * gn) * m);
  let acc = flag(rho >= p.eta1) * live;
  let very = flag(rho >= p.eta2) * live;
  let fail = live - acc;
  let factor = (very * p.gamma2m1 + fail * p.gamma1m1) + 1.0;
  let alpha = nanMin(s(ALPHA) * factor, p.alphaMax);
  setS(ALPHA, alpha);
  if (live != 0.0) {
    setS(RHOT, rho);
    setS(STEPT, acc + very);
  }
  var gnNew = gn;
  if (acc != 0.0) {
    setS(F, ft);
    gnNew = GNT[0];
    setS(GN, gnNew);
  }
  let unb = live * flag(ft < s(FMIN));
  let opt = live * flag(gnNew <= s(EPST));
  let zero = live * flag(alpha == 0.0);
  setS(UNBF, nanMax(s(UNBF), unb));
  setS(OPTF, nanMax(s(OPTF), opt));
  setS(SMALLF, nanMax(s(SMALLF), underflow));
  setS(ZEROF, nanMax(s(ZEROF), zero));
  setS(ITER, s(ITER) + live);
  setS(DONE, nanMax(nanMax(nanMax(s(DONE), opt), nanMax(unb, underflow)), zero));
  setS(ACC, acc);
}

@compute @workgroup_size(256)
fn accept(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= p.n || s(ACC) == 0.0) { return; }
  X[i] = XT[i];
  G[i] = GT[i];
}
