/**
 * Parameters packed flat (DESIGN.md): {@link packParams} moves every Param of a model
 * into one contiguous buffer, each Param becoming a view of its slot, so the flat
 * vector x an optimization solver works on *is* the model's weights: no gather or
 * scatter between solver steps and forward passes.
 *
 * Layout. On the GPU a storage binding's byte offset must be a multiple of the
 * adapter's `minStorageBufferOffsetAlignment` (256 bytes on most adapters), so each
 * slot starts at a multiple of that alignment and the gaps between slots are padding:
 * zeros that stay zero (f does not depend on them and every gradient written by
 * {@link writeGradients} is zero there, so solvers never move them). `x` covers the
 * whole buffer, padding included: `x.size` (the NLP model's `nvar`) is the sum of the
 * parameter sizes plus the padding. On the CPU slots are views with no gaps. Both devices
 * go through the same code, by way of the backend seam (src/backend.ts).
 *
 * @module
 */

import type { DiffResult } from "../autograd/diff.ts";
import { namedParams } from "../autograd/diff.ts";
import type { Param } from "../autograd/param.ts";
import { backendOf, sharedStorage } from "../backend.ts";
import { keep } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";

/** A model's parameters packed into one flat vector (see {@link packParams}). */
export interface PackedParams {
  /** The whole flat vector (rank 1; on the GPU it includes the alignment padding). */
  readonly x: Tensor;
  /** x.size: the number of variables, padding included. */
  readonly nvar: number;
  /** The parameters' total size (nvar minus the padding). */
  readonly nparams: number;
  /** Each parameter's element offset in x, in the order of {@link params}. */
  readonly offsets: readonly number[];
  /** The packed Params (the model's own objects), in `namedParams` order. */
  readonly params: readonly Param[];
  /** Their paths in the model (as `namedParams` names them). */
  readonly names: readonly string[];
}

/** Element alignment of slots on a device (1 on the CPU). */
export function slotAlignment(device: "cpu" | "gpu"): number {
  return backendOf(device).viewAlignment();
}

/**
 * Packs every Param of `model` (found by `namedParams`) into one flat buffer on their
 * device: allocates it, copies each Param's values into its aligned slot (GPU: one
 * buffer copy per Param, no kernel), and re-points each Param (and its `.value` alias)
 * at its slot, releasing its reference to the old storage. Param objects keep their
 * identity, so layers holding them see the packed weights; other tensors that still
 * share a Param's old storage keep the old values. All Params must share one device
 * and dtype. Packing again moves the Params into a new buffer (the old `x` keeps its
 * values but is no longer the model's weights).
 */
export function packParams(model: unknown): PackedParams {
  const named = namedParams(model).filter(([, p]) => !p.disposed);
  if (named.length === 0) throw new Error("packParams: the model has no (live) Params");
  const [name0, p0] = named[0];
  for (const [name, p] of named) {
    if (p.device !== p0.device || p.dtype !== p0.dtype) {
      throw new Error(
        `packParams: all Params must share device and dtype; ${name0} is ${p0.dtype} on ` +
          `${p0.device} but ${name} is ${p.dtype} on ${p.device}`,
      );
    }
  }
  const device = p0.device;
  const align = slotAlignment(device);
  const offsets: number[] = [];
  let n = 0;
  let nparams = 0;
  for (const [, p] of named) {
    n = Math.ceil(n / align) * align;
    offsets.push(n);
    n += p.size;
    nparams += p.size;
  }
  const params = named.map(([, p]) => p);
  const names = named.map(([name]) => name);
  const be = backendOf(device);
  const x = keep(be.empty([n], p0.dtype));
  be.clear(x, 0, n); // the padding between slots stays zero
  params.forEach((p, i) => {
    if (p.size === 0) return;
    be.copy(p, 0, x, offsets[i], p.size);
    const slot = be.view(x, offsets[i], p.shape);
    p.replaceStorage(sharedStorage(slot));
    p.value.replaceStorage(sharedStorage(slot));
    slot.dispose();
  });
  return { x, nvar: n, nparams, offsets, params, names };
}

/**
 * g ← the gradients of `result` placed in the Params' slots of `packed` (a Param that
 * took no part, and the padding, get zeros). GPU: one buffer copy per Param (plus one
 * buffer clear per run of padding or missing gradients), no kernel. Returns g.
 */
export function writeGradients(packed: PackedParams, result: DiffResult, g: Tensor): Tensor {
  if (g.size !== packed.nvar || g.device !== packed.x.device || g.dtype !== packed.x.dtype) {
    throw new Error(
      `writeGradients: g is ${g.dtype}[${g.shape.join(",")}] on ${g.device} but the packed ` +
        `params need ${packed.x.dtype}[${packed.nvar}] on ${packed.x.device}`,
    );
  }
  const { params, offsets } = packed;
  const be = backendOf(g.device);
  let end = 0; // the first element not yet written
  params.forEach((p, i) => {
    const d = p.size > 0 ? result.grad(p) : null;
    if (!d) return;
    if (offsets[i] > end) be.clear(g, end, offsets[i] - end);
    be.copy(d, 0, g, offsets[i], p.size);
    end = offsets[i] + p.size;
  });
  if (packed.nvar > end) be.clear(g, end, packed.nvar - end);
  return g;
}
