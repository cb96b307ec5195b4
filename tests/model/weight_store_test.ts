import assert from "node:assert/strict";
import { join } from "node:path";
import { ModelFormatError } from "../../src/model/errors.ts";
import { SafetensorsFile, type TensorToWrite, writeSafetensors } from "../../src/model/safetensors.ts";
import { INDEX_FILE, WeightStore } from "../../src/model/weight_store.ts";

/** Deno 2.9 leaves the resource and op sanitizers off by default; these tests open files, so turn them on. */
function test(name: string, fn: () => void | Promise<void>): void {
  Deno.test({ name, fn, sanitizeResources: true, sanitizeOps: true });
}

import { fixture } from "../helpers/fixtures.ts";
const GPT2 = fixture("tiny-gpt2-relu");

async function assertFormatError(
  fn: () => Promise<unknown>,
  file: string,
  ...parts: string[]
): Promise<void> {
  await assert.rejects(fn, (e) => {
    assert.ok(e instanceof ModelFormatError, `expected ModelFormatError, got ${e}`);
    assert.ok(e.message.startsWith(`${file}: `), `message should name ${file}: ${e.message}`);
    for (const p of parts) assert.ok(e.message.includes(p), `message lacks "${p}": ${e.message}`);
    return true;
  });
}

/** Runs `fn` with a fresh temporary folder, removed afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Splits the tiny GPT-2 fixture into two shards plus an index in `dir`; returns the weight map. */
async function writeShardedGpt2(dir: string): Promise<Record<string, string>> {
  using src = await SafetensorsFile.open(join(GPT2, "model.safetensors"));
  const shards: Record<string, Record<string, TensorToWrite>> = {};
  const weightMap: Record<string, string> = {};
  for (const name of src.names()) {
    const shard = name.startsWith("transformer.h.1.") || name.startsWith("transformer.w")
      ? "model-00002-of-00002.safetensors"
      : "model-00001-of-00002.safetensors";
    const info = src.info(name);
    (shards[shard] ??= {})[name] = { dtype: info.dtype, shape: info.shape, data: await src.readRaw(name) };
    weightMap[name] = shard;
  }
  for (const [shard, tensors] of Object.entries(shards)) await writeSafetensors(join(dir, shard), tensors);
  await writeIndex(dir, weightMap);
  return weightMap;
}

async function writeIndex(dir: string, weightMap: unknown, metadata: unknown = { total_size: 547840 }) {
  await Deno.writeTextFile(join(dir, INDEX_FILE), JSON.stringify({ metadata, weight_map: weightMap }));
}

test("single file: names, info, reads and resolve over the tiny GPT-2 fixture", async () => {
  using store = await WeightStore.openFolder(GPT2);
  using file = await SafetensorsFile.open(join(GPT2, "model.safetensors"));
  assert.equal(store.source, join(GPT2, "model.safetensors"));
  assert.deepEqual(store.metadata, { format: "pt" });
  assert.deepEqual(store.names(), file.names());
  assert.ok(store.has("transformer.wte.weight"));
  assert.ok(!store.has("lm_head.weight"));
  assert.deepEqual(store.info("transformer.wpe.weight").shape, [64, 64]);
  const name = "transformer.h.0.mlp.c_fc.weight";
  assert.deepEqual(await store.readF32(name, [64, 256]), await file.readF32(name));
  assert.deepEqual(await store.readRaw(name), await file.readRaw(name));
  assert.equal(store.resolve("h.0.ln_1.weight", ["", "transformer."]), "transformer.h.0.ln_1.weight");
  assert.equal(store.resolve("transformer.wte.weight", ["", "transformer."]), "transformer.wte.weight");
  assert.equal(store.resolve("h.0.ln_1.weight", ["gpt2.", "model."]), null);
  assert.equal(store.resolve("x", []), null);
});

test("single file: missing tensors and shape mismatches name the file and tensor", async () => {
  using store = await WeightStore.openFolder(GPT2);
  const file = join(GPT2, "model.safetensors");
  assert.throws(() => store.info("lm_head.weight"), /tensor "lm_head.weight" not found/);
  await assertFormatError(() => store.readF32("lm_head.weight"), file, `tensor "lm_head.weight" not found`);
  await assertFormatError(() => store.readRaw("nope"), file, `tensor "nope" not found`);
  await assertFormatError(
    () => store.readF32("transformer.wte.weight", [512, 32]),
    file,
    `tensor "transformer.wte.weight" has shape [512,64], expected [512,32]`,
  );
});

test("sharded folder: index routes every tensor to its shard, values equal the original", async () => {
  await withTempDir(async (dir) => {
    const weightMap = await writeShardedGpt2(dir);
    using store = await WeightStore.openFolder(dir);
    using original = await WeightStore.openFolder(GPT2);
    assert.equal(store.source, join(dir, INDEX_FILE));
    assert.deepEqual(store.metadata, { total_size: 547840 });
    assert.deepEqual(store.names().sort(), Object.keys(weightMap).sort());
    for (const name of store.names()) {
      assert.deepEqual(store.info(name), original.info(name));
      assert.deepEqual(await store.readF32(name), await original.readF32(name));
    }
    await assertFormatError(() => store.readF32("nope"), join(dir, INDEX_FILE), `tensor "nope" not found`);
  });
});

test("sharded folder: tensors a shard holds but the index does not list are not exposed", async () => {
  await withTempDir(async (dir) => {
    const weightMap = await writeShardedGpt2(dir);
    delete weightMap["transformer.wte.weight"];
    await writeIndex(dir, weightMap);
    using store = await WeightStore.openFolder(dir);
    assert.ok(!store.has("transformer.wte.weight"));
    assert.equal(store.names().length, 27);
  });
});

test("sharded folder: a missing shard file is named, with the index as the offending file", async () => {
  await withTempDir(async (dir) => {
    await writeShardedGpt2(dir);
    await Deno.remove(join(dir, "model-00002-of-00002.safetensors"));
    await assertFormatError(
      () => WeightStore.openFolder(dir),
      join(dir, INDEX_FILE),
      `shard "model-00002-of-00002.safetensors"`,
      "does not exist",
    );
  });
});

test("sharded folder: a shard that lacks a tensor the index assigns to it is rejected", async () => {
  await withTempDir(async (dir) => {
    const weightMap = await writeShardedGpt2(dir);
    weightMap["transformer.wte.weight"] = "model-00001-of-00002.safetensors"; // it is in shard 2
    await writeIndex(dir, weightMap);
    await assertFormatError(
      () => WeightStore.openFolder(dir),
      join(dir, "model-00001-of-00002.safetensors"),
      `tensor "transformer.wte.weight" is assigned to this shard`,
      INDEX_FILE,
    );
  });
});

test("sharded folder: shard names that could escape the folder are rejected", async () => {
  await withTempDir(async (dir) => {
    const weightMap = await writeShardedGpt2(dir);
    for (
      const bad of ["../model.safetensors", "sub/x.safetensors", "..", ".", "", "/etc/passwd", "a\\b", "x..y"]
    ) {
      await writeIndex(dir, { ...weightMap, "transformer.wte.weight": bad });
      await assertFormatError(
        () => WeightStore.openFolder(dir),
        join(dir, INDEX_FILE),
        `"transformer.wte.weight"`,
        "not a plain file name",
      );
    }
  });
});

test("sharded folder: malformed index files are ModelFormatErrors naming the index", async () => {
  await withTempDir(async (dir) => {
    const index = join(dir, INDEX_FILE);
    const cases: [string, string][] = [
      ["{oops", "not valid JSON"],
      ["[]", "not an object"],
      [`{"metadata": {}}`, `"weight_map" is missing`],
      [`{"weight_map": []}`, `"weight_map" is missing or not an object`],
      [`{"weight_map": {}}`, "lists no tensors"],
      [`{"weight_map": {"a": 3}}`, `entry for "a" is not a file name`],
      [`{"metadata": 5, "weight_map": {"a": "x.safetensors"}}`, `"metadata" is not an object`],
    ];
    for (const [text, problem] of cases) {
      await Deno.writeTextFile(index, text);
      await assertFormatError(() => WeightStore.openFolder(dir), index, problem);
    }
  });
});

test("sharded folder: a corrupt second shard fails and the first shard's handle is closed", async () => {
  // Deno's resource sanitizer fails this test if the already-opened shard leaks.
  await withTempDir(async (dir) => {
    await writeShardedGpt2(dir);
    const shard2 = join(dir, "model-00002-of-00002.safetensors");
    await Deno.writeFile(shard2, new Uint8Array([1, 2, 3]));
    await assertFormatError(() => WeightStore.openFolder(dir), shard2, "too short");
  });
});

test("single file wins when both model.safetensors and an index exist", async () => {
  await withTempDir(async (dir) => {
    await writeShardedGpt2(dir);
    await writeSafetensors(join(dir, "model.safetensors"), {
      only: { dtype: "F32", shape: [1], data: new Float32Array([5]) },
    });
    using store = await WeightStore.openFolder(dir);
    assert.deepEqual(store.names(), ["only"]);
  });
});

test("folders without weights: clear errors, pytorch_model.bin called out", async () => {
  await withTempDir(async (dir) => {
    await assertFormatError(
      () => WeightStore.openFolder(dir),
      dir,
      "neither model.safetensors nor model.safetensors.index.json exists",
    );
    await Deno.writeFile(join(dir, "pytorch_model.bin"), new Uint8Array(4));
    await assertFormatError(() => WeightStore.openFolder(dir), dir, "pytorch_model.bin", "not supported");
    const missing = join(dir, "nope");
    await assertFormatError(() => WeightStore.openFolder(missing), missing, "model folder does not exist");
    const file = join(dir, "pytorch_model.bin");
    await assertFormatError(() => WeightStore.openFolder(file), file, "is not a folder");
  });
});

test("a corrupt single model.safetensors surfaces its own ModelFormatError", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "model.safetensors");
    await Deno.writeFile(path, new Uint8Array(12));
    await assertFormatError(() => WeightStore.openFolder(dir), path, "header length is 0");
  });
});
