/**
 * The device a command runs on and why, for `cli.ts train`'s header line and `cli.ts
 * info`: one place that knows the reasons, so a new backend adds its own here.
 *
 * @module
 */

import { gpuReady, gpuRuntime } from "../gpu/runtime.ts";
import { defaultDevice } from "../tensor/device.ts";
import type { DeviceName } from "../tensor/tensor.ts";

/** The device in use and the reason it was chosen. */
export interface DeviceSummary {
  /** The default device now. */
  device: DeviceName;
  /** What chose it, e.g. "--device cpu", "DENET_DEVICE=cpu", "WebGPU adapter: llvmpipe ...". */
  reason: string;
}

function envDevice(): string | undefined {
  try {
    return Deno.env.get("DENET_DEVICE") || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The default device and why: the `--device` flag when given (`flag`), else
 * `DENET_DEVICE`, else the WebGPU adapter found (software adapters are marked), else the
 * lack of one. Call it after `init()`.
 */
export function deviceSummary(flag?: string): DeviceSummary {
  const device = defaultDevice();
  const adapter = () => {
    const { info } = gpuRuntime();
    return `${info.description}${info.isFallbackAdapter ? ", a software adapter" : ""}`;
  };
  let reason: string;
  if (flag !== undefined) reason = `--device ${flag}`;
  else if (envDevice() !== undefined) reason = `DENET_DEVICE=${envDevice()}`;
  else if (device === "gpu" && gpuReady()) reason = `WebGPU adapter found: ${adapter()}`;
  else reason = "no WebGPU adapter found";
  if (flag !== undefined || envDevice() !== undefined) {
    if (device === "gpu" && gpuReady()) reason += `; ${adapter()}`;
  }
  return { device, reason };
}

/** `gpu (WebGPU adapter found: llvmpipe ...)`: {@link deviceSummary} as one phrase. */
export function describeDevice(flag?: string): string {
  const { device, reason } = deviceSummary(flag);
  return `${device} (${reason})`;
}
