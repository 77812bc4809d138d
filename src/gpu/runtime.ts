/**
 * The WebGPU runtime: one device, a buffer pool, a pipeline cache, command batching and
 * batched readback.
 *
 * - Many dispatches share one command encoder and one compute pass; a submit happens on
 *   readback, on {@link GpuRuntime.sync}, or when {@link GpuRuntime.maxDispatchesPerSubmit}
 *   is reached.
 * - Each dispatch's parameters (shapes, strides, scalars) go into a uniform arena: one
 *   host-side staging block per batch, written to the GPU with one `writeBuffer` per
 *   chunk just before the submit, so one pipeline serves every shape.
 * - {@link GpuRuntime.read} fetches many buffers with exactly one host sync.
 * - Validation errors are captured with the kernel's name and thrown at the next sync
 *   point; device loss makes every later call throw until {@link initGpu} runs again.
 *
 * @module
 */

import { liveCounters } from "./counters.ts";
import { acquireDevice, type GpuInfo } from "./device.ts";
import { BufferPool } from "./pool.ts";
import { type KernelName, kernelSource } from "./kernels.ts";
import { selectProfile } from "./profile.ts";

/**
 * What a dispatch binds at one storage binding: a whole buffer, or a byte range of one
 * (a tensor view, see `GpuStorage.view`; offsets are multiples of
 * `minStorageBufferOffsetAlignment`).
 */
export type StorageBinding = GPUBuffer | GPUBufferBinding;

/** How a kernel's group-0 bindings are declared: the storage ones writable or read-only. */
interface BindingKinds {
  /** Storage bindings declared `var<storage, read_write>`. */
  writable: Set<number>;
  /** Storage bindings declared `var<storage, read>` (or `var<storage>`). */
  readOnly: Set<number>;
}

/** Binding kinds per kernel, parsed once from the WGSL source. */
const kindsCache = new Map<string, BindingKinds>();

/** The storage bindings `kernel`'s source declares, by access mode (cached). */
function bindingKinds(kernel: KernelName): BindingKinds {
  let kinds = kindsCache.get(kernel);
  if (!kinds) {
    kinds = { writable: new Set(), readOnly: new Set() };
    const re = /@binding\((\d+)\)\s*var\s*<\s*storage\s*(?:,\s*(read_write|read)\s*)?>/g;
    for (const m of kernelSource(kernel).matchAll(re)) {
      (m[2] === "read_write" ? kinds.writable : kinds.readOnly).add(Number(m[1]));
    }
    kindsCache.set(kernel, kinds);
  }
  return kinds;
}

/** The storage bindings `kernel`'s source declares writable (`read_write`). */
function writableBindings(kernel: KernelName): Set<number> {
  return bindingKinds(kernel).writable;
}

function bindingRange(b: StorageBinding): { buffer: GPUBuffer; offset: number; size: number } {
  if (b instanceof GPUBuffer) return { buffer: b, offset: 0, size: b.size };
  const offset = b.offset ?? 0;
  return { buffer: b.buffer, offset, size: b.size ?? b.buffer.size - offset };
}

/** Override constants that specialise a kernel (compiled once per distinct set). */
export type KernelConstants = Record<string, number | boolean>;

/** One compute dispatch. Binding 0 is the uniform block; `buffers` are bindings 1..n. */
export interface DispatchSpec {
  /** Kernel file name under kernels/ (without `.wgsl`). */
  kernel: KernelName;
  /** Entry point; default `main`. */
  entryPoint?: string;
  /** Override constants. */
  constants?: KernelConstants;
  /** Raw bytes of the kernel's uniform `Params` struct (at most 256 bytes). */
  uniforms: ArrayBuffer;
  /**
   * Storage buffers (or byte ranges of buffers) bound at bindings 1, 2, ... in order
   * (null: the entry point does not use it).
   */
  buffers: (GPUBuffer | GPUBufferBinding | null)[];
  /** Workgroup counts; y and z default to 1. */
  workgroups: readonly [number, number?, number?];
}

const UNIFORM_SLOT = 256;
const UNIFORM_CHUNK = 64 * 1024;

/** A compiled pipeline and its bind group layout. */
export interface CachedPipeline {
  /** The compute pipeline. */
  pipeline: GPUComputePipeline;
  /**
   * Its explicit group-0 layout: binding 0 the uniform block at a dynamic offset, then the
   * storage bindings it was made for (read-only or writable as the WGSL declares them).
   */
  layout: GPUBindGroupLayout;
  /** A number unique to this pipeline, for bind-group cache keys. */
  id: number;
}

/** Bind groups kept before the cache is emptied (buffers that come and go stop mattering). */
const BIND_GROUP_CACHE_MAX = 4096;

/** The bit of storage binding `b` in a binding mask. */
const bit = (b: number) => 2 ** b;

/** The device runtime. Get the current one with {@link gpuRuntime}. */
export class GpuRuntime {
  /** The WebGPU device. */
  readonly device: GPUDevice;
  /** Adapter description, features and limits. */
  readonly info: GpuInfo;
  /** Storage buffers for tensors (STORAGE | COPY_SRC | COPY_DST). */
  readonly storage: BufferPool;
  readonly #staging: BufferPool;
  readonly #uniformChunks: GPUBuffer[] = [];
  readonly #modules = new Map<string, GPUShaderModule>();
  readonly #pipelines = new Map<string, CachedPipeline>();
  readonly #layouts = new Map<string, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>();
  readonly #bindGroups = new Map<string, GPUBindGroup>();
  readonly #bufferIds = new WeakMap<GPUBuffer, number>();
  #nextBufferId = 0;
  readonly #dynamicOffset = new Uint32Array(1);
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #pending = 0;
  #uniformHost = new Uint8Array(UNIFORM_CHUNK);
  #uniformUsed = 0; // bytes used in the current chunk
  #uniformChunk = 0; // index of the current chunk
  #batchKernels = new Set<string>();
  /** Kernels of the batches submitted since the last sync (errors arrive asynchronously). */
  #submittedKernels = new Set<string>();
  #errors: string[] = [];
  #lost: string | null = null;
  /** A small read-only buffer bound where a kernel's input binding is unused. */
  readonly dummy: GPUBuffer;
  /** A small writable buffer bound where a kernel's output binding is unused. */
  readonly sink: GPUBuffer;
  /** Submit automatically once this many dispatches are pending. */
  maxDispatchesPerSubmit = 256;
  /** The device checks' error record (kernels/check.wgsl): [failed, code, index, value]. */
  readonly #checkRecord: GPUBuffer;
  /** Message makers of the checks armed since the last readback, by code. */
  #checks: ((index: number, value: number) => string)[] = [];
  #checkCodes = new Map<string, number>();

  /** Wraps an acquired device; use {@link initGpu} rather than calling this. */
  constructor(device: GPUDevice, info: GpuInfo) {
    this.device = device;
    this.info = info;
    this.storage = new BufferPool(
      device,
      GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      "denet tensor",
    );
    this.#staging = new BufferPool(
      device,
      GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      "denet readback",
      { counted: false, maxFreeBytes: 64 * 1024 * 1024 },
    );
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
    this.dummy = device.createBuffer({ size: 256, usage, label: "denet dummy input" });
    this.sink = device.createBuffer({ size: 256, usage, label: "denet dummy output" });
    this.#checkRecord = device.createBuffer({
      size: 16,
      usage: usage | GPUBufferUsage.COPY_SRC,
      label: "denet device checks",
    });
    device.addEventListener("uncapturederror", (ev) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      const kernels = [...this.#batchKernels, ...this.#submittedKernels].join(", ") || "none";
      this.#errors.push(`${err.message} (in a batch running kernels: ${kernels})`);
    });
  }

  /** Marks the runtime lost; every later call throws `reason`. */
  markLost(reason: string): void {
    this.#lost = reason;
  }

  /** Whether the device was lost. */
  get lost(): boolean {
    return this.#lost !== null;
  }

  /** Throws when the device was lost. */
  assertAlive(): void {
    if (this.#lost !== null) {
      throw new Error(
        `denet gpu: the GPU device was lost (${this.#lost}); call \`await init()\` to ` +
          "re-initialise (tensors on the old device are gone)",
      );
    }
  }

  /** Dispatches pending in the current (unsubmitted) batch. */
  get pendingDispatches(): number {
    return this.#pending;
  }

  /**
   * A storage buffer of at least `bytes` bytes, from the pool. Pass `forUpload` when the
   * host will write it with {@link upload} (such buffers must not be read by pending work).
   */
  alloc(bytes: number, forUpload = false): GPUBuffer {
    this.assertAlive();
    const max = this.info.limits.maxStorageBufferBindingSize;
    if (bytes > max) {
      throw new Error(
        `denet gpu: a tensor of ${bytes} bytes exceeds the adapter's storage binding limit of ${max} bytes`,
      );
    }
    return this.storage.acquire(bytes, forUpload);
  }

  /** Returns a storage buffer to the pool (reusable after the next submit). */
  free(buffer: GPUBuffer): void {
    if (this.#lost !== null) return;
    this.storage.release(buffer);
  }

  /** Writes host data into a buffer (at `offsetBytes`, a multiple of 4). */
  upload(buffer: GPUBuffer, data: Float32Array, offsetBytes = 0): void {
    this.assertAlive();
    // a view of a SharedArrayBuffer (the CPU backend's heap) goes as the view itself:
    // writeBuffer takes only a plain ArrayBuffer as a whole buffer argument
    if (data.buffer instanceof SharedArrayBuffer) {
      this.device.queue.writeBuffer(buffer, offsetBytes, data as Float32Array<ArrayBuffer>);
    } else {
      this.device.queue.writeBuffer(
        buffer,
        offsetBytes,
        data.buffer as ArrayBuffer,
        data.byteOffset,
        data.byteLength,
      );
    }
    liveCounters.uploadBytes += data.byteLength;
  }

  #module(kernel: KernelName): GPUShaderModule {
    let m = this.#modules.get(kernel);
    if (!m) {
      m = this.device.createShaderModule({ code: kernelSource(kernel), label: kernel });
      this.#modules.set(kernel, m);
    }
    return m;
  }

  /**
   * The compiled pipeline for a kernel specialisation (cached), with an explicit layout
   * over the storage bindings in `mask` (bit b set: binding b is bound; default: every
   * storage binding the source declares). An entry point must be given every binding it
   * uses; a binding in the mask that it does not use is allowed.
   */
  pipeline(
    kernel: KernelName,
    constants: KernelConstants = {},
    entryPoint = "main",
    mask?: number,
  ): CachedPipeline {
    const kinds = bindingKinds(kernel);
    if (mask === undefined) {
      mask = 0;
      for (const b of [...kinds.writable, ...kinds.readOnly]) mask += bit(b);
    }
    let key = `${kernel}:${entryPoint}:${mask}:`;
    for (const k of Object.keys(constants).sort()) key += `${k}=${constants[k]},`;
    let cached = this.#pipelines.get(key);
    if (cached) return cached;
    const c: Record<string, number> = {};
    for (const k of Object.keys(constants)) c[k] = Number(constants[k]);
    const layouts = this.#layoutsFor(kernel, kinds, mask);
    this.device.pushErrorScope("validation");
    const pipeline = this.device.createComputePipeline({
      label: key,
      layout: layouts.pipeline,
      compute: { module: this.#module(kernel), entryPoint, constants: c },
    });
    this.device.popErrorScope().then((err) => {
      if (err) this.#errors.push(`kernel ${key}: ${err.message}`);
    });
    cached = { pipeline, layout: layouts.group, id: this.#pipelines.size };
    this.#pipelines.set(key, cached);
    liveCounters.pipelinesCompiled++;
    return cached;
  }

  /** The explicit layouts of `kernel` over the storage bindings in `mask` (cached). */
  #layoutsFor(
    kernel: KernelName,
    kinds: BindingKinds,
    mask: number,
  ): { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout } {
    const key = `${kernel}:${mask}`;
    let l = this.#layouts.get(key);
    if (l) return l;
    const entries: GPUBindGroupLayoutEntry[] = [{
      binding: 0,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: "uniform", hasDynamicOffset: true },
    }];
    for (let b = 1; bit(b) <= mask; b++) {
      if ((Math.floor(mask / bit(b)) & 1) === 0) continue;
      if (!kinds.writable.has(b) && !kinds.readOnly.has(b)) {
        throw new Error(`denet gpu: kernel ${kernel} declares no storage binding ${b}`);
      }
      entries.push({
        binding: b,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: kinds.writable.has(b) ? "storage" : "read-only-storage" },
      });
    }
    const group = this.device.createBindGroupLayout({ entries, label: key });
    l = { group, pipeline: this.device.createPipelineLayout({ bindGroupLayouts: [group] }) };
    this.#layouts.set(key, l);
    return l;
  }

  /** A small number naming `buffer` in bind-group cache keys. */
  #bufferId(buffer: GPUBuffer): number {
    let id = this.#bufferIds.get(buffer);
    if (id === undefined) {
      id = this.#nextBufferId++;
      this.#bufferIds.set(buffer, id);
    }
    return id;
  }

  /**
   * The bind group of `p` with uniform chunk `chunk` at binding 0 and `buffers` at 1..n,
   * cached by the buffers' identity (the pool hands the same buffers back in steady state,
   * so a training loop creates bind groups only in its first steps).
   */
  #bindGroup(
    p: CachedPipeline,
    chunk: number,
    buffers: readonly (StorageBinding | null)[],
    kernel: string,
  ): GPUBindGroup {
    let key = `${p.id}|${chunk}`;
    for (const b of buffers) {
      if (b === null) key += "|-";
      else if (b instanceof GPUBuffer) key += `|${this.#bufferId(b)}`;
      else key += `|${this.#bufferId(b.buffer)}@${b.offset ?? 0}+${b.size ?? "*"}`;
    }
    let bg = this.#bindGroups.get(key);
    if (bg) return bg;
    const entries: GPUBindGroupEntry[] = [{
      binding: 0,
      resource: { buffer: this.#uniformChunks[chunk], offset: 0, size: UNIFORM_SLOT },
    }];
    buffers.forEach((b, i) => {
      if (b) entries.push({ binding: i + 1, resource: b instanceof GPUBuffer ? { buffer: b } : b });
    });
    bg = this.device.createBindGroup({ layout: p.layout, entries, label: kernel });
    if (this.#bindGroups.size >= BIND_GROUP_CACHE_MAX) this.#bindGroups.clear();
    this.#bindGroups.set(key, bg);
    liveCounters.bindGroupsCreated++;
    return bg;
  }

  #ensurePass(): GPUComputePassEncoder {
    if (!this.#encoder) this.#encoder = this.device.createCommandEncoder();
    if (!this.#pass) this.#pass = this.#encoder.beginComputePass();
    return this.#pass;
  }

  #endPass(): GPUCommandEncoder {
    if (!this.#encoder) this.#encoder = this.device.createCommandEncoder();
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
    return this.#encoder;
  }

  #uniformSlot(bytes: ArrayBuffer): { chunk: number; offset: number } {
    if (bytes.byteLength > UNIFORM_SLOT) {
      throw new Error(
        `denet gpu: uniform block of ${bytes.byteLength} bytes exceeds ${UNIFORM_SLOT}`,
      );
    }
    if (this.#uniformUsed + UNIFORM_SLOT > UNIFORM_CHUNK) {
      this.#writeUniformChunk();
      this.#uniformChunk++;
      this.#uniformUsed = 0;
    }
    while (this.#uniformChunks.length <= this.#uniformChunk) {
      this.#uniformChunks.push(this.device.createBuffer({
        size: UNIFORM_CHUNK,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        label: "denet uniforms",
      }));
    }
    const offset = this.#uniformUsed;
    this.#uniformHost.set(new Uint8Array(bytes), offset);
    this.#uniformUsed += UNIFORM_SLOT;
    return { chunk: this.#uniformChunk, offset };
  }

  #writeUniformChunk(): void {
    if (this.#uniformUsed === 0) return;
    this.device.queue.writeBuffer(
      this.#uniformChunks[this.#uniformChunk],
      0,
      this.#uniformHost.buffer,
      0,
      this.#uniformUsed,
    );
  }

  /** Encodes one compute dispatch into the current batch. */
  dispatch(spec: DispatchSpec): void {
    this.assertAlive();
    const [x, y = 1, z = 1] = spec.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxDim = this.info.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxDim || y > maxDim || z > maxDim) {
      throw new Error(
        `denet gpu: kernel ${spec.kernel} dispatch [${x},${y},${z}] exceeds ${maxDim} workgroups per dimension`,
      );
    }
    let mask = 0;
    let views = false;
    const bs = spec.buffers;
    for (let i = 0; i < bs.length; i++) {
      const b = bs[i];
      if (b === null) continue;
      mask += bit(i + 1);
      if (!(b instanceof GPUBuffer)) views = true;
    }
    const p = this.pipeline(spec.kernel, spec.constants, spec.entryPoint, mask);
    // Only views of a shared buffer can alias legitimately (see #resolveAliasing).
    const buffers = views ? this.#resolveAliasing(spec) : bs;
    const u = this.#uniformSlot(spec.uniforms);
    const bindGroup = this.#bindGroup(p, u.chunk, buffers, spec.kernel);
    const pass = this.#ensurePass();
    pass.setPipeline(p.pipeline);
    this.#dynamicOffset[0] = u.offset;
    pass.setBindGroup(0, bindGroup, this.#dynamicOffset, 0, 1);
    pass.dispatchWorkgroups(x, y, z);
    this.#batchKernels.add(spec.kernel);
    this.#pending++;
    liveCounters.dispatches++;
    if (this.#pending >= this.maxDispatchesPerSubmit) this.flush();
  }

  /**
   * WebGPU tracks usage per buffer, not per range: within one dispatch a buffer bound as
   * writable storage may not be bound at any other read-only binding, even a disjoint
   * range (wgpu: "STORAGE_READ_WRITE is an exclusive usage"; gpuweb #547, #769), and two
   * writable bindings of one buffer must not overlap (gpuweb #1842). Views of one flat
   * buffer make the first case reachable (an in-place op writing one parameter while
   * reading another): such read-only bindings are replaced by a copy of their range in a
   * scratch buffer, encoded before the dispatch. Overlapping writable bindings throw.
   * A buffer bound whole at two bindings (one tensor as input and output of an op) is
   * not touched: WebGPU reports it at the next sync.
   */
  #resolveAliasing(spec: DispatchSpec): (StorageBinding | null)[] {
    const bs = spec.buffers;
    if (bs.length < 2) return bs;
    let out: (StorageBinding | null)[] | null = null;
    const writable = writableBindings(spec.kernel);
    for (let w = 0; w < bs.length; w++) {
      const bw = bs[w];
      if (!bw || !writable.has(w + 1)) continue;
      const rw = bindingRange(bw);
      for (let j = 0; j < bs.length; j++) {
        const bj = bs[j];
        if (j === w || !bj) continue;
        const rj = bindingRange(bj);
        // One buffer bound whole twice is one tensor as input and output: a caller's bug,
        // left to WebGPU's validation error. Only views (ranges) alias legitimately.
        if (rj.buffer !== rw.buffer || (bw instanceof GPUBuffer && bj instanceof GPUBuffer)) {
          continue;
        }
        if (writable.has(j + 1)) {
          if (rj.offset < rw.offset + rw.size && rw.offset < rj.offset + rj.size) {
            throw new Error(
              `denet gpu: kernel ${spec.kernel} binds one buffer at writable bindings ` +
                `${w + 1} and ${j + 1} with overlapping ranges`,
            );
          }
          continue;
        }
        out ??= [...bs];
        const scratch = this.alloc(rj.size);
        this.copy(rj.buffer, rj.offset, scratch, 0, rj.size);
        this.free(scratch);
        out[j] = { buffer: scratch, offset: 0, size: rj.size };
      }
    }
    return out ?? bs;
  }

  /**
   * Encodes a buffer-to-buffer copy into the current batch. A copy within one buffer
   * (two views of a flat buffer; WebGPU rejects source = destination) goes through a
   * scratch buffer.
   */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.assertAlive();
    if (bytes === 0) return;
    if (src === dst) {
      if (srcOffset === dstOffset) return;
      const scratch = this.alloc(bytes);
      this.copy(src, srcOffset, scratch, 0, bytes);
      this.copy(scratch, 0, dst, dstOffset, bytes);
      this.free(scratch);
      return;
    }
    this.#endPass().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.#pending++;
  }

  /** Encodes zeroing `bytes` bytes of `buffer` at `offset` (multiples of 4; no kernel). */
  clear(buffer: GPUBuffer, offset: number, bytes: number): void {
    this.assertAlive();
    if (bytes === 0) return;
    this.#endPass().clearBuffer(buffer, offset, bytes);
    this.#pending++;
  }

  /**
   * Arms a device-side check (kernels/check.wgsl) and returns its error record buffer
   * and code: the next {@link read} (or {@link sync}) also reads the record and throws
   * `message(index, value)` of the first check that failed since the last readback.
   * `key` identifies the message (one code per distinct key between readbacks).
   */
  armCheck(
    key: string,
    message: (index: number, value: number) => string,
  ): { record: GPUBuffer; code: number } {
    this.assertAlive();
    let code = this.#checkCodes.get(key);
    if (code === undefined) {
      code = this.#checks.length;
      this.#checks.push(message);
      this.#checkCodes.set(key, code);
    }
    return { record: this.#checkRecord, code };
  }

  /** Submits the current batch (if any) and recycles buffers released before it. */
  flush(): void {
    this.assertAlive();
    if (this.#encoder) {
      const encoder = this.#endPass();
      this.#writeUniformChunk();
      this.device.queue.submit([encoder.finish()]);
      liveCounters.submits++;
      this.#encoder = null;
    }
    this.#pending = 0;
    this.#uniformUsed = 0;
    this.#uniformChunk = 0;
    for (const k of this.#batchKernels) this.#submittedKernels.add(k);
    this.#batchKernels.clear();
    this.storage.retire();
  }

  /** Throws (and clears) the validation errors captured so far. */
  #throwErrors(): void {
    if (this.#errors.length === 0) return;
    const msg = this.#errors.join("\n");
    this.#errors = [];
    throw new Error(`denet gpu: validation error\n${msg}`);
  }

  /** Called after each host sync: errors can no longer come from earlier batches. */
  #synced(): void {
    this.#submittedKernels.clear();
  }

  /**
   * Reads many buffers back with one host sync.
   * @param regions buffers and the byte counts to read from `offset` (default 0;
   *   multiples of 4)
   */
  async read(
    regions: { buffer: GPUBuffer; bytes: number; offset?: number }[],
  ): Promise<ArrayBuffer[]> {
    this.assertAlive();
    const checks = this.#checks;
    if (checks.length > 0) {
      regions = [...regions, { buffer: this.#checkRecord, bytes: 16 }];
      this.#checks = [];
      this.#checkCodes.clear();
    }
    const stagings = regions.map((r) => r.bytes > 0 ? this.#staging.acquire(r.bytes) : null);
    regions.forEach((r, i) => {
      const s = stagings[i];
      if (s) this.copy(r.buffer, r.offset ?? 0, s, 0, r.bytes);
    });
    if (checks.length > 0) this.clear(this.#checkRecord, 0, 16);
    this.flush();
    liveCounters.hostSyncs++;
    try {
      await Promise.all(
        stagings.map((s, i) => s?.mapAsync(GPUMapMode.READ, 0, regions[i].bytes)),
      );
    } catch (e) {
      this.assertAlive();
      this.#throwErrors();
      throw e;
    }
    const out = regions.map((r, i) => {
      const s = stagings[i];
      if (!s) return new ArrayBuffer(0);
      const copy = s.getMappedRange(0, r.bytes).slice(0);
      s.unmap();
      this.#staging.release(s);
      liveCounters.readbackBytes += r.bytes;
      return copy;
    });
    this.#staging.retire();
    this.#throwErrors();
    this.#synced();
    if (checks.length > 0) {
      const rec = new Uint32Array(out.pop()!);
      if (rec[0] !== 0) {
        const value = new Float32Array(rec.buffer, 12, 1)[0];
        throw new Error(checks[rec[1]](rec[2], value));
      }
    }
    return out;
  }

  /** Submits pending work and waits for the device to finish it (one host sync). */
  async sync(): Promise<void> {
    if (this.#checks.length > 0) {
      await this.read([]); // one host sync that also reports the device checks
      return;
    }
    this.flush();
    liveCounters.hostSyncs++;
    await this.device.queue.onSubmittedWorkDone();
    this.assertAlive();
    this.#throwErrors();
    this.#synced();
  }

  /** Frees pooled buffers and destroys the device. */
  destroy(): void {
    this.storage.clear();
    this.#staging.clear();
    this.#checkRecord.destroy();
    for (const c of this.#uniformChunks) c.destroy();
    this.#lost = "destroyed by denet";
    this.device.destroy();
  }
}

let current: GpuRuntime | null = null;
let initializing: Promise<GpuRuntime> | null = null;

/**
 * Initialises (or re-initialises after device loss) the GPU runtime.
 * Returns the existing runtime when it is alive.
 */
export function initGpu(): Promise<GpuRuntime> {
  if (current && !current.lost) return Promise.resolve(current);
  if (initializing) return initializing;
  let created: GpuRuntime | null = null;
  initializing = acquireDevice({
    onLost: (reason) => created?.markLost(reason),
  }).then(({ device, info }) => {
    selectProfile(info);
    created = new GpuRuntime(device, info);
    current = created;
    return created;
  }).finally(() => {
    initializing = null;
  });
  return initializing;
}

/** True when a GPU runtime is initialised and its device is alive. */
export function gpuReady(): boolean {
  return current !== null && !current.lost;
}

/** The current runtime; throws a clear error when none is initialised or it was lost. */
export function gpuRuntime(): GpuRuntime {
  if (!current) {
    throw new Error(
      "denet gpu: the GPU is not initialised; call `await init()` (or `await initGpu()`) first",
    );
  }
  current.assertAlive();
  return current;
}

/** Destroys the current runtime (its device and pooled buffers). */
export function shutdownGpu(): void {
  current?.destroy();
  current = null;
}
