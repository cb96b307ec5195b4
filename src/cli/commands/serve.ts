/**
 * `d2d serve`: the OpenAI-compatible HTTP server for one model, until SIGINT / SIGTERM.
 * @module
 */
import { loadModel } from "../../model/load.ts";
import { createApp } from "../../serve/app.ts";
import { ModelHost } from "../../serve/host.ts";
import { DEFAULT_OPTIONS, type ServeOptions } from "../../serve/options.ts";
import { shutdownOnSignal, startServer } from "../../serve/server.ts";
import { terminalProgress } from "../../util/progress.ts";
import { Opts, parse, UsageError } from "../args.ts";
import { backendOption, MODEL_OPTIONS } from "../common.ts";
import { deviceLine, note, out } from "../output.ts";

const D = DEFAULT_OPTIONS;

/** Usage text. */
export const SERVE_HELP = `d2d serve [--model DIR|default] [--port 8080] [--host 127.0.0.1] [options]

Serves one model over HTTP with an OpenAI-compatible API until Ctrl-C / SIGTERM (then finishes the
requests in flight and exits 0; a second signal exits at once with 1). If the GPU device is lost, the
model is reloaded on a new device (503 + Retry-After meanwhile). Routes: POST /v1/embeddings,
/v1/completions, /v1/classify; GET /health, /v1/models, /info, /metrics. See docs/server.md.

  -m, --model DIR                model folder, or "default" (default: default)
      --host HOST                interface to bind (default 127.0.0.1; 0.0.0.0 for every interface)
  -p, --port N                   port (default 8080; 0 picks a free port)
      --backend B                auto | gpu | dawn | webgpu | cpu (default: $D2D_BACKEND or auto)
      --tau T                    default τ for requests that give none (converted models)
      --max-body-bytes N         largest request body (default ${D.maxBodyBytes}); larger → 413
      --max-request-tokens N     input tokens per request (default ${D.maxTokensPerRequest}); more → 400
      --max-completion-tokens N  largest max_tokens of a completion (default ${D.maxCompletionTokens})
      --max-inputs N             entries per embeddings / classify input (default ${D.maxInputs})
      --max-batch-tokens N       padded tokens per batched model call (default ${D.maxBatchTokens})
      --max-wait-ms MS           how long a request waits to be batched (default ${D.maxWaitMs})
      --max-queue N              requests admitted at once (default ${D.maxQueue}); more → 429 + Retry-After
      --timeout-ms MS            per-request time limit (default ${D.requestTimeoutMs}); past it → 504
      --cors ORIGIN              allow browser calls from ORIGIN (repeatable; "*" for any)
  -q, --quiet                    do not print the device line`;

/**
 * Runs the subcommand.
 * @param args Arguments after `serve`.
 * @returns Exit code: 0 after a graceful shutdown, 1 when a second signal cut it short.
 * @throws {UsageError} On bad options.
 */
export async function serveCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...MODEL_OPTIONS,
    host: { type: "string" },
    port: { type: "string", short: "p" },
    "max-body-bytes": { type: "string" },
    "max-request-tokens": { type: "string" },
    "max-completion-tokens": { type: "string" },
    "max-inputs": { type: "string" },
    "max-batch-tokens": { type: "string" },
    "max-wait-ms": { type: "string" },
    "max-queue": { type: "string" },
    "timeout-ms": { type: "string" },
    cors: { type: "string", multiple: true },
  }, "serve");
  const o = new Opts(values, "serve");
  if (o.flag("help")) return out(SERVE_HELP), 0;
  if (positionals.length) {
    throw new UsageError(`serve: unexpected argument "${positionals[0]}"`, 'run "d2d serve --help"');
  }
  if (o.str("moe-topk") !== undefined) {
    throw new UsageError("serve: --moe-topk is not supported by the server; use --tau");
  }
  const hostname = o.str("host") ?? "127.0.0.1";
  if (hostname.trim() === "") throw new UsageError("serve: --host must not be empty");
  const port = o.num("port", 0, 65535, true) ?? 8080;
  const int = (name: string) => o.num(name, 1, Number.MAX_SAFE_INTEGER, true);
  const cors = o.list("cors");
  const options: Partial<ServeOptions> = {
    defaultTau: o.num("tau", 0, 1),
    maxBodyBytes: int("max-body-bytes"),
    maxTokensPerRequest: int("max-request-tokens"),
    maxCompletionTokens: int("max-completion-tokens"),
    maxInputs: int("max-inputs"),
    maxBatchTokens: int("max-batch-tokens"),
    maxWaitMs: o.num("max-wait-ms", 0, 60_000),
    maxQueue: int("max-queue"),
    requestTimeoutMs: int("timeout-ms"),
    cors: cors.length === 0 ? undefined : cors.length === 1 ? cors[0] : cors,
  };
  // The model path and options are fixed here, once: the host reloads exactly this after a device loss.
  const dir = o.str("model") ?? "default";
  if (dir === "") throw new UsageError("serve: --model must not be empty", 'run "d2d serve --help"');
  const backend = backendOption(o);
  const load = () => loadModel(dir, { backend, onProgress: terminalProgress(0) });
  using model = await ModelHost.create(load, { log: (line) => note(`serve: ${line}`) });
  if (!o.flag("quiet")) note(deviceLine(model.device));
  const app = createApp(model, { ...options, health: () => model.health() });
  let server;
  try {
    server = startServer(app, { hostname, port });
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) {
      throw new UsageError(
        `serve: ${hostname}:${port} is already in use`,
        "pick another --port (0 = any free)",
      );
    }
    if (e instanceof Deno.errors.AddrNotAvailable || e instanceof Deno.errors.PermissionDenied) {
      throw new UsageError(`serve: cannot listen on ${hostname}:${port}: ${(e as Error).message}`);
    }
    throw e;
  }
  note(`serving ${model.id} (${model.config.family}${model.moe ? ", D2DMoE" : ", dense"})`);
  out(`listening on ${server.url}`);
  const code = await shutdownOnSignal(server, (sig, second) => {
    note(
      second ? `${sig} again: exiting without waiting` : `${sig}: finishing in-flight requests, then exiting`,
    );
  });
  return code;
}
