/**
 * Peer benchmark: TensorFlow.js (tfjs-core + tfjs-backend-webgpu 4.22.0) float32 matmul on WebGPU,
 * running inside Deno on the same adapter denet uses (`navigator.gpu.requestAdapter()`; on the
 * reference box that is the only adapter, Mesa llvmpipe).
 *
 * What tfjs needs in Deno (checked against 4.22.0, Deno 2.9.6):
 * - No polyfills. Deno resolves the packages' node builds (`main`), tfjs-core picks its Node
 *   platform (Deno provides `process` to npm code), and the WebGPU backend registers itself at
 *   import time iff `globalThis.navigator.gpu` exists — true in Deno. `window` is NOT probed.
 * - The backend factory requests its own adapter ("high-performance") and device, asking for every
 *   adapter limit it uses plus `timestamp-query` and, due to a tfjs bug, `["bgra8unorm-storage"]`
 *   (an array); Deno's WebIDL conversion stringifies it, so device creation still succeeds.
 * - It reads `adapter.info` (Deno has it; no `requestAdapterInfo()` needed).
 * - Importing the backend module must happen before `setBackend("webgpu")`; the import is dynamic
 *   here so that merely importing this file never touches the GPU or fails on GPU-less hosts.
 */

// deno-lint-ignore no-explicit-any
type Tf = any;

let tfPromise: Promise<Tf | null> | null = null;

/** Loads tfjs and switches it to the webgpu backend once; resolves to null when unavailable. */
function loadTf(): Promise<Tf | null> {
  if (tfPromise) return tfPromise;
  tfPromise = (async () => {
    const gpu = (globalThis.navigator as Navigator & { gpu?: GPU }).gpu;
    if (!gpu) return null;
    try {
      const tf = await import("@tensorflow/tfjs-core");
      await import("@tensorflow/tfjs-backend-webgpu");
      if (!(await tf.setBackend("webgpu"))) return null;
      await tf.ready();
      return tf.getBackend() === "webgpu" ? tf : null;
    } catch {
      return null;
    }
  })();
  return tfPromise;
}

/** True when tfjs' WebGPU backend initialises in this process. */
export async function tfjsWebgpuAvailable(): Promise<boolean> {
  return (await loadTf()) !== null;
}

/** Adapter description: the description of the adapter the host hands out (the one tfjs gets). */
async function adapterName(): Promise<string> {
  try {
    const a = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
    const info = a?.info;
    if (!info) return "unknown";
    return info.description || `${info.vendor} ${info.architecture} ${info.device}`.trim();
  } catch {
    return "unknown";
  }
}

/**
 * Times `iters` n x n float32 matmuls (C = A B, tf.matMul) on tfjs' WebGPU backend.
 *
 * Timing method, identical in spirit to how denet's own kernel is timed by the probe:
 * - Warm-up: 2 matmuls each read back (compiles/caches tfjs' shader for this shape and primes its
 *   buffer pool) before the clock starts.
 * - Timed region: enqueue `iters` matmuls back to back, disposing each result except the last right
 *   away (tfjs defers the actual buffer release until the GPU work is submitted, so this only lets
 *   it recycle output buffers, as a real model would), then ONE `await last.data()`. WebGPU queues
 *   execute in order, so the readback of the last result completes only after every earlier matmul
 *   finished. One readback per timed loop amortises the host round trip (~10 ms in Deno) instead
 *   of charging it to every iteration; the cost of that single n x n readback is included, as it is
 *   for denet's kernel in the probe.
 */
export async function tfjsWebgpuMatmul(
  n: number,
  iters: number,
): Promise<{ gflops: number; msPerIter: number; adapter: string }> {
  const tf = await loadTf();
  if (!tf) throw new Error("tfjs WebGPU backend is not available in this process");
  const adapter = await adapterName();
  const a = tf.randomUniform([n, n], -1, 1, "float32");
  const b = tf.randomUniform([n, n], -1, 1, "float32");
  try {
    for (let i = 0; i < 2; i++) {
      const w = tf.matMul(a, b);
      await w.data();
      w.dispose();
    }
    const count = Math.max(1, Math.floor(iters));
    const t0 = performance.now();
    let last = null;
    for (let i = 0; i < count; i++) {
      const c = tf.matMul(a, b);
      if (i < count - 1) c.dispose();
      else last = c;
    }
    await last.data();
    const msPerIter = (performance.now() - t0) / count;
    last.dispose();
    return { gflops: (2 * n * n * n) / (msPerIter * 1e6), msPerIter, adapter };
  } finally {
    a.dispose();
    b.dispose();
  }
}
