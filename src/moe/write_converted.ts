/**
 * Writing a converted folder atomically: everything goes to a sibling temporary folder first, which
 * is renamed into place only when complete, so an interrupted conversion never leaves a broken folder.
 * @module
 */
import { basename, dirname, join } from "node:path";
import type { ModelConfig } from "../model/config.ts";
import { encodeSafetensors, type TensorToWrite } from "../model/safetensors.ts";
import { readUseWeights } from "../model/use/load_use.ts";
import { WeightStore } from "../model/weight_store.ts";
import { expertTensorNames, projectionTensorNames } from "./load_converted.ts";
import { EXPERTS_FILE, type Manifest, MANIFEST_FILE } from "./manifest.ts";
import type { RouterWeights } from "../moe/router_train.ts";
import type { ExpertWeights } from "./expert_split.ts";

/** Files copied from the source folder when present. */
const COPIED = [
  "config.json",
  "generation_config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "vocab.json",
  "merges.txt",
  "vocab.txt",
];

/**
 * True for the dense FFN tensors a converted folder replaces (they are not copied).
 * @param name Tensor name as stored.
 * @param family Model family.
 * @returns Whether it is an FFN weight or bias.
 */
export function isFfnTensor(name: string, family: string): boolean {
  if (family === "gpt2") return /(^|\.)h\.\d+\.mlp\.(c_fc|c_proj)\./.test(name);
  return /(^|\.)encoder\.layer\.\d+\.(intermediate|output)\.dense\./.test(name);
}

/**
 * The block whose dense attention projection (Q, K, V or O, weight or bias) a tensor is, or -1. Converted
 * folders made with `--attention` leave these out: the converted projections replace them.
 * @param name Tensor name as stored.
 * @param family Model family.
 * @returns The block index, or -1 for any other tensor.
 */
export function attentionProjectionBlock(name: string, family: string): number {
  const m = family === "gpt2"
    ? /(?:^|\.)h\.(\d+)\.attn\.(?:c_attn|c_proj)\.(?:weight|bias)$/.exec(name)
    : family === "bert"
    ? /(?:^|\.)encoder\.layer\.(\d+)\.attention\.(?:self\.(?:query|key|value)|output\.dense)\.(?:weight|bias)$/
      .exec(name)
    : family === "vit"
    ? /(?:^|\.)encoder\.layer\.(\d+)\.attention\.(?:attention\.(?:query|key|value)|output\.dense)\.(?:weight|bias)$/
      .exec(name)
    : null;
  return m ? Number(m[1]) : -1;
}

/** One converted layer to write. */
export interface ConvertedLayer {
  /** Expert weights. */
  experts: ExpertWeights;
  /** Trained router. */
  router: RouterWeights;
  /** Converted attention projections (q, k, v, o), when the block has them. */
  attention?: Record<string, { experts: ExpertWeights; router: RouterWeights }>;
}

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

/** The source's tensors that stay dense (not FFNs, not converted attention projections), in their dtypes. */
async function baseTensors(
  src: string,
  cfg: ModelConfig,
  layers: ConvertedLayer[],
): Promise<Record<string, TensorToWrite>> {
  const out: Record<string, TensorToWrite> = {};
  if (cfg.family === "use") {
    for (const [name, t] of await readUseWeights(src)) {
      out[name] = { dtype: t.data instanceof Float32Array ? "F32" : "I32", shape: t.shape, data: t.data };
    }
    return out;
  }
  using store = await WeightStore.openFolder(src);
  for (const name of store.names()) {
    if (isFfnTensor(name, cfg.family)) continue;
    const block = attentionProjectionBlock(name, cfg.family);
    if (block >= 0 && layers[block]?.attention) continue;
    const info = store.info(name);
    out[name] = { dtype: info.dtype, shape: info.shape, data: await store.readRaw(name) };
  }
  return out;
}

/** The experts file's tensors. */
function expertTensors(layers: ConvertedLayer[], d: number): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {};
  const put = (n: ReturnType<typeof expertTensorNames>, x: ExpertWeights, r: RouterWeights) => {
    const E = x.experts, s = x.size;
    out[n.r1] = { dtype: "F32", shape: [d, r.width], data: r.w1 };
    out[n.r2] = { dtype: "F32", shape: [r.width, E], data: r.w2 };
    out[n.w1] = { dtype: "F32", shape: [E, d, s], data: x.w1 };
    out[n.b1] = { dtype: "F32", shape: [E, s], data: x.b1 };
    out[n.w2] = { dtype: "F32", shape: [E, s, d], data: x.w2 };
    out[n.b2] = { dtype: "F32", shape: [d], data: x.b2 };
    out[n.order] = { dtype: "I32", shape: [E * s], data: x.order };
  };
  layers.forEach(({ experts, router, attention }, i) => {
    put(expertTensorNames(i), experts, router);
    for (const [p, a] of Object.entries(attention ?? {})) {
      put(projectionTensorNames(i, p), a.experts, a.router);
    }
  });
  return out;
}

/**
 * Writes a converted folder.
 * @param src Source model folder.
 * @param out Destination folder.
 * @param cfg Source config.
 * @param layers Converted layers.
 * @param manifest Manifest.
 * @param overwrite Replace an existing destination.
 * @throws {Error} When `out` exists and `overwrite` is false.
 */
export async function writeConverted(
  src: string,
  out: string,
  cfg: ModelConfig,
  layers: ConvertedLayer[],
  manifest: Manifest,
  overwrite: boolean,
): Promise<void> {
  if (!overwrite && (await exists(out))) {
    throw new Deno.errors.AlreadyExists(`${out} already exists (use --overwrite to replace it)`);
  }
  await Deno.mkdir(dirname(out), { recursive: true });
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${crypto.randomUUID().slice(0, 8)}`);
  await Deno.mkdir(tmp);
  try {
    for (const f of COPIED) if (await exists(join(src, f))) await Deno.copyFile(join(src, f), join(tmp, f));
    if (cfg.family === "use") {
      await Deno.writeTextFile(join(tmp, "config.json"), JSON.stringify(cfg.raw, null, 2) + "\n");
    }
    await Deno.writeFile(
      join(tmp, "model.safetensors"),
      encodeSafetensors(await baseTensors(src, cfg, layers), { format: "pt" }),
    );
    await Deno.writeFile(
      join(tmp, EXPERTS_FILE),
      encodeSafetensors(expertTensors(layers, cfg.hidden), { format: "d2dmoe" }),
    );
    // The manifest goes last: a folder without it is never taken for a converted model.
    await Deno.writeTextFile(join(tmp, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
    if (await exists(out)) await Deno.remove(out, { recursive: true });
    await Deno.rename(tmp, out);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
}

/**
 * SHA-256 of a model's weight files (hex), for provenance.
 * @param src Source folder.
 * @returns Hex digest over the weight files in name order.
 */
export async function sourceChecksum(src: string): Promise<string> {
  const files: string[] = [];
  for await (const e of Deno.readDir(src)) {
    if (
      e.isFile && (/\.safetensors$/.test(e.name) || /^group\d+-shard/.test(e.name) || e.name === "model.json")
    ) files.push(e.name);
  }
  files.sort();
  const parts: Uint8Array[] = [];
  for (const f of files) {
    parts.push(new Uint8Array(await crypto.subtle.digest("SHA-256", await Deno.readFile(join(src, f)))));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
