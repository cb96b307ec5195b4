/**
 * `deno task fuzz`: thousands of seeded hostile HTTP requests (fetch and raw TCP) against the real server
 * on 127.0.0.1, one server per model, then a summary: cases, status histogram, 5xx count, failures,
 * duration. Exit code 1 when any request got a 5xx, a malformed error, or no answer, or when `/health`
 * is not 200 afterwards.
 *
 *     deno task fuzz [--cases 5000] [--seed 1] [--model gpt2 --model bert-text | --model DIR] [--json]
 * @module
 */
import { parseArgs } from "node:util";
import { createApp } from "../src/serve/app.ts";
import { startServer } from "../src/serve/server.ts";
import type { BackendChoice } from "../src/ops/select_backend.ts";
import { formatSummary, runHttpFuzz } from "./reliability/http_fuzz.ts";
import { NAMED_MODELS, openModel } from "./reliability/models.ts";

const HELP = `deno task fuzz [options]

  --cases N         cases per model (default 5000)
  --seed S          first seed (default 1; model i uses S + i)
  --model M         gpt2 | bert | gpt2-text | bert-text | vit | gpt2-d2d | bert-d2d (CPU fixtures; -text:
                    with tokenizers; -d2d: converted on the fly) or a model folder; repeatable (default: all)
  --backend B       backend for model folders (default cpu)
  --concurrency C   requests at once (default 8)
  --tcp-share F     share of raw TCP cases in [0, 1] (default 0.25)
  --max-body-bytes N  the server's body limit (default 65536)
  --json            one JSON summary per model on stdout`;

/**
 * Runs the fuzzer.
 * @param args Command-line arguments.
 * @returns Exit code.
 */
export async function fuzzMain(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      cases: { type: "string", default: "5000" },
      seed: { type: "string", default: "1" },
      model: { type: "string", multiple: true },
      backend: { type: "string", default: "cpu" },
      concurrency: { type: "string", default: "8" },
      "tcp-share": { type: "string", default: "0.25" },
      "max-body-bytes": { type: "string", default: "65536" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return console.log(HELP), 0;
  const cases = Number(values.cases), seed = Number(values.seed), maxBody = Number(values["max-body-bytes"]);
  const models = values.model?.length ? values.model : NAMED_MODELS;
  let failed = false;
  let total = 0, fiveXX = 0;
  const t0 = performance.now();
  for (const [i, name] of models.entries()) {
    const m = await openModel(name, values.backend as BackendChoice);
    const logs: string[] = [];
    const app = createApp(m, { maxBodyBytes: maxBody, maxWaitMs: 1, log: (l) => logs.push(l) });
    await using server = startServer(app, { hostname: "127.0.0.1", port: 0 });
    const s = await runHttpFuzz({
      url: server.url,
      seed: seed + i,
      cases,
      maxBodyBytes: maxBody,
      concurrency: Number(values.concurrency),
      tcpShare: Number(values["tcp-share"]),
    });
    total += s.cases;
    fiveXX += s.fiveXX;
    const bad = s.problemCount > 0 || s.healthAfter !== 200 || s.inFlightAfter !== 0 || logs.length > 0;
    failed ||= bad;
    if (values.json) console.log(JSON.stringify({ model: name, ...s, serverLog: logs.slice(0, 20) }));
    else {
      console.log(formatSummary(`${name} (${m.id})`, s));
      for (const l of logs.slice(0, 10)) console.log(`  server log: ${l.split("\n")[0]}`);
    }
  }
  const secs = (performance.now() - t0) / 1000;
  console.error(
    `fuzz: ${total} cases over ${models.length} model(s) in ${secs.toFixed(1)} s; 5xx: ${fiveXX}; ${
      failed ? "FAILED" : "ok"
    }`,
  );
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await fuzzMain(Deno.args));
