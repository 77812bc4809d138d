// Naive GEMM baseline: one invocation per output element, plain loop over K.
// dispatch: x = ceil(N / 16), y = ceil(M / 16), z = batch
// Same Params / bindings / overrides as kernels/gemm.wgsl so the two are interchangeable.
//   C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b]     (beta term only when USE_BETA)
// A is [M,K] ([K,M] when TRANS_A), B is [K,N] ([N,K] when TRANS_B), C is [M,N]; all row-major.
// Batch strides are in elements; a stride of 0 broadcasts that operand over the batch.

// Fused epilogue (override EPI, Dense and Conv forward): 1 adds BIAS[n] (one bias per
// column, shared by the batch: Dense), 3 adds BIAS[m] (one per row: a convolution's
// channels), 2 and 4 also apply relu (NaN stays NaN, as unary.wgsl's relu). Only on the
// dispatch that writes the final values (the last K slice). BIAS (binding 4), EPI and
// `epilogue(v, m, n)` come from kernels/gemm_epilogue.wgsl, appended by src/gpu/kernels.ts.

struct Params { M: u32, N: u32, K: u32, batch: u32,
                strideA: u32, strideB: u32, strideC: u32, kBegin: u32,
                alpha: f32, beta: f32, kEnd: u32, _pad2: u32 } // this dispatch sums k in [kBegin, kEnd)
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
override TRANS_A: bool = false;  // A stored as [K,M] when true, else [M,K]
override TRANS_B: bool = false;  // B stored as [N,K] when true, else [K,N]
override USE_BETA: bool = false; // when false C is write-only (never read)

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  let m = gid.y;
  let b = gid.z;
  if (m >= p.M || n >= p.N || b >= p.batch) {
    return;
  }
  let aBase = b * p.strideA;
  let bBase = b * p.strideB;
  // Element strides of op(A) along k and op(B) along k, resolved per specialisation.
  let aRow = select(aBase + m * p.K, aBase + m, TRANS_A);
  let aStep = select(1u, p.M, TRANS_A);
  let bCol = select(bBase + n, bBase + n * p.K, TRANS_B);
  let bStep = select(p.N, 1u, TRANS_B);
  var acc = 0.0;
  for (var k = p.kBegin; k < p.kEnd; k++) {
    acc = fma(A[aRow + k * aStep], B[bCol + k * bStep], acc);
  }
  let ci = b * p.strideC + m * p.N + n;
  var v = p.alpha * acc;
  if (USE_BETA) {
    v += p.beta * C[ci];
  }
  C[ci] = epilogue(v, m, n);
}
