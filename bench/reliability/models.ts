/**
 * Models the reliability tools serve: the CPU fixtures of the server tests (with and without
 * tokenizers), tiny D2DMoE conversions of the GPT-2 / BERT fixtures (made once per process, about a second
 * each), or any model folder.
 * @module
 */
import { join } from "node:path";
import "../../src/moe/load_converted.ts";
import { loadModel } from "../../src/model/load.ts";
import type { Model } from "../../src/model/model.ts";
import { convert } from "../../src/moe/convert.ts";
import type { BackendChoice } from "../../src/ops/select_backend.ts";
import { fixture } from "../../tests/helpers/fixtures.ts";
import { model as fixtureModel, type ModelName } from "../../tests/serve/helpers.ts";

/** Named models: the server-test fixtures and their conversions. */
export const NAMED_MODELS = [
  "gpt2",
  "bert",
  "gpt2-text",
  "bert-text",
  "vit",
  "gpt2-d2d",
  "bert-d2d",
] as const;

const converted = new Map<string, Promise<string>>();
let tmp: Promise<string> | null = null;

/**
 * A tiny D2DMoE conversion of a fixture (CPU, 600 calibration tokens, 3 router epochs), made once.
 * @param name The dense fixture.
 * @returns The converted folder (in a temporary directory removed at exit).
 */
export function convertedFixture(name: "tiny-gpt2-relu" | "tiny-bert-relu"): Promise<string> {
  let p = converted.get(name);
  if (!p) {
    tmp ??= Deno.makeTempDir({ prefix: "d2d_reliability_" }).then((d) => {
      globalThis.addEventListener("unload", () => {
        try {
          Deno.removeSync(d, { recursive: true });
        } catch { /* gone */ }
      });
      return d;
    });
    p = tmp.then(async (d) => {
      const out = join(d, `${name}.d2d`);
      await convert(fixture(name), {
        out,
        expertSize: 16,
        calibTokens: 600,
        routerEpochs: 3,
        backend: "cpu",
        taus: [0, 0.25, 0.5, 1],
      });
      return out;
    });
    converted.set(name, p);
  }
  return p;
}

/**
 * Opens a named model or a folder.
 * @param name One of {@link NAMED_MODELS}, or a model folder.
 * @param backend Backend for folders and conversions (default cpu).
 * @returns The model (named fixtures are cached; others are the caller's to dispose).
 */
export async function openModel(name: string, backend: BackendChoice = "cpu"): Promise<Model> {
  if (name === "gpt2-d2d") return await loadModel(await convertedFixture("tiny-gpt2-relu"), { backend });
  if (name === "bert-d2d") return await loadModel(await convertedFixture("tiny-bert-relu"), { backend });
  if ((NAMED_MODELS as readonly string[]).includes(name)) return await fixtureModel(name as ModelName);
  return await loadModel(name, { backend });
}
