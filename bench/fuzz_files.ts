/**
 * `deno task fuzz:files`: seeded random corruption of model folders (the GPT-2 / BERT / ViT fixtures and
 * a tiny D2DMoE conversion), each loaded under a 10 s limit and an allocation guard. Prints the outcome
 * histogram; exit code 1 when any case hung, allocated more than its folder, or failed with an untyped
 * error or one that does not name a file of the folder.
 *
 *     deno task fuzz:files [--cases 2000] [--seed 1] [--json]
 * @module
 */
import { parseArgs } from "node:util";
import { fixture } from "../tests/helpers/fixtures.ts";
import { runFileFuzz } from "./reliability/file_fuzz.ts";
import { convertedFixture } from "./reliability/models.ts";

/**
 * Runs the file fuzzer.
 * @param args Command-line arguments.
 * @returns Exit code.
 */
export async function fuzzFilesMain(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      cases: { type: "string", default: "2000" },
      seed: { type: "string", default: "1" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log("deno task fuzz:files [--cases 2000] [--seed 1] [--json]");
    return 0;
  }
  const sources = [
    fixture("tiny-gpt2-relu"),
    fixture("tiny-bert-relu"),
    fixture("tiny-vit"),
    await convertedFixture("tiny-gpt2-relu"),
  ];
  const scratch = await Deno.makeTempDir({ prefix: "d2d_fuzz_files_" });
  try {
    const s = await runFileFuzz({ seed: Number(values.seed), cases: Number(values.cases), sources, scratch });
    if (values.json) console.log(JSON.stringify(s));
    else {
      const hist = (r: Record<string, number>) => Object.entries(r).map(([k, v]) => `${k}×${v}`).join(" ");
      console.log(
        `fuzz:files: ${s.cases} corrupted folders in ${
          (s.durationMs / 1000).toFixed(1)
        } s, seed ${values.seed}`,
      );
      console.log(`  outcomes: ${hist(s.outcomes)}`);
      console.log(`  mutations: ${hist(s.mutations)}`);
      for (const f of s.failures) console.log(`  ✗ ${f}`);
    }
    return s.failures.length ? 1 : 0;
  } finally {
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await fuzzFilesMain(Deno.args));
