/**
 * `d2d embed`: sentence embeddings.
 * @module
 */
import { Opts, parse, UsageError } from "../args.ts";
import { MODEL_HELP, MODEL_OPTIONS, openModel, runOptions } from "../common.ts";
import { out, outJson } from "../output.ts";

/** Usage text. */
export const EMBED_HELP =
  `d2d embed (--text TEXT ... | --input-file FILE) [--model DIR|default] [--json] [options]

Prints one embedding per input: with --json, {"embeddings": [[...], ...], "stats": {...}};
otherwise one line per input with its first values and norm.

      --text TEXT        text to embed (repeatable)
      --input-file FILE  one text per line (empty lines skipped)
      --json             print JSON
      --pooling P        mean (default) or cls (BERT models)
${MODEL_HELP}`;

/**
 * Reads non-empty lines of a text file.
 * @param path File path.
 * @returns The lines.
 * @throws {UsageError} When the file is missing.
 */
export async function readLines(path: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(path)).split(/\r?\n/).filter((l) => l.trim() !== "");
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new UsageError(`input file not found: ${path}`);
    throw e;
  }
}

/**
 * Runs the subcommand.
 * @param args Arguments after `embed`.
 * @returns Exit code.
 */
export async function embedCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    ...MODEL_OPTIONS,
    text: { type: "string", multiple: true },
    "input-file": { type: "string" },
    json: { type: "boolean" },
    pooling: { type: "string" },
  }, "embed");
  const o = new Opts(values, "embed");
  if (o.flag("help")) return out(EMBED_HELP), 0;
  const texts = [...o.list("text")];
  const file = o.str("input-file");
  if (file) texts.push(...await readLines(file));
  if (texts.length === 0) {
    throw new UsageError("embed: give --text or --input-file", 'e.g. d2d embed --text "hello world"');
  }
  const pooling = o.str("pooling");
  if (pooling !== undefined && pooling !== "mean" && pooling !== "cls") {
    throw new UsageError(`embed: --pooling must be mean or cls, got "${pooling}"`);
  }
  const opts = runOptions(o);
  using model = await openModel(o, "default");
  const r = await model.embed(texts, { ...opts, ...(pooling ? { pooling } : {}) });
  if (o.flag("json")) {
    outJson({ embeddings: r.embeddings.map((e) => Array.from(e)), stats: r.stats });
    return 0;
  }
  r.embeddings.forEach((e, i) => {
    const head = Array.from(e.subarray(0, 6), (v) => v.toFixed(4)).join(", ");
    out(
      `[${i}] dim=${e.length} norm=${Math.hypot(...e).toFixed(4)} [${head}, ...]  ${
        JSON.stringify(texts[i].slice(0, 60))
      }`,
    );
  });
  const attn = r.stats.dense_attention_macs > 0
    ? ` attention_fraction=${r.stats.attention_fraction.toFixed(3)}`
    : "";
  out(
    `ffn_fraction=${r.stats.ffn_fraction.toFixed(3)}${attn} compute_fraction=${
      r.stats.compute_fraction.toFixed(3)
    } tokens=${r.stats.tokens}`,
  );
  return 0;
}
