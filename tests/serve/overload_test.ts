/** Overload and time limits: a full queue answers 429 + Retry-After, a slow device 504, and both recover. */
import assert from "node:assert/strict";
import { createApp } from "../../src/serve/app.ts";
import { expectError, Gate, model, post, sseData, wrap } from "./helpers.ts";

Deno.test("queue full → 429 with Retry-After; admitted work still completes, then capacity returns", async () => {
  const gate = new Gate();
  const w = wrap(await model("bert"), {}, gate);
  const app = createApp(w, { maxQueue: 2, maxWaitMs: 0, retryAfterSeconds: 2 });
  const first = post(app, "/v1/embeddings", { input: [2, 10, 3] });
  const second = post(app, "/v1/completions", { prompt: [1] }).catch(() => null); // 400 (bert), never queued
  const third = post(app, "/v1/embeddings", { input: [2, 11, 3] });
  await new Promise((r) => setTimeout(r, 20));
  const full = await post(app, "/v1/embeddings", { input: [2, 12, 3] });
  assert.equal(full.headers.get("retry-after"), "2");
  const e = await expectError(full, 429);
  assert.equal(e.code, "queue_full");
  assert.equal(e.type, "rate_limit_error");
  const metrics = await (await app.request("/metrics")).text();
  assert.match(metrics, /^d2d_requests_in_flight 2$/m);
  gate.open();
  assert.equal((await first).status, 200);
  assert.equal((await third).status, 200);
  await (await second)?.body?.cancel();
  assert.equal((await post(app, "/v1/embeddings", { input: [2, 12, 3] })).status, 200);
});

Deno.test("streams count against the queue too: 429 before the stream starts", async () => {
  const gate = new Gate();
  const app = createApp(wrap(await model("gpt2"), {}, gate), { maxQueue: 1 });
  const first = post(app, "/v1/completions", { prompt: [1, 2], max_tokens: 2, stream: true });
  const r1 = await first;
  assert.equal(r1.status, 200);
  await expectError(await post(app, "/v1/completions", { prompt: [1, 2], max_tokens: 2, stream: true }), 429);
  gate.open();
  assert.equal(sseData(await r1.text()).at(-1), "[DONE]");
});

Deno.test("request timeout → 504 in OpenAI's shape; the server recovers", async () => {
  const gate = new Gate();
  const w = wrap(await model("bert"), {}, gate);
  const app = createApp(w, { requestTimeoutMs: 40, maxWaitMs: 0, maxQueue: 4 });
  const e = await expectError(await post(app, "/v1/embeddings", { input: [2, 10, 3] }), 504);
  assert.equal(e.code, "timeout");
  assert.match(e.message, /40 ms/);
  // A request still waiting behind the stuck one times out too and leaves the queue.
  await expectError(await post(app, "/v1/embeddings", { input: [2, 10, 3], tau: 0 }), 504);
  gate.open();
  await new Promise((r) => setTimeout(r, 10));
  const ok = await post(app, "/v1/embeddings", { input: [2, 10, 3] });
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  assert.match(await (await app.request("/metrics")).text(), /^d2d_requests_in_flight 0$/m);
});

Deno.test("timeout during a stream → an error event (OpenAI clients raise it)", async () => {
  const gate = new Gate();
  const app = createApp(wrap(await model("gpt2"), {}, gate), { requestTimeoutMs: 40, log: () => {} });
  const res = await post(app, "/v1/completions", { prompt: [1, 2], max_tokens: 2, stream: true });
  assert.equal(res.status, 200);
  const events = sseData(await res.text());
  const last = JSON.parse(events.at(-1)!);
  assert.equal(last.error.code, "timeout");
  gate.open();
  await new Promise((r) => setTimeout(r, 10));
});

Deno.test("a client that cancels a stream stops its generation", async () => {
  const m = await model("gpt2");
  let steps = 0;
  const w = wrap(m, {
    generate: (prompt, opts) =>
      m.generate(prompt, {
        ...opts,
        onToken: (id) => {
          steps++;
          return opts?.onToken?.(id);
        },
      }),
  });
  const app = createApp(w);
  const res = await post(app, "/v1/completions", { prompt: [1, 2], max_tokens: 60, stream: true });
  const reader = res.body!.getReader();
  await reader.read();
  await reader.cancel();
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(steps < 60, `generation ran ${steps} steps after the client left`);
  assert.match(await (await app.request("/metrics")).text(), /^d2d_requests_in_flight 0$/m);
});
