/**
 * The benchmark's output record: one JSON object per line per measured (case, implementation, model).
 * Ours, PyTorch (`bench/torch_peer.py`) and onnxruntime-web rows share it, so ratios are computed from
 * one run.
 * @module
 */

/** Case names, in run order. */
export const CASES = [
  "ceiling_read",
  "ceiling_matmul",
  "ffn_batched",
  "ffn_decode",
  "bert_forward",
  "gpt2_decode",
] as const;

/** One benchmark case. */
export type CaseName = typeof CASES[number];

/** Per-kernel GPU time of one iteration (from timestamp queries). */
export interface KernelTime {
  /** Kernel label. */
  label: string;
  /** Dispatches per iteration. */
  count: number;
  /** GPU milliseconds per iteration. */
  ms: number;
}

/** One measurement (or one skipped / failed one, with `status` and `note`). */
export interface BenchRecord {
  /** Case name (see {@link CASES}); `"target"` for the target verdict lines. */
  case: string;
  /** Who ran it: `ours`, `torch`, `ort-wasm`, `ort-webgpu`. */
  impl: string;
  /** What ran: `dense`, `d2dmoe-24x128` (experts × neurons), `read`, `matmul`. */
  model: string;
  /** Forced executed FFN fraction k/E (1 for dense). */
  ffn_fraction?: number;
  /** Executed fraction counted on the device (D2DMoE rows). */
  ffn_fraction_measured?: number;
  /** Shape fields: tokens, d, d_ff, experts, expert_size, batch, seq, prompt, new_tokens, m, n, k, bytes. */
  [shape: string]: unknown;
  /** Median milliseconds per iteration (per generate call for `gpt2_decode`). */
  ms_median?: number;
  /** 10th percentile over repeats. */
  ms_p10?: number;
  /** 90th percentile over repeats. */
  ms_p90?: number;
  /** Timed iterations in total. */
  iters?: number;
  /** Achieved TFLOP/s (dense-equivalent FLOPs for dense rows, executed FLOPs for D2DMoE rows). */
  tflops?: number;
  /** Achieved GB/s of the bytes that must move (read bandwidth, decode weights). */
  gbps?: number;
  /** New tokens per second (decode). */
  tokens_per_s?: number;
  /** ms_median / ms_median of `ours dense` in the same case (below 1: faster than our dense). */
  ratio_to_dense?: number;
  /** The device, e.g. `gpu [dawn] NVIDIA H200`. */
  device: string;
  /** Sum of the per-kernel GPU times of one iteration (`--profile`). */
  gpu_ms?: number;
  /** Per-kernel GPU times of one iteration, slowest first (`--profile`). */
  kernels?: KernelTime[];
  /** Largest |difference| against our dense output on the same input (correctness check). */
  max_abs_diff?: number;
  /** `skipped` or `error` when there is no timing. */
  status?: "ok" | "skipped" | "error";
  /** Why a row was skipped or failed, or a remark. */
  note?: string;
}

/**
 * The row label used in tables: implementation, model and fraction.
 * @param r A record.
 * @returns e.g. `ours d2dmoe-24x128 f=0.3` (the nominal fraction; the executed one is k/E).
 */
export function rowLabel(r: BenchRecord): string {
  const nominal = typeof r.ffn_fraction_nominal === "number" ? r.ffn_fraction_nominal : r.ffn_fraction;
  const f = r.model.startsWith("d2dmoe") && nominal !== undefined ? ` f=${nominal}` : "";
  return `${r.impl} ${r.model}${f}`;
}

/**
 * True when a record carries a timing.
 * @param r A record.
 * @returns Whether `ms_median` is a finite number and the status is ok.
 */
export function isTimed(r: BenchRecord): r is BenchRecord & { ms_median: number } {
  return (r.status ?? "ok") === "ok" && typeof r.ms_median === "number" && Number.isFinite(r.ms_median);
}

/**
 * Checks a parsed JSON line against the schema (used by tests and when merging the PyTorch peer's lines).
 * @param v Parsed JSON.
 * @returns A list of problems (empty when valid).
 */
export function schemaProblems(v: unknown): string[] {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return ["not an object"];
  const r = v as Record<string, unknown>;
  const problems: string[] = [];
  for (const k of ["case", "impl", "model", "device"]) {
    if (typeof r[k] !== "string") problems.push(`${k} must be a string`);
  }
  const status = r.status ?? "ok";
  if (!["ok", "skipped", "error"].includes(status as string)) problems.push(`bad status ${String(status)}`);
  if (status === "ok" && r.case !== "target") {
    for (const k of ["ms_median", "ms_p10", "ms_p90", "iters"]) {
      if (typeof r[k] !== "number" || !Number.isFinite(r[k] as number)) {
        problems.push(`${k} must be a number`);
      }
    }
    if (typeof r.ms_p10 === "number" && typeof r.ms_p90 === "number" && r.ms_p10 > r.ms_p90) {
      problems.push("ms_p10 > ms_p90");
    }
  } else if (status !== "ok" && typeof r.note !== "string") {
    problems.push("a skipped or failed row needs a note");
  }
  for (const k of ["tflops", "gbps", "tokens_per_s", "ratio_to_dense", "ffn_fraction", "gpu_ms"]) {
    if (r[k] !== undefined && (typeof r[k] !== "number" || !Number.isFinite(r[k] as number))) {
      problems.push(`${k} must be a finite number when present`);
    }
  }
  return problems;
}
