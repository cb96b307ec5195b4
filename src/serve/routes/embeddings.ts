/**
 * `POST /v1/embeddings`, OpenAI-compatible: `input` (string, strings, token ids), `encoding_format`
 * (`float` | `base64`: little-endian float32 bytes), `dimensions` (only the model's own), `usage`; plus
 * the extensions `tau` / `compute_budget`, `pooling` (`mean` | `cls`), `normalize` and `truncate`.
 * Requests are batched with others of the same options.
 * @module
 */
import { Buffer } from "node:buffer";
import type { Hono } from "hono";
import { type AppEnv, type EmbedRow, inference, observeStats, type ServeContext } from "../context.ts";
import { unsupported } from "../errors.ts";
import { parseTextInputs } from "../inputs.ts";
import { report, resolveRouting } from "../routing.ts";
import { checkModelField, Fields } from "../validate.ts";
import { jsonBody, requireCapability } from "./shared.ts";

/**
 * Little-endian float32 bytes of a vector, base64-encoded (what OpenAI clients decode).
 * @param v The vector.
 * @returns Base64 text.
 */
export function float32Base64(v: Float32Array): string {
  const bytes = new Uint8Array(v.length * 4);
  const view = new DataView(bytes.buffer);
  v.forEach((x, i) => view.setFloat32(i * 4, x, true));
  return Buffer.from(bytes).toString("base64");
}

/**
 * Registers the route.
 * @param app The app.
 * @param ctx App state.
 */
export function embeddingsRoute(app: Hono<AppEnv>, ctx: ServeContext): void {
  app.post("/v1/embeddings", jsonBody(ctx), async function embeddings(c) {
    const model = ctx.model;
    const f = new Fields(c.var.body);
    checkModelField(f, model.id);
    requireCapability(model, "embed");
    const format = f.oneOf("encoding_format", ["float", "base64"]) ?? "float";
    const pooling = f.oneOf("pooling", ["mean", "cls"]) ?? "mean";
    const normalize = f.boolean("normalize") ?? true;
    const truncate = f.boolean("truncate") ?? false;
    f.string("user");
    const dims = f.number("dimensions", { min: 1, integer: true });
    const hidden = model.config.hidden;
    if (dims !== undefined && dims !== hidden) {
      throw unsupported(
        "dimensions",
        `this model's embeddings have ${hidden} dimensions and cannot be shortened`,
      );
    }
    const routing = resolveRouting(f, model.moe, ctx.options.defaultTau);
    const { rows, lengths } = parseTextInputs(f.get("input"), model, ctx.options, truncate);

    const key = JSON.stringify([routing.tau ?? null, pooling, normalize]);
    const run = async (batch: (string | number[])[]) => {
      const r = await model.embed(batch, { tau: routing.tau, pooling, normalize });
      observeStats(ctx, r.stats);
      const outputs: EmbedRow[] = r.embeddings.map((embedding, i) => ({
        embedding,
        tokens: r.token_counts[i],
      }));
      return { outputs, stats: r.stats };
    };
    const out = await inference(
      ctx,
      c.req.raw,
      (signal) => ctx.embedBatcher.submit(key, run, rows, lengths, signal),
    );
    const tokens = out.outputs.reduce((s, o) => s + o.tokens, 0);
    ctx.metrics.tokens.inc({ route: "/v1/embeddings", kind: "prompt" }, tokens);
    const d2dmoe = report(routing, out.stats, out.requests);
    return c.json({
      object: "list",
      data: out.outputs.map((o, index) => ({
        object: "embedding",
        index,
        embedding: format === "base64" ? float32Base64(o.embedding) : Array.from(o.embedding),
      })),
      model: model.id,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
      ffn_fraction: d2dmoe.ffn_fraction,
      d2dmoe,
    });
  });
}
