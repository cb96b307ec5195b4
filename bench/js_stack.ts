/**
 * Prints where a running Deno process's JavaScript is, through its inspector (`deno run --inspect=HOST:PORT`):
 * it pauses the main thread and prints the call frames (function, file, line), then resumes. For
 * `bench/convert_repeat.sh`: a stopped run whose JavaScript pauses is busy in JavaScript (the frames say
 * where); one that does not answer within the timeout is held inside a native call.
 *
 *     deno run -A bench/js_stack.ts HOST:PORT [TIMEOUT_MS]
 * @module
 */
const [where = "127.0.0.1:9229", timeoutArg = "8000"] = Deno.args;
const timeoutMs = Number(timeoutArg);

interface Frame {
  functionName: string;
  url: string;
  location: { lineNumber: number; columnNumber: number };
}

const targets = await (await fetch(`http://${where}/json`)).json() as { webSocketDebuggerUrl: string }[];
if (!targets.length) throw new Error(`no inspector target at ${where}`);
const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
let nextId = 1;
const send = (method: string, params: Record<string, unknown> = {}) =>
  ws.send(JSON.stringify({ id: nextId++, method, params }));
const paused = new Promise<Frame[]>((resolve) => {
  ws.onmessage = (ev) => {
    const msg = JSON.parse(String(ev.data));
    if (msg.method === "Debugger.paused") resolve(msg.params.callFrames as Frame[]);
  };
});
await new Promise((resolve, reject) => {
  ws.onopen = resolve;
  ws.onerror = reject;
});
send("Debugger.enable");
send("Debugger.pause");
let timer: ReturnType<typeof setTimeout> | undefined;
const frames = await Promise.race([
  paused,
  new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), timeoutMs)),
]);
clearTimeout(timer);
if (frames === null) {
  console.log(
    `no pause within ${timeoutMs} ms: the main thread is not running JavaScript (held in a native call)`,
  );
} else {
  console.log(`JavaScript stack (${frames.length} frames):`);
  for (const f of frames.slice(0, 25)) {
    console.log(
      `  ${f.functionName || "(anonymous)"} ${f.url}:${f.location.lineNumber + 1}:${
        f.location.columnNumber + 1
      }`,
    );
  }
  send("Debugger.resume");
}
ws.close();
