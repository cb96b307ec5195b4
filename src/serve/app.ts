/**
 * `createApp(model, options)`: the Hono app serving one model over an OpenAI-compatible HTTP API. Serve
 * it with `Deno.serve(app.fetch)`, export it from a `deno serve` module, or mount it in your own Hono
 * app with `app.route("/prefix", createApp(model))`.
 * @module
 */
import { Hono } from "hono";
import { cors } from "hono/cors";
import { Batcher } from "./batcher.ts";
import type { AppEnv, ClassifyRow, EmbedRow, ServeContext } from "./context.ts";
import { toApiError } from "./errors.ts";
import { Metrics } from "./metrics.ts";
import { methodNotAllowed, notFound, recordMetrics } from "./middleware.ts";
import { resolveOptions, type ServedModel, type ServeOptions } from "./options.ts";
import { classifyRoute } from "./routes/classify.ts";
import { completionsRoute } from "./routes/completions.ts";
import { embeddingsRoute } from "./routes/embeddings.ts";
import { metaRoutes, ROUTES } from "./routes/meta.ts";
import { Scheduler } from "./scheduler.ts";

/**
 * Builds the HTTP app for a loaded model.
 * @param model The model to serve (a `Model` from `loadModel`, or anything with its serving surface).
 *   The app never loads or swaps models: no request can choose what gets loaded.
 * @param options Limits, batching and hooks; every field has a default.
 * @returns The Hono app.
 * @throws {RangeError} When an option is out of range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadModel } from "../model/load.ts";
 * import { createApp } from "./app.ts";
 *
 * using model = await loadModel("./tests/fixtures/hf-tiny/tiny-bert-relu", { backend: "cpu" });
 * const app = createApp(model, { maxWaitMs: 0 });
 * const res = await app.request("/v1/embeddings", {
 *   method: "POST",
 *   body: JSON.stringify({ input: [[2, 10, 11, 3]] }),
 * });
 * assert.equal(res.status, 200);
 * assert.equal((await res.json()).data[0].embedding.length, 64);
 * ```
 */
export function createApp(model: ServedModel, options: Partial<ServeOptions> = {}): Hono<AppEnv> {
  const opts = resolveOptions(options);
  const metrics = opts.metrics ?? new Metrics();
  const scheduler = new Scheduler(opts.maxQueue, opts.retryAfterSeconds);
  const batch = { maxBatchTokens: opts.maxBatchTokens, maxWaitMs: opts.maxWaitMs };
  const onBatch = (route: string) => (requests: number) => metrics.batchSize.observe({ route }, requests);
  const ctx: ServeContext = {
    model,
    options: opts,
    scheduler,
    embedBatcher: new Batcher<string | number[], EmbedRow>(scheduler, batch, onBatch("/v1/embeddings")),
    classifyBatcher: new Batcher<string | number[] | number[][][], ClassifyRow>(
      scheduler,
      batch,
      onBatch("/v1/classify"),
    ),
    metrics,
    log: opts.log ?? ((line) => console.error(line)),
    created: Math.floor(Date.now() / 1000),
  };
  metrics.gauge(
    "d2d_queue_depth",
    "Requests waiting for the device (for a batch or for their turn).",
    () => scheduler.waiting + ctx.embedBatcher.pending + ctx.classifyBatcher.pending,
  );
  metrics.gauge(
    "d2d_requests_in_flight",
    "Inference requests admitted (waiting or running).",
    () => scheduler.inFlight,
  );
  metrics.gauge("d2d_queue_limit", "Admission bound (--max-queue).", () => opts.maxQueue);
  metrics.gauge("d2d_model_info", "The served model (value is always 1).", () => [{
    labels: {
      model: model.id,
      family: model.config.family,
      device: model.device.kind,
      provider: model.device.provider,
    },
    value: 1,
  }]);

  const app = new Hono<AppEnv>();
  app.use("*", recordMetrics(metrics));
  if (opts.cors !== undefined) app.use("*", cors({ origin: opts.cors }));
  metaRoutes(app, ctx);
  embeddingsRoute(app, ctx);
  completionsRoute(app, ctx);
  classifyRoute(app, ctx);
  for (const r of ROUTES) app.all(r.path, methodNotAllowed(r.method));
  app.notFound(notFound);
  app.onError(function onError(e, c) {
    const err = toApiError(e, ctx.log);
    return c.json(err.body, err.status as 400, err.headers);
  });
  return app;
}
