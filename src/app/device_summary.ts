/**
 * The device a command runs on and why, for `cli.ts train`'s header line and `cli.ts
 * info`, in {@link deviceChoice}'s words.
 *
 * @module
 */

import { deviceChoice } from "../tensor/device.ts";

/**
 * `cpu (the only WebGPU adapter is a software one (llvmpipe ...); the CPU backend runs
 * WebAssembly SIMD kernels on 2 threads)`: the default device and why, after `init()`.
 */
export function describeDevice(): string {
  const { device, reason } = deviceChoice();
  return `${device} (${reason})`;
}
