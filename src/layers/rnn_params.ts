/**
 * Knet's `rnnparam(r, layer, id, param)` and `rnnparams(r)`: one gate's weight matrix or
 * bias of an {@link RNN}, addressed as Knet (and cuDNN) address them.
 *
 * - `layer`: 1..numLayers, or 1..2·numLayers when bidirectional (forward and backward
 *   directions alternate: 1 = layer 1 forward, 2 = layer 1 backward, ...).
 * - `id`: relu/tanh 1 (input), 2 (hidden); LSTM input gate 1,5, forget 2,6, new memory
 *   3,7, output 4,8; GRU reset 1,4, update 2,5, new memory 3,6 (1..G on the input side,
 *   G+1..2G on the hidden side).
 * - `param`: 1 = the weight matrix, 2 = the bias vector.
 *
 * A weight is [H, inputs] row-major, Knet's transposed (inputs, H) column-major matrix
 * (the same memory); a bias is [H]. The first layer's input matrices are null with
 * `skipInput` (its input biases still exist).
 *
 * @module
 */

import type { Param } from "../autograd/param.ts";
import { slice } from "../ops/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { RNN } from "./rnn.ts";

function where(r: RNN, layer: number, id: number, param: number) {
  const G = r.gates, dirs = r.directions;
  const layers = r.numLayers * dirs;
  const ok = Number.isInteger(layer) && layer >= 1 && layer <= layers &&
    Number.isInteger(id) && id >= 1 && id <= 2 * G && (param === 1 || param === 2);
  if (!ok) {
    throw new Error(
      `rnnparam: bad arguments (layer ${layer}, id ${id}, param ${param}) for ${r.name}: ` +
        `layer must be in 1..${layers}, id in 1..${2 * G}, param 1 (weight) or 2 (bias)`,
    );
  }
  const w = r.weights[Math.floor((layer - 1) / dirs)][(layer - 1) % dirs];
  const input = id <= G;
  const gate = (id - 1) % G;
  const src: Param | null = param === 1 ? (input ? w.W : w.R) : (input ? w.bW : w.bR);
  return { src, gate, H: r.hiddenSize };
}

/**
 * One weight matrix ([H, inputs], param 1) or bias ([H], param 2) of `r` (Knet's
 * `rnnparam`; see the module comment for `layer` and `id`), as a new tensor sliced from
 * the layer's Param (differentiable inside `diff`), or null for the input weights of a
 * `skipInput` first layer.
 */
export function rnnparam(r: RNN, layer: number, id: number, param: number): Tensor | null {
  const { src, gate, H } = where(r, layer, id, param);
  if (src === null) return null;
  return slice(src, [[gate * H, (gate + 1) * H]]);
}

/**
 * Every parameter of `r` in Knet's order: all weight matrices, then all biases, each
 * sorted by (layer, id). Input matrices of a `skipInput` first layer are null.
 */
export function rnnparams(r: RNN): (Tensor | null)[] {
  const out: (Tensor | null)[] = [];
  const layers = r.numLayers * r.directions;
  for (const param of [1, 2]) {
    for (let l = 1; l <= layers; l++) {
      for (let id = 1; id <= 2 * r.gates; id++) out.push(rnnparam(r, l, id, param));
    }
  }
  return out;
}
