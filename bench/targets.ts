/**
 * The five H200 targets of issue 6, each evaluated as a ratio of two rows of the same run. They are
 * printed on every device, but only mean something on the GPU machine.
 * @module
 */
import { type BenchRecord, isTimed } from "./schema.ts";

/** One target verdict (also emitted as a JSON line with `case: "target"`). */
export interface TargetResult {
  /** What is claimed. */
  target: string;
  /** The measured ratio (null when a row is missing). */
  ratio: number | null;
  /** The bound the ratio must meet. */
  limit: number;
  /** `>=` or `<=` (or `<` for strictly faster). */
  op: ">=" | "<=" | "<";
  /** `pass`, `miss` or `n/a`. */
  verdict: "pass" | "miss" | "n/a";
  /** How the ratio was formed, by how much it missed, and the slowest kernels when profiled. */
  detail: string;
}

const r3 = (x: number) => Number(x.toPrecision(3));

function find(rs: BenchRecord[], c: string, impl: string, model: string, nominal?: number) {
  return rs.find((r) =>
    r.case === c && r.impl === impl && r.model === model && isTimed(r) &&
    (nominal === undefined || r.ffn_fraction_nominal === nominal)
  );
}

function topKernels(r: BenchRecord | undefined): string {
  if (!r?.kernels?.length) return "";
  const k = r.kernels.slice(0, 4).map((x) => `${x.label} ${x.ms.toPrecision(3)} ms×${x.count}`).join(", ");
  return `; slowest kernels per iteration (${r.gpu_ms?.toPrecision(3)} ms GPU): ${k}`;
}

function verdict(
  target: string,
  ratio: number | null,
  op: TargetResult["op"],
  limit: number,
  how: string,
  rows: (BenchRecord | undefined)[],
): TargetResult {
  if (ratio === null || !Number.isFinite(ratio)) {
    return { target, ratio: null, limit, op, verdict: "n/a", detail: `${how}: a row is missing in this run` };
  }
  const ok = op === ">=" ? ratio >= limit : op === "<=" ? ratio <= limit : ratio < limit;
  const by = op === ">=" ? limit / ratio : ratio / limit;
  const miss = ok ? "" : `; misses by a factor ${by.toPrecision(3)}`;
  return {
    target,
    ratio: r3(ratio),
    limit: r3(limit),
    op,
    verdict: ok ? "pass" : "miss",
    detail: `${how}${miss}${ok ? "" : rows.map(topKernels).join("")}`,
  };
}

/**
 * Evaluates the targets on a run's records.
 * @param rs Records of one run.
 * @returns One verdict per target (the FFN targets: one per expert layout and fraction).
 */
export function evaluateTargets(rs: BenchRecord[]): TargetResult[] {
  const out: TargetResult[] = [];
  const mm = find(rs, "ceiling_matmul", "ours", "matmul"),
    cublas = find(rs, "ceiling_matmul", "torch", "matmul");
  out.push(verdict(
    "dense fp32 matmul >= 0.8x cuBLAS fp32 (TF32 off)",
    mm && cublas ? mm.tflops! / cublas.tflops! : null,
    ">=",
    0.8,
    `ours ${mm?.tflops ?? "?"} / cuBLAS ${cublas?.tflops ?? "?"} TFLOP/s at ${mm?.m ?? "?"}^3`,
    [mm],
  ));
  const gd = find(rs, "gpt2_decode", "ours", "dense"), hf = find(rs, "gpt2_decode", "torch", "dense");
  out.push(verdict(
    "GPT-2-small dense decode >= 3x HF transformers eager",
    gd && hf ? gd.tokens_per_s! / hf.tokens_per_s! : null,
    ">=",
    3,
    `ours ${gd?.tokens_per_s ?? "?"} / transformers ${hf?.tokens_per_s ?? "?"} tokens/s`,
    [gd],
  ));
  for (
    const r of rs.filter((r) => r.case === "ffn_batched" && r.impl === "ours" && r.model.startsWith("d2dmoe"))
  ) {
    const f = r.ffn_fraction ?? 1;
    out.push(verdict(
      `D2DMoE FFN batched ${r.model} f=${f} <= (f+0.1)x dense`,
      isTimed(r) ? r.ratio_to_dense ?? null : null,
      "<=",
      f + 0.1,
      `${r.ms_median ?? "?"} ms vs dense (ratio ${r.ratio_to_dense ?? "?"})`,
      [r],
    ));
  }
  for (
    const r of rs.filter((r) =>
      r.case === "ffn_decode" && r.impl === "ours" && r.ffn_fraction_nominal === 0.3
    )
  ) {
    out.push(verdict(
      `D2DMoE decode FFN ${r.model} f=${r.ffn_fraction} <= 0.5x dense`,
      isTimed(r) ? r.ratio_to_dense ?? null : null,
      "<=",
      0.5,
      `${r.ms_median ?? "?"} ms vs dense (ratio ${r.ratio_to_dense ?? "?"})`,
      [r],
    ));
  }
  const bm = rs.find((r) =>
    r.case === "bert_forward" && r.impl === "ours" && r.ffn_fraction_nominal === 0.3 && isTimed(r)
  );
  const bt = find(rs, "bert_forward", "torch", "dense");
  out.push(verdict(
    `BERT-base 32x128 D2DMoE f=0.3 faster than PyTorch fp32 dense`,
    bm && bt ? bm.ms_median! / bt.ms_median! : null,
    "<",
    1,
    `ours ${bm?.model ?? "d2dmoe"} ${bm?.ms_median ?? "?"} ms / PyTorch ${bt?.ms_median ?? "?"} ms`,
    [bm],
  ));
  return out;
}

/**
 * A target verdict as a JSON-line record.
 * @param t Verdict.
 * @param device Device of the run.
 * @returns The record.
 */
export function targetRecord(t: TargetResult, device: string): BenchRecord {
  return { case: "target", impl: "-", model: "-", device, ...t, ratio: t.ratio ?? undefined };
}
