/**
 * Command-line flags of `deno task bench` / `d2d bench`.
 * @module
 */
import { parseArgs } from "node:util";
import { type BackendChoice, parseBackendChoice } from "../src/ops/select_backend.ts";
import type { BenchOptions } from "./context.ts";

/** Usage text. */
export const BENCH_HELP = `deno task bench [options]      (also: d2d bench [options])

Benchmarks the FFN layer (dense vs D2DMoE at forced executed fractions), BERT forward and GPT-2 decode
end to end, and the device's own ceilings, against PyTorch and onnxruntime-web in the same run.
Prints one JSON object per line per measurement, then a table and the H200 target verdicts.

      --quick           tiny shapes, short timings (minutes on a CPU-only machine)
      --json            only JSON lines on stdout (the table goes to stderr)
      --only PATTERN    run cases whose name matches this regular expression
                        (ceiling_read, ceiling_matmul, ffn_batched, ffn_decode, bert_forward, gpt2_decode)
      --out FILE        also write the JSON lines to FILE (.jsonl)
      --backend B       auto (default: Dawn, else built-in WebGPU, else CPU) | gpu | dawn | webgpu | cpu
      --profile         per-kernel GPU times per row (timestamp queries, on a second device);
                        also on with D2D_PROFILE=1
      --torch           run the PyTorch peer (python3 bench/torch_peer.py; skipped with a note if missing)
      --ort             run the onnxruntime-web peers (WASM and WebGPU execution providers)
      --ort-gpu G       WebGPU implementation for onnxruntime: dawn | builtin (default: builtin; dawn segfaults with ORT 1.30)
      --python EXE      interpreter for --torch (default python3)
      --seed N          seed of all random data (default 1)
  -h, --help            this text

environment: D2D_ORT_WASM_DIR=folder with ort-wasm-simd-threaded.asyncify.{mjs,wasm} (see bench/pack.sh)`;

function envFlag(name: string): boolean {
  try {
    return Deno.env.get(name) === "1";
  } catch {
    return false;
  }
}

/** A mistake in the flags (exit code 2). */
export class BenchUsageError extends Error {
  /**
   * Creates the error.
   * @param message What is wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "BenchUsageError";
  }
}

/**
 * Parses the flags.
 * @param args Command-line arguments.
 * @returns Options, or `"help"` for --help.
 * @throws {BenchUsageError} On unknown flags or bad values.
 */
export function parseBenchArgs(args: string[]): BenchOptions | "help" {
  let v;
  try {
    v = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        quick: { type: "boolean" },
        json: { type: "boolean" },
        only: { type: "string" },
        out: { type: "string" },
        backend: { type: "string" },
        profile: { type: "boolean" },
        torch: { type: "boolean" },
        ort: { type: "boolean" },
        "ort-gpu": { type: "string" },
        python: { type: "string" },
        seed: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    throw new BenchUsageError((e as Error).message);
  }
  if (v.help) return "help";
  let backend: BackendChoice = "auto";
  if (v.backend !== undefined) {
    try {
      backend = parseBackendChoice(v.backend);
    } catch (e) {
      throw new BenchUsageError(`--${(e as Error).message}`);
    }
  }
  let only: RegExp | undefined;
  if (v.only !== undefined) {
    try {
      only = new RegExp(v.only, "i");
    } catch {
      throw new BenchUsageError(`--only must be a regular expression, got "${v.only}"`);
    }
  }
  const seed = v.seed === undefined ? 1 : Number(v.seed);
  if (!Number.isSafeInteger(seed)) throw new BenchUsageError(`--seed must be an integer, got "${v.seed}"`);
  const ortGpu = v["ort-gpu"];
  if (ortGpu !== undefined && ortGpu !== "dawn" && ortGpu !== "builtin") {
    throw new BenchUsageError(`--ort-gpu must be dawn or builtin, got "${ortGpu}"`);
  }
  return {
    quick: v.quick ?? false,
    json: v.json ?? false,
    only,
    out: v.out,
    backend,
    profile: v.profile ?? envFlag("D2D_PROFILE"),
    torch: v.torch ?? false,
    ort: v.ort ?? false,
    ortGpu,
    python: v.python ?? "python3",
    seed,
  };
}
