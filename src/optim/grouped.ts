/**
 * Grouped optimizer updates on the GPU (PyTorch's "foreach" updates): inside
 * {@link groupUpdates}, the fused update of each parameter is queued instead of
 * dispatched, and at the end of the scope updates that share one rule and one setting
 * (algorithm, learning rate, coefficients, Adam's step) go out four parameters per
 * dispatch through kernels/optim.wgsl `multi`. An SGD step of an MLP's four Params is
 * then one dispatch instead of four. Each element gets the very same arithmetic as the
 * one-parameter entry point, so the results are bitwise equal.
 *
 * Updates with gradient clipping (their norm is a temporary), on an adapter that cannot
 * bind 16 storage buffers per dispatch, or outside a scope are dispatched at once, as
 * before. The training loops (`Trainer.step`, `update` of arrays) open a scope.
 *
 * @module
 */

import { gpuRuntime, type StorageBinding } from "../gpu/runtime.ts";
import { grid2d, UniformWriter } from "../gpu/uniforms.ts";
import type { Tensor } from "../tensor/tensor.ts";

/** Parameters one `multi` dispatch updates. */
const SLOTS = 4;
/** Storage bindings `multi` needs: W, G, S1, S2 per slot. */
const MULTI_BINDINGS = 4 * SLOTS;

/** The scalars of one update (the uniform block of kernels/optim.wgsl after `n`). */
export interface UpdateCoefficients {
  lr: number;
  /** gamma (Momentum, Nesterov), rho (Rmsprop, Adadelta), beta1 (Adam). */
  a: number;
  /** 1 − a, computed on the host. */
  a1: number;
  /** beta2 (Adam). */
  b: number;
  /** 1 − b. */
  b1: number;
  eps: number;
  /** Adam's bias corrections 1 − beta1^t and 1 − beta2^t. */
  c1: number;
  c2: number;
  gclip: number;
}

/** One queued update: the ALGO constant, its coefficients and its tensors. */
export interface QueuedUpdate {
  algo: number;
  u: UpdateCoefficients;
  w: Tensor;
  g: Tensor;
  s1: Tensor | null;
  s2: Tensor | null;
}

let queue: QueuedUpdate[] | null = null;

/** The uniform block of kernels/optim.wgsl for n elements and the slot offsets. */
export function optimUniforms(
  n: number,
  u: UpdateCoefficients,
  offsets: readonly number[] = [0, 0, 0],
): ArrayBuffer {
  const wr = new UniformWriter().u32(n).f32(u.lr).f32(u.a).f32(u.a1).f32(u.b).f32(u.b1)
    .f32(u.eps).f32(u.c1).f32(u.c2).f32(u.gclip);
  for (const o of offsets) wr.u32(o);
  return wr.build();
}

/**
 * Runs `fn` with GPU updates queued, then dispatches them grouped (also when `fn` throws:
 * the updates made before the throw are kept, as Knet keeps them). Nested scopes join
 * the outer one.
 */
export function groupUpdates<T>(fn: () => T): T {
  if (queue !== null) return fn();
  queue = [];
  try {
    return fn();
  } finally {
    const q = queue;
    queue = null;
    flush(q);
  }
}

/**
 * Queues an update when a scope is open and the adapter can bind a group; false when the
 * caller must dispatch it itself.
 */
export function queueUpdate(step: QueuedUpdate): boolean {
  if (queue === null) return false;
  const limit = gpuRuntime().info.limits.maxStorageBuffersPerShaderStage ?? 0;
  if (limit < MULTI_BINDINGS) return false;
  // A parameter updated twice in one scope: its first update must land first.
  if (queue.some((q) => q.w === step.w)) {
    flush(queue);
    queue = [];
  }
  queue.push(step);
  return true;
}

function sameSetting(a: QueuedUpdate, b: QueuedUpdate): boolean {
  if (a.algo !== b.algo) return false;
  const ua = a.u as unknown as Record<string, number>;
  const ub = b.u as unknown as Record<string, number>;
  return Object.keys(ua).every((k) => Object.is(ua[k], ub[k]));
}

/** Dispatches the queued updates, grouped by setting, {@link SLOTS} per dispatch. */
function flush(q: QueuedUpdate[]): void {
  const left = [...q];
  while (left.length > 0) {
    const first = left[0];
    const group = left.filter((s) => sameSetting(s, first));
    for (let i = 0; i < group.length; i += SLOTS) dispatchMulti(group.slice(i, i + SLOTS));
    for (const s of group) left.splice(left.indexOf(s), 1);
  }
}

function dispatchMulti(slots: QueuedUpdate[]): void {
  const rt = gpuRuntime();
  const spares: GPUBuffer[] = [];
  const spare = () => {
    const b = rt.alloc(16);
    spares.push(b);
    return b;
  };
  const buffers: StorageBinding[] = [];
  const offsets: number[] = [];
  let n = 0;
  for (let k = 0; k < SLOTS; k++) {
    const s = slots[k];
    if (k > 0) offsets.push(n);
    if (!s) {
      buffers.push(spare(), rt.dummy, spare(), spare());
      continue;
    }
    n += s.w.size;
    buffers.push(
      s.w.binding("update"),
      s.g.binding("update"),
      s.s1 ? s.s1.binding("update") : spare(),
      s.s2 ? s.s2.binding("update") : spare(),
    );
  }
  rt.dispatch({
    kernel: "optim",
    entryPoint: "multi",
    constants: { ALGO: slots[0].algo, CLIP: false },
    uniforms: optimUniforms(n, slots[0].u, offsets),
    buffers: [null, null, null, null, null, ...buffers],
    workgroups: grid2d(Math.ceil(n / 256)),
  });
  for (const b of spares) rt.free(b);
}
