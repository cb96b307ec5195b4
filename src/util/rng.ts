/**
 * A small seeded pseudo-random number generator (xoshiro128**, seeded through splitmix32), so that expert
 * splits and router training are reproducible bit for bit from a seed.
 * @module
 */

const TWO_32 = 4294967296;

/** One splitmix32 step: spreads a seed over 32 bits so that nearby seeds give unrelated streams. */
function splitmix32(state: number): [number, number] {
  const s = (state + 0x9e3779b9) | 0;
  let z = s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [s, z >>> 0];
}

/**
 * Seeded PRNG (xoshiro128**: 128-bit state, period 2^128 − 1, passes BigCrush). Deterministic for a seed
 * on every platform, since it only uses 32-bit integer arithmetic.
 *
 * @example
 * ```ts
 * const rng = new Rng(42);
 * const u = rng.next(); // [0, 1)
 * const z = rng.normal(); // N(0, 1)
 * ```
 */
export class Rng {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;
  #spare: number | null = null;

  /**
   * @param seed Any finite number; integers up to 2^53 are all distinct seeds (the fraction is dropped).
   * @throws {RangeError} If `seed` is not finite.
   */
  constructor(seed = 0) {
    if (!Number.isFinite(seed)) throw new RangeError(`Rng: seed must be a finite number, got ${seed}`);
    const t = Math.trunc(seed);
    // Fold the high bits in too, so seeds differing only above bit 31 still differ.
    let st = (t >>> 0) ^ Math.imul((Math.floor(t / TWO_32) >>> 0) | 0, 0x27d4eb2d);
    let out: number;
    [st, out] = splitmix32(st);
    this.#s0 = out;
    [st, out] = splitmix32(st);
    this.#s1 = out;
    [st, out] = splitmix32(st);
    this.#s2 = out;
    [st, out] = splitmix32(st);
    this.#s3 = out;
    // xoshiro must not start from the all-zero state.
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /**
   * Next raw 32-bit output.
   * @returns An unsigned integer in [0, 2^32).
   */
  nextUint32(): number {
    const s0 = this.#s0, s1 = this.#s1, s2 = this.#s2, s3 = this.#s3;
    const m = Math.imul(s1, 5);
    const result = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
    const t = s1 << 9;
    let n2 = s2 ^ s0;
    let n3 = s3 ^ s1;
    const n1 = s1 ^ n2;
    const n0 = s0 ^ n3;
    n2 ^= t;
    n3 = (n3 << 11) | (n3 >>> 21);
    this.#s0 = n0 | 0;
    this.#s1 = n1 | 0;
    this.#s2 = n2 | 0;
    this.#s3 = n3 | 0;
    return result;
  }

  /**
   * Uniform double.
   * @returns A number in [0, 1) with 32 random bits.
   */
  next(): number {
    return this.nextUint32() / TWO_32;
  }

  /**
   * Standard normal sample (Box–Muller; the second value of each pair is cached).
   * @returns A draw from N(0, 1).
   */
  normal(): number {
    if (this.#spare !== null) {
      const v = this.#spare;
      this.#spare = null;
      return v;
    }
    // 1 − next() lies in (0, 1], so the log is finite.
    const u = 1 - this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    const a = 2 * Math.PI * v;
    this.#spare = r * Math.sin(a);
    return r * Math.cos(a);
  }

  /**
   * Uniform integer in [0, n), unbiased (rejection sampling on 32-bit outputs).
   * @param n Exclusive upper bound, an integer in [1, 2^32].
   * @returns An integer in [0, n).
   * @throws {RangeError} If `n` is not an integer in [1, 2^32].
   */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_32) {
      throw new RangeError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    }
    // Reject the top partial block of 2^32 so every residue is equally likely.
    const limit = TWO_32 - (TWO_32 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }

  /**
   * Uniform in [lo, hi).
   * @param lo Lower bound.
   * @param hi Upper bound.
   * @returns lo + (hi − lo) · next().
   */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /**
   * Shuffles in place (Fisher–Yates), uniformly over permutations.
   * @param array Any indexable array, including typed arrays.
   * @returns The same array, shuffled.
   */
  shuffle<A extends { length: number; [index: number]: unknown }>(array: A): A {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = array[i];
      array[i] = array[j];
      array[j] = t;
    }
    return array;
  }
}
