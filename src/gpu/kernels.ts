/**
 * The WGSL sources of kernels/, embedded through text imports so that they load from
 * source, from a `deno compile` binary and from an esbuild bundle alike.
 *
 * @module
 */

import check from "../../kernels/check.wgsl" with { type: "text" };
import convNaive from "../../kernels/conv_naive.wgsl" with { type: "text" };
import im2col from "../../kernels/im2col.wgsl" with { type: "text" };
import pool from "../../kernels/pool.wgsl" with { type: "text" };
import binary from "../../kernels/binary.wgsl" with { type: "text" };
import dropout from "../../kernels/dropout.wgsl" with { type: "text" };
import gather from "../../kernels/gather.wgsl" with { type: "text" };
import gemm from "../../kernels/gemm.wgsl" with { type: "text" };
import gemmGpu from "../../kernels/gemm_gpu.wgsl" with { type: "text" };
import gemmEpilogue from "../../kernels/gemm_epilogue.wgsl" with { type: "text" };
import gemmNaive from "../../kernels/gemm_naive.wgsl" with { type: "text" };
import flatIndex from "../../kernels/flat_index.wgsl" with { type: "text" };
import optim from "../../kernels/optim.wgsl" with { type: "text" };
import r2Step from "../../kernels/r2_step.wgsl" with { type: "text" };
import reduce from "../../kernels/reduce.wgsl" with { type: "text" };
import reduceNaive from "../../kernels/reduce_naive.wgsl" with { type: "text" };
import rnnCell from "../../kernels/rnn_cell.wgsl" with { type: "text" };
import softmax from "../../kernels/softmax.wgsl" with { type: "text" };
import stridedCopy from "../../kernels/strided_copy.wgsl" with { type: "text" };
import unary from "../../kernels/unary.wgsl" with { type: "text" };
import unaryGrad from "../../kernels/unary_grad.wgsl" with { type: "text" };
import vector from "../../kernels/vector.wgsl" with { type: "text" };
import where from "../../kernels/where.wgsl" with { type: "text" };
import xent from "../../kernels/xent.wgsl" with { type: "text" };

// Shared WGSL is appended to the kernels that use it: the GEMM kernels' fused epilogue
// (BIAS, EPI, `epilogue`) and the 256-thread kernels' `flatIndex`.
const SOURCES: Record<KernelName, string> = {
  check,
  conv_naive: `${convNaive}\n${flatIndex}`,
  im2col: `${im2col}\n${flatIndex}`,
  pool,
  binary,
  dropout,
  gather,
  gemm: `${gemm}\n${gemmEpilogue}`,
  gemm_gpu: `${gemmGpu}\n${gemmEpilogue}`,
  gemm_naive: `${gemmNaive}\n${gemmEpilogue}`,
  optim: `${optim}\n${flatIndex}`,
  r2_step: `${r2Step}\n${flatIndex}`,
  reduce,
  reduce_naive: reduceNaive,
  rnn_cell: rnnCell,
  softmax,
  strided_copy: stridedCopy,
  unary,
  unary_grad: unaryGrad,
  vector,
  where,
  xent,
};

/** Names of the kernel files in kernels/ (without `.wgsl`). */
export type KernelName =
  | "check"
  | "conv_naive"
  | "im2col"
  | "pool"
  | "binary"
  | "dropout"
  | "gather"
  | "gemm"
  | "gemm_gpu"
  | "gemm_naive"
  | "optim"
  | "r2_step"
  | "reduce"
  | "reduce_naive"
  | "rnn_cell"
  | "softmax"
  | "strided_copy"
  | "unary"
  | "unary_grad"
  | "vector"
  | "where"
  | "xent";

/** All kernel names. */
export const KERNEL_NAMES = Object.keys(SOURCES) as KernelName[];

/** The WGSL source of a kernel. */
export function kernelSource(name: KernelName): string {
  const src = SOURCES[name];
  if (src === undefined) throw new Error(`denet gpu: unknown kernel '${name}'`);
  return src;
}
