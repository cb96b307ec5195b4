/**
 * `deno task bench` (and `d2d bench`): runs the benchmark, prints JSON lines as measurements finish,
 * then the readable report. See docs/benchmarks.md.
 * @module
 */
import { type BenchOptions } from "./context.ts";
import { BENCH_HELP, BenchUsageError, parseBenchArgs } from "./options.ts";
import { renderReport } from "./report.ts";
import { runBench } from "./run.ts";

/**
 * Runs the benchmark command.
 * @param args Command-line arguments.
 * @returns Exit code: 0 ok, 1 failure (no row could be timed, or the device failed), 2 usage error.
 */
export async function benchMain(args: string[]): Promise<number> {
  let o: BenchOptions | "help";
  try {
    o = parseBenchArgs(args);
  } catch (e) {
    if (!(e instanceof BenchUsageError)) throw e;
    console.error(`error: bench: ${e.message}`);
    console.error(`hint: run "deno task bench --help"`);
    return 2;
  }
  if (o === "help") {
    console.log(BENCH_HELP);
    return 0;
  }
  const file = o.out ? await Deno.open(o.out, { write: true, create: true, truncate: true }) : null;
  const enc = new TextEncoder();
  o.onRecord = (r) => {
    const line = JSON.stringify(r);
    console.log(line);
    file?.writeSync(enc.encode(line + "\n"));
  };
  try {
    const { records, targets } = await runBench(o);
    const report = renderReport(records, targets);
    if (o.json) console.error(`\n${report}`);
    else console.log(`\n${report}`);
    return records.some((r) => typeof r.ms_median === "number") ? 0 : 1;
  } catch (e) {
    console.error(`error: bench: ${(e as Error)?.message ?? e}`);
    if (Deno.env.get("D2D_DEBUG") === "1") console.error((e as Error)?.stack);
    return 1;
  } finally {
    file?.close();
  }
}

if (import.meta.main) Deno.exit(await benchMain(Deno.args));
