/**
 * WebGPU adapter and device acquisition.
 *
 * Reads the adapter's info and limits *before* `requestDevice` (which invalidates the
 * adapter in Deno), asks for the limits the kernels need, turns on `shader-f16` and
 * `timestamp-query` when offered, and tracks device loss so that the next use fails
 * with a clear error until {@link acquireDevice} is called again.
 *
 * @module
 */

/** What the runtime knows about the acquired device. */
export interface GpuInfo {
  /** Adapter description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  /** Adapter vendor (a name or a PCI id). */
  vendor: string;
  /** Adapter architecture, when reported. */
  architecture: string;
  /** True for software/fallback adapters (Mesa llvmpipe, WARP...). */
  isFallbackAdapter: boolean;
  /** Features enabled on the device. */
  features: string[];
  /** Limits granted to the device (the ones denet asks for, at the adapter's maximum). */
  limits: Record<string, number>;
  /** `shader-f16` enabled. */
  hasF16: boolean;
  /** `timestamp-query` enabled. */
  hasTimestampQuery: boolean;
}

/** Limits denet asks for, each at the adapter's maximum. */
const REQUESTED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
  "maxUniformBufferBindingSize",
] as const;

/** Limits reported in {@link GpuInfo.limits} (requested ones plus alignment facts). */
const REPORTED_LIMITS = [
  ...REQUESTED_LIMITS,
  "minStorageBufferOffsetAlignment",
  "minUniformBufferOffsetAlignment",
] as const;

const OPTIONAL_FEATURES = ["shader-f16", "timestamp-query"] as const;

/** A device plus its description. */
export interface AcquiredDevice {
  device: GPUDevice;
  info: GpuInfo;
}

/** Options for {@link acquireDevice}. */
export interface AcquireOptions {
  /** Passed to `requestAdapter`. */
  powerPreference?: GPUPowerPreference;
  /** Called once if the device is lost (after acquisition). */
  onLost?: (reason: string) => void;
}

/**
 * Sets `XDG_RUNTIME_DIR` to the temporary directory when it is unset, before the first
 * adapter request: Mesa's Vulkan drivers print "error: XDG_RUNTIME_DIR is invalid or not
 * set in the environment." twice otherwise, on runs that succeed. Needs no permission
 * beyond `--allow-env`; without it nothing changes.
 */
export function quietDriverEnv(): void {
  try {
    const v = Deno.env.get("XDG_RUNTIME_DIR");
    if (v === undefined || v === "") {
      Deno.env.set(
        "XDG_RUNTIME_DIR",
        Deno.build.os === "windows" ? Deno.env.get("TEMP") ?? "." : "/tmp",
      );
    }
  } catch {
    // no env permission: Mesa may print its warning, nothing else changes
  }
}

/**
 * Requests an adapter and a device with the limits denet's kernels need.
 * @throws Error when WebGPU is missing or no adapter is found, with a hint on how to get one.
 */
export async function acquireDevice(opts: AcquireOptions = {}): Promise<AcquiredDevice> {
  quietDriverEnv();
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new Error(
      "denet gpu: WebGPU is not available in this runtime (navigator.gpu is undefined); " +
        "use Deno 2.x, or run on the CPU (DENET_DEVICE=cpu)",
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
  if (!adapter) {
    throw new Error(
      "denet gpu: no WebGPU adapter found. Install a Vulkan driver (on Debian/Ubuntu: " +
        "`apt-get install -y mesa-vulkan-drivers` gives the llvmpipe software adapter), " +
        "or run on the CPU (DENET_DEVICE=cpu)",
    );
  }
  // requestDevice() invalidates the adapter: read everything first.
  const ai = adapter.info;
  const adapterLimits = adapter.limits as unknown as Record<string, number>;
  const requiredLimits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) {
    const v = adapterLimits[name];
    if (typeof v === "number") requiredLimits[name] = v;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const description = ai.description || ai.device || "unknown adapter";
  const vendor = ai.vendor;
  const architecture = ai.architecture;
  const isFallbackAdapter = Boolean(
    (ai as unknown as { isFallbackAdapter?: boolean })
      .isFallbackAdapter,
  );

  const device = await adapter.requestDevice({
    requiredFeatures: requiredFeatures as GPUFeatureName[],
    requiredLimits,
  });
  const deviceLimits = device.limits as unknown as Record<string, number>;
  const limits: Record<string, number> = {};
  for (const name of REPORTED_LIMITS) limits[name] = deviceLimits[name];
  const features = [...device.features].sort();
  device.lost.then((info) => opts.onLost?.(`${info.reason}: ${info.message}`));
  return {
    device,
    info: {
      description,
      vendor,
      architecture,
      isFallbackAdapter,
      features,
      limits,
      hasF16: device.features.has("shader-f16"),
      hasTimestampQuery: device.features.has("timestamp-query"),
    },
  };
}
