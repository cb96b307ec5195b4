/**
 * Writes a random-weight ReLU GPT-2 folder (no tokenizer) with the shape of the trained ReLU GPT-2 of
 * docs/conversion.md (4 layers, d 256, d_ff 1024, vocabulary 4096), so that a conversion with
 * `--expert-size 16 --calib-tokens 131072` trains routers of exactly that size (n 131072, d 256, E 64)
 * where the trained model is not at hand, as when chasing GPU router-training stalls on the GPU machine:
 *
 *     deno run -A bench/random_gpt2_folder.ts OUT_DIR [--seed 1]
 *
 * Without a tokenizer, `d2d convert` calibrates on seeded random token ids.
 * @module
 */
import { parseArgs } from "node:util";
import { Rng } from "../src/util/rng.ts";
import { gpt2Config, gpt2Tensors, writeDenseFolder } from "./random_models.ts";
import type { NetShape } from "./shapes.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { seed: { type: "string", default: "1" } },
  allowPositionals: true,
});
const out = positionals[0];
const seed = Number(values.seed);
if (!out || positionals.length !== 1) throw new Error("usage: random_gpt2_folder.ts OUT_DIR [--seed N]");
if (!Number.isInteger(seed)) throw new RangeError(`--seed must be an integer, got "${values.seed}"`);

const shape: NetShape = {
  layers: 4,
  hidden: 256,
  heads: 4,
  ffn: 1024,
  vocab: 4096,
  positions: 256,
  act: "relu",
  moe: { experts: 64, size: 16 },
};
await writeDenseFolder(out, gpt2Config(shape), gpt2Tensors(shape, new Rng(seed)));
console.log(`random ReLU GPT-2 (4 × 256, d_ff 1024, vocab 4096, seed ${seed}) → ${out}`);
