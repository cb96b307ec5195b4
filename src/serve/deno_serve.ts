/**
 * A `deno serve` entry: `D2D_MODEL=DIR deno serve -A src/serve/deno_serve.ts`. The model named by
 * `D2D_MODEL` (default `"default"`) on the backend `D2D_BACKEND` is loaded on the first request (only
 * from this server-side configuration); `/health` answers 503 while it loads or if loading failed.
 * @module
 */
import "../moe/load_converted.ts"; // converted (D2DMoE) folders load through this hook
import "../moe/default_model.ts"; // registers "default"
import { loadModel } from "../model/load.ts";
import type { Model } from "../model/model.ts";
import { createApp } from "./app.ts";

type App = ReturnType<typeof createApp>;

let loading: Promise<{ app: App; model: Model }> | null = null; // the model lives as long as the process
let failure: string | null = null;
let ready = false;

function unavailable(status: string, message: string): Response {
  return Response.json({
    status,
    error: { message, type: "server_error", param: null, code: status },
  }, { status: 503, headers: { "Retry-After": "5" } });
}

function load(): Promise<{ app: App; model: Model }> {
  loading ??= (async () => {
    const dir = Deno.env.get("D2D_MODEL") || "default";
    const model = await loadModel(dir); // the backend comes from D2D_BACKEND (default auto)
    ready = true;
    console.error(`d2dmoe: serving ${model.id} on ${model.device.kind} [${model.device.provider}]`);
    return { app: createApp(model), model };
  })();
  loading.catch((e) => {
    failure = `loading the model failed: ${(e as Error)?.message ?? e}`;
    console.error(`d2dmoe: ${failure}`);
  });
  return loading;
}

/**
 * Handles one request, loading the model first if needed.
 * @param req The request.
 * @param info Connection info.
 * @returns The response.
 */
async function fetch(req: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
  const p = load();
  if (failure) return unavailable("load_failed", failure);
  if (!ready && new URL(req.url).pathname === "/health") {
    return unavailable("loading", "the model is loading");
  }
  try {
    const { app } = await p;
    return await app.fetch(req, info);
  } catch {
    return unavailable("load_failed", failure ?? "loading the model failed");
  }
}

/** The `deno serve` handler object. */
export default { fetch } satisfies Deno.ServeDefaultExport;
