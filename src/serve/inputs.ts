/**
 * Parsing the `input` / `prompt` fields as the OpenAI API allows them (a string, strings, token ids,
 * or arrays of token ids) and images for ViT classifiers, with the size limits applied: entries per
 * request, tokens per input (the model's context) and tokens per request (the server's limit).
 * @module
 */
import { ApiError, badRequest } from "./errors.ts";
import type { ServedModel, ServeOptions } from "./options.ts";
import { checkTokenIds, typeName } from "./validate.ts";

/** Parsed text-model inputs. */
export interface TextInputs {
  /** Strings (passed to the model as text) or token-id rows. */
  rows: (string | number[])[];
  /** Tokens per row, after truncation when allowed. */
  lengths: number[];
}

/**
 * 400 `context_length_exceeded` naming a limit.
 * @param param The field.
 * @param message Text naming the limit.
 * @returns The error.
 */
export function tooManyTokens(param: string, message: string): ApiError {
  return new ApiError(400, "invalid_request_error", message, param, "context_length_exceeded");
}

/**
 * Context length of a text model.
 * @param model The served model.
 * @returns `maxPositions`, or Infinity when the config has none (ViT).
 */
export function contextOf(model: ServedModel): number {
  return (model.config as { maxPositions?: number }).maxPositions ?? Infinity;
}

/**
 * Vocabulary size of a text model (the exclusive bound of token ids).
 * @param model The served model.
 * @returns The config's vocabulary size, else the tokenizer's, else 0.
 */
export function vocabOf(model: ServedModel): number {
  return (model.config as { vocabSize?: number }).vocabSize ?? model.tokenizer?.vocabSize ?? 0;
}

/** True when text needs `model.tokenizer` (every family this runtime ships tokenizes through it). */
function needsTokenizer(model: ServedModel): boolean {
  const f = model.config.family;
  return f === "bert" || f === "gpt2" || f === "vit";
}

/**
 * Normalises an OpenAI `input`/`prompt` value to a list of strings or token-id rows.
 * @param value The field's value.
 * @param param Field name.
 * @param maxEntries Largest number of entries.
 * @returns Strings or id rows (ids not yet range-checked).
 * @throws {ApiError} 400 for any other shape, an empty list, or too many entries.
 */
export function entriesOf(value: unknown, param: string, maxEntries: number): (string | unknown[])[] {
  const shape =
    `${param} must be a string, an array of strings, an array of token ids, or an array of token-id arrays`;
  if (value === undefined || value === null) {
    throw badRequest(param, `${param} is required`, "missing_required_parameter");
  }
  if (typeof value === "string") return [value];
  if (!Array.isArray(value)) throw badRequest(param, `${shape}, got ${typeName(value)}`, "invalid_type");
  if (value.length === 0) throw badRequest(param, `${param} must not be empty`);
  let out: (string | unknown[])[];
  if (value.every((v) => typeof v === "number")) out = [value];
  else if (value.every((v) => typeof v === "string")) out = value as string[];
  else if (value.every((v) => Array.isArray(v))) out = value as unknown[][];
  else throw badRequest(param, `${shape} (entries of one kind)`, "invalid_type");
  if (out.length > maxEntries) {
    throw badRequest(param, `${param} has ${out.length} entries; this server accepts at most ${maxEntries}`);
  }
  return out;
}

/**
 * Parses embeddings / classify text input: tokenizes strings to count them (the model gets the text),
 * checks ids, and applies the context and per-request token limits.
 * @param value The `input` value.
 * @param model The served model.
 * @param opts Server limits.
 * @param truncate Allow inputs longer than the context (the model keeps the first tokens).
 * @returns Rows and their token lengths.
 * @throws {ApiError} 400 on any violation, naming the limit.
 */
export function parseTextInputs(
  value: unknown,
  model: ServedModel,
  opts: ServeOptions,
  truncate: boolean,
): TextInputs {
  const param = "input";
  const entries = entriesOf(value, param, opts.maxInputs);
  const ctx = contextOf(model);
  const vocab = vocabOf(model);
  const tok = model.tokenizer;
  const rows: (string | number[])[] = [];
  const lengths: number[] = [];
  let total = 0;
  const indexed = Array.isArray(value) && typeof value[0] !== "number";
  entries.forEach((e, i) => {
    const at = indexed ? `${param}[${i}]` : param;
    let n: number;
    if (typeof e === "string") {
      if (e === "") throw badRequest(at, `${at} is an empty string`);
      if (!tok && needsTokenizer(model)) {
        throw badRequest(
          at,
          `model '${model.id}' has no tokenizer, so ${param} must be token ids (an array of integers, or an ` +
            "array of such arrays)",
        );
      }
      // Without a tokenizer in view (a family that tokenizes inside the model), estimate: ~4 bytes/token.
      n = tok ? tok.encode(e).length : Math.ceil(new TextEncoder().encode(e).length / 4) + 2;
      rows.push(e);
    } else {
      const ids = checkTokenIds(at, e, vocab);
      n = ids.length;
      rows.push(ids);
    }
    if (n > ctx) {
      if (!truncate) {
        throw tooManyTokens(
          at,
          `${at} has ${n} tokens; this model's maximum context length is ${ctx} tokens (set "truncate": true to cut it)`,
        );
      }
      n = ctx;
    }
    lengths.push(n);
    total += n;
  });
  checkRequestTokens(param, total, opts);
  return { rows, lengths };
}

/**
 * Applies the per-request token limit.
 * @param param The field.
 * @param total Tokens in the request.
 * @param opts Server limits.
 * @throws {ApiError} 400 `context_length_exceeded` naming `--max-request-tokens`.
 */
export function checkRequestTokens(param: string, total: number, opts: ServeOptions): void {
  if (total > opts.maxTokensPerRequest) {
    throw tooManyTokens(
      param,
      `the request has ${total} input tokens; this server accepts at most ${opts.maxTokensPerRequest} ` +
        "tokens per request (--max-request-tokens)",
    );
  }
}

/**
 * Parses ViT classify input: one image `[channels][height][width]` or a list of them.
 * @param value The `input` value.
 * @param model The served model (a ViT).
 * @param opts Server limits.
 * @returns Images and their token counts (patches + 1).
 * @throws {ApiError} 400 on wrong nesting, geometry or non-finite values.
 */
export function parseImageInputs(
  value: unknown,
  model: ServedModel,
  opts: ServeOptions,
): { rows: number[][][][]; lengths: number[] } {
  const cfg = model.config as { numChannels: number; imageSize: number; patchSize: number };
  const { numChannels: c, imageSize: s } = cfg;
  const geometry = `[${c}][${s}][${s}]`;
  if (value === undefined || value === null) {
    throw badRequest("input", "input is required", "missing_required_parameter");
  }
  const depth = (v: unknown) => {
    let d = 0;
    while (Array.isArray(v)) {
      d++;
      v = v[0];
    }
    return d;
  };
  const d = depth(value);
  if (d !== 3 && d !== 4) {
    throw badRequest(
      "input",
      `input must be an image ${geometry} of numbers (channels, height, width) or an array of images`,
      "invalid_type",
    );
  }
  const images = (d === 3 ? [value] : value) as unknown[];
  if (images.length === 0) throw badRequest("input", "input must not be empty");
  if (images.length > opts.maxInputs) {
    throw badRequest(
      "input",
      `input has ${images.length} images; this server accepts at most ${opts.maxInputs}`,
    );
  }
  images.forEach((img, i) => {
    const at = d === 4 ? `input[${i}]` : "input";
    const bad = () => badRequest(at, `${at} must be an image ${geometry} of finite numbers`);
    if (!Array.isArray(img) || img.length !== c) throw bad();
    for (const ch of img) {
      if (!Array.isArray(ch) || ch.length !== s) throw bad();
      for (const row of ch) {
        if (!Array.isArray(row) || row.length !== s) throw bad();
        for (const v of row) if (typeof v !== "number" || !Number.isFinite(v)) throw bad();
      }
    }
  });
  const perImage = (s / cfg.patchSize) ** 2 + 1;
  const lengths = images.map(() => perImage);
  checkRequestTokens("input", perImage * images.length, opts);
  return { rows: images as number[][][][], lengths };
}
