/**
 * denet's internals, for tests, benchmarks and the curious: everything in `mod.ts` plus
 * the WebGPU runtime (device, buffer pool, pipeline cache, kernels), the op registry's
 * machinery, file formats (IDX, gzip, safetensors, PNG), dataset specs and download
 * helpers, and the helpers behind the command line. These may change without notice;
 * programs should import `mod.ts`.
 *
 * @module
 */

export * from "./mod.ts";
export { inferShape, nest } from "./src/tensor/tensor.ts";
export {
  binary,
  BINARY_OPS,
  type BinaryOpEntry,
  type BinaryOpName,
  unary,
  UNARY_OPS,
  type UnaryOpEntry,
  type UnaryOpName,
} from "./src/ops/elementwise.ts";
export { unbroadcast } from "./src/ops/reduce.ts";
export { registeredOps, runOp } from "./src/ops/registry.ts";
export { convConfig } from "./src/ops/conv.ts";
export type { GpuInfo } from "./src/gpu/device.ts";
export {
  type CachedPipeline,
  type DispatchSpec,
  gpuReady,
  GpuRuntime,
  gpuRuntime,
  initGpu,
  type KernelConstants,
  shutdownGpu,
} from "./src/gpu/runtime.ts";
export { BufferPool, sizeClass } from "./src/gpu/pool.ts";
export {
  GPU_PROFILE_NAMES,
  GPU_PROFILES,
  type GpuProfile,
  gpuProfile,
  type GpuProfileName,
  gpuProfileReason,
  profileFor,
  setGpuProfile,
} from "./src/gpu/profile.ts";
export { KERNEL_NAMES, type KernelName, kernelSource } from "./src/gpu/kernels.ts";
export { isParam, isRecording } from "./src/autograd/tape.ts";
export { fans } from "./src/init.ts";
export { ensureFile, type FileSpec, forgetVerifiedFiles } from "./src/data/download.ts";
export { decodeIdx, gunzip, type IdxArray, type IdxKind, isGzip, readIdx } from "./src/data/idx.ts";
export { toPath } from "./src/data/paths.ts";
export {
  FASHION_MNIST,
  type IdxDatasetFiles,
  type IdxDatasetSpec,
  loadIdxDataset,
  loadIdxSplit,
  MNIST,
} from "./src/data/mnist.ts";
export { HOUSING_FILE, type NumericTable, parseNumericTable } from "./src/data/housing.ts";
export { TINY_SHAKESPEARE } from "./src/data/text.ts";
export { type OptimizerClass, optimizerFromConfig, OPTIMIZERS } from "./src/optim/optimizers.ts";
export { isOptimizer } from "./src/optim/update.ts";
export { drain } from "./src/train/minimize.ts";
export { formatBar, formatSpeed, formatTime } from "./src/train/progress.ts";
export {
  checkMetadata,
  type DecodedTensor,
  decodeSafetensors,
  DTYPE_BYTES,
  encodeSafetensors,
  MAX_HEADER_BYTES,
  readSafetensorsHeader,
  type SafetensorsFile,
  type SafetensorsHeader,
  type SafetensorsTensor,
  type TensorEntry,
} from "./src/io/safetensors.ts";
export { CHECKPOINT_FORMAT, namedMoments } from "./src/io/checkpoint.ts";
export { encodePNG, toBase64 } from "./src/io/png.ts";
export { buildModel, MODEL_NAMES, type ModelName } from "./src/models.ts";
export {
  type CheckedTrainConfig,
  checkTrainConfig,
  DATASET_NAMES,
  formatEpoch,
  loadDatasetSplit,
  makeOptimizer,
  OPTIMIZER_NAMES,
  SOLVER_NAMES,
} from "./src/app/classify.ts";
export { describeDevice } from "./src/app/device_summary.ts";
export {
  formatMetricsRow,
  METRICS_COLUMNS,
  metricsFormat,
  MetricsLog,
  type MetricsRow,
} from "./src/app/metrics_log.ts";
export { niceTicks } from "./src/app/plot.ts";
export { tensorDisplayBundle } from "./src/tensor/display.ts";
export { quietDriverEnv } from "./src/gpu/device.ts";
export { packParams, slotAlignment, writeGradients } from "./src/nlp/flat.ts";
export { checkVars, cloneTensor } from "./src/nlp/adnlp.ts";
export { type CheckResult, type DeviceLoop, epsOf } from "./src/solvers/mod.ts";
