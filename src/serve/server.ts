/**
 * Running an app on a host and port with `Deno.serve`, and graceful shutdown: on SIGINT / SIGTERM stop
 * accepting connections, let in-flight requests (streams included) finish, then return. A second
 * signal stops waiting.
 * @module
 */

/** Anything with a fetch handler (a Hono app). */
export interface FetchApp {
  /** Handles one request. */
  fetch: (req: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response>;
}

/** Where to listen. */
export interface ListenOptions {
  /** Interface to bind (default `127.0.0.1`). */
  hostname?: string;
  /** Port (default 8080; 0 picks a free one). */
  port?: number;
}

/** A listening server. */
export interface RunningServer extends AsyncDisposable {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** Bound address (the real port when 0 was asked for). */
  addr: Deno.NetAddr;
  /** Resolves once the server has stopped. */
  finished: Promise<void>;
  /** Stops accepting and resolves when in-flight requests are done. */
  shutdown(): Promise<void>;
}

/**
 * Starts serving `app`.
 * @param app The app (e.g. from `createApp`).
 * @param opts Host and port.
 * @returns The running server; `await using` shuts it down gracefully.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 */
export function startServer(app: FetchApp, opts: ListenOptions = {}): RunningServer {
  const server = Deno.serve({
    hostname: opts.hostname ?? "127.0.0.1",
    port: opts.port ?? 8080,
    onListen: () => {}, // the caller prints its own line
    // Last line of defence: the app's onError answers first; this catches what escapes it.
    onError: () =>
      Response.json({
        error: {
          message: "internal server error",
          type: "server_error",
          param: null,
          code: "internal_error",
        },
      }, { status: 500 }),
  }, (req, info) => app.fetch(req, info));
  const addr = server.addr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  let stopping: Promise<void> | null = null;
  const shutdown = () => (stopping ??= server.shutdown().then(() => server.finished));
  return {
    url: `http://${host}:${addr.port}`,
    addr,
    finished: server.finished,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

/**
 * Waits for SIGINT or SIGTERM, then shuts the server down gracefully.
 * @param server The running server.
 * @param onSignal Called with the signal name (e.g. to print "shutting down").
 * @returns 0 after a graceful shutdown, 1 when a second signal cut the wait short.
 */
export function shutdownOnSignal(
  server: RunningServer,
  onSignal: (signal: Deno.Signal, second: boolean) => void = () => {},
): Promise<number> {
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];
  return new Promise<number>((resolve) => {
    let seen = false;
    const handlers = signals.map((sig) => {
      const h = () => {
        onSignal(sig, seen);
        if (seen) return finish(1);
        seen = true;
        server.shutdown().then(() => finish(0));
      };
      Deno.addSignalListener(sig, h);
      return [sig, h] as const;
    });
    server.finished.then(() => finish(0));
    let done = false;
    function finish(code: number) {
      if (done) return;
      done = true;
      for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
      resolve(code);
    }
  });
}
