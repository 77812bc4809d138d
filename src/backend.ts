/**
 * The memory seam between the upper layers (nlp, data, io, autograd) and the devices:
 * allocate, upload, read back, copy, clear, views into one flat tensor, flush, and the
 * device's capabilities. The WebGPU runtime (src/gpu) and the CPU backend (src/cpu:
 * the WebAssembly kernels' heap, or plain typed arrays for f64) each implement it;
 * kernels are reached through the op registry (src/ops/registry.ts), whose ops have one
 * implementation per device. Upper layers ask {@link backendOf} and never a runtime.
 *
 * @module
 */

import { cpuKernelsEnabled, cpuRuntime, cpuStorage } from "./cpu/runtime.ts";
import { gpuReady, gpuRuntime } from "./gpu/runtime.ts";
import {
  type DeviceName,
  type DType,
  emptyGpu,
  GpuStorage,
  type HostArray,
  readAll,
  shapeSize,
  Tensor,
  uploadTensor,
} from "./tensor/tensor.ts";

/** What a device offers the upper layers. */
export interface Backend {
  /** The device. */
  readonly device: DeviceName;
  /** Whether the device is initialised and usable. */
  ready(): boolean;
  /** Element alignment of views into one flat tensor ({@link Backend.view}). */
  viewAlignment(): number;
  /** A new uninitialised tensor (f32 on the GPU; f32 or f64 on the CPU). */
  empty(shape: readonly number[], dtype: DType): Tensor;
  /** A new tensor holding `values` (a copy). */
  upload(shape: readonly number[], values: HostArray): Tensor;
  /** Overwrites elements [offset, offset + values.length) of `t` with `values`. */
  write(t: Tensor, offset: number, values: HostArray): void;
  /** Copies n elements of `src` from `srcOffset` into `dst` at `dstOffset`. */
  copy(src: Tensor, srcOffset: number, dst: Tensor, dstOffset: number, n: number): void;
  /** Sets elements [offset, offset + n) of `t` to zero. */
  clear(t: Tensor, offset: number, n: number): void;
  /**
   * A tensor of `shape` over elements [offset, offset + size) of the rank-1 `base`,
   * sharing its storage (offset a multiple of {@link viewAlignment}).
   */
  view(base: Tensor, offset: number, shape: readonly number[]): Tensor;
  /** Reads tensors back with one host sync (CPU: copies). */
  read(tensors: readonly Tensor[]): Promise<HostArray[]>;
  /** Starts recorded work without waiting for it (nothing to do on the CPU). */
  flush(): void;
}

const cpuBackend: Backend = {
  device: "cpu",
  ready: () => true,
  viewAlignment: () => 1,
  empty: (shape, dtype) => new Tensor(shape, dtype, cpuStorage(dtype, shapeSize(shape))),
  upload(shape, values) {
    const t = this.empty(shape, values instanceof Float64Array ? "f64" : "f32");
    t.host("upload").set(values);
    return t;
  },
  write: (t, offset, values) => t.host("write").set(values, offset),
  copy(src, srcOffset, dst, dstOffset, n) {
    dst.host("copy").set(src.host("copy").subarray(srcOffset, srcOffset + n), dstOffset);
  },
  clear: (t, offset, n) => void t.host("clear").fill(0, offset, offset + n),
  view(base, offset, shape) {
    const arr = base.host("view");
    const end = offset + shapeSize(shape);
    const heap = cpuKernelsEnabled() && arr instanceof Float32Array ? cpuRuntime().heap : null;
    return new Tensor(
      shape,
      base.dtype,
      heap ? heap.view(arr as Float32Array, offset, end) : arr.subarray(offset, end),
    );
  },
  read: (tensors) => readAll(tensors),
  flush: () => {},
};

const gpuBackend: Backend = {
  device: "gpu",
  ready: () => gpuReady(),
  viewAlignment() {
    const bytes = gpuRuntime().info.limits.minStorageBufferOffsetAlignment ?? 256;
    return Math.max(1, Math.ceil(bytes / 4));
  },
  empty(shape, dtype) {
    if (dtype !== "f32") throw new Error(`empty: dtype ${dtype} is not supported on the GPU`);
    return emptyGpu(shape);
  },
  upload(shape, values) {
    if (!(values instanceof Float32Array)) {
      throw new Error("upload: the GPU takes f32 values (a Float32Array)");
    }
    return uploadTensor(shape, values);
  },
  write(t, offset, values) {
    const rt = gpuRuntime();
    rt.flush(); // recorded work must read the old values
    rt.upload(t.buffer("write"), values as Float32Array, t.byteOffset("write") + offset * 4);
    t.invalidateHostMirror();
  },
  copy(src, srcOffset, dst, dstOffset, n) {
    if (n === 0) return;
    gpuRuntime().copy(
      src.buffer("copy"),
      src.byteOffset("copy") + srcOffset * 4,
      dst.buffer("copy"),
      dst.byteOffset("copy") + dstOffset * 4,
      n * 4,
    );
    dst.invalidateHostMirror();
  },
  clear(t, offset, n) {
    if (n === 0) return;
    gpuRuntime().clear(t.buffer("clear"), t.byteOffset("clear") + offset * 4, n * 4);
    t.invalidateHostMirror();
  },
  view(base, offset, shape) {
    const n = shapeSize(shape);
    const storage = GpuStorage.view(base.gpuStorage()!, offset * 4, n * 4);
    return new Tensor(shape, "f32", storage);
  },
  read: (tensors) => readAll(tensors),
  flush() {
    if (gpuReady()) gpuRuntime().flush();
  },
};

/** The backend of a device. */
export function backendOf(device: DeviceName): Backend {
  return device === "gpu" ? gpuBackend : cpuBackend;
}

/**
 * What a tensor's storage is, for handing to `Tensor.replaceStorage` (a GPU storage
 * gains a reference; a host array is shared and counted by the tensor adopting it).
 */
export function sharedStorage(t: Tensor): HostArray | GpuStorage {
  return t.device === "gpu" ? t.gpuStorage()!.retain() : t.host("sharedStorage");
}
