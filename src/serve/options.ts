/**
 * What the server serves (a {@link ServedModel}) and how ({@link ServeOptions}: limits, batching,
 * hooks), with the defaults and their validation.
 * @module
 */
import type { Model } from "../model/model.ts";
import type { Metrics } from "./metrics.ts";

/**
 * The part of `Model` the server uses. A `Model` is one; tests and issue-7 style wrappers (a model
 * that can be reloaded after device loss) can provide their own.
 */
export type ServedModel = Pick<
  Model,
  "id" | "config" | "tokenizer" | "capabilities" | "device" | "moe" | "embed" | "classify" | "generate"
>;

/** What a health check reports. */
export interface HealthReport {
  /** True when the model is loaded and the device usable (HTTP 200), else 503. */
  ok: boolean;
  /** Short state word, e.g. `"ok"`, `"loading"`, `"device_lost"`. */
  status?: string;
  /** Detail for people. */
  message?: string;
  /** Extra fields for the JSON body (e.g. `recoveries`, `last_recovery_ms`). */
  detail?: Record<string, unknown>;
}

/** Limits, batching and hooks of the HTTP app. Every field has a default ({@link DEFAULT_OPTIONS}). */
export interface ServeOptions {
  /** Largest request body in bytes; larger → 413 before anything is parsed. */
  maxBodyBytes: number;
  /** Deepest JSON nesting accepted in a body; deeper → 400. */
  maxJsonDepth: number;
  /** Padded tokens (rows × longest row) per embedding / classification model call. */
  maxBatchTokens: number;
  /** How long a lone embedding / classification request waits for company before it runs alone. */
  maxWaitMs: number;
  /** Inference requests admitted at once (waiting or running); one more → 429 with `Retry-After`. */
  maxQueue: number;
  /** Per-request limit from admission to the last byte of work; past it → 504. */
  requestTimeoutMs: number;
  /** Input tokens summed over one request (all inputs / prompts); more → 400 naming the limit. */
  maxTokensPerRequest: number;
  /** Entries in one embeddings / classify `input` array. */
  maxInputs: number;
  /** Largest `max_tokens` of a completion. */
  maxCompletionTokens: number;
  /** Choices per completion request (prompts × n). */
  maxChoices: number;
  /** Seconds put in `Retry-After` on 429. */
  retryAfterSeconds: number;
  /** τ for requests that give neither `tau` nor `compute_budget` (default: the model's `defaultTau`). */
  defaultTau?: number;
  /** Health probe behind `GET /health` (default: always ok); e.g. `() => host.health()` of a `ModelHost`. */
  health?: () => HealthReport | Promise<HealthReport>;
  /** Allowed CORS origin(s) for browser clients; unset = no CORS headers. */
  cors?: string | string[];
  /** Metrics registry to record into (default: a new one, exposed at `/metrics`). */
  metrics?: Metrics;
  /** Receives server-side error lines (5xx details); default `console.error`. */
  log?: (line: string) => void;
}

/** Defaults of {@link ServeOptions}. */
export const DEFAULT_OPTIONS: Readonly<
  Omit<ServeOptions, "defaultTau" | "health" | "cors" | "metrics" | "log">
> = {
  maxBodyBytes: 4 * 1024 * 1024,
  maxJsonDepth: 32,
  maxBatchTokens: 8192,
  maxWaitMs: 5,
  maxQueue: 64,
  requestTimeoutMs: 60_000,
  maxTokensPerRequest: 16384,
  maxInputs: 2048,
  maxCompletionTokens: 1024,
  maxChoices: 16,
  retryAfterSeconds: 1,
};

const POSITIVE_INTS = [
  "maxBodyBytes",
  "maxJsonDepth",
  "maxBatchTokens",
  "maxQueue",
  "requestTimeoutMs",
  "maxTokensPerRequest",
  "maxInputs",
  "maxCompletionTokens",
  "maxChoices",
] as const;

/**
 * Fills defaults and checks values.
 * @param options Partial options.
 * @returns Complete options.
 * @throws {RangeError} When a limit is not a positive integer, `maxWaitMs` / `retryAfterSeconds` is
 *   negative, or `defaultTau` is outside [0, 1].
 */
export function resolveOptions(options: Partial<ServeOptions> = {}): ServeOptions {
  const o: ServeOptions = { ...DEFAULT_OPTIONS, ...stripUndefined(options) };
  for (const k of POSITIVE_INTS) {
    if (!Number.isSafeInteger(o[k]) || o[k] < 1) {
      throw new RangeError(`serve option ${k} must be a positive integer, got ${o[k]}`);
    }
  }
  for (const k of ["maxWaitMs", "retryAfterSeconds"] as const) {
    if (!Number.isFinite(o[k]) || o[k] < 0) {
      throw new RangeError(`serve option ${k} must be a non-negative number, got ${o[k]}`);
    }
  }
  if (o.defaultTau !== undefined && !(o.defaultTau >= 0 && o.defaultTau <= 1)) {
    throw new RangeError(`serve option defaultTau must be in [0, 1], got ${o.defaultTau}`);
  }
  return o;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
