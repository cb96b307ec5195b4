/**
 * Balanced k-means: partition n points into k clusters of exactly n/k points each, minimising the sum of
 * squared Euclidean distances to the cluster means. D2DMoE uses it to split each FFN's neurons into
 * equal-size experts (spec §3: clustering features are the L2-normalised rows of W1; the reference code
 * calls `k_means_constrained.KMeansConstrained(size_min = size_max = n/k)`).
 *
 * Algorithm (same objective and same per-step optimality as k-means-constrained):
 * 1. k-means++ seeding (one candidate per step, D²-weighted; sklearn's "greedy" variant with 2 + ln k
 *    trials would cost 2 + ln k times more distance work for little gain here).
 * 2. Lloyd iterations. The assignment step is solved **exactly**: a min-cost transportation problem
 *    (each point to one cluster, each cluster exactly n/k points) by successive shortest paths. Points are
 *    inserted one at a time; each insertion finds the cheapest augmenting path "new point → cluster a →
 *    (move one point a→b) → … → a cluster with room", with Dijkstra on the k cluster nodes and Johnson
 *    potentials. Edge a→b costs min over members q of a of d(q,b) − d(q,a); this k×k table and its
 *    argmins are updated incrementally as points move (O(k) per move). Per assignment step that is about
 *    n · (Dijkstra pops + path length) · k operations, independent of dim, instead of a general
 *    min-cost flow over n·k edges. It matches an independent Hungarian solver exactly in the tests.
 *    The update step sets each centroid to its members' mean.
 * 3. Stop when the assignment no longer changes (then the centroids are a fixed point), when the centroids
 *    moved less than sklearn's tolerance (`tol`, default 1e-4 as in k-means-constrained), or after
 *    `iterations` Lloyd steps.
 *
 * The n×k distance matrix dominates the time: it is computed as ‖x‖² − 2 x·c + ‖c‖² with a register-blocked
 * dot-product kernel (2 points × 4 centroids), tiled over centroids for cache reuse.
 * @module
 */

import { Rng } from "../util/rng.ts";

/** Options for {@link balancedKMeans}. */
export interface BalancedKMeansOptions {
  /** Seed for k-means++ seeding; the result is a pure function of the inputs and this seed. Default 0. */
  seed?: number;
  /** Maximum number of Lloyd iterations (assignment + update). Default 100. */
  iterations?: number;
  /**
   * Early stop, as in sklearn / k-means-constrained: stop once the centroids move by at most
   * tol × (mean per-dimension variance of the points) in total squared distance. Default 1e-4; 0 runs until
   * the assignment is a fixed point (or `iterations` is reached).
   */
  tol?: number;
  /**
   * Called after each Lloyd iteration with (iterations done, maximum iterations), and once more with
   * (total, total) when it stops early (converged or within `tol`).
   */
  onProgress?: (done: number, total: number) => void;
}

/** Result of {@link balancedKMeans}. */
export interface BalancedKMeansResult {
  /** Cluster index in [0, k) for each point; every cluster appears exactly n/k times. */
  assignment: Int32Array;
  /** Cluster means, [k, dim] row-major. */
  centroids: Float32Array;
  /** Sum over points of the squared Euclidean distance to their cluster's mean. */
  cost: number;
  /** Lloyd iterations performed (each one an exact balanced assignment followed by a mean update). */
  iterations: number;
}

function checkPositiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`balancedKMeans: ${name} must be a positive integer, got ${v}`);
  }
}

/**
 * Partition n points (rows of `points`, dim `dim`) into k clusters of exactly n/k points each.
 *
 * Deterministic for a seed. Time per iteration ≈ n·k·dim multiply-adds for the distances plus the exact
 * assignment. Measured on one core of a 2-core EPYC VM: n = 3072, dim = 768, k = 192 takes 1.4–3.2 s in
 * total (k-means++ ≈ 0.4 s, then ≈ 0.2 s distances + 0.01–0.1 s assignment per iteration, 3–12
 * iterations); k = 768 ≈ 5 s; n = 16384, dim = 2048, k = 128 ≈ 4 s seeding + ≈ 2 s per iteration.
 * Special cases: k = 1 puts every point in cluster 0; k = n puts point i in cluster i (cost 0).
 *
 * @param points Row-major [n, dim] features (the caller L2-normalises W1 rows; any finite values work).
 * @param n Number of points.
 * @param dim Dimension of each point.
 * @param k Number of clusters; must divide n.
 * @param opts Seed, maximum iterations and a progress callback.
 * @returns The assignment, the centroids, the final cost and the number of iterations.
 * @throws {TypeError} If `points` is not a Float32Array.
 * @throws {RangeError} If n, dim or k is not a positive integer, k > n, n % k !== 0,
 *   `points.length !== n * dim`, `points` holds a non-finite value, or an option is out of range.
 */
export function balancedKMeans(
  points: Float32Array,
  n: number,
  dim: number,
  k: number,
  opts: BalancedKMeansOptions = {},
): BalancedKMeansResult {
  if (!(points instanceof Float32Array)) throw new TypeError("balancedKMeans: points must be a Float32Array");
  checkPositiveInt("n", n);
  checkPositiveInt("dim", dim);
  checkPositiveInt("k", k);
  if (k > n) throw new RangeError(`balancedKMeans: k (${k}) must not exceed n (${n})`);
  if (n % k !== 0) {
    throw new RangeError(`balancedKMeans: n (${n}) must be divisible by k (${k}) for equal-size clusters`);
  }
  if (points.length !== n * dim) {
    throw new RangeError(`balancedKMeans: points.length (${points.length}) must equal n * dim (${n * dim})`);
  }
  for (let i = 0; i < points.length; i++) {
    if (!Number.isFinite(points[i])) {
      throw new RangeError(`balancedKMeans: points[${i}] is not finite (${points[i]})`);
    }
  }
  const maxIter = opts.iterations ?? 100;
  checkPositiveInt("iterations", maxIter);
  const seed = opts.seed ?? 0;
  if (!Number.isFinite(seed)) throw new RangeError(`balancedKMeans: seed must be finite, got ${seed}`);
  const tol = opts.tol ?? 1e-4;
  if (!(tol >= 0 && Number.isFinite(tol))) {
    throw new RangeError(`balancedKMeans: tol must be ≥ 0, got ${tol}`);
  }
  const onProgress = opts.onProgress;

  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = i * dim, e = t + dim; t < e; t++) s += points[t] * points[t];
    norms[i] = s;
  }

  const assignment = new Int32Array(n);
  const centroids = new Float64Array(k * dim);

  // Trivial cases: no choice to make, so skip seeding and the n×k matrices.
  if (k === 1 || k === n) {
    for (let i = 0; i < n; i++) assignment[i] = k === 1 ? 0 : i;
    updateCentroids(points, n, dim, k, assignment, centroids);
    onProgress?.(1, 1);
    return {
      assignment,
      centroids: new Float32Array(centroids),
      cost: k === n ? 0 : assignmentCost(points, n, dim, assignment, centroids),
      iterations: 1,
    };
  }

  kMeansPlusPlus(points, norms, n, dim, k, new Rng(seed), centroids);

  const cost = new Float32Array(n * k);
  const solver = new BalancedAssigner(n, k);
  const prev = new Int32Array(n).fill(-1);
  const old = new Float64Array(k * dim);
  const shiftLimit = tol * meanVariance(points, n, dim);
  const cnorms = new Float64Array(k);
  let iterations = 0;
  for (let it = 1; it <= maxIter; it++) {
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let t = j * dim, e = t + dim; t < e; t++) s += centroids[t] * centroids[t];
      cnorms[j] = s;
    }
    distanceMatrix(points, norms, centroids, cnorms, n, dim, k, cost);
    solver.solve(cost, assignment);
    iterations = it;
    let changed = false;
    for (let i = 0; i < n; i++) {
      if (assignment[i] !== prev[i]) {
        changed = true;
        break;
      }
    }
    if (!changed) {
      // Same assignment as last time: the centroids (its means) are already current.
      onProgress?.(maxIter, maxIter);
      break;
    }
    prev.set(assignment);
    old.set(centroids);
    updateCentroids(points, n, dim, k, assignment, centroids);
    let shift = 0;
    for (let t = 0; t < old.length; t++) shift += (centroids[t] - old[t]) ** 2;
    if (shift <= shiftLimit && it < maxIter) {
      onProgress?.(maxIter, maxIter);
      break;
    }
    onProgress?.(it, maxIter);
  }

  return {
    assignment,
    centroids: new Float32Array(centroids),
    cost: assignmentCost(points, n, dim, assignment, centroids),
    iterations,
  };
}

/**
 * Exact minimum-cost balanced assignment for a given cost matrix: each row (point) goes to one column
 * (cluster), each column receives exactly n/k rows, and the sum of chosen costs is minimal.
 * This is the assignment step of {@link balancedKMeans}, exposed for reuse and testing.
 *
 * @param cost Row-major [n, k] costs (finite).
 * @param n Number of rows (points).
 * @param k Number of columns (clusters); must divide n.
 * @returns The assignment (column per row) and its total cost (summed in float64 from `cost`).
 * @throws {RangeError} If n or k is not a positive integer, n % k !== 0, `cost.length !== n * k`, or a cost is
 *   not finite.
 */
export function balancedAssignment(
  cost: Float32Array,
  n: number,
  k: number,
): { assignment: Int32Array; cost: number } {
  checkPositiveInt("n", n);
  checkPositiveInt("k", k);
  if (n % k !== 0) throw new RangeError(`balancedAssignment: n (${n}) must be divisible by k (${k})`);
  if (cost.length !== n * k) {
    throw new RangeError(`balancedAssignment: cost.length (${cost.length}) must equal n * k (${n * k})`);
  }
  for (let i = 0; i < cost.length; i++) {
    if (!Number.isFinite(cost[i])) throw new RangeError(`balancedAssignment: cost[${i}] is not finite`);
  }
  const assignment = new Int32Array(n);
  new BalancedAssigner(n, k).solve(cost, assignment);
  let total = 0;
  for (let i = 0; i < n; i++) total += cost[i * k + assignment[i]];
  return { assignment, cost: total };
}

/**
 * Successive-shortest-path solver for the balanced transportation problem, with workspaces reused across
 * Lloyd iterations. Graph: the new point p has an edge to every cluster j (cost C[p,j]); cluster a has an
 * edge to cluster b (cost W[a,b] = min over q ∈ a of C[q,b] − C[q,a]: move q from a to b); every cluster
 * with room has a 0-cost edge to the sink T. Potentials h (with h_T kept at 0) make every residual edge's
 * reduced cost non-negative, so Dijkstra is valid; the standard argument carries over to the edges an
 * augmentation creates, because they are tight or dominated by edges that existed before.
 */
class BalancedAssigner {
  readonly n: number;
  readonly k: number;
  readonly cap: number;
  readonly members: Int32Array; // [k, cap]
  readonly count: Int32Array;
  readonly pos: Int32Array; // index of each point inside its cluster's member list
  readonly w: Float64Array; // [k, k] min move cost a→b
  readonly warg: Int32Array; // [k, k] point achieving it
  readonly h: Float64Array;
  readonly key: Float64Array;
  readonly pred: Int32Array;
  readonly visited: Uint8Array;

  constructor(n: number, k: number) {
    this.n = n;
    this.k = k;
    this.cap = n / k;
    this.members = new Int32Array(n);
    this.count = new Int32Array(k);
    this.pos = new Int32Array(n);
    this.w = new Float64Array(k * k);
    this.warg = new Int32Array(k * k);
    this.h = new Float64Array(k);
    this.key = new Float64Array(k);
    this.pred = new Int32Array(k);
    this.visited = new Uint8Array(k);
  }

  solve(c: Float32Array, assignment: Int32Array): void {
    const { n, k, cap, count, w, warg, h, key, pred, visited } = this;
    count.fill(0);
    h.fill(0);
    w.fill(Infinity);
    this.warg.fill(-1);
    assignment.fill(-1);
    for (let p = 0; p < n; p++) {
      const rowP = p * k;
      for (let j = 0; j < k; j++) {
        key[j] = c[rowP + j] - h[j];
        pred[j] = -1;
        visited[j] = 0;
      }
      // Dense Dijkstra over the k clusters plus the sink; stops as soon as the sink is the closest node.
      let keyT = Infinity;
      let target = -1;
      for (;;) {
        let u = -1;
        let best = keyT;
        for (let j = 0; j < k; j++) {
          if (visited[j] === 0 && key[j] < best) {
            best = key[j];
            u = j;
          }
        }
        if (u < 0) break;
        visited[u] = 1;
        const hu = best + h[u];
        if (count[u] < cap && hu < keyT) {
          keyT = hu;
          target = u;
        }
        if (count[u] > 0) {
          const rowU = u * k;
          for (let v = 0; v < k; v++) {
            if (visited[v] !== 0) continue;
            const cand = hu + w[rowU + v] - h[v];
            if (cand < key[v]) {
              key[v] = cand;
              pred[v] = u;
            }
          }
        }
      }
      // Potential update for an early-stopped Dijkstra: h += min(dist, dist_T), then shift so h_T = 0.
      for (let j = 0; j < k; j++) {
        const dj = key[j] < keyT ? key[j] : keyT;
        h[j] += dj - keyT;
      }
      // Augment along target ← … ← first cluster ← p, moving one point per edge, from the end backwards
      // so no cluster ever exceeds its capacity. #add/#remove keep the W rows current incrementally.
      let v = target;
      while (pred[v] >= 0) {
        const u = pred[v];
        const q = warg[u * k + v];
        this.#remove(q, u, c);
        this.#add(q, v, c, assignment);
        v = u;
      }
      this.#add(p, v, c, assignment);
    }
  }

  /** Removes q from cluster a; W[a, b] entries whose argmin was q are rescanned over a's members. */
  #remove(q: number, a: number, c: Float32Array): void {
    const { k, cap, members, pos, w, warg } = this;
    const base = a * cap;
    const last = members[base + this.count[a] - 1];
    const idx = pos[q];
    members[base + idx] = last;
    pos[last] = idx;
    const cnt = --this.count[a];
    const rowA = a * k;
    for (let b = 0; b < k; b++) {
      if (warg[rowA + b] !== q || b === a) continue;
      let best = Infinity, arg = -1;
      for (let m = 0; m < cnt; m++) {
        const r = members[base + m] * k;
        const d = c[r + b] - c[r + a];
        if (d < best) {
          best = d;
          arg = members[base + m];
        }
      }
      w[rowA + b] = best;
      warg[rowA + b] = arg;
    }
  }

  /** Adds q to cluster a and lowers W[a, ·] where moving q out of a is the new cheapest move. */
  #add(q: number, a: number, c: Float32Array, assignment: Int32Array): void {
    const { k, w, warg } = this;
    const idx = this.count[a]++;
    this.members[a * this.cap + idx] = q;
    this.pos[q] = idx;
    assignment[q] = a;
    const rowA = a * k, rowQ = q * k;
    const base = c[rowQ + a];
    for (let b = 0; b < k; b++) {
      const d = c[rowQ + b] - base;
      if (d < w[rowA + b] && b !== a) {
        w[rowA + b] = d;
        warg[rowA + b] = q;
      }
    }
  }
}

/** k-means++ seeding: first centre uniform, each next one drawn with probability ∝ squared distance. */
function kMeansPlusPlus(
  x: Float32Array,
  norms: Float64Array,
  n: number,
  dim: number,
  k: number,
  rng: Rng,
  centroids: Float64Array,
): void {
  const minD = new Float64Array(n).fill(Infinity);
  const chosen = new Uint8Array(n);
  let idx = rng.int(n);
  for (let c = 0; c < k; c++) {
    if (c > 0) {
      let total = 0;
      for (let i = 0; i < n; i++) total += minD[i];
      idx = -1;
      if (total > 0) {
        let r = rng.next() * total;
        let lastPositive = -1;
        for (let i = 0; i < n; i++) {
          if (minD[i] <= 0) continue;
          lastPositive = i;
          r -= minD[i];
          if (r < 0) {
            idx = i;
            break;
          }
        }
        if (idx < 0) idx = lastPositive; // rounding left r ≥ 0 after the last point
      }
      if (idx < 0) {
        // Every point coincides with a centre (duplicates): pick a not-yet-chosen point uniformly.
        let r = rng.int(n - c);
        for (let i = 0; i < n; i++) {
          if (chosen[i] === 0 && r-- === 0) {
            idx = i;
            break;
          }
        }
      }
    }
    chosen[idx] = 1;
    const cOff = c * dim;
    const xOff = idx * dim;
    for (let t = 0; t < dim; t++) centroids[cOff + t] = x[xOff + t];
    const cn = norms[idx];
    // Update each point's distance to its nearest centre via ‖x‖² + ‖c‖² − 2 x·c.
    for (let i = 0; i < n; i++) {
      if (minD[i] === 0) continue;
      let d = norms[i] + cn - 2 * dotRows(x, i * dim, xOff, dim);
      if (d < 0 || i === idx) d = 0;
      if (d < minD[i]) minD[i] = d;
    }
  }
}

/** x[a..a+dim) · x[b..b+dim) with 4 accumulators (breaks the add dependency chain). */
function dotRows(x: Float32Array, a: number, b: number, dim: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const d4 = dim & ~3;
  let t = 0;
  for (; t < d4; t += 4) {
    s0 += x[a + t] * x[b + t];
    s1 += x[a + t + 1] * x[b + t + 1];
    s2 += x[a + t + 2] * x[b + t + 2];
    s3 += x[a + t + 3] * x[b + t + 3];
  }
  for (; t < dim; t++) s0 += x[a + t] * x[b + t];
  return (s0 + s1) + (s2 + s3);
}

/** Centroid-tile width: 32 centroids × dim float64 stays in L2 while all points stream past it. */
const TILE = 32;

/**
 * out[i, j] = ‖x_i‖² − 2 x_i·c_j + ‖c_j‖² (clamped at 0), tiled over centroids. The work is done by small
 * kernels called thousands of times, which V8 promotes to its optimising tier quickly (one big loop nest
 * was seen to run 4× slower for a few calls while it sat in the mid tier).
 */
function distanceMatrix(
  x: Float32Array,
  xn: Float64Array,
  c: Float64Array,
  cn: Float64Array,
  n: number,
  dim: number,
  k: number,
  out: Float32Array,
): void {
  const n2 = n - (n % 2);
  for (let j0 = 0; j0 < k; j0 += TILE) {
    const j1 = Math.min(k, j0 + TILE);
    for (let i = 0; i < n2; i += 2) dist2Rows(x, xn, c, cn, i, j0, j1, dim, k, out);
    if (n2 < n) dist1Row(x, xn, c, cn, n2, j0, j1, dim, k, out);
  }
}

/** Distances of points i and i+1 to centroids [j0, j1), 4 centroids at a time (8 accumulators). */
function dist2Rows(
  x: Float32Array,
  xn: Float64Array,
  c: Float64Array,
  cn: Float64Array,
  i: number,
  j0: number,
  j1: number,
  dim: number,
  k: number,
  out: Float32Array,
): void {
  const xa = i * dim, xb = xa + dim;
  const na = xn[i], nb = xn[i + 1];
  const j4 = j0 + ((j1 - j0) & ~3);
  let j = j0;
  for (; j < j4; j += 4) {
    const c0 = j * dim, c1 = c0 + dim, c2 = c1 + dim, c3 = c2 + dim;
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
    for (let t = 0; t < dim; t++) {
      const u = x[xa + t], v = x[xb + t];
      const w0 = c[c0 + t], w1 = c[c1 + t], w2 = c[c2 + t], w3 = c[c3 + t];
      a0 += u * w0;
      a1 += u * w1;
      a2 += u * w2;
      a3 += u * w3;
      b0 += v * w0;
      b1 += v * w1;
      b2 += v * w2;
      b3 += v * w3;
    }
    const o = i * k + j, p = o + k;
    out[o] = Math.max(0, na - 2 * a0 + cn[j]);
    out[o + 1] = Math.max(0, na - 2 * a1 + cn[j + 1]);
    out[o + 2] = Math.max(0, na - 2 * a2 + cn[j + 2]);
    out[o + 3] = Math.max(0, na - 2 * a3 + cn[j + 3]);
    out[p] = Math.max(0, nb - 2 * b0 + cn[j]);
    out[p + 1] = Math.max(0, nb - 2 * b1 + cn[j + 1]);
    out[p + 2] = Math.max(0, nb - 2 * b2 + cn[j + 2]);
    out[p + 3] = Math.max(0, nb - 2 * b3 + cn[j + 3]);
  }
  for (; j < j1; j++) {
    const c0 = j * dim;
    let a = 0, b = 0;
    for (let t = 0; t < dim; t++) {
      a += x[xa + t] * c[c0 + t];
      b += x[xb + t] * c[c0 + t];
    }
    out[i * k + j] = Math.max(0, na - 2 * a + cn[j]);
    out[(i + 1) * k + j] = Math.max(0, nb - 2 * b + cn[j]);
  }
}

/** Distances of the single point i (odd n) to centroids [j0, j1). */
function dist1Row(
  x: Float32Array,
  xn: Float64Array,
  c: Float64Array,
  cn: Float64Array,
  i: number,
  j0: number,
  j1: number,
  dim: number,
  k: number,
  out: Float32Array,
): void {
  const xa = i * dim;
  for (let j = j0; j < j1; j++) {
    const c0 = j * dim;
    let a = 0;
    for (let t = 0; t < dim; t++) a += x[xa + t] * c[c0 + t];
    out[i * k + j] = Math.max(0, xn[i] - 2 * a + cn[j]);
  }
}

/** Sets each centroid to the mean of its members (every cluster is non-empty by construction). */
function updateCentroids(
  x: Float32Array,
  n: number,
  dim: number,
  k: number,
  assignment: Int32Array,
  centroids: Float64Array,
): void {
  centroids.fill(0);
  const counts = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const a = assignment[i];
    counts[a]++;
    const co = a * dim, xo = i * dim;
    for (let t = 0; t < dim; t++) centroids[co + t] += x[xo + t];
  }
  for (let j = 0; j < k; j++) {
    const inv = 1 / counts[j];
    for (let t = j * dim, e = t + dim; t < e; t++) centroids[t] *= inv;
  }
}

/** Mean over dimensions of the per-dimension variance of the points (sklearn's tolerance scale). */
function meanVariance(x: Float32Array, n: number, dim: number): number {
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let t = 0; t < dim; t++) mean[t] += x[i * dim + t];
  for (let t = 0; t < dim; t++) mean[t] /= n;
  let s = 0;
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < dim; t++) {
      const d = x[i * dim + t] - mean[t];
      s += d * d;
    }
  }
  return s / (n * dim);
}

/** Σ_i ‖x_i − c_{a(i)}‖², computed directly (no cancellation from the dot-product form). */
function assignmentCost(
  x: Float32Array,
  n: number,
  dim: number,
  assignment: Int32Array,
  centroids: Float64Array,
): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    const co = assignment[i] * dim, xo = i * dim;
    for (let t = 0; t < dim; t++) {
      const d = x[xo + t] - centroids[co + t];
      total += d * d;
    }
  }
  return total;
}
