/** `d2d serve` as a user runs it: starts, answers, shuts down gracefully on SIGTERM / SIGINT, exit codes. */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { fixture } from "../helpers/fixtures.ts";

const ENTRY = fileURLToPath(new URL("./bin/d2d_with_serve.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../../deno.json", import.meta.url));

function d2d(args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, ENTRY, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
}

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await d2d(args).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

/** Reads stdout lines until one matches. */
async function waitFor(lines: ReadableStream<Uint8Array>, re: RegExp): Promise<RegExpMatchArray> {
  const reader = lines.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`stdout ended without ${re}: ${buf}`);
      buf += value;
      const m = buf.match(re);
      if (m) return m;
    }
  } finally {
    reader.releaseLock();
  }
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`d2d serve: listens, serves, exits 0 after ${signal}`, async () => {
    const child = d2d(["serve", "--model", fixture("tiny-gpt2-relu"), "--backend", "cpu", "--port", "0"])
      .spawn();
    const stderr = child.stderr.pipeThrough(new TextDecoderStream());
    let errText = "";
    const errDone = (async () => {
      for await (const t of stderr) errText += t;
    })();
    const [, url] = await waitFor(child.stdout, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
    const h = await fetch(`${url}/health`);
    assert.equal(h.status, 200);
    await h.body?.cancel();
    const c = await fetch(`${url}/v1/completions`, {
      method: "POST",
      body: JSON.stringify({ prompt: [1, 2, 3], max_tokens: 2 }),
    });
    assert.equal((await c.json()).choices[0].token_ids.length, 2);
    child.kill(signal);
    const status = await child.status;
    await child.stdout.cancel().catch(() => {});
    await errDone;
    assert.equal(status.code, 0, errText);
    assert.match(errText, /device: cpu/);
    assert.match(errText, new RegExp(`${signal}: finishing in-flight requests`));
  });
}

Deno.test("d2d serve: --help exits 0; bad flags exit 2 with one error line; bad model exits 1", async () => {
  const help = await run(["serve", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--max-queue N/);
  const bad = await run(["serve", "--port", "http"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^error: serve: --port must be an integer in \[0, 65535\], got "http"$/m);
  assert.doesNotMatch(bad.stderr, /\n\s+at /);
  const missing = await run(["serve", "--model", "/nonexistent/model", "--backend", "cpu"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^error: /m);
  assert.doesNotMatch(missing.stderr, /\n\s+at /);
});

Deno.test("d2d serve: a taken port → exit 2 with a hint", async () => {
  using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const r = await run([
    "serve",
    "--model",
    fixture("tiny-bert-relu"),
    "--backend",
    "cpu",
    "--port",
    String((l.addr as Deno.NetAddr).port),
  ]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /already in use/);
  assert.match(r.stderr, /^hint: /m);
});
