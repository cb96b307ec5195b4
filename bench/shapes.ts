/**
 * The shapes every case runs at: the real ones (issue 6) and the tiny `--quick` ones. The PyTorch peer
 * receives the same object as JSON, so both sides always agree.
 * @module
 */
import type { Activation } from "../src/ops/activation.ts";

/** One expert layout of a d_ff-wide FFN. */
export interface ExpertLayout {
  /** Experts per layer. */
  experts: number;
  /** Neurons per expert (experts × size = d_ff). */
  size: number;
}

/** A transformer's sizes for the end-to-end cases. */
export interface NetShape {
  /** Blocks. */
  layers: number;
  /** Model width. */
  hidden: number;
  /** Attention heads. */
  heads: number;
  /** FFN width. */
  ffn: number;
  /** Vocabulary. */
  vocab: number;
  /** Position table size. */
  positions: number;
  /** Hugging Face activation name (`gelu`, `gelu_new`, `relu`). */
  act: string;
  /** Expert layout of the D2DMoE variant. */
  moe: ExpertLayout;
}

/** Everything the cases need. */
export interface BenchShapes {
  /** Preset name. */
  preset: "full" | "quick";
  /** Bytes streamed by the read-bandwidth kernel (capped by the device's binding limit). */
  readBytes: number;
  /** Square matmul size. */
  matmul: number;
  /** FFN layer cases. */
  ffn: {
    /** Tokens of the batched case (256 images × 197 tokens). */
    tokens: number;
    /** Model width. */
    d: number;
    /** Hidden width. */
    dff: number;
    /** Activation of the hidden layer. */
    act: Activation;
    /** Expert layouts. */
    layouts: ExpertLayout[];
  };
  /** Forced executed fractions f (k = round(f·E) experts per token). */
  fractions: number[];
  /** BERT forward. */
  bert: NetShape & { batch: number; seq: number };
  /** GPT-2 greedy decode at batch 1. */
  gpt2: NetShape & { prompt: number; newTokens: number };
}

/** Real shapes (for the GPU machine). */
export const FULL_SHAPES: BenchShapes = {
  preset: "full",
  readBytes: 1 << 30,
  matmul: 4096,
  ffn: {
    tokens: 256 * 197,
    d: 768,
    dff: 3072,
    act: "relu",
    layouts: [{ experts: 24, size: 128 }, { experts: 96, size: 32 }],
  },
  fractions: [1, 0.5, 0.3, 0.1],
  bert: {
    layers: 12,
    hidden: 768,
    heads: 12,
    ffn: 3072,
    vocab: 30522,
    positions: 512,
    act: "gelu",
    moe: { experts: 24, size: 128 },
    batch: 32,
    seq: 128,
  },
  gpt2: {
    layers: 12,
    hidden: 768,
    heads: 12,
    ffn: 3072,
    vocab: 50257,
    positions: 1024,
    act: "gelu_new",
    moe: { experts: 24, size: 128 },
    prompt: 16,
    newTokens: 128,
  },
};

/** Tiny shapes for `--quick` (CPU machines, software adapters). */
export const QUICK_SHAPES: BenchShapes = {
  preset: "quick",
  readBytes: 16 << 20,
  matmul: 256,
  ffn: {
    tokens: 197,
    d: 64,
    dff: 256,
    act: "relu",
    layouts: [{ experts: 8, size: 32 }, { experts: 32, size: 8 }],
  },
  fractions: [1, 0.5, 0.3, 0.1],
  bert: {
    layers: 2,
    hidden: 64,
    heads: 4,
    ffn: 256,
    vocab: 512,
    positions: 64,
    act: "gelu",
    moe: { experts: 8, size: 32 },
    batch: 2,
    seq: 16,
  },
  gpt2: {
    layers: 2,
    hidden: 64,
    heads: 4,
    ffn: 256,
    vocab: 512,
    positions: 64,
    act: "gelu_new",
    moe: { experts: 8, size: 32 },
    prompt: 4,
    newTokens: 8,
  },
};

/**
 * Experts per token for a forced fraction.
 * @param f Nominal executed fraction in (0, 1].
 * @param experts Experts per layer.
 * @returns k = round(f·E), at least 1.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(topKFor(0.3, 24), 7); // executes 7/24 = 0.29 of the FFN
 * ```
 */
export function topKFor(f: number, experts: number): number {
  return Math.max(1, Math.min(experts, Math.round(f * experts)));
}
