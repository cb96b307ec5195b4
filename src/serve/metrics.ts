/**
 * Prometheus text exposition (format 0.0.4), written by hand: counters, a latency histogram and gauges
 * read at scrape time. Label values are bounded by construction (route patterns, status codes, layer
 * indices), so no request can grow the registry.
 * @module
 */
import type { ComputeStats } from "../model/stats.ts";

/** Label names to values. */
export type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) =>
    `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`
  );
  return parts.length ? `{${parts.join(",")}}` : "";
}

function num(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** A monotonically increasing value per label set. */
export class Counter {
  /** Values by rendered label set. */
  readonly values: Map<string, { labels: Labels; value: number }> = new Map();
  /** Metric name. */
  readonly name: string;
  /** Description for `# HELP`. */
  readonly help: string;

  /**
   * Creates a counter.
   * @param name Metric name.
   * @param help Description.
   */
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }

  /**
   * Adds to the value of a label set.
   * @param labels Labels.
   * @param by Increment (default 1).
   */
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const e = this.values.get(key);
    if (e) e.value += by;
    else this.values.set(key, { labels, value: by });
  }

  /**
   * The value of a label set.
   * @param labels Labels.
   * @returns The value (0 when never incremented).
   */
  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }

  /**
   * Exposition lines.
   * @returns HELP, TYPE and one line per label set.
   */
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values()) {
      out.push(`${this.name}${labelText(labels)} ${num(value)}`);
    }
    return out;
  }
}

/** Cumulative bucket counts, sum and count per label set. */
export class Histogram {
  /** Buckets, sum and count by rendered label set. */
  readonly values: Map<string, { labels: Labels; buckets: number[]; sum: number; count: number }> = new Map();
  /** Metric name. */
  readonly name: string;
  /** Description for `# HELP`. */
  readonly help: string;
  /** Upper bounds of the buckets, ascending (`+Inf` is implicit). */
  readonly bounds: number[];

  /**
   * Creates a histogram.
   * @param name Metric name.
   * @param help Description.
   * @param bounds Bucket upper bounds, ascending.
   */
  constructor(name: string, help: string, bounds: number[]) {
    this.name = name;
    this.help = help;
    this.bounds = bounds;
  }

  /**
   * Records one observation.
   * @param labels Labels.
   * @param v The observed value.
   */
  observe(labels: Labels, v: number): void {
    const key = labelText(labels);
    let e = this.values.get(key);
    if (!e) {
      e = { labels, buckets: this.bounds.map(() => 0), sum: 0, count: 0 };
      this.values.set(key, e);
    }
    this.bounds.forEach((b, i) => {
      if (v <= b) e.buckets[i]++;
    });
    e.sum += v;
    e.count++;
  }

  /**
   * Exposition lines.
   * @returns HELP, TYPE and bucket / sum / count lines per label set.
   */
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, buckets, sum, count } of this.values.values()) {
      this.bounds.forEach((b, i) => {
        out.push(`${this.name}_bucket${labelText({ ...labels, le: num(b) })} ${buckets[i]}`);
      });
      out.push(`${this.name}_bucket${labelText({ ...labels, le: "+Inf" })} ${count}`);
      out.push(`${this.name}_sum${labelText(labels)} ${num(sum)}`);
      out.push(`${this.name}_count${labelText(labels)} ${count}`);
    }
    return out;
  }
}

/** A gauge: values read from the app when scraped. */
interface Gauge {
  name: string;
  help: string;
  read: () => { labels: Labels; value: number }[];
}

/** The server's metrics. One instance per app (pass your own in `ServeOptions.metrics` to share it). */
export class Metrics {
  /** HTTP requests by route pattern, method and status. */
  readonly requests: Counter = new Counter(
    "d2d_http_requests_total",
    "HTTP requests by route, method and status code.",
  );
  /** Time to response headers (first byte of a stream) by route. */
  readonly latency: Histogram = new Histogram(
    "d2d_http_request_duration_seconds",
    "Time from request to response headers (first byte of a stream), by route.",
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  );
  /** Tokens processed by route and kind (prompt | completion). */
  readonly tokens: Counter = new Counter(
    "d2d_tokens_total",
    "Tokens processed, by route and kind (prompt: inputs; completion: generated).",
  );
  /** Requests per model call. */
  readonly batchSize: Histogram = new Histogram(
    "d2d_batch_requests",
    "Requests served by one encoder model call (dynamic batching), by route.",
    [1, 2, 4, 8, 16, 32, 64, 128],
  );
  /** Executed (token, expert) pairs per converted layer. */
  readonly pairsExecuted: Counter = new Counter(
    "d2d_expert_pairs_executed_total",
    "Executed (token, expert) pairs per converted FFN layer.",
  );
  /** (token, expert) pairs a dense run would have executed per converted layer. */
  readonly pairsDense: Counter = new Counter(
    "d2d_expert_pairs_dense_total",
    "(token, expert) pairs a dense run would execute, per converted FFN layer.",
  );
  readonly #gauges: Gauge[] = [];

  /**
   * Adds a gauge read at scrape time.
   * @param name Metric name.
   * @param help Description.
   * @param read Current value(s) with labels.
   */
  gauge(name: string, help: string, read: () => number | { labels: Labels; value: number }[]): void {
    this.#gauges.push({
      name,
      help,
      read: () => {
        const v = read();
        return typeof v === "number" ? [{ labels: {}, value: v }] : v;
      },
    });
  }

  /**
   * Records what one model call computed (per-layer expert pairs of converted models).
   * @param stats The call's stats.
   * @param expertsPerLayer Experts of each converted layer (to count the dense pairs).
   */
  observeStats(stats: ComputeStats, expertsPerLayer: number[] | null): void {
    stats.layers?.forEach((l, i) => {
      const layer = { layer: String(i) };
      this.pairsExecuted.inc(layer, l.executed_pairs);
      const dense = l.ffn_fraction > 0
        ? l.executed_pairs / l.ffn_fraction
        : stats.tokens * (expertsPerLayer?.[i] ?? 0);
      this.pairsDense.inc(layer, dense);
    });
  }

  /** Executed expert fraction per layer since start. */
  #expertFraction(): { labels: Labels; value: number }[] {
    return [...this.pairsDense.values.values()].map(({ labels, value }) => ({
      labels,
      value: value > 0 ? this.pairsExecuted.get(labels) / value : 1,
    }));
  }

  /**
   * The exposition text.
   * @returns Prometheus text format, ending in a newline.
   */
  render(): string {
    const lines = [
      ...this.requests.render(),
      ...this.latency.render(),
      ...this.tokens.render(),
      ...this.batchSize.render(),
      ...this.pairsExecuted.render(),
      ...this.pairsDense.render(),
    ];
    const gauges: Gauge[] = [
      ...this.#gauges,
      {
        name: "d2d_expert_fraction",
        help: "Executed (token, expert) pairs / dense pairs per converted FFN layer since start.",
        read: () => this.#expertFraction(),
      },
    ];
    for (const g of gauges) {
      lines.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
      for (const { labels, value } of g.read()) lines.push(`${g.name}${labelText(labels)} ${num(value)}`);
    }
    return lines.join("\n") + "\n";
  }
}
