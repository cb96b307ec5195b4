/**
 * The PyTorch peer: spawns `python3 bench/torch_peer.py` with the same shapes and timing plan, and
 * merges its JSON lines (ratios against our dense rows of the same run). Missing python3 or torch
 * becomes `skipped` rows with a note.
 * @module
 */
import { fileURLToPath } from "node:url";
import { errorText, type RunContext } from "../context.ts";
import { type BenchRecord, schemaProblems } from "../schema.ts";

const SCRIPT = fileURLToPath(new URL("../torch_peer.py", import.meta.url));

/**
 * Runs the PyTorch peer for the given cases.
 * @param cx Run context.
 * @param cases Case names to run.
 * @param timeoutMs Kill the peer after this long.
 */
export async function torchPeer(cx: RunContext, cases: string[], timeoutMs = 420_000): Promise<void> {
  if (cases.length === 0) return;
  const config = { shapes: cx.shapes, plan: cx.plan, seed: cx.options.seed, quick: cx.options.quick, cases };
  const skipAll = (status: "skipped" | "error", note: string) => {
    for (const c of cases) {
      const model = c === "ceiling_read" ? "read" : c === "ceiling_matmul" ? "matmul" : "dense";
      cx.skip({ case: c, impl: "torch", model }, status, note, cx.options.python);
    }
  };
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cx.options.python, {
      args: [SCRIPT, "--config", JSON.stringify(config)],
      stdout: "piped",
      stderr: "inherit",
      env: { PYTHONUNBUFFERED: "1" },
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return skipAll("skipped", `${cx.options.python} not found`);
    return skipAll("error", `torch peer failed: ${errorText(e)}`);
  }
  const seen = new Set<string>();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    if (!line.startsWith("{")) continue;
    let r: BenchRecord;
    try {
      r = JSON.parse(line);
    } catch {
      continue;
    }
    const problems = schemaProblems(r);
    if (problems.length) {
      cx.log(`  torch peer: ignored a line (${problems.join("; ")})`);
      continue;
    }
    seen.add(r.case);
    cx.emit(r);
  }
  const missing = cases.filter((c) => !seen.has(c));
  if (missing.length) {
    const why = out.success ? "no output" : `exit code ${out.code}`;
    for (const c of missing) {
      cx.skip({ case: c, impl: "torch", model: "dense" }, "error", `torch peer: ${why}`);
    }
  }
}
