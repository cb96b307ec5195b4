/** Hostile and mistaken requests: every one gets a 4xx JSON error in OpenAI's shape, never a 5xx. */
import assert from "node:assert/strict";
import { createApp } from "../../src/serve/app.ts";
import { expectError, model, post, wrap } from "./helpers.ts";

const quiet = { log: () => {}, maxWaitMs: 0 };

Deno.test("malformed, empty, non-object, non-UTF-8 and too-deep bodies → 400", async () => {
  const app = createApp(await model("bert"), quiet);
  for (const body of ["{oops", "", "   ", "[1,2]", '"text"', "null", '{"input": NaN}', "{'a': 1}"]) {
    const e = await expectError(await post(app, "/v1/embeddings", body), 400);
    assert.equal(e.type, "invalid_request_error");
    assert.equal(e.code, "invalid_json", body);
  }
  const bytes = await app.request("/v1/embeddings", {
    method: "POST",
    body: new Uint8Array([0x7b, 0xff, 0x7d]),
  });
  assert.match((await expectError(bytes, 400)).message, /UTF-8/);
  const deep = `{"input": ${"[".repeat(5000)}${"]".repeat(5000)}}`;
  assert.match((await expectError(await post(app, "/v1/embeddings", deep), 400)).message, /deeper than 32/);
});

Deno.test("body too large → 413, by Content-Length and by streamed size", async () => {
  const app = createApp(await model("bert"), { ...quiet, maxBodyBytes: 1000 });
  const big = JSON.stringify({ input: "x".repeat(2000) });
  const e = await expectError(await post(app, "/v1/embeddings", big), 413);
  assert.equal(e.code, "request_too_large");
  assert.match(e.message, /1000 bytes/);
  // No Content-Length: a stream that keeps going is cut off at the limit.
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent > 1e6) return c.close();
      sent += 100;
      c.enqueue(new Uint8Array(100).fill(0x20));
    },
  });
  const r = await app.request("/v1/embeddings", { method: "POST", body });
  await expectError(r, 413);
  assert.ok(sent < 10_000, `read ${sent} bytes of an oversized stream`);
});

Deno.test("unknown model → 404 in OpenAI's shape; served id and 'default' accepted", async () => {
  const app = createApp(await model("bert"), quiet);
  const e = await expectError(
    await post(app, "/v1/embeddings", { model: "text-embedding-3-small", input: [2, 3] }),
    404,
  );
  assert.deepEqual(
    { type: e.type, param: e.param, code: e.code },
    { type: "invalid_request_error", param: "model", code: "model_not_found" },
  );
  assert.match(e.message, /text-embedding-3-small/);
  for (const m of ["tiny-bert-relu", "default", null]) {
    assert.equal((await post(app, "/v1/embeddings", { model: m, input: [2, 3] })).status, 200);
  }
  await expectError(await post(app, "/v1/embeddings", { model: 42, input: [2, 3] }), 400);
});

Deno.test("wrong types and out-of-range values → 400 naming the field", async () => {
  const app = createApp(await model("gpt2"), quiet);
  const cases: [Record<string, unknown>, string][] = [
    [{ prompt: [1, 2], max_tokens: "5" }, "max_tokens"],
    [{ prompt: [1, 2], max_tokens: -1 }, "max_tokens"],
    [{ prompt: [1, 2], max_tokens: 2.5 }, "max_tokens"],
    [{ prompt: [1, 2], temperature: 3 }, "temperature"],
    [{ prompt: [1, 2], top_p: 1.5 }, "top_p"],
    [{ prompt: [1, 2], seed: 0.5 }, "seed"],
    [{ prompt: [1, 2], stream: "yes" }, "stream"],
    [{ prompt: [1, 2], n: 0 }, "n"],
    [{ prompt: [1, 2], tau: 1.5 }, "tau"],
    [{ prompt: [1, 2], tau: -0.1 }, "tau"],
    [{ prompt: [1, 2], tau: 0.5, compute_budget: 0.5 }, "compute_budget"],
    [{ prompt: [1, 2], compute_budget: 0 }, "compute_budget"],
    [{ prompt: [1, 2], stop: 7 }, "stop"],
    [{ prompt: [1, 2], stream_options: 1 }, "stream_options"],
    [{ prompt: [1, 2], echo: true }, "echo"],
    [{ prompt: [1, 2], logprobs: 2 }, "logprobs"],
    [{ prompt: [1, 2], presence_penalty: 0.5 }, "presence_penalty"],
    [{ prompt: [1, 2], logit_bias: { "5": 10 } }, "logit_bias"],
    [{ prompt: [1, 2], best_of: 3 }, "best_of"],
    [{ prompt: [1, 2], suffix: "x" }, "suffix"],
    [{ prompt: [1, 2], top_k: 1.5 }, "top_k"],
    [{ prompt: [1, 512] }, "prompt"],
    [{ prompt: [1, -1] }, "prompt"],
    [{ prompt: [1, "2"] }, "prompt"],
    [{ prompt: [[1, 2], []] }, "prompt[1]"],
    [{ prompt: [] }, "prompt"],
    [{ prompt: {} }, "prompt"],
    [{}, "prompt"],
  ];
  for (const [body, param] of cases) {
    const e = await expectError(await post(app, "/v1/completions", body), 400);
    assert.equal(e.param, param, JSON.stringify(body));
  }
});

Deno.test("huge numbers (1e400 parses as Infinity) and big integers → 400", async () => {
  const app = createApp(await model("gpt2"), quiet);
  const raw = '{"prompt": [1, 2], "max_tokens": 1e400}';
  assert.equal((await expectError(await post(app, "/v1/completions", raw), 400)).param, "max_tokens");
  const ids = '{"prompt": [1, 1e308]}';
  assert.equal((await expectError(await post(app, "/v1/completions", ids), 400)).param, "prompt");
  const seed = '{"prompt": [1, 2], "seed": 1e30}';
  assert.equal((await expectError(await post(app, "/v1/completions", seed), 400)).param, "seed");
});

Deno.test("too many tokens → 400 naming the limit", async () => {
  const gpt = createApp(await model("gpt2"), { ...quiet, maxTokensPerRequest: 50, maxCompletionTokens: 8 });
  const ctx = await expectError(
    await post(gpt, "/v1/completions", { prompt: new Array(60).fill(1), max_tokens: 8 }),
    400,
  );
  assert.equal(ctx.code, "context_length_exceeded");
  assert.match(ctx.message, /maximum context length is 64 tokens/);
  const req = await expectError(
    await post(gpt, "/v1/completions", {
      prompt: [new Array(30).fill(1), new Array(30).fill(1)],
      max_tokens: 1,
    }),
    400,
  );
  assert.match(req.message, /at most 50 tokens per request \(--max-request-tokens\)/);
  const mt = await expectError(await post(gpt, "/v1/completions", { prompt: [1], max_tokens: 9 }), 400);
  assert.match(mt.message, /at most 8 tokens per choice \(--max-completion-tokens\)/);

  const bert = createApp(await model("bert"), { ...quiet, maxInputs: 3 });
  const long = await expectError(
    await post(bert, "/v1/embeddings", { input: [[1, 2], new Array(65).fill(5)] }),
    400,
  );
  assert.equal(long.param, "input[1]");
  assert.match(long.message, /65 tokens; this model's maximum context length is 64/);
  const many = await expectError(await post(bert, "/v1/embeddings", { input: [[1], [2], [3], [4]] }), 400);
  assert.match(many.message, /at most 3/);
});

Deno.test("text on a model without a tokenizer, stop without one, routes the model lacks → 400", async () => {
  const gpt = createApp(await model("gpt2"), quiet);
  const t = await expectError(await post(gpt, "/v1/completions", { prompt: "Hello" }), 400);
  assert.match(t.message, /no tokenizer, so prompt must be token ids/);
  const s = await expectError(await post(gpt, "/v1/completions", { prompt: [1, 2], stop: "\n" }), 400);
  assert.equal(s.param, "stop");
  const cap = await expectError(await post(gpt, "/v1/embeddings", { input: [1, 2] }), 400);
  assert.equal(cap.code, "unsupported_model_operation");
  assert.match(cap.message, /serves \/v1\/completions/);

  const bert = createApp(await model("bert"), quiet);
  const e = await expectError(await post(bert, "/v1/embeddings", { input: "hello" }), 400);
  assert.match(e.message, /no tokenizer/);
  await expectError(await post(bert, "/v1/completions", { prompt: [1, 2] }), 400);
  await expectError(await post(bert, "/v1/embeddings", { input: [2, 3], encoding_format: "hex" }), 400);
  await expectError(await post(bert, "/v1/embeddings", { input: [2, 3], dimensions: 32 }), 400);
  assert.equal((await post(bert, "/v1/embeddings", { input: [2, 3], dimensions: 64 })).status, 200);
  await expectError(await post(bert, "/v1/embeddings", { input: [[2, 3], "mixed"] }), 400);
  await expectError(await post(bert, "/v1/embeddings", { input: [true] }), 400);

  const vit = createApp(await model("vit"), quiet);
  const img = await expectError(await post(vit, "/v1/classify", { input: [[[1, 2]]] }), 400);
  assert.match(img.message, /image \[3\]\[\d+\]\[\d+\]/);
});

Deno.test("compute_budget: 422 on a dense model and without a calibration table", async () => {
  const m = await model("bert");
  const dense = await expectError(
    await post(createApp(m, quiet), "/v1/embeddings", { input: [2, 3], compute_budget: 0.5 }),
    422,
  );
  assert.match(dense.message, /dense/);
  const moe = {
    formatVersion: 1,
    layers: [{ experts: 4, expertSize: 64 }],
    routerWidth: 16,
    defaultTau: 0.1,
  };
  const noTable = createApp(wrap(m, { moe }), quiet);
  const e = await expectError(
    await post(noTable, "/v1/embeddings", { input: [2, 3], compute_budget: 0.5 }),
    422,
  );
  assert.match(e.message, /no calibration table/);
});

Deno.test("the server keeps serving after a storm of bad requests", async () => {
  const app = createApp(await model("bert"), quiet);
  const junk = [
    "{",
    "[]",
    '{"input": {"a": 1}}',
    '{"input": [[1e400]]}',
    '{"input": [[-1]]}',
    '{"input": "x", "tau": "high"}',
  ];
  const all = await Promise.all(
    Array.from({ length: 60 }, (_, i) => post(app, "/v1/embeddings", junk[i % junk.length])),
  );
  for (const r of all) {
    assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
    await r.body?.cancel();
  }
  assert.equal((await post(app, "/v1/embeddings", { input: [2, 3] })).status, 200);
  assert.equal((await app.request("/health")).status, 200);
});
