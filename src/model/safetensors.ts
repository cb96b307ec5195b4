/**
 * Reading and writing the safetensors format (https://github.com/huggingface/safetensors):
 * an 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON header, then the data region.
 *
 * Reading is defensive: the header is validated completely before any tensor is read, every size is
 * checked against the real file size before anything is allocated, and a truncated file ends in a
 * {@link ModelFormatError} rather than a hang. Tensor bytes are read on demand.
 *
 * The host is assumed little-endian (as are WebGPU and every platform Deno ships for), so tensor bytes
 * are reinterpreted with typed arrays without swapping.
 * @module
 */

import { ModelFormatError } from "./errors.ts";

/** Every dtype the safetensors spec defines with a whole number of bytes per element. */
export type Dtype =
  | "BOOL"
  | "U8"
  | "I8"
  | "F8_E5M2"
  | "F8_E4M3"
  | "I16"
  | "U16"
  | "F16"
  | "BF16"
  | "I32"
  | "U32"
  | "F32"
  | "F64"
  | "I64"
  | "U64";

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<Dtype, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** Dtypes {@link SafetensorsFile.readF32} converts; integers and BOOL convert to the nearest f32. */
export const F32_READABLE_DTYPES: readonly Dtype[] = [
  "F32",
  "F16",
  "BF16",
  "F64",
  "BOOL",
  "U8",
  "I8",
  "I16",
  "U16",
  "I32",
  "U32",
  "I64",
  "U64",
];

/** The largest header we accept; real headers are kilobytes, so anything larger is corrupt. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** What the header says about one tensor. */
export interface TensorInfo {
  /** Tensor name as stored. */
  name: string;
  /** Element type. */
  dtype: Dtype;
  /** Dimensions, outermost first; `[]` for a scalar. */
  shape: number[];
  /** Bytes the tensor occupies (product of shape × dtype size). */
  byteLength: number;
}

/** A validated header entry: {@link TensorInfo} plus where its bytes sit in the data region. */
interface Entry extends TensorInfo {
  begin: number;
  end: number;
}

/** The validated header of a file. */
interface Header {
  entries: Map<string, Entry>;
  metadata: Record<string, string>;
}

/** Where a {@link SafetensorsFile} gets its bytes from: an open file or a buffer in memory. */
interface ByteSource {
  /** Reads exactly `length` bytes at absolute `offset`, or throws ModelFormatError if the source ends. */
  read(offset: number, length: number, what: string): Promise<Uint8Array>;
  close(): void;
}

/**
 * A safetensors file whose header has been read and validated; tensor data is read on demand.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const bytes = encodeSafetensors({ w: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
 * using f = SafetensorsFile.fromBytes(bytes);
 * assert.deepEqual(Array.from(await f.readF32("w", [2])), [1, 2]);
 * ```
 */
export class SafetensorsFile {
  /** Path of the file (or the name given to {@link SafetensorsFile.fromBytes}); used in every error. */
  readonly path: string;
  /** The header's `__metadata__` map (`{}` when absent). */
  readonly metadata: Record<string, string>;
  readonly #entries: Map<string, Entry>;
  readonly #source: ByteSource;
  readonly #dataStart: number;
  #closed = false;

  private constructor(path: string, header: Header, dataStart: number, source: ByteSource) {
    this.path = path;
    this.metadata = header.metadata;
    this.#entries = header.entries;
    this.#dataStart = dataStart;
    this.#source = source;
  }

  /**
   * Opens a file, reading and validating only its length prefix and header; keeps the handle open.
   * @param path Path of the `.safetensors` file.
   * @returns The opened file; close it (or `using` it) when done.
   * @throws {ModelFormatError} If the file is missing, unreadable, or its header is invalid.
   */
  static async open(path: string): Promise<SafetensorsFile> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (e) {
      throw new ModelFormatError(path, `cannot open safetensors file: ${errorText(e)}`);
    }
    try {
      const source = new FileSource(path, file);
      const stat = await file.stat();
      if (!stat.isFile) throw new ModelFormatError(path, "is not a regular file");
      const size = stat.size;
      const headerLength = checkHeaderLength(
        await source.read(0, Math.min(8, size), "the length prefix"),
        size,
        path,
      );
      const headerBytes = await source.read(8, headerLength, "the header");
      const header = parseHeader(headerBytes, size - 8 - headerLength, path);
      return new SafetensorsFile(path, header, 8 + headerLength, source);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /**
   * Parses a whole safetensors file held in memory (the bytes are used as is, not copied).
   * @param bytes The complete file contents.
   * @param name Name used in error messages.
   * @returns The parsed file.
   * @throws {ModelFormatError} If the header is invalid.
   */
  static fromBytes(bytes: Uint8Array, name = "<memory>"): SafetensorsFile {
    const headerLength = checkHeaderLength(bytes.subarray(0, 8), bytes.length, name);
    const header = parseHeader(bytes.subarray(8, 8 + headerLength), bytes.length - 8 - headerLength, name);
    return new SafetensorsFile(name, header, 8 + headerLength, new MemorySource(name, bytes));
  }

  /**
   * Lists the tensor names in header order.
   * @returns The names (excluding `__metadata__`).
   */
  names(): string[] {
    return [...this.#entries.keys()];
  }

  /**
   * Tells whether a tensor is present.
   * @param name Tensor name.
   * @returns `true` if the header lists it.
   */
  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /**
   * Describes one tensor.
   * @param name Tensor name.
   * @returns Its dtype, shape and byte length (a fresh copy).
   * @throws {ModelFormatError} If the tensor is not present.
   */
  info(name: string): TensorInfo {
    const e = this.#entry(name);
    return { name: e.name, dtype: e.dtype, shape: [...e.shape], byteLength: e.byteLength };
  }

  /**
   * Reads a tensor's bytes exactly as stored.
   * @param name Tensor name.
   * @returns A fresh, 8-byte-aligned copy of the bytes.
   * @throws {ModelFormatError} If the tensor is not present or the file ends before its data.
   * @throws {Error} If the file was closed.
   */
  async readRaw(name: string): Promise<Uint8Array> {
    const e = this.#entry(name);
    if (this.#closed) throw new Error(`${this.path}: file is closed`);
    return await this.#source.read(this.#dataStart + e.begin, e.byteLength, `tensor "${name}"`);
  }

  /**
   * Reads a tensor as f32, converting F16/BF16/F64 and integer/BOOL dtypes (integers beyond 2^24
   * round to the nearest f32). F8 dtypes are rejected.
   * @param name Tensor name.
   * @param expectedShape If given, the shape the tensor must have.
   * @returns The values, row-major.
   * @throws {ModelFormatError} If the tensor is missing, has another shape, has an F8 dtype, or the
   *   file ends before its data.
   */
  async readF32(name: string, expectedShape?: readonly number[]): Promise<Float32Array> {
    const e = this.#entry(name);
    if (expectedShape && !sameShape(e.shape, expectedShape)) {
      throw new ModelFormatError(
        this.path,
        `tensor "${name}" has shape ${shapeText(e.shape)}, expected ${shapeText(expectedShape)}`,
      );
    }
    if (!F32_READABLE_DTYPES.includes(e.dtype)) {
      throw new ModelFormatError(
        this.path,
        `tensor "${name}" has dtype ${e.dtype}, which cannot be read as f32 (readable: ${
          F32_READABLE_DTYPES.join(", ")
        })`,
      );
    }
    return toF32(e.dtype, await this.readRaw(name));
  }

  /** Closes the underlying file handle; safe to call more than once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#source.close();
  }

  /** Same as {@link SafetensorsFile.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #entry(name: string): Entry {
    const e = this.#entries.get(name);
    if (!e) throw new ModelFormatError(this.path, `tensor "${name}" not found`);
    return e;
  }
}

/** Reads from an open file; reads are serialised because seek+read on one handle is not atomic. */
class FileSource implements ByteSource {
  #queue: Promise<unknown> = Promise.resolve();

  constructor(readonly path: string, readonly file: Deno.FsFile) {}

  read(offset: number, length: number, what: string): Promise<Uint8Array> {
    const run = this.#queue.then(() => this.#readNow(offset, length, what));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #readNow(offset: number, length: number, what: string): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.file.seek(offset, Deno.SeekMode.Start);
    let filled = 0;
    while (filled < length) {
      const n = await this.file.read(out.subarray(filled));
      // null means end of file: the file is shorter than its header promised (or shrank since open).
      if (n === null) {
        throw new ModelFormatError(
          this.path,
          `file ended after ${offset + filled} bytes while reading ${what}`,
        );
      }
      filled += n;
    }
    return out;
  }

  close(): void {
    this.file.close();
  }
}

/** Serves reads from a buffer; copies so callers get aligned, independent bytes. */
class MemorySource implements ByteSource {
  constructor(readonly path: string, readonly bytes: Uint8Array) {}

  read(offset: number, length: number, what: string): Promise<Uint8Array> {
    if (offset + length > this.bytes.length) {
      return Promise.reject(
        new ModelFormatError(this.path, `file ended after ${this.bytes.length} bytes while reading ${what}`),
      );
    }
    return Promise.resolve(this.bytes.slice(offset, offset + length));
  }

  close(): void {}
}

/**
 * Decodes and checks the 8-byte header length against the real file size, before anything is allocated.
 * @returns The header length N.
 */
function checkHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || prefix.length < 8) {
    throw new ModelFormatError(
      file,
      `file is ${fileSize} bytes, too short for a safetensors header (needs at least 8)`,
    );
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n === 0n) throw new ModelFormatError(file, "header length is 0");
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new ModelFormatError(file, `header length ${n} is larger than the ${MAX_HEADER_BYTES}-byte limit`);
  }
  if (n > BigInt(fileSize - 8)) {
    throw new ModelFormatError(
      file,
      `header length ${n} runs past the end of the file (${fileSize} bytes); the file may be truncated`,
    );
  }
  return Number(n);
}

/** Parses and validates the JSON header, given the size of the data region that follows it. */
function parseHeader(bytes: Uint8Array, dataLength: number, file: string): Header {
  const json = decodeHeaderJson(bytes, file);
  const entries = new Map<string, Entry>();
  let metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(json)) {
    if (key === "__metadata__") metadata = parseMetadata(value, file);
    else entries.set(key, parseEntry(key, value, dataLength, file));
  }
  checkNoOverlap([...entries.values()], file);
  return { entries, metadata };
}

/** Strict UTF-8 decode and JSON parse; the result must be a plain object. */
function decodeHeaderJson(bytes: Uint8Array, file: string): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ModelFormatError(file, "header is not valid UTF-8");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(file, `header is not valid JSON (${errorText(e)})`);
  }
  if (!isPlainObject(json)) throw new ModelFormatError(file, "header JSON is not an object");
  return json;
}

/** `__metadata__` must be a map of strings to strings (null counts as absent, as in the reference). */
function parseMetadata(value: unknown, file: string): Record<string, string> {
  if (value === null) return {};
  if (!isPlainObject(value)) throw new ModelFormatError(file, "__metadata__ is not an object of strings");
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") {
      throw new ModelFormatError(file, `__metadata__ value for "${k}" is ${typeName(v)}, expected a string`);
    }
  }
  // fromEntries defines own properties, so a "__proto__" key stays data instead of changing the prototype.
  return Object.fromEntries(Object.entries(value)) as Record<string, string>;
}

/** Validates one tensor entry: dtype, shape, offsets, bounds and size consistency. */
function parseEntry(name: string, value: unknown, dataLength: number, file: string): Entry {
  const fail = (problem: string) => new ModelFormatError(file, `tensor "${name}": ${problem}`);
  if (!isPlainObject(value)) throw fail(`entry is ${typeName(value)}, expected an object`);
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== "string" || !Object.hasOwn(DTYPE_SIZE, dtype)) {
    throw fail(`unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_SIZE).join(", ")})`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInt)) {
    throw fail(`shape ${JSON.stringify(shape)} is not an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInt)) {
    throw fail(`data_offsets ${JSON.stringify(offsets)} is not two non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw fail(`data_offsets [${begin}, ${end}] has begin after end`);
  if (end > dataLength) {
    throw fail(`data_offsets end ${end} is past the end of the data region (${dataLength} bytes)`);
  }
  const size = DTYPE_SIZE[dtype as Dtype];
  const expected = byteLengthOf(shape as number[], size);
  if (expected !== end - begin) {
    throw fail(
      `occupies ${end - begin} bytes but shape ${shapeText(shape as number[])} of ${dtype} needs ${
        expected ?? "more than 2^53"
      }`,
    );
  }
  return { name, dtype: dtype as Dtype, shape: [...shape] as number[], byteLength: end - begin, begin, end };
}

/** Rejects tensors whose byte ranges overlap; empty tensors overlap nothing. */
function checkNoOverlap(entries: Entry[], file: string): void {
  const ranges = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < ranges.length; i++) {
    const prev = ranges[i - 1], cur = ranges[i];
    if (cur.begin < prev.end) {
      throw new ModelFormatError(
        file,
        `tensors "${prev.name}" [${prev.begin}, ${prev.end}) and "${cur.name}" [${cur.begin}, ${cur.end}) overlap`,
      );
    }
  }
}

/** product(shape) × elementSize, or null if it exceeds 2^53 (so it cannot match any real size). */
function byteLengthOf(shape: readonly number[], elementSize: number): number | null {
  let n = elementSize;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return null;
  }
  return n;
}

/** Converts stored bytes of a readable dtype to f32. `raw` is a fresh aligned copy. */
function toF32(dtype: Dtype, raw: Uint8Array): Float32Array {
  const buf = raw.buffer as ArrayBuffer, off = raw.byteOffset, len = raw.byteLength;
  switch (dtype) {
    case "F32":
      return new Float32Array(buf, off, len / 4);
    case "F16":
      return f16ToF32(new Uint16Array(buf, off, len / 2));
    case "BF16":
      return bf16ToF32(new Uint16Array(buf, off, len / 2));
    case "F64":
      return Float32Array.from(new Float64Array(buf, off, len / 8));
    case "BOOL":
    case "U8":
      return Float32Array.from(raw);
    case "I8":
      return Float32Array.from(new Int8Array(buf, off, len));
    case "I16":
      return Float32Array.from(new Int16Array(buf, off, len / 2));
    case "U16":
      return Float32Array.from(new Uint16Array(buf, off, len / 2));
    case "I32":
      return Float32Array.from(new Int32Array(buf, off, len / 4));
    case "U32":
      return Float32Array.from(new Uint32Array(buf, off, len / 4));
    case "I64":
      return Float32Array.from(new BigInt64Array(buf, off, len / 8), Number);
    case "U64":
      return Float32Array.from(new BigUint64Array(buf, off, len / 8), Number);
    default:
      throw new Error(`unreachable: ${dtype} is not f32-readable`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Half-precision conversions
// ---------------------------------------------------------------------------------------------------

let f16Table: Uint32Array | null = null;

/** f32 bit pattern of one f16 bit pattern (exact: every f16 value, subnormals included, fits in f32). */
function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf / NaN, payload kept
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0; // ±0
  // Subnormal f16 is a normal f32: shift the leading 1 into the implicit position.
  let e = 113;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/**
 * Converts IEEE half-precision bit patterns to f32, exactly (subnormals, ±0, ±inf and NaN payloads kept).
 * @param u16 f16 bit patterns.
 * @returns The same values as f32.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(Array.from(f16ToF32(new Uint16Array([0x3c00, 0xc000, 0x0001]))), [1, -2, 2 ** -24]);
 * ```
 */
export function f16ToF32(u16: Uint16Array): Float32Array {
  // A 256 KiB table built once makes converting large weight tensors a single lookup per element.
  if (!f16Table) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  const out = new Uint32Array(u16.length);
  for (let i = 0; i < u16.length; i++) out[i] = f16Table[u16[i]];
  return new Float32Array(out.buffer);
}

/**
 * Converts bfloat16 bit patterns to f32 (exact: bf16 is the top half of an f32).
 * @param u16 bf16 bit patterns.
 * @returns The same values as f32.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(Array.from(bf16ToF32(new Uint16Array([0x3f80, 0xc040]))), [1, -3]);
 * ```
 */
export function bf16ToF32(u16: Uint16Array): Float32Array {
  const out = new Uint32Array(u16.length);
  for (let i = 0; i < u16.length; i++) out[i] = u16[i] << 16;
  return new Float32Array(out.buffer);
}

/** f16 bit pattern nearest to one f32 bit pattern, ties to even (after numpy's npy_floatbits_to_halfbits). */
function f32BitsToF16Bits(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const fexp = f & 0x7f800000;
  let fsig = f & 0x007fffff;
  if (fexp >= 0x47800000) {
    // Too large for f16, or inf/NaN. NaN keeps its top payload bits and stays NaN.
    if (fexp === 0x7f800000 && fsig !== 0) {
      const payload = fsig >>> 13;
      return sign | 0x7c00 | (payload === 0 ? 0x200 : payload);
    }
    return sign | 0x7c00;
  }
  if (fexp <= 0x38000000) {
    // Result is an f16 subnormal or zero; below 2^-25 everything rounds to zero.
    if (fexp < 0x33000000) return sign;
    const e = fexp >>> 23;
    let sig = 0x00800000 + fsig;
    const lostLowBits = f & 0x7ff; // bits the extra subnormal shift discards, needed for the tie test
    sig >>>= 113 - e;
    if ((sig & 0x3fff) !== 0x1000 || lostLowBits !== 0) sig += 0x1000;
    return sign | (sig >>> 13); // a carry into the exponent correctly gives the smallest normal
  }
  const hexp = (fexp - 0x38000000) >>> 13;
  if ((fsig & 0x3fff) !== 0x1000) fsig += 0x1000;
  return sign | (hexp + (fsig >>> 13)); // a carry may reach exponent 31, giving inf: correct overflow
}

/**
 * Converts f32 values to IEEE half-precision bit patterns, rounding to nearest, ties to even. Values too
 * large become ±inf, tiny ones f16 subnormals or ±0; NaN stays NaN.
 * @param f32 Values to convert.
 * @returns f16 bit patterns.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(Array.from(f32ToF16(new Float32Array([1, -2, 65520, 2 ** -24]))), [0x3c00, 0xc000, 0x7c00, 1]);
 * ```
 */
export function f32ToF16(f32: Float32Array): Uint16Array {
  const bits = new Uint32Array(f32.buffer, f32.byteOffset, f32.length);
  const out = new Uint16Array(f32.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToF16Bits(bits[i]);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------------

/** One tensor to write: its dtype, shape and row-major data (any typed array or DataView). */
export interface TensorToWrite {
  /** Element type of `data`, e.g. `"F32"` for a Float32Array. */
  dtype: Dtype;
  /** Dimensions, outermost first. */
  shape: readonly number[];
  /** Exactly product(shape) × dtype size bytes. */
  data: ArrayBufferView;
}

/**
 * Encodes tensors as a safetensors file. Tensors are sorted by name and packed contiguously; the header
 * is padded with spaces so the data region starts at a multiple of 8 bytes.
 * @param tensors Tensors by name.
 * @param metadata Optional `__metadata__` string map.
 * @returns The file's bytes.
 * @throws {TypeError} If a name is `__metadata__`, a dtype is unknown, or a metadata value is not a string.
 * @throws {RangeError} If a shape is invalid or data length does not match shape × dtype size.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const bytes = encodeSafetensors({ b: { dtype: "U8", shape: [3], data: new Uint8Array([1, 2, 3]) } });
 * assert.equal(bytes.length % 8, 3); // header padded to 8, then 3 data bytes
 * ```
 */
export function encodeSafetensors(
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: [string, unknown][] = metadata ? [["__metadata__", checkedMetadata(metadata)]] : [];
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    const byteLength = checkedTensorBytes(name, t);
    header.push([name, { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + byteLength] }]);
    offset += byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(Object.fromEntries(header)));
  const headerLength = Math.ceil((8 + json.length) / 8) * 8 - 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength); // spaces, as the spec's padding convention says
  let at = 8 + headerLength;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    at += d.byteLength;
  }
  return out;
}

/**
 * Writes tensors to a safetensors file (see {@link encodeSafetensors}). Writes to a temporary file in the
 * same folder and renames it, so a crash never leaves a half-written file under `path`.
 * @param path Destination path.
 * @param tensors Tensors by name.
 * @param metadata Optional `__metadata__` string map.
 * @returns Resolves once the file is in place.
 * @throws {TypeError | RangeError} As {@link encodeSafetensors}.
 * @throws {Deno.errors.NotFound | Deno.errors.PermissionDenied} If the file cannot be written.
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Promise<void> {
  const bytes = encodeSafetensors(tensors, metadata);
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

function checkedMetadata(metadata: Record<string, string>): Record<string, string> {
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") {
      throw new TypeError(`metadata value for "${k}" must be a string, got ${typeName(v)}`);
    }
  }
  return Object.fromEntries(Object.entries(metadata));
}

/** Validates a tensor to write and returns its byte length. */
function checkedTensorBytes(name: string, t: TensorToWrite): number {
  if (name === "__metadata__") throw new TypeError(`"__metadata__" is reserved and cannot name a tensor`);
  if (!Object.hasOwn(DTYPE_SIZE, t.dtype)) throw new TypeError(`tensor "${name}": unknown dtype ${t.dtype}`);
  if (!t.shape.every(isNonNegativeInt)) {
    throw new RangeError(`tensor "${name}": shape ${JSON.stringify(t.shape)} must be non-negative integers`);
  }
  const expected = byteLengthOf(t.shape, DTYPE_SIZE[t.dtype]);
  if (expected !== t.data.byteLength) {
    throw new RangeError(
      `tensor "${name}": data has ${t.data.byteLength} bytes but shape ${
        shapeText(t.shape)
      } of ${t.dtype} needs ${expected ?? "more than 2^53"}`,
    );
  }
  return expected;
}

// ---------------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------------

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isNonNegativeInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function typeName(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "an array" : `a ${typeof v}`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Formats a shape for messages, e.g. `[2,3]`.
 * @param shape Dimensions.
 * @returns The shape as `[a,b,...]`.
 */
export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(",")}]`;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
