/**
 * The HTTP fuzzer: sends seeded hostile requests ({@link generateCases}) to a server on loopback, through
 * `fetch` and raw TCP, and checks every answer: never a 5xx, every error in OpenAI's JSON shape, no hang;
 * then `/health` must still be 200 and no request may be left in flight. Used by
 * `tests/serve/fuzz_test.ts` (a few hundred cases) and `deno task fuzz` (thousands).
 * @module
 */
import { type FetchCase, type FuzzCase, generateCases, type TcpCase } from "./http_cases.ts";

/** What one case got back. */
export interface CaseResult {
  /** The case's kind. */
  kind: string;
  /** HTTP status codes seen (several for pipelined TCP requests; none when the server closed). */
  statuses: number[];
  /** `response`, `closed` (no HTTP answer: the server dropped a broken request), `timeout` or `error`. */
  outcome: "response" | "closed" | "timeout" | "error";
  /** Why this case counts as a failure, if it does. */
  problem?: string;
}

/** Options of {@link runHttpFuzz}. */
export interface FuzzOptions {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** PRNG seed. */
  seed: number;
  /** Number of cases. */
  cases: number;
  /** The server's `maxBodyBytes` (oversized bodies are built around it). */
  maxBodyBytes: number;
  /** Requests at once (default 8). */
  concurrency?: number;
  /** Longest wait for one answer (default 10 s); longer counts as a hang. */
  timeoutMs?: number;
  /** Share of raw TCP cases (default 0.25). */
  tcpShare?: number;
}

/** What a fuzz run found. */
export interface FuzzSummary {
  /** Seed used. */
  seed: number;
  /** Cases sent. */
  cases: number;
  /** Wall time in ms. */
  durationMs: number;
  /** Cases per transport. */
  transports: { fetch: number; tcp: number };
  /** Count per status code (or `closed` / `timeout` / `error`). */
  statuses: Record<string, number>;
  /** Cases per kind. */
  kinds: Record<string, number>;
  /** Answers with a 5xx status. */
  fiveXX: number;
  /** Failures (5xx, malformed errors, hangs), first 50. */
  problems: { kind: string; problem: string }[];
  /** Number of failures. */
  problemCount: number;
  /** `/health` status after the run. */
  healthAfter: number;
  /** `d2d_requests_in_flight` after the run (0 expected). */
  inFlightAfter: number | null;
}

function describe(c: FuzzCase): string {
  if (c.transport === "tcp") {
    const text = new TextDecoder().decode(c.bytes.subarray(0, 80));
    return `tcp ${JSON.stringify(text)}${c.bytes.length > 80 ? `… (${c.bytes.length} bytes)` : ""}`;
  }
  const body = c.body ? new TextDecoder().decode(c.body.subarray(0, 80)) : "";
  return `${c.method} ${c.path.slice(0, 80)} ${JSON.stringify(body)}${(c.body?.length ?? 0) > 80 ? "…" : ""}`;
}

/** True when `text` is `{"error": {"message", "type", "param", "code"}}`. */
function isErrorShape(text: string): boolean {
  try {
    const e = JSON.parse(text)?.error;
    return typeof e?.message === "string" && typeof e?.type === "string" && "param" in e && "code" in e;
  } catch {
    return false;
  }
}

/**
 * Sends one case through `fetch` and checks the answer.
 * @param base Base URL.
 * @param c The case.
 * @param timeoutMs Longest wait.
 * @returns The result.
 */
export async function sendFetch(base: string, c: FetchCase, timeoutMs: number): Promise<CaseResult> {
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(base + c.path, {
      method: c.method,
      headers: c.headers,
      body: c.body as BodyInit | null,
      signal,
    });
  } catch (e) {
    if (signal.aborted) {
      return { kind: c.kind, statuses: [], outcome: "timeout", problem: "no answer (hang)" };
    }
    // An upload the server refused early (413 before the body was read) may reset the connection.
    const refused = (c.body?.length ?? 0) > 0 && c.kind === "body-size";
    return {
      kind: c.kind,
      statuses: [],
      outcome: "error",
      ...(refused ? {} : { problem: `fetch failed: ${(e as Error).message}` }),
    };
  }
  let text: string;
  try {
    text = await res.text();
  } catch (e) {
    const problem = signal.aborted ? "body never finished (hang)" : `body failed: ${(e as Error).message}`;
    return { kind: c.kind, statuses: [res.status], outcome: "timeout", problem };
  }
  const r: CaseResult = { kind: c.kind, statuses: [res.status], outcome: "response" };
  if (res.status >= 500) r.problem = `${res.status}: ${text.slice(0, 200)}`;
  else if (res.status >= 400 && c.method !== "HEAD" && !isErrorShape(text)) {
    r.problem = `${res.status} without OpenAI's error shape: ${text.slice(0, 200)}`;
  }
  return r;
}

/**
 * Writes one case's bytes to a fresh TCP connection and reads whatever comes back.
 * @param hostname Server host.
 * @param port Server port.
 * @param c The case.
 * @param timeoutMs Longest wait for the server to answer or close.
 * @returns The result (statuses parsed from every response line seen).
 */
export async function sendTcp(
  hostname: string,
  port: number,
  c: TcpCase,
  timeoutMs: number,
): Promise<CaseResult> {
  const conn = await Deno.connect({ hostname, port });
  const chunks: Uint8Array[] = [];
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* closed */ }
  }, timeoutMs);
  try {
    const writing = (async () => {
      try {
        for (let at = 0; at < c.bytes.length;) at += await conn.write(c.bytes.subarray(at));
        await conn.closeWrite();
      } catch { /* the server may close first (e.g. 431 on huge headers) */ }
    })();
    const buf = new Uint8Array(64 * 1024);
    let total = 0;
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch {
        break; // reset, or closed by the timer
      }
      if (n === null) break;
      if (total < 1 << 20) chunks.push(buf.slice(0, n));
      total += n;
    }
    await writing;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
  const text = new TextDecoder("latin1").decode(concat(chunks));
  const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
  const outcome = statuses.length ? "response" : timedOut ? "timeout" : "closed";
  const r: CaseResult = { kind: c.kind, statuses, outcome };
  const bad = statuses.find((s) => s >= 500);
  if (bad !== undefined) r.problem = `${bad}: ${text.slice(0, 300)}`;
  return r;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Runs the fuzzer against a server.
 * @param o Where, how many, seed and limits.
 * @returns The summary (check `problemCount`, `fiveXX`, `healthAfter`, `inFlightAfter`).
 */
export async function runHttpFuzz(o: FuzzOptions): Promise<FuzzSummary> {
  const url = new URL(o.url);
  const base = url.origin;
  const timeoutMs = o.timeoutMs ?? 10_000;
  const cases = generateCases(o.seed, o.cases, { maxBodyBytes: o.maxBodyBytes, tcpShare: o.tcpShare });
  const s: FuzzSummary = {
    seed: o.seed,
    cases: 0,
    durationMs: 0,
    transports: { fetch: 0, tcp: 0 },
    statuses: {},
    kinds: {},
    fiveXX: 0,
    problems: [],
    problemCount: 0,
    healthAfter: 0,
    inFlightAfter: null,
  };
  const t0 = performance.now();
  const worker = async () => {
    for (const c of cases) {
      const r = c.transport === "tcp"
        ? await sendTcp(url.hostname, Number(url.port), c, Math.min(timeoutMs, 3000))
        : await sendFetch(base, c, timeoutMs);
      s.cases++;
      s.transports[c.transport]++;
      s.kinds[c.kind] = (s.kinds[c.kind] ?? 0) + 1;
      const keys = r.statuses.length ? r.statuses.map(String) : [r.outcome];
      for (const k of keys) s.statuses[k] = (s.statuses[k] ?? 0) + 1;
      s.fiveXX += r.statuses.filter((x) => x >= 500).length;
      if (r.problem) {
        s.problemCount++;
        if (s.problems.length < 50) {
          s.problems.push({ kind: r.kind, problem: `${r.problem} ← ${describe(c)}` });
        }
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 8 }, worker));
  s.durationMs = performance.now() - t0;
  const health = await fetch(`${base}/health`, { signal: AbortSignal.timeout(timeoutMs) });
  s.healthAfter = health.status;
  await health.body?.cancel();
  // Requests cut off by the client leave the queue as soon as their work stops; give them a moment.
  for (let i = 0; i < 50; i++) {
    const m = await (await fetch(`${base}/metrics`)).text();
    const v = m.match(/^d2d_requests_in_flight (\S+)$/m);
    s.inFlightAfter = v ? Number(v[1]) : null;
    if (!s.inFlightAfter) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return s;
}

/**
 * A readable summary.
 * @param name What was fuzzed (e.g. the model id).
 * @param s The summary.
 * @returns Lines of text.
 */
export function formatSummary(name: string, s: FuzzSummary): string {
  const statuses = Object.entries(s.statuses).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) =>
    `${k}×${v}`
  );
  return [
    `${name}: ${s.cases} cases (fetch ${s.transports.fetch}, tcp ${s.transports.tcp}) in ${
      (s.durationMs / 1000).toFixed(1)
    } s, seed ${s.seed}`,
    `  statuses: ${statuses.join(" ")}`,
    `  5xx: ${s.fiveXX}; failures: ${s.problemCount}; /health after: ${s.healthAfter}; in flight after: ${s.inFlightAfter}`,
    ...s.problems.slice(0, 10).map((p) => `  ✗ [${p.kind}] ${p.problem}`),
  ].join("\n");
}
