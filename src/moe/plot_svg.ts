/**
 * A small dependency-free SVG line plot: quality against compute, one labelled point per τ.
 * @module
 */

/** One point of the curve. */
export interface PlotPoint {
  /** x value (e.g. FFN fraction). */
  x: number;
  /** y value (e.g. perplexity or accuracy). */
  y: number;
  /** Label drawn beside the point (e.g. "τ=0.3"). */
  label: string;
}

/** Plot texts and reference lines. */
export interface PlotSpec {
  /** Title. */
  title: string;
  /** x-axis label. */
  xLabel: string;
  /** y-axis label. */
  yLabel: string;
  /** Curves to draw. */
  series: { name: string; points: PlotPoint[] }[];
  /** Optional horizontal reference line (e.g. the dense quality). */
  reference?: { y: number; label: string };
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function ticks(lo: number, hi: number, n = 5): number[] {
  const span = hi - lo || 1;
  const step = 10 ** Math.floor(Math.log10(span / n));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= n) ?? 10 * step;
  const out: number[] = [];
  for (let v = Math.ceil(lo / nice) * nice; v <= hi + 1e-12; v += nice) out.push(Number(v.toPrecision(12)));
  return out;
}

/**
 * Renders the plot.
 * @param spec Title, axes, series.
 * @returns SVG document text.
 */
export function renderPlot(spec: PlotSpec): string {
  const W = 720, H = 480, L = 80, R = 30, T = 50, B = 60;
  const pts = spec.series.flatMap((s) => s.points);
  const ys = pts.map((p) => p.y).concat(spec.reference ? [spec.reference.y] : []);
  const x0 = Math.min(0, ...pts.map((p) => p.x));
  let x1 = Math.max(1, ...pts.map((p) => p.x));
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  const pad = (y1 - y0) * 0.08 || Math.abs(y1) * 0.05 || 1;
  y0 -= pad;
  y1 += pad;
  if (x1 === x0) x1 = x0 + 1;
  const sx = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="28" text-anchor="middle" font-size="16">${esc(spec.title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
  ];
  for (const v of ticks(x0, x1)) {
    parts.push(`<line x1="${sx(v)}" y1="${H - B}" x2="${sx(v)}" y2="${H - B + 5}" stroke="black"/>`);
    parts.push(`<text x="${sx(v)}" y="${H - B + 18}" text-anchor="middle">${v}</text>`);
  }
  for (const v of ticks(y0, y1)) {
    parts.push(`<line x1="${L - 5}" y1="${sy(v)}" x2="${L}" y2="${sy(v)}" stroke="black"/>`);
    parts.push(`<line x1="${L}" y1="${sy(v)}" x2="${W - R}" y2="${sy(v)}" stroke="#eee"/>`);
    parts.push(`<text x="${L - 8}" y="${sy(v) + 4}" text-anchor="end">${v}</text>`);
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 15}" text-anchor="middle">${esc(spec.xLabel)}</text>`);
  parts.push(
    `<text x="18" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 18 ${(T + H - B) / 2})">${
      esc(spec.yLabel)
    }</text>`,
  );
  if (spec.reference) {
    const y = sy(spec.reference.y);
    parts.push(`<line x1="${L}" y1="${y}" x2="${W - R}" y2="${y}" stroke="#888" stroke-dasharray="5,4"/>`);
    parts.push(
      `<text x="${W - R - 4}" y="${y - 5}" text-anchor="end" fill="#555">${esc(spec.reference.label)}</text>`,
    );
  }
  spec.series.forEach((s, i) => {
    const c = colors[i % colors.length];
    const sorted = [...s.points].sort((a, b) => a.x - b.x);
    parts.push(
      `<polyline fill="none" stroke="${c}" stroke-width="2" points="${
        sorted.map((p) => `${sx(p.x)},${sy(p.y)}`).join(" ")
      }"/>`,
    );
    for (const p of s.points) {
      parts.push(`<circle cx="${sx(p.x)}" cy="${sy(p.y)}" r="3.5" fill="${c}"/>`);
      parts.push(
        `<text x="${sx(p.x) + 6}" y="${sy(p.y) - 6}" font-size="10" fill="#333">${esc(p.label)}</text>`,
      );
    }
    parts.push(
      `<text x="${W - R - 4}" y="${T + 16 * (i + 1)}" text-anchor="end" fill="${c}">${esc(s.name)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
