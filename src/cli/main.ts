/**
 * The `d2d` command line: one `main(args)` dispatching to subcommands. User mistakes print one
 * `error:` line (and a `hint:`), never a stack trace; exit codes are 0 ok, 1 failure, 2 usage.
 * @module
 */
import { DeviceLostError, GpuCommandError, GpuUnavailableError } from "../gpu/errors.ts";
import { InvalidInputError, ModelFormatError, UnsupportedModelError } from "../model/errors.ts";
import { UsageError } from "./args.ts";
import "../moe/load_converted.ts";
import "../moe/default_model.ts";
import { benchCommand } from "./commands/bench.ts";
import { classifyCommand } from "./commands/classify.ts";
import { convertCommand } from "./commands/convert.ts";
import { embedCommand } from "./commands/embed.ts";
import { evalCommand } from "./commands/eval.ts";
import { forwardCommand } from "./commands/forward.ts";
import { generateCommand } from "./commands/generate.ts";
import { infoCommand } from "./commands/info.ts";
import { serveCommand } from "./commands/serve.ts";

/** A subcommand: summary for the overview and the function that runs it. */
export interface Command {
  /** One line for `d2d --help`. */
  summary: string;
  /** Runs with the arguments after the subcommand name; resolves to the exit code. */
  run: (args: string[]) => Promise<number>;
}

/** Subcommands by name (others register themselves through {@link registerCommand}). */
export const COMMANDS: Record<string, Command> = {
  serve: {
    summary: "OpenAI-compatible HTTP server for one model (embeddings, completions, classify)",
    run: serveCommand,
  },
  forward: { summary: "run a model once on fixture-format inputs", run: forwardCommand },
  generate: { summary: "continue a prompt with a GPT-2 model", run: generateCommand },
  embed: { summary: "sentence embeddings (default: the embedded sentence encoder)", run: embedCommand },
  classify: { summary: "labels and scores from a classifier", run: classifyCommand },
  info: { summary: "architecture, sizes, conversion and device of a model", run: infoCommand },
  convert: {
    summary: "convert a dense model's FFNs into D2DMoE experts with trained routers",
    run: convertCommand,
  },
  eval: {
    summary: "quality against compute over τ (perplexity, or linear-probe accuracy)",
    run: evalCommand,
  },
  bench: {
    summary:
      "benchmarks: dense vs D2DMoE FFN, BERT / GPT-2 end to end, device ceilings, PyTorch and onnxruntime-web",
    run: benchCommand,
  },
};

/**
 * Adds a subcommand.
 * @param name Subcommand name.
 * @param cmd Its summary and runner.
 */
export function registerCommand(name: string, cmd: Command): void {
  COMMANDS[name] = cmd;
}

function overview(): string {
  const names = Object.keys(COMMANDS);
  const w = Math.max(...names.map((n) => n.length));
  return `d2d: dense transformers → dynamic-k mixture-of-experts (D2DMoE) on WebGPU

usage: d2d <command> [options]     (d2d <command> --help for its options)

commands:
${names.map((n) => `  ${n.padEnd(w)}  ${COMMANDS[n].summary}`).join("\n")}

environment: D2D_BACKEND=auto|gpu|dawn|webgpu|cpu, D2D_PROFILE=1 (per-kernel GPU times), D2D_DEBUG=1 (stack traces)`;
}

/** Errors caused by the user's input or environment: one line, exit 1. */
function userError(e: unknown): { message: string; hint?: string } | null {
  if (e instanceof ModelFormatError || e instanceof UnsupportedModelError || e instanceof InvalidInputError) {
    return { message: e.message };
  }
  if (e instanceof GpuUnavailableError) {
    return { message: e.message, hint: "use --backend cpu, or run where WebGPU has an adapter" };
  }
  if (e instanceof DeviceLostError || e instanceof GpuCommandError) return { message: e.message };
  if (e instanceof Deno.errors.NotFound) return { message: e.message };
  if (e instanceof Deno.errors.PermissionDenied) {
    return { message: e.message, hint: "run through `deno task d2d` (it grants -A)" };
  }
  return null;
}

/**
 * Runs the CLI.
 * @param args Command-line arguments (without the program name).
 * @returns Exit code: 0 ok, 1 failure, 2 usage error.
 */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(overview());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`error: unknown command "${name}"`);
    console.error(`hint: commands are ${Object.keys(COMMANDS).join(", ")}`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}`);
      if (e.hint) console.error(`hint: ${e.hint}`);
      return 2;
    }
    const u = userError(e);
    if (u) {
      console.error(`error: ${u.message}`);
      if (u.hint) console.error(`hint: ${u.hint}`);
      return 1;
    }
    console.error(`error: internal error: ${(e as Error)?.message ?? e}`);
    if (Deno.env.get("D2D_DEBUG") === "1") console.error((e as Error)?.stack);
    else console.error("hint: set D2D_DEBUG=1 for a stack trace, and please report it");
    return 1;
  }
}

if (import.meta.main) {
  const code = await main(Deno.args);
  Deno.exit(code);
}
