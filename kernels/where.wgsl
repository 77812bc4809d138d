// Elementwise select over n outputs: OUT[i] = C[i] != 0 ? A[i] : B[i], where each of C, A,
// B either has n elements or one (broadcast; its `*Len` is 1). A NaN condition counts as
// true (it is not 0). Only the chosen value is read, so a NaN or Inf in the other branch
// never reaches the output.
//
// Entry points:
//   main:   writes OUT from A and B.
//   assign: in place, OUT holds the other branch: OUT[i] = C[i] != 0 ? A[i] : OUT[i]
//           (with INVERT: C[i] != 0 ? OUT[i] : A[i]); B is not bound. For
//           `out ← c ? a : out` without a second binding of OUT (WebGPU forbids a buffer at
//           a read-only and a writable binding of one dispatch).
// Dispatch: ceil(n / 256) workgroups as a 2-D grid (see grid2d).
// Bindings: 1 C, 2 A, 3 B (main only), 4 OUT.

struct Params { n: u32, cLen: u32, aLen: u32, bLen: u32 }

override INVERT: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> C: array<f32>;
@group(0) @binding(2) var<storage, read> A: array<f32>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read_write> OUT: array<f32>;

fn at(len: u32, i: u32) -> u32 {
  return select(i, 0u, len == 1u);
}

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return (gid.y * nwg.x * 256u) + gid.x;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  if (C[at(p.cLen, i)] != 0.0) {
    OUT[i] = A[at(p.aLen, i)];
  } else {
    OUT[i] = B[at(p.bLen, i)];
  }
}

@compute @workgroup_size(256)
fn assign(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  if ((C[at(p.cLen, i)] != 0.0) != INVERT) {
    OUT[i] = A[at(p.aLen, i)];
  }
}
