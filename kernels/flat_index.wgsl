// Shared by the 256-thread elementwise-style kernels (appended by src/gpu/kernels.ts):
// the flat invocation index of a 2-D grid of 256-thread workgroups (see grid2d).
fn flatIndex(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}
