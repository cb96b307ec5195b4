/**
 * Parses a Hugging Face `config.json` into a typed, validated config for one of the families we run.
 *
 * Core sizes (hidden size, layers, heads, FFN size, vocabulary, positions, image and patch size) must be
 * present; other fields fall back to the defaults of the matching `transformers` config class, because
 * `save_pretrained` may leave them out.
 * @module
 */

import { join } from "node:path";
import { type Activation, activationFromHf, SUPPORTED_HF_ACTIVATIONS } from "../ops/activation.ts";
import { ModelFormatError, UnsupportedModelError } from "./errors.ts";

/** Model families this runtime implements. */
export type Family = "bert" | "gpt2" | "vit" | "use";

/** The families, for messages and iteration. */
export const SUPPORTED_FAMILIES: readonly Family[] = ["bert", "gpt2", "vit", "use"];

/** Fields every family has. */
interface Base {
  family: Family;
  /** `architectures` as written (may be empty). */
  architectures: string[];
  /** Model width (d_model). */
  hidden: number;
  /** Number of transformer blocks. */
  layers: number;
  /** Attention heads per block; divides `hidden`. */
  heads: number;
  /** FFN inner width. */
  ffn: number;
  /** FFN activation. */
  activation: Activation;
  /** LayerNorm epsilon. */
  layerNormEps: number;
  /** The parsed JSON, for fields not modelled here. */
  raw: Record<string, unknown>;
  /** Path of the config file, for error messages. */
  file: string;
}

/** A BERT encoder, bare or with a sequence-classification head. */
export interface BertConfig extends Base {
  family: "bert";
  task: "base" | "sequence-classification";
  vocabSize: number;
  maxPositions: number;
  typeVocabSize: number;
  padTokenId: number;
  /** Class names from `id2label` ordered by id; `[]` for the base task. */
  labels: string[];
}

/** A GPT-2 decoder (its LM head is tied to the token embeddings unless `tieWordEmbeddings` is false). */
export interface Gpt2Config extends Base {
  family: "gpt2";
  vocabSize: number;
  maxPositions: number;
  bosTokenId: number | null;
  eosTokenId: number | null;
  tieWordEmbeddings: boolean;
}

/** A ViT encoder, bare or with an image-classification head. */
export interface VitConfig extends Base {
  family: "vit";
  task: "base" | "image-classification";
  imageSize: number;
  patchSize: number;
  numChannels: number;
  qkvBias: boolean;
  /** Class names from `id2label` ordered by id; `[]` for the base task. */
  labels: string[];
}

/**
 * Universal Sentence Encoder lite (the embedded default; `model_type: "use"`): two pre-LN ReLU blocks
 * (the first at width 256), masked mean pooling, a tanh projection. Fixed sizes; see docs/use-lite.md.
 */
export interface UseConfig extends Base {
  family: "use";
  task: "base";
  vocabSize: number;
  /** Token limit (longer inputs are cut to their first 128 tokens). */
  maxPositions: number;
}

/** Any supported config; switch on `family`. */
export type ModelConfig = BertConfig | Gpt2Config | VitConfig | UseConfig;

/**
 * The config of USE lite (its TF.js folder has no config.json; converted folders write this one).
 * @param file Where it was read from (or the TF.js folder).
 * @returns The fixed config.
 */
export function useConfig(file: string): UseConfig {
  const raw = { model_type: "use", architectures: ["UniversalSentenceEncoderLite"] };
  return {
    family: "use",
    task: "base",
    architectures: raw.architectures,
    hidden: 512,
    layers: 2,
    heads: 4,
    ffn: 1536,
    activation: "relu",
    layerNormEps: 1e-6,
    vocabSize: 8002,
    maxPositions: 128,
    raw,
    file,
  };
}

/** Architectures we run, with the family and task each implies. */
const ARCHITECTURES: Readonly<Record<string, { family: Family; task: string }>> = {
  BertModel: { family: "bert", task: "base" },
  BertForSequenceClassification: { family: "bert", task: "sequence-classification" },
  // Pre-training heads are ignored: these checkpoints load as bare encoders (embeddings).
  BertForMaskedLM: { family: "bert", task: "base" },
  BertForPreTraining: { family: "bert", task: "base" },
  GPT2Model: { family: "gpt2", task: "base" },
  GPT2LMHeadModel: { family: "gpt2", task: "base" },
  ViTModel: { family: "vit", task: "base" },
  ViTForImageClassification: { family: "vit", task: "image-classification" },
  UniversalSentenceEncoderLite: { family: "use", task: "base" },
};

/** Names accepted in `architectures`, for messages. */
export const SUPPORTED_ARCHITECTURES: readonly string[] = Object.keys(ARCHITECTURES);

/** Real configs are a few KiB; refuse to read anything absurd. */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/**
 * Validates a parsed `config.json` and turns it into a typed config.
 * @param json The parsed JSON.
 * @param file Path of the config, used in every error.
 * @returns The config for its family.
 * @throws {UnsupportedModelError} For an unknown `model_type`, architecture, activation or a feature we do
 *   not implement (e.g. relative position embeddings).
 * @throws {ModelFormatError} For missing or ill-typed fields and inconsistent values.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const c = parseConfig({
 *   model_type: "gpt2", n_embd: 8, n_layer: 1, n_head: 2, n_positions: 16, vocab_size: 10,
 * }, "config.json");
 * assert.equal(c.family === "gpt2" && c.ffn, 32);
 * ```
 */
export function parseConfig(json: unknown, file: string): ModelConfig {
  if (!isPlainObject(json)) throw new ModelFormatError(file, "config is not a JSON object");
  const f = new Fields(json, file);
  const architectures = f.stringArray("architectures");
  const { family, task } = identify(json.model_type, architectures, file);
  switch (family) {
    case "bert":
      return parseBert(f, architectures, task as BertConfig["task"]);
    case "gpt2":
      return parseGpt2(f, architectures);
    case "vit":
      return parseVit(f, architectures, task as VitConfig["task"]);
    case "use":
      return useConfig(file);
  }
}

/**
 * Reads and parses `config.json` from a model folder.
 * @param dir Model folder.
 * @returns The parsed config (see {@link parseConfig}).
 * @throws {ModelFormatError} If `config.json` is missing, unreadable, not JSON, or invalid.
 * @throws {UnsupportedModelError} If it describes a model we do not run.
 */
export async function readConfig(dir: string): Promise<ModelConfig> {
  const file = join(dir, "config.json");
  let text: string;
  try {
    const size = (await Deno.stat(file)).size;
    if (size > MAX_CONFIG_BYTES) {
      throw new ModelFormatError(file, `is ${size} bytes, larger than the ${MAX_CONFIG_BYTES}-byte limit`);
    }
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof ModelFormatError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw new ModelFormatError(file, "not found (every model folder needs a config.json)");
    }
    throw new ModelFormatError(file, `cannot read: ${errorText(e)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(file, `not valid JSON (${errorText(e)})`);
  }
  return parseConfig(json, file);
}

/** Decides family and task from `model_type` and the first entry of `architectures`. */
function identify(
  modelType: unknown,
  architectures: string[],
  file: string,
): { family: Family; task: string } {
  let family: Family | null = null;
  if (modelType !== undefined && modelType !== null) {
    if (typeof modelType !== "string") throw new ModelFormatError(file, `"model_type" is not a string`);
    if (!(SUPPORTED_FAMILIES as readonly string[]).includes(modelType)) {
      throw new UnsupportedModelError(
        file,
        `model_type "${modelType}" is not supported (supported: ${SUPPORTED_FAMILIES.join(", ")})`,
      );
    }
    family = modelType as Family;
  }
  const arch = architectures[0];
  if (arch === undefined) {
    if (family === null) {
      throw new ModelFormatError(file, `config has neither "model_type" nor "architectures"`);
    }
    return { family, task: "base" };
  }
  if (!Object.hasOwn(ARCHITECTURES, arch)) {
    throw new UnsupportedModelError(
      file,
      `architecture "${arch}" is not supported (supported: ${SUPPORTED_ARCHITECTURES.join(", ")})`,
    );
  }
  const known = ARCHITECTURES[arch];
  if (family !== null && known.family !== family) {
    throw new ModelFormatError(file, `model_type "${family}" contradicts architecture "${arch}"`);
  }
  return known;
}

function parseBert(f: Fields, architectures: string[], task: BertConfig["task"]): BertConfig {
  const positionType = f.string("position_embedding_type", "absolute");
  if (positionType !== "absolute") {
    throw new UnsupportedModelError(
      f.file,
      `position_embedding_type "${positionType}" is not supported (only "absolute")`,
    );
  }
  f.rejectTrue("is_decoder", "BERT as a decoder");
  f.rejectTrue("add_cross_attention", "cross-attention");
  const base = encoderBase(f, "bert", architectures);
  const vocabSize = f.int("vocab_size");
  const padTokenId = f.int("pad_token_id", { fallback: 0, min: 0, nullIsFallback: true });
  if (padTokenId >= vocabSize) {
    throw new ModelFormatError(f.file, `"pad_token_id" ${padTokenId} is not below "vocab_size" ${vocabSize}`);
  }
  return {
    ...base,
    family: "bert",
    task,
    vocabSize,
    maxPositions: f.int("max_position_embeddings"),
    typeVocabSize: f.int("type_vocab_size", { fallback: 2 }),
    padTokenId,
    labels: task === "base" ? [] : parseLabels(f),
  };
}

function parseGpt2(f: Fields, architectures: string[]): Gpt2Config {
  f.rejectTrue("scale_attn_by_inverse_layer_idx", "scale_attn_by_inverse_layer_idx");
  f.rejectTrue("add_cross_attention", "cross-attention");
  if (!f.bool("scale_attn_weights", true)) {
    throw new UnsupportedModelError(f.file, `"scale_attn_weights": false is not supported`);
  }
  const hidden = f.int("n_embd");
  const heads = f.int("n_head");
  checkDivisible(f, hidden, heads, "n_embd", "n_head");
  return {
    family: "gpt2",
    architectures,
    hidden,
    layers: f.int("n_layer"),
    heads,
    ffn: f.int("n_inner", { fallback: 4 * hidden, nullIsFallback: true }),
    activation: f.activation("activation_function", "gelu_new"),
    layerNormEps: f.positiveNumber("layer_norm_epsilon", 1e-5),
    raw: f.raw,
    file: f.file,
    vocabSize: f.int("vocab_size"),
    maxPositions: f.int("n_positions"),
    bosTokenId: f.optionalTokenId("bos_token_id"),
    eosTokenId: f.optionalTokenId("eos_token_id"),
    tieWordEmbeddings: f.bool("tie_word_embeddings", true),
  };
}

function parseVit(f: Fields, architectures: string[], task: VitConfig["task"]): VitConfig {
  const base = encoderBase(f, "vit", architectures);
  const imageSize = f.int("image_size");
  const patchSize = f.int("patch_size");
  checkDivisible(f, imageSize, patchSize, "image_size", "patch_size");
  return {
    ...base,
    family: "vit",
    task,
    imageSize,
    patchSize,
    numChannels: f.int("num_channels", { fallback: 3 }),
    qkvBias: f.bool("qkv_bias", true),
    labels: task === "base" ? [] : parseLabels(f),
  };
}

/** The {@link Base} fields BERT and ViT spell the same way. */
function encoderBase<F extends Family>(f: Fields, family: F, architectures: string[]): Base & { family: F } {
  const hidden = f.int("hidden_size");
  const heads = f.int("num_attention_heads");
  checkDivisible(f, hidden, heads, "hidden_size", "num_attention_heads");
  return {
    family,
    architectures,
    hidden,
    layers: f.int("num_hidden_layers"),
    heads,
    ffn: f.int("intermediate_size"),
    activation: f.activation("hidden_act", "gelu"),
    layerNormEps: f.positiveNumber("layer_norm_eps", 1e-12),
    raw: f.raw,
    file: f.file,
  };
}

/**
 * Class names ordered by id. `id2label` must map "0".."n-1" to strings; without it, `num_labels`
 * (default 2, as in transformers) names them `LABEL_i`.
 */
function parseLabels(f: Fields): string[] {
  const id2label = f.raw.id2label;
  const hasNum = f.raw.num_labels !== undefined && f.raw.num_labels !== null;
  const numLabels = f.int("num_labels", { fallback: 2, nullIsFallback: true });
  if (id2label === undefined || id2label === null) {
    return Array.from({ length: numLabels }, (_, i) => `LABEL_${i}`);
  }
  if (!isPlainObject(id2label)) throw new ModelFormatError(f.file, `"id2label" is not an object`);
  const entries = Object.entries(id2label);
  const labels: string[] = new Array(entries.length);
  for (const [key, value] of entries) {
    const id = /^(0|[1-9][0-9]*)$/.test(key) ? Number(key) : -1;
    if (id < 0 || id >= entries.length || labels[id] !== undefined) {
      throw new ModelFormatError(
        f.file,
        `"id2label" ids must be 0..${entries.length - 1} once each, got "${key}"`,
      );
    }
    if (typeof value !== "string") {
      throw new ModelFormatError(f.file, `"id2label" entry "${key}" is not a string`);
    }
    labels[id] = value;
  }
  if (labels.length === 0) throw new ModelFormatError(f.file, `"id2label" is empty`);
  if (hasNum && numLabels !== labels.length) {
    throw new ModelFormatError(
      f.file,
      `"num_labels" ${numLabels} disagrees with ${labels.length} "id2label" entries`,
    );
  }
  return labels;
}

function checkDivisible(f: Fields, a: number, b: number, aKey: string, bKey: string): void {
  if (a % b !== 0) throw new ModelFormatError(f.file, `"${aKey}" ${a} is not divisible by "${bKey}" ${b}`);
}

/** Typed, validated access to config fields; every failure names the file and the key. */
class Fields {
  constructor(readonly raw: Record<string, unknown>, readonly file: string) {}

  /** An integer ≥ `min` (default 1); absent (or null, if allowed) gives `fallback`, else an error. */
  int(key: string, opts: { fallback?: number; min?: number; nullIsFallback?: boolean } = {}): number {
    const v = this.raw[key];
    const min = opts.min ?? 1;
    if (v === undefined || (v === null && opts.nullIsFallback)) {
      if (opts.fallback !== undefined) return opts.fallback;
      throw new ModelFormatError(this.file, `"${key}" is missing`);
    }
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      const want = min === 1 ? "a positive integer" : `an integer ≥ ${min}`;
      throw new ModelFormatError(this.file, `"${key}" must be ${want}, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  /** A token id: a non-negative integer, or null when absent or null. */
  optionalTokenId(key: string): number | null {
    const v = this.raw[key];
    return v === undefined || v === null ? null : this.int(key, { min: 0 });
  }

  positiveNumber(key: string, fallback: number): number {
    const v = this.raw[key];
    if (v === undefined) return fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw new ModelFormatError(this.file, `"${key}" must be a positive number, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  string(key: string, fallback: string): string {
    const v = this.raw[key];
    if (v === undefined) return fallback;
    if (typeof v !== "string") {
      throw new ModelFormatError(this.file, `"${key}" must be a string, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.raw[key];
    if (v === undefined) return fallback;
    if (typeof v !== "boolean") {
      throw new ModelFormatError(this.file, `"${key}" must be true or false, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  /** A list of strings; absent or null gives `[]`. */
  stringArray(key: string): string[] {
    const v = this.raw[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) {
      throw new ModelFormatError(this.file, `"${key}" must be a list of strings, got ${JSON.stringify(v)}`);
    }
    return [...v];
  }

  /** A Hugging Face activation name we implement. */
  activation(key: string, fallback: string): Activation {
    const name = this.string(key, fallback);
    const act = activationFromHf(name);
    if (act === null) {
      throw new UnsupportedModelError(
        this.file,
        `"${key}" "${name}" is not supported (supported: ${SUPPORTED_HF_ACTIVATIONS.join(", ")})`,
      );
    }
    return act;
  }

  /** Rejects a boolean feature flag that is set, since we do not implement it. */
  rejectTrue(key: string, feature: string): void {
    if (this.bool(key, false)) {
      throw new UnsupportedModelError(this.file, `${feature} ("${key}": true) is not supported`);
    }
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
