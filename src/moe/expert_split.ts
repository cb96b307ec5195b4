/**
 * Splitting a dense FFN into E equal experts (D2DMoE §3 / MoEfication): balanced k-means on the
 * L2-normalised input weight vectors of the neurons, then slicing W1 columns, b1 entries and W2 rows
 * into expert-major tensors. The output bias b2 stays shared. Running every expert reproduces the FFN.
 * @module
 */
import { balancedKMeans } from "./balanced_kmeans.ts";

/** A dense FFN in our layout. */
export interface DenseFfnWeights {
  /** [d, dff]: column n is neuron n's input weights. */
  w1: Float32Array;
  /** [dff]. */
  b1: Float32Array;
  /** [dff, d]: row n is neuron n's output weights. */
  w2: Float32Array;
  /** [d]. */
  b2: Float32Array;
  /** Model width. */
  d: number;
  /** Hidden width. */
  dff: number;
}

/** The same FFN as E experts of s neurons, expert-major. */
export interface ExpertWeights {
  /** [E, d, s]. */
  w1: Float32Array;
  /** [E, s]. */
  b1: Float32Array;
  /** [E, s, d]. */
  w2: Float32Array;
  /** [d], shared. */
  b2: Float32Array;
  /** Experts. */
  experts: number;
  /** Neurons per expert. */
  size: number;
  /** For expert e, slot j: the original neuron index (order[e·s + j]). */
  order: Int32Array;
}

/** Quality of the clustering, for the manifest. */
export interface SplitReport {
  /** k-means objective on the normalised neuron vectors. */
  cost: number;
  /** Lloyd iterations run. */
  iterations: number;
}

/**
 * Resolves `--experts E` / `--expert-size S` into E.
 * @param dff Hidden width.
 * @param opts Exactly one of experts or expertSize.
 * @returns The number of experts.
 * @throws {RangeError} When neither or both are given, or dff is not divisible.
 */
export function resolveExperts(dff: number, opts: { experts?: number; expertSize?: number }): number {
  if ((opts.experts === undefined) === (opts.expertSize === undefined)) {
    throw new RangeError("give exactly one of experts or expertSize");
  }
  const e = opts.experts ?? dff / opts.expertSize!;
  if (!Number.isInteger(e) || e < 1 || dff % e !== 0) {
    const what = opts.experts !== undefined ? `${opts.experts} experts` : `expert size ${opts.expertSize}`;
    const divisors = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256].filter((s) =>
      dff % s === 0 && s < dff
    );
    throw new RangeError(
      `FFN width ${dff} cannot be split into ${what}: it must divide evenly (expert sizes that do: ${
        divisors.join(", ")
      })`,
    );
  }
  return e;
}

/**
 * Splits an FFN into `experts` experts by balanced k-means.
 * @param f Dense weights.
 * @param experts Number of experts (divides dff).
 * @param seed k-means seed (deterministic).
 * @returns Expert weights and the clustering report.
 */
export function splitFfn(
  f: DenseFfnWeights,
  experts: number,
  seed: number,
): { weights: ExpertWeights; report: SplitReport } {
  const { d, dff } = f;
  const s = dff / experts;
  // Neuron vectors: columns of w1, L2-normalised so clustering follows direction, not scale.
  const pts = new Float32Array(dff * d);
  for (let n = 0; n < dff; n++) {
    let norm = 0;
    for (let k = 0; k < d; k++) norm += f.w1[k * dff + n] ** 2;
    const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let k = 0; k < d; k++) pts[n * d + k] = f.w1[k * dff + n] * inv;
  }
  const km = balancedKMeans(pts, dff, d, experts, { seed });
  // Within an expert, neurons keep increasing original order (as the reference implementation does).
  const order = new Int32Array(dff);
  const fill = new Int32Array(experts);
  for (let n = 0; n < dff; n++) {
    const e = km.assignment[n];
    order[e * s + fill[e]++] = n;
  }
  return { weights: sliceExperts(f, order, experts), report: { cost: km.cost, iterations: km.iterations } };
}

/**
 * Slices dense weights into experts following a neuron order.
 * @param f Dense weights.
 * @param order order[e·s + j] = neuron of expert e, slot j (a permutation of 0..dff−1).
 * @param experts Number of experts.
 * @returns Expert-major weights.
 */
export function sliceExperts(f: DenseFfnWeights, order: Int32Array, experts: number): ExpertWeights {
  const { d, dff } = f;
  const s = dff / experts;
  const w1 = new Float32Array(experts * d * s), b1 = new Float32Array(dff), w2 = new Float32Array(dff * d);
  for (let e = 0; e < experts; e++) {
    for (let j = 0; j < s; j++) {
      const n = order[e * s + j];
      for (let k = 0; k < d; k++) w1[(e * d + k) * s + j] = f.w1[k * dff + n];
      b1[e * s + j] = f.b1[n];
      w2.set(f.w2.subarray(n * d, (n + 1) * d), (e * s + j) * d);
    }
  }
  return { w1, b1, w2, b2: f.b2.slice(), experts, size: s, order };
}
