/**
 * The default device: `DENET_DEVICE` (cpu | gpu) when set, otherwise what {@link init}
 * chose, otherwise the CPU.
 *
 * @module
 */

import { gpuReady, initGpu } from "../gpu/runtime.ts";
import type { DeviceName } from "./tensor.ts";

let chosen: DeviceName | null = null;

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
}

/** Options for {@link init}. */
export interface InitOptions {
  /**
   * "gpu": require a GPU (throws when none); "cpu": no GPU; "auto" (default): the GPU
   * when an adapter is found, else the CPU. `DENET_DEVICE` overrides "auto".
   */
  device?: DeviceName | "auto";
}

/**
 * Initialises denet: acquires the GPU when asked or available and sets the default
 * device. Returns the chosen device. Safe to call again (e.g. after device loss).
 */
export async function init(opts: InitOptions = {}): Promise<DeviceName> {
  const want = opts.device ?? envDevice() ?? "auto";
  if (want === "cpu") {
    chosen = "cpu";
    return chosen;
  }
  try {
    await initGpu();
    chosen = "gpu";
  } catch (e) {
    if (want === "gpu") throw e;
    chosen = "cpu";
  }
  return chosen;
}
