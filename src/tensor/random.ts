/**
 * A seeded pseudo-random generator (xoshiro128**, seeded through splitmix32) for
 * reproducible initialisation, shuffling and dropout masks.
 *
 * @module
 */

/** A seeded generator of uniform and normal variates. */
export class Rng {
  #s = new Uint32Array(4);
  #spare: number | null = null;

  /** A generator from a 32-bit integer seed. */
  constructor(seed = 0) {
    this.seed(seed);
  }

  /**
   * Re-seeds the generator. The seed must be an integer in [0, 2³² − 1] (what the
   * generator holds; a larger one would wrap onto another seed), else an Error.
   */
  seed(seed: number): void {
    if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
      throw new Error(
        `seed: expected an integer in [0, ${MAX_SEED}] (the generator holds 32 bits), got ${seed}`,
      );
    }
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.#s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    this.#spare = null;
  }

  /**
   * The generator's full state (four 32-bit words and the cached normal variate), so a
   * run can be checkpointed and resumed with the same random stream.
   */
  getState(): number[] {
    return [...this.#s, this.#spare === null ? NaN : this.#spare];
  }

  /** Restores a state returned by {@link Rng.getState}. */
  setState(state: readonly number[]): void {
    if (
      state.length !== 5 ||
      !state.slice(0, 4).every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32) ||
      state.slice(0, 4).every((w) => w === 0)
    ) {
      throw new Error(`Rng.setState: expected 4 non-zero 32-bit words and a spare, got [${state}]`);
    }
    for (let i = 0; i < 4; i++) this.#s[i] = state[i];
    this.#spare = Number.isNaN(state[4]) ? null : state[4];
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.#s;
    const r = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return r;
  }

  /** A uniform number in [0, 1). */
  uniform(): number {
    // 53 random bits.
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A standard normal variate (Box–Muller). */
  normal(): number {
    if (this.#spare !== null) {
      const v = this.#spare;
      this.#spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The largest seed {@link Rng.seed} takes (2³² − 1). */
export const MAX_SEED = 2 ** 32 - 1;

/** The global generator used when no `rng` is given. */
export const globalRng: Rng = new Rng(0);

/** Seeds the global generator (like Julia's `Random.seed!`). */
export function seed(s: number): void {
  globalRng.seed(s);
}
