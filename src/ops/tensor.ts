/**
 * Tensors as the model code sees them: a shape, a dtype and backend-owned storage. Activations are
 * 2-D `[rows, cols]` row-major unless a comment says otherwise.
 * @module
 */

/** Element types our kernels use. */
export type DType = "f32" | "u32";

/** Typed array for a dtype. */
export type TypedArrayOf<D extends DType> = D extends "f32" ? Float32Array : Uint32Array;

/** A tensor handle; storage lives in the backend that made it. */
export interface Tensor {
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
}

/**
 * Number of elements of a shape.
 * @param shape Dimensions.
 * @returns Their product (1 for a scalar).
 */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A tensor held in CPU memory. */
export class CpuTensor implements Tensor {
  /**
   * @param data Row-major elements.
   * @param shape Dimensions; their product must equal `data.length`.
   * @throws {RangeError} When shape and data length disagree.
   */
  constructor(readonly data: Float32Array | Uint32Array, readonly shape: readonly number[]) {
    if (numel(shape) !== data.length) {
      throw new RangeError(`CpuTensor: shape [${shape}] needs ${numel(shape)} elements, got ${data.length}`);
    }
  }

  /** `"f32"` or `"u32"`, from the array type. */
  get dtype(): DType {
    return this.data instanceof Float32Array ? "f32" : "u32";
  }
}

/** A tensor held in a GPU buffer (pooled for activations, dedicated for weights). */
export class GpuTensor implements Tensor {
  /**
   * @param buffer The storage buffer (at least `numel(shape) * 4` bytes).
   * @param shape Dimensions.
   * @param dtype Element type.
   * @param pooled True when the buffer came from the pool and must be released after use.
   */
  constructor(
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly pooled: boolean,
  ) {}

  /** Bytes the tensor's elements occupy. */
  get byteLength(): number {
    return numel(this.shape) * 4;
  }
}
