/**
 * Knet's character-level language model (the CharLM tutorial and benchmark row): an
 * embedding of each character, an LSTM, and a linear map to the scores of the next
 * character, trained by softmax cross-entropy over BPTT windows.
 *
 * @module
 */

import { Dense } from "../layers/dense.ts";
import { Embedding } from "../layers/embedding.ts";
import type { LayerInitOptions } from "../layers/layer.ts";
import { RNN } from "../layers/rnn.ts";
import { nll } from "../loss.ts";
import { tidy } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";

/** Options of {@link CharLM}. */
export interface CharLMOptions extends LayerInitOptions {
  /** Width of a character's embedding (default 256, Knet's). */
  embed?: number;
  /** LSTM hidden size (default 256, Knet's). */
  hidden?: number;
}

/**
 * The model: `Embedding(vocab→embed)` → `RNN(embed→hidden, lstm)` → `Dense(hidden→vocab)`.
 * The LSTM carries its hidden and cell states from call to call (Knet's `h=0, c=0`):
 * call {@link CharLM.reset} where a text starts afresh (each epoch, each sample).
 *
 * ```ts
 * const m = new CharLM(corpus.vocab);
 * const loss = m.loss(x, y);   // x [T,B] ids, y [T·B] next ids → mean nats per char
 * ```
 */
export class CharLM {
  /** The characters, indexed by token id. */
  readonly vocab: readonly string[];
  /** Character embeddings [vocab, embed]. */
  readonly embed: Embedding;
  /** The LSTM. */
  readonly rnn: RNN;
  /** Scores of the next character. */
  readonly out: Dense;

  /** A model over `vocab` (see {@link CharLMOptions}). */
  constructor(vocab: readonly string[], opts: CharLMOptions = {}) {
    if (!Array.isArray(vocab) || vocab.length < 2) {
      throw new Error(`CharLM: the vocabulary must hold at least 2 characters, got ${vocab}`);
    }
    const { embed = 256, hidden = 256, ...init } = opts;
    this.vocab = [...vocab];
    const V = vocab.length;
    this.embed = new Embedding(V, embed, init);
    this.rnn = new RNN(embed, hidden, { ...init, rnnType: "lstm", h: 0, c: 0 });
    this.out = new Dense(hidden, V, { ...init, activation: "identity" });
  }

  /** Scores [T·B, vocab] of the character after each input of x [T, B] (token ids). */
  forward(x: Tensor): Tensor {
    if (x.rank !== 2) {
      throw new Error(`CharLM: x must be [T, B] token ids, got [${x.shape}]`);
    }
    const [T, B] = x.shape;
    return tidy(() => {
      const h = this.rnn.forward(this.embed.forward(x));
      return this.out.forward(h.reshape(T * B, this.rnn.hiddenSize));
    });
  }

  /** Mean negative log-likelihood (nats per character) of targets y [T·B] given x [T, B]. */
  loss(x: Tensor, y: Tensor): Tensor {
    return tidy(() => nll(this.forward(x), y));
  }

  /** Forgets the carried states: the next call starts from zeros. */
  reset(): void {
    this.rnn.h = 0;
    this.rnn.c = 0;
  }

  /** Releases the parameters and states. */
  dispose(): void {
    this.embed.dispose();
    this.rnn.dispose();
    this.out.dispose();
  }

  /** One line per layer. */
  toString(): string {
    return `CharLM(vocab ${this.vocab.length})\n  ${this.embed}\n  ${this.rnn}\n  ${this.out}`;
  }
}
