/**
 * A minimal protobuf writer (varint, fixed32 and length-delimited fields), enough to encode ONNX
 * models. Nested messages keep references to their parts, so large tensors are copied once, at the end.
 * @module
 */

/** Wire types. */
const VARINT = 0, FIXED32 = 5, LEN = 2;

function varintBytes(v: number | bigint): Uint8Array {
  let x = typeof v === "bigint" ? BigInt.asUintN(64, v) : v < 0 ? BigInt.asUintN(64, BigInt(v)) : v;
  const out: number[] = [];
  if (typeof x === "number") {
    if (!Number.isSafeInteger(x)) throw new RangeError(`varint ${x} is not a safe integer`);
    while (x >= 0x80) {
      out.push((x % 0x80) | 0x80);
      x = Math.floor(x / 0x80);
    }
    out.push(x);
  } else {
    while (x >= 0x80n) {
      out.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    out.push(Number(x));
  }
  return Uint8Array.from(out);
}

const utf8 = new TextEncoder();

/**
 * Builds one protobuf message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const w = new ProtoWriter().varint(1, 150);
 * assert.deepEqual([...w.finish()], [0x08, 0x96, 0x01]);
 * ```
 */
export class ProtoWriter {
  #parts: Uint8Array[] = [];
  #length = 0;

  /** Encoded length so far, in bytes. */
  get length(): number {
    return this.#length;
  }

  #push(b: Uint8Array): void {
    this.#parts.push(b);
    this.#length += b.length;
  }

  #tag(field: number, wire: number): void {
    this.#push(varintBytes(field * 8 + wire));
  }

  /**
   * An integer field (int32, int64, enum; negatives as 64-bit two's complement).
   * @param field Field number.
   * @param v Value.
   * @returns This writer.
   */
  varint(field: number, v: number | bigint): this {
    this.#tag(field, VARINT);
    this.#push(varintBytes(v));
    return this;
  }

  /**
   * A float field (fixed32, little-endian).
   * @param field Field number.
   * @param v Value.
   * @returns This writer.
   */
  float(field: number, v: number): this {
    this.#tag(field, FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.#push(b);
    return this;
  }

  /**
   * A bytes field.
   * @param field Field number.
   * @param b Bytes (kept by reference until {@link finish}).
   * @returns This writer.
   */
  bytes(field: number, b: Uint8Array): this {
    this.#tag(field, LEN);
    this.#push(varintBytes(b.length));
    this.#push(b);
    return this;
  }

  /**
   * A string field (UTF-8).
   * @param field Field number.
   * @param s Value.
   * @returns This writer.
   */
  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }

  /**
   * An embedded message field.
   * @param field Field number.
   * @param m The message (its parts are taken by reference).
   * @returns This writer.
   */
  message(field: number, m: ProtoWriter): this {
    this.#tag(field, LEN);
    this.#push(varintBytes(m.#length));
    for (const p of m.#parts) this.#push(p);
    return this;
  }

  /**
   * The encoded message.
   * @returns One buffer holding every part.
   */
  finish(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let at = 0;
    for (const p of this.#parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}
