/**
 * The app's small named middleware and fallbacks: request metrics, 404 / 405 in OpenAI's error shape.
 * @module
 */
import type { Context, MiddlewareHandler, NotFoundHandler } from "hono";
import { routePath } from "hono/route";
import type { AppEnv } from "./context.ts";
import { ApiError } from "./errors.ts";
import type { Metrics } from "./metrics.ts";

/**
 * Counts requests by route pattern / method / status and observes latency to response headers.
 * Unmatched paths share one `route="unmatched"` label, so no request can add label values.
 * @param metrics Registry.
 * @returns The middleware.
 */
export function recordMetrics(metrics: Metrics): MiddlewareHandler<AppEnv> {
  return async function recordMetrics(c, next) {
    const t0 = performance.now();
    try {
      await next();
    } finally {
      // The route of the handler that answered; only middleware ("/*") matched an unknown path.
      const path = routePath(c);
      const route = path === "/*" || path === "*" ? "unmatched" : path;
      const method = ["GET", "POST", "HEAD", "OPTIONS"].includes(c.req.method) ? c.req.method : "OTHER";
      metrics.requests.inc({ route, method, status: String(c.res.status) });
      metrics.latency.observe({ route }, (performance.now() - t0) / 1000);
    }
  };
}

/**
 * 404 for unknown paths, in OpenAI's shape (`Invalid URL (METHOD /path)`).
 * @param c Context.
 * @returns The response.
 */
export const notFound: NotFoundHandler<AppEnv> = function notFound(c) {
  const e = new ApiError(
    404,
    "invalid_request_error",
    `Invalid URL (${c.req.method} ${c.req.path.slice(0, 200)})`,
    null,
    "not_found",
  );
  return c.json(e.body, 404);
};

/**
 * A handler answering 405 with `Allow`, for a known path used with the wrong method.
 * @param allow The method the path takes.
 * @returns The handler.
 */
export function methodNotAllowed(allow: string): (c: Context<AppEnv>) => Response {
  return function methodNotAllowed(c) {
    const e = new ApiError(
      405,
      "invalid_request_error",
      `Method ${c.req.method} is not allowed on ${c.req.path}; use ${allow}`,
      null,
      "method_not_allowed",
      { Allow: allow },
    );
    return c.json(e.body, 405, e.headers);
  };
}
