/**
 * `POST /v1/classify` (no OpenAI convention exists; the shape follows `/v1/embeddings`): `input` is
 * text / token ids for BERT classifiers or images `[channels][height][width]` for ViT; each result
 * names the best label (from the config's `id2label`) and every label's softmax score. Batched like
 * embeddings.
 * @module
 */
import type { Hono } from "hono";
import { type AppEnv, type ClassifyRow, inference, observeStats, type ServeContext } from "../context.ts";
import { parseImageInputs, parseTextInputs } from "../inputs.ts";
import { report, resolveRouting } from "../routing.ts";
import { checkModelField, Fields } from "../validate.ts";
import { jsonBody, requireCapability } from "./shared.ts";

/** One classify input row as handed to the model. */
type Row = string | number[] | number[][][];

/**
 * Registers the route.
 * @param app The app.
 * @param ctx App state.
 */
export function classifyRoute(app: Hono<AppEnv>, ctx: ServeContext): void {
  app.post("/v1/classify", jsonBody(ctx), async function classify(c) {
    const model = ctx.model;
    const f = new Fields(c.var.body);
    checkModelField(f, model.id);
    requireCapability(model, "classify");
    const truncate = f.boolean("truncate") ?? false;
    const topN = f.number("top_k", { min: 1, integer: true });
    f.string("user");
    const routing = resolveRouting(f, model.moe, ctx.options.defaultTau);
    const input = f.get("input");
    const { rows, lengths } = model.config.family === "vit"
      ? parseImageInputs(input, model, ctx.options)
      : parseTextInputs(input, model, ctx.options, truncate);

    const key = JSON.stringify([routing.tau ?? null]);
    const run = async (batch: Row[]) => {
      // A batch is all images or all text: the group's model decides which.
      const r = await model.classify(batch as (string | number[])[] | number[][][][], { tau: routing.tau });
      observeStats(ctx, r.stats);
      return { outputs: r.results as ClassifyRow[], stats: r.stats };
    };
    const out = await inference(
      ctx,
      c.req.raw,
      (signal) => ctx.classifyBatcher.submit(key, run, rows as Row[], lengths, signal),
    );
    const tokens = lengths.reduce((s, n) => s + n, 0);
    ctx.metrics.tokens.inc({ route: "/v1/classify", kind: "prompt" }, tokens);
    const d2dmoe = report(routing, out.stats, out.requests);
    return c.json({
      object: "list",
      data: out.outputs.map((scores, index) => ({
        object: "classification",
        index,
        label: scores[0].label,
        score: scores[0].score,
        scores: topN === undefined ? scores : scores.slice(0, topN),
      })),
      model: model.id,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
      ffn_fraction: d2dmoe.ffn_fraction,
      d2dmoe,
    });
  });
}
