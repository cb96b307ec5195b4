/**
 * No request can choose what gets loaded: the `model` field (body, path, query, headers) is only
 * compared with the served id / "default". Hostile names get 404 and nothing is loaded, read or fetched:
 * the loader and the file-system / network entry points are spied on while the requests run.
 * @module
 */
import assert from "node:assert/strict";
import { createApp } from "../../src/serve/app.ts";
import { ModelHost } from "../../src/serve/host.ts";
import { expectError, model, wrap } from "./helpers.ts";

const HOSTILE = [
  "/etc/passwd",
  "../x",
  "../../tests/fixtures/hf-tiny/tiny-bert-relu",
  "./tiny-gpt2-relu/../tiny-bert-relu",
  "http://127.0.0.1:1/model",
  "https://huggingface.co/gpt2",
  "file:///etc/passwd",
  "data:application/json,{}",
  "C:\\Windows\\win.ini",
  "\\\\server\\share",
  "tiny-gpt2-relu\u0000/etc/passwd",
  "tiny-gpt2-relu/",
  "TINY-GPT2-RELU",
  "default/../../etc",
  "~/.ssh/id_rsa",
  "",
];

const IO = [
  "open",
  "openSync",
  "readFile",
  "readFileSync",
  "readTextFile",
  "readTextFileSync",
  "stat",
  "lstat",
];

/** Replaces file-system reads and fetch with recorders while `fn` runs. */
async function spyIo(fn: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const deno = Deno as unknown as Record<string, unknown>;
  const saved = IO.map((k) => [k, deno[k]] as const);
  const savedFetch = globalThis.fetch;
  for (const k of IO) {
    deno[k] = (...a: unknown[]) => {
      seen.push(`Deno.${k}(${String(a[0])})`);
      throw new Deno.errors.PermissionDenied("spied");
    };
  }
  globalThis.fetch = (input) => {
    seen.push(`fetch(${String(input)})`);
    return Promise.reject(new TypeError("spied"));
  };
  try {
    await fn();
  } finally {
    for (const [k, v] of saved) deno[k] = v;
    globalThis.fetch = savedFetch;
  }
  return seen;
}

Deno.test("hostile model names → 404 model_not_found; nothing loaded, read or fetched", async () => {
  const gpt2 = await model("gpt2");
  const bert = await model("bert");
  let loads = 0;
  using host = await ModelHost.create(() => {
    loads++;
    return Promise.resolve(Object.assign(wrap(gpt2), { [Symbol.dispose]() {} }));
  });
  const apps = [
    {
      app: createApp(host, { health: () => host.health() }),
      route: "/v1/completions",
      body: { prompt: [1, 2] },
    },
    { app: createApp(bert, { maxWaitMs: 0 }), route: "/v1/embeddings", body: { input: [[2, 10, 3]] } },
    { app: createApp(bert, { maxWaitMs: 0 }), route: "/v1/classify", body: { input: [[2, 10, 3]] } },
  ];
  let checked = 0;
  const seen = await spyIo(async () => {
    for (const { app, route, body } of apps) {
      for (const name of HOSTILE) {
        const res = await app.request(`${route}?model=${encodeURIComponent(name)}`, {
          method: "POST",
          headers: { "x-model": encodeURIComponent(name), "openai-model": "/etc/passwd" },
          body: JSON.stringify({ ...body, model: name }),
        });
        const e = await expectError(res, 404);
        assert.equal(e.code, "model_not_found", name);
        assert.equal(e.param, "model");
        if (name !== "") {
          await expectError(await app.request(`/v1/models/${encodeURIComponent(name)}`), 404);
        }
        checked++;
      }
      for (const v of [{ path: "/etc/passwd" }, ["/etc/passwd"], 1, true]) {
        await expectError(
          await app.request(route, { method: "POST", body: JSON.stringify({ ...body, model: v }) }),
          400,
        );
      }
      // Query strings and headers naming a model are ignored: the served model answers.
      const res = await app.request(`${route}?model=/etc/passwd`, {
        method: "POST",
        headers: { "x-model": "/etc/passwd" },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 200, await res.clone().text());
      await res.body?.cancel();
    }
  });
  assert.equal(checked, HOSTILE.length * apps.length);
  assert.deepEqual(seen, [], `requests reached the file system or network: ${seen.join(", ")}`);
  assert.equal(loads, 1, "the loader ran only at start");
  assert.equal(host.recoveries, 0);
});
