/**
 * GPT-2 greedy decode at batch 1 (`gpt2_decode`): a random-weight GPT2LMHeadModel at real shapes,
 * `model.generate()` (KV cache, one submit and one readback per token) of a fixed number of new tokens
 * after a short prompt, dense and D2DMoE at forced executed fractions. Time per generate call and new
 * tokens per second.
 * @module
 */
import { join } from "node:path";
import { loadModel } from "../../src/model/load.ts";
import "../../src/moe/load_converted.ts";
import type { Model } from "../../src/model/model.ts";
import type { Backend } from "../../src/ops/backend.ts";
import { Rng } from "../../src/util/rng.ts";
import type { RowMeta, RunContext, Variant } from "../context.ts";
import { randomIds } from "../random.ts";
import { gpt2Config, gpt2Tensors, writeConvertedFolder, writeDenseFolder } from "../random_models.ts";
import { topKFor } from "../shapes.ts";

const round = (x: number) => Number(x.toPrecision(4));

interface Gpt2Run {
  model: Model;
  dispose(): void;
}

async function gpt2Run(be: Backend, dir: string): Promise<Gpt2Run> {
  const model = await loadModel(dir, { backend: be, tokenizer: false });
  return { model, dispose: () => model.dispose() };
}

/**
 * Runs the GPT-2 decode case.
 * @param cx Run context.
 */
export async function gpt2Case(cx: RunContext): Promise<void> {
  const s = cx.shapes.gpt2;
  const rng = new Rng(cx.options.seed);
  cx.log(
    `  gpt2_decode: writing random GPT-2 (${s.layers}×${s.hidden}, vocab ${s.vocab}) and its D2DMoE version`,
  );
  const tensors = gpt2Tensors(s, rng);
  const tmp = await Deno.makeTempDir({ prefix: "d2d-bench-gpt2-" });
  try {
    const denseDir = join(tmp, "dense"), moeDir = join(tmp, "d2dmoe");
    await writeDenseFolder(denseDir, gpt2Config(s), tensors);
    await writeConvertedFolder(moeDir, denseDir, "gpt2", s, tensors, rng);
    const prompt = Array.from(randomIds(s.prompt, s.vocab - 1, rng));
    const N = s.newTokens;
    const shape = {
      batch: 1,
      prompt: s.prompt,
      new_tokens: N,
      layers: s.layers,
      hidden: s.hidden,
      d_ff: s.ffn,
      act: s.act,
    };
    const plan = { warmup: 1, minBatchMs: 0, repeats: cx.options.quick ? 3 : 5 };
    const derive = (ms: number) => ({ tokens_per_s: round(N / (ms / 1000)), ms_per_token: round(ms / N) });
    const gen = (m: Model, k?: number) =>
      m.generate(prompt, { maxTokens: N, greedy: true, eosTokenId: null, ...(k ? { moeTopK: k } : {}) });
    let denseTokens: number[] | null = null;

    await cx.group((be) => gpt2Run(be, denseDir), [{
      meta: { case: "gpt2_decode", impl: "ours", model: "dense", ffn_fraction: 1, ...shape },
      step: (r) => async () => void (await gen(r.model)),
      after: async (r) => {
        denseTokens = (await gen(r.model)).token_ids;
        return {};
      },
      derive,
      plan,
      profileIters: 1,
    }]);

    const { experts: E, size } = s.moe;
    const variants: Variant<Gpt2Run>[] = cx.shapes.fractions.map((f) => {
      const k = topKFor(f, E);
      const meta: RowMeta = {
        case: "gpt2_decode",
        impl: "ours",
        model: `d2dmoe-${E}x${size}`,
        ffn_fraction: round(k / E),
        ffn_fraction_nominal: f,
        top_k: k,
        experts: E,
        expert_size: size,
        ...shape,
      };
      return {
        meta,
        step: (r) => async () => void (await gen(r.model, k)),
        after: async (r) => {
          const res = await gen(r.model, k);
          const out: Record<string, number> = { ffn_fraction_measured: round(res.stats.ffn_fraction) };
          if (k === E && denseTokens) {
            out.tokens_match_dense = round(res.token_ids.filter((t, i) => t === denseTokens![i]).length / N);
          }
          return out;
        },
        derive,
        plan,
        profileIters: 1,
      };
    });
    await cx.group((be) => gpt2Run(be, moeDir), variants);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
