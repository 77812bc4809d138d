/**
 * Neural networks (and any tape-differentiable function) as smooth unconstrained
 * problems min f(x) for the solvers in src/solvers: the problem interface, the packed
 * flat parameters, `NeuralNLPModel` and `ADNLPModel`.
 *
 * @module
 */

export type { NLPCounters, NLPMeta, SmoothNLP } from "./nlp.ts";
export { type PackedParams, packParams, slotAlignment, writeGradients } from "./flat.ts";
export { ADNLPModel, type ADNLPOptions, checkVars, cloneTensor } from "./adnlp.ts";
export { type NeuralAccuracyOptions, NeuralNLPModel, type NeuralNLPOptions } from "./neural.ts";
