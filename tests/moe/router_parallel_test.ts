import assert from "node:assert/strict";
import { trainRoutersParallel } from "../../src/moe/router_parallel.ts";
import { trainRouter } from "../../src/moe/router_train.ts";
import { Rng } from "../../src/util/rng.ts";

function randn(len: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: len }, () => rng.normal());
}

Deno.test("trainRoutersParallel: workers give exactly the routers of trainRouter, in job order, with progress", async () => {
  const d = 12, E = 5, n = 90;
  const jobs = [0, 1, 2].map((i) => ({
    x: randn(n * d, 10 + i),
    y: randn(n * E, 20 + i).map(Math.abs),
    n,
    d,
    experts: E,
    opts: { width: 8, epochs: 3, lr: 3e-3, seed: i },
  }));
  const seen = new Map<number, number>();
  const got = await trainRoutersParallel(jobs, (i, p) => seen.set(i, p.step), 2);
  for (const [i, j] of jobs.entries()) {
    const want = trainRouter(j.x, j.y, j.n, j.d, j.experts, j.opts);
    assert.deepEqual(got[i].router.w1, want.router.w1, `job ${i} w1`);
    assert.deepEqual(got[i].router.w2, want.router.w2, `job ${i} w2`);
    assert.equal(got[i].valLoss, want.valLoss);
    // The last step is always reported.
    assert.equal(seen.get(i), Math.ceil((n - Math.round(n * 0.1)) / 64) * 3, `job ${i} progress`);
  }
});

Deno.test("trainRoutersParallel: a job's error reaches the caller with its class and message", async () => {
  const job = { x: new Float32Array(8), y: new Float32Array(4), n: 2, d: 4, experts: 2, opts: { width: 0 } };
  await assert.rejects(() => trainRoutersParallel([job, job], undefined, 2), (e: Error) => {
    assert.ok(e instanceof RangeError, `a RangeError, got ${e.name}`);
    assert.match(e.message, /width/);
    return true;
  });
});

Deno.test("trainRoutersParallel: an aborted signal rejects with its reason", async () => {
  const d = 8, E = 4, n = 4000;
  const job = {
    x: randn(n * d, 1),
    y: randn(n * E, 2).map(Math.abs),
    n,
    d,
    experts: E,
    opts: { epochs: 50 },
  };
  const ac = new AbortController();
  const run = trainRoutersParallel([job, job], undefined, 2, ac.signal);
  setTimeout(() => ac.abort(new Error("stop now")), 50);
  await assert.rejects(run, /stop now/);
});
