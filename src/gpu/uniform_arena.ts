/**
 * Kernel parameters (shapes, strides, scalars) for one submit, packed into a few uniform buffers at
 * aligned offsets and uploaded with one `writeBuffer` per chunk just before the submit. Queue order
 * guarantees a chunk rewritten for the next submit never affects the previous one.
 * @module
 */

/** Bytes per uniform chunk: the WebGPU default `maxUniformBufferBindingSize`. */
const CHUNK_BYTES = 65536;

/** A slice of a uniform chunk, ready to bind. */
export interface UniformSlice {
  /** The chunk buffer. */
  buffer: GPUBuffer;
  /** Byte offset inside the chunk (aligned). */
  offset: number;
  /** Byte size of the parameters. */
  size: number;
}

/** Packs small parameter blocks into shared uniform buffers. */
export class UniformArena {
  #device: GPUDevice;
  #align: number;
  #chunks: { buffer: GPUBuffer; bytes: Uint8Array<ArrayBuffer> }[] = [];
  #current = 0;
  #used = 0;

  /** @param device Device that owns the chunk buffers. */
  constructor(device: GPUDevice) {
    this.#device = device;
    this.#align = device.limits.minUniformBufferOffsetAlignment;
  }

  /**
   * Reserves space for one parameter block and copies it in.
   * @param data The block, already laid out as the WGSL struct (a multiple of 4 bytes).
   * @returns Where it will live on the GPU.
   */
  push(data: Uint8Array): UniformSlice {
    const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
    if (this.#chunks.length === 0 || this.#used + size > CHUNK_BYTES) {
      if (this.#chunks.length > 0) this.#current++;
      this.#used = 0;
      if (this.#current >= this.#chunks.length) {
        this.#chunks.push({
          buffer: this.#device.createBuffer({
            size: CHUNK_BYTES,
            usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
            label: "uniform-arena",
          }),
          bytes: new Uint8Array(CHUNK_BYTES),
        });
      }
    }
    const chunk = this.#chunks[this.#current];
    const offset = this.#used;
    chunk.bytes.fill(0, offset, offset + size);
    chunk.bytes.set(data, offset);
    this.#used = Math.ceil((offset + size) / this.#align) * this.#align;
    return { buffer: chunk.buffer, offset, size };
  }

  /** Uploads what was pushed since the last flush and starts over. Call right before `queue.submit`. */
  flush(queue: GPUQueue): void {
    if (this.#chunks.length === 0) return;
    for (let i = 0; i <= this.#current; i++) {
      const used = i < this.#current ? CHUNK_BYTES : this.#used;
      if (used > 0) {
        queue.writeBuffer(this.#chunks[i].buffer, 0, this.#chunks[i].bytes, 0, Math.min(used, CHUNK_BYTES));
      }
    }
    this.#current = 0;
    this.#used = 0;
  }

  /** Frees the chunk buffers. */
  destroy(): void {
    for (const c of this.#chunks) c.buffer.destroy();
    this.#chunks = [];
  }
}

/** Builds a WGSL parameter struct of 4-byte scalars, in declaration order. */
export class Params {
  #view: DataView;
  #bytes: Uint8Array;
  #n = 0;

  /** @param capacity Maximum number of 4-byte fields. */
  constructor(capacity = 32) {
    this.#bytes = new Uint8Array(capacity * 4);
    this.#view = new DataView(this.#bytes.buffer);
  }

  /** Appends a `u32` field. */
  u32(v: number): this {
    this.#view.setUint32(4 * this.#n++, v >>> 0, true);
    return this;
  }

  /** Appends an `i32` field. */
  i32(v: number): this {
    this.#view.setInt32(4 * this.#n++, v | 0, true);
    return this;
  }

  /** Appends an `f32` field. */
  f32(v: number): this {
    this.#view.setFloat32(4 * this.#n++, v, true);
    return this;
  }

  /** The packed bytes (padded to 16). */
  bytes(): Uint8Array {
    return this.#bytes.subarray(0, Math.max(16, Math.ceil(this.#n / 4) * 16));
  }
}
