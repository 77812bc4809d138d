/**
 * The GPU fast path of {@link R2Solver}'s iteration without momentum and with M = 1 (R2
 * and TR as JSO runs them by default): kernels/r2_step.wgsl computes the trial point,
 * the ratio test with everything it decides, and the masked accept in three dispatches
 * (plus ‖∇f‖ at the trial), where the generic path spends ~40 dispatches on one-element
 * tensors. The expressions and their order are the generic path's, so the iterates are
 * the same; tests/r2_fused_test.ts checks them against it.
 *
 * @module
 */

import { gpuRuntime } from "../gpu/runtime.ts";
import { grid2d, UniformWriter } from "../gpu/uniforms.ts";
import type { Tensor } from "../tensor/tensor.ts";

let enabled = true;

/**
 * Turns the fused step off (or back on) for solvers built afterwards: the generic path
 * then runs on the GPU too (tests compare the two). @internal
 */
export function setFusedR2(on: boolean): void {
  enabled = on;
}

/** Whether solvers built now take the fused step where it applies. @internal */
export function fusedR2Enabled(): boolean {
  return enabled;
}

/** The parameters the fused step needs (R2Solver's resolved ones). */
export interface FusedR2Params {
  eta1: number;
  eta2: number;
  gamma1: number;
  gamma2: number;
  alphaMax: number;
  /** The trust-region step (μ = α/‖∇f‖) instead of R2's (μ = α). */
  tr: boolean;
}

/**
 * The fused step over a solver's flat scalar state (`state`, slot k at element
 * k·`stride`, in R2Solver's scalar order) for vectors of `n` elements.
 */
export class FusedR2Step {
  readonly #state: Tensor;
  readonly #changed: GPUBuffer;
  readonly #uniforms: ArrayBuffer;
  readonly #n: number;

  constructor(state: Tensor, stride: number, n: number, p: FusedR2Params) {
    const rt = gpuRuntime();
    this.#state = state;
    this.#n = n;
    this.#changed = rt.alloc(16);
    rt.clear(this.#changed, 0, 16);
    this.#uniforms = new UniformWriter().u32(n).u32(stride).u32(p.tr ? 1 : 0).u32(0)
      .f32(p.eta1).f32(p.eta2).f32(p.gamma1 - 1).f32(p.gamma2 - 1).f32(p.alphaMax).build();
  }

  /** One dispatch; `bindings` are the kernel's bindings 2..9 (S and CH are added here). */
  #dispatch(entryPoint: string, bindings: (Tensor | null)[], flag: boolean, n: number): void {
    const rt = gpuRuntime();
    const rest = bindings.map((t) => t === null ? null : t.binding("R2"));
    while (rest.length < 7) rest.push(null);
    rt.dispatch({
      kernel: "r2_step",
      entryPoint,
      uniforms: this.#uniforms,
      buffers: [this.#state.binding("R2"), ...rest, flag ? this.#changed : null],
      workgroups: n > 0 ? grid2d(Math.ceil(n / 256)) : [1],
    });
  }

  /** xt ← x − μ·d, noting whether any entry moved. */
  trial(x: Tensor, d: Tensor, xt: Tensor): void {
    this.#dispatch("trial", [x, d, xt], true, this.#n);
  }

  /** The ratio test on f(xt) = `ft` and ‖∇f(xt)‖ = `gnT` ([1] each) and what it decides. */
  decide(ft: Tensor, gnT: Tensor): void {
    this.#dispatch("decide", [null, null, null, null, null, ft, gnT], true, 0);
  }

  /** x ← xt and g ← gt when the step was accepted. */
  accept(x: Tensor, xt: Tensor, g: Tensor, gt: Tensor): void {
    this.#dispatch("accept", [x, null, xt, g, gt], false, this.#n);
  }

  /** Frees the change flag. */
  dispose(): void {
    gpuRuntime().free(this.#changed);
  }
}
