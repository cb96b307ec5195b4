/**
 * Text completion requests: parsing OpenAI's `/v1/completions` body into generation parameters, and
 * running one choice on the device lane with incremental decoding and stop strings.
 * @module
 */
import type { GenerateResult } from "../model/model.ts";
import type { ComputeStats } from "../model/stats.ts";
import type { ServeContext } from "./context.ts";
import { observeStats } from "./context.ts";
import { badRequest } from "./errors.ts";
import { checkRequestTokens, contextOf, entriesOf, tooManyTokens, vocabOf } from "./inputs.ts";
import type { ServedModel, ServeOptions } from "./options.ts";
import { resolveRouting, type Routing } from "./routing.ts";
import { StopFilter } from "./stop.ts";
import { checkTokenIds, Fields, typeName } from "./validate.ts";

/** A parsed completion request. */
export interface CompletionParams {
  /** Token ids of each prompt. */
  prompts: number[][];
  /** Choices per prompt. */
  n: number;
  /** New tokens per choice. */
  maxTokens: number;
  /** Sampling temperature (0 = greedy). */
  temperature?: number;
  /** Nucleus threshold. */
  topP?: number;
  /** Sample among the k most likely tokens (extension; 0 = off). */
  topK?: number;
  /** Seed; choice j of a prompt uses `seed + j`. */
  seed?: number;
  /** Text stop sequences. */
  stops: string[];
  /** Stream server-sent events. */
  stream: boolean;
  /** Send a final usage chunk when streaming. */
  includeUsage: boolean;
  /** τ decision. */
  routing: Routing;
}

/** Largest stop string accepted (characters). */
const MAX_STOP_LENGTH = 256;

/**
 * Parses and checks a completion body against the model and the server limits.
 * @param f Request fields.
 * @param model The served model (a generator).
 * @param opts Server limits.
 * @returns The parameters.
 * @throws {ApiError} 400 for wrong types, out-of-range values, unsupported fields or token limits; 422
 *   for budgets the model cannot honour.
 */
export function parseCompletion(f: Fields, model: ServedModel, opts: ServeOptions): CompletionParams {
  const tok = model.tokenizer;
  // Fields we do not implement are refused unless they hold their neutral value.
  f.neutral("echo", (v) => v === false, "echo must be false");
  f.neutral("logprobs", () => false, "log probabilities are not returned");
  f.neutral("suffix", (v) => v === "", "insertion (suffix) is not supported");
  f.neutral("presence_penalty", (v) => v === 0, "only 0 is supported");
  f.neutral("frequency_penalty", (v) => v === 0, "only 0 is supported");
  f.neutral(
    "logit_bias",
    (v) => typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0,
    "only an empty object is supported",
  );
  f.string("user");
  const n = f.number("n", { min: 1, max: opts.maxChoices, integer: true }) ?? 1;
  f.neutral("best_of", (v) => v === 1 || v === n, "best_of must equal n");
  const maxTokens = f.number("max_tokens", { min: 0, integer: true }) ?? 16;
  if (maxTokens > opts.maxCompletionTokens) {
    throw tooManyTokens(
      "max_tokens",
      `max_tokens is ${maxTokens}; this server generates at most ${opts.maxCompletionTokens} tokens per choice (--max-completion-tokens)`,
    );
  }
  const temperature = f.number("temperature", { min: 0, max: 2 });
  const topP = f.number("top_p", { min: 0, max: 1 });
  // Extension (vLLM-style): sample among the k most likely tokens; 0 or -1 = off.
  const topKRaw = f.number("top_k", { min: -1, integer: true });
  const topK = topKRaw !== undefined && topKRaw > 0 ? topKRaw : undefined;
  const seed = f.number("seed", { integer: true });
  const stream = f.boolean("stream") ?? false;
  const includeUsage = streamOptions(f.get("stream_options"));
  const stops = parseStops(f.get("stop"), model);
  const routing = resolveRouting(f, model.moe, opts.defaultTau);

  const entries = entriesOf(f.get("prompt"), "prompt", opts.maxChoices);
  if (entries.length * n > opts.maxChoices) {
    throw badRequest(
      "n",
      `${entries.length} prompts × n = ${n} exceeds this server's ${opts.maxChoices} choices per request`,
    );
  }
  const vocab = vocabOf(model);
  const indexed = Array.isArray(f.get("prompt")) && typeof (f.get("prompt") as unknown[])[0] !== "number";
  const prompts = entries.map((e, i) => {
    const at = indexed ? `prompt[${i}]` : "prompt";
    if (typeof e !== "string") return checkTokenIds(at, e, vocab);
    if (!tok) {
      throw badRequest(
        at,
        `model '${model.id}' has no tokenizer, so prompt must be token ids (an array of integers, or an ` +
          "array of such arrays); each choice then carries the generated token_ids",
      );
    }
    const ids = tok.encode(e);
    if (ids.length > 0) return ids;
    const start = tok.specialIds.bos ?? tok.specialIds.eos;
    if (start === undefined || start >= vocab) throw badRequest(at, `${at} is empty`);
    return [start]; // OpenAI's empty prompt means "start of text"
  });
  const ctxLen = contextOf(model);
  prompts.forEach((p, i) => {
    if (p.length + maxTokens > ctxLen) {
      throw tooManyTokens(
        indexed ? `prompt[${i}]` : "prompt",
        `This model's maximum context length is ${ctxLen} tokens, however you requested ${
          p.length + maxTokens
        } ` +
          `tokens (${p.length} in your prompt; ${maxTokens} for the completion). Please reduce your prompt or ` +
          "max_tokens.",
      );
    }
  });
  checkRequestTokens("prompt", prompts.reduce((s, p) => s + p.length, 0), opts);
  return { prompts, n, maxTokens, temperature, topP, topK, seed, stops, stream, includeUsage, routing };
}

function streamOptions(v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw badRequest(
      "stream_options",
      `stream_options must be an object, got ${typeName(v)}`,
      "invalid_type",
    );
  }
  const inc = new Fields(v as Record<string, unknown>).boolean("include_usage");
  return inc ?? false;
}

function parseStops(v: unknown, model: ServedModel): string[] {
  if (v === undefined) return [];
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || !list.every((s) => typeof s === "string")) {
    throw badRequest("stop", "stop must be a string or an array of up to 4 strings", "invalid_type");
  }
  if (list.length > 4) throw badRequest("stop", `stop has ${list.length} entries; at most 4 are allowed`);
  const stops = (list as string[]).filter((s) => s !== "");
  if (stops.some((s) => s.length > MAX_STOP_LENGTH)) {
    throw badRequest("stop", `stop strings must be at most ${MAX_STOP_LENGTH} characters`);
  }
  if (stops.length && !model.tokenizer) {
    throw badRequest(
      "stop",
      `model '${model.id}' has no tokenizer, so text stop sequences cannot be matched`,
    );
  }
  return stops;
}

/** The outcome of one choice. */
export interface ChoiceResult {
  /** Generated text (stop string excluded); "" without a tokenizer. */
  text: string;
  /** Generated token ids. */
  tokenIds: number[];
  /** OpenAI's finish reason. */
  finishReason: "stop" | "length";
  /** Prompt tokens. */
  promptTokens: number;
  /** What the generation computed. */
  stats: ComputeStats;
}

/** Receives a choice's output as it is produced (streaming). */
export type ChoiceSink = (text: string, tokenIds: number[]) => void;

/**
 * Runs one choice on the device lane.
 * @param ctx App state.
 * @param p Request parameters.
 * @param prompt Prompt token ids.
 * @param seed Seed for this choice.
 * @param signal Aborts waiting and generation.
 * @param sink Gets each safe-to-emit piece of text (and, without a tokenizer, each token id).
 * @returns The choice.
 */
export async function runChoice(
  ctx: ServeContext,
  p: CompletionParams,
  prompt: number[],
  seed: number | undefined,
  signal: AbortSignal,
  sink?: ChoiceSink,
): Promise<ChoiceResult> {
  const model = ctx.model;
  const decoder = model.tokenizer?.createStreamDecoder();
  const filter = new StopFilter(p.stops);
  let text = "";
  const emit = (piece: string, ids: number[]) => {
    text += piece;
    if (piece || ids.length) sink?.(piece, ids);
  };
  const greedy = p.temperature === 0 || p.topP === 0;
  const result: GenerateResult = await ctx.scheduler.run(() =>
    model.generate(prompt, {
      maxTokens: p.maxTokens,
      ...(greedy ? { greedy: true } : {}),
      ...(p.temperature !== undefined && !greedy ? { temperature: p.temperature } : {}),
      ...(p.topP !== undefined && !greedy ? { topP: p.topP } : {}),
      ...(p.topK !== undefined && !greedy ? { topK: p.topK } : {}),
      ...(seed !== undefined ? { seed } : {}),
      ...(p.routing.tau !== undefined ? { tau: p.routing.tau } : {}),
      signal,
      onToken: (id) => {
        if (!decoder) return emit("", [id]);
        emit(filter.push(decoder.push(id)), []);
        if (filter.stopped) return false;
      },
    }), signal);
  if (decoder && !filter.stopped) {
    const tail = filter.push(decoder.flush());
    emit(tail + filter.flush(), []);
  }
  observeStats(ctx, result.stats);
  return {
    text,
    tokenIds: result.token_ids,
    finishReason: filter.stopped || result.finish_reason !== "length" ? "stop" : "length",
    promptTokens: prompt.length,
    stats: result.stats,
  };
}
