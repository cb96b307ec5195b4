/**
 * The HTTP server: `createApp(model, options)` (a Hono app with an OpenAI-compatible API),
 * `startServer` / `shutdownOnSignal` to run it, `ModelHost` (reloads the model after a GPU device loss),
 * and the pieces a custom deployment may reuse.
 * See `docs/server.md`.
 * @module
 */
export { createApp } from "./app.ts";
export {
  DEFAULT_OPTIONS,
  type HealthReport,
  resolveOptions,
  type ServedModel,
  type ServeOptions,
} from "./options.ts";
export {
  type FetchApp,
  type ListenOptions,
  type RunningServer,
  shutdownOnSignal,
  startServer,
} from "./server.ts";
export {
  deviceUnavailable,
  gpuLostSignal,
  type HostedModel,
  type HostState,
  ModelHost,
  type ModelHostOptions,
  type ModelLoader,
} from "./host.ts";
export { ApiError, type ErrorBody, type ErrorType, toApiError } from "./errors.ts";
export { Counter, Histogram, type Labels, Metrics } from "./metrics.ts";
export type { AppEnv } from "./context.ts";
export { tauForBudget } from "./routing.ts";
