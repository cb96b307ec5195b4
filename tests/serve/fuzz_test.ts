/**
 * HTTP fuzzing at test scale: a few hundred seeded hostile requests (fetch and raw TCP) against the real
 * server on 127.0.0.1 serving CPU fixtures (with and without tokenizers, ViT, a D2DMoE conversion). No 5xx, every error in OpenAI's
 * shape, no hang, `/health` 200 and nothing in flight afterwards. `deno task fuzz` runs thousands.
 * @module
 */
import assert from "node:assert/strict";
import { formatSummary, runHttpFuzz } from "../../bench/reliability/http_fuzz.ts";
import { createApp } from "../../src/serve/app.ts";
import { startServer } from "../../src/serve/server.ts";
import { openModel } from "../../bench/reliability/models.ts";

const CASES = Number(Deno.env.get("D2D_FUZZ_CASES") ?? 150);
const MAX_BODY = 64 * 1024;

const targets: [string, number][] = [
  ["gpt2", 1],
  ["bert", 2],
  ["gpt2-text", 3],
  ["bert-text", 4],
  ["vit", 5],
  ["gpt2-d2d", 6],
];

for (const [name, seed] of targets) {
  Deno.test(`fuzz: ${CASES} hostile requests against ${name} → no 5xx, server healthy after`, async () => {
    const m = await openModel(name);
    const logs: string[] = [];
    const app = createApp(m, { maxBodyBytes: MAX_BODY, maxWaitMs: 1, log: (l) => logs.push(l) });
    await using server = startServer(app, { hostname: "127.0.0.1", port: 0 });
    const s = await runHttpFuzz({
      url: server.url,
      seed,
      cases: CASES,
      maxBodyBytes: MAX_BODY,
      timeoutMs: 15_000,
    });
    console.log(formatSummary(name, s));
    assert.equal(s.cases, CASES);
    assert.ok(s.transports.tcp > 0 && s.transports.fetch > 0);
    assert.deepEqual(s.problems, [], `server log:\n${logs.join("\n")}`);
    assert.equal(s.fiveXX, 0);
    assert.equal(s.healthAfter, 200);
    assert.equal(s.inFlightAfter, 0);
    assert.deepEqual(logs, [], "no internal errors were logged");
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.doesNotMatch(metrics, /status="5\d\d"/);
    // The model still answers correctly.
    const ok = await fetch(`${server.url}/v1/models`);
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  });
}

Deno.test("regression: an upload cut short (or broken chunked framing) is a 400, not a 500", async () => {
  const logs: string[] = [];
  const app = createApp(await openModel("bert"), { log: (l) => logs.push(l) });
  await using server = startServer(app, { hostname: "127.0.0.1", port: 0 });
  const body = JSON.stringify({ input: [[2, 10, 3]] });
  const heads = [
    `Content-Length: ${body.length + 50}`, // the client closes before sending it all
    "Transfer-Encoding: gzip, chunked",
  ];
  for (const h of heads) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
    const req = `POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n${h}\r\nConnection: close\r\n\r\n${body}`;
    await conn.write(new TextEncoder().encode(req));
    await conn.closeWrite();
    const text = new TextDecoder().decode(await new Response(conn.readable).arrayBuffer());
    const status = Number(text.match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? 0);
    assert.ok(status === 0 || (status >= 400 && status < 500), `${h}: ${text}`);
    if (status) assert.match(text, /"code":"invalid_body"|"code":"invalid_json"/);
  }
  assert.deepEqual(logs, []);
});
