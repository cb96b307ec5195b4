/**
 * Dynamic batching for encoder calls (embeddings, classification). Requests with the same options (the
 * group key: τ, pooling, ...) wait up to `maxWaitMs` for company, or until their padded size reaches
 * `maxBatchTokens`; one model call then serves them all and each gets its rows back. While the device
 * is busy, arrivals keep joining the next batch, so batches grow with load.
 * @module
 */
import { InvalidInputError } from "../model/errors.ts";
import type { ComputeStats } from "../model/stats.ts";
import type { Scheduler } from "./scheduler.ts";

/** One model call over the concatenated rows of several requests. */
export type BatchRunner<I, R> = (rows: I[]) => Promise<{ outputs: R[]; stats: ComputeStats }>;

/** What one request gets back. */
export interface BatchOutcome<R> {
  /** The outputs of this request's rows, in order. */
  outputs: R[];
  /** Stats of the whole model call. */
  stats: ComputeStats;
  /** Requests served by that call. */
  requests: number;
}

interface Pending<I, R> {
  rows: I[];
  lengths: number[];
  resolve: (o: BatchOutcome<R>) => void;
  reject: (e: unknown) => void;
  unhook: () => void;
}

interface Group<I, R> {
  run: BatchRunner<I, R>;
  pending: Pending<I, R>[];
  timer: ReturnType<typeof setTimeout> | undefined;
  scheduled: boolean;
}

/** Batching limits. */
export interface BatcherOptions {
  /** Padded tokens (rows × longest row) per model call; one request larger than this runs alone. */
  maxBatchTokens: number;
  /** Longest wait for company before a batch runs. */
  maxWaitMs: number;
}

/** Collects requests into model calls on a {@link Scheduler}'s device lane. */
export class Batcher<I, R> {
  readonly #groups = new Map<string, Group<I, R>>();

  /**
   * @param scheduler Device lane to run on.
   * @param opts Batching limits.
   * @param onBatch Called per model call with the number of requests and rows it served.
   */
  constructor(
    private readonly scheduler: Scheduler,
    private readonly opts: BatcherOptions,
    private readonly onBatch: (requests: number, rows: number) => void = () => {},
  ) {}

  /** Requests waiting for a batch. */
  get pending(): number {
    let n = 0;
    for (const g of this.#groups.values()) n += g.pending.length;
    return n;
  }

  /**
   * Queues one request's rows.
   * @param key Group key: only requests with equal keys share a call.
   * @param run The model call for this group (the first request's is used for the group).
   * @param rows This request's rows.
   * @param lengths Token length of each row (for the batch budget).
   * @param signal Aborting removes the request if it is still waiting, and rejects with the reason.
   * @returns This request's outputs and the call's stats.
   */
  submit(
    key: string,
    run: BatchRunner<I, R>,
    rows: I[],
    lengths: number[],
    signal?: AbortSignal,
  ): Promise<BatchOutcome<R>> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    let g = this.#groups.get(key);
    if (!g) {
      g = { run, pending: [], timer: undefined, scheduled: false };
      this.#groups.set(key, g);
    }
    const group = g;
    return new Promise<BatchOutcome<R>>((resolve, reject) => {
      const onAbort = () => {
        const i = group.pending.indexOf(p);
        if (i >= 0) group.pending.splice(i, 1);
        if (group.pending.length === 0) this.#idle(key, group);
        reject(signal!.reason);
      };
      const p: Pending<I, R> = {
        rows,
        lengths,
        resolve,
        reject,
        unhook: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      group.pending.push(p);
      this.#schedule(key, group);
    });
  }

  /** Starts a drain now when the batch is full, else arms the wait timer. */
  #schedule(key: string, g: Group<I, R>): void {
    if (g.scheduled || g.pending.length === 0) return;
    if (this.#fits(g.pending) === g.pending.length && g.timer === undefined) {
      g.timer = setTimeout(() => {
        g.timer = undefined;
        this.#drain(key, g);
      }, this.opts.maxWaitMs);
    } else if (this.#fits(g.pending) < g.pending.length) {
      this.#drain(key, g);
    }
  }

  /** Number of leading requests whose padded size fits the budget (at least one). */
  #fits(list: Pending<I, R>[]): number {
    let maxLen = 0, rows = 0, n = 0;
    for (const p of list) {
      const ml = Math.max(maxLen, ...p.lengths);
      const r = rows + p.rows.length;
      if (n > 0 && ml * r > this.opts.maxBatchTokens) break;
      maxLen = ml;
      rows = r;
      n++;
    }
    return n;
  }

  /** Queues one device job that takes whatever is pending when the device is free. */
  #drain(key: string, g: Group<I, R>): void {
    if (g.timer !== undefined) clearTimeout(g.timer);
    g.timer = undefined;
    g.scheduled = true;
    this.scheduler.run(
      async () => {
        g.scheduled = false;
        const batch = g.pending.splice(0, this.#fits(g.pending));
        if (batch.length > 0) await this.#exec(g, batch);
        if (g.pending.length > 0) this.#schedule(key, g);
        else this.#idle(key, g);
      },
      undefined,
      false,
    ).catch(() => {}); // #exec settles every request itself
  }

  async #exec(g: Group<I, R>, batch: Pending<I, R>[]): Promise<void> {
    for (const p of batch) p.unhook(); // too late to leave: the result is computed anyway
    try {
      const rows = batch.flatMap((p) => p.rows);
      this.onBatch(batch.length, rows.length);
      const { outputs, stats } = await g.run(rows);
      let at = 0;
      for (const p of batch) {
        p.resolve({ outputs: outputs.slice(at, at + p.rows.length), stats, requests: batch.length });
        at += p.rows.length;
      }
    } catch (e) {
      // A bad input must fail only its own request: rerun the batch one request at a time.
      if (!(e instanceof InvalidInputError) || batch.length === 1) {
        for (const p of batch) p.reject(e);
        return;
      }
      for (const p of batch) await this.#exec(g, [p]);
    }
  }

  /** Forgets an empty group (and its timer), so keys cannot accumulate. */
  #idle(key: string, g: Group<I, R>): void {
    if (g.pending.length > 0 || g.scheduled) return;
    if (g.timer !== undefined) clearTimeout(g.timer);
    g.timer = undefined;
    if (this.#groups.get(key) === g) this.#groups.delete(key);
  }
}
