// Parity with Hugging Face transformers on the reference fixtures: every logit within 1e-4 of
// expected.json (and BERT's last_hidden_state), GPT-2 greedy continuations identical, on the CPU
// backend and on the WebGPU backend.
import assert from "node:assert/strict";
import { assertClose, maxDiff } from "../helpers/close.ts";
import { fixture, FIXTURE_NAMES } from "../helpers/fixtures.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { loadModel } from "../../src/model/load.ts";
import { CpuBackend } from "../../src/ops/cpu_backend.ts";
import type { Backend } from "../../src/ops/backend.ts";

const gpu = await testGpu();
const backends: [string, Backend | null][] = [["cpu", new CpuBackend()], ["gpu", gpu]];

const flat = (x: unknown): number[] => (Array.isArray(x) ? x.flatMap(flat) : [x as number]);

for (const [kind, be] of backends) {
  for (const name of FIXTURE_NAMES) {
    Deno.test({
      name: `parity ${name} on ${kind}: logits within 1e-4 of transformers`,
      ignore: !be,
      ...gpuTestOptions,
      async fn() {
        const dir = fixture(name);
        const inputs = JSON.parse(await Deno.readTextFile(`${dir}/inputs.json`));
        const expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
        using model = await loadModel(dir, { backend: be! });
        const out = await model.forward(inputs);
        const want = flat(expected.logits);
        assert.ok(out.logits, "model returned no logits");
        const { maxDiff: md } = maxDiff(out.logits.data, want);
        console.log(`${name} ${kind}: max |logit diff| = ${md.toExponential(2)}`);
        assertClose(out.logits.data, want, { atol: 1e-4, rtol: 0 }, `${name} logits`);
        if (expected.last_hidden_state) {
          assertClose(
            out.last_hidden_state!.data,
            flat(expected.last_hidden_state),
            { atol: 1e-4, rtol: 0 },
            `${name} hidden`,
          );
        }
        if (expected.greedy_continuation) {
          const gen = await model.generate(inputs.input_ids[0], {
            maxTokens: expected.greedy_continuation.length,
            greedy: true,
          });
          assert.deepEqual(gen.token_ids, expected.greedy_continuation);
        }
      },
    });
  }
}
