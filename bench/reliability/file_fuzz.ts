/**
 * Seeded random corruption of model folders (byte flips, truncation, lying length prefixes, header /
 * config / manifest field mutations, deleted files), each loaded under a time limit and an allocation
 * guard. A case passes when loading either fails with a typed error naming a file of the folder, or
 * succeeds and a tiny inference then works or fails with a typed error. Used by `deno task fuzz:files`.
 * @module
 */
import { join } from "node:path";
import { InvalidInputError, ModelFormatError, UnsupportedModelError } from "../../src/model/errors.ts";
import { loadModel } from "../../src/model/load.ts";
import { Rng } from "../../src/util/rng.ts";
import {
  AllocationTooLarge,
  copyFolder,
  editJson,
  editSt,
  folderBytes,
  truncateTo,
  withAllocationLimit,
  withTimeout,
} from "./file_surgery.ts";

/** What one corrupted folder did. */
export type FileOutcome = "typed" | "loaded" | "untyped" | "hang" | "allocation" | "unnamed" | "runtime";

/** Summary of a file-fuzz run. */
export interface FileFuzzSummary {
  /** Cases tried. */
  cases: number;
  /** Count per outcome (`typed` and `loaded` are fine; the rest are failures). */
  outcomes: Record<string, number>;
  /** Count per mutation kind. */
  mutations: Record<string, number>;
  /** Failures (first 30), with the mutation and the error. */
  failures: string[];
  /** Wall time (ms). */
  durationMs: number;
}

const POOL: unknown[] = [0, -1, 1, 3, 1.5, 1e9, 2 ** 31, 2 ** 53, -(2 ** 53), "x", "", null, true, [], {}, [
  1,
  2,
]];
const DTYPES = ["F32", "F16", "BF16", "F64", "I64", "U8", "BOOL", "F8_E4M3", "F128", "", 7];

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile) out.push(e.name);
  return out.sort();
}

/** Applies one random corruption to `dir`; returns its description. */
async function mutate(rng: Rng, dir: string): Promise<{ kind: string; detail: string }> {
  const names = await files(dir);
  const sts = names.filter((n) => n.endsWith(".safetensors"));
  const jsons = names.filter((n) => n.endsWith(".json") && n !== "expected.json" && n !== "inputs.json");
  const kind = pick(rng, ["header-flip", "any-flip", "truncate", "length", "tensor", "json", "delete"]);
  const f = pick(rng, kind === "json" ? jsons : kind === "delete" || kind === "any-flip" ? names : sts);
  const path = join(dir, f);
  switch (kind) {
    case "header-flip":
    case "any-flip": {
      const b = await Deno.readFile(path);
      const n = kind === "header-flip" ? 8 + Number(new DataView(b.buffer).getBigUint64(0, true)) : b.length;
      const at: number[] = [];
      for (let k = 0; k < 1 + rng.int(6); k++) {
        const i = rng.int(Math.max(1, Math.min(n, b.length)));
        b[i] = rng.int(256);
        at.push(i);
      }
      await Deno.writeFile(path, b);
      return { kind, detail: `${f} bytes ${at.join(",")}` };
    }
    case "truncate": {
      const size = (await Deno.stat(path)).size;
      const len = pick(rng, [0, 7, 8, 9, rng.int(size), size - 1]);
      await truncateTo(path, len);
      return { kind, detail: `${f} to ${len} of ${size} bytes` };
    }
    case "length": {
      const b = await Deno.readFile(path);
      const v = pick(rng, [0n, 1n, BigInt(b.length), BigInt(b.length - 8), 2n ** 32n, 2n ** 53n, 2n ** 63n]);
      new DataView(b.buffer).setBigUint64(0, v, true);
      await Deno.writeFile(path, b);
      return { kind, detail: `${f} length prefix ${v}` };
    }
    case "tensor": {
      let detail = "";
      await editSt(path, (s) => {
        const tensors = Object.keys(s.header).filter((k) => k !== "__metadata__");
        const name = pick(rng, tensors);
        const t = s.header[name] as unknown as Record<string, unknown>;
        const op = pick(rng, ["dtype", "shape", "offsets", "delete", "overlap"]);
        detail = `${f} ${name} ${op}`;
        if (op === "dtype") t.dtype = pick(rng, DTYPES);
        else if (op === "shape") {
          const shape = t.shape as number[];
          t.shape = pick(rng, [
            [...shape].reverse(),
            [...shape, 1],
            shape.slice(1),
            shape.map((d) => d * 2),
            [2 ** 40, 2 ** 40],
            [-1],
            [1.5],
            "x",
          ]);
        } else if (op === "offsets") {
          const [b, e] = t.data_offsets as number[];
          t.data_offsets = pick(rng, [[e, b], [b + 4, e + 4], [b, 2 ** 50], [-1, e], [b], "x", [b, e + 1]]);
        } else if (op === "delete") delete s.header[name];
        else {
          const other = s.header[pick(rng, tensors)];
          t.data_offsets = [
            other.data_offsets[0],
            other.data_offsets[0] + ((t.data_offsets as number[])[1] -
              (t.data_offsets as number[])[0]),
          ];
        }
      });
      return { kind, detail };
    }
    case "json": {
      let detail = "";
      await editJson(path, (j) => {
        // Walk to a random leaf (objects and arrays), then replace or delete it.
        let node: Record<string, unknown> | unknown[] = j;
        let key: string | number = pick(rng, Object.keys(j));
        for (let depth = 0; depth < 3; depth++) {
          const v: unknown = (node as Record<string | number, unknown>)[key];
          if (typeof v !== "object" || v === null || rng.int(3) === 0) break;
          const keys: (string | number)[] = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
          if (keys.length === 0) break;
          node = v as Record<string, unknown>;
          key = pick(rng, keys);
        }
        const value = pick(rng, POOL);
        if (rng.int(6) === 0 && !Array.isArray(node)) {
          delete (node as Record<string, unknown>)[key];
          detail = `${f} delete ${key}`;
        } else {
          (node as Record<string | number, unknown>)[key] = value;
          detail = `${f} ${key} = ${JSON.stringify(value)}`;
        }
      });
      return { kind, detail };
    }
    default:
      await Deno.remove(path);
      return { kind, detail: `${f} removed` };
  }
}

/** A tiny inference on a model that loaded despite the corruption. */
async function smoke(m: Awaited<ReturnType<typeof loadModel>>): Promise<void> {
  if (m.capabilities.generate) await m.generate([1, 2], { maxTokens: 1, greedy: true });
  else if (m.capabilities.embed) await m.embed([[2, 5, 3]]);
  else if (m.config.family === "vit") {
    const c = m.config;
    const img = Array.from(
      { length: c.numChannels },
      () => Array.from({ length: c.imageSize }, () => new Array(c.imageSize).fill(0.1)),
    );
    await m.forward({ pixel_values: [img] });
  }
}

/**
 * Corrupts copies of the source folders and loads each.
 * @param o Seed, number of cases, the folders to corrupt, and a scratch folder.
 * @returns The summary (`failures` empty when every case ended well).
 */
export async function runFileFuzz(
  o: { seed: number; cases: number; sources: string[]; scratch: string; timeoutMs?: number },
): Promise<FileFuzzSummary> {
  const rng = new Rng(o.seed);
  const s: FileFuzzSummary = { cases: 0, outcomes: {}, mutations: {}, failures: [], durationMs: 0 };
  const t0 = performance.now();
  for (let i = 0; i < o.cases; i++) {
    const dir = await copyFolder(pick(rng, o.sources), join(o.scratch, `f${i}`));
    const m = await mutate(rng, dir);
    const limit = (await folderBytes(dir)) + (1 << 20);
    let outcome: FileOutcome;
    let why = "";
    try {
      const model = await withAllocationLimit(
        limit,
        () => withTimeout(loadModel(dir, { backend: "cpu" }), o.timeoutMs ?? 10_000, "load"),
      );
      try {
        await withTimeout(smoke(model), o.timeoutMs ?? 10_000, "inference");
        outcome = "loaded";
      } catch (e) {
        outcome = e instanceof InvalidInputError || e instanceof ModelFormatError ? "loaded" : "runtime";
        why = String((e as Error)?.stack ?? e);
      } finally {
        model[Symbol.dispose]();
      }
    } catch (e) {
      if (e instanceof AllocationTooLarge) outcome = "allocation";
      else if (e instanceof ModelFormatError || e instanceof UnsupportedModelError) {
        const inside = e.file === dir || e.file.startsWith(dir + "/");
        outcome = inside && e.message.startsWith(`${e.file}: `) ? "typed" : "unnamed";
      } else outcome = /hang/.test(String((e as Error)?.message)) ? "hang" : "untyped";
      why = String((e as Error)?.stack ?? e);
    }
    s.cases++;
    s.outcomes[outcome] = (s.outcomes[outcome] ?? 0) + 1;
    s.mutations[m.kind] = (s.mutations[m.kind] ?? 0) + 1;
    if (outcome !== "typed" && outcome !== "loaded" && s.failures.length < 30) {
      s.failures.push(
        `[${outcome}] ${m.kind}: ${m.detail}\n    ${why.split("\n").slice(0, 3).join("\n    ")}`,
      );
    }
    await Deno.remove(dir, { recursive: true });
  }
  s.durationMs = performance.now() - t0;
  return s;
}
