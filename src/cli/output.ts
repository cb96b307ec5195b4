/**
 * Output helpers for the CLI: JSON to stdout, human text, and the device line on stderr (so `--json`
 * output stays machine-readable).
 * @module
 */
import type { BackendInfo } from "../ops/backend.ts";

/** Writes a line to stdout. */
export function out(line: string): void {
  console.log(line);
}

/** Writes a line to stderr. */
export function note(line: string): void {
  console.error(line);
}

/** Writes a value as JSON to stdout. */
export function outJson(value: unknown): void {
  console.log(JSON.stringify(value));
}

/**
 * One line naming the device in use and whether it is a fallback.
 * @param info Backend info.
 * @returns e.g. "device: gpu (dawn) NVIDIA H200" or "device: cpu (fallback: dawn: no adapter; ...)".
 */
export function deviceLine(info: BackendInfo): string {
  const why = info.fallbackFrom.length ? ` (fallback from ${info.fallbackFrom.join("; ")})` : "";
  const soft = info.kind === "gpu" && info.fallback && !info.fallbackFrom.length ? " (software adapter)" : "";
  return `device: ${info.kind} [${info.provider}] ${info.description}${soft}${why}`;
}

/**
 * Renders rows as an aligned text table.
 * @param header Column titles.
 * @param rows Cells.
 * @returns The table, lines joined by newlines.
 */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => c.padStart(widths[i])).join("  ");
  return [line(cells[0]), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join(
    "\n",
  );
}

/**
 * τ for a table: at least three decimals, more when it has them (up to six), so that 0.0865 and 0.087 stay
 * apart (`toFixed(3)` printed both as 0.087, and the convert table's 0.085 and 0.09 both as 0.09).
 * @param tau The threshold.
 * @returns Its text.
 */
export function formatTau(tau: number): string {
  const decimals = String(Number(tau.toFixed(6))).split(".")[1]?.length ?? 0;
  return tau.toFixed(Math.max(3, decimals));
}
