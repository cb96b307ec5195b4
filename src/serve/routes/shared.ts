/**
 * Pieces every inference route uses: the capability check, the JSON-body middleware, and the
 * `usage` / extension fields of responses.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { readJsonObject } from "../body.ts";
import type { AppEnv, ServeContext } from "../context.ts";
import { badRequest } from "../errors.ts";
import type { ServedModel } from "../options.ts";

/** Inference routes and the capability each needs. */
export const CAPABILITY_ROUTES = {
  embed: "/v1/embeddings",
  classify: "/v1/classify",
  generate: "/v1/completions",
} as const;

/**
 * Refuses a route the model cannot serve, naming the routes it can.
 * @param model The served model.
 * @param cap The capability the route needs.
 * @throws {ApiError} 400 `unsupported_model_operation`.
 */
export function requireCapability(model: ServedModel, cap: keyof typeof CAPABILITY_ROUTES): void {
  const caps = model.capabilities;
  if (caps[cap]) return;
  const served = (Object.keys(CAPABILITY_ROUTES) as (keyof typeof CAPABILITY_ROUTES)[])
    .filter((k) => caps[k]).map((k) => CAPABILITY_ROUTES[k]);
  const what = { embed: "produce embeddings", classify: "classify", generate: "generate text" }[cap];
  throw badRequest(
    "model",
    `model '${model.id}' (${model.config.family}) does not ${what}; it serves ${
      served.join(", ") || "no inference route"
    }`,
    "unsupported_model_operation",
  );
}

/**
 * Middleware that reads the body as a JSON object within the size and depth limits into `c.var.body`.
 * @param ctx App state (limits).
 * @returns The middleware.
 */
export function jsonBody(ctx: ServeContext): MiddlewareHandler<AppEnv> {
  return async function jsonBody(c, next) {
    c.set("body", await readJsonObject(c.req.raw, ctx.options.maxBodyBytes, ctx.options.maxJsonDepth));
    await next();
  };
}

/**
 * OpenAI's id of a completion.
 * @param prefix e.g. `"cmpl"`.
 * @returns A fresh id.
 */
export function newId(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().replaceAll("-", "")}`;
}
