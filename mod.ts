/**
 * denet — a Deno-first deep-learning toolkit with WebGPU compute.
 *
 * ```ts
 * import * as dn from "./mod.ts";
 * await dn.init();                       // GPU when an adapter is found, else CPU
 * const a = dn.randn([256, 128]);
 * const b = dn.randn([128, 64]);
 * const c = dn.relu(dn.matmul(a, b));
 * console.log(await c.toArray());        // one host sync
 * ```
 *
 * Shapes are row-major (Knet's dims reversed); class labels are 0-based.
 *
 * @module
 */

export {
  type DeviceName,
  type DType,
  GpuStorage,
  type HostArray,
  type NestedArray,
  readAll,
  Tensor,
} from "./src/tensor/tensor.ts";
export {
  arange,
  type CreateOptions,
  fromArray,
  full,
  ones,
  rand,
  randn,
  type RandomOptions,
  zeros,
} from "./src/tensor/create.ts";
export { defaultDevice, init, type InitOptions, setDefaultDevice } from "./src/tensor/device.ts";
export { globalRng, Rng, seed } from "./src/tensor/random.ts";
export { keep, tidy } from "./src/tensor/scope.ts";
export * from "./src/ops/math.ts";
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
export {
  argmax,
  argmin,
  type Axes,
  dot,
  max,
  mean,
  min,
  nrm2,
  prod,
  type ReduceOptions,
  std,
  sum,
  variance,
  type VarOptions,
} from "./src/ops/reduce.ts";
export { logsoftmax, logsumexp, softmax } from "./src/ops/softmax.ts";
export { unbroadcast } from "./src/ops/reduce.ts";
export { bmm, gemm, type GemmOptions, matmul } from "./src/ops/matmul.ts";
export { axpby, axpy, copyInto, fill, scal } from "./src/ops/vector.ts";
export {
  broadcastTo,
  clone,
  concat,
  flip,
  permute,
  slice,
  type SliceSpec,
  transpose,
} from "./src/ops/shape.ts";
export {
  type BackwardRule,
  defineOp,
  type OpDef,
  type OpImpl,
  registeredOps,
  runOp,
} from "./src/ops/registry.ts";
export { type Counters, counters, resetCounters } from "./src/gpu/counters.ts";
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
export { KERNEL_NAMES, type KernelName, kernelSource } from "./src/gpu/kernels.ts";
export { Param } from "./src/autograd/param.ts";
export {
  diff,
  DiffResult,
  grad,
  gradloss,
  namedParams,
  params,
  value,
} from "./src/autograd/diff.ts";
export { isParam, isRecording, noRecord } from "./src/autograd/tape.ts";
export { gcheck, type GcheckOptions } from "./src/autograd/gcheck.ts";
export * from "./src/data/mod.ts";
export { type Indices, mat, take } from "./src/ops/indexing.ts";
export { dropout, type DropoutOptions } from "./src/ops/dropout.ts";
export {
  accuracy,
  applyModel,
  bce,
  type Dataset,
  logistic,
  type LossOptions,
  type Model,
  mse,
  nll,
} from "./src/loss.ts";
export {
  bilinear,
  type DimsArgs,
  fans,
  gaussian,
  type GaussianOptions,
  type Initializer,
  param,
  param0,
  type ParamOptions,
  type WeightInitOptions,
  xavier,
  xavierNormal,
  type XavierOptions,
  xavierUniform,
} from "./src/init.ts";
export { xent } from "./src/ops/xent.ts";
export {
  batchnorm,
  type BatchnormOptions,
  BNMoments,
  bnmoments,
  type BNMomentsOptions,
  bnparams,
  type MomentInit,
} from "./src/ops/batchnorm.ts";
export {
  pool,
  type PoolOptions,
  type PoolSize,
  unpool,
  type UnpoolOptions,
} from "./src/ops/pool.ts";
export { conv4, convConfig, type ConvOptions, deconv4, type Pair } from "./src/ops/conv.ts";
export * from "./src/optim/mod.ts";
export * from "./src/layers/mod.ts";
export * from "./src/io/mod.ts";
export * from "./src/train/mod.ts";
export {
  buildModel,
  lenetModel,
  mlpModel,
  MODEL_NAMES,
  type ModelName,
  type ModelOptions,
  softmaxModel,
} from "./src/models.ts";
export {
  DATASET_NAMES,
  type EpochReport,
  type EvalReport,
  evaluateCheckpoint,
  formatEpoch,
  makeOptimizer,
  OPTIMIZER_NAMES,
  trainClassifier,
  type TrainConfig,
} from "./src/app/classify.ts";
export * from "./src/nlp/mod.ts";
export {
  /** Adam as a solver on an NLP model (`adam(f, data)` is the training-loop shorthand). */
  adam as adamSolver,
  type AdamSolverOptions,
  type AdamState,
  type CheckResult,
  type DeviceLoop,
  epsOf,
  ExecutionStats,
  lbfgs,
  LBFGSModel,
  type LBFGSModelOptions,
  LBFGSOperator,
  type LBFGSOptions,
  type LBFGSPushOptions,
  type LBFGSSolverOptions,
  type LBFGSState,
  LSR1Model,
  type LSR1ModelOptions,
  LSR1Operator,
  type LSR1Options,
  PairOperator,
  type PushOptions,
  type QuasiNewtonModel,
  type QuasiNewtonNLP,
  type QuasiNewtonOperator,
  type QuasiNewtonOptions,
  R2,
  type R2Options,
  type R2State,
  type SolverCallback,
  type SolverOptions,
  type SolverSpecific,
  type SolverState,
  type SolverStatus,
  type StatsCounters,
  STATUSES,
  trunk,
  type TrunkOptions,
  type TrunkState,
} from "./src/solvers/mod.ts";
// Issue 14: the fomo/TR solver surface and hyperparameter search.
export {
  type FirstOrderVariant,
  fomo,
  type R2Params,
  type R2SolveOptions,
  R2Solver,
  TR,
} from "./src/solvers/mod.ts";
export * from "./src/tune/mod.ts";
