/** Unit tests of the server's small parts: stop strings, τ from a budget, the device lane, JSON depth. */
import assert from "node:assert/strict";
import { jsonDepth } from "../../src/serve/body.ts";
import { tauForBudget } from "../../src/serve/routing.ts";
import { Deadline, Scheduler } from "../../src/serve/scheduler.ts";
import { StopFilter } from "../../src/serve/stop.ts";
import { createApp } from "../../src/serve/app.ts";
import { model, post, wrap } from "./helpers.ts";

Deno.test("StopFilter: cuts before the first stop, holds back possible prefixes, flushes the rest", () => {
  const f = new StopFilter(["END", "xy"]);
  assert.equal(f.push("abc E"), "abc "); // "E" could start "END"
  assert.equal(f.push("N"), ""); // "EN" still could
  assert.equal(f.push("D more"), "");
  assert.ok(f.stopped);
  assert.equal(f.flush(), "");

  const g = new StopFilter(["END"]);
  assert.equal(g.push("EN"), "");
  assert.equal(g.push("ough"), "ENough");
  assert.equal(g.push(" E"), " ");
  assert.equal(g.flush(), "E");
  assert.ok(!g.stopped);

  const h = new StopFilter(["b", "abc"]);
  assert.equal(h.push("xab"), "xa"); // the earliest stop wins
  assert.ok(h.stopped);
  assert.equal(new StopFilter([]).push("anything"), "anything");
});

Deno.test("tauForBudget: smallest τ meeting the budget, interpolated; null when unreachable", () => {
  const table = [
    { tau: 0, ffn_fraction: 1 },
    { tau: 0.2, ffn_fraction: 0.6 },
    { tau: 0.6, ffn_fraction: 0.2 },
  ];
  assert.equal(tauForBudget(table, 1), 0);
  assert.equal(tauForBudget(table, 0.6), 0.2);
  assert.ok(Math.abs(tauForBudget(table, 0.8)! - 0.1) < 1e-12);
  assert.ok(Math.abs(tauForBudget(table, 0.4)! - 0.4) < 1e-12);
  assert.equal(tauForBudget(table, 0.2), 0.6);
  assert.equal(tauForBudget(table, 0.1), null);
});

Deno.test("compute_budget maps to τ through the calibration table and is reported", async () => {
  const m = await model("bert");
  const calibration = [{ tau: 0, ffn_fraction: 1 }, { tau: 0.5, ffn_fraction: 0.5 }];
  const moe = {
    formatVersion: 1,
    layers: [{ experts: 4, expertSize: 64 }],
    routerWidth: 16,
    defaultTau: 0.1,
    calibration,
  };
  let seen: number | undefined;
  const w = wrap(m, {
    moe,
    embed: (inputs, opts) => {
      seen = opts?.tau;
      return m.embed(inputs, opts);
    },
  });
  const app = createApp(w, { maxWaitMs: 0 });
  const b = await (await post(app, "/v1/embeddings", { input: [2, 3], compute_budget: 0.75 })).json();
  assert.equal(seen, 0.25);
  assert.equal(b.d2dmoe.tau, 0.25);
  assert.equal(b.d2dmoe.compute_budget, 0.75);
  await post(app, "/v1/embeddings", { input: [2, 3] }).then((r) => r.body?.cancel());
  assert.equal(seen, 0.1); // the model's default τ
  await post(app, "/v1/embeddings", { input: [2, 3], tau: 0.7 }).then((r) => r.body?.cancel());
  assert.equal(seen, 0.7);
  const low = await post(app, "/v1/embeddings", { input: [2, 3], compute_budget: 0.1 });
  assert.equal(low.status, 422);
  assert.match((await low.json()).error.message, /smallest calibrated FFN fraction/);
  // A server default overrides the model's.
  await post(createApp(w, { maxWaitMs: 0, defaultTau: 0.3 }), "/v1/embeddings", { input: [2, 3] }).then((r) =>
    r.body?.cancel()
  );
  assert.equal(seen, 0.3);
});

Deno.test("Scheduler: FIFO, one job at a time; aborted waiters leave the line", async () => {
  const s = new Scheduler(10, 1);
  const order: string[] = [];
  let running = 0;
  const job = (name: string) => async () => {
    running++;
    assert.equal(running, 1);
    await new Promise((r) => setTimeout(r, 5));
    order.push(name);
    running--;
    return name;
  };
  const ctl = new AbortController();
  const a = s.run(job("a"));
  const b = s.run(job("b"), ctl.signal);
  const c = s.run(job("c"));
  assert.equal(s.waiting, 3); // a starts after one turn of the event loop (arrivals get admitted first)
  ctl.abort(new Error("gone"));
  assert.equal(s.waiting, 2);
  await assert.rejects(b, /gone/);
  assert.deepEqual(await Promise.all([a, c]), ["a", "c"]);
  assert.deepEqual(order, ["a", "c"]);
});

Deno.test("Scheduler: admission is bounded; release is idempotent", () => {
  const s = new Scheduler(2, 3);
  const r1 = s.admit();
  s.admit();
  assert.throws(() => s.admit(), (e: Error & { status?: number; headers?: Record<string, string> }) => {
    assert.equal(e.status, 429);
    assert.equal(e.headers?.["Retry-After"], "3");
    return true;
  });
  r1();
  r1();
  assert.equal(s.inFlight, 1);
  s.admit();
  assert.equal(s.inFlight, 2);
});

Deno.test("Deadline: times out with a 504 error, follows client aborts, clears its timer", async () => {
  const d = new Deadline(10);
  await assert.rejects(d.race(new Promise(() => {})), (e: Error & { status?: number }) => e.status === 504);
  d.clear();
  const client = new AbortController();
  const d2 = new Deadline(10_000, client.signal);
  const p = d2.race(new Promise(() => {}));
  client.abort();
  await assert.rejects(p, (e: Error & { status?: number }) => e.status === 499);
  d2.clear();
});

Deno.test("jsonDepth: iterative, stops past the limit", () => {
  assert.equal(jsonDepth(1, 5), 0);
  assert.equal(jsonDepth({ a: [1, { b: [] }] }, 5), 4);
  let deep: unknown = [];
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assert.equal(jsonDepth(deep, 32), 33);
});
