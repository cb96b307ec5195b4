/**
 * `d2d generate`: text or token continuation with a GPT-2 model.
 * @module
 */
import { Opts, parse, UsageError } from "../args.ts";
import { MODEL_HELP, MODEL_OPTIONS, openModel, runOptions } from "../common.ts";
import { out, outJson } from "../output.ts";

/** Usage text. */
export const GENERATE_HELP = `d2d generate --model DIR (--prompt TEXT | --input-ids 1,2,3) [options]

Continues a prompt with a KV cache. Streams text to stdout as it is generated, or with --json
prints {"token_ids": [...new tokens...], "text": ..., "finish_reason": ..., "stats": {...}}.

      --prompt TEXT       prompt text (needs a tokenizer in the folder)
      --input-ids LIST    prompt token ids, comma-separated
      --max-tokens N      new tokens (default 16)
      --greedy            always take the most likely token
      --temperature T     sampling temperature (default 1; 0 = greedy)
      --top-k K           sample among the K most likely tokens
      --top-p P           nucleus sampling threshold in (0, 1]
      --seed N            sampling seed
      --stop TEXT         stop when this text is produced (repeatable; needs a tokenizer)
      --json              print one JSON object instead of streaming
${MODEL_HELP}`;

/**
 * Runs the subcommand.
 * @param args Arguments after `generate`.
 * @returns Exit code.
 */
export async function generateCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    ...MODEL_OPTIONS,
    prompt: { type: "string" },
    "input-ids": { type: "string" },
    "max-tokens": { type: "string" },
    greedy: { type: "boolean" },
    temperature: { type: "string" },
    "top-k": { type: "string" },
    "top-p": { type: "string" },
    seed: { type: "string" },
    stop: { type: "string", multiple: true },
    json: { type: "boolean" },
  }, "generate");
  const o = new Opts(values, "generate");
  if (o.flag("help")) return out(GENERATE_HELP), 0;
  const prompt = o.str("prompt");
  const ids = o.nums("input-ids", 0, 2 ** 31, true);
  if ((prompt === undefined) === (ids === undefined)) {
    throw new UsageError("generate: give exactly one of --prompt or --input-ids");
  }
  const run = runOptions(o);
  const maxTokens = o.num("max-tokens", 0, 1e6, true) ?? 16;
  const sampling = {
    greedy: o.flag("greedy"),
    temperature: o.num("temperature", 0, 100),
    topK: o.num("top-k", 0, Infinity, true),
    topP: o.num("top-p", 0, 1),
    seed: o.num("seed", -(2 ** 53), 2 ** 53, true),
  };
  using model = await openModel(o);
  const tok = model.tokenizer;
  if (prompt !== undefined && !tok) {
    throw new UsageError(
      `generate: ${model.id} has no tokenizer; use --input-ids`,
      "the folder needs tokenizer.json, vocab.json + merges.txt, or vocab.txt",
    );
  }
  const stopTexts = o.list("stop");
  if (stopTexts.length && !tok) throw new UsageError("generate: --stop needs a tokenizer");
  const stop = stopTexts.map((s) => tok!.encode(s));
  const json = o.flag("json");
  const stream = tok && !json ? tok.createStreamDecoder() : null;
  const enc = new TextEncoder();
  if (stream && prompt !== undefined) await Deno.stdout.write(enc.encode(prompt));
  const result = await model.generate(prompt ?? ids!, {
    ...run,
    ...sampling,
    maxTokens,
    stop,
    onToken: (id) => {
      if (stream) Deno.stdout.writeSync(enc.encode(stream.push(id)));
      else if (!json) Deno.stdout.writeSync(enc.encode(`${id} `));
    },
  });
  if (json) {
    outJson({
      token_ids: result.token_ids,
      ...(tok ? { text: tok.decode(result.token_ids) } : {}),
      finish_reason: result.finish_reason,
      stats: result.stats,
    });
  } else {
    if (stream) await Deno.stdout.write(enc.encode(stream.flush()));
    out("");
  }
  return 0;
}
