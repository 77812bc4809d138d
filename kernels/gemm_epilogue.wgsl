// The fused GEMM epilogue shared by kernels/gemm.wgsl, gemm_naive.wgsl and gemm_gpu.wgsl
// (src/gpu/kernels.ts appends this file to each; it is not a kernel of its own). EPI 1 adds
// BIAS[n] (one bias per column: Dense), 3 adds BIAS[m] (one per row: a convolution's
// channels), 2 and 4 also apply relu (NaN stays NaN, as unary.wgsl's relu).

@group(0) @binding(4) var<storage, read> BIAS: array<f32>; // EPI > 0 (else a dummy)
override EPI: u32 = 0u;

// The fused epilogue of the output element (m, n) (see EPI).
fn epilogue(v: f32, m: u32, n: u32) -> f32 {
  if (EPI == 0u) { return v; }
  let z = v + BIAS[select(n, m, EPI >= 3u)];
  if (EPI == 2u || EPI == 4u) { return select(z, 0.0, z <= 0.0); }
  return z;
}
