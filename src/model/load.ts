/**
 * `loadModel()`: a Hugging Face folder (or URL) → config, weights on a backend, tokenizer → Model.
 * @module
 */
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Backend } from "../ops/backend.ts";
import type { ProgressCallback } from "../util/progress.ts";
import { type BackendChoice, createBackend } from "../ops/select_backend.ts";
import { BertNet } from "./bert.ts";
import { type ModelConfig, readConfig, type UseConfig, useConfig } from "./config.ts";
import { ModelFormatError } from "./errors.ts";
import { Gpt2Net } from "./gpt2.ts";
import type { AttentionFactory, FfnFactory } from "./layers.ts";
import { Model, type Net, type RoutingHooks } from "./model.ts";
import { loadTokenizer } from "./tokenizer.ts";
import { VitNet } from "./vit.ts";
import { isUseTfjsDir, loadUse } from "./use/load_use.ts";
import { type Uploader, WeightLoader } from "./weight_loader.ts";
import { WeightStore } from "./weight_store.ts";

/** Options of {@link loadModel}. */
export interface LoadOptions {
  /** Backend choice, or an existing backend to share (default: `D2D_BACKEND` or auto). */
  backend?: BackendChoice | Backend;
  /** Model id reported by the API and server (default: the folder name). */
  id?: string;
  /** Load the folder's tokenizer (default true). */
  tokenizer?: boolean;
  /** Progress of preparing a named model on first use (e.g. converting "default"). */
  onProgress?: ProgressCallback;
}

/** What a converted folder contributes: its FFN layers and routing hooks. */
export interface ConvertedParts {
  /** Builds layer i's FFN. */
  ffn: FfnFactory;
  /** Builds block i's converted attention projections (undefined where they stay dense). */
  attention?: AttentionFactory;
  /** Routing hooks for the model. */
  routing: RoutingHooks;
  /** Releases files opened while loading. */
  close(): void;
}

/** Hook a converted-model loader implements: null for a dense folder. */
export type ConvertedLoader = (
  dir: string,
  config: ModelConfig,
  loader: Uploader,
) => Promise<ConvertedParts | null>;

/** Resolves a model name (e.g. "default") to a folder, preparing it if needed. */
export type NamedModelResolver = (options: LoadOptions) => Promise<string>;

const namedModels = new Map<string, NamedModelResolver>();

/**
 * Registers a model name `loadModel` accepts instead of a path (`src/moe` registers "default").
 * @param name The name.
 * @param resolve Returns the folder to load.
 */
export function registerNamedModel(name: string, resolve: NamedModelResolver): void {
  namedModels.set(name, resolve);
}

let convertedLoader: ConvertedLoader | null = null;

/**
 * Registers the loader of converted (D2DMoE) folders; `src/moe` calls this so `src/model` need not
 * import the layer above it.
 * @param fn The hook.
 */
export function registerConvertedLoader(fn: ConvertedLoader): void {
  convertedLoader = fn;
}

const PREFIXES: Record<Exclude<ModelConfig["family"], "use">, string[]> = {
  bert: ["bert.", ""],
  gpt2: ["transformer.", ""],
  vit: ["vit.", ""],
};

/** Files fetched for a model given by URL (absent optional ones are skipped). */
const URL_FILES = [
  "config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "vocab.json",
  "merges.txt",
  "vocab.txt",
  "d2dmoe.json",
];

async function fetchFolder(url: URL): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "d2dmoe-url-" });
  const base = url.href.endsWith("/") ? url : new URL(url.href + "/");
  const get = async (name: string, required: boolean) => {
    const res = await fetch(new URL(name, base));
    if (!res.ok) {
      await res.body?.cancel();
      if (required) throw new ModelFormatError(new URL(name, base).href, `HTTP ${res.status}`);
      return false;
    }
    await Deno.writeFile(join(dir, name), new Uint8Array(await res.arrayBuffer()));
    return true;
  };
  for (const f of URL_FILES) await get(f, f === "config.json");
  if (!(await get("model.safetensors", false))) {
    if (!(await get("model.safetensors.index.json", true))) return dir;
    const index = JSON.parse(await Deno.readTextFile(join(dir, "model.safetensors.index.json")));
    for (const shard of new Set(Object.values(index.weight_map ?? {}) as string[])) await get(shard, true);
  }
  return dir;
}

/**
 * Resolves a model location to a local folder.
 * @param pathOrUrl A folder path, a `file:` URL, or an `http(s):` URL of a folder.
 * @returns The local folder.
 */
export async function resolveModelDir(pathOrUrl: string | URL): Promise<string> {
  const s = pathOrUrl instanceof URL ? pathOrUrl.href : pathOrUrl;
  if (s.startsWith("file:")) return fileURLToPath(s);
  if (s.startsWith("http://") || s.startsWith("https://")) return await fetchFolder(new URL(s));
  return resolve(s);
}

/**
 * Loads a model folder as users have it: `config.json` + `model.safetensors` (or a sharded index) and
 * tokenizer files; converted D2DMoE folders load the same way.
 * @param pathOrUrl Folder path, `file:` URL, or `http(s):` URL of a folder.
 * @param options Backend, id, tokenizer switch.
 * @returns A disposable model.
 * @throws {ModelFormatError} When files are missing, malformed, or disagree with the config.
 * @throws {UnsupportedModelError} When the architecture is not BERT, GPT-2 or ViT.
 *
 * @example
 * ```ts
 * import { loadModel } from "@d2dmoe/d2dmoe";
 * using model = await loadModel("./tests/fixtures/hf-tiny/tiny-gpt2-relu", { backend: "cpu" });
 * const { token_ids } = await model.generate([10, 336, 491], { maxTokens: 4, greedy: true });
 * console.log(token_ids.length); // 4
 * ```
 */
export async function loadModel(pathOrUrl: string | URL, options: LoadOptions = {}): Promise<Model> {
  const resolver = typeof pathOrUrl === "string" ? namedModels.get(pathOrUrl) : undefined;
  const dir = resolver ? await resolver(options) : await resolveModelDir(pathOrUrl);
  const config = (await isUseTfjsDir(dir)) ? useConfig(dir) : await readConfig(dir);
  if (config.family === "use") return await loadUseModel(dir, config, options);
  using store = await WeightStore.openFolder(dir);
  const ownsBackend = typeof options.backend !== "object";
  const backend = typeof options.backend === "object"
    ? options.backend
    : await createBackend(options.backend);
  const loader = new WeightLoader(store, backend, PREFIXES[config.family]);
  let converted: ConvertedParts | null = null;
  try {
    converted = convertedLoader ? await convertedLoader(dir, config, loader) : null;
    const ffn = converted?.ffn, attention = converted?.attention;
    const net: Net = config.family === "bert"
      ? await BertNet.load(loader, config, ffn, attention)
      : config.family === "gpt2"
      ? await Gpt2Net.load(loader, config, ffn, attention)
      : await VitNet.load(loader, config, ffn, attention);
    const routing = converted?.routing;
    const tokenizer = options.tokenizer === false ? null : await loadTokenizer(dir, {
      gpt2Fallback: config.family === "gpt2",
      vocabSize: (config as { vocabSize?: number }).vocabSize,
    });
    return new Model({
      id: options.id ?? (namedFolder(dir) ?? basename(dir)),
      dir,
      config,
      net,
      loader,
      backend,
      ownsBackend,
      tokenizer,
      routing,
    });
  } catch (e) {
    loader.freeAll();
    if (ownsBackend) backend[Symbol.dispose]();
    throw e;
  } finally {
    converted?.close();
  }
}

/** USE lite (TF.js or safetensors folder, dense or converted). */
async function loadUseModel(dir: string, config: UseConfig, options: LoadOptions): Promise<Model> {
  const ownsBackend = typeof options.backend !== "object";
  const backend = typeof options.backend === "object"
    ? options.backend
    : await createBackend(options.backend);
  let converted: ConvertedParts | null = null;
  let freeNet = () => {};
  try {
    const { net, tokenizer } = await loadUse(dir, backend);
    freeNet = () => net.freeAll();
    converted = convertedLoader ? await convertedLoader(dir, config, net.uploader) : null;
    if (converted) {
      for (const [i, b] of net.blocks.entries()) b.ffn = await converted.ffn(i);
    }
    return new Model({
      id: options.id ?? (namedFolder(dir) ?? basename(dir)),
      dir,
      config,
      net,
      loader: net,
      backend,
      ownsBackend,
      tokenizer: options.tokenizer === false ? null : tokenizer,
      routing: converted?.routing,
    });
  } catch (e) {
    freeNet();
    if (ownsBackend) backend[Symbol.dispose]();
    throw e;
  } finally {
    converted?.close();
  }
}

/** Id of a folder that came from a registered name (the cache folder of "default" is "default"). */
function namedFolder(dir: string): string | undefined {
  return resolvedNames.get(dir);
}

const resolvedNames = new Map<string, string>();

/**
 * Records that `dir` is the folder of a registered name, so models loaded from it report that name as id.
 * @param dir Folder.
 * @param name Registered name.
 */
export function rememberNamedFolder(dir: string, name: string): void {
  resolvedNames.set(dir, name);
}
