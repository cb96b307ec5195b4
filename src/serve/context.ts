/**
 * State shared by the routes of one app (model, limits, scheduler, batchers, metrics) and the request
 * lifecycle every inference route goes through: admit (or 429), run under a deadline (or 504), release
 * the slot when the work has really left the device.
 * @module
 */
import type { ComputeStats } from "../model/stats.ts";
import type { Batcher } from "./batcher.ts";
import type { Metrics } from "./metrics.ts";
import type { ServedModel, ServeOptions } from "./options.ts";
import { Deadline, type Scheduler } from "./scheduler.ts";

/** Hono environment of the app: the parsed JSON body travels in `c.var.body`. */
export type AppEnv = { Variables: { body: Record<string, unknown> } };

/** One embedding output row. */
export interface EmbedRow {
  /** The vector. */
  embedding: Float32Array;
  /** Tokens of the input after truncation. */
  tokens: number;
}

/** One classification output row: labels with scores, best first. */
export type ClassifyRow = { label: string; score: number }[];

/** Everything the routes share. */
export interface ServeContext {
  /** The served model. */
  model: ServedModel;
  /** Resolved options. */
  options: ServeOptions;
  /** Admission and device lane. */
  scheduler: Scheduler;
  /** Embedding batcher. */
  embedBatcher: Batcher<string | number[], EmbedRow>;
  /** Classification batcher. */
  classifyBatcher: Batcher<string | number[] | number[][][], ClassifyRow>;
  /** Metrics registry. */
  metrics: Metrics;
  /** Server-side error log. */
  log: (line: string) => void;
  /** When the app was created (Unix seconds; OpenAI's `created`). */
  created: number;
}

/**
 * Runs one request's inference work: takes a queue slot (429 when full), gives the work a signal that
 * aborts on timeout or client disconnect, answers as soon as that signal aborts (504 / 499), and
 * releases the slot only when the work itself has settled.
 * @param ctx App state.
 * @param req The HTTP request (its signal reports disconnects).
 * @param work The work, given the request's abort signal.
 * @returns What the work returns.
 * @throws {ApiError} 429 when the queue is full, 504 on timeout; whatever the work throws.
 */
export function inference<T>(
  ctx: ServeContext,
  req: Request,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const release = ctx.scheduler.admit();
  const deadline = new Deadline(ctx.options.requestTimeoutMs, req.signal);
  let p: Promise<T>;
  try {
    p = work(deadline.signal);
  } catch (e) {
    p = Promise.reject(e);
  }
  p.then(release, release);
  return deadline.race(p).finally(() => deadline.clear());
}

/**
 * Records a model call's stats in the metrics.
 * @param ctx App state.
 * @param stats The call's stats.
 */
export function observeStats(ctx: ServeContext, stats: ComputeStats): void {
  ctx.metrics.observeStats(stats, ctx.model.moe?.layers.map((l) => l.experts) ?? null);
}
