import assert from "node:assert/strict";
import { join } from "node:path";
import { type BertConfig, parseConfig, readConfig } from "../../src/model/config.ts";
import { ModelFormatError, UnsupportedModelError } from "../../src/model/errors.ts";

import { FIXTURES } from "../helpers/fixtures.ts";
const FILE = "cfg/config.json";

type ErrorClass = typeof ModelFormatError | typeof UnsupportedModelError;

/** Asserts `fn` throws `cls` with a message that starts with the file and contains each part. */
function assertError(cls: ErrorClass, fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e) => checkError(cls, e, FILE, parts));
}

function checkError(cls: ErrorClass, e: unknown, file: string, parts: string[]): boolean {
  assert.ok(e instanceof cls, `expected ${cls.name}, got ${e}`);
  assert.ok(e.message.startsWith(`${file}: `), `message should name ${file}: ${e.message}`);
  for (const p of parts) assert.ok(e.message.includes(p), `message lacks "${p}": ${e.message}`);
  return true;
}

const BERT = {
  architectures: ["BertForSequenceClassification"],
  model_type: "bert",
  hidden_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 256,
  hidden_act: "gelu",
  vocab_size: 512,
  max_position_embeddings: 64,
  id2label: { "0": "neg", "1": "pos" },
};
const GPT2 = { model_type: "gpt2", n_embd: 64, n_layer: 2, n_head: 4, n_positions: 64, vocab_size: 512 };
const VIT = {
  model_type: "vit",
  hidden_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 256,
  image_size: 32,
  patch_size: 8,
};

const bert = (over: Record<string, unknown>) => parseConfig({ ...BERT, ...over }, FILE);
const gpt2 = (over: Record<string, unknown>) => parseConfig({ ...GPT2, ...over }, FILE);
const vit = (over: Record<string, unknown>) => parseConfig({ ...VIT, ...over }, FILE);

Deno.test("fixtures: tiny-bert-gelu and tiny-bert-relu", async () => {
  for (const [dir, activation] of [["tiny-bert-gelu", "gelu"], ["tiny-bert-relu", "relu"]] as const) {
    const c = await readConfig(join(FIXTURES, dir));
    assert.equal(c.family, "bert");
    const { raw, ...rest } = c as BertConfig;
    assert.equal(raw.model_type, "bert");
    assert.deepEqual(rest, {
      family: "bert",
      architectures: ["BertForSequenceClassification"],
      task: "sequence-classification",
      hidden: 64,
      layers: 2,
      heads: 4,
      ffn: 256,
      activation,
      layerNormEps: 1e-12,
      vocabSize: 512,
      maxPositions: 64,
      typeVocabSize: 2,
      padTokenId: 0,
      labels: ["LABEL_0", "LABEL_1", "LABEL_2"],
      file: join(FIXTURES, dir, "config.json"),
    });
  }
});

Deno.test("fixtures: tiny-gpt2-gelu and tiny-gpt2-relu", async () => {
  for (const [dir, activation] of [["tiny-gpt2-gelu", "gelu_tanh"], ["tiny-gpt2-relu", "relu"]] as const) {
    const c = await readConfig(join(FIXTURES, dir));
    if (c.family !== "gpt2") throw new Error(`expected gpt2, got ${c.family}`);
    assert.equal(c.activation, activation);
    assert.equal(c.hidden, 64);
    assert.equal(c.layers, 2);
    assert.equal(c.heads, 4);
    assert.equal(c.ffn, 256); // n_inner null → 4 × n_embd
    assert.equal(c.layerNormEps, 1e-5);
    assert.equal(c.vocabSize, 512);
    assert.equal(c.maxPositions, 64);
    assert.equal(c.bosTokenId, 50256);
    assert.equal(c.eosTokenId, 50256);
    assert.equal(c.tieWordEmbeddings, true);
    assert.deepEqual(c.architectures, ["GPT2LMHeadModel"]);
  }
});

Deno.test("fixture: tiny-vit", async () => {
  const c = await readConfig(join(FIXTURES, "tiny-vit"));
  if (c.family !== "vit") throw new Error(`expected vit, got ${c.family}`);
  assert.equal(c.task, "image-classification");
  assert.equal(c.imageSize, 32);
  assert.equal(c.patchSize, 8);
  assert.equal(c.numChannels, 3);
  assert.equal(c.qkvBias, true);
  assert.equal(c.activation, "gelu");
  assert.equal(c.layerNormEps, 1e-12);
  assert.deepEqual(c.labels, ["LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3", "LABEL_4"]);
});

Deno.test("family and task from model_type, architectures, or both", () => {
  const base = bert({ architectures: ["BertModel"] });
  assert.ok(base.family === "bert" && base.task === "base");
  assert.deepEqual(base.family === "bert" && base.labels, []);
  const noArch = bert({ architectures: undefined });
  assert.ok(noArch.family === "bert" && noArch.task === "base");
  const noType = bert({ model_type: undefined });
  assert.ok(noType.family === "bert" && noType.task === "sequence-classification");
  assert.equal(
    parseConfig({ ...GPT2, model_type: undefined, architectures: ["GPT2Model"] }, FILE).family,
    "gpt2",
  );
  const vitBase = vit({ architectures: ["ViTModel"] });
  assert.ok(vitBase.family === "vit" && vitBase.task === "base" && vitBase.labels.length === 0);
});

Deno.test("defaults follow transformers when optional fields are absent", () => {
  const b = bert({ hidden_act: undefined });
  assert.ok(b.family === "bert");
  assert.equal(b.activation, "gelu");
  assert.equal(b.layerNormEps, 1e-12);
  assert.equal(b.typeVocabSize, 2);
  assert.equal(b.padTokenId, 0);
  const g = gpt2({});
  assert.ok(g.family === "gpt2");
  assert.equal(g.activation, "gelu_tanh"); // gelu_new
  assert.equal(g.ffn, 256);
  assert.equal(g.bosTokenId, null);
  assert.equal(g.tieWordEmbeddings, true);
  const g2 = gpt2({ n_inner: 100, tie_word_embeddings: false, eos_token_id: 0 });
  assert.ok(g2.family === "gpt2" && g2.ffn === 100 && !g2.tieWordEmbeddings && g2.eosTokenId === 0);
  const v = vit({ qkv_bias: false, num_channels: 1 });
  assert.ok(v.family === "vit" && !v.qkvBias && v.numChannels === 1 && v.task === "base");
});

Deno.test("labels: id2label ordered by id; num_labels alone; inconsistencies rejected", () => {
  const c = bert({ id2label: { "2": "c", "0": "a", "1": "b" } });
  assert.deepEqual(c.family === "bert" && c.labels, ["a", "b", "c"]);
  const n = bert({ id2label: undefined, num_labels: 3 });
  assert.deepEqual(n.family === "bert" && n.labels, ["LABEL_0", "LABEL_1", "LABEL_2"]);
  const d = bert({ id2label: undefined });
  assert.deepEqual(d.family === "bert" && d.labels, ["LABEL_0", "LABEL_1"]);
  assertError(ModelFormatError, () => bert({ id2label: { "0": "a", "2": "c" } }), `"id2label" ids`, `"2"`);
  assertError(ModelFormatError, () => bert({ id2label: { "00": "a" } }), `"id2label" ids`);
  assertError(ModelFormatError, () => bert({ id2label: { "0": 1 } }), `"id2label" entry "0" is not a string`);
  assertError(ModelFormatError, () => bert({ id2label: [] }), `"id2label" is not an object`);
  assertError(ModelFormatError, () => bert({ id2label: {} }), `"id2label" is empty`);
  assertError(ModelFormatError, () => bert({ num_labels: 3 }), `"num_labels" 3 disagrees with 2`);
});

Deno.test("pre-training BERT checkpoints (BertForMaskedLM) load as bare encoders", () => {
  const c = bert({ architectures: ["BertForMaskedLM"] });
  assert.equal(c.family === "bert" && c.task, "base");
});

Deno.test("unknown model_type and architectures are UnsupportedModelErrors listing what is supported", () => {
  assertError(
    UnsupportedModelError,
    () => bert({ model_type: "llama", architectures: [] }),
    `"llama"`,
    "bert, gpt2, vit",
  );
  assertError(
    UnsupportedModelError,
    () => bert({ architectures: ["BertForQuestionAnswering"] }),
    `"BertForQuestionAnswering"`,
    "BertForSequenceClassification",
    "ViTForImageClassification",
  );
  assertError(UnsupportedModelError, () => bert({ architectures: ["constructor"] }), `"constructor"`);
  assertError(ModelFormatError, () => bert({ architectures: ["GPT2LMHeadModel"] }), "contradicts");
  assertError(ModelFormatError, () => bert({ model_type: undefined, architectures: [] }), "neither");
  assertError(ModelFormatError, () => bert({ model_type: 5 }), `"model_type" is not a string`);
  assertError(ModelFormatError, () => bert({ architectures: "BertModel" }), `"architectures" must be a list`);
});

Deno.test("unknown activations are UnsupportedModelErrors listing supported names", () => {
  assertError(
    UnsupportedModelError,
    () => bert({ hidden_act: "swish" }),
    `"hidden_act" "swish"`,
    "gelu_new",
    "relu",
  );
  assertError(
    UnsupportedModelError,
    () => gpt2({ activation_function: "silu" }),
    `"activation_function" "silu"`,
  );
  assertError(UnsupportedModelError, () => vit({ hidden_act: "quick_gelu" }), "quick_gelu");
  assertError(ModelFormatError, () => bert({ hidden_act: 3 }), `"hidden_act" must be a string`);
});

Deno.test("missing or invalid sizes are ModelFormatErrors naming the key", () => {
  assertError(ModelFormatError, () => bert({ hidden_size: undefined }), `"hidden_size" is missing`);
  assertError(ModelFormatError, () => gpt2({ n_layer: undefined }), `"n_layer" is missing`);
  assertError(ModelFormatError, () => vit({ image_size: undefined }), `"image_size" is missing`);
  for (const bad of [0, -4, 2.5, "64", null, [64], 2 ** 60]) {
    assertError(
      ModelFormatError,
      () => bert({ hidden_size: bad }),
      `"hidden_size" must be a positive integer`,
    );
  }
  assertError(ModelFormatError, () => gpt2({ n_inner: 0 }), `"n_inner" must be a positive integer`);
  assertError(ModelFormatError, () => vit({ patch_size: "8" }), `"patch_size" must be a positive integer`);
  assertError(ModelFormatError, () => bert({ vocab_size: 0 }), `"vocab_size"`);
  assertError(ModelFormatError, () => bert({ max_position_embeddings: -1 }), `"max_position_embeddings"`);
  assertError(ModelFormatError, () => bert({ pad_token_id: -1 }), `"pad_token_id" must be an integer ≥ 0`);
  assertError(
    ModelFormatError,
    () => bert({ pad_token_id: 512 }),
    `"pad_token_id" 512 is not below "vocab_size"`,
  );
  assertError(ModelFormatError, () => gpt2({ eos_token_id: -1 }), `"eos_token_id"`);
  assertError(
    ModelFormatError,
    () => bert({ layer_norm_eps: 0 }),
    `"layer_norm_eps" must be a positive number`,
  );
  assertError(ModelFormatError, () => gpt2({ layer_norm_epsilon: "1e-5" }), `"layer_norm_epsilon"`);
  assertError(ModelFormatError, () => vit({ qkv_bias: "yes" }), `"qkv_bias" must be true or false`);
});

Deno.test("divisibility: hidden by heads, image by patch", () => {
  assertError(
    ModelFormatError,
    () => bert({ num_attention_heads: 5 }),
    `"hidden_size" 64 is not divisible by "num_attention_heads" 5`,
  );
  assertError(ModelFormatError, () => gpt2({ n_head: 3 }), `"n_embd" 64 is not divisible by "n_head" 3`);
  assertError(
    ModelFormatError,
    () => vit({ patch_size: 5 }),
    `"image_size" 32 is not divisible by "patch_size" 5`,
  );
});

Deno.test("features we do not implement are UnsupportedModelErrors", () => {
  assertError(
    UnsupportedModelError,
    () => bert({ position_embedding_type: "relative_key" }),
    `"relative_key"`,
    "absolute",
  );
  assertError(UnsupportedModelError, () => bert({ is_decoder: true }), `"is_decoder"`);
  assertError(UnsupportedModelError, () => bert({ add_cross_attention: true }), "cross-attention");
  assertError(
    UnsupportedModelError,
    () => gpt2({ scale_attn_by_inverse_layer_idx: true }),
    "scale_attn_by_inverse_layer_idx",
  );
  assertError(UnsupportedModelError, () => gpt2({ scale_attn_weights: false }), "scale_attn_weights");
  assert.equal(bert({ position_embedding_type: "absolute", is_decoder: false }).family, "bert");
});

Deno.test("non-object JSON is a ModelFormatError", () => {
  for (const json of [null, [], "x", 3]) {
    assertError(ModelFormatError, () => parseConfig(json, FILE), "not a JSON object");
  }
});

Deno.test("readConfig: missing file, invalid JSON, and unsupported models name config.json", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "config.json");
    await assert.rejects(() => readConfig(dir), (e) => checkError(ModelFormatError, e, file, ["not found"]));
    await Deno.writeTextFile(file, "{ nope");
    await assert.rejects(
      () => readConfig(dir),
      (e) => checkError(ModelFormatError, e, file, ["not valid JSON"]),
    );
    await Deno.writeTextFile(file, JSON.stringify({ model_type: "t5" }));
    await assert.rejects(() => readConfig(dir), (e) => checkError(UnsupportedModelError, e, file, [`"t5"`]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
