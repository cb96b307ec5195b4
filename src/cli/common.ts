/**
 * Options every model-using subcommand shares (--model, --backend, --tau, --moe-topk) and loading
 * the model they name.
 * @module
 */
import { loadModel } from "../model/load.ts";
import type { Model, RunOptions } from "../model/model.ts";
import { type BackendChoice, parseBackendChoice } from "../ops/select_backend.ts";
import { type OptionSpec, type Opts, UsageError } from "./args.ts";
import { deviceLine, note } from "./output.ts";
import { terminalProgress } from "../util/progress.ts";

/** Options shared by commands that load a model. */
export const MODEL_OPTIONS: OptionSpec = {
  model: { type: "string", short: "m" },
  backend: { type: "string" },
  tau: { type: "string" },
  "moe-topk": { type: "string" },
  quiet: { type: "boolean", short: "q" },
};

/** Help text for {@link MODEL_OPTIONS}. */
export const MODEL_HELP = `  -m, --model DIR       model folder (Hugging Face layout, or a converted folder)
      --backend B       auto | gpu | dawn | webgpu | cpu (default: $D2D_BACKEND or auto)
      --tau T           D2DMoE threshold in [0, 1] (converted models; 0 = dense)
      --moe-topk K      MoEfication baseline: run the K best experts per token instead of dynamic-k
  -q, --quiet           do not print the device line on stderr`;

/**
 * The backend choice from `--backend`.
 * @param o Parsed options.
 * @returns The choice, or undefined for the default.
 * @throws {UsageError} On an unknown value.
 */
export function backendOption(o: Opts): BackendChoice | undefined {
  const b = o.str("backend");
  if (b === undefined) return undefined;
  try {
    return parseBackendChoice(b === "gpu" ? "gpu" : b);
  } catch (e) {
    throw new UsageError(`${o.command}: --${(e as Error).message}`);
  }
}

/**
 * τ / top-k routing options.
 * @param o Parsed options.
 * @returns Run options.
 */
export function runOptions(o: Opts): RunOptions {
  const tau = o.num("tau", 0, 1);
  const topK = o.num("moe-topk", 1, Infinity, true);
  if (tau !== undefined && topK !== undefined) {
    throw new UsageError(`${o.command}: use either --tau or --moe-topk, not both`);
  }
  return { ...(tau !== undefined ? { tau } : {}), ...(topK !== undefined ? { moeTopK: topK } : {}) };
}

/**
 * Loads the model named by `--model` and prints the device line (unless `--quiet`).
 * @param o Parsed options.
 * @param fallback Model used when `--model` is absent (e.g. "default"); required otherwise.
 * @returns The model.
 */
export async function openModel(o: Opts, fallback?: string): Promise<Model> {
  const dir = o.str("model") ?? fallback;
  if (!dir) throw new UsageError(`${o.command}: --model is required`, `run "d2d ${o.command} --help"`);
  const model = await loadModel(dir, { backend: backendOption(o), onProgress: terminalProgress(0) });
  if (!o.flag("quiet")) note(deviceLine(model.device));
  return model;
}
