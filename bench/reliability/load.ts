/**
 * A closed-loop load generator: N clients on loopback, each sending its next request as soon as the
 * previous one is answered, for a bounded time. Records status counts, latencies (p50 / p99) and
 * throughput; optionally samples the server while the load runs.
 * @module
 */

/** One request to send. */
export interface LoadRequest {
  /** Path, e.g. `/v1/completions`. */
  path: string;
  /** JSON body. */
  body: unknown;
}

/** Options of {@link runLoad}. */
export interface LoadOptions {
  /** Base URL of the server. */
  url: string;
  /** Concurrent clients. */
  clients: number;
  /** How long to keep sending (ms). */
  durationMs: number;
  /** The request client `c` sends as its `n`-th. */
  request: (client: number, n: number) => LoadRequest;
  /** Pause after a 429 before the next request (ms; default 0: hammer). */
  backoffMs?: number;
  /** Called every `sampleMs` while the load runs. */
  sample?: () => Promise<void> | void;
  /** Sampling period (default 100 ms). */
  sampleMs?: number;
  /** Longest wait for one answer (default 60 s); longer counts as an error. */
  timeoutMs?: number;
}

/** Latency percentiles in ms. */
export interface Latency {
  /** Median. */
  p50: number;
  /** 99th percentile. */
  p99: number;
  /** Largest. */
  max: number;
}

/** What a load run measured. */
export interface LoadResult {
  /** Requests answered (any status). */
  requests: number;
  /** Count per status code; `error` for network errors and timeouts. */
  statuses: Record<string, number>;
  /** Answers with status ≥ 500. */
  fiveXX: number;
  /** Network errors and timeouts. */
  errors: number;
  /** Wall time of the run (ms). */
  durationMs: number;
  /** All answers per second. */
  throughput: number;
  /** 200 answers per second. */
  okThroughput: number;
  /** Latency of 200 answers. */
  okLatency: Latency;
  /** Latency of 429 answers (how fast overload is refused). */
  rejectLatency: Latency;
  /** First few network errors. */
  errorSamples: string[];
}

/**
 * Percentiles of a list of durations.
 * @param ms Durations.
 * @returns p50, p99 and max (0 for an empty list).
 */
export function percentiles(ms: number[]): Latency {
  if (ms.length === 0) return { p50: 0, p99: 0, max: 0 };
  const s = Float64Array.from(ms).sort();
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { p50: at(0.5), p99: at(0.99), max: s[s.length - 1] };
}

/**
 * Runs the load.
 * @param o Clients, duration, requests, sampling.
 * @returns Counts, throughput and latencies.
 */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const statuses: Record<string, number> = {};
  const ok: number[] = [], rejected: number[] = [], errorSamples: string[] = [];
  let requests = 0, fiveXX = 0, errors = 0;
  const t0 = performance.now();
  const end = t0 + o.durationMs;
  const base = new URL(o.url).origin;
  const client = async (c: number) => {
    for (let n = 0; performance.now() < end; n++) {
      const { path, body } = o.request(c, n);
      const start = performance.now();
      let status: string;
      try {
        const res = await fetch(base + path, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(o.timeoutMs ?? 60_000),
        });
        await res.arrayBuffer();
        status = String(res.status);
        const ms = performance.now() - start;
        if (res.status === 200) ok.push(ms);
        if (res.status === 429) rejected.push(ms);
        if (res.status >= 500) fiveXX++;
        requests++;
        if (res.status === 429 && o.backoffMs) await new Promise((r) => setTimeout(r, o.backoffMs));
      } catch (e) {
        status = "error";
        errors++;
        if (errorSamples.length < 5) errorSamples.push((e as Error).message);
      }
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  let sampling = true;
  const sampler = (async () => {
    while (sampling && o.sample) {
      await o.sample();
      await new Promise((r) => setTimeout(r, o.sampleMs ?? 100));
    }
  })();
  await Promise.all(Array.from({ length: o.clients }, (_, c) => client(c)));
  sampling = false;
  await sampler;
  const durationMs = performance.now() - t0;
  return {
    requests,
    statuses,
    fiveXX,
    errors,
    durationMs,
    throughput: requests / (durationMs / 1000),
    okThroughput: ok.length / (durationMs / 1000),
    okLatency: percentiles(ok),
    rejectLatency: percentiles(rejected),
    errorSamples,
  };
}
