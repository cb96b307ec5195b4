/**
 * Model-file fuzzing: truncated and corrupted safetensors (header length past the end or absurd,
 * non-JSON header, offsets out of range or overlapping, dtype / shape not matching the bytes, missing
 * tensors), configs that disagree with the weights, and corrupted converted folders (`d2dmoe.json`,
 * `d2dmoe.safetensors`). Each must end in a typed error naming the file, within a time limit, without
 * any allocation larger than the model folder; the CLI must print one `error:` line and exit 1.
 * @module
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ModelFormatError, UnsupportedModelError } from "../../src/model/errors.ts";
import { loadModel } from "../../src/model/load.ts";
import { convert } from "../../src/moe/convert.ts";
import "../../src/moe/load_converted.ts";
import { fixture } from "../helpers/fixtures.ts";
import {
  AllocationTooLarge,
  copyFolder,
  editJson,
  editSt,
  folderBytes,
  readSt,
  type St,
  truncateTo,
  withAllocationLimit,
  withTimeout,
  writeSt,
} from "../../bench/reliability/file_surgery.ts";
import { runFileFuzz } from "../../bench/reliability/file_fuzz.ts";

const tmp = await Deno.makeTempDir({ prefix: "d2d_file_fuzz_" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(tmp, { recursive: true });
  } catch { /* gone */ }
});

let serial = 0;

/** A fresh copy of a model folder. */
function copyOf(src: string): Promise<string> {
  return copyFolder(src, join(tmp, `case-${serial++}`));
}

/**
 * Loads a corrupted folder and checks the failure: a typed error whose `file` is `dir/expectFile`
 * (or the folder itself), whose message starts with that path, within 10 s, with no allocation larger
 * than the folder (plus 1 MiB).
 */
async function expectTypedError(dir: string, expectFile: string, re?: RegExp): Promise<Error> {
  const limit = (await folderBytes(dir)) + (1 << 20);
  let err: unknown;
  try {
    const m = await withAllocationLimit(
      limit,
      () => withTimeout(loadModel(dir, { backend: "cpu" }), 10_000, `loading ${dir}`),
    );
    m[Symbol.dispose]();
  } catch (e) {
    err = e;
  }
  assert.ok(err !== undefined, `${dir} loaded although it is corrupt`);
  assert.ok(
    !(err instanceof AllocationTooLarge),
    `allocation larger than the folder: ${(err as Error).message}`,
  );
  assert.ok(
    err instanceof ModelFormatError || err instanceof UnsupportedModelError,
    `expected a typed error, got ${(err as Error)?.stack ?? err}`,
  );
  const want = expectFile === "" ? dir : join(dir, expectFile);
  assert.equal(err.file, want, err.message);
  assert.ok(err.message.startsWith(`${want}: `), err.message);
  if (re) assert.match(err.message, re);
  return err;
}

// ---------------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------------

const ST = "model.safetensors";
const GPT2 = fixture("tiny-gpt2-relu");
const BERT = fixture("tiny-bert-relu");

let convertedOnce: Promise<string> | null = null;
/** The GPT-2 fixture converted once (CPU, tiny calibration). */
function converted(): Promise<string> {
  convertedOnce ??= convert(GPT2, {
    out: join(tmp, "gpt2.d2d"),
    expertSize: 16,
    calibTokens: 600,
    routerEpochs: 3,
    backend: "cpu",
    taus: [0, 0.5, 1],
  }).then((r) => r.out);
  return convertedOnce;
}

/** One corruption: where it starts, what it does, which file the error must name, and its message. */
interface Case {
  name: string;
  base: () => string | Promise<string>;
  mutate: (dir: string) => Promise<void>;
  file: string;
  re?: RegExp;
}

const gpt2 = () => GPT2;
const bert = () => BERT;
const st = (dir: string) => join(dir, ST);

const SAFETENSORS_CASES: Case[] = [
  { name: "empty file", base: gpt2, mutate: (d) => truncateTo(st(d), 0), file: ST, re: /too short/ },
  { name: "4 bytes", base: gpt2, mutate: (d) => truncateTo(st(d), 4), file: ST, re: /too short/ },
  { name: "only the length prefix", base: gpt2, mutate: (d) => truncateTo(st(d), 8), file: ST },
  {
    name: "cut inside the header",
    base: gpt2,
    mutate: (d) => truncateTo(st(d), 200),
    file: ST,
    re: /past the end/,
  },
  {
    name: "cut inside the data",
    base: gpt2,
    mutate: async (d) => truncateTo(st(d), (await Deno.stat(st(d))).size / 2),
    file: ST,
    re: /past the end/,
  },
  {
    name: "last byte missing",
    base: gpt2,
    mutate: async (d) => truncateTo(st(d), (await Deno.stat(st(d))).size - 1),
    file: ST,
  },
  {
    name: "header length past the end",
    base: gpt2,
    mutate: async (d) => {
      const s = await readSt(st(d));
      await writeSt(st(d), s.header, s.data, BigInt((await Deno.stat(st(d))).size));
    },
    file: ST,
    re: /past the end/,
  },
  {
    name: "header length 2^50 (a petabyte)",
    base: gpt2,
    mutate: async (d) => {
      const s = await readSt(st(d));
      await writeSt(st(d), s.header, s.data, 2n ** 50n);
    },
    file: ST,
    re: /limit/,
  },
  {
    name: "header length 2^64 - 1",
    base: gpt2,
    mutate: async (d) => {
      const s = await readSt(st(d));
      await writeSt(st(d), s.header, s.data, 2n ** 64n - 1n);
    },
    file: ST,
    re: /limit/,
  },
  {
    name: "header length 0",
    base: gpt2,
    mutate: async (d) => writeSt(st(d), "", (await readSt(st(d))).data),
    file: ST,
    re: /length is 0/,
  },
  {
    name: "header not JSON",
    base: gpt2,
    mutate: async (d) => writeSt(st(d), "{not json".padEnd(100), (await readSt(st(d))).data),
    file: ST,
    re: /not valid JSON/,
  },
  {
    name: "header not UTF-8",
    base: gpt2,
    mutate: async (d) => {
      const b = await Deno.readFile(st(d));
      b[9] = 0xff;
      b[10] = 0xfe;
      await Deno.writeFile(st(d), b);
    },
    file: ST,
    re: /UTF-8/,
  },
  {
    name: "header a JSON array",
    base: gpt2,
    mutate: async (d) => writeSt(st(d), "[1, 2, 3]", (await readSt(st(d))).data),
    file: ST,
    re: /not an object/,
  },
  {
    name: "offsets past the data region",
    base: gpt2,
    mutate: (d) =>
      editSt(st(d), (s) => {
        const t = s.header["transformer.wte.weight"];
        t.data_offsets = [s.data.length, s.data.length + (t.data_offsets[1] - t.data_offsets[0])];
      }),
    file: ST,
    re: /past the end of the data region/,
  },
  {
    name: "offsets at a petabyte",
    base: gpt2,
    mutate: (d) =>
      editSt(st(d), (s) => {
        s.header["transformer.ln_f.bias"].data_offsets = [2 ** 50, 2 ** 50 + 256];
      }),
    file: ST,
    re: /past the end/,
  },
  {
    name: "overlapping tensors",
    base: gpt2,
    mutate: (d) =>
      editSt(st(d), (s) => {
        const a = s.header["transformer.ln_f.bias"], b = s.header["transformer.ln_f.weight"];
        b.data_offsets = [a.data_offsets[0] + 4, a.data_offsets[1] + 4];
      }),
    file: ST,
    re: /overlap/,
  },
  {
    name: "begin after end",
    base: gpt2,
    mutate: (d) =>
      editSt(st(d), (s) => {
        const t = s.header["transformer.ln_f.bias"];
        t.data_offsets = [t.data_offsets[1], t.data_offsets[0]];
      }),
    file: ST,
    re: /begin after end/,
  },
  {
    name: "negative / fractional offsets",
    base: gpt2,
    mutate: (d) =>
      editSt(st(d), (s) => {
        s.header["transformer.ln_f.bias"].data_offsets = [-4, 1.5];
      }),
    file: ST,
    re: /non-negative integers/,
  },
  {
    name: "dtype F16 for F32 bytes",
    base: gpt2,
    mutate: (d) => editSt(st(d), (s) => void (s.header["transformer.wpe.weight"].dtype = "F16")),
    file: ST,
    re: /needs/,
  },
  {
    name: "unknown dtype",
    base: gpt2,
    mutate: (d) => editSt(st(d), (s) => void (s.header["transformer.wpe.weight"].dtype = "F128")),
    file: ST,
    re: /unknown dtype/,
  },
  {
    name: "F8 dtype (same bytes, shape × 4)",
    base: gpt2,
    mutate: (d) =>
      editSt(st(d), (s) => {
        const t = s.header["transformer.ln_f.bias"];
        t.dtype = "F8_E4M3";
        t.shape = [t.shape[0] * 4];
      }),
    file: ST,
    re: /F8_E4M3|shape/,
  },
  {
    name: "shape transposed (same bytes)",
    base: gpt2,
    mutate: (d) =>
      editSt(st(d), (s) => {
        const t = s.header["transformer.wte.weight"];
        t.shape = [t.shape[1], t.shape[0]];
      }),
    file: ST,
    re: /has shape \[64,512\], expected \[512,64\]/,
  },
  {
    name: "shape claiming 2^60 elements",
    base: gpt2,
    mutate: (d) =>
      editSt(st(d), (s) => void (s.header["transformer.ln_f.bias"].shape = [2 ** 20, 2 ** 20, 2 ** 20])),
    file: ST,
    re: /2\^53/,
  },
  {
    name: "shape not integers",
    base: gpt2,
    mutate: (d) => editSt(st(d), (s) => void (s.header["transformer.ln_f.bias"].shape = [-64] as number[])),
    file: ST,
    re: /non-negative integers/,
  },
  {
    name: "missing tensor",
    base: gpt2,
    mutate: (d) => editSt(st(d), (s) => void delete s.header["transformer.h.1.mlp.c_fc.weight"]),
    file: ST,
    re: /h\.1\.mlp\.c_fc\.weight.*not found/,
  },
  {
    name: "missing tensor (BERT)",
    base: bert,
    mutate: (d) =>
      editSt(st(d), (s) => void delete s.header["bert.encoder.layer.0.attention.self.key.weight"]),
    file: ST,
    re: /not found/,
  },
  {
    name: "BERT classifier without its pooler",
    base: bert,
    mutate: (d) => editSt(st(d), (s) => void delete s.header["bert.pooler.dense.weight"]),
    file: ST,
    re: /pooler\.dense\.weight.*not found/,
  },
  { name: "no weights file", base: gpt2, mutate: (d) => Deno.remove(st(d)), file: "", re: /neither/ },
  {
    name: "random bytes",
    base: gpt2,
    mutate: async (d) => {
      const b = new Uint8Array(4096);
      for (let i = 0; i < b.length; i++) b[i] = (i * 2654435761) >>> 24;
      await Deno.writeFile(st(d), b);
    },
    file: ST,
  },
];

const CONFIG = "config.json";
const cfg = (d: string) => join(d, CONFIG);

const CONFIG_CASES: Case[] = [
  {
    name: "wider than the weights",
    base: gpt2,
    mutate: (d) => editJson(cfg(d), (j) => void (j.n_embd = 128)),
    file: ST,
    re: /expected \[512,128\]/,
  },
  {
    name: "more layers than the weights",
    base: gpt2,
    mutate: (d) => editJson(cfg(d), (j) => void (j.n_layer = 3)),
    file: ST,
    re: /h\.2\..*not found/,
  },
  {
    name: "vocabulary larger than the weights",
    base: gpt2,
    mutate: (d) => editJson(cfg(d), (j) => void (j.vocab_size = 1_000_000_000)),
    file: ST,
    re: /expected \[1000000000,64\]/,
  },
  {
    name: "width 2^20 (would be terabytes)",
    base: bert,
    mutate: (d) =>
      editJson(cfg(d), (j) => void Object.assign(j, { hidden_size: 2 ** 20, num_attention_heads: 1 })),
    file: ST,
    re: /expected/,
  },
  {
    name: "not JSON",
    base: gpt2,
    mutate: (d) => Deno.writeTextFile(cfg(d), '{"model_type": "gpt2",'),
    file: CONFIG,
    re: /not valid JSON/,
  },
  {
    name: "sizes of the wrong type",
    base: gpt2,
    mutate: (d) => editJson(cfg(d), (j) => void (j.n_embd = "64")),
    file: CONFIG,
    re: /n_embd/,
  },
  {
    name: "negative size",
    base: bert,
    mutate: (d) => editJson(cfg(d), (j) => void (j.num_hidden_layers = -2)),
    file: CONFIG,
    re: /num_hidden_layers/,
  },
  {
    name: "unknown architecture",
    base: gpt2,
    mutate: (d) => editJson(cfg(d), (j) => void Object.assign(j, { architectures: ["LlamaForCausalLM"] })),
    file: CONFIG,
    re: /not supported/,
  },
  { name: "missing", base: gpt2, mutate: (d) => Deno.remove(cfg(d)), file: CONFIG, re: /not found/ },
  {
    name: "a JSON array",
    base: gpt2,
    mutate: (d) => Deno.writeTextFile(cfg(d), "[]"),
    file: CONFIG,
    re: /not a JSON object/,
  },
];

/**
 * A hostile BERT whose config claims hidden size 2^14 with a tiny vocabulary, so the embeddings in its
 * (small, consistent) file are valid: loading must fail on the attention weights' real shapes before
 * allocating 3 · 2^28 floats for the fused projection.
 */
async function hostileWideBert(d: string): Promise<void> {
  const C = 2 ** 14;
  await editJson(cfg(d), (j) =>
    void Object.assign(j, {
      hidden_size: C,
      num_attention_heads: 1,
      vocab_size: 1,
      max_position_embeddings: 1,
      type_vocab_size: 1,
      pad_token_id: 0,
      num_hidden_layers: 1,
    }));
  const s = await readSt(st(d));
  const header: St["header"] = {};
  let at = 0;
  const add = (name: string, shape: number[]) => {
    const n = shape.reduce((a, b) => a * b, 1) * 4;
    header[name] = { dtype: "F32", shape, data_offsets: [at, at + n] };
    at += n;
  };
  for (const e of ["word", "position", "token_type"]) add(`bert.embeddings.${e}_embeddings.weight`, [1, C]);
  add("bert.embeddings.LayerNorm.weight", [C]);
  add("bert.embeddings.LayerNorm.bias", [C]);
  for (const q of ["query", "key", "value"]) {
    const src = s.header[`bert.encoder.layer.0.attention.self.${q}.weight`];
    header[`bert.encoder.layer.0.attention.self.${q}.weight`] = {
      ...src,
      data_offsets: [at, at + 64 * 64 * 4],
    };
    at += 64 * 64 * 4;
  }
  await writeSt(st(d), header, new Uint8Array(at));
}

const INDEX = "model.safetensors.index.json";

/** Splits the GPT-2 fixture into two shards with an index (as `save_pretrained` does for large models). */
async function shard(d: string, editIndex?: (index: Record<string, unknown>) => void): Promise<void> {
  const s = await readSt(st(d));
  const names = Object.keys(s.header).filter((n) => n !== "__metadata__");
  const parts = [names.slice(0, names.length / 2), names.slice(names.length / 2)];
  const weightMap: Record<string, string> = {};
  for (const [i, part] of parts.entries()) {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    const header: St["header"] = {};
    const chunks: Uint8Array[] = [];
    let at = 0;
    for (const n of part) {
      const [b, e] = s.header[n].data_offsets;
      header[n] = { ...s.header[n], data_offsets: [at, at + e - b] };
      chunks.push(s.data.subarray(b, e));
      at += e - b;
      weightMap[n] = file;
    }
    const data = new Uint8Array(at);
    let o = 0;
    for (const c of chunks) data.set(c, (o += c.length) - c.length);
    await writeSt(join(d, file), header, data);
  }
  await Deno.remove(st(d));
  const index: Record<string, unknown> = { metadata: {}, weight_map: weightMap };
  editIndex?.(index);
  await Deno.writeTextFile(join(d, INDEX), JSON.stringify(index));
}

const OTHER_CASES: Case[] = [
  {
    name: "index names a shard outside the folder",
    base: gpt2,
    mutate: (d) =>
      shard(
        d,
        (ix) => void ((ix.weight_map as Record<string, string>)["transformer.wte.weight"] = "../secret"),
      ),
    file: INDEX,
    re: /not a plain file name/,
  },
  {
    name: "index names a missing shard",
    base: gpt2,
    mutate: (d) =>
      shard(
        d,
        (ix) => void ((ix.weight_map as Record<string, string>)["transformer.wte.weight"] = "gone.bin"),
      ),
    file: INDEX,
    re: /does not exist/,
  },
  {
    name: "index not JSON",
    base: gpt2,
    mutate: async (d) => {
      await shard(d);
      await Deno.writeTextFile(join(d, INDEX), "{{");
    },
    file: INDEX,
    re: /not valid JSON/,
  },
  {
    name: "shard lacks a tensor the index assigns to it",
    base: gpt2,
    mutate: (d) =>
      shard(
        d,
        (ix) =>
          void ((ix.weight_map as Record<string, string>)["ghost.weight"] =
            "model-00001-of-00002.safetensors"),
      ),
    file: "model-00001-of-00002.safetensors",
    re: /ghost\.weight/,
  },
  {
    name: "tokenizer.json not JSON",
    base: gpt2,
    mutate: (d) => Deno.writeTextFile(join(d, "tokenizer.json"), "{"),
    file: "tokenizer.json",
    re: /not valid JSON/,
  },
  {
    name: "vocab.json not an object",
    base: gpt2,
    mutate: async (d) => {
      await Deno.writeTextFile(join(d, "vocab.json"), "[1, 2]");
      await Deno.writeTextFile(join(d, "merges.txt"), "#version: 0.2\n");
    },
    file: "vocab.json",
  },
  {
    name: "vocab.txt binary",
    base: bert,
    mutate: (d) => Deno.writeFile(join(d, "vocab.txt"), new Uint8Array([0xff, 0xfe, 0, 1, 10, 0xc0])),
    file: "vocab.txt",
  },
];

const MANIFEST = "d2dmoe.json";
const EXPERTS = "d2dmoe.safetensors";
const man = (d: string) => join(d, MANIFEST);
const exp = (d: string) => join(d, EXPERTS);

const CONVERTED_CASES: Case[] = [
  {
    name: "manifest not JSON",
    base: converted,
    mutate: (d) => truncateTo(man(d), 40),
    file: MANIFEST,
    re: /not valid JSON/,
  },
  {
    name: "manifest of another format",
    base: converted,
    mutate: (d) => editJson(man(d), (j) => void (j.format = "moefication")),
    file: MANIFEST,
    re: /"format"/,
  },
  {
    name: "manifest from the future",
    base: converted,
    mutate: (d) => editJson(man(d), (j) => void (j.format_version = 99)),
    file: MANIFEST,
    re: /format_version 99/,
  },
  {
    name: "experts × size ≠ FFN width",
    base: converted,
    mutate: (d) =>
      editJson(man(d), (j) => void ((j.layers as Record<string, number>[])[1].experts = 1_000_000)),
    file: MANIFEST,
    re: /FFN width/,
  },
  {
    name: "layer count ≠ config",
    base: converted,
    mutate: (d) => editJson(man(d), (j) => void (j.layers = (j.layers as unknown[]).slice(0, 1))),
    file: MANIFEST,
    re: /layers/,
  },
  {
    name: "family ≠ config",
    base: converted,
    mutate: (d) => editJson(man(d), (j) => void (j.family = "bert")),
    file: MANIFEST,
    re: /bert/,
  },
  {
    name: "router width 10^6",
    base: converted,
    mutate: (d) =>
      editJson(man(d), (j) => void ((j.layers as Record<string, number>[])[0].router_width = 1_000_000)),
    file: MANIFEST,
    re: /router_width/,
  },
  {
    name: "default τ out of range",
    base: converted,
    mutate: (d) => editJson(man(d), (j) => void (j.default_tau = 7)),
    file: MANIFEST,
    re: /default_tau/,
  },
  {
    name: "calibration τ negative",
    base: converted,
    mutate: (d) => editJson(man(d), (j) => void ((j.calibration as Record<string, number>[])[0].tau = -0.5)),
    file: MANIFEST,
    re: /calibration/,
  },
  {
    name: "calibration fraction out of range",
    base: converted,
    mutate: (d) =>
      editJson(man(d), (j) => void ((j.calibration as Record<string, number>[])[1].ffn_fraction = 1e9)),
    file: MANIFEST,
    re: /ffn_fraction/,
  },
  {
    name: "manifest a JSON string",
    base: converted,
    mutate: (d) => Deno.writeTextFile(man(d), '"d2dmoe"'),
    file: MANIFEST,
    re: /JSON object/,
  },
  { name: "experts file missing", base: converted, mutate: (d) => Deno.remove(exp(d)), file: EXPERTS },
  {
    name: "experts file truncated",
    base: converted,
    mutate: async (d) => truncateTo(exp(d), (await Deno.stat(exp(d))).size - 100),
    file: EXPERTS,
    re: /past the end/,
  },
  {
    name: "experts header garbage",
    base: converted,
    mutate: async (d) => writeSt(exp(d), "}{".repeat(20), (await readSt(exp(d))).data),
    file: EXPERTS,
    re: /not valid JSON/,
  },
  {
    name: "experts header length absurd",
    base: converted,
    mutate: async (d) => {
      const s = await readSt(exp(d));
      await writeSt(exp(d), s.header, s.data, 2n ** 62n);
    },
    file: EXPERTS,
    re: /limit/,
  },
  {
    name: "router tensor missing",
    base: converted,
    mutate: (d) => editSt(exp(d), (s) => void delete s.header["layers.1.router.w2"]),
    file: EXPERTS,
    re: /layers\.1\.router\.w2.*not found/,
  },
  {
    name: "expert weights transposed",
    base: converted,
    mutate: (d) =>
      editSt(exp(d), (s) => {
        const t = s.header["layers.0.experts.w1"]; // [E, d, s] → [E, s, d]
        t.shape = [t.shape[0], t.shape[2], t.shape[1]];
      }),
    file: EXPERTS,
    re: /layers\.0\.experts\.w1.*expected/,
  },
  {
    name: "dense weights missing a non-FFN tensor",
    base: converted,
    mutate: (d) => editSt(st(d), (s) => void delete s.header["transformer.h.0.attn.c_attn.weight"]),
    file: ST,
    re: /not found/,
  },
];

async function runCases(t: Deno.TestContext, cases: Case[]): Promise<void> {
  for (const c of cases) {
    await t.step(c.name, async () => {
      const dir = await copyOf(await c.base());
      await c.mutate(dir);
      await expectTypedError(dir, c.file, c.re);
    });
  }
}

Deno.test("file fuzz: corrupted safetensors → ModelFormatError naming the file", async (t) => {
  await runCases(t, SAFETENSORS_CASES);
});

Deno.test("file fuzz: config.json disagreeing with the weights, or broken", async (t) => {
  await runCases(t, CONFIG_CASES);
  await t.step("hostile: width 2^14 with consistent tiny embeddings (no 3·C² allocation first)", async () => {
    const dir = await copyOf(BERT);
    await hostileWideBert(dir);
    await expectTypedError(dir, ST, /query\.weight.*expected \[16384,16384\]/);
  });
});

Deno.test("file fuzz: sharded index and tokenizer files", async (t) => {
  const dir = await copyOf(GPT2);
  await shard(dir);
  using sharded = await loadModel(dir, { backend: "cpu" });
  assert.equal(sharded.config.family, "gpt2", "the uncorrupted shards load");
  await runCases(t, OTHER_CASES);
});

Deno.test("file fuzz: corrupted converted folder (d2dmoe.json, d2dmoe.safetensors)", async (t) => {
  using ok = await loadModel(await converted(), { backend: "cpu" });
  assert.ok(ok.moe, "the uncorrupted conversion loads");
  await runCases(t, CONVERTED_CASES);
});

Deno.test("file fuzz: 120 seeded random corruptions → typed errors or a working model, never worse", async () => {
  const sources = [GPT2, BERT, fixture("tiny-vit"), await converted()];
  const scratch = await Deno.makeTempDir({ dir: tmp, prefix: "random-" });
  const s = await runFileFuzz({ seed: 1, cases: 120, sources, scratch });
  console.log(`random corruptions: ${JSON.stringify(s.outcomes)} from ${JSON.stringify(s.mutations)}`);
  assert.deepEqual(s.failures, []);
  assert.ok((s.outcomes.typed ?? 0) > 60, JSON.stringify(s.outcomes));
});

// ---------------------------------------------------------------------------------------------------
// The CLI: one `error:` line, exit 1, no stack trace
// ---------------------------------------------------------------------------------------------------

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const DENO_JSON = fileURLToPath(new URL("../../deno.json", import.meta.url));

Deno.test("file fuzz: `d2d info` on corrupted folders → exit 1, exactly one error: line, no stack", async () => {
  const picks: Case[] = [
    SAFETENSORS_CASES.find((c) => c.name === "header length 2^50 (a petabyte)")!,
    SAFETENSORS_CASES.find((c) => c.name === "overlapping tensors")!,
    SAFETENSORS_CASES.find((c) => c.name === "missing tensor")!,
    CONFIG_CASES.find((c) => c.name === "wider than the weights")!,
    CONVERTED_CASES.find((c) => c.name === "manifest not JSON")!,
    CONVERTED_CASES.find((c) => c.name === "experts file truncated")!,
  ];
  await Promise.all(picks.map(async (c) => {
    const dir = await copyOf(await c.base());
    await c.mutate(dir);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", DENO_JSON, MAIN, "info", "--model", dir, "--backend", "cpu"],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const out = await child.output();
    clearTimeout(timer);
    const stderr = new TextDecoder().decode(out.stderr);
    const lines = stderr.split("\n").filter((l) => l.trim() !== "");
    assert.equal(out.code, 1, `${c.name}: exit ${out.code}\n${stderr}`);
    assert.equal(lines.filter((l) => l.startsWith("error: ")).length, 1, `${c.name}:\n${stderr}`);
    assert.deepEqual(
      lines.filter((l) => !/^(error|hint): /.test(l)),
      [],
      `${c.name}: extra output\n${stderr}`,
    );
    assert.doesNotMatch(stderr, /^\s+at /m);
    const want = c.file === "" ? dir : join(dir, c.file);
    assert.ok(lines[0].startsWith(`error: ${want}: `), `${c.name}: ${lines[0]}`);
    assert.equal(basename(want), basename(c.file === "" ? dir : c.file));
  }));
});
