/**
 * Reads named tensors from a {@link WeightStore}, converts Hugging Face layouts to ours and uploads
 * them, remembering every upload so the model can free them all. Our layout: every projection weight
 * is `[in, out]` (PyTorch `nn.Linear` stores `[out, in]`; GPT-2's `Conv1D` already stores `[in, out]`).
 * @module
 */
import type { Backend } from "../ops/backend.ts";
import type { Tensor } from "../ops/tensor.ts";
import { ModelFormatError } from "./errors.ts";
import type { Activation } from "../ops/activation.ts";
import { type AttentionParams, DenseFfn, type FeedForward, type LayerNormParams } from "./layers.ts";
import type { WeightStore } from "./weight_store.ts";

/**
 * Transposes a row-major matrix.
 * @param src [rows, cols].
 * @param rows Row count.
 * @param cols Column count.
 * @returns [cols, rows].
 */
export function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
  }
  return out;
}

/** A projection: weight [in, out] and bias [out]. */
export interface Linear {
  /** [in, out]. */
  w: Tensor;
  /** [out]. */
  b: Tensor;
}

/** Something that uploads persistent tensors it will free with its model (WeightLoader, TensorUploader). */
export interface Uploader {
  /** Backend the tensors go to. */
  readonly be: Backend;
  /** Uploads host data as a persistent tensor and remembers it. */
  upload(data: Float32Array, shape: readonly number[], label: string): Tensor;
}

/** Loads tensors by Hugging Face name (trying each prefix) onto a backend. */
export class WeightLoader implements Uploader {
  /** Every tensor uploaded through this loader. */
  readonly uploaded: Tensor[] = [];

  /**
   * @param store Source of the weights.
   * @param be Backend to upload to.
   * @param prefixes Name prefixes to try, in order (e.g. `["bert.", ""]`).
   */
  constructor(readonly store: WeightStore, readonly be: Backend, readonly prefixes: readonly string[]) {}

  /** The stored name for `name` under one of the prefixes. */
  resolve(name: string): string {
    const full = this.store.resolve(name, this.prefixes);
    if (full === null) {
      const tried = this.prefixes.map((p) => `"${p}${name}"`).join(" or ");
      throw new ModelFormatError(
        this.store.source,
        `tensor ${tried} not found (the config and weights disagree)`,
      );
    }
    return full;
  }

  /** True when `name` exists under one of the prefixes. */
  has(name: string): boolean {
    return this.store.resolve(name, this.prefixes) !== null;
  }

  /** Reads a tensor as f32, checking its shape. */
  read(name: string, shape: readonly number[]): Promise<Float32Array> {
    return this.store.readF32(this.resolve(name), shape);
  }

  /** Uploads host data as a persistent tensor and remembers it. */
  upload(data: Float32Array, shape: readonly number[], label: string): Tensor {
    const t = this.be.upload(data, shape, label);
    this.uploaded.push(t);
    return t;
  }

  /** Reads and uploads a tensor as stored. */
  async tensor(name: string, shape: readonly number[]): Promise<Tensor> {
    return this.upload(await this.read(name, shape), shape, name);
  }

  /** An `nn.Linear` (`prefix.weight` [out, in], `prefix.bias` [out]) as [in, out] + bias. */
  async linear(prefix: string, inDim: number, outDim: number): Promise<Linear> {
    const w = transpose(await this.read(`${prefix}.weight`, [outDim, inDim]), outDim, inDim);
    return {
      w: this.upload(w, [inDim, outDim], `${prefix}.weight`),
      b: await this.tensor(`${prefix}.bias`, [outDim]),
    };
  }

  /** A GPT-2 `Conv1D` (`prefix.weight` already [in, out]). */
  async conv1d(prefix: string, inDim: number, outDim: number): Promise<Linear> {
    return {
      w: await this.tensor(`${prefix}.weight`, [inDim, outDim]),
      b: await this.tensor(`${prefix}.bias`, [outDim]),
    };
  }

  /** Separate Q, K, V `nn.Linear`s fused into one [C, 3C] projection (zero bias when `hasBias` is false). */
  async fusedQkv(prefixes: [string, string, string], c: number, hasBias = true): Promise<Linear> {
    // Read (and so shape-check) the three weights before allocating the fused one: a config claiming a
    // huge width must fail on the file's real shapes, not allocate 3·C² floats first.
    const parts: Float32Array[] = [];
    for (const p of prefixes) parts.push(await this.read(`${p}.weight`, [c, c])); // [out, in]
    const w = new Float32Array(c * 3 * c);
    const b = new Float32Array(3 * c);
    for (const [j, p] of prefixes.entries()) {
      const wt = parts[j];
      for (let o = 0; o < c; o++) {
        for (let i = 0; i < c; i++) w[i * 3 * c + j * c + o] = wt[o * c + i];
      }
      if (hasBias) b.set(await this.read(`${p}.bias`, [c]), j * c);
    }
    return {
      w: this.upload(w, [c, 3 * c], `${prefixes[0]}+kv.weight`),
      b: this.upload(b, [3 * c], "qkv.bias"),
    };
  }

  /** A LayerNorm (`prefix.weight`, `prefix.bias`). */
  async layerNorm(prefix: string, c: number, eps: number): Promise<LayerNormParams> {
    return {
      gamma: await this.tensor(`${prefix}.weight`, [c]),
      beta: await this.tensor(`${prefix}.bias`, [c]),
      eps,
    };
  }

  /** Attention params from a fused projection and an output projection. */
  attention(qkv: Linear, out: Linear, heads: number): AttentionParams {
    return { wqkv: qkv.w, bqkv: qkv.b, wo: out.w, bo: out.b, heads };
  }

  /** Frees everything uploaded. */
  freeAll(): void {
    for (const t of this.uploaded) this.be.free(t);
    this.uploaded.length = 0;
  }
}

/**
 * Loads a dense FFN stored as two `nn.Linear`s (`{p}.intermediate.dense`, `{p}.output.dense`: BERT, ViT).
 * @param ld Loader.
 * @param p Layer prefix, e.g. `encoder.layer.3`.
 * @param c Model width.
 * @param i FFN width.
 * @param act Hidden activation.
 * @returns The FFN.
 */
export async function denseLinearFfn(
  ld: WeightLoader,
  p: string,
  c: number,
  i: number,
  act: Activation,
): Promise<FeedForward> {
  const up = await ld.linear(`${p}.intermediate.dense`, c, i);
  const down = await ld.linear(`${p}.output.dense`, i, c);
  return new DenseFfn(up.w, up.b, down.w, down.b, act);
}
