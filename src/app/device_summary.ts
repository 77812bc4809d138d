/**
 * The device a command runs on and why, for `cli.ts train`'s header line and `cli.ts
 * info`: {@link deviceChoice}'s words, with the command-line flag named when one chose.
 *
 * @module
 */

import { deviceChoice } from "../tensor/device.ts";

/**
 * `cpu (the only WebGPU adapter is a software one (llvmpipe ...); the CPU backend runs
 * WebAssembly SIMD kernels on 2 threads)`: the default device and why, after `init()`.
 * `flag` is the `--device` value when the command line gave one.
 */
export function describeDevice(flag?: string): string {
  const { device, reason } = deviceChoice();
  const why = flag === undefined ? reason : reason.replace(/^asked for (cpu|gpu)/, `--device $1`);
  return `${device} (${why})`;
}
