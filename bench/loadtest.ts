/**
 * `deno task loadtest`: starts the server as a subprocess on loopback (a fixture on the CPU by default),
 * runs N closed-loop clients for a bounded time, and reports throughput, p50 / p99 latency, status
 * counts, the most requests ever in flight, and the server's memory before, at its peak during, and
 * after the load (heap after a full GC, and RSS). With more clients than `--max-queue` the server must
 * answer 429 rather than queue without bound, and its heap must return to its level afterwards.
 *
 *     deno task loadtest [--model gpt2] [--clients 64] [--duration 10] [--max-queue 8] [--json]
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { type LoadRequest, type LoadResult, runLoad } from "./reliability/load.ts";

const HELP = `deno task loadtest [options]

  --model M          gpt2 | bert | gpt2-text | bert-text | vit | gpt2-d2d | bert-d2d, or a model folder
                     (default gpt2)
  --backend B        cpu (default) | auto | gpu | dawn | webgpu
  --clients N        concurrent clients (default 64)
  --duration S       seconds of load (default 10)
  --route R          auto | completions | embeddings | classify (default auto: what the model serves)
  --max-queue N      the server's admission bound (default 8; fewer than --clients shows 429s)
  --max-tokens N     completion length (default 8)
  --backoff-ms MS    client pause after a 429 (default 0)
  --settle S         seconds to wait after the load before measuring memory (default 2)
  --rounds N         repeat the load N times, measuring memory after each (default 1): a plateau, not growth
  --json             one JSON object on stdout`;

const CHILD = fileURLToPath(new URL("./reliability/server_child.ts", import.meta.url));
const MiB = 1024 * 1024;

type Mem = { rss: number; heapUsed: number; heapTotal: number; external: number };

/** The server subprocess: its URL, and memory readings over its stdin / stdout. */
class Child {
  readonly #proc: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;
  #stderr = "";
  readonly #stderrDone: Promise<void>;

  constructor(args: string[]) {
    const proc = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--v8-flags=--expose-gc", CHILD, ...args],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#proc = proc;
    this.#writer = proc.stdin.getWriter();
    this.#lines = lineIterator(proc.stdout);
    this.#stderrDone = (async () => {
      for await (const t of proc.stderr.pipeThrough(new TextDecoderStream())) this.#stderr += t;
    })();
  }

  get pid(): number {
    return this.#proc.pid;
  }

  get stderr(): string {
    return this.#stderr;
  }

  async line(): Promise<string> {
    const r = await this.#lines.next();
    if (r.done) throw new Error(`the server exited:\n${this.#stderr}`);
    return r.value;
  }

  async mem(gc: boolean): Promise<Mem> {
    await this.#writer.write(new TextEncoder().encode(gc ? "mem\n" : "mem nogc\n"));
    return JSON.parse(await this.line()).mem;
  }

  async close(): Promise<number> {
    await this.#writer.close();
    const { code } = await this.#proc.status;
    await this.#stderrDone;
    return code;
  }
}

async function* lineIterator(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
}

/** Peak resident set of a Linux process (VmHWM), or null elsewhere. */
async function peakRss(pid: number): Promise<number | null> {
  try {
    const m = (await Deno.readTextFile(`/proc/${pid}/status`)).match(/^VmHWM:\s+(\d+) kB/m);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** The request factory for a route, from what `/info` says about the model. */
function requestsFor(route: string, info: Record<string, unknown>, maxTokens: number) {
  const vocab = Number(info.vocab_size ?? 500);
  const ids = (c: number, n: number, len: number) =>
    Array.from({ length: len }, (_, i) => (c * 7919 + n * 31 + i * 17) % Math.min(vocab, 500));
  const size = Number(info.image_size ?? 0);
  return (c: number, n: number): LoadRequest => {
    if (route === "completions") {
      return {
        path: "/v1/completions",
        body: { prompt: ids(c, n, 8), max_tokens: maxTokens, temperature: 0 },
      };
    }
    if (route === "classify" && size > 0) {
      const img = Array.from(
        { length: 3 },
        () => Array.from({ length: size }, () => new Array(size).fill(0.5)),
      );
      return { path: "/v1/classify", body: { input: img } };
    }
    return { path: `/v1/${route}`, body: { input: [[2, ...ids(c, n, 14), 3]] } };
  };
}

/** Everything the load test reports. */
export interface LoadtestReport {
  /** Model name and id. */
  model: string;
  /** Route loaded. */
  route: string;
  /** Clients. */
  clients: number;
  /** Admission bound. */
  maxQueue: number;
  /** The last round's counts, throughput and latency. */
  load: LoadResult;
  /** Most requests in flight seen in `/metrics` during the load. */
  maxInFlight: number;
  /**
   * Server memory in bytes: before (after GC), at its sampled peak, after the last round (after GC), after
   * each round, and the kernel's peak RSS (Linux).
   */
  memory: { before: Mem; peak: Mem; after: Mem; rounds: Mem[]; peakRss: number | null };
  /** `/health` after the load. */
  healthAfter: number;
  /** Whether each claim held. */
  checks: { rejectedWith429: boolean; no5xx: boolean; boundedInFlight: boolean; memoryReturned: boolean };
}

/**
 * Runs the load test.
 * @param args Command-line arguments.
 * @returns Exit code: 0 when every check held, 1 otherwise.
 */
export async function loadtestMain(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: "string", default: "gpt2" },
      backend: { type: "string", default: "cpu" },
      clients: { type: "string", default: "64" },
      duration: { type: "string", default: "10" },
      route: { type: "string", default: "auto" },
      "max-queue": { type: "string", default: "8" },
      "max-tokens": { type: "string", default: "8" },
      "backoff-ms": { type: "string", default: "0" },
      settle: { type: "string", default: "2" },
      rounds: { type: "string", default: "1" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return console.log(HELP), 0;
  const clients = Number(values.clients), maxQueue = Number(values["max-queue"]);
  const child = new Child([
    "--model",
    values.model!,
    "--backend",
    values.backend!,
    "--max-queue",
    String(maxQueue),
  ]);
  try {
    const first = await child.line();
    const url = first.match(/listening on (\S+)/)?.[1];
    if (!url) throw new Error(`unexpected server output: ${first}\n${child.stderr}`);
    const info = await (await fetch(`${url}/info`)).json();
    const caps = info.capabilities as Record<string, boolean>;
    const route = values.route !== "auto"
      ? values.route!
      : caps.generate
      ? "completions"
      : caps.embed
      ? "embeddings"
      : "classify";
    const request = requestsFor(route, info, Number(values["max-tokens"]));
    for (let i = 0; i < 20; i++) { // warm-up: compile, fill pools and caches
      const { path, body } = request(0, i);
      await (await fetch(url + path, { method: "POST", body: JSON.stringify(body) })).arrayBuffer();
    }
    const before = await child.mem(true);
    let peak = { ...before };
    let maxInFlight = 0;
    const loads: LoadResult[] = [];
    const rounds: Mem[] = [];
    for (let round = 0; round < Math.max(1, Number(values.rounds)); round++) {
      const load = await runLoad({
        url,
        clients,
        durationMs: Number(values.duration) * 1000,
        request,
        backoffMs: Number(values["backoff-ms"]),
        sampleMs: 200,
        sample: async () => {
          const m = await child.mem(false);
          peak = {
            rss: Math.max(peak.rss, m.rss),
            heapUsed: Math.max(peak.heapUsed, m.heapUsed),
            heapTotal: Math.max(peak.heapTotal, m.heapTotal),
            external: Math.max(peak.external, m.external),
          };
          const text = await (await fetch(`${url}/metrics`)).text();
          maxInFlight = Math.max(
            maxInFlight,
            Number(text.match(/^d2d_requests_in_flight (\S+)$/m)?.[1] ?? 0),
          );
        },
      });
      loads.push(load);
      await new Promise((r) => setTimeout(r, Number(values.settle) * 1000));
      rounds.push(await child.mem(true));
    }
    const after = rounds.at(-1)!;
    const load = loads.at(-1)!;
    const sum = (f: (l: LoadResult) => number) => loads.reduce((s, l) => s + f(l), 0);
    const health = await fetch(`${url}/health`);
    await health.body?.cancel();
    const report: LoadtestReport = {
      model: `${values.model} (${info.model}, ${info.device.kind})`,
      route: `/v1/${route}`,
      clients,
      maxQueue,
      load,
      maxInFlight,
      memory: { before, peak, after, rounds, peakRss: await peakRss(child.pid) },
      healthAfter: health.status,
      checks: {
        rejectedWith429: clients <= maxQueue || sum((l) => l.statuses["429"] ?? 0) > 0,
        no5xx: sum((l) => l.fiveXX + l.errors) === 0,
        boundedInFlight: maxInFlight <= maxQueue,
        memoryReturned: after.heapUsed <= before.heapUsed + Math.max(16 * MiB, 0.25 * before.heapUsed),
      },
    };
    if (values.json) console.log(JSON.stringify(report));
    else console.log(formatReport(report));
    return Object.values(report.checks).every(Boolean) && report.healthAfter === 200 ? 0 : 1;
  } finally {
    const code = await child.close();
    if (code !== 0) console.error(`server exited with ${code}:\n${child.stderr}`);
  }
}

/**
 * The readable report.
 * @param r The report.
 * @returns Lines of text.
 */
export function formatReport(r: LoadtestReport): string {
  const l = r.load;
  const mib = (b: number) => `${(b / MiB).toFixed(1)} MiB`;
  const mem = (m: Mem) => `heap ${mib(m.heapUsed)}, rss ${mib(m.rss)}`;
  const statuses = Object.entries(l.statuses).map(([k, v]) => `${k}×${v}`).join(" ");
  const yes = (b: boolean) => (b ? "yes" : "NO");
  return [
    `loadtest: ${r.model} ${r.route}, ${r.clients} clients for ${
      (l.durationMs / 1000).toFixed(1)
    } s, --max-queue ${r.maxQueue}`,
    `  answers: ${l.requests} (${
      l.throughput.toFixed(0)
    }/s): ${statuses}; 5xx ${l.fiveXX}; network errors ${l.errors}`,
    `  200: ${l.okThroughput.toFixed(1)}/s, latency p50 ${l.okLatency.p50.toFixed(1)} ms, p99 ${
      l.okLatency.p99.toFixed(1)
    } ms, max ${l.okLatency.max.toFixed(1)} ms`,
    `  429: latency p50 ${l.rejectLatency.p50.toFixed(2)} ms, p99 ${l.rejectLatency.p99.toFixed(2)} ms`,
    `  in flight: at most ${r.maxInFlight} (limit ${r.maxQueue})`,
    `  server memory: before ${mem(r.memory.before)}; peak during ${mem(r.memory.peak)}${
      r.memory.peakRss ? ` (VmHWM ${mib(r.memory.peakRss)})` : ""
    }; after ${mem(r.memory.after)}`,
    ...(r.memory.rounds.length > 1
      ? [
        `  after each round: ${
          r.memory.rounds.map((m) => `heap ${mib(m.heapUsed)} / rss ${mib(m.rss)}`).join("; ")
        }`,
      ]
      : []),
    `  overload answered with 429: ${yes(r.checks.rejectedWith429)}; no 5xx / errors: ${
      yes(r.checks.no5xx)
    }; ` +
    `in flight bounded: ${yes(r.checks.boundedInFlight)}; heap back to its level: ${
      yes(r.checks.memoryReturned)
    } (${r.memory.after.heapUsed >= r.memory.before.heapUsed ? "+" : ""}${
      mib(r.memory.after.heapUsed - r.memory.before.heapUsed)
    }); /health ${r.healthAfter}`,
  ].join("\n");
}

if (import.meta.main) Deno.exit(await loadtestMain(Deno.args));
