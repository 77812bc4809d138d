/**
 * The default device: `DENET_DEVICE` (cpu | gpu) when set, otherwise what {@link init}
 * chose, otherwise the CPU. `init()` picks a hardware GPU when there is one; when the
 * only adapter is a software one (a fallback adapter, or llvmpipe, lavapipe, SwiftShader,
 * WARP by description) it picks the CPU backend, which is faster there.
 *
 * @module
 */

import { envProfile } from "../gpu/profile.ts";
import { initCpu } from "../cpu/runtime.ts";
import type { GpuInfo } from "../gpu/device.ts";
import { gpuReady, initGpu } from "../gpu/runtime.ts";
import type { DeviceName } from "./tensor.ts";

let chosen: DeviceName | null = null;

/** The device {@link init} chose and why, in words a person can act on. */
export interface DeviceChoice {
  /** The default device. */
  device: DeviceName;
  /** Why: e.g. "the only WebGPU adapter is a software one (llvmpipe ...)". */
  reason: string;
}

let choice: DeviceChoice | null = null;

/** Adapter descriptions of software (CPU-emulated) WebGPU adapters. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|\bwarp\b|basic render|software/i;

/**
 * Whether an adapter emulates a GPU on the CPU cores: WebGPU's `isFallbackAdapter`, or a
 * known software rasterizer by description (llvmpipe, lavapipe, SwiftShader, WARP).
 */
export function isSoftwareAdapter(info: GpuInfo): boolean {
  return info.isFallbackAdapter ||
    SOFTWARE_ADAPTER.test(`${info.description} ${info.vendor} ${info.architecture}`);
}

/** The device {@link init} chose and why (before init: the default and that it was not called). */
export function deviceChoice(): DeviceChoice {
  return choice ?? { device: defaultDevice(), reason: "init() was not called" };
}

function envDevice(): DeviceName | null {
  let v: string | undefined;
  try {
    v = Deno.env.get("DENET_DEVICE");
  } catch {
    return null; // no env permission
  }
  if (v === undefined || v === "") return null;
  if (v !== "cpu" && v !== "gpu") {
    throw new Error(`DENET_DEVICE must be "cpu" or "gpu", got "${v}"`);
  }
  return v;
}

/** The device used when an API call names none. */
export function defaultDevice(): DeviceName {
  return chosen ?? envDevice() ?? (gpuReady() ? "gpu" : "cpu");
}

/** Sets the default device for creation functions. */
export function setDefaultDevice(device: DeviceName): void {
  if (device !== "cpu" && device !== "gpu") {
    throw new Error(`setDefaultDevice: expected "cpu" or "gpu", got "${device}"`);
  }
  chosen = device;
  choice = { device, reason: "set by setDefaultDevice" };
}

/** Options for {@link init}. */
export interface InitOptions {
  /**
   * "gpu": require a GPU (throws when none); "cpu": the CPU backend; "auto" (default):
   * a hardware GPU when one is found, else the CPU backend (also when the only adapter
   * is a software one: see {@link isSoftwareAdapter}). `DENET_DEVICE` overrides "auto".
   */
  device?: DeviceName | "auto";
  /** Who asked for `device`, for {@link deviceChoice}'s reason (e.g. "--device cpu"). */
  source?: string;
}

/**
 * Initialises denet: acquires the GPU when asked or available and sets the default
 * device. Returns the chosen device. Safe to call again (e.g. after device loss).
 */
export async function init(opts: InitOptions = {}): Promise<DeviceName> {
  envProfile(); // a bad DENET_GPU_PROFILE is an error, not a missing GPU
  const env = envDevice();
  const want = opts.device ?? env ?? "auto";
  const why = opts.device !== undefined && opts.device !== "auto"
    ? (opts.source ?? `asked for ${opts.device}`)
    : `DENET_DEVICE=${env}`;
  if (want === "cpu") {
    const rt = await initCpu();
    return decide("cpu", `${why}; ${cpuWords(rt.threads)}`);
  }
  let info: GpuInfo;
  try {
    info = (await initGpu()).info;
  } catch (e) {
    if (want === "gpu") throw e;
    const rt = await initCpu();
    return decide("cpu", `no WebGPU adapter (${(e as Error).message}); ${cpuWords(rt.threads)}`);
  }
  if (want === "gpu") return decide("gpu", `${why}: ${info.description}`);
  if (isSoftwareAdapter(info)) {
    const rt = await initCpu();
    return decide(
      "cpu",
      `the only WebGPU adapter is a software one (${info.description}); ${cpuWords(rt.threads)}`,
    );
  }
  return decide("gpu", `a hardware WebGPU adapter: ${info.description}`);
}

function cpuWords(threads: number): string {
  return `the CPU backend runs WebAssembly SIMD kernels on ${threads} thread${
    threads === 1 ? "" : "s"
  }`;
}

function decide(device: DeviceName, reason: string): DeviceName {
  chosen = device;
  choice = { device, reason };
  return device;
}
