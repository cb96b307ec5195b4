/**
 * One view over a model folder's weights, whether they sit in a single `model.safetensors` or in shards
 * listed by `model.safetensors.index.json`.
 * @module
 */

import { join } from "node:path";
import { ModelFormatError } from "./errors.ts";
import { SafetensorsFile, type TensorInfo } from "./safetensors.ts";

/** File name of a single-file checkpoint. */
export const SINGLE_FILE = "model.safetensors";
/** File name of a sharded checkpoint's index. */
export const INDEX_FILE = "model.safetensors.index.json";
/** PyTorch pickle checkpoints are not loaded (unsafe to unpickle); named in the error when present. */
const PYTORCH_FILE = "pytorch_model.bin";
/** Real index files are a few hundred KiB; refuse to read anything absurd. */
const MAX_INDEX_BYTES = 100 * 1024 * 1024;

/**
 * Every tensor of a model folder, by name, read on demand from one or more safetensors files.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * using store = await WeightStore.openFolder("./tests/fixtures/hf-tiny/tiny-gpt2-relu");
 * assert.equal(store.resolve("h.0.ln_1.weight", ["", "transformer."]), "transformer.h.0.ln_1.weight");
 * ```
 */
export class WeightStore {
  /** The model folder. */
  readonly dir: string;
  /** The file that lists the tensors: `model.safetensors` or the index JSON. Used in errors. */
  readonly source: string;
  /** The index's `metadata` object, or the single file's `__metadata__`. */
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly #files: SafetensorsFile[];
  readonly #owner: Map<string, SafetensorsFile>;

  private constructor(
    dir: string,
    source: string,
    metadata: Record<string, unknown>,
    files: SafetensorsFile[],
    owner: Map<string, SafetensorsFile>,
  ) {
    this.dir = dir;
    this.source = source;
    this.metadata = metadata;
    this.#files = files;
    this.#owner = owner;
  }

  /**
   * Opens a folder's weights: `model.safetensors` if present, else the shards of
   * `model.safetensors.index.json`. Every header is validated, and every shard must hold the tensors
   * the index assigns to it.
   * @param dir Model folder.
   * @returns The store; close it (or `using` it) when done.
   * @throws {ModelFormatError} If the folder is missing, has neither file, or any file is invalid.
   */
  static async openFolder(dir: string): Promise<WeightStore> {
    await requireFolder(dir);
    const single = join(dir, SINGLE_FILE);
    if (await exists(single)) {
      const file = await SafetensorsFile.open(single);
      const owner = new Map(file.names().map((n) => [n, file]));
      return new WeightStore(dir, single, file.metadata, [file], owner);
    }
    const index = join(dir, INDEX_FILE);
    if (await exists(index)) {
      const { metadata, files, owner } = await openSharded(dir, index);
      return new WeightStore(dir, index, metadata, files, owner);
    }
    const torch = (await exists(join(dir, PYTORCH_FILE)))
      ? `; ${PYTORCH_FILE} is present but PyTorch pickle checkpoints are not supported (convert it to safetensors)`
      : "";
    throw new ModelFormatError(dir, `neither ${SINGLE_FILE} nor ${INDEX_FILE} exists in this folder${torch}`);
  }

  /**
   * Lists every tensor name.
   * @returns The names, in file (and shard) order.
   */
  names(): string[] {
    return [...this.#owner.keys()];
  }

  /**
   * Tells whether a tensor is present.
   * @param name Tensor name.
   * @returns `true` if some file of the folder holds it.
   */
  has(name: string): boolean {
    return this.#owner.has(name);
  }

  /**
   * Returns the first of `prefix + name` that exists, trying prefixes in order (HF checkpoints store
   * e.g. `bert.encoder...` or `encoder...` depending on the head class).
   * @param name Name without prefix.
   * @param prefixes Prefixes to try, e.g. `["", "bert."]`.
   * @returns The full name found, or `null` if none exists.
   */
  resolve(name: string, prefixes: readonly string[]): string | null {
    for (const p of prefixes) if (this.#owner.has(p + name)) return p + name;
    return null;
  }

  /**
   * Describes one tensor.
   * @param name Tensor name.
   * @returns Its dtype, shape and byte length.
   * @throws {ModelFormatError} If no file holds it.
   */
  info(name: string): TensorInfo {
    return this.#file(name).info(name);
  }

  /**
   * Reads a tensor as f32 (see {@link SafetensorsFile.readF32} for the dtypes converted).
   * @param name Tensor name.
   * @param expectedShape If given, the shape the tensor must have.
   * @returns The values, row-major.
   * @throws {ModelFormatError} If the tensor is missing, has another shape or dtype problem, or its file
   *   is truncated.
   */
  async readF32(name: string, expectedShape?: readonly number[]): Promise<Float32Array> {
    return await this.#file(name).readF32(name, expectedShape);
  }

  /**
   * Reads a tensor's bytes exactly as stored.
   * @param name Tensor name.
   * @returns A fresh copy of the bytes.
   * @throws {ModelFormatError} If the tensor is missing or its file is truncated.
   */
  async readRaw(name: string): Promise<Uint8Array> {
    return await this.#file(name).readRaw(name);
  }

  /** Closes every file handle; safe to call more than once. */
  close(): void {
    for (const f of this.#files) f.close();
  }

  /** Same as {@link WeightStore.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #file(name: string): SafetensorsFile {
    const f = this.#owner.get(name);
    if (!f) throw new ModelFormatError(this.source, `tensor "${name}" not found`);
    return f;
  }
}

/** The parsed, validated index: where each tensor lives. */
interface ShardIndex {
  metadata: Record<string, unknown>;
  /** Tensor name → shard file name (validated to stay inside the folder). */
  weightMap: Map<string, string>;
}

/** The opened shards of a sharded checkpoint and which one owns each tensor. */
interface OpenedShards {
  metadata: Record<string, unknown>;
  files: SafetensorsFile[];
  owner: Map<string, SafetensorsFile>;
}

/** Opens every shard named by an index and checks each holds what the index says; closes all on failure. */
async function openSharded(dir: string, indexPath: string): Promise<OpenedShards> {
  const index = parseIndex(await readIndexJson(indexPath), indexPath);
  const shards = new Map<string, SafetensorsFile>();
  try {
    for (const shard of new Set(index.weightMap.values())) {
      shards.set(shard, await openShard(dir, shard, indexPath));
    }
    const owner = new Map<string, SafetensorsFile>();
    for (const [tensor, shard] of index.weightMap) {
      const file = shards.get(shard)!;
      if (!file.has(tensor)) {
        throw new ModelFormatError(
          file.path,
          `tensor "${tensor}" is assigned to this shard by ${INDEX_FILE} but is not in it`,
        );
      }
      owner.set(tensor, file);
    }
    return { metadata: index.metadata, files: [...shards.values()], owner };
  } catch (e) {
    for (const f of shards.values()) f.close();
    throw e;
  }
}

async function openShard(dir: string, shard: string, indexPath: string): Promise<SafetensorsFile> {
  const path = join(dir, shard);
  if (!(await exists(path))) {
    throw new ModelFormatError(indexPath, `shard "${shard}" named in weight_map does not exist in ${dir}`);
  }
  return await SafetensorsFile.open(path);
}

/** Reads the index as JSON, checking its size first so a huge file is never loaded. */
async function readIndexJson(path: string): Promise<unknown> {
  const size = (await Deno.stat(path)).size;
  if (size > MAX_INDEX_BYTES) {
    throw new ModelFormatError(path, `index is ${size} bytes, larger than the ${MAX_INDEX_BYTES}-byte limit`);
  }
  const text = await Deno.readTextFile(path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(path, `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** Validates `{"metadata": {...}, "weight_map": {tensor: shard}}`. */
function parseIndex(json: unknown, file: string): ShardIndex {
  if (!isPlainObject(json)) throw new ModelFormatError(file, "index JSON is not an object");
  const metadata = json.metadata ?? {};
  if (!isPlainObject(metadata)) throw new ModelFormatError(file, `"metadata" is not an object`);
  const map = json.weight_map;
  if (!isPlainObject(map)) throw new ModelFormatError(file, `"weight_map" is missing or not an object`);
  const weightMap = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(map)) {
    if (typeof shard !== "string") {
      throw new ModelFormatError(file, `weight_map entry for "${tensor}" is not a file name string`);
    }
    checkShardName(shard, tensor, file);
    weightMap.set(tensor, shard);
  }
  if (weightMap.size === 0) throw new ModelFormatError(file, `"weight_map" lists no tensors`);
  return { metadata, weightMap };
}

/** Shards must be plain file names in the model folder: no separators, no "..", nothing absolute. */
function checkShardName(shard: string, tensor: string, file: string): void {
  if (shard === "" || shard === "." || /[/\\\0]/.test(shard) || shard.includes("..")) {
    throw new ModelFormatError(
      file,
      `weight_map entry for "${tensor}" names shard ${
        JSON.stringify(shard)
      }, which is not a plain file name in the model folder`,
    );
  }
}

async function requireFolder(dir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new ModelFormatError(dir, "model folder does not exist");
    throw e;
  }
  if (!info.isDirectory) throw new ModelFormatError(dir, "is not a folder (expected a model folder)");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
