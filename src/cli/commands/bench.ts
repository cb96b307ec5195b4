/**
 * `d2d bench`: the benchmark (`bench/main.ts`, also `deno task bench`): dense vs D2DMoE FFN layers,
 * BERT forward and GPT-2 decode end to end, device ceilings, and the PyTorch / onnxruntime-web peers.
 * @module
 */
import { benchMain } from "../../../bench/main.ts";

/**
 * Runs the subcommand.
 * @param args Arguments after `bench` (see `d2d bench --help`).
 * @returns Exit code: 0 ok, 1 failure, 2 usage error.
 */
export function benchCommand(args: string[]): Promise<number> {
  return benchMain(args);
}
