import assert from "node:assert/strict";
import { join } from "node:path";
import { ModelFormatError } from "../../src/model/errors.ts";
import {
  bf16ToF32,
  encodeSafetensors,
  f16ToF32,
  f32ToF16,
  MAX_HEADER_BYTES,
  SafetensorsFile,
  writeSafetensors,
} from "../../src/model/safetensors.ts";

/** Deno 2.9 leaves the resource and op sanitizers off by default; these tests open files, so turn them on. */
function test(name: string, fn: () => void | Promise<void>): void {
  Deno.test({ name, fn, sanitizeResources: true, sanitizeOps: true });
}

import { FIXTURES } from "../helpers/fixtures.ts";
const BAD = "bad.safetensors";

/** Builds a file from a raw header string (no validation) and a data region, optionally lying about N. */
function rawFile(header: string | Uint8Array, data: Uint8Array = new Uint8Array(), n?: bigint): Uint8Array {
  const h = typeof header === "string" ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, n ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** Builds a file from a header object and `dataLength` zero bytes of data. */
function fileWith(header: Record<string, unknown>, dataLength: number): Uint8Array {
  return rawFile(JSON.stringify(header), new Uint8Array(dataLength));
}

/** Asserts `fn` throws a ModelFormatError whose message starts with the file and contains each part. */
function assertFormatError(fn: () => unknown, file: string, ...parts: (string | RegExp)[]): void {
  assert.throws(fn, (e) => checkFormatError(e, file, parts));
}

async function assertFormatErrorAsync(
  fn: () => Promise<unknown>,
  file: string,
  ...parts: (string | RegExp)[]
): Promise<void> {
  await assert.rejects(fn, (e) => checkFormatError(e, file, parts));
}

function checkFormatError(e: unknown, file: string, parts: (string | RegExp)[]): boolean {
  assert.ok(e instanceof ModelFormatError, `expected ModelFormatError, got ${e}`);
  assert.ok(e.message.startsWith(`${file}: `), `message should name ${file}: ${e.message}`);
  assert.equal(e.file, file);
  for (const p of parts) {
    if (typeof p === "string") assert.ok(e.message.includes(p), `message lacks "${p}": ${e.message}`);
    else assert.match(e.message, p);
  }
  return true;
}

/** A small valid file with several dtypes, used by round-trip and fuzz tests. */
function sampleTensors() {
  return {
    "w": { dtype: "F32" as const, shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0, -0, 1e-30]) },
    "b": { dtype: "F16" as const, shape: [3], data: f32ToF16(new Float32Array([1, -0.5, 65504])) },
    "ids": { dtype: "I32" as const, shape: [4], data: new Int32Array([0, -1, 7, 2 ** 31 - 1]) },
    "u": { dtype: "U32" as const, shape: [1, 2], data: new Uint32Array([0, 2 ** 32 - 1]) },
    "mask": { dtype: "U8" as const, shape: [3], data: new Uint8Array([0, 1, 255]) },
    "scalar": { dtype: "F32" as const, shape: [], data: new Float32Array([42]) },
    "empty": { dtype: "F32" as const, shape: [0, 5], data: new Float32Array(0) },
  };
}

test("encode → fromBytes round trip keeps names, shapes, dtypes, bytes and metadata", async () => {
  const tensors = sampleTensors();
  const bytes = encodeSafetensors(tensors, { format: "pt", note: "héllo" });
  using f = SafetensorsFile.fromBytes(bytes, "mem.safetensors");
  assert.equal(f.path, "mem.safetensors");
  assert.deepEqual(f.metadata, { format: "pt", note: "héllo" });
  assert.deepEqual(f.names(), Object.keys(tensors).sort());
  for (const [name, t] of Object.entries(tensors)) {
    assert.ok(f.has(name));
    assert.deepEqual(f.info(name), { name, dtype: t.dtype, shape: t.shape, byteLength: t.data.byteLength });
    const raw = await f.readRaw(name);
    assert.deepEqual(raw, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  assert.deepEqual(Array.from(await f.readF32("w", [2, 3])), Array.from(tensors.w.data));
  assert.deepEqual(Array.from(await f.readF32("b")), [1, -0.5, 65504]);
  assert.deepEqual(Array.from(await f.readF32("ids")), [0, -1, 7, 2 ** 31]); // 2^31-1 rounds in f32
  assert.deepEqual(Array.from(await f.readF32("u")), [0, 2 ** 32]);
  assert.deepEqual(Array.from(await f.readF32("mask")), [0, 1, 255]);
  assert.deepEqual(Array.from(await f.readF32("scalar", [])), [42]);
  assert.equal((await f.readF32("empty", [0, 5])).length, 0);
  assert.ok(!f.has("__metadata__"));
});

test("encode pads the header with spaces so data starts 8-byte aligned, tensors sorted and packed", () => {
  for (const name of ["a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh"]) {
    const bytes = encodeSafetensors({ [name]: { dtype: "U8", shape: [1], data: new Uint8Array([9]) } });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal((8 + n) % 8, 0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    assert.match(text, /^\{.*\} *$/);
    assert.equal(bytes[8 + n], 9);
  }
  const bytes = encodeSafetensors(sampleTensors());
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const names = Object.keys(header);
  assert.deepEqual(names, [...names].sort());
  let offset = 0;
  for (const name of names) {
    assert.equal(header[name].data_offsets[0], offset);
    offset = header[name].data_offsets[1];
  }
  assert.equal(8 + n + offset, bytes.length);
});

test("writeSafetensors → open round trip on disk, reads on demand and closes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "t.safetensors");
    await writeSafetensors(path, sampleTensors(), { format: "pt" });
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["t.safetensors"]); // no temp left
    using f = await SafetensorsFile.open(path);
    assert.equal(f.path, path);
    assert.deepEqual(f.metadata, { format: "pt" });
    // Concurrent reads share one handle; they must not interleave their seek+read.
    const [w, b, ids] = await Promise.all([f.readF32("w"), f.readF32("b"), f.readF32("ids")]);
    assert.deepEqual(Array.from(w), Array.from(sampleTensors().w.data));
    assert.deepEqual(Array.from(b), [1, -0.5, 65504]);
    assert.deepEqual(Array.from(ids), [0, -1, 7, 2 ** 31]);
    f.close();
    f.close(); // idempotent
    await assert.rejects(() => f.readRaw("w"), /closed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("readF32 converts BF16, F64, I64, I8 and rejects F8 clearly", async () => {
  const bytes = encodeSafetensors({
    bf: { dtype: "BF16", shape: [3], data: new Uint16Array([0x3f80, 0xc040, 0x7f80]) },
    d: { dtype: "F64", shape: [2], data: new Float64Array([0.1, -1e300]) },
    l: { dtype: "I64", shape: [2], data: new BigInt64Array([-5n, 1n << 40n]) },
    i8: { dtype: "I8", shape: [2], data: new Int8Array([-128, 127]) },
    f8: { dtype: "F8_E4M3", shape: [1], data: new Uint8Array([1]) },
  });
  using f = SafetensorsFile.fromBytes(bytes, "conv.safetensors");
  assert.deepEqual(Array.from(await f.readF32("bf")), [1, -3, Infinity]);
  assert.deepEqual(Array.from(await f.readF32("d")), [Math.fround(0.1), -Infinity]);
  assert.deepEqual(Array.from(await f.readF32("l")), [-5, 2 ** 40]);
  assert.deepEqual(Array.from(await f.readF32("i8")), [-128, 127]);
  await assertFormatErrorAsync(() => f.readF32("f8"), "conv.safetensors", `tensor "f8"`, "F8_E4M3", "f32");
  assert.deepEqual(await f.readRaw("f8"), new Uint8Array([1]));
});

test("encodeSafetensors rejects inconsistent input with TypeError/RangeError", () => {
  const f32 = new Float32Array(6);
  assert.throws(() => encodeSafetensors({ w: { dtype: "F32", shape: [2, 2], data: f32 } }), RangeError);
  assert.throws(() => encodeSafetensors({ w: { dtype: "F16", shape: [2, 3], data: f32 } }), /needs 12/);
  assert.throws(() => encodeSafetensors({ w: { dtype: "F32", shape: [-1, 6], data: f32 } }), RangeError);
  assert.throws(() => encodeSafetensors({ w: { dtype: "F32", shape: [1.5, 4], data: f32 } }), RangeError);
  assert.throws(
    () => encodeSafetensors({ __metadata__: { dtype: "F32", shape: [6], data: f32 } }),
    TypeError,
  );
  // @ts-expect-error: unknown dtype on purpose
  assert.throws(() => encodeSafetensors({ w: { dtype: "F128", shape: [6], data: f32 } }), TypeError);
  // @ts-expect-error: non-string metadata on purpose
  assert.throws(() => encodeSafetensors({}, { a: 1 }), TypeError);
});

// ---------------------------------------------------------------------------------------------------
// Half-precision conversions
// ---------------------------------------------------------------------------------------------------

const ALL_HALVES = Uint16Array.from({ length: 65536 }, (_, i) => i);

test("f16ToF32 is exact for all 65536 bit patterns (checked against Float16Array)", () => {
  const ours = f16ToF32(ALL_HALVES);
  const ref = new Float16Array(ALL_HALVES.buffer);
  for (let h = 0; h < 65536; h++) {
    if (Number.isNaN(ref[h])) assert.ok(Number.isNaN(ours[h]), `0x${h.toString(16)} should be NaN`);
    else assert.ok(Object.is(ours[h], ref[h]), `0x${h.toString(16)}: ${ours[h]} vs ${ref[h]}`);
  }
});

test("f16ToF32 on chosen values: subnormals, ±0, ±inf, NaN", () => {
  const v = f16ToF32(
    new Uint16Array([0x0001, 0x03ff, 0x0400, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x7bff, 0x3555]),
  );
  assert.equal(v[0], 2 ** -24);
  assert.equal(v[1], 1023 * 2 ** -24);
  assert.equal(v[2], 2 ** -14);
  assert.ok(Object.is(v[3], -0));
  assert.equal(v[4], Infinity);
  assert.equal(v[5], -Infinity);
  assert.ok(Number.isNaN(v[6]));
  assert.equal(v[7], 65504);
  assert.equal(v[8], 0.333251953125);
});

test("f32ToF16 ∘ f16ToF32 is the identity on every bit pattern, NaN payloads included", () => {
  assert.deepEqual(f32ToF16(f16ToF32(ALL_HALVES)), ALL_HALVES);
});

test("f32ToF16 rounds to nearest even, overflows to inf, underflows through subnormals", () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [-2, 0xc000],
    [-0, 0x8000],
    [65504, 0x7bff],
    [65519.99, 0x7bff], // below the midpoint to inf
    [65520, 0x7c00], // the midpoint rounds to even: inf
    [1e10, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // tie between 0 and 2^-24: even is 0
    [2 ** -25 * 1.0000001, 0x0001], // just above the tie
    [3 * 2 ** -25, 0x0002], // tie between 1 and 2 ulps: even is 2
    [2 ** -26, 0x0000],
    [1e-45, 0x0000], // f32 subnormal
    [1 + 2 ** -11, 0x3c00], // tie: stays at even 1.0
    [1 + 3 * 2 ** -11, 0x3c02], // tie: goes up to even mantissa 2
    [(2 ** -14) - 2 ** -25, 0x0400], // tie between largest subnormal 0x3ff and smallest normal: even 0x400
  ];
  const out = f32ToF16(new Float32Array(cases.map((c) => c[0])));
  cases.forEach(([x, want], i) =>
    assert.equal(out[i], want, `${x} → 0x${out[i].toString(16)}, want 0x${want.toString(16)}`)
  );
  const nan = f32ToF16(new Float32Array([NaN, -NaN]));
  assert.equal(nan[0] & 0x7c00, 0x7c00);
  assert.notEqual(nan[0] & 0x3ff, 0);
});

test("f32ToF16 agrees with Math.f16round on 200k seeded random f32 bit patterns", () => {
  const rand = mulberry32(1234);
  const bits = Uint32Array.from({ length: 200_000 }, () => (rand() * 2 ** 32) >>> 0);
  const x = new Float32Array(bits.buffer);
  const back = f16ToF32(f32ToF16(x));
  for (let i = 0; i < x.length; i++) {
    const want = Math.f16round(x[i]);
    if (Number.isNaN(want)) assert.ok(Number.isNaN(back[i]));
    else assert.ok(Object.is(back[i], want), `${x[i]} → ${back[i]}, want ${want}`);
  }
});

test("bf16ToF32 is exact, including subnormals, ±0, ±inf, NaN", () => {
  const v = bf16ToF32(new Uint16Array([0x3f80, 0x0001, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0x4049]));
  assert.equal(v[0], 1);
  assert.equal(v[1], 2 ** -133);
  assert.ok(Object.is(v[2], -0));
  assert.equal(v[3], Infinity);
  assert.equal(v[4], -Infinity);
  assert.ok(Number.isNaN(v[5]));
  assert.equal(v[6], 3.140625);
});

// ---------------------------------------------------------------------------------------------------
// Real fixtures
// ---------------------------------------------------------------------------------------------------

/** Independent reference: parse the header and one f32 tensor with plain DataView code. */
async function referenceF32(path: string, name: string): Promise<{ shape: number[]; values: number[] }> {
  const bytes = await Deno.readFile(path);
  const view = new DataView(bytes.buffer);
  const n = Number(view.getBigUint64(0, true));
  const entry = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)))[name];
  const [begin, end] = entry.data_offsets;
  const values = [];
  for (let at = 8 + n + begin; at < 8 + n + end; at += 4) values.push(view.getFloat32(at, true));
  return { shape: entry.shape, values };
}

test("real fixture: tiny-gpt2-relu lists its tensors and reads them like a reference parser", async () => {
  const path = `${FIXTURES}/tiny-gpt2-relu/model.safetensors`;
  using f = await SafetensorsFile.open(path);
  assert.deepEqual(f.metadata, { format: "pt" });
  assert.equal(f.names().length, 28);
  assert.deepEqual(f.info("transformer.wte.weight"), {
    name: "transformer.wte.weight",
    dtype: "F32",
    shape: [512, 64],
    byteLength: 512 * 64 * 4,
  });
  assert.deepEqual(f.info("transformer.h.0.attn.c_attn.weight").shape, [64, 192]);
  assert.deepEqual(f.info("transformer.h.1.mlp.c_proj.weight").shape, [256, 64]);
  for (
    const name of ["transformer.h.0.attn.c_attn.bias", "transformer.wpe.weight", "transformer.ln_f.weight"]
  ) {
    const ref = await referenceF32(path, name);
    const got = await f.readF32(name, ref.shape);
    assert.deepEqual(Array.from(got), ref.values);
  }
  await assertFormatErrorAsync(
    () => f.readF32("transformer.wte.weight", [64, 512]),
    path,
    `tensor "transformer.wte.weight" has shape [512,64], expected [64,512]`,
  );
});

test("real fixtures: tiny-bert and tiny-vit headers", async () => {
  using bert = await SafetensorsFile.open(`${FIXTURES}/tiny-bert-gelu/model.safetensors`);
  assert.equal(bert.names().length, 41);
  assert.deepEqual(bert.info("classifier.weight").shape, [3, 64]);
  assert.deepEqual(bert.info("bert.embeddings.token_type_embeddings.weight").shape, [2, 64]);
  assert.equal((await bert.readF32("classifier.bias", [3])).length, 3);
  using vit = await SafetensorsFile.open(`${FIXTURES}/tiny-vit/model.safetensors`);
  assert.deepEqual(vit.info("vit.embeddings.patch_embeddings.projection.weight").shape, [64, 3, 8, 8]);
  assert.deepEqual(vit.info("vit.embeddings.position_embeddings").shape, [1, 17, 64]);
  const cls = await vit.readF32("vit.embeddings.cls_token", [1, 1, 64]);
  assert.ok(cls.every(Number.isFinite));
});

// ---------------------------------------------------------------------------------------------------
// Corruption: every check, each a ModelFormatError naming the file and the problem
// ---------------------------------------------------------------------------------------------------

const F = (dtype: unknown, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });

test("corrupt: file shorter than 8 bytes (memory and disk)", async () => {
  assertFormatError(() => SafetensorsFile.fromBytes(new Uint8Array(5), BAD), BAD, "5 bytes", "too short");
  assertFormatError(() => SafetensorsFile.fromBytes(new Uint8Array(0), BAD), BAD, "0 bytes");
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "short.safetensors");
    await Deno.writeFile(path, new Uint8Array([1, 2, 3]));
    await assertFormatErrorAsync(() => SafetensorsFile.open(path), path, "3 bytes", "too short");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("corrupt: header length 0, past the end, or above the 100 MiB cap", () => {
  assertFormatError(
    () => SafetensorsFile.fromBytes(rawFile("{}", undefined, 0n), BAD),
    BAD,
    "header length is 0",
  );
  assertFormatError(
    () => SafetensorsFile.fromBytes(rawFile("{}", undefined, 3n), BAD),
    BAD,
    "header length 3 runs past the end",
  );
  const huge = BigInt(MAX_HEADER_BYTES) + 1n;
  assertFormatError(() => SafetensorsFile.fromBytes(rawFile("{}", undefined, huge), BAD), BAD, "limit");
  assertFormatError(
    () => SafetensorsFile.fromBytes(rawFile("{}", undefined, 0xffff_ffff_ffff_ffffn), BAD),
    BAD,
    "18446744073709551615",
    "limit",
  );
});

test("corrupt: header length beyond a real file on disk is caught before allocation, no hang", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "lying.safetensors");
    await Deno.writeFile(path, rawFile("{}", undefined, 50_000_000n));
    await assertFormatErrorAsync(() => SafetensorsFile.open(path), path, "runs past the end", "truncated");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("corrupt: header not UTF-8, not JSON, or not an object", () => {
  assertFormatError(
    () => SafetensorsFile.fromBytes(rawFile(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), BAD),
    BAD,
    "UTF-8",
  );
  assertFormatError(() => SafetensorsFile.fromBytes(rawFile("{not json"), BAD), BAD, "not valid JSON");
  for (const h of ["[1,2]", "null", "42", `"str"`]) {
    assertFormatError(() => SafetensorsFile.fromBytes(rawFile(h), BAD), BAD, "not an object");
  }
});

test("corrupt: entry not an object, unknown dtype, bad shape", () => {
  assertFormatError(
    () => SafetensorsFile.fromBytes(fileWith({ a: 5 }, 0), BAD),
    BAD,
    `tensor "a"`,
    "expected an object",
  );
  assertFormatError(
    () => SafetensorsFile.fromBytes(fileWith({ a: [] }, 0), BAD),
    BAD,
    `tensor "a"`,
    "an array",
  );
  assertFormatError(
    () => SafetensorsFile.fromBytes(fileWith({ a: F("F128", [1], [0, 16]) }, 16), BAD),
    BAD,
    `tensor "a"`,
    `unknown dtype "F128"`,
  );
  assertFormatError(
    () => SafetensorsFile.fromBytes(fileWith({ a: F(4, [1], [0, 4]) }, 4), BAD),
    BAD,
    "unknown dtype 4",
  );
  for (const shape of [3, "3", [-1], [1.5], [2 ** 53], [null], { 0: 1 }]) {
    assertFormatError(
      () => SafetensorsFile.fromBytes(fileWith({ a: F("F32", shape, [0, 4]) }, 4), BAD),
      BAD,
      `tensor "a"`,
      "shape",
      "non-negative integers",
    );
  }
  const noShape = { a: { dtype: "F32", data_offsets: [0, 4] } };
  assertFormatError(() => SafetensorsFile.fromBytes(fileWith(noShape, 4), BAD), BAD, "shape undefined");
});

test("corrupt: data_offsets malformed, reversed, or past the data region", () => {
  for (const offsets of [[0], [0, 4, 8], ["0", 4], [-4, 0], [0, 4.5], null, "0,4"]) {
    assertFormatError(
      () => SafetensorsFile.fromBytes(fileWith({ a: F("F32", [1], offsets) }, 8), BAD),
      BAD,
      `tensor "a"`,
      "data_offsets",
      "two non-negative integers",
    );
  }
  assertFormatError(
    () => SafetensorsFile.fromBytes(fileWith({ a: F("F32", [1], [8, 4]) }, 8), BAD),
    BAD,
    `tensor "a"`,
    "begin after end",
  );
  assertFormatError(
    () => SafetensorsFile.fromBytes(fileWith({ a: F("F32", [1], [4, 8]) }, 6), BAD),
    BAD,
    `tensor "a"`,
    "end 8 is past the end of the data region (6 bytes)",
  );
});

test("corrupt: byte length does not match shape × dtype size (including overflowing shapes)", () => {
  assertFormatError(
    () => SafetensorsFile.fromBytes(fileWith({ a: F("F32", [2, 3], [0, 20]) }, 24), BAD),
    BAD,
    `tensor "a"`,
    "occupies 20 bytes but shape [2,3] of F32 needs 24",
  );
  assertFormatError(
    () => SafetensorsFile.fromBytes(fileWith({ a: F("F16", [2 ** 40, 2 ** 40], [0, 8]) }, 8), BAD),
    BAD,
    `tensor "a"`,
    "more than 2^53",
  );
});

test("corrupt: overlapping tensor ranges", () => {
  const header = { a: F("F32", [2], [0, 8]), b: F("F32", [2], [4, 12]) };
  assertFormatError(() => SafetensorsFile.fromBytes(fileWith(header, 12), BAD), BAD, `"a"`, `"b"`, "overlap");
  const same = { a: F("F32", [2], [0, 8]), b: F("U8", [8], [0, 8]) };
  assertFormatError(() => SafetensorsFile.fromBytes(fileWith(same, 8), BAD), BAD, "overlap");
  // Empty tensors overlap nothing; gaps between tensors are tolerated.
  const fine = { a: F("F32", [2], [0, 8]), e: F("F32", [0], [4, 4]), b: F("F32", [1], [12, 16]) };
  using f = SafetensorsFile.fromBytes(fileWith(fine, 16), BAD);
  assert.deepEqual(f.names(), ["a", "e", "b"]);
});

test("corrupt: __metadata__ not a string → string map", () => {
  for (const m of [[], "x", 5, { a: 1 }, { a: null }, { a: ["x"] }]) {
    assertFormatError(
      () => SafetensorsFile.fromBytes(fileWith({ __metadata__: m }, 0), BAD),
      BAD,
      "__metadata__",
    );
  }
  using ok = SafetensorsFile.fromBytes(fileWith({ __metadata__: null }, 0), BAD);
  assert.deepEqual(ok.metadata, {});
  using proto = SafetensorsFile.fromBytes(rawFile(`{"__metadata__":{"__proto__":"x"}}`), BAD);
  assert.equal(proto.metadata["__proto__"], "x");
  assert.equal(Object.getPrototypeOf(proto.metadata), Object.prototype);
});

test("missing tensor names and shape mismatches are ModelFormatErrors naming the tensor", async () => {
  using f = SafetensorsFile.fromBytes(encodeSafetensors(sampleTensors()), BAD);
  assertFormatError(() => f.info("nope"), BAD, `tensor "nope" not found`);
  await assertFormatErrorAsync(async () => await f.readF32("nope"), BAD, `tensor "nope" not found`);
  await assertFormatErrorAsync(async () => await f.readRaw("nope"), BAD, `tensor "nope" not found`);
  await assertFormatErrorAsync(
    () => f.readF32("w", [3, 2]),
    BAD,
    `tensor "w" has shape [2,3], expected [3,2]`,
  );
  await assertFormatErrorAsync(() => f.readF32("w", [2, 3, 1]), BAD, "expected [2,3,1]");
  await assertFormatErrorAsync(() => f.readF32("scalar", [1]), BAD, "has shape [], expected [1]");
});

test("open: missing file, and a file truncated after open, fail cleanly without hanging", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = join(dir, "missing.safetensors");
    await assertFormatErrorAsync(() => SafetensorsFile.open(missing), missing, "cannot open");
    await assertFormatErrorAsync(() => SafetensorsFile.open(dir), dir, "not a regular file");
    const path = join(dir, "t.safetensors");
    await writeSafetensors(path, sampleTensors());
    using f = await SafetensorsFile.open(path);
    await Deno.truncate(path, 8 + 16); // shorter than the header, let alone the data
    await assertFormatErrorAsync(() => f.readRaw("w"), path, `tensor "w"`, "file ended");
    await assertFormatErrorAsync(() => f.readF32("u"), path, `tensor "u"`, "file ended");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------------
// Fuzz: every mutation either parses (and reads) or fails with ModelFormatError, nothing else.
// ---------------------------------------------------------------------------------------------------

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One seeded mutation of `base`: truncation, header byte flips, a random header length, or data flips. */
function mutate(base: Uint8Array, rand: () => number): Uint8Array {
  const int = (n: number) => Math.floor(rand() * n);
  const n = Number(new DataView(base.buffer).getBigUint64(0, true));
  const out = base.slice();
  switch (int(5)) {
    case 0:
      return base.slice(0, int(base.length));
    case 1:
      for (let k = 1 + int(4); k > 0; k--) out[8 + int(n)] = int(256);
      return out;
    case 2: {
      const choices = [BigInt(int(2 * n)), BigInt(n + int(16)) - 8n, BigInt(int(2 ** 31)) << BigInt(int(33))];
      const v = choices[int(choices.length)];
      new DataView(out.buffer).setBigUint64(0, v < 0n ? 0n : v, true);
      return out;
    }
    case 3: {
      // Replace a digit in the header with another, shifting shapes and offsets.
      const digits = [...out.subarray(8, 8 + n).keys()].filter((i) =>
        out[8 + i] >= 0x30 && out[8 + i] <= 0x39
      );
      if (digits.length) out[8 + digits[int(digits.length)]] = 0x30 + int(10);
      return out;
    }
    default:
      for (let k = 1 + int(8); k > 0; k--) out[int(out.length)] ^= 1 << int(8);
      return out;
  }
}

async function exercise(f: SafetensorsFile): Promise<void> {
  for (const name of f.names()) {
    f.info(name);
    await f.readRaw(name);
    if (!f.info(name).dtype.startsWith("F8")) await f.readF32(name, f.info(name).shape);
  }
}

test("fuzz: 600 seeded mutations in memory give success or ModelFormatError only", async () => {
  const base = encodeSafetensors(sampleTensors(), { format: "pt" });
  const rand = mulberry32(42);
  let ok = 0, rejected = 0;
  for (let i = 0; i < 600; i++) {
    const bytes = mutate(base, rand);
    try {
      using f = SafetensorsFile.fromBytes(bytes, "fuzz.safetensors");
      await exercise(f);
      ok++;
    } catch (e) {
      if (!(e instanceof ModelFormatError)) throw new Error(`mutation ${i} threw ${e}`, { cause: e });
      assert.ok(e.message.startsWith("fuzz.safetensors: "));
      rejected++;
    }
  }
  assert.ok(ok > 0 && rejected > 0, `ok ${ok}, rejected ${rejected}`);
});

test("fuzz: 60 seeded mutations on disk through open() give success or ModelFormatError only", async () => {
  const base = encodeSafetensors(sampleTensors());
  const rand = mulberry32(7);
  const dir = await Deno.makeTempDir();
  try {
    for (let i = 0; i < 60; i++) {
      const path = join(dir, `f${i}.safetensors`);
      await Deno.writeFile(path, mutate(base, rand));
      try {
        using f = await SafetensorsFile.open(path);
        await exercise(f);
      } catch (e) {
        if (!(e instanceof ModelFormatError)) throw new Error(`mutation ${i} threw ${e}`, { cause: e });
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
