/**
 * The readable report: one table per case (ratios to our dense row of the same run), the devices,
 * per-kernel GPU times when profiled, and the target verdicts.
 * @module
 */
import { type BenchRecord, CASES, isTimed, rowLabel } from "./schema.ts";
import type { TargetResult } from "./targets.ts";

/**
 * An aligned text table: text columns left-aligned, the others right-aligned.
 * @param header Column titles.
 * @param rows Cells.
 * @param left Left-aligned columns (default: the first and the last).
 * @returns Lines joined by newlines.
 */
export function table(header: string[], rows: string[][], left = [0, header.length - 1]): string {
  const cells = [header, ...rows];
  const w = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r.map((c, i) => (left.includes(i) ? c.padEnd(w[i]) : c.padStart(w[i]))).join("  ").trimEnd();
  return [line(header), w.map((n) => "-".repeat(n)).join("  "), ...rows.map(line)].join("\n");
}

const SHAPE_KEYS = [
  "tokens",
  "d",
  "d_ff",
  "act",
  "batch",
  "seq",
  "prompt",
  "new_tokens",
  "layers",
  "hidden",
  "bytes",
  "m",
];

function fmt(x: unknown, digits = 4): string {
  return typeof x === "number" && Number.isFinite(x) ? String(Number(x.toPrecision(digits))) : "";
}

function throughput(r: BenchRecord): string {
  if (typeof r.tokens_per_s === "number") return `${fmt(r.tokens_per_s)} tok/s`;
  if (typeof r.tflops === "number") return `${fmt(r.tflops)} TFLOP/s`;
  if (typeof r.gbps === "number") return `${fmt(r.gbps)} GB/s`;
  return "";
}

function check(r: BenchRecord): string {
  if (typeof r.max_abs_diff === "number") return `Δ${r.max_abs_diff.toExponential(1)}`;
  if (typeof r.tokens_match_dense === "number") return `same ${fmt(r.tokens_match_dense, 2)}`;
  return "";
}

function shapeLine(rs: BenchRecord[]): string {
  const r = rs.find((x) => SHAPE_KEYS.some((k) => x[k] !== undefined)) ?? rs[0];
  return SHAPE_KEYS.filter((k) => r[k] !== undefined).map((k) => `${k}=${r[k]}`).join(" ");
}

/**
 * Renders one case.
 * @param name Case name.
 * @param rs Its records.
 * @returns Lines.
 */
export function caseTable(name: string, rs: BenchRecord[]): string {
  const rows = rs.map((r) => {
    if (!isTimed(r)) {
      return [rowLabel(r), fmt(r.ffn_fraction, 3), "", "", "", "", "", `${r.status}: ${r.note ?? ""}`];
    }
    return [
      rowLabel(r),
      fmt(r.ffn_fraction, 3),
      fmt(r.ffn_fraction_measured, 3),
      fmt(r.ms_median),
      `${fmt(r.ms_p10, 3)}–${fmt(r.ms_p90, 3)}`,
      throughput(r),
      fmt(r.ratio_to_dense, 3),
      [check(r), r.gpu_ms !== undefined ? `gpu ${fmt(r.gpu_ms, 3)}` : ""].filter(Boolean).join(" "),
    ];
  });
  const head = ["row", "f", "f meas", "ms", "p10–p90", "throughput", "×dense", "check / profile / note"];
  return `== ${name}  ${shapeLine(rs)}\n${table(head, rows)}`;
}

/**
 * Renders the per-kernel GPU times of profiled rows.
 * @param rs Records.
 * @param top Kernels per row.
 * @returns Lines (empty when nothing was profiled).
 */
export function kernelTable(rs: BenchRecord[], top = 6): string {
  const lines: string[] = [];
  for (const r of rs) {
    if (!r.kernels?.length) continue;
    const ks = r.kernels.slice(0, top).map((k) => `${k.label} ${fmt(k.ms, 3)}ms×${fmt(k.count, 3)}`).join(
      ", ",
    );
    lines.push(`${r.case} | ${rowLabel(r)} | gpu ${fmt(r.gpu_ms, 3)} ms/iter: ${ks}`);
  }
  return lines.length
    ? `== per-kernel GPU times (timestamp queries, per iteration)\n${lines.join("\n")}`
    : "";
}

/**
 * Renders the target verdicts.
 * @param ts Verdicts.
 * @returns Lines.
 */
export function targetTable(ts: TargetResult[]): string {
  const rows = ts.map((
    t,
  ) => [
    t.verdict.toUpperCase(),
    t.target,
    t.ratio === null ? "" : String(t.ratio),
    `${t.op} ${t.limit}`,
    t.detail,
  ]);
  return `== targets (meaningful on the H200 only; each a ratio within this run)\n${
    table(["", "target", "ratio", "need", "detail"], rows, [0, 1, 4])
  }`;
}

/**
 * The whole report.
 * @param rs Records of the run (targets excluded).
 * @param ts Target verdicts.
 * @returns Text.
 */
export function renderReport(rs: BenchRecord[], ts: TargetResult[]): string {
  const devices = new Map<string, string>();
  for (const r of rs) if (!devices.has(r.impl) && isTimed(r)) devices.set(r.impl, r.device);
  const names = [
    ...CASES.filter((c) => rs.some((r) => r.case === c)),
    ...new Set(rs.map((r) => r.case).filter((c) => !(CASES as readonly string[]).includes(c))),
  ];
  const parts = [
    `devices: ${[...devices].map(([k, v]) => `${k} = ${v}`).join("; ")}`,
    ...names.map((c) => caseTable(c, rs.filter((r) => r.case === c))),
    kernelTable(rs),
    targetTable(ts),
  ];
  return parts.filter(Boolean).join("\n\n");
}
