/**
 * Read-only routes: `GET /` (an index for browsers), `GET /health`, `GET /v1/models`,
 * `GET /v1/models/:id`, `GET /info` and `GET /metrics`.
 * @module
 */
import type { Hono } from "hono";
import type { AppEnv, ServeContext } from "../context.ts";
import { ApiError, toApiError } from "../errors.ts";
import type { HealthReport } from "../options.ts";
import { CAPABILITY_ROUTES } from "./shared.ts";

/** Every route the app serves, with its method (for the index and 405 answers). */
export const ROUTES: readonly { method: "GET" | "POST"; path: string }[] = [
  { method: "GET", path: "/" },
  { method: "GET", path: "/health" },
  { method: "GET", path: "/info" },
  { method: "GET", path: "/metrics" },
  { method: "GET", path: "/v1/models" },
  { method: "GET", path: "/v1/models/:id" },
  { method: "POST", path: "/v1/embeddings" },
  { method: "POST", path: "/v1/completions" },
  { method: "POST", path: "/v1/classify" },
];

/**
 * The `/info` document: model, architecture, conversion, device and limits.
 * @param ctx App state.
 * @returns JSON-ready object.
 */
export function infoOf(ctx: ServeContext) {
  const m = ctx.model;
  const cfg = m.config as typeof m.config & {
    task?: string;
    labels?: string[];
    vocabSize?: number;
    maxPositions?: number;
    imageSize?: number;
    patchSize?: number;
  };
  const moe = m.moe;
  const o = ctx.options;
  return {
    model: m.id,
    family: cfg.family,
    architecture: cfg.architectures[0] ?? cfg.family,
    task: cfg.task ?? "base",
    capabilities: m.capabilities,
    routes: ROUTES.filter((r) => {
      const cap = (Object.keys(CAPABILITY_ROUTES) as (keyof typeof CAPABILITY_ROUTES)[])
        .find((k) => CAPABILITY_ROUTES[k] === r.path);
      return !cap || m.capabilities[cap];
    }).map((r) => `${r.method} ${r.path}`),
    hidden_size: cfg.hidden,
    layers: cfg.layers,
    heads: cfg.heads,
    ffn_size: cfg.ffn,
    activation: cfg.activation,
    ...(cfg.vocabSize !== undefined ? { vocab_size: cfg.vocabSize } : {}),
    ...(cfg.maxPositions !== undefined ? { max_positions: cfg.maxPositions } : {}),
    ...(cfg.imageSize !== undefined ? { image_size: cfg.imageSize, patch_size: cfg.patchSize } : {}),
    ...(cfg.labels?.length ? { labels: cfg.labels } : {}),
    tokenizer: m.tokenizer ? m.tokenizer.kind : null,
    converted: moe !== null,
    experts_per_layer: moe ? moe.layers.map((l) => l.experts) : null,
    expert_size: moe ? moe.layers.map((l) => l.expertSize) : null,
    router_width: moe?.routerWidth ?? null,
    default_tau: moe ? (o.defaultTau ?? moe.defaultTau) : null,
    calibration: moe?.calibration ?? null,
    device: {
      kind: m.device.kind,
      provider: m.device.provider,
      description: m.device.description,
      fallback: m.device.fallback,
      fallback_from: m.device.fallbackFrom,
    },
    limits: {
      max_body_bytes: o.maxBodyBytes,
      max_batch_tokens: o.maxBatchTokens,
      max_wait_ms: o.maxWaitMs,
      max_queue: o.maxQueue,
      request_timeout_ms: o.requestTimeoutMs,
      max_request_tokens: o.maxTokensPerRequest,
      max_inputs: o.maxInputs,
      max_completion_tokens: o.maxCompletionTokens,
      max_choices: o.maxChoices,
    },
  };
}

/**
 * Registers the routes.
 * @param app The app.
 * @param ctx App state.
 */
export function metaRoutes(app: Hono<AppEnv>, ctx: ServeContext): void {
  const modelObject = () => ({ id: ctx.model.id, object: "model", created: ctx.created, owned_by: "d2dmoe" });

  app.get("/", function index(c) {
    return c.json({
      name: "d2dmoe",
      model: ctx.model.id,
      routes: infoOf(ctx).routes,
      docs: "docs/server.md",
    });
  });

  app.get("/health", async function health(c) {
    let h: HealthReport;
    try {
      h = ctx.options.health ? await ctx.options.health() : { ok: true };
    } catch (e) {
      h = { ok: false, status: "error", message: toApiError(e, ctx.log).message };
    }
    if (h.ok) {
      return c.json({
        status: h.status ?? "ok",
        model: ctx.model.id,
        device: ctx.model.device.kind,
        ...h.detail,
      });
    }
    const message = h.message ?? "the model or its device is not usable";
    return c.json(
      {
        status: h.status ?? "unavailable",
        ...h.detail,
        error: { message, type: "server_error", param: null, code: h.status ?? "unavailable" },
      },
      503,
      { "Retry-After": "1" },
    );
  });

  app.get("/v1/models", function models(c) {
    return c.json({ object: "list", data: [modelObject()] });
  });

  app.get("/v1/models/:id", function model(c) {
    const id = c.req.param("id");
    if (id !== ctx.model.id && id !== "default") {
      throw new ApiError(
        404,
        "invalid_request_error",
        `The model '${id.slice(0, 200)}' does not exist; this server serves '${ctx.model.id}'`,
        "model",
        "model_not_found",
      );
    }
    return c.json(modelObject());
  });

  app.get("/info", function info(c) {
    return c.json(infoOf(ctx));
  });

  app.get("/metrics", function metrics(c) {
    return c.body(ctx.metrics.render(), 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
  });
}
