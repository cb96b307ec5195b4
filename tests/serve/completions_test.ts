import assert from "node:assert/strict";
import { createApp } from "../../src/serve/app.ts";
import { expectError, model, post, sseData } from "./helpers.ts";

const PROMPT = [10, 336, 491, 301];

Deno.test("completions: token-id prompt without a tokenizer → token_ids, empty text, usage, ffn_fraction", async () => {
  const m = await model("gpt2");
  const app = createApp(m);
  const res = await post(app, "/v1/completions", {
    model: "default",
    prompt: PROMPT,
    max_tokens: 6,
    temperature: 0,
  });
  assert.equal(res.status, 200);
  const body = await res.json();
  const want = await m.generate(PROMPT, { maxTokens: 6, greedy: true });
  assert.match(body.id, /^cmpl-/);
  assert.equal(body.object, "text_completion");
  assert.equal(body.model, "tiny-gpt2-relu");
  assert.equal(typeof body.created, "number");
  assert.deepEqual(body.choices, [{
    index: 0,
    text: "",
    logprobs: null,
    finish_reason: "length",
    token_ids: want.token_ids,
  }]);
  assert.deepEqual(body.usage, { prompt_tokens: 4, completion_tokens: 6, total_tokens: 10 });
  assert.equal(body.ffn_fraction, 1);
  assert.equal(body.d2dmoe.tau, null);
  assert.equal(body.d2dmoe.compute_fraction, 1);
});

Deno.test("completions: several prompts and n → one choice each, in OpenAI's index order", async () => {
  const app = createApp(await model("gpt2"));
  const body = await (await post(app, "/v1/completions", {
    prompt: [PROMPT, [5, 6]],
    n: 2,
    max_tokens: 3,
    seed: 7,
  })).json();
  assert.deepEqual(body.choices.map((c: { index: number }) => c.index), [0, 1, 2, 3]);
  assert.ok(body.choices.every((c: { token_ids: number[] }) => c.token_ids.length === 3));
  assert.deepEqual(body.usage, { prompt_tokens: 6, completion_tokens: 12, total_tokens: 18 });
  // Same seed, same sample.
  const again =
    await (await post(app, "/v1/completions", { prompt: [PROMPT, [5, 6]], n: 2, max_tokens: 3, seed: 7 }))
      .json();
  assert.deepEqual(again.choices, body.choices);
});

Deno.test("completions: stream → SSE chunks, a finish chunk, usage chunk, ending with data: [DONE]", async () => {
  const m = await model("gpt2");
  const app = createApp(m);
  const res = await post(app, "/v1/completions", {
    prompt: PROMPT,
    max_tokens: 5,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const text = await res.text();
  assert.ok(text.endsWith("data: [DONE]\n\n"), text.slice(-80));
  const events = sseData(text);
  assert.equal(events.at(-1), "[DONE]");
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
  const ids = chunks.flatMap((c) => c.choices.flatMap((x: { token_ids: number[] }) => x.token_ids));
  assert.deepEqual(ids, (await m.generate(PROMPT, { maxTokens: 5, greedy: true })).token_ids);
  const id = chunks[0].id;
  for (const c of chunks) {
    assert.equal(c.id, id);
    assert.equal(c.object, "text_completion");
    assert.equal(c.model, "tiny-gpt2-relu");
  }
  const fin = chunks.at(-2);
  assert.equal(fin.choices[0].finish_reason, "length");
  assert.equal(fin.d2dmoe.ffn_fraction, 1);
  assert.ok(chunks.slice(0, -2).every((c) => c.choices[0].finish_reason === null));
  assert.deepEqual(chunks.at(-1).choices, []);
  assert.deepEqual(chunks.at(-1).usage, { prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 });
});

/** Greedy text after `prompt` (a fixed, varied continuation on the random tiny model). */
async function greedyText(prompt: string, maxTokens: number): Promise<string> {
  const m = await model("gpt2-text");
  const r = await m.generate(m.tokenizer!.encode(prompt), { maxTokens, greedy: true });
  return m.tokenizer!.decode(r.token_ids);
}

Deno.test("completions: text prompt with a tokenizer decodes text; no token_ids", async () => {
  const app = createApp(await model("gpt2-text"));
  const body = await (await post(app, "/v1/completions", {
    prompt: "The quick brown fox",
    max_tokens: 12,
    temperature: 0,
  })).json();
  assert.equal(body.choices[0].text, await greedyText("The quick brown fox", 12));
  assert.equal(body.choices[0].token_ids, undefined);
  assert.equal(body.choices[0].finish_reason, "length");
  await expectError(await post(app, "/v1/completions", { prompt: "" }), 400); // no BOS token in this vocabulary
});

Deno.test("completions: stop strings end the text before the stop, also when streamed (nothing leaks)", async () => {
  const app = createApp(await model("gpt2-text"));
  const prompt = "The quick brown fox";
  const full = await greedyText(prompt, 30);
  assert.ok(full.length > 24, `continuation too short: ${JSON.stringify(full)}`);
  // A stop string starting mid-way, and one that never occurs.
  const stop = full.slice(16, 20);
  const expected = full.slice(0, full.indexOf(stop));
  const req = { prompt, max_tokens: 30, temperature: 0, stop: [stop, "NEVER HAPPENS"] };
  const body = await (await post(app, "/v1/completions", req)).json();
  assert.equal(body.choices[0].text, expected);
  assert.equal(body.choices[0].finish_reason, "stop");
  assert.ok(body.usage.completion_tokens < 30);

  const events = sseData(await (await post(app, "/v1/completions", { ...req, stream: true })).text());
  assert.equal(events.at(-1), "[DONE]");
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
  assert.equal(chunks.map((c) => c.choices[0].text).join(""), expected);
  assert.equal(chunks.at(-1).choices[0].finish_reason, "stop");

  const none =
    await (await post(app, "/v1/completions", { prompt, max_tokens: 30, temperature: 0, stop: "NEVER" }))
      .json();
  assert.equal(none.choices[0].text, full);
  assert.equal(none.choices[0].finish_reason, "length");
});

Deno.test("completions: model-level input errors surface as 400 (never 5xx)", async () => {
  const app = createApp(await model("gpt2"), { log: () => {} });
  const e = await expectError(await post(app, "/v1/completions", { prompt: PROMPT, max_tokens: 61 }), 400);
  assert.equal(e.code, "context_length_exceeded");
});
