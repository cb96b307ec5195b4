/**
 * The dense FFN layer as an ONNX model: y = x + act(x·W1 + b1)·W2 + b2 (the same function as our
 * `DenseFfn` with the input as residual), for the onnxruntime-web peers.
 * @module
 */
import type { DenseFfnWeights } from "../../src/moe/expert_split.ts";
import { activationNodes, OnnxGraph } from "./graph.ts";

/**
 * Encodes a dense FFN.
 * @param f Weights in our layout (W1 [d, dff], W2 [dff, d]).
 * @param act Hidden activation (`relu`, `gelu`, `gelu_tanh`).
 * @returns `.onnx` bytes with input `x` [tokens, d] and output `y` [tokens, d].
 */
export function ffnOnnx(f: DenseFfnWeights, act: string): Uint8Array {
  const g = new OnnxGraph("ffn");
  const x = g.input("x", "float", ["tokens", f.d]);
  const h = g.node("Add", [
    g.node("MatMul", [x, g.init("w1", f.w1, [f.d, f.dff])]),
    g.init("b1", f.b1, [f.dff]),
  ]);
  const a = activationNodes(g, h, act);
  const y = g.node("Add", [
    g.node("MatMul", [a, g.init("w2", f.w2, [f.dff, f.d])]),
    g.init("b2", f.b2, [f.d]),
  ]);
  g.output(g.node("Add", [y, x]), "float", ["tokens", f.d], "y");
  return g.encode();
}
