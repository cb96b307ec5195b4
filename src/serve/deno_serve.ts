/**
 * A `deno serve` entry: `D2D_MODEL=DIR deno serve -A src/serve/deno_serve.ts`. The model named by
 * `D2D_MODEL` (default `"default"`) on the backend `D2D_BACKEND` is loaded on the first request (only
 * from this server-side configuration); `/health` answers 503 while it loads or if loading failed, and
 * while the model is reloaded after a GPU device loss.
 * @module
 */
import "../moe/load_converted.ts"; // converted (D2DMoE) folders load through this hook
import "../moe/default_model.ts"; // registers "default"
import { loadModel } from "../model/load.ts";
import { createApp } from "./app.ts";
import { ModelHost } from "./host.ts";

type App = ReturnType<typeof createApp>;

let loading: Promise<{ app: App; model: ModelHost }> | null = null; // lives as long as the process
let failure: string | null = null;
let ready = false;

function unavailable(status: string, message: string): Response {
  return Response.json({
    status,
    error: { message, type: "server_error", param: null, code: status },
  }, { status: 503, headers: { "Retry-After": "5" } });
}

function load(): Promise<{ app: App; model: ModelHost }> {
  loading ??= (async () => {
    const dir = Deno.env.get("D2D_MODEL") || "default";
    // The backend comes from D2D_BACKEND (default auto); the host reloads the same after a device loss.
    const model = await ModelHost.create(() => loadModel(dir), { log: (l) => console.error(`d2dmoe: ${l}`) });
    ready = true;
    console.error(`d2dmoe: serving ${model.id} on ${model.device.kind} [${model.device.provider}]`);
    return { app: createApp(model, { health: () => model.health() }), model };
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
