// Greedy continuation with a tiny GPT-2 fixture, through the library API.
//   deno run -A examples/generate.ts
import { loadModel } from "../mod.ts";

using model = await loadModel(new URL("../tests/fixtures/hf-tiny/tiny-gpt2-relu", import.meta.url));
console.log("device:", model.device.kind, model.device.description);
const out = await model.generate([10, 336, 491, 301], { maxTokens: 8, greedy: true });
console.log("new tokens:", out.token_ids.join(" "), `(${out.finish_reason})`);
console.log("stats:", out.stats);
