// The cache logic of the embedded default, exercised with a tiny recipe on the tiny GPT-2 fixture
// (the real default converts USE lite, which takes minutes): first use converts, later uses load the
// cache, partial / old-format / other-recipe folders are rebuilt, and no temporary folder is left.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixture } from "../helpers/fixtures.ts";
import { cacheDir, cacheIsCurrent, ensureConverted, type Recipe } from "../../src/moe/default_model.ts";

const recipe: Recipe = {
  source: "tests/fixtures/hf-tiny/tiny-gpt2-relu",
  revision: 1,
  expertSize: 32,
  routerWidth: 16,
  calibTokens: 128,
  routerEpochs: 1,
  seed: 0,
  defaultTau: 0.25,
};
const opts = { backend: "cpu" as const };

Deno.test("default-model cache: converts once, reuses, rebuilds partial, stale and other-recipe folders", async () => {
  const root = await Deno.makeTempDir({ prefix: "d2d-cache-" });
  const dir = join(root, "model");
  assert.equal(
    await ensureConverted(dir, fixture("tiny-gpt2-relu"), recipe, opts),
    true,
    "first use converts",
  );
  const manifest = JSON.parse(await Deno.readTextFile(join(dir, "d2dmoe.json")));
  assert.equal(manifest.default_tau, 0.25);
  assert.deepEqual(manifest.provenance.recipe, recipe);
  assert.equal(
    await ensureConverted(dir, fixture("tiny-gpt2-relu"), recipe, opts),
    false,
    "second use loads the cache",
  );

  // An interrupted write leaves no manifest (it is written last): rebuilt.
  await Deno.remove(join(dir, "d2dmoe.json"));
  assert.equal(await cacheIsCurrent(dir, recipe), false);
  assert.equal(await ensureConverted(dir, fixture("tiny-gpt2-relu"), recipe, opts), true);

  // An older format version: rebuilt.
  const m = JSON.parse(await Deno.readTextFile(join(dir, "d2dmoe.json")));
  await Deno.writeTextFile(join(dir, "d2dmoe.json"), JSON.stringify({ ...m, format_version: 0 }));
  assert.equal(await cacheIsCurrent(dir, recipe), false);
  assert.equal(await ensureConverted(dir, fixture("tiny-gpt2-relu"), recipe, opts), true);

  // Another recipe: rebuilt; a corrupt manifest: rebuilt.
  assert.equal(await cacheIsCurrent(dir, { ...recipe, seed: 1 }), false);
  assert.equal(await cacheIsCurrent(dir, { ...recipe, revision: 2 }), false);
  await Deno.writeTextFile(join(dir, "d2dmoe.json"), "{not json");
  assert.equal(await cacheIsCurrent(dir, recipe), false);
  assert.equal(await ensureConverted(dir, fixture("tiny-gpt2-relu"), recipe, opts), true);

  const left = [];
  for await (const e of Deno.readDir(root)) left.push(e.name);
  assert.deepEqual(left, ["model"], "no temporary folders left behind");
  await Deno.remove(root, { recursive: true });
});

Deno.test("cacheDir honours D2D_CACHE_DIR", () => {
  const before = Deno.env.get("D2D_CACHE_DIR");
  Deno.env.set("D2D_CACHE_DIR", "/tmp/somewhere");
  try {
    assert.equal(cacheDir(), "/tmp/somewhere");
  } finally {
    if (before === undefined) Deno.env.delete("D2D_CACHE_DIR");
    else Deno.env.set("D2D_CACHE_DIR", before);
  }
});
