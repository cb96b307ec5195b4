/**
 * `d2d classify`: labels and scores from a classification model.
 * @module
 */
import { Opts, parse, UsageError } from "../args.ts";
import { MODEL_HELP, MODEL_OPTIONS, openModel, runOptions } from "../common.ts";
import { out, outJson } from "../output.ts";
import { readLines } from "./embed.ts";

/** Usage text. */
export const CLASSIFY_HELP =
  `d2d classify --model DIR (--text TEXT ... | --input-file FILE | --inputs FILE.json) [--json]

Text classifiers (BERT) take --text / --input-file; image classifiers (ViT) take --inputs with
{"pixel_values": [...]} in the fixture format. Prints the best label per input, or with --json
{"results": [[{"label", "score"}, ...], ...], "stats": {...}}.

      --text TEXT        text (repeatable)
      --input-file FILE  one text per line
      --inputs FILE      JSON with pixel_values (ViT)
      --json             print JSON
${MODEL_HELP}`;

/**
 * Runs the subcommand.
 * @param args Arguments after `classify`.
 * @returns Exit code.
 */
export async function classifyCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    ...MODEL_OPTIONS,
    text: { type: "string", multiple: true },
    "input-file": { type: "string" },
    inputs: { type: "string" },
    json: { type: "boolean" },
  }, "classify");
  const o = new Opts(values, "classify");
  if (o.flag("help")) return out(CLASSIFY_HELP), 0;
  const texts = [...o.list("text")];
  const file = o.str("input-file");
  if (file) texts.push(...await readLines(file));
  const inputsFile = o.str("inputs");
  if (!texts.length && !inputsFile) throw new UsageError("classify: give --text, --input-file or --inputs");
  const opts = runOptions(o);
  using model = await openModel(o);
  let inputs: (string | number[])[] | number[][][][] = texts;
  if (inputsFile) {
    const j = JSON.parse(await Deno.readTextFile(inputsFile));
    inputs = j.pixel_values ?? j.input_ids;
    if (!inputs) throw new UsageError(`classify: ${inputsFile} has neither pixel_values nor input_ids`);
  }
  const r = await model.classify(inputs, opts);
  if (o.flag("json")) return outJson(r), 0;
  r.results.forEach((labels, i) => out(`[${i}] ${labels[0].label} ${labels[0].score.toFixed(4)}`));
  return 0;
}
