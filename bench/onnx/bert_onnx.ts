/**
 * BertModel's encoder (no pooler) as an ONNX model, from the same host tensors our random BERT folder
 * is written from: inputs `input_ids`, `attention_mask`, `token_type_ids` (int64 [batch, seq]), output
 * `last_hidden_state` [batch, seq, hidden]. The sequence length is fixed at export (position ids are a
 * constant); the batch is symbolic.
 * @module
 */
import { transpose } from "../../src/model/weight_loader.ts";
import type { HostTensors } from "../random_models.ts";
import type { NetShape } from "../shapes.ts";
import { activationNodes, OnnxGraph } from "./graph.ts";

const HF_ACT: Record<string, string> = { gelu: "gelu", relu: "relu", gelu_new: "gelu_tanh", tanh: "tanh" };

/**
 * Encodes BERT.
 * @param s Sizes (hidden, layers, heads, ffn, act).
 * @param t Host tensors (BertModel names, no prefix).
 * @param seq Sequence length.
 * @param eps LayerNorm epsilon.
 * @returns `.onnx` bytes.
 */
export function bertOnnx(s: NetShape, t: HostTensors, seq: number, eps = 1e-12): Uint8Array {
  const g = new OnnxGraph("bert");
  const C = s.hidden, H = s.heads, Dh = C / H;
  const get = (n: string) => {
    const x = t.get(n);
    if (!x) throw new RangeError(`bertOnnx: no tensor ${n}`);
    return x;
  };
  const vec = (n: string) => g.init(n, get(n).data, get(n).shape);
  // nn.Linear [out, in] → MatMul [in, out]
  const lin = (x: string, p: string) => {
    const w = get(`${p}.weight`);
    const [o, i] = w.shape;
    return g.node("Add", [
      g.node("MatMul", [x, g.init(p, transpose(w.data, o, i), [i, o])]),
      vec(`${p}.bias`),
    ]);
  };
  const ln = (x: string, p: string) =>
    g.node("LayerNormalization", [x, vec(`${p}.weight`), vec(`${p}.bias`)], {
      axis: { i: -1 },
      epsilon: { f: eps },
    });

  const ids = g.input("input_ids", "int64", ["batch", seq]);
  const mask = g.input("attention_mask", "int64", ["batch", seq]);
  const types = g.input("token_type_ids", "int64", ["batch", seq]);
  const pos = g.init("position_ids", BigInt64Array.from({ length: seq }, (_, i) => BigInt(i)), [1, seq]);
  const e = "embeddings";
  let emb = g.node("Gather", [vec(`${e}.word_embeddings.weight`), ids]);
  emb = g.node("Add", [emb, g.node("Gather", [vec(`${e}.position_embeddings.weight`), pos])]);
  emb = g.node("Add", [emb, g.node("Gather", [vec(`${e}.token_type_embeddings.weight`), types])]);
  let x = ln(emb, `${e}.LayerNorm`);
  // additive key mask [batch, 1, 1, seq]: 0 for real tokens, -10000 for padding
  const m = g.node("Cast", [mask], { to: { i: 1 } });
  const bias = g.node("Mul", [g.node("Sub", [g.scalar(1), m]), g.scalar(-10000)]);
  const keyBias = g.node("Unsqueeze", [bias, g.ints([1, 2])]);
  const heads = g.ints([0, 0, H, Dh]), merged = g.ints([0, 0, C]);
  const split = (v: string, perm: number[]) =>
    g.node("Transpose", [g.node("Reshape", [v, heads])], { perm: { ints: perm } });
  for (let i = 0; i < s.layers; i++) {
    const p = `encoder.layer.${i}`;
    const q = split(lin(x, `${p}.attention.self.query`), [0, 2, 1, 3]); // [B, H, S, Dh]
    const k = split(lin(x, `${p}.attention.self.key`), [0, 2, 3, 1]); // [B, H, Dh, S]
    const v = split(lin(x, `${p}.attention.self.value`), [0, 2, 1, 3]);
    const scores = g.node("Add", [
      g.node("Mul", [g.node("MatMul", [q, k]), g.scalar(1 / Math.sqrt(Dh))]),
      keyBias,
    ]);
    const probs = g.node("Softmax", [scores], { axis: { i: -1 } });
    const ctx = g.node("Reshape", [
      g.node("Transpose", [g.node("MatMul", [probs, v])], { perm: { ints: [0, 2, 1, 3] } }),
      merged,
    ]);
    const a = ln(
      g.node("Add", [lin(ctx, `${p}.attention.output.dense`), x]),
      `${p}.attention.output.LayerNorm`,
    );
    const h = activationNodes(g, lin(a, `${p}.intermediate.dense`), HF_ACT[s.act] ?? s.act);
    x = ln(g.node("Add", [lin(h, `${p}.output.dense`), a]), `${p}.output.LayerNorm`);
  }
  g.output(x, "float", ["batch", seq, C], "last_hidden_state");
  return g.encode();
}
