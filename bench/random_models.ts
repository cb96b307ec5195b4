/**
 * Random-weight BERT and GPT-2 models at any shape, as Hugging Face folders that `loadModel` reads
 * (config.json + model.safetensors), and their D2DMoE versions (the same folder plus d2dmoe.json and
 * d2dmoe.safetensors: contiguous expert slices of each dense FFN and random routers, so top-k with
 * k = E reproduces the dense model).
 * @module
 */
import { join } from "node:path";
import { encodeSafetensors, type TensorToWrite } from "../src/model/safetensors.ts";
import { transpose } from "../src/model/weight_loader.ts";
import { expertTensorNames } from "../src/moe/load_converted.ts";
import { EXPERTS_FILE, FORMAT_VERSION, type Manifest, MANIFEST_FILE } from "../src/moe/manifest.ts";
import type { Rng } from "../src/util/rng.ts";
import { moeFromDense, ROUTER_WIDTH } from "./ffn_layers.ts";
import { filled, randomF32 } from "./random.ts";
import type { NetShape } from "./shapes.ts";

/** A host tensor in Hugging Face layout. */
export interface HostTensor {
  /** Dimensions. */
  shape: number[];
  /** Row-major values. */
  data: Float32Array;
}

/** Tensors by Hugging Face name (no `bert.` / `transformer.` prefix). */
export type HostTensors = Map<string, HostTensor>;

/** Initialiser scale of BERT and GPT-2 (`initializer_range`). */
const STD = 0.02;

function add(m: HostTensors, name: string, shape: number[], data: Float32Array): void {
  m.set(name, { shape, data });
}

function linear(m: HostTensors, rng: Rng, p: string, inDim: number, outDim: number): void {
  add(m, `${p}.weight`, [outDim, inDim], randomF32(inDim * outDim, rng, STD)); // nn.Linear: [out, in]
  add(m, `${p}.bias`, [outDim], randomF32(outDim, rng, STD));
}

function norm(m: HostTensors, rng: Rng, p: string, c: number): void {
  const g = filled(c, 1);
  for (let i = 0; i < c; i++) g[i] += (rng.next() - 0.5) * 0.02;
  add(m, `${p}.weight`, [c], g);
  add(m, `${p}.bias`, [c], randomF32(c, rng, STD));
}

/**
 * BertModel tensors (embeddings, encoder, pooler) with random weights.
 * @param s Sizes.
 * @param rng Generator.
 * @returns Tensors by name.
 */
export function bertTensors(s: NetShape, rng: Rng): HostTensors {
  const m: HostTensors = new Map(), C = s.hidden;
  add(m, "embeddings.word_embeddings.weight", [s.vocab, C], randomF32(s.vocab * C, rng, STD));
  add(m, "embeddings.position_embeddings.weight", [s.positions, C], randomF32(s.positions * C, rng, STD));
  add(m, "embeddings.token_type_embeddings.weight", [2, C], randomF32(2 * C, rng, STD));
  norm(m, rng, "embeddings.LayerNorm", C);
  for (let i = 0; i < s.layers; i++) {
    const p = `encoder.layer.${i}`;
    for (const q of ["query", "key", "value"]) linear(m, rng, `${p}.attention.self.${q}`, C, C);
    linear(m, rng, `${p}.attention.output.dense`, C, C);
    norm(m, rng, `${p}.attention.output.LayerNorm`, C);
    linear(m, rng, `${p}.intermediate.dense`, C, s.ffn);
    linear(m, rng, `${p}.output.dense`, s.ffn, C);
    norm(m, rng, `${p}.output.LayerNorm`, C);
  }
  linear(m, rng, "pooler.dense", C, C);
  return m;
}

/**
 * GPT2LMHeadModel tensors (tied head) with random weights; Conv1D weights are [in, out].
 * @param s Sizes.
 * @param rng Generator.
 * @returns Tensors by name.
 */
export function gpt2Tensors(s: NetShape, rng: Rng): HostTensors {
  const m: HostTensors = new Map(), C = s.hidden;
  const conv = (p: string, i: number, o: number) => {
    add(m, `${p}.weight`, [i, o], randomF32(i * o, rng, STD));
    add(m, `${p}.bias`, [o], randomF32(o, rng, STD));
  };
  add(m, "wte.weight", [s.vocab, C], randomF32(s.vocab * C, rng, STD));
  add(m, "wpe.weight", [s.positions, C], randomF32(s.positions * C, rng, STD));
  for (let i = 0; i < s.layers; i++) {
    const p = `h.${i}`;
    norm(m, rng, `${p}.ln_1`, C);
    conv(`${p}.attn.c_attn`, C, 3 * C);
    conv(`${p}.attn.c_proj`, C, C);
    norm(m, rng, `${p}.ln_2`, C);
    conv(`${p}.mlp.c_fc`, C, s.ffn);
    conv(`${p}.mlp.c_proj`, s.ffn, C);
  }
  norm(m, rng, "ln_f", C);
  return m;
}

/** Sizes of a random ViT. */
export interface VitShape {
  /** Blocks. */
  layers: number;
  /** Model width. */
  hidden: number;
  /** Attention heads. */
  heads: number;
  /** FFN width. */
  ffn: number;
  /** Image side in pixels. */
  image: number;
  /** Patch side in pixels. */
  patch: number;
  /** Classifier labels. */
  labels: number;
}

/**
 * ViTForImageClassification tensors with random weights (`vit.` prefix, as transformers saves them).
 * @param s Sizes.
 * @param rng Generator.
 * @returns Tensors by name.
 */
export function vitTensors(s: VitShape, rng: Rng): HostTensors {
  const m: HostTensors = new Map(), C = s.hidden, P = s.patch, T = (s.image / P) ** 2 + 1;
  add(m, "vit.embeddings.cls_token", [1, 1, C], randomF32(C, rng, STD));
  add(m, "vit.embeddings.position_embeddings", [1, T, C], randomF32(T * C, rng, STD));
  add(
    m,
    "vit.embeddings.patch_embeddings.projection.weight",
    [C, 3, P, P],
    randomF32(C * 3 * P * P, rng, STD),
  );
  add(m, "vit.embeddings.patch_embeddings.projection.bias", [C], randomF32(C, rng, STD));
  for (let i = 0; i < s.layers; i++) {
    const p = `vit.encoder.layer.${i}`;
    for (const q of ["query", "key", "value"]) linear(m, rng, `${p}.attention.attention.${q}`, C, C);
    linear(m, rng, `${p}.attention.output.dense`, C, C);
    norm(m, rng, `${p}.layernorm_before`, C);
    linear(m, rng, `${p}.intermediate.dense`, C, s.ffn);
    linear(m, rng, `${p}.output.dense`, s.ffn, C);
    norm(m, rng, `${p}.layernorm_after`, C);
  }
  norm(m, rng, "vit.layernorm", C);
  linear(m, rng, "classifier", C, s.labels);
  return m;
}

/**
 * A ViTForImageClassification config.json.
 * @param s Sizes.
 * @returns The JSON object.
 */
export function vitConfig(s: VitShape): Record<string, unknown> {
  return {
    architectures: ["ViTForImageClassification"],
    model_type: "vit",
    hidden_size: s.hidden,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    intermediate_size: s.ffn,
    hidden_act: "gelu",
    image_size: s.image,
    patch_size: s.patch,
    num_channels: 3,
    layer_norm_eps: 1e-12,
    qkv_bias: true,
    id2label: Object.fromEntries(Array.from({ length: s.labels }, (_, i) => [String(i), `LABEL_${i}`])),
  };
}

/**
 * A BertModel config.json.
 * @param s Sizes.
 * @returns The JSON object.
 */
export function bertConfig(s: NetShape): Record<string, unknown> {
  return {
    architectures: ["BertModel"],
    model_type: "bert",
    hidden_size: s.hidden,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    intermediate_size: s.ffn,
    hidden_act: s.act,
    vocab_size: s.vocab,
    max_position_embeddings: s.positions,
    type_vocab_size: 2,
    layer_norm_eps: 1e-12,
    pad_token_id: 0,
  };
}

/**
 * A GPT2LMHeadModel config.json.
 * @param s Sizes.
 * @returns The JSON object.
 */
export function gpt2Config(s: NetShape): Record<string, unknown> {
  return {
    architectures: ["GPT2LMHeadModel"],
    model_type: "gpt2",
    n_embd: s.hidden,
    n_layer: s.layers,
    n_head: s.heads,
    n_inner: s.ffn,
    activation_function: s.act,
    vocab_size: s.vocab,
    n_positions: s.positions,
    layer_norm_epsilon: 1e-5,
    bos_token_id: s.vocab - 1,
    eos_token_id: s.vocab - 1,
    tie_word_embeddings: true,
  };
}

/**
 * Writes a dense model folder.
 * @param dir Folder (created).
 * @param config config.json contents.
 * @param tensors Weights.
 */
export async function writeDenseFolder(
  dir: string,
  config: Record<string, unknown>,
  tensors: HostTensors,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(config, null, 2));
  const out: Record<string, TensorToWrite> = {};
  for (const [name, t] of tensors) out[name] = { dtype: "F32", shape: t.shape, data: t.data };
  await Deno.writeFile(join(dir, "model.safetensors"), encodeSafetensors(out, { format: "pt" }));
}

/** One FFN of a host model in our layout (W1 [C, I], W2 [I, C]). */
function ffnWeights(family: "bert" | "gpt2", t: HostTensors, i: number, C: number, I: number) {
  const get = (n: string) => t.get(n)!.data;
  if (family === "gpt2") {
    const p = `h.${i}.mlp`;
    return {
      w1: get(`${p}.c_fc.weight`),
      b1: get(`${p}.c_fc.bias`),
      w2: get(`${p}.c_proj.weight`),
      b2: get(`${p}.c_proj.bias`),
      d: C,
      dff: I,
    };
  }
  const p = `encoder.layer.${i}`;
  return {
    w1: transpose(get(`${p}.intermediate.dense.weight`), I, C),
    b1: get(`${p}.intermediate.dense.bias`),
    w2: transpose(get(`${p}.output.dense.weight`), C, I),
    b2: get(`${p}.output.dense.bias`),
    d: C,
    dff: I,
  };
}

/**
 * Writes the D2DMoE version of a dense folder: its config and weights (linked or copied) plus the
 * manifest and experts file.
 * @param dir Destination folder (created).
 * @param denseDir The dense folder.
 * @param family `bert` or `gpt2`.
 * @param s Sizes (with the expert layout).
 * @param tensors The dense weights.
 * @param rng Generator for the routers.
 */
export async function writeConvertedFolder(
  dir: string,
  denseDir: string,
  family: "bert" | "gpt2",
  s: NetShape,
  tensors: HostTensors,
  rng: Rng,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (const f of ["config.json", "model.safetensors"]) {
    await Deno.link(join(denseDir, f), join(dir, f)).catch(() =>
      Deno.copyFile(join(denseDir, f), join(dir, f))
    );
  }
  const out: Record<string, TensorToWrite> = {};
  const { experts: E, size } = s.moe;
  for (let i = 0; i < s.layers; i++) {
    const m = moeFromDense(ffnWeights(family, tensors, i, s.hidden, s.ffn), s.moe, rng);
    const n = expertTensorNames(i), x = m.experts;
    out[n.r1] = { dtype: "F32", shape: [s.hidden, ROUTER_WIDTH], data: m.r1 };
    out[n.r2] = { dtype: "F32", shape: [ROUTER_WIDTH, E], data: m.r2 };
    out[n.w1] = { dtype: "F32", shape: [E, s.hidden, size], data: x.w1 };
    out[n.b1] = { dtype: "F32", shape: [E, size], data: x.b1 };
    out[n.w2] = { dtype: "F32", shape: [E, size, s.hidden], data: x.w2 };
    out[n.b2] = { dtype: "F32", shape: [s.hidden], data: x.b2 };
    out[n.order] = { dtype: "I32", shape: [E * size], data: x.order };
  }
  await Deno.writeFile(join(dir, EXPERTS_FILE), encodeSafetensors(out, { format: "d2dmoe" }));
  const manifest: Manifest = {
    format: "d2dmoe",
    format_version: FORMAT_VERSION,
    family,
    layers: Array.from(
      { length: s.layers },
      () => ({ experts: E, expert_size: size, router_width: ROUTER_WIDTH }),
    ),
    default_tau: 0,
    calibration: [],
    provenance: { source: "bench: random weights, contiguous expert slices, random routers (timing only)" },
  };
  await Deno.writeTextFile(join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
}
