/**
 * Device ceilings measured in the same run: read bandwidth (`ceiling_read`) and a large square fp32
 * matmul through our matmul op (`ceiling_matmul`). The PyTorch peer adds `torch.sum` and cuBLAS
 * (TF32 off) rows for the same cases.
 * @module
 */
import { GpuBackend } from "../../src/ops/gpu_backend.ts";
import { Rng } from "../../src/util/rng.ts";
import type { RunContext } from "../context.ts";
import { randomF32 } from "../random.ts";
import { readRun } from "../read_bandwidth.ts";

const round = (x: number) => Number(x.toPrecision(4));

/**
 * Read bandwidth of the device.
 * @param cx Run context.
 */
export async function readCeiling(cx: RunContext): Promise<void> {
  const meta = { case: "ceiling_read", impl: "ours", model: "read", bytes: cx.shapes.readBytes };
  if (!(cx.be instanceof GpuBackend)) return cx.skip(meta, "skipped", "needs a GPU backend");
  let bytes = cx.shapes.readBytes;
  await cx.group((be) => {
    const r = readRun(be as GpuBackend, cx.shapes.readBytes, new Rng(cx.options.seed));
    bytes = r.bytes;
    return r;
  }, [{
    meta,
    step: (r) => () => r.step(),
    after: () => Promise.resolve({ bytes }),
    derive: (ms) => ({ gbps: round(bytes / ms / 1e6) }),
    plan: { minBatchMs: 100 },
    profileIters: 0, // dispatched outside our context: the profiler cannot see it, and it is one kernel
  }]);
}

/**
 * Large square matmul through our op.
 * @param cx Run context.
 */
export async function matmulCeiling(cx: RunContext): Promise<void> {
  const n = cx.shapes.matmul;
  const rng = new Rng(cx.options.seed);
  const a = randomF32(n * n, rng, 1), b = randomF32(n * n, rng, 1 / Math.sqrt(n));
  await cx.group((be) => {
    const ta = be.upload(a, [n, n], "A"), tb = be.upload(b, [n, n], "B");
    return {
      step: () => {
        be.release(be.matmul(ta, tb));
        be.flush();
      },
      dispose: () => {
        be.free(ta);
        be.free(tb);
      },
    };
  }, [{
    meta: { case: "ceiling_matmul", impl: "ours", model: "matmul", m: n, n, k: n },
    step: (s) => s.step,
    derive: (ms) => ({ tflops: round(2 * n ** 3 / ms / 1e9) }),
  }]);
}
