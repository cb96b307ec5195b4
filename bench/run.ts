/**
 * One benchmark run: opens the backend, runs the selected cases (ours, then the onnxruntime-web
 * peers inside each case), the PyTorch peer, and evaluates the targets.
 * @module
 */
import { bertCase } from "./cases/bert.ts";
import { matmulCeiling, readCeiling } from "./cases/ceiling.ts";
import { ffnCase } from "./cases/ffn.ts";
import { gpt2Case } from "./cases/gpt2.ts";
import { torchPeer } from "./cases/torch.ts";
import { type BenchOptions, RunContext } from "./context.ts";
import { deviceName, openBackend } from "./device.ts";
import { type BenchRecord, type CaseName, CASES } from "./schema.ts";
import { FULL_SHAPES, QUICK_SHAPES } from "./shapes.ts";
import { evaluateTargets, targetRecord, type TargetResult } from "./targets.ts";
import { FULL_PLAN, QUICK_PLAN } from "./timing.ts";

/** What each case runs. */
const RUNNERS: Record<CaseName, (cx: RunContext) => Promise<void>> = {
  ceiling_read: readCeiling,
  ceiling_matmul: matmulCeiling,
  ffn_batched: (cx) => ffnCase(cx, "ffn_batched"),
  ffn_decode: (cx) => ffnCase(cx, "ffn_decode"),
  bert_forward: bertCase,
  gpt2_decode: gpt2Case,
};

/** Records and verdicts of a run. */
export interface BenchResult {
  /** Every measurement (and skipped or failed row), in order. */
  records: BenchRecord[];
  /** Target verdicts. */
  targets: TargetResult[];
  /** Device of our backend. */
  device: string;
}

/**
 * Runs the benchmark.
 * @param o Options (see `parseBenchArgs`).
 * @returns Records and target verdicts; each record was also passed to `o.onRecord` when final.
 * @throws {GpuUnavailableError} When a GPU backend was demanded and none exists.
 */
export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const shapes = o.quick ? QUICK_SHAPES : FULL_SHAPES;
  const plan = { ...(o.quick ? QUICK_PLAN : FULL_PLAN), ...o.plan };
  const be = await openBackend(o.backend);
  const cx = new RunContext(be, shapes, plan, o);
  const why = be.info.fallbackFrom.length ? ` (passed over: ${be.info.fallbackFrom.join("; ")})` : "";
  cx.log(`device: ${deviceName(be)}${why}; shapes: ${shapes.preset}`);
  if (be.info.kind === "cpu" && !o.quick) {
    cx.log("warning: full shapes on the CPU backend take very long; use --quick");
  }
  const cases = CASES.filter((c) => !o.only || o.only.test(c));
  try {
    for (const c of cases) {
      cx.log(`case ${c}`);
      const t0 = performance.now();
      await RUNNERS[c](cx);
      cx.log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
    if (o.torch) {
      cx.log("case torch peer");
      await torchPeer(cx, [...cases]);
    }
  } finally {
    await cx.close();
    be[Symbol.dispose]();
  }
  const records = [...cx.records];
  const targets = evaluateTargets(records);
  for (const t of targets) {
    const r = targetRecord(t, cx.device);
    cx.records.push(r);
    o.onRecord?.(r);
  }
  return { records, targets, device: cx.device };
}
