/**
 * Seeded test data.
 * @module
 */

/**
 * A deterministic generator (mulberry32) of uniform numbers in [0, 1).
 * @param seed Any integer.
 * @returns A function returning the next number.
 */
export function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` values uniform in [−scale, scale).
 * @param n Count.
 * @param seed Seed.
 * @param scale Half-width.
 * @returns The values.
 */
export function randomF32(n: number, seed: number, scale = 1): Float32Array {
  const u = uniform(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * u() - 1) * scale;
  return out;
}

/**
 * `n` integers uniform in [0, max).
 * @param n Count.
 * @param max Exclusive upper bound.
 * @param seed Seed.
 * @returns The values.
 */
export function randomU32(n: number, max: number, seed: number): Uint32Array {
  const u = uniform(seed);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(u() * max);
  return out;
}
