/**
 * End to end: the real server on a free loopback port, driven by the official `openai` npm client and
 * by plain fetch (curl's view), then shut down gracefully.
 * @module
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { createApp } from "../../src/serve/app.ts";
import { startServer } from "../../src/serve/server.ts";
import { model } from "./helpers.ts";
import { assertClose } from "../helpers/close.ts";

Deno.test("openai client: embeddings (base64 default and float) against a BERT with vocab.txt", async () => {
  const m = await model("bert-text");
  await using server = startServer(createApp(m), { hostname: "127.0.0.1", port: 0 });
  assert.ok(server.addr.port > 0);
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
  const texts = ["the cat was in the house", "he is on it"];
  const want = await m.embed(texts);

  // The client asks for base64 by default and decodes it to numbers.
  const r = await client.embeddings.create({ model: "default", input: texts });
  assert.equal(r.data.length, 2);
  assert.equal(r.model, m.id);
  assert.equal(r.usage.prompt_tokens, texts.reduce((s, t) => s + m.tokenizer!.encode(t).length, 0));
  // Batch composition may change float rounding in the CPU kernels: equal up to f32 noise.
  r.data.forEach((d, i) =>
    assertClose(Array.from(d.embedding), Array.from(want.embeddings[i]), { atol: 1e-6 })
  );

  const f = await client.embeddings.create({ model: m.id, input: "he is on it", encoding_format: "float" });
  assertClose(f.data[0].embedding, Array.from(want.embeddings[1]), { atol: 1e-6 });

  await assert.rejects(
    client.embeddings.create({ model: "text-embedding-3-small", input: "x" }),
    (e: unknown) => e instanceof OpenAI.NotFoundError && /does not exist/.test(e.message),
  );
  await assert.rejects(
    client.embeddings.create({ model: m.id, input: "x", dimensions: 3 }),
    (e: unknown) => e instanceof OpenAI.BadRequestError,
  );
});

Deno.test("openai client: streamed completions with token-id prompts on the GPT-2 fixture", async () => {
  const m = await model("gpt2");
  await using server = startServer(createApp(m), { hostname: "127.0.0.1", port: 0 });
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
  const prompt = [10, 336, 491, 301];
  const want = await m.generate(prompt, { maxTokens: 8, greedy: true });

  const stream = await client.completions.create({
    model: "tiny-gpt2-relu",
    prompt,
    max_tokens: 8,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  const ids: number[] = [];
  let finish: string | null = null;
  let usage: OpenAI.Completions.CompletionUsage | undefined;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      ids.push(...((c as unknown as { token_ids?: number[] }).token_ids ?? []));
      finish = c.finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.deepEqual(ids, want.token_ids);
  assert.equal(finish, "length");
  assert.deepEqual(usage, { prompt_tokens: 4, completion_tokens: 8, total_tokens: 12 });

  const whole = await client.completions.create({
    model: "default",
    prompt: [prompt],
    max_tokens: 8,
    temperature: 0,
  });
  assert.deepEqual((whole.choices[0] as unknown as { token_ids: number[] }).token_ids, want.token_ids);
  assert.equal(whole.choices[0].text, "");
  await assert.rejects(
    client.completions.create({ model: "default", prompt: "text needs a tokenizer" }),
    (e: unknown) => e instanceof OpenAI.BadRequestError && /no tokenizer/.test(e.message),
  );
});

Deno.test("curl's view: plain HTTP, hostile requests get 4xx JSON; shutdown waits for a running stream", async () => {
  const m = await model("gpt2");
  const server = startServer(createApp(m), { hostname: "127.0.0.1", port: 0 });
  const get = async (path: string) => {
    const r = await fetch(`${server.url}${path}`);
    return { status: r.status, type: r.headers.get("content-type"), body: await r.text() };
  };
  assert.equal((await get("/health")).status, 200);
  assert.match((await get("/metrics")).body, /d2d_http_requests_total/);
  const nf = await get("/v1/nope");
  assert.equal(nf.status, 404);
  assert.match(nf.type ?? "", /json/);
  const send = async (body: BodyInit) => {
    const r = await fetch(`${server.url}/v1/completions`, { method: "POST", body });
    const text = await r.text();
    assert.match(r.headers.get("content-type") ?? "", /json/);
    assert.ok(JSON.parse(text).error, text);
    return r.status;
  };
  assert.equal(await send("{not json"), 400);
  assert.equal(await send(JSON.stringify({ prompt: [1], max_tokens: 1e9 })), 400);
  assert.equal(await send("x".repeat(5 * 1024 * 1024)), 413);

  // A stream in flight when shutdown starts still completes.
  const res = await fetch(`${server.url}/v1/completions`, {
    method: "POST",
    body: JSON.stringify({ prompt: [1, 2], max_tokens: 20, stream: true }),
  });
  const stopping = server.shutdown();
  const text = await res.text();
  assert.ok(text.endsWith("data: [DONE]\n\n"));
  await stopping;
  await assert.rejects(fetch(`${server.url}/health`));
});
