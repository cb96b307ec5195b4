// Weights stored as f16 and bf16 load (converted to f32) and give logits close to the f32 model's;
// a sharded checkpoint (model.safetensors.index.json) loads to exactly the same logits.
import { join } from "node:path";
import { assertClose } from "../helpers/close.ts";
import { fixture } from "../helpers/fixtures.ts";
import { loadModel } from "../../src/model/load.ts";
import { encodeSafetensors, f32ToF16, type TensorToWrite } from "../../src/model/safetensors.ts";
import { WeightStore } from "../../src/model/weight_store.ts";

const SRC = fixture("tiny-gpt2-relu");
const flat = (x: unknown): number[] => (Array.isArray(x) ? x.flatMap(flat) : [x as number]);

/** bf16 by round-to-nearest-even on the top 16 bits. */
function f32ToBf16(a: Float32Array): Uint16Array {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  return Uint16Array.from(u, (b) => (b + 0x7fff + ((b >>> 16) & 1)) >>> 16);
}

async function rewrite(dtype: "F16" | "BF16" | "sharded"): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: `d2d-${dtype}-` });
  await Deno.copyFile(join(SRC, "config.json"), join(dir, "config.json"));
  using store = await WeightStore.openFolder(SRC);
  const tensors: Record<string, TensorToWrite> = {};
  for (const name of store.names()) {
    const data = await store.readF32(name);
    const shape = store.info(name).shape;
    tensors[name] = dtype === "F16"
      ? { dtype, shape, data: f32ToF16(data) }
      : dtype === "BF16"
      ? { dtype, shape, data: f32ToBf16(data) }
      : { dtype: "F32", shape, data };
  }
  if (dtype !== "sharded") {
    await Deno.writeFile(join(dir, "model.safetensors"), encodeSafetensors(tensors));
    return dir;
  }
  const names = Object.keys(tensors).sort();
  const half = Math.ceil(names.length / 2);
  const map: Record<string, string> = {};
  for (const [i, part] of [names.slice(0, half), names.slice(half)].entries()) {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    await Deno.writeFile(
      join(dir, file),
      encodeSafetensors(Object.fromEntries(part.map((n) => [n, tensors[n]]))),
    );
    for (const n of part) map[n] = file;
  }
  await Deno.writeTextFile(
    join(dir, "model.safetensors.index.json"),
    JSON.stringify({ metadata: {}, weight_map: map }),
  );
  return dir;
}

const inputs = JSON.parse(await Deno.readTextFile(join(SRC, "inputs.json")));
const expected = flat(JSON.parse(await Deno.readTextFile(join(SRC, "expected.json"))).logits);

for (const [dtype, atol] of [["F16", 2e-3], ["BF16", 2e-2], ["sharded", 1e-4]] as const) {
  Deno.test(`weights stored as ${dtype} load and match the f32 logits within ${atol}`, async () => {
    const dir = await rewrite(dtype);
    using model = await loadModel(dir, { backend: "cpu" });
    const out = await model.forward(inputs);
    assertClose(out.logits!.data, expected, { atol, rtol: 0 }, `${dtype} logits`);
    await Deno.remove(dir, { recursive: true });
  });
}
