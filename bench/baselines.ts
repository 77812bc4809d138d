/**
 * Baseline kernels for the benchmarks, launched through the same runtime as denet's own:
 * - unary: unary.wgsl's `main` entry point (one element per invocation, no vec4);
 * - binary: binary.wgsl's general broadcast path (MODE 1: per-element index arithmetic);
 * - row sum: kernels/reduce_naive.wgsl (one invocation per row, a serial loop).
 */

import { gpuRuntime } from "../src/gpu/runtime.ts";
import { grid2d, UniformWriter } from "../src/gpu/uniforms.ts";
import {
  BINARY_OPS,
  type BinaryOpName,
  UNARY_OPS,
  type UnaryOpName,
} from "../src/ops/elementwise.ts";
import { broadcastShapes, broadcastStrides } from "../src/tensor/shape.ts";
import { emptyGpu, type Tensor } from "../src/tensor/tensor.ts";

/** A unary op through the one-element-per-invocation entry point. */
export function baselineUnary(name: UnaryOpName, x: Tensor): Tensor {
  const y = emptyGpu(x.shape);
  gpuRuntime().dispatch({
    kernel: "unary",
    constants: { OP: UNARY_OPS[name].code },
    uniforms: new UniformWriter().u32(x.size).f32(0).build(),
    buffers: [x.buffer(), y.buffer()],
    workgroups: grid2d(Math.ceil(x.size / 256)),
  });
  return y;
}

/** A binary op through the general broadcast path (index arithmetic per element). */
export function baselineBinary(name: BinaryOpName, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(name, a.shape, b.shape);
  const y = emptyGpu(shape);
  const w = new UniformWriter().u32(y.size).u32(shape.length).f32(0).u32(0);
  w.u32Array(shape, 8).u32Array(broadcastStrides(a.shape, shape), 8);
  w.u32Array(broadcastStrides(b.shape, shape), 8);
  gpuRuntime().dispatch({
    kernel: "binary",
    constants: { OP: BINARY_OPS[name].code, MODE: 1 },
    uniforms: w.build(),
    buffers: [a.buffer(), b.buffer(), y.buffer()],
    workgroups: grid2d(Math.ceil(y.size / 256)),
  });
  return y;
}

/** Row sums of a [rows, len] tensor, one invocation per row. */
export function baselineRowSum(x: Tensor): Tensor {
  const [rows, len] = x.shape;
  const y = emptyGpu([rows]);
  // Column slices of 16 384: llvmpipe silently stops one invocation's loops after about
  // 65 535 iterations (see kernels/reduce_naive.wgsl).
  for (let j0 = 0; j0 < Math.max(len, 1); j0 += 16384) {
    gpuRuntime().dispatch({
      kernel: "reduce_naive",
      uniforms: new UniformWriter().u32(rows).u32(len).u32(j0).u32(Math.min(len, j0 + 16384))
        .build(),
      buffers: [x.binding(), y.binding()],
      workgroups: grid2d(Math.ceil(rows / 64)),
    });
  }
  return y;
}
