/**
 * Numerical gradient check (Knet's `@gcheck`): compares the gradients `diff` computes
 * with central differences at a few sampled elements of every Param.
 *
 * @module
 */

import { backendOf } from "../backend.ts";
import { binary } from "../ops/elementwise.ts";
import { sum } from "../ops/reduce.ts";
import { randn } from "../tensor/create.ts";
import { Rng } from "../tensor/random.ts";
import { tidy } from "../tensor/scope.ts";
import { Tensor } from "../tensor/tensor.ts";
import { diff, type DiffResult, params } from "./diff.ts";
import { Param } from "./param.ts";

/** Options of {@link gcheck} (Knet's defaults). */
export interface GcheckOptions {
  /** Elements sampled per Param (default 10; all when the Param is smaller). */
  nsample?: number;
  /** Absolute tolerance (default 0.01). */
  atol?: number;
  /** Relative tolerance (default 0.05). */
  rtol?: number;
  /** Finite-difference step (default 1e-4). */
  delta?: number;
  /** Print each mismatch on stderr (default true). */
  verbose?: boolean;
  /** Seed of the sampling and of the projection of a non-scalar output (default 1). */
  seed?: number;
}

const OPTION_KEYS = new Set(["nsample", "atol", "rtol", "delta", "verbose", "seed"]);

function isOptions(v: unknown): v is GcheckOptions {
  return v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype &&
    Object.keys(v).length > 0 && Object.keys(v).every((k) => OPTION_KEYS.has(k));
}

async function scalarOf(t: Tensor): Promise<number> {
  const v = await t.item();
  t.dispose();
  return v;
}

/**
 * Checks `f(...args)`'s gradients with respect to the Params found in `args` (Tensors
 * are wrapped as Params when there are none) against central differences
 * (f(w+δ) − f(w−δ)) / 2δ at `nsample` random elements each; they agree when
 * |analytic − numeric| ≤ max(atol, rtol·max(|analytic|, |numeric|)). A non-scalar
 * output is reduced to Σ f·r with a fixed random r. An options object may follow the
 * arguments. Resolves to true when every sample agrees.
 */
export async function gcheck(
  f: (...args: any[]) => Tensor,
  ...rest: unknown[]
): Promise<boolean> {
  const opts: GcheckOptions = rest.length > 0 && isOptions(rest[rest.length - 1])
    ? rest.pop() as GcheckOptions
    : {};
  const { nsample = 10, atol = 0.01, rtol = 0.05, delta = 1e-4, verbose = true } = opts;
  const rng = new Rng(opts.seed ?? 1);
  let args = rest;
  const wrapped: Param[] = [];
  if (params(args).length === 0) {
    args = args.map((a) => {
      if (!(a instanceof Tensor)) return a;
      const p = new Param(a);
      wrapped.push(p);
      return p;
    });
  }
  const ps = params(args);
  let proj: Tensor | null = null;
  let result: DiffResult | null = null;
  let ok = true;
  try {
    if (ps.length === 0) throw new Error("gcheck: no Params or Tensors among the arguments");
    // The probe's intermediates are released like every other evaluation's.
    proj = tidy(() => {
      const probe = f(...args);
      return probe.size === 1
        ? null
        : randn(probe.shape, { dtype: probe.dtype, device: probe.device, rng });
    });
    const objective = () => {
      const y = f(...args);
      return proj ? sum(binary("mul", y, proj)) : y;
    };
    const evalAt = () => scalarOf(tidy(objective));
    result = diff(objective);
    for (const [k, p] of ps.entries()) {
      const g = result.grad(p);
      const analytic = g ? await g.data() : new Float64Array(p.size);
      const values = await p.data();
      const picks = p.size <= nsample
        ? [...Array(p.size).keys()]
        : Array.from({ length: nsample }, () => rng.int(p.size));
      for (const i of picks) {
        const v = values[i];
        let fp: number;
        let fm: number;
        try {
          setElement(p, i, v + delta);
          fp = await evalAt();
          setElement(p, i, v - delta);
          fm = await evalAt();
        } finally {
          setElement(p, i, v); // restored even when f throws
        }
        const numeric = (fp - fm) / (2 * delta);
        const a = analytic[i];
        const err = Math.abs(a - numeric);
        if (!(err <= Math.max(atol, rtol * Math.max(Math.abs(a), Math.abs(numeric))))) {
          ok = false;
          if (verbose) {
            console.error(
              `gcheck: param ${k} ${p.dtype}[${p.shape}] element ${i}: analytic ${a}, numeric ${numeric}`,
            );
          }
        }
      }
    }
  } finally {
    result?.dispose();
    proj?.dispose();
    for (const p of wrapped) p.dispose();
  }
  return ok;
}

/** Sets one element of a Param in place (for the finite differences). */
function setElement(p: Param, i: number, v: number): void {
  backendOf(p.device).write(p, i, p.dtype === "f64" ? Float64Array.of(v) : Float32Array.of(v));
}
