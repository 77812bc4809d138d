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
 * Shapes are row-major (Knet's dims reversed); class labels are 0-based. This entry holds
 * what programs call; the WebGPU runtime, kernel sources, file codecs and other internals
 * are in `internals.ts` (the package's `./internals` export).
 *
 * @module
 */

// Tensors, devices and values.
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
export {
  defaultDevice,
  type DeviceChoice,
  deviceChoice,
  init,
  type InitOptions,
  isSoftwareAdapter,
  setDefaultDevice,
} from "./src/tensor/device.ts";
export { globalRng, Rng, seed } from "./src/tensor/random.ts";
export { keep, tidy } from "./src/tensor/scope.ts";
export { show } from "./src/tensor/display.ts";
export { type Counters, counters, resetCounters } from "./src/gpu/counters.ts";
export { VERSION } from "./src/version.ts";

// Ops.
export * from "./src/ops/math.ts";
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
export { bmm, gemm, type GemmKernel, type GemmOptions, matmul } from "./src/ops/matmul.ts";
export { linear, type LinearActivation } from "./src/ops/linear.ts";
export { conv4Bias } from "./src/ops/conv_bias.ts";
export { axpby, axpy, copyInto, fill, scal } from "./src/ops/vector.ts";
export { where, whereInto } from "./src/ops/where.ts";
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
export { type Indices, mat, take } from "./src/ops/indexing.ts";
export { dropout, type DropoutOptions } from "./src/ops/dropout.ts";
export { xent } from "./src/ops/xent.ts";
export {
  batchnorm,
  type BatchnormOpOptions,
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
export { conv4, type ConvOptions, deconv4, type Pair } from "./src/ops/conv.ts";
export { type BackwardRule, defineOp, type OpDef, type OpImpl } from "./src/ops/registry.ts";

// Autograd.
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
export { noRecord } from "./src/autograd/tape.ts";
export { gcheck, type GcheckOptions } from "./src/autograd/gcheck.ts";

// Losses and initialisers.
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

// Data.
export {
  type Batch,
  Data,
  DataIterator,
  minibatch,
  type MinibatchOptions,
} from "./src/data/minibatch.ts";
export { type EnsureOptions } from "./src/data/download.ts";
export { dataDir, type DirLike } from "./src/data/paths.ts";
export {
  FASHION_MNIST_CLASSES,
  fashionMnist,
  mnist,
  type MnistData,
  type MnistOptions,
} from "./src/data/mnist.ts";
export {
  housing,
  HOUSING_COLUMNS,
  type HousingData,
  type HousingOptions,
} from "./src/data/housing.ts";
export {
  charCorpus,
  type TextCorpus,
  textCorpus,
  type TextCorpusOptions,
} from "./src/data/text.ts";
export {
  bptt,
  BpttBatches,
  type BpttOptions,
  type BpttWindow,
  splitHeldOut,
} from "./src/data/bptt.ts";

// Layers, optimizers, training loops, checkpoints, ready-made models and the CLI's job.
export * from "./src/layers/mod.ts";
export type { Optimizer, OptimizerConfig } from "./src/optim/optimizer.ts";
export {
  Adadelta,
  Adagrad,
  type AdagradOptions,
  Adam,
  type AdamOptions,
  gclip,
  Momentum,
  type MomentumOptions,
  Nesterov,
  OptimizerBase,
  type OptimizerOptions,
  Rmsprop,
  type RmspropOptions,
  SGD,
  type SGDOptions,
} from "./src/optim/optimizers.ts";
export { update } from "./src/optim/update.ts";
export { Converge, converge, type ConvergeOptions } from "./src/train/converge.ts";
export { cycle, limit, ncycle } from "./src/train/iterators.ts";
export {
  type LossFunction,
  minimize,
  type MinimizeOptions,
  type TrainBatch,
  Trainer,
} from "./src/train/minimize.ts";
export {
  adadelta,
  adagrad,
  adam,
  momentum,
  nesterov,
  rmsprop,
  sgd,
} from "./src/train/optimizers.ts";
export {
  Progress,
  progress,
  type ProgressOptions,
  type ProgressOutput,
} from "./src/train/progress.ts";
export {
  type CheckpointInfo,
  type CheckpointOptimizerInfo,
  type CheckpointTensorInfo,
  loadCheckpoint,
  type LoadCheckpointOptions,
  readCheckpointInfo,
  saveCheckpoint,
  type SaveCheckpointOptions,
} from "./src/io/checkpoint.ts";
export type { SafetensorsDType } from "./src/io/safetensors.ts";
export { lenetModel, mlpModel, type ModelOptions, softmaxModel } from "./src/models.ts";
export {
  type EpochReport,
  type EvalOptions,
  type EvalReport,
  evaluateCheckpoint,
  trainClassifier,
  type TrainConfig,
} from "./src/app/classify.ts";
export { CharLM, type CharLMOptions } from "./src/app/charlm.ts";
export {
  CHARLM_DEFAULTS,
  type CharLMEpoch,
  charlmLoss,
  type CharLMTrainOptions,
  trainCharLM,
} from "./src/app/charlm_train.ts";
export {
  type CharLMJob,
  loadCharLM,
  readCharLMJob,
  saveCharLM,
} from "./src/app/charlm_checkpoint.ts";
export { drawIndex, sample, type SampleOptions } from "./src/app/generate.ts";

// Pictures and metrics.
export { imageGrid, type ImageGridOptions, saveImageGrid } from "./src/app/image_grid.ts";
export {
  type ChartOptions,
  type CurvePoint,
  lineChartSVG,
  type Panel,
  type Series,
  TrainingCurves,
} from "./src/app/plot.ts";
export { ConfusionMatrix } from "./src/app/confusion.ts";

// Networks as optimization problems, and their solvers.
export type { NLPCounters, NLPMeta, SmoothNLP } from "./src/nlp/nlp.ts";
export { ADNLPModel, type ADNLPOptions } from "./src/nlp/adnlp.ts";
export type { PackedParams } from "./src/nlp/flat.ts";
export {
  type NeuralAccuracyOptions,
  NeuralNLPModel,
  type NeuralNLPOptions,
} from "./src/nlp/neural.ts";
export {
  /** Adam as a solver on an NLP model (`adam(f, data)` is the training-loop shorthand). */
  adam as adamSolver,
  type AdamSolverOptions,
  type AdamState,
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
