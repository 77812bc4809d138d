// Device-side input checks whose failures are reported at the next readback (no host
// sync of their own; src/gpu/runtime.ts reads E along with the next read and throws).
// Entry point `labels`: the class labels L[p.begin .. p.end) must each be negative (skip
// the instance) or an integer in [0, p.classes). One workgroup finds the first bad label
// of its range; if no earlier check failed (E[0] == 0), it records
// E = [1, p.code, index, bits of the label]. Dispatches run in order, so E keeps the
// first failure. Trip count per invocation: ceil((end - begin) / 256) + 1 (the caller
// slices ranges below llvmpipe's ~65 535-iteration cap).
// dispatch: 1 workgroup per range.

struct Params { begin: u32, end: u32, classes: u32, code: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> L: array<f32>;
@group(0) @binding(2) var<storage, read_write> E: array<u32>;

var<workgroup> first: atomic<u32>;

@compute @workgroup_size(256)
fn labels(@builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) { atomicStore(&first, 0xffffffffu); }
  workgroupBarrier();
  let c = f32(p.classes);
  for (var i = p.begin + lid; i < p.end; i += 256u) {
    let v = L[i];
    // NaN fails both tests.
    if (!(v < 0.0) && !(v < c && floor(v) == v)) {
      atomicMin(&first, i);
      break;
    }
  }
  workgroupBarrier();
  if (lid == 0u) {
    let f = atomicLoad(&first);
    if (f != 0xffffffffu && E[0] == 0u) {
      E[0] = 1u;
      E[1] = p.code;
      E[2] = f;
      E[3] = bitcast<u32>(L[f]);
    }
  }
}
