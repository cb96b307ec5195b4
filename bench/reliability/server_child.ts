/**
 * The server as `deno task loadtest` runs it: a subprocess serving one model exactly as `d2d serve` does
 * (a `ModelHost` behind `createApp`), printing `listening on URL` on stdout, then answering each `mem`
 * line on stdin with one JSON line of `Deno.memoryUsage()` (after a full GC when started with
 * `--v8-flags=--expose-gc`; `mem nogc` skips it). Exits when stdin closes.
 *
 *     deno run -A --v8-flags=--expose-gc bench/reliability/server_child.ts --model gpt2 --max-queue 8
 * @module
 */
import { parseArgs } from "node:util";
import type { BackendChoice } from "../../src/ops/select_backend.ts";
import { createApp } from "../../src/serve/app.ts";
import { ModelHost } from "../../src/serve/host.ts";
import { startServer } from "../../src/serve/server.ts";
import { openModel } from "./models.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string", default: "gpt2" },
    backend: { type: "string", default: "cpu" },
    "max-queue": { type: "string", default: "64" },
    "max-wait-ms": { type: "string", default: "5" },
    "timeout-ms": { type: "string", default: "60000" },
  },
});

const name = values.model!;
// Named fixtures are cached per process, so wrap them to give the host something it may dispose.
const host = await ModelHost.create(async () => {
  const m = await openModel(name, values.backend as BackendChoice);
  return {
    id: m.id,
    config: m.config,
    tokenizer: m.tokenizer,
    capabilities: m.capabilities,
    device: m.device,
    moe: m.moe,
    backend: m.backend,
    embed: (...a: Parameters<typeof m.embed>) => m.embed(...a),
    classify: (...a: Parameters<typeof m.classify>) => m.classify(...a),
    generate: (...a: Parameters<typeof m.generate>) => m.generate(...a),
    [Symbol.dispose]: () => {},
  };
}, { log: (l) => console.error(`serve: ${l}`) });
const app = createApp(host, {
  maxQueue: Number(values["max-queue"]),
  maxWaitMs: Number(values["max-wait-ms"]),
  requestTimeoutMs: Number(values["timeout-ms"]),
  health: () => host.health(),
  log: (l) => console.error(l),
});
const server = startServer(app, { hostname: "127.0.0.1", port: 0 });
console.log(`listening on ${server.url} serving ${host.id} on ${host.device.kind}`);

const gc = (globalThis as { gc?: () => void }).gc;
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let buf = "";
for await (const chunk of lines) {
  buf += chunk;
  let nl: number;
  while ((nl = buf.indexOf("\n")) >= 0) {
    const cmd = buf.slice(0, nl).trim();
    buf = buf.slice(nl + 1);
    if (cmd === "mem" || cmd === "mem nogc") {
      if (cmd === "mem" && gc) { for (let i = 0; i < 3; i++) gc(); }
      console.log(JSON.stringify({ mem: Deno.memoryUsage(), gc: cmd === "mem" && gc !== undefined }));
    }
  }
}
await server.shutdown();
host[Symbol.dispose]();
