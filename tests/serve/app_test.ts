import assert from "node:assert/strict";
import { Hono } from "hono";
import { createApp } from "../../src/serve/app.ts";
import { expectError, model, post, wrap } from "./helpers.ts";

Deno.test("GET /health: 200 by default, 503 from the health hook (also when it throws)", async () => {
  const m = await model("bert");
  const ok = await createApp(m).request("/health");
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { status: "ok", model: "tiny-bert-relu", device: "cpu" });

  const lost = createApp(m, {
    health: () => ({ ok: false, status: "device_lost", message: "GPU went away" }),
  });
  const r = await lost.request("/health");
  assert.equal(r.status, 503);
  const body = await r.json();
  assert.equal(body.status, "device_lost");
  assert.equal(body.error.message, "GPU went away");

  const throwing = createApp(m, {
    health: () => {
      throw new Error("probe failed");
    },
    log: () => {},
  });
  assert.equal((await throwing.request("/health")).status, 503);
});

Deno.test("GET /v1/models and /v1/models/:id in OpenAI's shape; other ids 404", async () => {
  const app = createApp(await model("gpt2"));
  const list = await (await app.request("/v1/models")).json();
  assert.equal(list.object, "list");
  assert.equal(list.data.length, 1);
  assert.equal(list.data[0].id, "tiny-gpt2-relu");
  assert.equal(list.data[0].object, "model");
  assert.equal(typeof list.data[0].created, "number");
  assert.equal((await (await app.request("/v1/models/tiny-gpt2-relu")).json()).id, "tiny-gpt2-relu");
  assert.equal((await (await app.request("/v1/models/default")).json()).id, "tiny-gpt2-relu");
  const e = await expectError(await app.request("/v1/models/gpt-4"), 404);
  assert.equal(e.code, "model_not_found");
});

Deno.test("GET /info: architecture, capabilities, conversion, device, limits", async () => {
  const info = await (await createApp(await model("bert"), { maxQueue: 7 }).request("/info")).json();
  assert.equal(info.model, "tiny-bert-relu");
  assert.equal(info.family, "bert");
  assert.equal(info.architecture, "BertForSequenceClassification");
  assert.deepEqual(info.labels, ["LABEL_0", "LABEL_1", "LABEL_2"]);
  assert.equal(info.converted, false);
  assert.equal(info.experts_per_layer, null);
  assert.equal(info.default_tau, null);
  assert.equal(info.device.kind, "cpu");
  assert.equal(info.limits.max_queue, 7);
  assert.ok(info.routes.includes("POST /v1/embeddings"));
  assert.ok(!info.routes.includes("POST /v1/completions"));

  const moe = {
    formatVersion: 1,
    layers: [{ experts: 8, expertSize: 32 }, { experts: 8, expertSize: 32 }],
    routerWidth: 128,
    defaultTau: 0.2,
  };
  const conv = await (await createApp(wrap(await model("bert"), { moe })).request("/info")).json();
  assert.equal(conv.converted, true);
  assert.deepEqual(conv.experts_per_layer, [8, 8]);
  assert.deepEqual(conv.expert_size, [32, 32]);
  assert.equal(conv.default_tau, 0.2);
});

Deno.test("GET /: an index a browser can read", async () => {
  const body = await (await createApp(await model("vit")).request("/")).json();
  assert.equal(body.name, "d2dmoe");
  assert.ok(body.routes.includes("POST /v1/classify"));
});

Deno.test("unknown route → 404 JSON; wrong method → 405 JSON with Allow", async () => {
  const app = createApp(await model("bert"));
  const e = await expectError(await app.request("/v2/nothing"), 404);
  assert.match(e.message, /Invalid URL \(GET \/v2\/nothing\)/);
  const r = await app.request("/v1/embeddings");
  assert.equal(r.headers.get("allow"), "POST");
  assert.equal((await expectError(r, 405)).code, "method_not_allowed");
  const r2 = await post(app, "/health", {});
  assert.equal(r2.headers.get("allow"), "GET");
  await expectError(r2, 405);
});

Deno.test("GET /metrics: Prometheus text with requests, latency, tokens, queue and batches", async () => {
  const app = createApp(await model("bert"), { maxWaitMs: 0 });
  await post(app, "/v1/embeddings", { input: [[2, 10, 3], [2, 11, 12, 3]] });
  await app.request("/nope");
  const res = await app.request("/metrics");
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  assert.match(text, /^# HELP d2d_http_requests_total /m);
  assert.match(text, /^# TYPE d2d_http_requests_total counter$/m);
  assert.match(text, /^d2d_http_requests_total\{route="\/v1\/embeddings",method="POST",status="200"\} 1$/m);
  assert.match(text, /^d2d_http_requests_total\{route="unmatched",method="GET",status="404"\} 1$/m);
  assert.match(text, /^d2d_http_request_duration_seconds_bucket\{route="\/v1\/embeddings",le="\+Inf"\} 1$/m);
  assert.match(text, /^d2d_http_request_duration_seconds_count\{route="\/v1\/embeddings"\} 1$/m);
  assert.match(text, /^d2d_tokens_total\{route="\/v1\/embeddings",kind="prompt"\} 7$/m);
  assert.match(text, /^d2d_queue_depth 0$/m);
  assert.match(text, /^d2d_requests_in_flight 0$/m);
  assert.match(text, /^d2d_batch_requests_count\{route="\/v1\/embeddings"\} 1$/m);
  assert.match(
    text,
    /^d2d_model_info\{model="tiny-bert-relu",family="bert",device="cpu",provider="cpu"\} 1$/m,
  );
  // Every sample line is `name{labels} value`.
  for (const line of text.trim().split("\n")) {
    if (!line.startsWith("#")) assert.match(line, /^[a-z0-9_]+(\{[^}]*\})? [-+0-9.eInfa]+$/, line);
  }
});

Deno.test("expert fraction per layer (and of attention experts) from converted-model stats", async () => {
  const m = await model("bert");
  const moe = {
    formatVersion: 1,
    layers: [{ experts: 4, expertSize: 64 }, { experts: 4, expertSize: 64 }],
    routerWidth: 16,
    defaultTau: 0.5,
  };
  const stats = {
    tokens: 4,
    ffn_fraction: 0.5,
    compute_fraction: 0.8,
    macs: 1,
    dense_macs: 2,
    ffn_macs: 1,
    dense_ffn_macs: 2,
    attention_fraction: 0.75,
    attention_macs: 3,
    dense_attention_macs: 4,
    layers: [
      { executed_pairs: 8, ffn_fraction: 0.5 },
      { executed_pairs: 4, ffn_fraction: 0.25 },
    ],
  };
  const fake = wrap(m, {
    moe,
    embed: (inputs) =>
      Promise.resolve({
        embeddings: inputs.map(() => new Float32Array(64)),
        token_counts: inputs.map(() => 4),
        stats,
      }),
  });
  const app = createApp(fake, { maxWaitMs: 0 });
  const r = await (await post(app, "/v1/embeddings", { input: [1, 2, 3, 4] })).json();
  assert.deepEqual(r.d2dmoe.layers, [0.5, 0.25]);
  assert.equal(r.d2dmoe.tau, 0.5);
  assert.equal(r.d2dmoe.attention_fraction, 0.75, "converted attention projections are reported");
  const text = await (await app.request("/metrics")).text();
  assert.match(text, /^d2d_expert_fraction\{layer="0"\} 0\.5$/m);
  assert.match(text, /^d2d_expert_fraction\{layer="1"\} 0\.25$/m);
  assert.match(text, /^d2d_expert_pairs_executed_total\{layer="1"\} 4$/m);
});

Deno.test("mounts inside a user's Hono app, keeping its error handling", async () => {
  const outer = new Hono();
  outer.get("/", (c) => c.text("mine"));
  outer.route("/d2d", createApp(await model("bert"), { maxWaitMs: 0 }));
  assert.equal(await (await outer.request("/")).text(), "mine");
  assert.equal((await outer.request("/d2d/health")).status, 200);
  const ok = await post(outer, "/d2d/v1/embeddings", { input: [2, 10, 3] });
  assert.equal(ok.status, 200);
  await expectError(await post(outer, "/d2d/v1/embeddings", "{oops"), 400);
});

Deno.test("CORS headers only when configured", async () => {
  const m = await model("bert");
  const plain = await createApp(m).request("/health", { headers: { origin: "http://x.test" } });
  assert.equal(plain.headers.get("access-control-allow-origin"), null);
  const app = createApp(m, { cors: "*" });
  const res = await app.request("/health", { headers: { origin: "http://x.test" } });
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  const pre = await app.request("/v1/embeddings", {
    method: "OPTIONS",
    headers: { origin: "http://x.test", "access-control-request-method": "POST" },
  });
  assert.equal(pre.status, 204);
});

Deno.test("createApp rejects nonsense options", async () => {
  const m = await model("bert");
  assert.throws(() => createApp(m, { maxQueue: 0 }), RangeError);
  assert.throws(() => createApp(m, { maxBodyBytes: 1.5 }), RangeError);
  assert.throws(() => createApp(m, { maxWaitMs: -1 }), RangeError);
  assert.throws(() => createApp(m, { defaultTau: 2 }), RangeError);
});
