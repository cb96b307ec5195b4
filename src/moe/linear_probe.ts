/**
 * A linear probe: multinomial logistic regression with L2 regularisation on standardised features,
 * evaluated by k-fold cross-validation with fixed (seeded) folds. Used to measure how much task
 * information embeddings keep at each τ.
 * @module
 */
import { Rng } from "../util/rng.ts";

/** Options of {@link probeAccuracy}. */
export interface ProbeOptions {
  /** Folds (default 5). */
  folds?: number;
  /** Fold assignment seed (default 0). */
  seed?: number;
  /** L2 strength on the weights (default 1e-3). */
  l2?: number;
  /** Full-batch Adam iterations (default 300). */
  iterations?: number;
}

/**
 * Fixed folds: a seeded permutation cut into k parts.
 * @param n Samples.
 * @param k Folds.
 * @param seed Seed.
 * @returns Fold index per sample.
 */
export function foldsOf(n: number, k: number, seed: number): Int32Array {
  const order = Array.from({ length: n }, (_, i) => i);
  new Rng(seed).shuffle(order);
  const fold = new Int32Array(n);
  order.forEach((idx, pos) => (fold[idx] = pos % k));
  return fold;
}

/**
 * Trains a softmax regression on rows `train` of X and returns predictions for rows `test`.
 * @param x Features [n, dim].
 * @param y Labels [n].
 * @param dim Feature width.
 * @param classes Number of classes.
 * @param train Training row indices.
 * @param test Test row indices.
 * @param o Regularisation and iterations.
 * @returns Predicted class per test row.
 */
export function fitPredict(
  x: Float32Array,
  y: ArrayLike<number>,
  dim: number,
  classes: number,
  train: number[],
  test: number[],
  o: ProbeOptions = {},
): Int32Array {
  const l2 = o.l2 ?? 1e-3, iters = o.iterations ?? 300, lr = 0.05;
  // Standardise with training statistics.
  const mean = new Float64Array(dim), std = new Float64Array(dim);
  for (const i of train) for (let j = 0; j < dim; j++) mean[j] += x[i * dim + j];
  for (let j = 0; j < dim; j++) mean[j] /= train.length;
  for (const i of train) for (let j = 0; j < dim; j++) std[j] += (x[i * dim + j] - mean[j]) ** 2;
  for (let j = 0; j < dim; j++) std[j] = Math.sqrt(std[j] / train.length) || 1;
  const z = (i: number, j: number) => (x[i * dim + j] - mean[j]) / std[j];
  const W = new Float64Array(classes * (dim + 1)); // last column: bias
  const m = new Float64Array(W.length), v = new Float64Array(W.length), g = new Float64Array(W.length);
  const p = new Float64Array(classes);
  const feats = train.map((i) => Float64Array.from({ length: dim }, (_, j) => z(i, j)));
  for (let t = 1; t <= iters; t++) {
    g.fill(0);
    train.forEach((i, r) => {
      const f = feats[r];
      let mx = -Infinity;
      for (let c = 0; c < classes; c++) {
        let s = W[c * (dim + 1) + dim];
        for (let j = 0; j < dim; j++) s += W[c * (dim + 1) + j] * f[j];
        p[c] = s;
        if (s > mx) mx = s;
      }
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += p[c] = Math.exp(p[c] - mx);
      for (let c = 0; c < classes; c++) {
        const err = p[c] / sum - (y[i] === c ? 1 : 0);
        const base = c * (dim + 1);
        for (let j = 0; j < dim; j++) g[base + j] += err * f[j];
        g[base + dim] += err;
      }
    });
    for (let k = 0; k < W.length; k++) {
      const isBias = k % (dim + 1) === dim;
      const gk = g[k] / train.length + (isBias ? 0 : l2 * W[k]);
      m[k] = 0.9 * m[k] + 0.1 * gk;
      v[k] = 0.999 * v[k] + 0.001 * gk * gk;
      W[k] -= lr * (m[k] / (1 - 0.9 ** t)) / (Math.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8);
    }
  }
  return Int32Array.from(test, (i) => {
    let best = 0, bestS = -Infinity;
    for (let c = 0; c < classes; c++) {
      let s = W[c * (dim + 1) + dim];
      for (let j = 0; j < dim; j++) s += W[c * (dim + 1) + j] * z(i, j);
      if (s > bestS) (bestS = s, best = c);
    }
    return best;
  });
}

/**
 * Cross-validated probe accuracy.
 * @param x Features [n, dim].
 * @param y Labels.
 * @param dim Feature width.
 * @param classes Number of classes.
 * @param o Folds, seed, regularisation.
 * @returns Fraction of rows predicted correctly when held out.
 */
export function probeAccuracy(
  x: Float32Array,
  y: ArrayLike<number>,
  dim: number,
  classes: number,
  o: ProbeOptions = {},
): number {
  const n = y.length, k = o.folds ?? 5;
  const fold = foldsOf(n, k, o.seed ?? 0);
  let correct = 0;
  for (let f = 0; f < k; f++) {
    const train: number[] = [], test: number[] = [];
    for (let i = 0; i < n; i++) (fold[i] === f ? test : train).push(i);
    const pred = fitPredict(x, y, dim, classes, train, test, o);
    test.forEach((i, r) => (correct += pred[r] === y[i] ? 1 : 0));
  }
  return correct / n;
}
