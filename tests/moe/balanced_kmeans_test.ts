import assert from "node:assert/strict";
import { balancedAssignment, balancedKMeans } from "../../src/moe/balanced_kmeans.ts";
import { Rng } from "../../src/util/rng.ts";

/** n random points, optionally L2-normalised rows. */
function randomPoints(n: number, dim: number, seed: number, normalise = true): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0; t < dim; t++) {
      const v = rng.normal();
      x[i * dim + t] = v;
      s += v * v;
    }
    if (normalise) { for (let t = 0; t < dim; t++) x[i * dim + t] /= Math.sqrt(s); }
  }
  return x;
}

/** Σ‖x − mean(cluster)‖² for an assignment, in float64. */
function partitionCost(x: Float32Array, n: number, dim: number, k: number, a: Int32Array): number {
  const sums = new Float64Array(k * dim);
  const counts = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    counts[a[i]]++;
    for (let t = 0; t < dim; t++) sums[a[i] * dim + t] += x[i * dim + t];
  }
  let cost = 0;
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < dim; t++) {
      const d = x[i * dim + t] - sums[a[i] * dim + t] / counts[a[i]];
      cost += d * d;
    }
  }
  return cost;
}

function assertBalanced(a: Int32Array, n: number, k: number): void {
  assert.equal(a.length, n);
  const counts = new Int32Array(k);
  for (const c of a) {
    assert.ok(c >= 0 && c < k, `cluster ${c} out of range`);
    counts[c]++;
  }
  for (let j = 0; j < k; j++) assert.equal(counts[j], n / k, `cluster ${j} has ${counts[j]} members`);
}

/**
 * Independent exact reference for the assignment step: Hungarian algorithm (shortest augmenting paths with
 * potentials, O(n³)) on the n×n matrix where each cluster is repeated n/k times.
 */
function hungarianBalanced(
  cost: Float32Array,
  n: number,
  k: number,
): { assignment: Int32Array; cost: number } {
  const s = n / k;
  const INF = Infinity;
  const u = new Float64Array(n + 1), v = new Float64Array(n + 1);
  const p = new Int32Array(n + 1), way = new Int32Array(n + 1);
  const minv = new Float64Array(n + 1);
  const used = new Uint8Array(n + 1);
  const a = (i: number, j: number) => cost[(i - 1) * k + Math.floor((j - 1) / s)];
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(INF);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      let delta = INF, j1 = 0;
      for (let j = 1; j <= n; j++) {
        if (used[j]) continue;
        const cur = a(i0, j) - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= n; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0);
  }
  const assignment = new Int32Array(n);
  let total = 0;
  for (let j = 1; j <= n; j++) {
    const c = Math.floor((j - 1) / s);
    assignment[p[j] - 1] = c;
    total += cost[(p[j] - 1) * k + c];
  }
  return { assignment, cost: total };
}

/** Lloyd's balanced k-means with the Hungarian assignment and plain k-means++ seeding: the slow reference. */
function referenceKMeans(
  x: Float32Array,
  n: number,
  dim: number,
  k: number,
  seed: number,
  iters: number,
): number {
  const rng = new Rng(seed);
  const c = new Float64Array(k * dim);
  const minD = new Float64Array(n).fill(Infinity);
  for (let j = 0; j < k; j++) {
    let idx: number;
    if (j === 0) idx = rng.int(n);
    else {
      const total = minD.reduce((s, d) => s + d, 0);
      let r = rng.next() * total;
      idx = n - 1;
      for (let i = 0; i < n; i++) {
        r -= minD[i];
        if (r < 0) {
          idx = i;
          break;
        }
      }
    }
    for (let t = 0; t < dim; t++) c[j * dim + t] = x[idx * dim + t];
    for (let i = 0; i < n; i++) {
      let d = 0;
      for (let t = 0; t < dim; t++) d += (x[i * dim + t] - c[j * dim + t]) ** 2;
      minD[i] = Math.min(minD[i], d);
    }
  }
  let assignment: Int32Array = new Int32Array(n);
  const cost = new Float32Array(n * k);
  for (let it = 0; it < iters; it++) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < k; j++) {
        let d = 0;
        for (let t = 0; t < dim; t++) d += (x[i * dim + t] - c[j * dim + t]) ** 2;
        cost[i * k + j] = d;
      }
    }
    const next = hungarianBalanced(cost, n, k).assignment;
    if (next.every((v, i) => v === assignment[i]) && it > 0) break;
    assignment = next;
    c.fill(0);
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < dim; t++) c[assignment[i] * dim + t] += x[i * dim + t] / (n / k);
    }
  }
  return partitionCost(x, n, dim, k, assignment);
}

Deno.test("balancedKMeans: every cluster has exactly n/k points, each point once", () => {
  const n = 96, dim = 8, k = 12;
  const x = randomPoints(n, dim, 1);
  const r = balancedKMeans(x, n, dim, k, { seed: 3 });
  assertBalanced(r.assignment, n, k);
  assert.equal(r.centroids.length, k * dim);
  assert.ok(r.iterations >= 1);
  // The reported cost is the cost of the returned partition around its means.
  assert.ok(Math.abs(r.cost - partitionCost(x, n, dim, k, r.assignment)) < 1e-6 * r.cost);
});

Deno.test("balancedKMeans: deterministic for a seed", () => {
  const n = 128, dim = 16, k = 16;
  const x = randomPoints(n, dim, 2);
  const a = balancedKMeans(x, n, dim, k, { seed: 7 });
  const b = balancedKMeans(x, n, dim, k, { seed: 7 });
  assert.deepEqual(a.assignment, b.assignment);
  assert.deepEqual(a.centroids, b.centroids);
  assert.equal(a.cost, b.cost);
  assert.equal(a.iterations, b.iterations);
});

Deno.test("balancedKMeans: input validation", () => {
  const x = randomPoints(10, 4, 3);
  assert.throws(
    () => balancedKMeans(x, 10, 4, 3),
    (e: unknown) => e instanceof RangeError && /divisible/.test(e.message),
  );
  assert.throws(() => balancedKMeans(x, 10, 4, 0), RangeError);
  assert.throws(
    () => balancedKMeans(x, 10, 4, 20),
    (e: unknown) => e instanceof RangeError && /exceed/.test(e.message),
  );
  assert.throws(
    () => balancedKMeans(x, 10, 5, 2),
    (e: unknown) => e instanceof RangeError && /points.length/.test(e.message),
  );
  assert.throws(() => balancedKMeans(x, 10, 4, 2.5), RangeError);
  assert.throws(() => balancedKMeans(new Float64Array(40) as unknown as Float32Array, 10, 4, 2), TypeError);
  const bad = x.slice();
  bad[7] = NaN;
  assert.throws(
    () => balancedKMeans(bad, 10, 4, 2),
    (e: unknown) => e instanceof RangeError && /points\[7\]/.test(e.message),
  );
  assert.throws(() => balancedKMeans(x, 10, 4, 2, { iterations: 0 }), RangeError);
  assert.throws(() => balancedKMeans(x, 10, 4, 2, { tol: -1 }), RangeError);
});

Deno.test("balancedKMeans: k = 1 and k = n", () => {
  const n = 12, dim = 3;
  const x = randomPoints(n, dim, 4, false);
  const one = balancedKMeans(x, n, dim, 1);
  assert.ok(one.assignment.every((c) => c === 0));
  for (let t = 0; t < dim; t++) {
    let m = 0;
    for (let i = 0; i < n; i++) m += x[i * dim + t] / n;
    assert.ok(Math.abs(one.centroids[t] - m) < 1e-6);
  }
  assert.ok(Math.abs(one.cost - partitionCost(x, n, dim, 1, one.assignment)) < 1e-9);
  const all = balancedKMeans(x, n, dim, n);
  assertBalanced(all.assignment, n, n);
  assert.equal(all.cost, 0);
  assert.deepEqual(all.centroids, x);
});

Deno.test("balancedKMeans: recovers planted equal-size blobs exactly", () => {
  const k = 8, per = 16, n = k * per, dim = 12;
  const rng = new Rng(5);
  const centres = Array.from({ length: k }, () => Array.from({ length: dim }, () => rng.normal() * 10));
  const truth = new Int32Array(n);
  const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  const x = new Float32Array(n * dim);
  order.forEach((i, r) => {
    truth[i] = r % k;
    for (let t = 0; t < dim; t++) x[i * dim + t] = centres[truth[i]][t] + 0.3 * rng.normal();
  });
  for (const seed of [0, 1, 2, 3]) {
    const { assignment } = balancedKMeans(x, n, dim, k, { seed });
    // Same partition up to relabelling: a bijection between found and planted labels.
    const map = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const m = map.get(assignment[i]);
      if (m === undefined) map.set(assignment[i], truth[i]);
      else assert.equal(m, truth[i], `seed ${seed}: point ${i} split from its blob`);
    }
    assert.equal(new Set(map.values()).size, k);
  }
});

Deno.test("balancedKMeans: beats a random balanced partition on random data", () => {
  const n = 256, dim = 32, k = 16;
  const x = randomPoints(n, dim, 6);
  const r = balancedKMeans(x, n, dim, k, { seed: 1 });
  const rng = new Rng(9);
  for (let trial = 0; trial < 5; trial++) {
    const a = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i % k));
    assert.ok(r.cost <= partitionCost(x, n, dim, k, a), `trial ${trial}`);
  }
});

Deno.test("balancedKMeans: onProgress reports iterations and ends at total", () => {
  const n = 64, dim = 4, k = 8;
  const x = randomPoints(n, dim, 8);
  const calls: [number, number][] = [];
  const r = balancedKMeans(x, n, dim, k, { iterations: 50, onProgress: (d, t) => calls.push([d, t]) });
  assert.ok(calls.length >= 1);
  assert.ok(calls.every(([, t]) => t === 50));
  if (r.iterations < 50) assert.deepEqual(calls.at(-1), [50, 50]);
  const capped = balancedKMeans(x, n, dim, k, { iterations: 1 });
  assert.equal(capped.iterations, 1);
  assertBalanced(capped.assignment, n, k);
});

Deno.test("balancedAssignment: matches brute force and the Hungarian algorithm", () => {
  const rng = new Rng(11);
  // Brute force over all balanced labelings for n = 6, k = 2 and k = 3.
  for (const k of [2, 3]) {
    const n = 6;
    for (let trial = 0; trial < 20; trial++) {
      const cost = Float32Array.from({ length: n * k }, () => rng.next());
      let best = Infinity;
      const lab = new Int32Array(n);
      const rec = (i: number, counts: number[], acc: number) => {
        if (i === n) {
          best = Math.min(best, acc);
          return;
        }
        for (let j = 0; j < k; j++) {
          if (counts[j] === n / k) continue;
          counts[j]++;
          lab[i] = j;
          rec(i + 1, counts, acc + cost[i * k + j]);
          counts[j]--;
        }
      };
      rec(0, new Array(k).fill(0), 0);
      const r = balancedAssignment(cost, n, k);
      assertBalanced(r.assignment, n, k);
      assert.ok(Math.abs(r.cost - best) < 1e-9, `k=${k} trial ${trial}: ${r.cost} vs ${best}`);
    }
  }
  for (const [n, k] of [[60, 6], [120, 24], [96, 4]]) {
    const cost = Float32Array.from({ length: n * k }, () => rng.next() * 4);
    const ours = balancedAssignment(cost, n, k);
    const ref = hungarianBalanced(cost, n, k);
    assertBalanced(ours.assignment, n, k);
    assert.ok(Math.abs(ours.cost - ref.cost) < 1e-6, `n=${n} k=${k}: ${ours.cost} vs ${ref.cost}`);
  }
});

Deno.test("balancedKMeans: cost within 3% of a slow exact-assignment reference (n=512, dim=64, k=32)", () => {
  const n = 512, dim = 64, k = 32;
  // Normalised points with some cluster structure, like W1 rows.
  const rng = new Rng(12);
  const dirs = Array.from({ length: 24 }, () => Array.from({ length: dim }, () => rng.normal()));
  const x = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const d = dirs[rng.int(dirs.length)];
    let s = 0;
    for (let t = 0; t < dim; t++) {
      const v = 0.5 * d[t] + rng.normal();
      x[i * dim + t] = v;
      s += v * v;
    }
    for (let t = 0; t < dim; t++) x[i * dim + t] /= Math.sqrt(s);
  }
  const ours = balancedKMeans(x, n, dim, k, { seed: 0 });
  assertBalanced(ours.assignment, n, k);
  const ref = Math.min(referenceKMeans(x, n, dim, k, 100, 15), referenceKMeans(x, n, dim, k, 101, 15));
  assert.ok(ours.cost <= ref * 1.03, `ours ${ours.cost} vs reference ${ref}`);
});

Deno.test("balancedKMeans: identical points still give a balanced split with cost 0", () => {
  const n = 12, dim = 3, k = 4;
  const x = new Float32Array(n * dim).fill(0.5);
  const r = balancedKMeans(x, n, dim, k, { seed: 1 });
  assertBalanced(r.assignment, n, k);
  assert.ok(r.cost < 1e-12);
});

Deno.test("Rng: deterministic streams, ranges, shuffle is a permutation, normal moments", () => {
  const a = new Rng(123), b = new Rng(123), c = new Rng(124);
  const sa = Array.from({ length: 5 }, () => a.nextUint32());
  assert.deepEqual(sa, Array.from({ length: 5 }, () => b.nextUint32()));
  assert.notDeepEqual(sa, Array.from({ length: 5 }, () => c.nextUint32()));
  assert.notEqual(new Rng(1).next(), new Rng(1 + 2 ** 32).next());
  const r = new Rng(7);
  const counts = new Int32Array(5);
  let sum = 0, sq = 0;
  for (let i = 0; i < 20000; i++) {
    const u = r.next();
    assert.ok(u >= 0 && u < 1);
    counts[r.int(5)]++;
    const z = r.normal();
    sum += z;
    sq += z * z;
  }
  assert.ok(counts.every((v) => Math.abs(v - 4000) < 300));
  assert.ok(Math.abs(sum / 20000) < 0.03 && Math.abs(sq / 20000 - 1) < 0.05);
  const perm = r.shuffle(Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual([...perm].sort((p, q) => p - q), Array.from({ length: 50 }, (_, i) => i));
  assert.throws(() => r.int(0), RangeError);
  assert.throws(() => new Rng(NaN), RangeError);
});
