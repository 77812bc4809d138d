// dispatch: x = ceil(N / T), y = ceil(M / T), z = batch * SPLITS, with T = 16 * TB
//
// GEMM shaped for hardware GPUs (the profiles integrated/discrete; llvmpipe keeps gemm.wgsl):
//   C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b]   (the beta term only when USE_BETA)
// A is [M,K] row-major ([K,M] when TRANS_A), B is [K,N] ([N,K] when TRANS_B), C is [M,N];
// strideA/B/C are per-batch element strides (0 = broadcast that operand). Any M, N, K >= 1:
// loads outside the operands read 0, stores outside C are skipped.
//
// Tiling: a 16x16 workgroup (256 invocations) computes a T x T tile of C, T = 16 * TB; each
// invocation owns TB x TB outputs (TB = 4: 16 accumulators, 64x64 tiles for small training
// shapes; TB = 8: 64 accumulators, 128x128 tiles for large products), at most 64 f32
// accumulators, so NVIDIA (255 registers) and Apple (~128) keep them in registers. Its rows
// are ty*TB + r; its columns are j*64 + tx*4 + e (vec4 j, lane e), so the 16 invocations of
// a row read consecutive vec4s of the B tile (no bank conflicts) and broadcast the A tile.
// K is walked BK = 8 at a time; op(A) and op(B) slices are staged in workgroup memory
// k-major (As[k*T + m], Bs[k*T + n]), each invocation loading elements in the order that
// is contiguous in memory for the operand's layout (coalesced for either transpose).
//
// Split-K (SPLITS > 1, for products whose tiles alone do not fill the device): workgroup
// z = b * SPLITS + s sums k in its share of [kBegin, kEnd) and writes alpha * partial to
// C + s * splitStride (a scratch the driver then sums over s); USE_BETA must be false then.
//
// Bindings: 1 A, 2 B, 3 C, 4 BIAS. EPI > 0 requires SPLITS = 1.

// Fused epilogue (override EPI, Dense and Conv forward): 1 adds BIAS[n] (one bias per
// column, shared by the batch: Dense), 3 adds BIAS[m] (one per row: a convolution's
// channels), 2 and 4 also apply relu (NaN stays NaN, as unary.wgsl's relu). Only on the
// dispatch that writes the final values (the last K slice). BIAS (binding 4), EPI and
// `epilogue(v, m, n)` come from kernels/gemm_epilogue.wgsl, appended by src/gpu/kernels.ts.

struct Params { M: u32, N: u32, K: u32, batch: u32,
                strideA: u32, strideB: u32, strideC: u32, kBegin: u32,
                alpha: f32, beta: f32, kEnd: u32, splitStride: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override USE_BETA: bool = false;

override TB: u32 = 8u;      // outputs per invocation along each side: 4 or 8
override SPLITS: u32 = 1u;  // k splits (split-K)

const BK = 8u;
const TMAX = 128u;
var<workgroup> As: array<f32, 1024>; // BK * TMAX
var<workgroup> Bs: array<f32, 1024>;

fn loadA(base: u32, m: u32, k: u32, kEnd: u32) -> f32 {
  let i = select(base + m * p.K + k, base + k * p.M + m, TRANS_A);
  return select(0.0, A[i], m < p.M && k < kEnd);
}

fn loadB(base: u32, k: u32, n: u32, kEnd: u32) -> f32 {
  let i = select(base + k * p.N + n, base + n * p.K + k, TRANS_B);
  return select(0.0, B[i], k < kEnd && n < p.N);
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let T = 16u * TB;
  let b = wg.z / SPLITS;
  let split = wg.z % SPLITS;
  let aBase = b * p.strideA;
  let bBase = b * p.strideB;
  let row0 = wg.y * T;
  let col0 = wg.x * T;
  // This workgroup's k range (split-K: a share of [kBegin, kEnd) rounded to BK).
  let kLen = p.kEnd - p.kBegin;
  let share = ((kLen + SPLITS - 1u) / SPLITS + BK - 1u) / BK * BK;
  let kStart = p.kBegin + split * share;
  let kStop = min(p.kEnd, kStart + share);
  let vecs = TB / 4u; // vec4 column groups per invocation

  var acc: array<vec4<f32>, 16>;
  for (var i = 0u; i < 16u; i++) { acc[i] = vec4<f32>(0.0); }

  for (var k0 = kStart; k0 < kStop; k0 += BK) {
    // Stage BK x T of op(A) and op(B): element s of a slice, in memory order of the layout.
    for (var s = li; s < BK * T; s += 256u) {
      // op(A): contiguous along k when A is [M,K], along m when it is [K,M].
      var m: u32; var k: u32;
      if (TRANS_A) { m = s % T; k = s / T; } else { k = s % BK; m = s / BK; }
      As[k * T + m] = loadA(aBase, row0 + m, k0 + k, kStop);
      // op(B): contiguous along n when B is [K,N], along k when it is [N,K].
      var n: u32; var kb: u32;
      if (TRANS_B) { kb = s % BK; n = s / BK; } else { n = s % T; kb = s / T; }
      Bs[kb * T + n] = loadB(bBase, k0 + kb, col0 + n, kStop);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var bv: array<vec4<f32>, 2>;
      for (var j = 0u; j < vecs; j++) {
        let o = kk * T + j * 64u + lid.x * 4u;
        bv[j] = vec4<f32>(Bs[o], Bs[o + 1u], Bs[o + 2u], Bs[o + 3u]);
      }
      for (var r = 0u; r < TB; r++) {
        let a = vec4<f32>(As[kk * T + lid.y * TB + r]);
        for (var j = 0u; j < vecs; j++) {
          acc[r * vecs + j] = fma(a, bv[j], acc[r * vecs + j]);
        }
      }
    }
    workgroupBarrier();
  }

  let cBase = b * p.strideC + split * p.splitStride;
  for (var r = 0u; r < TB; r++) {
    let m = row0 + lid.y * TB + r;
    if (m >= p.M) { continue; }
    for (var j = 0u; j < vecs; j++) {
      let v = acc[r * vecs + j];
      for (var e = 0u; e < 4u; e++) {
        let n = col0 + j * 64u + lid.x * 4u + e;
        if (n < p.N) {
          let i = cBase + m * p.N + n;
          var out = p.alpha * v[e];
          if (USE_BETA) { out += p.beta * C[i]; }
          C[i] = epilogue(out, m, n);
        }
      }
    }
  }
}
