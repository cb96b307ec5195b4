/**
 * Admission and the device lane. Every inference request takes a slot (bounded: a full queue is a 429,
 * never memory growth) and holds it until its work has left the device; device work runs one job at a
 * time, in arrival order, and a job whose request was aborted while waiting leaves the line at once.
 * @module
 */
import { setImmediate } from "node:timers";
import { ClientClosedError, QueueFullError, RequestTimeoutError } from "./errors.ts";

interface LaneJob {
  start: () => void;
  counted: boolean;
}

/** Bounded admission plus a FIFO single-job device lane. */
export class Scheduler {
  #admitted = 0;
  #queue: LaneJob[] = [];
  #busy = false;
  #starting = false;

  /**
   * @param maxQueue Requests admitted at once (waiting or running).
   * @param retryAfterSeconds `Retry-After` of the 429.
   */
  constructor(readonly maxQueue: number, readonly retryAfterSeconds: number) {}

  /** Requests admitted and not yet finished. */
  get inFlight(): number {
    return this.#admitted;
  }

  /** Device jobs waiting for the device (batch drains excluded: their requests are counted by batchers). */
  get waiting(): number {
    return this.#queue.filter((j) => j.counted).length;
  }

  /** True while a device job runs. */
  get busy(): boolean {
    return this.#busy;
  }

  /**
   * Takes a slot.
   * @returns A release function (idempotent).
   * @throws {QueueFullError} When `maxQueue` requests are already admitted.
   */
  admit(): () => void {
    if (this.#admitted >= this.maxQueue) throw new QueueFullError(this.maxQueue, this.retryAfterSeconds);
    this.#admitted++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#admitted--;
    };
  }

  /**
   * Runs `fn` when the device is free.
   * @param fn The device work.
   * @param signal Aborting it while waiting removes the job and rejects with the signal's reason.
   * @param counted Count the job in {@link waiting} (false for batch drains).
   * @returns What `fn` returns.
   */
  run<T>(fn: () => Promise<T>, signal?: AbortSignal, counted = true): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        const i = this.#queue.indexOf(job);
        if (i >= 0) {
          this.#queue.splice(i, 1);
          reject(signal!.reason);
        }
      };
      const job: LaneJob = {
        start: () => {
          signal?.removeEventListener("abort", onAbort);
          this.#busy = true;
          let p: Promise<T>;
          try {
            p = fn();
          } catch (e) {
            p = Promise.reject(e);
          }
          p.then(resolve, reject).finally(() => {
            this.#busy = false;
            this.#next();
          });
        },
        counted,
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#queue.push(job);
      if (!this.#busy) this.#next();
    });
  }

  /**
   * Starts the next job after one turn of the event loop, so requests that arrived meanwhile are read
   * and admitted (or refused with 429) first: a backend that computes on this thread (the CPU) would
   * otherwise run every job as soon as it is queued, starving the network, and the bound never bit.
   */
  #next(): void {
    if (this.#busy || this.#starting || this.#queue.length === 0) return;
    this.#starting = true;
    setImmediate(() => {
      this.#starting = false;
      if (!this.#busy) this.#queue.shift()?.start();
    });
  }
}

/**
 * A request's time limit and the client's disconnect, as one AbortSignal whose reason is the matching
 * {@link RequestTimeoutError} or {@link ClientClosedError}. Call `clear()` when done (no timer leaks).
 */
export class Deadline {
  readonly #ctl = new AbortController();
  readonly #timer: ReturnType<typeof setTimeout>;
  readonly #unfollow: (() => void)[] = [];

  /**
   * @param ms Time limit.
   * @param client The request's own signal (aborts on disconnect), if any.
   */
  constructor(readonly ms: number, client?: AbortSignal) {
    this.#timer = setTimeout(() => this.#ctl.abort(new RequestTimeoutError(ms)), ms);
    if (client) this.follow(client);
  }

  /** Aborts when the limit passes or a followed signal aborts. */
  get signal(): AbortSignal {
    return this.#ctl.signal;
  }

  /**
   * Also aborts (as a client disconnect) when `s` aborts.
   * @param s Another signal.
   */
  follow(s: AbortSignal): void {
    const on = () => this.#ctl.abort(new ClientClosedError());
    if (s.aborted) return on();
    s.addEventListener("abort", on, { once: true });
    this.#unfollow.push(() => s.removeEventListener("abort", on));
  }

  /**
   * Settles with `p`, or rejects with the abort reason as soon as the signal aborts.
   * @param p The work.
   * @returns What `p` resolves to.
   */
  race<T>(p: Promise<T>): Promise<T> {
    const s = this.#ctl.signal;
    if (s.aborted) {
      p.catch(() => {});
      return Promise.reject(s.reason);
    }
    return new Promise<T>((resolve, reject) => {
      const on = () => reject(s.reason);
      s.addEventListener("abort", on, { once: true });
      p.then(resolve, reject).finally(() => s.removeEventListener("abort", on));
    });
  }

  /** Stops the timer and unhooks followed signals. */
  clear(): void {
    clearTimeout(this.#timer);
    for (const f of this.#unfollow.splice(0)) f();
  }
}
