/**
 * The Universal Sentence Encoder lite tokenizer, reproducing the reference runtime
 * (`npm:@energetic-ai/embeddings@0.2.0`, `lib/tokenizer.ts`) id for id, on top of
 * `@huggingface/tokenizers` with a Unigram `tokenizer.json` built from the model's `vocab.json`.
 *
 * The reference is a SentencePiece-style unigram segmenter written by hand: NFKC, prefix `▁` and turn
 * every U+0020 into `▁` (no lowercasing, no whitespace collapsing; the empty string gives no tokens), then
 * a Viterbi-like pass over code points that maximises the sum of piece scores. The `tokenizer.json` built
 * here expresses the normaliser and the vocabulary, with two adjustments:
 *
 * - `vocab.json` has `null` scores for 7 pieces (`:`, `://`, `▁:`, `▁:)`, `▁:(`, `):`, `▁:-)`); the
 *   reference adds them with `+`, where null counts as 0 (the likeliest score there is): written as 0.
 * - ids 1-5 (`<s>`, `</s>`, `extra_token_id_1..3`) are never matched by the reference (its trie skips the
 *   first 6 entries). Here they get a trailing U+0020 appended; the normaliser turns every space into
 *   `▁`, so they can never match either, and ids stay positional.
 *
 * What it cannot express is the reference's decoding rule. The reference runs its own dynamic programme:
 * for each end position, over the pieces ending there in ascending start order, `score = piece +
 * best[start]` replaces the incumbent when `best[end] === 0 || score >= best[end]`. That differs from HF's
 * Viterbi in four ways that matter:
 *
 * 1. an unknown character scores 0 there (HF: `min - 10`);
 * 2. a best of exactly 0 counts as "unset", so a path scoring exactly 0 loses to the next candidate
 *    (": hello" → `▁`, `:`, `▁hell`, `o`: the zero-score `▁:` is never used at the start);
 * 3. exact ties go to the later start (HF: the earlier). Ties are common: "!!!!" + "!" and "!" + "!!!!"
 *    add the same floats;
 * 4. HF compares `prev + next` for every following node instead of the totals at the end position, which
 *    rounds differently and flips near-ties in long runs ("😀eeeeeeeeeeeeeeeee").
 *
 * None of these are properties of a vocabulary, so a tokenizer.json cannot express them. The library still
 * normalises the text, builds the trie, finds every piece and builds the lattice, fuses unknowns and maps
 * pieces to ids; the glue swaps only the lattice's `viterbi()` for the reference's rule (~20 lines), hooked
 * in through the Unigram model's public `populate_nodes`.
 *
 * Truncation: the reference tokenizer itself does not truncate; the graph's `ClipToMaxLength` keeps only
 * tokens at positions < 128 (the first 128). {@link UseTokenizer.encode} applies the same cut so its ids
 * are what the model actually sees; {@link UseTokenizer.encodeUntruncated} returns the full list.
 * @module
 */

import { Tokenizer, Unigram } from "@huggingface/tokenizers";
import { join } from "node:path";
import { ModelFormatError } from "../errors.ts";
import { findUseModelDir } from "./tfjs_weights.ts";

/** `vocab.json` of the model: `[piece, score]` per id; a few scores are `null` in the shipped file. */
export type UseVocab = ReadonlyArray<readonly [string, number | null]>;

/** The graph keeps tokens at positions `< USE_MAX_TOKENS` (`ClipToMaxLength/Less/y`), i.e. the first 128. */
export const USE_MAX_TOKENS = 128;

/** Word-boundary marker the reference puts before the text and in place of every U+0020. */
export const USE_SEPARATOR = "\u2581";

/** Ids below this are reserved: the reference's trie never contains them (`RESERVED_SYMBOLS_COUNT`). */
export const USE_RESERVED_IDS = 6;

/** The USE-lite tokenizer. */
export interface UseTokenizer {
  /**
   * Token ids of `text` as the model consumes them: the reference's ids, cut to the first
   * {@link USE_MAX_TOKENS}. The empty string gives `[]`.
   */
  encode(text: string): number[];
  /** The reference tokenizer's ids of `text`, not truncated. */
  encodeUntruncated(text: string): number[];
  /** The underlying `@huggingface/tokenizers` instance (e.g. for `tokenize()` or `decode()`). */
  readonly hf: Tokenizer;
}

/**
 * Builds a `tokenizer.json`-shaped object (the Hugging Face tokenizers format) that encodes like the
 * reference USE tokenizer; see the module notes for each deviation from the raw vocabulary.
 *
 * @param vocab The model's `vocab.json` contents.
 * @returns A plain JSON-serialisable object for `new Tokenizer(json, config)`.
 * @throws {TypeError} When `vocab` is not a list of `[string, number | null]` pairs.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildUseTokenizerJson } from "./tokenizer.ts";
 * const reserved = ["\uFFFD", "<s>", "</s>", "x1", "x2", "x3"].map((p) => [p, 0] as const);
 * const json = buildUseTokenizerJson([...reserved, [":", null], ["▁a", -1]]);
 * const pieces = (json.model as { vocab: [string, number][] }).vocab;
 * assert.deepEqual(pieces[1], ["<s> ", 0]); // reserved: unmatchable
 * assert.deepEqual(pieces[6], [":", 0]); // null score counts as 0
 * ```
 */
export function buildUseTokenizerJson(vocab: UseVocab): Record<string, unknown> {
  if (!Array.isArray(vocab) || vocab.length === 0) {
    throw new TypeError("USE vocab: expected a non-empty array of [piece, score] pairs");
  }
  const pieces = vocab.map((entry, i): [string, number] => {
    if (
      !Array.isArray(entry) || typeof entry[0] !== "string" ||
      (entry[1] !== null && typeof entry[1] !== "number")
    ) {
      throw new TypeError(`USE vocab[${i}]: expected [string, number | null], got ${JSON.stringify(entry)}`);
    }
    // Reserved ids must never match: a space cannot survive the normaliser below.
    const piece = i > 0 && i < USE_RESERVED_IDS ? `${entry[0]} ` : entry[0];
    // The reference adds scores with `+`, where null counts as 0.
    return [piece, entry[1] ?? 0];
  });
  return {
    version: "1.0",
    truncation: { direction: "Right", max_length: USE_MAX_TOKENS, strategy: "LongestFirst", stride: 0 },
    padding: null,
    added_tokens: [],
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "NFKC" },
        { type: "Replace", pattern: { String: " " }, content: USE_SEPARATOR },
        { type: "Prepend", prepend: USE_SEPARATOR },
      ],
    },
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: "Metaspace", replacement: USE_SEPARATOR, prepend_scheme: "always", split: false },
    model: { type: "Unigram", unk_id: 0, vocab: pieces, byte_fallback: false },
  };
}

/**
 * Creates the USE-lite tokenizer from the model's vocabulary.
 *
 * @param vocab The model's `vocab.json` contents.
 * @returns A tokenizer whose ids equal the reference runtime's.
 * @throws {TypeError} When `vocab` is malformed.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createUseTokenizer, loadUseVocab } from "./tokenizer.ts";
 * const tok = createUseTokenizer(await loadUseVocab());
 * assert.deepEqual(tok.encode("hello world"), [2002, 102, 311]);
 * ```
 */
export function createUseTokenizer(vocab: UseVocab): UseTokenizer {
  const hf = new Tokenizer(buildUseTokenizerJson(vocab), {});
  matchReferenceDecoding(hf);
  const encodeUntruncated = (text: string): number[] => {
    if (typeof text !== "string") throw new TypeError(`USE tokenizer: expected a string, got ${typeof text}`);
    return hf.encode(text, { add_special_tokens: false }).ids;
  };
  return {
    hf,
    encodeUntruncated,
    encode: (text) => encodeUntruncated(text).slice(0, USE_MAX_TOKENS),
  };
}

type Lattice = Parameters<Unigram["populate_nodes"]>[0];
type LatticeNode = Lattice["nodes"][number];

/**
 * The reference's decoding rule over a lattice built by the library (see the module notes). Nodes in
 * `end_nodes[e]` are in ascending start order, the order the reference visits them.
 */
function referenceViterbi(lattice: Lattice, unkId: number | undefined): LatticeNode[] {
  const n = lattice.len;
  const best = new Float64Array(n + 1); // 0 doubles as "unset", as in the reference
  const chosen: (LatticeNode | undefined)[] = new Array(n + 1);
  for (let end = 1; end <= n; end++) {
    for (const node of lattice.end_nodes[end]) {
      const score = (node.token_id === unkId ? 0 : node.score) + best[node.pos];
      if (best[end] === 0 || score >= best[end]) {
        best[end] = score;
        chosen[end] = node;
      }
    }
  }
  const path: LatticeNode[] = [];
  for (let pos = n; pos > 0;) {
    const node = chosen[pos]!; // every position has a node: a piece or the library's unknown node
    path.push(node);
    pos -= node.length;
  }
  return path.reverse();
}

/** Makes the library decode each lattice with the reference's rule instead of its own Viterbi. */
function matchReferenceDecoding(hf: Tokenizer): void {
  const model = hf.model;
  if (!(model instanceof Unigram)) throw new TypeError("USE tokenizer: expected a Unigram model");
  const unkId = model.unk_token_id;
  const populate = model.populate_nodes.bind(model);
  model.populate_nodes = (lattice: Lattice): void => {
    populate(lattice);
    lattice.viterbi = () => referenceViterbi(lattice, unkId);
  };
}

/**
 * Reads `vocab.json` of the USE-lite model package.
 *
 * @param dir The package's `dist` folder; found with {@link findUseModelDir} when omitted.
 * @returns The `[piece, score]` list, ids by position.
 * @throws {ModelFormatError} When the file is missing or not a list of pairs.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadUseVocab } from "./tokenizer.ts";
 * assert.equal((await loadUseVocab()).length, 8000);
 * ```
 */
export async function loadUseVocab(dir: string = findUseModelDir()): Promise<UseVocab> {
  const file = join(dir, "vocab.json");
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(file));
  } catch (e) {
    throw new ModelFormatError(
      file,
      `cannot be read as JSON (${e instanceof Error ? e.message : String(e)})`,
    );
  }
  if (
    !Array.isArray(json) || json.length === 0 ||
    !json.every((e) =>
      Array.isArray(e) && typeof e[0] === "string" && (e[1] === null || typeof e[1] === "number")
    )
  ) {
    throw new ModelFormatError(file, "expected a non-empty array of [piece, score] pairs");
  }
  return json as UseVocab;
}

/**
 * Loads the USE-lite tokenizer from the model package folder.
 *
 * @param dir The package's `dist` folder; found with {@link findUseModelDir} when omitted.
 * @returns The tokenizer.
 * @throws {ModelFormatError} When `vocab.json` is missing or malformed.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadUseTokenizer } from "./tokenizer.ts";
 * const tok = await loadUseTokenizer();
 * assert.deepEqual(tok.encode(""), []);
 * ```
 */
export async function loadUseTokenizer(dir?: string): Promise<UseTokenizer> {
  return createUseTokenizer(await loadUseVocab(dir));
}
