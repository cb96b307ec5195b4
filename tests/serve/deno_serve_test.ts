/** The `deno serve` entry as deployed: a subprocess, model from D2D_MODEL loaded lazily. */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { fixture } from "../helpers/fixtures.ts";

const ENTRY = fileURLToPath(new URL("../../src/serve/deno_serve.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../../deno.json", import.meta.url));

async function withDenoServe(model: string, fn: (url: string) => Promise<void>): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["serve", "-A", "--config", CONFIG, "--host", "127.0.0.1", "--port", "0", ENTRY],
    env: { D2D_MODEL: model, D2D_BACKEND: "cpu", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // deno serve prints "Listening on ..." on stderr.
  const out = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let url = "";
  while (!url) {
    const { done, value } = await out.read();
    if (done) throw new Error(`deno serve ended: ${buf}`);
    buf += value;
    url = buf.match(/Listening on (http:\/\/127\.0\.0\.1:\d+)/)?.[1] ?? "";
  }
  try {
    await fn(url);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await out.cancel();
    await child.stdout.cancel();
  }
}

Deno.test("deno serve entry: loads D2D_MODEL on first use, /health 503 until loaded, then the app", async () => {
  await withDenoServe(fixture("tiny-bert-relu"), async (url) => {
    const first = await fetch(`${url}/health`);
    assert.ok([200, 503].includes(first.status));
    await first.body?.cancel();
    const models = await (await fetch(`${url}/v1/models`)).json();
    assert.equal(models.data[0].id, "tiny-bert-relu");
    assert.equal((await (await fetch(`${url}/health`)).json()).status, "ok");
  });
});

Deno.test("deno serve entry: a model that fails to load → 503 JSON on every route", async () => {
  await withDenoServe("/nonexistent/model", async (url) => {
    await (await fetch(`${url}/v1/models`)).body?.cancel();
    const r = await fetch(`${url}/v1/models`);
    assert.equal(r.status, 503);
    const body = await r.json();
    assert.equal(body.status, "load_failed");
    assert.match(body.error.message, /config\.json/);
  });
});
