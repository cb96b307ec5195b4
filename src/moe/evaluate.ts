/**
 * Quality against compute over a τ sweep: perplexity of a language model on a text, or, for sentence
 * encoders, a cross-validated linear probe on labelled texts plus the cosine of each embedding to the
 * dense (τ = 0) embedding. Every row carries the measured FFN and compute fractions.
 * @module
 */
import { InvalidInputError } from "../model/errors.ts";
import type { Model, RunOptions } from "../model/model.ts";
import { type ComputeStats, mergeStats } from "../model/stats.ts";
import { cosine } from "../util/cosine.ts";
import type { ProgressCallback } from "../util/progress.ts";
import type { LabelledTexts } from "./datasets.ts";
import { probeAccuracy, type ProbeOptions } from "./linear_probe.ts";

/** One τ of an evaluation. */
export interface EvalRow {
  /** Threshold (or the fixed k of a top-k row, reported as `topk`). */
  tau: number;
  /** MoEfication baseline rows: experts per token. */
  topk?: number;
  /** Perplexity (language models). */
  ppl?: number;
  /** Linear-probe accuracy (encoders). */
  accuracy?: number;
  /** Mean cosine to the τ = 0 embeddings (encoders). */
  cosine?: number;
  /** Executed expert MACs / dense FFN MACs. */
  ffn_fraction: number;
  /** Executed attention-expert MACs / dense projection MACs (models converted with `--attention`). */
  attention_fraction?: number;
  /** Whole-model MACs / dense MACs. */
  compute_fraction: number;
}

/** The fractions of an evaluation row from the stats of every call it made. */
function fractions(list: ComputeStats[]) {
  const s = mergeStats(list);
  return {
    ffn_fraction: s.ffn_fraction,
    ...(s.dense_attention_macs > 0 && { attention_fraction: s.attention_fraction }),
    compute_fraction: s.compute_fraction,
  };
}

/** Options of {@link evaluatePerplexity}. */
export interface PerplexityOptions {
  /** Evaluate at most this many tokens of the text (default 8192). */
  maxTokens?: number;
  /** Window length (default: the model's context, at most 1024). */
  context?: number;
  /** Progress updates. */
  onProgress?: ProgressCallback;
}

/** The evaluation text's token ids: given ones checked against the vocabulary, text tokenized. */
function tokenIds(model: Model, text: string | number[], vocab: number): number[] {
  if (Array.isArray(text)) {
    const bad = text.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
    if (bad >= 0) {
      throw new InvalidInputError(
        "text",
        `token id ${text[bad]} at position ${bad} is outside the model's vocabulary (0–${vocab - 1})`,
      );
    }
    return text;
  }
  if (!model.tokenizer) {
    throw new InvalidInputError(
      "text",
      `${model.id} has no tokenizer to read the text with: give token ids as JSON instead`,
    );
  }
  return model.tokenizer.encode(text).filter((id) => id < vocab);
}

/**
 * Perplexity of non-overlapping windows of `text` at each τ.
 * @param model A GPT-2 model (dense or converted).
 * @param text Evaluation text, or its token ids (for models without a tokenizer).
 * @param runs τ values (and/or top-k settings) to evaluate.
 * @param o Token budget and window.
 * @returns One row per run.
 * @throws {InvalidInputError} When the model is not a language model, has no tokenizer, or the text is too short.
 */
export async function evaluatePerplexity(
  model: Model,
  text: string | number[],
  runs: RunOptions[],
  o: PerplexityOptions = {},
): Promise<EvalRow[]> {
  const cfg = model.config;
  if (cfg.family !== "gpt2") {
    throw new InvalidInputError("model", `${model.id} is not a language model; use --dataset for encoders`);
  }
  const ids = tokenIds(model, text, cfg.vocabSize).slice(0, o.maxTokens ?? 8192);
  const ctx = Math.min(o.context ?? 1024, cfg.maxPositions);
  if (ids.length < 2) throw new InvalidInputError("text", "the text has fewer than 2 tokens");
  const windows: number[][] = [];
  for (let i = 0; i < ids.length - 1; i += ctx) windows.push(ids.slice(i, i + ctx));
  if (windows.length > 1 && windows[windows.length - 1].length < 2) windows.pop();
  const rows: EvalRow[] = [];
  const total = runs.length * windows.length;
  let done = 0;
  for (const run of runs) {
    let nll = 0, tokens = 0;
    const stats: ComputeStats[] = [];
    for (const w of windows) {
      const r = await model.loss([w], run);
      nll += r.nll;
      tokens += r.tokens;
      stats.push(r.stats);
      o.onProgress?.({ step: "evaluation", done: ++done, total, detail: label(run) });
    }
    rows.push({
      tau: run.tau ?? model.moe?.defaultTau ?? 0,
      ...(run.moeTopK !== undefined ? { topk: run.moeTopK } : {}),
      ppl: Math.exp(nll / tokens),
      ...fractions(stats),
    });
  }
  return rows;
}

/** Options of {@link evaluateProbe}. */
export interface ProbeEvalOptions extends ProbeOptions {
  /** Texts per embed call (default 64). */
  batch?: number;
  /** Progress updates. */
  onProgress?: ProgressCallback;
}

const label = (r: RunOptions) => (r.moeTopK !== undefined ? `top-${r.moeTopK}` : `τ=${r.tau}`);

/**
 * Linear-probe accuracy, cosine to τ = 0 and compute at each τ.
 * @param model An encoder with `embed` (BERT, USE).
 * @param data Labelled texts.
 * @param runs τ values (and/or top-k settings).
 * @param o Folds, seed, batch size.
 * @returns One row per run.
 * @throws {InvalidInputError} When the model cannot embed.
 */
export async function evaluateProbe(
  model: Model,
  data: LabelledTexts,
  runs: RunOptions[],
  o: ProbeEvalOptions = {},
): Promise<EvalRow[]> {
  if (!model.capabilities.embed) {
    throw new InvalidInputError("model", `${model.id} cannot embed texts; use --text for language models`);
  }
  const bs = o.batch ?? 64;
  const n = data.texts.length;
  const steps = runs.length * Math.ceil(n / bs);
  let done = 0;
  let reference: Float32Array | null = null;
  const embedAll = async (run: RunOptions) => {
    let dim = 0;
    const parts: Float32Array[] = [], stats: ComputeStats[] = [];
    for (let i = 0; i < n; i += bs) {
      const r = await model.embed(data.texts.slice(i, i + bs), run);
      dim = r.embeddings[0].length;
      parts.push(...r.embeddings);
      stats.push(r.stats);
      o.onProgress?.({ step: "evaluation", done: ++done, total: steps, detail: label(run) });
    }
    const x = new Float32Array(n * dim);
    parts.forEach((p, i) => x.set(p, i * dim));
    return { x, dim, fractions: fractions(stats) };
  };
  // τ = 0 (the dense function) is the cosine reference, computed first.
  const ref = await embedAll({ tau: model.moe ? 0 : undefined });
  reference = ref.x;
  const rows: EvalRow[] = [];
  for (const run of runs) {
    const isDense = run.moeTopK === undefined && (run.tau ?? 0) === 0;
    const e = isDense ? ref : await embedAll(run);
    let cos = 0;
    for (let i = 0; i < n; i++) {
      cos += cosine(e.x.subarray(i * e.dim, (i + 1) * e.dim), reference.subarray(i * e.dim, (i + 1) * e.dim));
    }
    rows.push({
      tau: run.tau ?? model.moe?.defaultTau ?? 0,
      ...(run.moeTopK !== undefined ? { topk: run.moeTopK } : {}),
      accuracy: probeAccuracy(e.x, data.labels, e.dim, data.classes.length, o),
      cosine: cos / n,
      ...e.fractions,
    });
  }
  return rows;
}
