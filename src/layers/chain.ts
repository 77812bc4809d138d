/**
 * Composition of layers (Knet's `Chain`) and its alias {@link Sequential}.
 *
 * @module
 */

import { type Dataset, type LossOptions, nll } from "../loss.ts";
import { tidy } from "../tensor/scope.ts";
import { Tensor } from "../tensor/tensor.ts";
import { type Layer, paramCount, placementOf } from "./layer.ts";

/** An element of a {@link Chain}: a {@link Layer} or a plain function of a tensor. */
export type ChainElement = Layer | ((x: Tensor) => Tensor);

function isElement(l: unknown): l is ChainElement {
  return typeof l === "function" ||
    (l !== null && typeof l === "object" && typeof (l as Layer).forward === "function");
}

function elementName(l: ChainElement): string {
  if (typeof l === "function") return l.name ? `${l.name} (function)` : "(function)";
  if (l.toString === Object.prototype.toString) {
    return `${(l as object).constructor?.name ?? "Layer"} (layer)`;
  }
  return String(l);
}

/**
 * Layers applied in turn (Knet's `Chain(layers...)`): `forward(x)` is
 * `layers[n−1](… layers[0](x))`, each element a {@link Layer} or a function
 * `(x) => Tensor`. `layers` is public, so `params(chain)` finds every Param and
 * `namedParams(chain)` names them `layers.0.w`, `layers.0.b`, …. `loss(x, y)` is
 * Knet's `(c::Chain)(x, y)`: `nll(forward(x), y)`.
 *
 * The intermediate results are released when `forward` returns (only its result stays
 * alive), also for plain-function elements.
 *
 * ```ts
 * const lenet = new Chain(
 *   new Conv(5, 5, 1, 20), new Pool(), new Conv(5, 5, 20, 50), new Pool(),
 *   new Flatten(), new Dense(800, 500), new Dense(500, 10, { activation: "identity" }),
 * );
 * const J = diff(() => lenet.loss(x, y));            // x [N,1,28,28], y [N] labels
 * console.log(String(lenet));                        // one line per layer
 * ```
 */
export class Chain implements Layer {
  /** The elements, applied first to last. */
  readonly layers: ChainElement[];

  /** A chain of `layers` (Layer objects or functions). */
  constructor(...layers: ChainElement[]) {
    layers.forEach((l, i) => {
      if (!isElement(l)) {
        throw new Error(
          `${this.kind}: layer ${i} is not a Layer (an object with forward(x)) or a ` +
            `function (x) => Tensor, got ${l === null ? "null" : typeof l}${
              Array.isArray(l) ? " (an array: spread it, new Chain(...layers))" : ""
            }`,
        );
      }
    });
    this.layers = layers;
  }

  /** The name in descriptions and errors (`Chain`, or `Sequential` for the alias). */
  protected get kind(): string {
    return "Chain";
  }

  /** Applies the layers in turn; errors name the layer's index. */
  forward(x: Tensor): Tensor {
    return tidy(() => {
      let h = x;
      this.layers.forEach((l, i) => {
        let out: unknown;
        try {
          out = typeof l === "function" ? l(h) : l.forward(h);
        } catch (e) {
          if (e instanceof Error) {
            throw new Error(`${this.kind} layer ${i}: ${e.message}`, { cause: e });
          }
          throw e;
        }
        if (!(out instanceof Tensor)) {
          throw new Error(
            `${this.kind} layer ${i} (${elementName(l)}) returned ${
              out === null ? "null" : typeof out
            }, not a Tensor`,
          );
        }
        h = out;
      });
      return h;
    });
  }

  /** Knet's `(c::Chain)(x, y)`: `nll(forward(x), y)`, the mean negative log-likelihood. */
  loss(x: Tensor, y: Tensor, opts?: LossOptions): Tensor;
  /**
   * Knet's `(c::Chain)(data)`: the negative log-likelihood over a dataset of `[x, y]`
   * batches, evaluated without recording and read back once (see `nll(model, data)`).
   */
  loss(data: Dataset, opts?: LossOptions): Promise<number>;
  loss(
    a: Tensor | Dataset,
    b?: Tensor | LossOptions,
    c?: LossOptions,
  ): Tensor | Promise<number> {
    if (a instanceof Tensor) {
      if (!(b instanceof Tensor)) {
        throw new Error(`${this.kind}.loss: expected labels y as a Tensor, got ${typeof b}`);
      }
      return tidy(() => nll(this.forward(a), b, c));
    }
    return nll(this, a, b as LossOptions | undefined);
  }

  /** The number of parameter elements (each distinct Param counted once). */
  get paramCount(): number {
    return paramCount(this);
  }

  /** Releases the Params of every layer that has a `dispose` method. */
  dispose(): void {
    for (const l of this.layers) {
      const d = (l as { dispose?: unknown }).dispose;
      if (typeof l !== "function" && typeof d === "function") d.call(l);
    }
  }

  /**
   * A summary: a heading with the layer and parameter counts, then one line per layer
   * with its description (Params and their shapes) and its parameter count.
   */
  toString(): string {
    const place = placementOf(this);
    // The dtype and device go once in the heading when every Param shares them.
    const strip = (s: string) =>
      place !== "" && s.endsWith(` ${place}`) ? s.slice(0, -place.length - 1) : s;
    const lines = this.layers.map((l, i) =>
      [`${i}: ${strip(elementName(l))}`, paramCount(l)] as const
    );
    const width = Math.max(0, ...lines.map(([s]) => s.length));
    const cw = Math.max(1, ...lines.map(([, n]) => String(n).length));
    const n = this.layers.length;
    return [
      `${this.kind}(${n} layer${n === 1 ? "" : "s"}, ${this.paramCount} parameters${
        place ? `, ${place}` : ""
      })`,
      ...lines.map(([s, k]) => `  ${s.padEnd(width)}  ${String(k).padStart(cw)}`),
    ].join("\n");
  }

  /** The summary of {@link Chain.toString} in the REPL and console.log. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }

  /** What `deno jupyter` displays: the summary, as text and as a preformatted block. */
  [Symbol.for("Jupyter.display")](): Record<string, string> {
    const text = this.toString();
    const html = text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    return { "text/plain": text, "text/html": `<pre>${html}</pre>` };
  }
}

/**
 * Another name for {@link Chain} (PyTorch's and Keras's), with the same behaviour; its
 * descriptions and errors say `Sequential`.
 */
export class Sequential extends Chain {
  /** The name in descriptions and errors. */
  protected override get kind(): string {
    return "Sequential";
  }
}
