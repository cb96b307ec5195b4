// Projection distillation (D2DMoE §6): the MLP reproduces its projection on held-out inputs, exactly
// when it is wide enough, and the expert norms the routers learn are those of the split MLP.
import assert from "node:assert/strict";
import { assertClose } from "../helpers/close.ts";
import { distillProjection, mlpForward, projectionHidden, topEigenvectors } from "../../src/moe/distill.ts";
import { expertNorms } from "../../src/moe/convert_attention.ts";
import { splitFfn } from "../../src/moe/expert_split.ts";
import { Rng } from "../../src/util/rng.ts";
import { distillProjectionOnBackend } from "../../src/moe/distill_gpu.ts";
import { CpuBackend } from "../../src/ops/cpu_backend.ts";
import type { Backend } from "../../src/ops/backend.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";

const gpu = await testGpu();

/** Inputs with a decaying spectrum (like LayerNorm outputs of a trained model) and a random projection. */
function problem(d: number, n: number, seed: number) {
  const rng = new Rng(seed);
  const x = Float32Array.from({ length: n * d }, (_, i) => rng.normal() * Math.exp(-(i % d) / 12));
  const w = Float32Array.from({ length: d * d }, () => rng.normal() / Math.sqrt(d));
  const b = Float32Array.from({ length: d }, () => rng.normal() * 0.1);
  return { x, w, b };
}

Deno.test("projectionHidden: the MLP costs what the projection cost (d = 768 → 384, the paper's figure)", () => {
  assert.equal(projectionHidden(768, 6), 384);
  assert.equal(projectionHidden(768, 8), 384);
  assert.equal(projectionHidden(64, 8), 32);
  assert.equal(projectionHidden(64, 6), 30); // 32.25 → 32 → nearest multiple of 6
  assert.equal(projectionHidden(64, 8, 2), 64);
  assert.equal(projectionHidden(5, 64), 64); // at least one expert
});

Deno.test("topEigenvectors: finds the dominant subspace of a symmetric matrix", async () => {
  const n = 7, diag = [0.5, 9, 1, 7, 0.1, 3, 2];
  const m = new Float32Array(n * n);
  diag.forEach((v, i) => (m[i * n + i] = v));
  const v = await topEigenvectors(m, n, 2);
  // Columns span e1 and e3 (eigenvalues 9 and 7): their weight outside those coordinates is ~0.
  let outside = 0;
  for (let i = 0; i < n; i++) if (i !== 1 && i !== 3) outside += v[i * 2] ** 2 + v[i * 2 + 1] ** 2;
  assert.ok(outside < 1e-8, `weight outside the top-2 subspace ${outside}`);
});

Deno.test("distillProjection: wide enough (h ≥ 2d) the MLP reproduces the projection on held-out rows", async () => {
  const d = 12, n = 400;
  const { x, w, b } = problem(d, n, 1);
  const r = await distillProjection(x, n, w, b, { hidden: 2 * d, epochs: 0 });
  assert.ok(r.valError < 1e-6, `held-out unexplained variance ${r.valError}`);
  // Check the claim directly on fresh inputs.
  const fresh = problem(d, 50, 9).x;
  const want = new Float32Array(50 * d);
  for (let t = 0; t < 50; t++) {
    for (let o = 0; o < d; o++) {
      let s = b[o];
      for (let i = 0; i < d; i++) s += fresh[t * d + i] * w[i * d + o];
      want[t * d + o] = s;
    }
  }
  assertClose((await mlpForward(r.mlp, fresh, 50)).y, want, { atol: 1e-4, rtol: 1e-4 }, "fresh inputs");
});

Deno.test("distillProjection: at the paper's width training improves on the rank-h/2 initialisation", async () => {
  const d = 32, n = 3000;
  const { x, w, b } = problem(d, n, 2);
  const h = projectionHidden(d, 8);
  const r = await distillProjection(x, n, w, b, { hidden: h, epochs: 20, lr: 1e-2 });
  assert.ok(r.initValError < 0.5, `init error ${r.initValError}`);
  assert.ok(r.valError < 0.8 * r.initValError, `trained ${r.valError} vs init ${r.initValError}`);
  assert.ok(r.trainError <= r.valError * 1.5, "no gross overfitting");
  // A sparsity penalty leaves fewer hidden units active.
  const sparse = await distillProjection(x, n, w, b, { hidden: h, epochs: 20, lr: 1e-2, sparsity: 0.5 });
  assert.ok(sparse.activeFraction < r.activeFraction, `${sparse.activeFraction} vs ${r.activeFraction}`);
});

Deno.test("distillProjection: bad arguments name the problem", async () => {
  const { x, w, b } = problem(4, 3, 3);
  await assert.rejects(
    distillProjection(x.subarray(0, 4), 1, w, b, { hidden: 4 }),
    /at least 2 calibration rows/,
  );
  await assert.rejects(
    distillProjection(x, 3, w, b, { hidden: 0 }),
    /hidden width must be a positive integer/,
  );
});

Deno.test("expertNorms: per-expert output norms of the split MLP; all experts sum to the MLP", async () => {
  const d = 10, n = 40;
  const { x, w, b } = problem(d, n, 4);
  const { mlp } = await distillProjection(x, n, w, b, { hidden: 12, epochs: 2 });
  const split = splitFfn(mlp, 3, 0).weights;
  const norms = await expertNorms(x, n, split);
  // Direct computation for expert outputs, summed: equals the MLP output minus b2.
  const full = (await mlpForward(mlp, x, n)).y;
  const s = split.size;
  const sum = new Float32Array(n * d);
  for (let e = 0; e < 3; e++) {
    for (let t = 0; t < n; t++) {
      const y = new Float64Array(d);
      for (let j = 0; j < s; j++) {
        let z = split.b1[e * s + j];
        for (let i = 0; i < d; i++) z += x[t * d + i] * split.w1[e * d * s + i * s + j];
        if (z <= 0) continue;
        for (let o = 0; o < d; o++) y[o] += z * split.w2[(e * s + j) * d + o];
      }
      const norm = Math.sqrt(y.reduce((a, v) => a + v * v, 0));
      assert.ok(Math.abs(norm - norms[t * 3 + e]) <= 1e-4 * (1 + norm), `token ${t} expert ${e}`);
      for (let o = 0; o < d; o++) sum[t * d + o] += y[o];
    }
  }
  assertClose(
    sum.map((v, i) => v + split.b2[i % d]),
    full,
    { atol: 1e-4, rtol: 1e-4 },
    "experts sum to the MLP",
  );
});

for (const [kind, be] of [["cpu", new CpuBackend()], ["gpu", gpu]] as [string, Backend | null][]) {
  Deno.test({
    name: `distillProjectionOnBackend (${kind}): trains like the TypeScript loop`,
    ignore: !be,
    ...gpuTestOptions,
    async fn() {
      const d = 32, n = 2000;
      const { x, w, b } = problem(d, n, 5);
      const opts = { hidden: projectionHidden(d, 8), epochs: 10, lr: 1e-2, batch: 128, seed: 3 };
      const host = await distillProjection(x, n, w, b, opts);
      const dev = await distillProjectionOnBackend(be!, x, n, w, b, opts);
      // Same split and initialisation (computed by the backend's matmul: equal up to rounding).
      assert.ok(
        Math.abs(dev.initValError - host.initValError) <= 1e-3 * host.initValError,
        `init ${dev.initValError} vs ${host.initValError}`,
      );
      assert.ok(
        host.valError < 0.9 * host.initValError,
        `TypeScript loop ${host.valError} vs ${host.initValError}`,
      );
      assert.ok(
        dev.valError < 0.9 * dev.initValError,
        `${kind}: ${dev.valError} vs init ${dev.initValError}`,
      );
      assert.ok(
        Math.abs(dev.valError - host.valError) <= 0.15 * host.valError,
        `${kind} ${dev.valError} vs TypeScript ${host.valError}`,
      );
      // The L1 penalty reaches the hidden units on the device too.
      const sparse = await distillProjectionOnBackend(be!, x, n, w, b, { ...opts, sparsity: 0.5 });
      assert.ok(
        sparse.activeFraction < dev.activeFraction,
        `${sparse.activeFraction} vs ${dev.activeFraction}`,
      );
    },
  });
}
