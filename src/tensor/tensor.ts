/**
 * The Tensor: a shape, a dtype, a device and its storage.
 *
 * CPU tensors hold a Float32Array or Float64Array; GPU tensors (f32 only) hold a
 * reference-counted GPU buffer from the runtime's pool. GPU memory is not seen by the
 * JS garbage collector, so GPU buffers are released deterministically: by
 * {@link Tensor.dispose}, or by the scope ({@link tidy}) that created them. A
 * FinalizationRegistry returns forgotten buffers as a last resort only.
 *
 * Shapes are row-major (the reverse of Knet's column-major dims, so memory matches).
 *
 * @module
 */

import { type GpuRuntime, gpuRuntime } from "../gpu/runtime.ts";
import { runOp } from "../ops/registry.ts";
import { reshapeOp } from "../ops/view.ts";
import { type HeapBlock, heapBlockOf, inHeapMemory } from "../cpu/heap.ts";
import { formatTensor } from "./format.ts";
import { trackTensor } from "./scope.ts";

/** Element types: f32 everywhere, f64 on the CPU only. */
export type DType = "f32" | "f64";
/** Where a tensor lives. */
export type DeviceName = "cpu" | "gpu";
/** A CPU storage array. */
export type HostArray = Float32Array | Float64Array;
/** Nested number arrays as returned by {@link Tensor.toArray}. */
export type NestedArray = number | NestedArray[];

/**
 * A reference-counted GPU buffer region shared by a tensor and its reshaped views.
 *
 * A storage either owns a pooled buffer (offset 0) or is a *view*: a byte range of a
 * parent storage ({@link GpuStorage.view}), which it keeps alive. Views let a model's
 * parameters live in one flat buffer (src/nlp/flat.ts): kernels bind a view as the
 * range `{buffer, offset, size}` ({@link GpuStorage.binding}), copies and reads honour
 * its {@link offset}.
 */
export class GpuStorage {
  /** The pooled buffer (may be larger than {@link bytes}). */
  readonly buffer: GPUBuffer;
  /** The runtime that owns the buffer. */
  readonly runtime: GpuRuntime;
  /** Bytes of the tensor data (the buffer may be larger: pool size class). */
  readonly bytes: number;
  /** Byte offset of the data in {@link buffer} (0 unless a view). */
  readonly offset: number;
  /** The storage this one is a view of (null for a storage owning its buffer). */
  readonly parent: GpuStorage | null;
  #refs = 1;

  /** Takes one reference to `buffer` (a storage owning it, offset 0). */
  constructor(runtime: GpuRuntime, buffer: GPUBuffer, bytes: number) {
    this.runtime = runtime;
    this.buffer = buffer;
    this.bytes = bytes;
    this.offset = 0;
    this.parent = null;
  }

  /**
   * A view of `bytes` bytes at `offsetBytes` into `parent` (relative to the parent's own
   * offset); it takes one reference to the parent, dropped when the view is released.
   * The absolute offset must be a multiple of the adapter's
   * `minStorageBufferOffsetAlignment` (WebGPU's rule for storage bindings).
   */
  static view(parent: GpuStorage, offsetBytes: number, bytes: number): GpuStorage {
    if (parent.refs <= 0) throw new Error("GpuStorage.view: the parent storage was released");
    if (
      !Number.isInteger(offsetBytes) || !Number.isInteger(bytes) || offsetBytes < 0 ||
      bytes <= 0 || offsetBytes + bytes > parent.bytes || bytes % 4 !== 0
    ) {
      throw new Error(
        `GpuStorage.view: range [${offsetBytes}, ${offsetBytes + bytes}) bytes does not fit ` +
          `a parent of ${parent.bytes} bytes (sizes must be positive multiples of 4)`,
      );
    }
    const offset = parent.offset + offsetBytes;
    const align = parent.runtime.info.limits.minStorageBufferOffsetAlignment ?? 256;
    if (offset % align !== 0) {
      throw new Error(
        `GpuStorage.view: byte offset ${offset} is not a multiple of the adapter's ` +
          `minStorageBufferOffsetAlignment ${align}`,
      );
    }
    const v = new GpuStorage(parent.runtime, parent.buffer, bytes);
    (v as { offset: number }).offset = offset;
    (v as { parent: GpuStorage | null }).parent = parent.retain();
    return v;
  }

  /**
   * What a kernel binds: the buffer itself for a storage owning it (kernels may touch
   * the pool's size-class slack, see kernels/binary.wgsl), the range
   * `{buffer, offset, size}` for a view. A view's range is rounded up to 16 bytes (the
   * minimum binding size of `array<vec4<f32>>` kernels) within the buffer.
   */
  binding(): GPUBuffer | GPUBufferBinding {
    if (this.parent === null) return this.buffer;
    const size = Math.min(Math.ceil(this.bytes / 16) * 16, this.buffer.size - this.offset);
    return { buffer: this.buffer, offset: this.offset, size };
  }

  /** Adds an owner. */
  retain(): this {
    this.#refs++;
    return this;
  }

  /**
   * Drops an owner; when the last one goes the buffer returns to the pool (a view
   * releases its parent instead).
   */
  release(): void {
    if (--this.#refs !== 0) return;
    if (this.parent) this.parent.release();
    else this.runtime.free(this.buffer);
  }

  /** Current owner count. */
  get refs(): number {
    return this.#refs;
  }
}

const finalizer = new FinalizationRegistry<GpuStorage>((storage) => storage.release());
/** Releases the CPU heap block of a tensor that was collected without dispose(). */
const hostFinalizer = new FinalizationRegistry<HeapBlock>((block) => block.release());

/** Number of elements of a shape (1 for a scalar `[]`). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Validates a shape: non-negative finite integers. */
export function checkShape(op: string, shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(
        `${op}: invalid shape [${shape.join(",")}]: dimensions must be non-negative integers`,
      );
    }
  }
}

/**
 * Allocates a host array of a dtype; an allocation the JS engine refuses (too many
 * elements) throws an Error naming `op`, the element count and the size.
 */
export function hostArray(dtype: DType, n: number, op = "tensor"): HostArray {
  try {
    return dtype === "f64" ? new Float64Array(n) : new Float32Array(n);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    const bytes = n * (dtype === "f64" ? 8 : 4);
    throw new Error(
      `${op}: cannot allocate ${n} ${dtype} elements (${(bytes / 2 ** 30).toFixed(1)} GiB) ` +
        `in host memory: ${e.message}`,
    );
  }
}

/** An n-dimensional array on the CPU or the GPU. */
export class Tensor {
  /** Dimensions, row-major (instances first). */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
  /** Where the data lives. */
  readonly device: DeviceName;
  /** Number of elements. */
  readonly size: number;
  #host: HostArray | null;
  #gpu: GpuStorage | null;
  /** The CPU heap block under #host, when it lies in the CPU backend's memory. */
  #block: HeapBlock | null = null;
  #disposed = false;
  /** Host copy of a GPU tensor's values, set by data()/toArray() (used for printing). */
  #hostMirror: HostArray | null = null;

  /**
   * Low-level constructor; prefer the creation functions (`zeros`, `fromArray`, ...).
   * Takes ownership of `storage`.
   */
  constructor(shape: readonly number[], dtype: DType, storage: HostArray | GpuStorage | null) {
    checkShape("Tensor", shape);
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = shapeSize(shape);
    if (storage instanceof GpuStorage || storage === null) {
      if (dtype !== "f32") {
        throw new Error(`Tensor: dtype ${dtype} is not supported on the GPU (f32 only)`);
      }
      if (storage === null && this.size !== 0) {
        throw new Error("Tensor: non-empty GPU tensor without storage");
      }
      this.device = "gpu";
      this.#host = null;
      this.#gpu = storage;
      if (storage) {
        finalizer.register(this, storage, this);
        trackTensor(this);
      }
    } else {
      if (storage.length !== this.size) {
        throw new Error(
          `Tensor: ${storage.length} values do not fit shape [${
            shape.join(",")
          }] (${this.size} elements)`,
        );
      }
      if ((dtype === "f64") !== (storage instanceof Float64Array)) {
        throw new Error(`Tensor: storage type does not match dtype ${dtype}`);
      }
      this.device = "cpu";
      this.#host = storage;
      this.#gpu = null;
      this.#adoptHost(storage);
      // heap memory is released deterministically (tidy, diff), as GPU memory is
      if (this.#block !== null) trackTensor(this);
    }
  }

  /** Takes a reference to the heap block under a host array (if it has one). */
  #adoptHost(storage: HostArray): void {
    const block = heapBlockOf(storage);
    if (block === undefined) {
      if (inHeapMemory(storage)) {
        throw new Error("internal: a tensor over CPU heap memory that no heap block owns");
      }
      this.#block = null;
      return;
    }
    block.adopt();
    this.#block = block;
    hostFinalizer.register(this, block, this);
  }

  #releaseHost(): void {
    if (this.#block === null) return;
    hostFinalizer.unregister(this);
    this.#block.release();
    this.#block = null;
  }

  /** Number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }

  /** Whether {@link dispose} was called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  #assertLive(op: string): void {
    if (this.#disposed) throw new Error(`${op}: tensor [${this.shape.join(",")}] was disposed`);
  }

  /** The CPU storage (no copy). Throws for GPU tensors. @internal */
  host(op = "host"): HostArray {
    this.#assertLive(op);
    if (this.#host === null) {
      throw new Error(`${op}: expected a cpu tensor, got a gpu tensor [${this.shape.join(",")}]`);
    }
    return this.#host;
  }

  /** The GPU storage buffer. Throws for CPU tensors and for empty tensors. @internal */
  buffer(op = "buffer"): GPUBuffer {
    this.#assertLive(op);
    if (this.device !== "gpu") {
      throw new Error(`${op}: expected a gpu tensor, got a cpu tensor [${this.shape.join(",")}]`);
    }
    if (this.#gpu === null) throw new Error(`${op}: empty tensor has no GPU buffer`);
    this.#gpu.runtime.assertAlive();
    return this.#gpu.buffer;
  }

  /**
   * What a kernel binds for this tensor (see {@link GpuStorage.binding}): its buffer, or
   * the byte range of a view. Throws like {@link buffer}. @internal
   */
  binding(op = "binding"): GPUBuffer | GPUBufferBinding {
    this.buffer(op);
    return this.#gpu!.binding();
  }

  /** Byte offset of this tensor's data in {@link buffer} (0 unless a view). @internal */
  byteOffset(op = "byteOffset"): number {
    this.buffer(op);
    return this.#gpu!.offset;
  }

  /**
   * Re-points this tensor at other storage of the same dtype and size (a host array or
   * GPU storage, of which it takes ownership), releasing the old one; object identity
   * is kept (packParams moves Params into one flat buffer this way). @internal
   */
  replaceStorage(storage: HostArray | GpuStorage): void {
    this.#assertLive("replaceStorage");
    if (storage instanceof GpuStorage) {
      if (this.device !== "gpu" || storage.bytes !== this.size * 4) {
        throw new Error(
          `replaceStorage: ${storage.bytes} bytes of GPU storage for a ${this.device} ` +
            `tensor [${this.shape.join(",")}]`,
        );
      }
      if (this.#gpu) {
        finalizer.unregister(this);
        this.#gpu.release();
      }
      this.#gpu = storage;
      finalizer.register(this, storage, this);
    } else {
      if (
        this.device !== "cpu" || storage.length !== this.size ||
        (this.dtype === "f64") !== (storage instanceof Float64Array)
      ) {
        throw new Error(
          `replaceStorage: a ${storage.constructor.name}(${storage.length}) for a ` +
            `${this.device} ${this.dtype} tensor [${this.shape.join(",")}]`,
        );
      }
      // adopt the new block before releasing the old: they may be the same block
      const old = this.#block;
      if (old !== null) hostFinalizer.unregister(this);
      this.#adoptHost(storage);
      old?.release();
      this.#host = storage;
    }
    this.#hostMirror = null;
  }

  /** The shared GPU storage (for views). @internal */
  gpuStorage(): GpuStorage | null {
    this.#assertLive("gpuStorage");
    return this.#gpu;
  }

  /**
   * The values as a flat typed array (a copy). For GPU tensors this is one host sync;
   * to read several tensors with a single sync use `readAll([...])`.
   */
  async data(): Promise<HostArray> {
    this.#assertLive("data");
    if (this.#host) return this.#host.slice();
    const [out] = await readAll([this]);
    return out;
  }

  /** The values as nested arrays (a number for a scalar). */
  async toArray(): Promise<NestedArray> {
    this.#assertLive("toArray");
    return nest(await this.data(), this.shape);
  }

  /** The values of a CPU tensor, synchronously (a copy). */
  dataSync(): HostArray {
    return this.host("dataSync").slice();
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    this.#assertLive("item");
    if (this.size !== 1) {
      throw new Error(`item: expected a one-element tensor, got shape [${this.shape.join(",")}]`);
    }
    return (await this.data())[0];
  }

  /** A copy on the GPU (f32). A GPU tensor returns itself. */
  gpu(): Tensor {
    this.#assertLive("gpu");
    if (this.device === "gpu") return this;
    if (this.dtype !== "f32") {
      throw new Error(
        `gpu: dtype ${this.dtype} is not supported on the GPU (f32 only); convert with .asType("f32") first`,
      );
    }
    return uploadTensor(this.shape, this.#host as Float32Array);
  }

  /** A copy on the CPU (async for GPU tensors: one host sync). A CPU tensor returns itself. */
  async cpu(): Promise<Tensor> {
    this.#assertLive("cpu");
    if (this.device === "cpu") return this;
    return new Tensor(this.shape, "f32", await this.data());
  }

  /** Converts a CPU tensor's dtype (a copy; itself when the dtype matches). */
  asType(dtype: DType): Tensor {
    if (dtype !== "f32" && dtype !== "f64") {
      throw new Error(`asType: unknown dtype "${dtype}" (expected f32 or f64)`);
    }
    if (dtype === this.dtype) return this;
    const src = this.host("asType");
    const out = hostArray(dtype, this.size);
    out.set(src);
    return new Tensor(this.shape, dtype, out);
  }

  /**
   * The same data with another shape (no copy). One dimension may be -1 (inferred).
   */
  reshape(...shape: (number | readonly number[])[]): Tensor {
    this.#assertLive("reshape");
    const dims = shape.length === 1 && Array.isArray(shape[0])
      ? [...(shape[0] as readonly number[])]
      : shape as number[];
    const target = inferShape("reshape", dims, this.size, this.shape);
    return runOp(reshapeOp, [this], { shape: target });
  }

  /**
   * Releases the GPU buffer now (it returns to the pool). Idempotent. CPU tensors just
   * drop their reference.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#gpu) {
      finalizer.unregister(this);
      this.#gpu.release();
      this.#gpu = null;
    }
    this.#releaseHost();
    this.#host = null;
  }

  /** @internal Records values read back (used by printing). */
  setHostMirror(values: HostArray): void {
    this.#hostMirror = values;
  }

  /** @internal Forgets the printed copy after an in-place update. */
  invalidateHostMirror(): void {
    this.#hostMirror = null;
  }

  /** A short description: `Tensor f32[2,3] gpu`. */
  toString(): string {
    return `Tensor ${this.dtype}[${this.shape.join(",")}] ${this.device}`;
  }

  /** Pretty printing in the Deno REPL and console.log. */
  [Symbol.for("Deno.customInspect")](): string {
    if (this.#disposed) return `${this.toString()} (disposed)`;
    const values = this.#host ?? this.#hostMirror;
    if (values === null) {
      return `${this.toString()}\n  (values on the GPU: \`await show(t)\` prints them)`;
    }
    return `${this.toString()}\n${formatTensor(values, this.shape)}`;
  }

  /** What `deno jupyter` displays: the values as text, a table (rank ≤ 2) or images. */
  [Symbol.for("Jupyter.display")](): Promise<Record<string, string>> {
    return import("./display.ts").then((m) => m.tensorDisplayBundle(this));
  }
}

/** Resolves a shape with at most one -1 against a known element count. */
export function inferShape(
  op: string,
  dims: readonly number[],
  size: number,
  from: readonly number[],
): number[] {
  const out = [...dims];
  const unknown = out.indexOf(-1);
  if (unknown !== out.lastIndexOf(-1)) {
    throw new Error(`${op}: at most one -1 in shape [${dims.join(",")}]`);
  }
  if (unknown >= 0) {
    const known = shapeSize(out.filter((_, i) => i !== unknown));
    if (known === 0 || size % known !== 0) {
      throw new Error(`${op}: cannot infer -1 in [${dims.join(",")}] from [${from.join(",")}]`);
    }
    out[unknown] = size / known;
  }
  checkShape(op, out);
  if (shapeSize(out) !== size) {
    throw new Error(
      `${op}: cannot reshape [${from.join(",")}] (${size} elements) to [${dims.join(",")}]`,
    );
  }
  return out;
}

/** Turns a flat array into nested arrays of a shape. */
export function nest(values: ArrayLike<number>, shape: readonly number[]): NestedArray {
  if (shape.length === 0) return values[0];
  const build = (dim: number, offset: number): NestedArray[] => {
    const n = shape[dim];
    const stride = shapeSize(shape.slice(dim + 1));
    const out: NestedArray[] = [];
    for (let i = 0; i < n; i++) {
      out.push(dim === shape.length - 1 ? values[offset + i] : build(dim + 1, offset + i * stride));
    }
    return out;
  };
  return build(0, 0);
}

/** A new GPU tensor holding `values`. */
export function uploadTensor(shape: readonly number[], values: Float32Array): Tensor {
  const n = shapeSize(shape);
  if (n === 0) return new Tensor(shape, "f32", null);
  const rt = gpuRuntime();
  const buffer = rt.alloc(n * 4, true);
  rt.upload(buffer, values);
  return new Tensor(shape, "f32", new GpuStorage(rt, buffer, n * 4));
}

/** A new uninitialised GPU tensor (for op outputs). */
export function emptyGpu(shape: readonly number[]): Tensor {
  const n = shapeSize(shape);
  if (n === 0) return new Tensor(shape, "f32", null);
  const rt = gpuRuntime();
  return new Tensor(shape, "f32", new GpuStorage(rt, rt.alloc(n * 4), n * 4));
}

/**
 * Reads the values of many tensors with one host sync (all GPU tensors share one
 * submit and one wait). CPU tensors are copied.
 */
export async function readAll(tensors: readonly Tensor[]): Promise<HostArray[]> {
  const gpuIdx: number[] = [];
  const regions: { buffer: GPUBuffer; bytes: number; offset: number }[] = [];
  tensors.forEach((t, i) => {
    if (t.disposed) throw new Error(`readAll: tensor ${i} [${t.shape.join(",")}] was disposed`);
    if (t.device === "gpu" && t.size > 0) {
      gpuIdx.push(i);
      regions.push({
        buffer: t.buffer("readAll"),
        bytes: t.size * 4,
        offset: t.byteOffset("readAll"),
      });
    }
  });
  const out: HostArray[] = tensors.map((t) =>
    t.device === "cpu" ? t.host("readAll").slice() : new Float32Array(0)
  );
  if (regions.length > 0) {
    const bufs = await gpuRuntime().read(regions);
    gpuIdx.forEach((ti, k) => {
      const values = new Float32Array(bufs[k]);
      out[ti] = values;
      tensors[ti].setHostMirror(values);
    });
  }
  return out;
}
