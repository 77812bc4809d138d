/**
 * The reshape view as an op, so that `Tensor.reshape` is recorded by the tape like any
 * other op. No data moves on either device: the result shares the input's storage
 * (a second reference to the GPU buffer).
 *
 * @module
 */

import { Tensor } from "../tensor/tensor.ts";
import { defineOp } from "./registry.ts";

/** The reshape op (called by {@link Tensor.reshape}; shapes are validated there). */
export const reshapeOp: ReturnType<typeof defineOp<{ shape: readonly number[] }>> = defineOp<
  { shape: readonly number[] }
>({
  name: "reshape",
  cpu: ([x], { shape }) => new Tensor(shape, x.dtype, x.host("reshape")),
  gpu: ([x], { shape }) => new Tensor(shape, "f32", x.gpuStorage()?.retain() ?? null),
  backward: (dy, [x]) => [dy.reshape(x.shape)],
});
