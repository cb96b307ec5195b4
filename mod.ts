/**
 * d2dmoe: converts dense transformers (BERT, GPT-2, ViT, and the bundled USE lite sentence encoder) into
 * Dense-to-Dynamic-k Mixture-of-Experts (D2DMoE, arXiv 2310.04361) and runs them on the GPU through
 * WebGPU with our own WGSL kernels, with a CLI and an OpenAI-compatible HTTP server.
 *
 * @example
 * ```ts
 * import { loadModel } from "@d2dmoe/d2dmoe";
 * using model = await loadModel("./tests/fixtures/hf-tiny/tiny-gpt2-relu", { backend: "cpu" });
 * const out = await model.generate([10, 336, 491], { maxTokens: 3, greedy: true });
 * console.log(out.token_ids, out.stats.ffn_fraction);
 * ```
 * @module
 */

import "./src/moe/load_converted.ts";
import "./src/moe/default_model.ts";
export { loadModel, type LoadOptions } from "./src/model/load.ts";
export { convert, type ConvertOptions, type ConvertResult } from "./src/moe/convert.ts";
export type { Manifest } from "./src/moe/manifest.ts";
export { cacheDir, DEFAULT_MODEL, DEFAULT_RECIPE, defaultModelDir } from "./src/moe/default_model.ts";
export { type EvalRow, evaluatePerplexity, evaluateProbe } from "./src/moe/evaluate.ts";
export type {
  ClassifyResult,
  EmbedOptions,
  EmbedResult,
  ForwardInputs,
  ForwardOptions,
  ForwardOutput,
  GenerateOptions,
  GenerateResult,
  Model,
  MoeInfo,
  RunOptions,
} from "./src/model/model.ts";
export type { ComputeStats } from "./src/model/stats.ts";
export type { ModelConfig } from "./src/model/config.ts";
export type { NdArray } from "./src/model/ndarray.ts";
export { toNested } from "./src/model/ndarray.ts";
export type { TextTokenizer } from "./src/model/tokenizer.ts";
export { InvalidInputError, ModelFormatError, UnsupportedModelError } from "./src/model/errors.ts";
export { DeviceLostError, GpuCommandError, GpuUnavailableError } from "./src/gpu/errors.ts";
export type { Backend, BackendInfo } from "./src/ops/backend.ts";
export { type BackendChoice, createBackend } from "./src/ops/select_backend.ts";
export {
  createApp,
  ModelHost,
  type ModelHostOptions,
  type ServedModel,
  type ServeOptions,
  shutdownOnSignal,
  startServer,
} from "./src/serve/mod.ts";
