import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { InvalidInputError } from "../../src/model/errors.ts";
import { createApp } from "../../src/serve/app.ts";
import { expectError, model, post, wrap } from "./helpers.ts";

Deno.test("embeddings: OpenAI's response shape, values equal model.embed, usage and ffn_fraction", async () => {
  const m = await model("bert");
  const app = createApp(m, { maxWaitMs: 0 });
  const input = [[2, 10, 11, 3], [2, 40, 3]];
  const res = await post(app, "/v1/embeddings", { model: "tiny-bert-relu", input });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.object, "list");
  assert.equal(body.model, "tiny-bert-relu");
  assert.deepEqual(body.usage, { prompt_tokens: 7, total_tokens: 7 });
  assert.equal(body.ffn_fraction, 1);
  assert.deepEqual(body.d2dmoe, { tau: null, ffn_fraction: 1, compute_fraction: 1, batch_requests: 1 });
  const direct = await m.embed(input);
  body.data.forEach((d: { object: string; index: number; embedding: number[] }, i: number) => {
    assert.equal(d.object, "embedding");
    assert.equal(d.index, i);
    assert.deepEqual(d.embedding, Array.from(direct.embeddings[i]));
  });
});

Deno.test("embeddings: base64 is little-endian float32 bytes", async () => {
  const app = createApp(await model("bert"), { maxWaitMs: 0 });
  const input = [2, 10, 11, 3];
  const f = await (await post(app, "/v1/embeddings", { input })).json();
  const b = await (await post(app, "/v1/embeddings", { input, encoding_format: "base64" })).json();
  const bytes = Buffer.from(b.data[0].embedding, "base64");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoded = Array.from({ length: bytes.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true));
  assert.deepEqual(decoded, f.data[0].embedding);
});

Deno.test("embeddings: text with a vocab.txt tokenizer; pooling / normalize / truncate extensions", async () => {
  const m = await model("bert-text");
  const app = createApp(m, { maxWaitMs: 0 });
  const texts = ["the cat was in the house", "he is on it"];
  const body = await (await post(app, "/v1/embeddings", { input: texts })).json();
  const ids = texts.map((t) => m.tokenizer!.encode(t));
  assert.equal(body.usage.prompt_tokens, ids[0].length + ids[1].length);
  const direct = await m.embed(texts);
  assert.deepEqual(body.data[1].embedding, Array.from(direct.embeddings[1]));

  const raw =
    await (await post(app, "/v1/embeddings", { input: "the end", normalize: false, pooling: "cls" })).json();
  const cls = await m.embed(["the end"], { normalize: false, pooling: "cls" });
  assert.deepEqual(raw.data[0].embedding, Array.from(cls.embeddings[0]));

  const long = Array(80).fill("the").join(" ");
  await expectError(await post(app, "/v1/embeddings", { input: long }), 400);
  const cut = await (await post(app, "/v1/embeddings", { input: long, truncate: true })).json();
  assert.equal(cut.usage.prompt_tokens, 64);
});

Deno.test("batching: concurrent embedding requests share fewer model calls, each gets its own rows", async () => {
  const m = await model("bert");
  const w = wrap(m);
  const app = createApp(w, { maxWaitMs: 30, maxBatchTokens: 4096 });
  const inputs = Array.from({ length: 12 }, (_, i) => [[2, 10 + i, 3], [2, 100 + i, 101, 3]]);
  const res = await Promise.all(inputs.map((input) => post(app, "/v1/embeddings", { input })));
  const bodies = await Promise.all(res.map((r) => r.json()));
  assert.ok(w.calls.embed < inputs.length, `${w.calls.embed} model calls for ${inputs.length} requests`);
  assert.ok(bodies.some((b) => b.d2dmoe.batch_requests > 1));
  // Padding in a batch must not change anyone's result.
  for (const [i, b] of bodies.entries()) {
    const alone = await m.embed(inputs[i]);
    b.data.forEach((d: { embedding: number[] }, j: number) => {
      const want = alone.embeddings[j];
      d.embedding.forEach((v, k) => assert.ok(Math.abs(v - want[k]) < 1e-5, `request ${i} row ${j}`));
    });
    assert.equal(b.usage.prompt_tokens, 7);
  }
});

Deno.test("batching: maxBatchTokens splits batches; a bad request in a batch fails alone", async () => {
  const m = await model("bert");
  const w = wrap(m);
  const app = createApp(w, { maxWaitMs: 30, maxBatchTokens: 8 });
  const res = await Promise.all(
    Array.from({ length: 6 }, (_, i) => post(app, "/v1/embeddings", { input: [2, 10 + i, 3] })),
  );
  for (const r of res) assert.equal(r.status, 200);
  assert.ok(w.calls.embed >= 3, `${w.calls.embed} calls: batches of 3-token rows must hold at most 2`);

  // A rejection by the model itself (injected) must not fail the other requests of the batch.
  const picky = wrap(m, {
    embed: (inputs, opts) => {
      if (inputs.some((r) => Array.isArray(r) && r.includes(66))) {
        return Promise.reject(new InvalidInputError("input", "token 66 is cursed"));
      }
      return m.embed(inputs, opts);
    },
  });
  const app2 = createApp(picky, { maxWaitMs: 30 });
  const [good, bad] = await Promise.all([
    post(app2, "/v1/embeddings", { input: [2, 10, 3] }),
    post(app2, "/v1/embeddings", { input: [2, 66, 3] }),
  ]);
  assert.equal(good.status, 200);
  assert.match((await expectError(bad, 400)).message, /cursed/);
});

Deno.test("classify: BERT token ids and ViT images, labels from id2label, scores sum to 1", async () => {
  const bert = await model("bert");
  const app = createApp(bert, { maxWaitMs: 0 });
  const body = await (await post(app, "/v1/classify", { input: [[2, 10, 11, 3], [2, 40, 3]] })).json();
  assert.equal(body.object, "list");
  assert.equal(body.data.length, 2);
  const direct = await bert.classify([[2, 10, 11, 3], [2, 40, 3]]);
  for (const [i, d] of body.data.entries()) {
    assert.equal(d.object, "classification");
    assert.equal(d.index, i);
    assert.equal(d.label, direct.results[i][0].label);
    assert.deepEqual(d.scores, direct.results[i]);
    assert.ok(Math.abs(d.scores.reduce((s: number, x: { score: number }) => s + x.score, 0) - 1) < 1e-6);
    assert.ok(["LABEL_0", "LABEL_1", "LABEL_2"].includes(d.label));
  }
  assert.equal(body.usage.prompt_tokens, 7);
  const top1 = await (await post(app, "/v1/classify", { input: [2, 10, 3], top_k: 1 })).json();
  assert.equal(top1.data[0].scores.length, 1);

  const vit = await model("vit");
  const cfg = vit.config as { numChannels: number; imageSize: number; patchSize: number };
  const img = Array.from(
    { length: cfg.numChannels },
    (_, c) =>
      Array.from(
        { length: cfg.imageSize },
        (_, y) => Array.from({ length: cfg.imageSize }, (_, x) => Math.sin(c + x * y)),
      ),
  );
  const v = await (await post(createApp(vit, { maxWaitMs: 0 }), "/v1/classify", { input: img })).json();
  const vd = await vit.classify([img]);
  assert.deepEqual(v.data[0].scores, vd.results[0]);
  assert.equal(v.usage.prompt_tokens, (cfg.imageSize / cfg.patchSize) ** 2 + 1);
});
