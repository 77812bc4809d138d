// dispatch: x = ceil(N / 128), y = ceil(M / 128), z = batch
//
// Register-blocked GEMM:  C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b]  (beta term only when USE_BETA)
//   A is [M,K] row-major ([K,M] when TRANS_A), B is [K,N] ([N,K] when TRANS_B), C is [M,N] row-major.
//   Batch b = workgroup_id.z; strideA/B/C are per-batch element strides (0 = broadcast that operand).
//   Any M, N, K >= 1: every global load and store is bounds checked (out-of-range loads read 0).
//
// Tiling: workgroup 8x8 = 64 invocations computes a 128x128 tile of C; each invocation owns a 16x16
// register block (64 vec4 accumulators). K is walked in steps of 8: the 128x8 slice of op(A) and the
// 8x128 slice of op(B) are staged in workgroup memory as vec4s (k-major), 2 x 4 KiB = 8 KiB.
//
// Why this shape (measured on Mesa 22.3 llvmpipe, the software Vulkan adapter; see
// bench/gemm_kernel_probe.ts): llvmpipe runs 8 invocations along local x as one SIMD vector, so the
// workgroup x size must be a multiple of 8; ALU work is vectorised, but every load/store with a
// per-invocation address is executed lane by lane (one branch per lane, one scalar access per
// component). Loads therefore dominate, and the kernel maximises FMAs per loaded element: a 16x16
// block needs 32 loaded floats (8 vec4 loads) per 256 FMAs per k step. Measured at 1024^2 in one
// process: 4x4/thread 64x64 tile ~5-6, 8x8/thread ~8-12, 16x16/thread 128x128 tile ~17-21 GFLOP/s;
// BK=8 beat BK=4/16; unrolling the k loop and array-indexed accumulators were slower (the latter
// ~3 GFLOP/s: dynamic indexing of a private array is scalarised).
// Accumulators are therefore spelled out as named variables (accR_J = row R, columns 4J..4J+3);
// only the epilogue moves them into an array, which keeps the JIT'd code small (cold llvmpipe
// compile ~1.1-1.4 s per specialisation instead of 1.6-4.3 s) at no measurable cost.

// Fused epilogue (override EPI, Dense and Conv forward): 1 adds BIAS[n] (one bias per
// column, shared by the batch: Dense), 3 adds BIAS[m] (one per row: a convolution's
// channels), 2 and 4 also apply relu (NaN stays NaN, as unary.wgsl's relu). Only on the
// dispatch that writes the final values (the last K slice). BIAS (binding 4), EPI and
// `epilogue(v, m, n)` come from kernels/gemm_epilogue.wgsl, appended by src/gpu/kernels.ts.

struct Params { M: u32, N: u32, K: u32, batch: u32,
                strideA: u32, strideB: u32, strideC: u32, kBegin: u32,   // batch strides in elements; 0 = broadcast
                alpha: f32, beta: f32, kEnd: u32, _pad2: u32 }        // this dispatch sums k in [kBegin, kEnd)
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
override TRANS_A: bool = false;  // A stored as [K,M] (row-major) when true, else [M,K]
override TRANS_B: bool = false;  // B stored as [N,K] when true, else [K,N]
override USE_BETA: bool = false; // when false C is write-only (never read), C = alpha*op(A)op(B)

const BM = 128u; // rows of C per workgroup
const BN = 128u; // columns of C per workgroup
const BK = 8u;   // k depth of one staged slice

// Staged slices, k-major: As[k * 32 + m / 4] holds op(A)[row0 + m .. +3][k0 + k]; Bs likewise for op(B).
var<workgroup> As: array<vec4<f32>, 256>; // BK * BM / 4
var<workgroup> Bs: array<vec4<f32>, 256>; // BK * BN / 4

// op(A)[m][k] of the current batch, 0 outside [M,K].
fn loadA(base: u32, m: u32, k: u32) -> f32 {
  let i = select(base + m * p.K + k, base + k * p.M + m, TRANS_A);
  return select(0.0, A[i], m < p.M && k < p.kEnd);
}

// op(B)[k][n] of the current batch, 0 outside [K,N].
fn loadB(base: u32, k: u32, n: u32) -> f32 {
  let i = select(base + k * p.N + n, base + n * p.K + k, TRANS_B);
  return select(0.0, B[i], k < p.kEnd && n < p.N);
}

// Writes 4 consecutive elements C[m][n..n+3] (those inside [M,N]).
fn store4(base: u32, m: u32, n: u32, acc: vec4<f32>) {
  if (m < p.M) {
    let row = base + m * p.N;
    for (var e = 0u; e < 4u; e++) {
      if (n + e < p.N) {
        var v = p.alpha * acc[e];
        if (USE_BETA) {
          v += p.beta * C[row + n + e];
        }
        C[row + n + e] = epilogue(v, m, n + e);
      }
    }
  }
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let aBase = wg.z * p.strideA;
  let bBase = wg.z * p.strideB;
  let cBase = wg.z * p.strideC;
  let row0 = wg.y * BM;
  let col0 = wg.x * BN;
  let ta = lid.y * 4u; // this invocation's first vec4 of a k-row of As (rows 16*lid.y ..)
  let tb = lid.x * 4u; // this invocation's first vec4 of a k-row of Bs (cols 16*lid.x ..)

  var acc0_0 = vec4<f32>(0.0); var acc0_1 = vec4<f32>(0.0); var acc0_2 = vec4<f32>(0.0); var acc0_3 = vec4<f32>(0.0);
  var acc1_0 = vec4<f32>(0.0); var acc1_1 = vec4<f32>(0.0); var acc1_2 = vec4<f32>(0.0); var acc1_3 = vec4<f32>(0.0);
  var acc2_0 = vec4<f32>(0.0); var acc2_1 = vec4<f32>(0.0); var acc2_2 = vec4<f32>(0.0); var acc2_3 = vec4<f32>(0.0);
  var acc3_0 = vec4<f32>(0.0); var acc3_1 = vec4<f32>(0.0); var acc3_2 = vec4<f32>(0.0); var acc3_3 = vec4<f32>(0.0);
  var acc4_0 = vec4<f32>(0.0); var acc4_1 = vec4<f32>(0.0); var acc4_2 = vec4<f32>(0.0); var acc4_3 = vec4<f32>(0.0);
  var acc5_0 = vec4<f32>(0.0); var acc5_1 = vec4<f32>(0.0); var acc5_2 = vec4<f32>(0.0); var acc5_3 = vec4<f32>(0.0);
  var acc6_0 = vec4<f32>(0.0); var acc6_1 = vec4<f32>(0.0); var acc6_2 = vec4<f32>(0.0); var acc6_3 = vec4<f32>(0.0);
  var acc7_0 = vec4<f32>(0.0); var acc7_1 = vec4<f32>(0.0); var acc7_2 = vec4<f32>(0.0); var acc7_3 = vec4<f32>(0.0);
  var acc8_0 = vec4<f32>(0.0); var acc8_1 = vec4<f32>(0.0); var acc8_2 = vec4<f32>(0.0); var acc8_3 = vec4<f32>(0.0);
  var acc9_0 = vec4<f32>(0.0); var acc9_1 = vec4<f32>(0.0); var acc9_2 = vec4<f32>(0.0); var acc9_3 = vec4<f32>(0.0);
  var acc10_0 = vec4<f32>(0.0); var acc10_1 = vec4<f32>(0.0); var acc10_2 = vec4<f32>(0.0); var acc10_3 = vec4<f32>(0.0);
  var acc11_0 = vec4<f32>(0.0); var acc11_1 = vec4<f32>(0.0); var acc11_2 = vec4<f32>(0.0); var acc11_3 = vec4<f32>(0.0);
  var acc12_0 = vec4<f32>(0.0); var acc12_1 = vec4<f32>(0.0); var acc12_2 = vec4<f32>(0.0); var acc12_3 = vec4<f32>(0.0);
  var acc13_0 = vec4<f32>(0.0); var acc13_1 = vec4<f32>(0.0); var acc13_2 = vec4<f32>(0.0); var acc13_3 = vec4<f32>(0.0);
  var acc14_0 = vec4<f32>(0.0); var acc14_1 = vec4<f32>(0.0); var acc14_2 = vec4<f32>(0.0); var acc14_3 = vec4<f32>(0.0);
  var acc15_0 = vec4<f32>(0.0); var acc15_1 = vec4<f32>(0.0); var acc15_2 = vec4<f32>(0.0); var acc15_3 = vec4<f32>(0.0);

  for (var k0 = p.kBegin; k0 < p.kEnd; k0 += BK) {
    // Stage the slices: 256 vec4 slots each, 4 per invocation; slot s -> k = s / 32, 4 rows/cols at 4 * (s % 32).
    for (var q = 0u; q < 4u; q++) {
      let s = li + q * 64u;
      let k = k0 + s / 32u;
      let m = row0 + (s % 32u) * 4u;
      As[s] = vec4<f32>(loadA(aBase, m, k), loadA(aBase, m + 1u, k), loadA(aBase, m + 2u, k), loadA(aBase, m + 3u, k));
      let n = col0 + (s % 32u) * 4u;
      Bs[s] = vec4<f32>(loadB(bBase, k, n), loadB(bBase, k, n + 1u), loadB(bBase, k, n + 2u), loadB(bBase, k, n + 3u));
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let ka = kk * 32u + ta;
      let kb = kk * 32u + tb;
      let a0 = As[ka]; let a1 = As[ka + 1u]; let a2 = As[ka + 2u]; let a3 = As[ka + 3u];
      let b0 = Bs[kb]; let b1 = Bs[kb + 1u]; let b2 = Bs[kb + 2u]; let b3 = Bs[kb + 3u];
      acc0_0 = fma(vec4<f32>(a0.x), b0, acc0_0); acc0_1 = fma(vec4<f32>(a0.x), b1, acc0_1); acc0_2 = fma(vec4<f32>(a0.x), b2, acc0_2); acc0_3 = fma(vec4<f32>(a0.x), b3, acc0_3);
      acc1_0 = fma(vec4<f32>(a0.y), b0, acc1_0); acc1_1 = fma(vec4<f32>(a0.y), b1, acc1_1); acc1_2 = fma(vec4<f32>(a0.y), b2, acc1_2); acc1_3 = fma(vec4<f32>(a0.y), b3, acc1_3);
      acc2_0 = fma(vec4<f32>(a0.z), b0, acc2_0); acc2_1 = fma(vec4<f32>(a0.z), b1, acc2_1); acc2_2 = fma(vec4<f32>(a0.z), b2, acc2_2); acc2_3 = fma(vec4<f32>(a0.z), b3, acc2_3);
      acc3_0 = fma(vec4<f32>(a0.w), b0, acc3_0); acc3_1 = fma(vec4<f32>(a0.w), b1, acc3_1); acc3_2 = fma(vec4<f32>(a0.w), b2, acc3_2); acc3_3 = fma(vec4<f32>(a0.w), b3, acc3_3);
      acc4_0 = fma(vec4<f32>(a1.x), b0, acc4_0); acc4_1 = fma(vec4<f32>(a1.x), b1, acc4_1); acc4_2 = fma(vec4<f32>(a1.x), b2, acc4_2); acc4_3 = fma(vec4<f32>(a1.x), b3, acc4_3);
      acc5_0 = fma(vec4<f32>(a1.y), b0, acc5_0); acc5_1 = fma(vec4<f32>(a1.y), b1, acc5_1); acc5_2 = fma(vec4<f32>(a1.y), b2, acc5_2); acc5_3 = fma(vec4<f32>(a1.y), b3, acc5_3);
      acc6_0 = fma(vec4<f32>(a1.z), b0, acc6_0); acc6_1 = fma(vec4<f32>(a1.z), b1, acc6_1); acc6_2 = fma(vec4<f32>(a1.z), b2, acc6_2); acc6_3 = fma(vec4<f32>(a1.z), b3, acc6_3);
      acc7_0 = fma(vec4<f32>(a1.w), b0, acc7_0); acc7_1 = fma(vec4<f32>(a1.w), b1, acc7_1); acc7_2 = fma(vec4<f32>(a1.w), b2, acc7_2); acc7_3 = fma(vec4<f32>(a1.w), b3, acc7_3);
      acc8_0 = fma(vec4<f32>(a2.x), b0, acc8_0); acc8_1 = fma(vec4<f32>(a2.x), b1, acc8_1); acc8_2 = fma(vec4<f32>(a2.x), b2, acc8_2); acc8_3 = fma(vec4<f32>(a2.x), b3, acc8_3);
      acc9_0 = fma(vec4<f32>(a2.y), b0, acc9_0); acc9_1 = fma(vec4<f32>(a2.y), b1, acc9_1); acc9_2 = fma(vec4<f32>(a2.y), b2, acc9_2); acc9_3 = fma(vec4<f32>(a2.y), b3, acc9_3);
      acc10_0 = fma(vec4<f32>(a2.z), b0, acc10_0); acc10_1 = fma(vec4<f32>(a2.z), b1, acc10_1); acc10_2 = fma(vec4<f32>(a2.z), b2, acc10_2); acc10_3 = fma(vec4<f32>(a2.z), b3, acc10_3);
      acc11_0 = fma(vec4<f32>(a2.w), b0, acc11_0); acc11_1 = fma(vec4<f32>(a2.w), b1, acc11_1); acc11_2 = fma(vec4<f32>(a2.w), b2, acc11_2); acc11_3 = fma(vec4<f32>(a2.w), b3, acc11_3);
      acc12_0 = fma(vec4<f32>(a3.x), b0, acc12_0); acc12_1 = fma(vec4<f32>(a3.x), b1, acc12_1); acc12_2 = fma(vec4<f32>(a3.x), b2, acc12_2); acc12_3 = fma(vec4<f32>(a3.x), b3, acc12_3);
      acc13_0 = fma(vec4<f32>(a3.y), b0, acc13_0); acc13_1 = fma(vec4<f32>(a3.y), b1, acc13_1); acc13_2 = fma(vec4<f32>(a3.y), b2, acc13_2); acc13_3 = fma(vec4<f32>(a3.y), b3, acc13_3);
      acc14_0 = fma(vec4<f32>(a3.z), b0, acc14_0); acc14_1 = fma(vec4<f32>(a3.z), b1, acc14_1); acc14_2 = fma(vec4<f32>(a3.z), b2, acc14_2); acc14_3 = fma(vec4<f32>(a3.z), b3, acc14_3);
      acc15_0 = fma(vec4<f32>(a3.w), b0, acc15_0); acc15_1 = fma(vec4<f32>(a3.w), b1, acc15_1); acc15_2 = fma(vec4<f32>(a3.w), b2, acc15_2); acc15_3 = fma(vec4<f32>(a3.w), b3, acc15_3);
    }
    workgroupBarrier();
  }

  // Epilogue: park the register block in a private array (constant-index writes) and store it
  // with one loop, so the bounds-checked store code is emitted once instead of 64 times.
  let m0 = row0 + lid.y * 16u;
  let n0 = col0 + lid.x * 16u;
  var blk = array<vec4<f32>, 64>(
    acc0_0, acc0_1, acc0_2, acc0_3,
    acc1_0, acc1_1, acc1_2, acc1_3,
    acc2_0, acc2_1, acc2_2, acc2_3,
    acc3_0, acc3_1, acc3_2, acc3_3,
    acc4_0, acc4_1, acc4_2, acc4_3,
    acc5_0, acc5_1, acc5_2, acc5_3,
    acc6_0, acc6_1, acc6_2, acc6_3,
    acc7_0, acc7_1, acc7_2, acc7_3,
    acc8_0, acc8_1, acc8_2, acc8_3,
    acc9_0, acc9_1, acc9_2, acc9_3,
    acc10_0, acc10_1, acc10_2, acc10_3,
    acc11_0, acc11_1, acc11_2, acc11_3,
    acc12_0, acc12_1, acc12_2, acc12_3,
    acc13_0, acc13_1, acc13_2, acc13_3,
    acc14_0, acc14_1, acc14_2, acc14_3,
    acc15_0, acc15_1, acc15_2, acc15_3);
  for (var r = 0u; r < 16u; r++) {
    for (var j = 0u; j < 4u; j++) {
      store4(cBase, m0 + r, n0 + j * 4u, blk[r * 4u + j]);
    }
  }
}
