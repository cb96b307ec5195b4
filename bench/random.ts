/**
 * Seeded, non-zero benchmark data (zeros can run faster than real data and hide unwritten outputs).
 * @module
 */
import { Rng } from "../src/util/rng.ts";

/**
 * `n` values uniform in (−a, a) with standard deviation `std` (a = std·√3).
 * @param n Count.
 * @param rng Generator.
 * @param std Standard deviation.
 * @returns The values.
 * @example
 * ```ts
 * import { Rng } from "../src/util/rng.ts";
 * const w = randomF32(4, new Rng(1), 0.02);
 * console.log(w.length); // 4
 * ```
 */
export function randomF32(n: number, rng: Rng, std = 1): Float32Array {
  const out = new Float32Array(n);
  const scale = 2 * std * Math.sqrt(3) / 4294967296, shift = std * Math.sqrt(3);
  for (let i = 0; i < n; i++) out[i] = rng.nextUint32() * scale - shift;
  return out;
}

/**
 * `n` integers uniform in [0, max).
 * @param n Count.
 * @param max Exclusive bound.
 * @param rng Generator.
 * @returns The values.
 */
export function randomIds(n: number, max: number, rng: Rng): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(max);
  return out;
}

/**
 * A constant-filled array (LayerNorm scales and shifts).
 * @param n Count.
 * @param v Value.
 * @returns The values.
 */
export function filled(n: number, v: number): Float32Array {
  return new Float32Array(n).fill(v);
}
