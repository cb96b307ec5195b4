/**
 * An ONNX graph builder (ModelProto / GraphProto / NodeProto / TensorProto, opset 17, IR version 8)
 * over {@link ProtoWriter}: initializers as little-endian raw data, nodes with int, float, ints and
 * string attributes, typed inputs and outputs with fixed or symbolic dimensions.
 * @module
 */
import { ProtoWriter } from "./proto.ts";

/** ONNX element types used here. */
export const ONNX_TYPE = { float: 1, int32: 6, int64: 7 } as const;

/** An element type name. */
export type OnnxElem = keyof typeof ONNX_TYPE;

/** An attribute value: int, float, list of ints, or string. */
export type OnnxAttr = { i: number } | { f: number } | { ints: number[] } | { s: string };

interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, OnnxAttr>;
  domain: string;
}

interface InitSpec {
  name: string;
  dims: number[];
  elem: OnnxElem;
  data: Float32Array | BigInt64Array | Int32Array;
}

interface ValueSpec {
  name: string;
  elem: OnnxElem;
  dims: (number | string)[];
}

function valueInfo(v: ValueSpec): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.dims) {
    const dim = new ProtoWriter();
    if (typeof d === "number") dim.varint(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensor = new ProtoWriter().varint(1, ONNX_TYPE[v.elem]).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensor));
}

function attribute(name: string, a: OnnxAttr): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if ("i" in a) w.varint(3, a.i).varint(20, 2);
  else if ("f" in a) w.float(2, a.f).varint(20, 1);
  else if ("ints" in a) {
    for (const v of a.ints) w.varint(8, v);
    w.varint(20, 7);
  } else w.bytes(4, new TextEncoder().encode(a.s)).varint(20, 3);
  return w;
}

/**
 * Builds one ONNX model.
 *
 * @example
 * ```ts
 * const g = new OnnxGraph("relu");
 * g.input("x", "float", ["n", 4]);
 * g.output(g.node("Relu", ["x"]), "float", ["n", 4], "y");
 * const bytes = g.encode(); // a valid .onnx file
 * console.log(bytes.length > 0); // true
 * ```
 */
export class OnnxGraph {
  #nodes: NodeSpec[] = [];
  #inits: InitSpec[] = [];
  #inputs: ValueSpec[] = [];
  #outputs: ValueSpec[] = [];
  #names = new Set<string>();
  #next = 0;

  /**
   * Starts an empty graph.
   * @param name Graph name.
   */
  constructor(readonly name: string) {}

  #fresh(hint: string): string {
    let n: string;
    do n = `${hint}_${this.#next++}`; while (this.#names.has(n));
    this.#names.add(n);
    return n;
  }

  /**
   * Declares a graph input.
   * @param name Input name.
   * @param elem Element type.
   * @param dims Dimensions (numbers or symbolic names).
   * @returns The name.
   */
  input(name: string, elem: OnnxElem, dims: (number | string)[]): string {
    this.#names.add(name);
    this.#inputs.push({ name, elem, dims });
    return name;
  }

  /**
   * Declares a graph output, renaming the value with an Identity node when a name is given.
   * @param value Value to output.
   * @param elem Element type.
   * @param dims Dimensions.
   * @param name Output name (default: the value's own).
   */
  output(value: string, elem: OnnxElem, dims: (number | string)[], name = value): void {
    if (name !== value) {
      this.#names.add(name);
      this.#nodes.push({ op: "Identity", inputs: [value], outputs: [name], attrs: {}, domain: "" });
    }
    this.#outputs.push({ name, elem, dims });
  }

  /**
   * Adds a constant tensor.
   * @param hint Name prefix.
   * @param data Values, row-major.
   * @param dims Dimensions.
   * @returns Its name.
   * @throws {RangeError} When data and dims disagree.
   */
  init(hint: string, data: Float32Array | BigInt64Array | Int32Array, dims: number[]): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== data.length) {
      throw new RangeError(`initializer ${hint}: dims [${dims}] need ${n} values, got ${data.length}`);
    }
    const name = this.#fresh(hint);
    const elem: OnnxElem = data instanceof Float32Array
      ? "float"
      : data instanceof Int32Array
      ? "int32"
      : "int64";
    this.#inits.push({ name, dims, elem, data });
    return name;
  }

  /**
   * A scalar float constant.
   * @param v Value.
   * @returns Its name.
   */
  scalar(v: number): string {
    return this.init("c", Float32Array.of(v), []);
  }

  /**
   * A 1-D int64 constant (shapes, axes).
   * @param v Values.
   * @returns Its name.
   */
  ints(v: number[]): string {
    return this.init("i", BigInt64Array.from(v, (x) => BigInt(x)), [v.length]);
  }

  /**
   * Adds a node with one output.
   * @param op Operator type, e.g. `MatMul`.
   * @param inputs Input value names.
   * @param attrs Attributes.
   * @param domain Operator domain ("" for the default ONNX domain).
   * @returns The output's name.
   */
  node(op: string, inputs: string[], attrs: Record<string, OnnxAttr> = {}, domain = ""): string {
    const out = this.#fresh(op.toLowerCase());
    this.#nodes.push({ op, inputs, outputs: [out], attrs, domain });
    return out;
  }

  /**
   * Encodes the model.
   * @param opset Default-domain opset (17: LayerNormalization is there).
   * @returns The `.onnx` bytes.
   */
  encode(opset = 17): Uint8Array {
    const g = new ProtoWriter();
    for (const [i, n] of this.#nodes.entries()) {
      const w = new ProtoWriter();
      for (const x of n.inputs) w.string(1, x);
      for (const x of n.outputs) w.string(2, x);
      w.string(3, `${n.op}_${i}`).string(4, n.op);
      for (const [k, a] of Object.entries(n.attrs)) w.message(5, attribute(k, a));
      if (n.domain) w.string(7, n.domain);
      g.message(1, w);
    }
    g.string(2, this.name);
    for (const t of this.#inits) {
      const w = new ProtoWriter();
      for (const d of t.dims) w.varint(1, d);
      w.varint(2, ONNX_TYPE[t.elem]).string(8, t.name);
      w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      g.message(5, w);
    }
    for (const v of this.#inputs) g.message(11, valueInfo(v));
    for (const v of this.#outputs) g.message(12, valueInfo(v));
    const model = new ProtoWriter()
      .varint(1, 8)
      .string(2, "d2dmoe-bench")
      .message(7, g)
      .message(8, new ProtoWriter().string(1, "").varint(2, opset));
    return model.finish();
  }
}

/**
 * The hidden activation as ONNX nodes.
 * @param g Graph.
 * @param x Input value.
 * @param act `relu`, `gelu` (erf form), `gelu_tanh`, `tanh` or `none`.
 * @returns The output value.
 * @throws {RangeError} For an unknown activation.
 */
export function activationNodes(g: OnnxGraph, x: string, act: string): string {
  switch (act) {
    case "none":
      return x;
    case "relu":
      return g.node("Relu", [x]);
    case "tanh":
      return g.node("Tanh", [x]);
    case "gelu": { // 0.5·x·(1 + erf(x/√2)); onnxruntime fuses this pattern into Gelu
      const e = g.node("Erf", [g.node("Div", [x, g.scalar(Math.SQRT2)])]);
      return g.node("Mul", [g.node("Mul", [x, g.node("Add", [e, g.scalar(1)])]), g.scalar(0.5)]);
    }
    case "gelu_tanh": { // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
      const x3 = g.node("Mul", [g.node("Mul", [x, x]), x]);
      const inner = g.node("Add", [x, g.node("Mul", [x3, g.scalar(0.044715)])]);
      const t = g.node("Tanh", [g.node("Mul", [inner, g.scalar(Math.sqrt(2 / Math.PI))])]);
      return g.node("Mul", [g.node("Mul", [x, g.node("Add", [t, g.scalar(1)])]), g.scalar(0.5)]);
    }
    default:
      throw new RangeError(`no ONNX form for activation "${act}"`);
  }
}
