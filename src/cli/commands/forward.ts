/**
 * `d2d forward`: one pass on fixture-format inputs, logits written as nested JSON.
 * @module
 */
import { InvalidInputError } from "../../model/errors.ts";
import { toNested } from "../../model/ndarray.ts";
import { Opts, parse, UsageError } from "../args.ts";
import { MODEL_HELP, MODEL_OPTIONS, openModel, runOptions } from "../common.ts";
import { out, outJson } from "../output.ts";

/** Usage text. */
export const FORWARD_HELP = `d2d forward --model DIR --inputs FILE.json [--out FILE.json] [options]

Runs the model once on inputs in the Hugging Face fixture format (input_ids, attention_mask,
token_type_ids or pixel_values as nested arrays) and writes {"logits": ..., "stats": ...}
(plus "last_hidden_state" for encoders), nested like transformers' outputs.

      --inputs FILE     inputs JSON
      --out FILE        write the result here (default: stdout)
${MODEL_HELP}`;

/**
 * Runs the subcommand.
 * @param args Arguments after `forward`.
 * @returns Exit code.
 */
export async function forwardCommand(args: string[]): Promise<number> {
  const { values } = parse(
    args,
    { ...MODEL_OPTIONS, inputs: { type: "string" }, out: { type: "string" } },
    "forward",
  );
  const o = new Opts(values, "forward");
  if (o.flag("help")) return out(FORWARD_HELP), 0;
  const inputsPath = o.need("inputs");
  const opts = runOptions(o);
  let inputs: unknown;
  try {
    inputs = JSON.parse(await Deno.readTextFile(inputsPath));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(`forward: inputs file not found: ${inputsPath}`);
    }
    throw new InvalidInputError("inputs", `${inputsPath} is not valid JSON (${(e as Error).message})`);
  }
  if (typeof inputs !== "object" || inputs === null || Array.isArray(inputs)) {
    throw new InvalidInputError(
      "inputs",
      `${inputsPath} must hold a JSON object with input_ids or pixel_values`,
    );
  }
  using model = await openModel(o);
  const r = await model.forward(inputs, opts);
  const result: Record<string, unknown> = {};
  if (r.logits) result.logits = toNested(r.logits);
  if (r.last_hidden_state) result.last_hidden_state = toNested(r.last_hidden_state);
  result.stats = r.stats;
  const dest = o.str("out");
  if (dest) await Deno.writeTextFile(dest, JSON.stringify(result));
  else outJson(result);
  return 0;
}
