import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { type CopySpec, stridedCopyRef } from "../../src/ops/strided_copy_ref.ts";

const be = await testGpu();

Deno.test({
  name: "strided_copy: GPU equals reference (KV append into a cache, CLS gather)",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const B = 2, T = 5, C = 7, maxT = 9;
    const qkv = randomF32(B * T * 3 * C, 1);
    const cache = randomF32(B * maxT * C, 2);
    const specs: [CopySpec, number][] = [
      // K of every token into cache rows 3..7 of each batch entry.
      [{
        nb: B,
        nt: T,
        nc: C,
        srcOffset: C,
        srcB: T * 3 * C,
        srcT: 3 * C,
        dstOffset: 3 * C,
        dstB: maxT * C,
        dstT: C,
      }, B * maxT * C],
      // Row 0 of each batch entry (CLS) into a [B, 3C] matrix.
      [{
        nb: B,
        nt: 1,
        nc: 3 * C,
        srcOffset: 0,
        srcB: T * 3 * C,
        srcT: 0,
        dstOffset: 0,
        dstB: 3 * C,
        dstT: 0,
      }, B * 3 * C],
    ];
    for (const [spec, dstLen] of specs) {
      const dst0 = cache.slice(0, dstLen);
      const want = dst0.slice();
      stridedCopyRef(qkv, want, spec);
      const ts = be!.input(qkv, [B * T, 3 * C]);
      const td = be!.input(dst0, [dstLen]);
      be!.stridedCopy(ts, td, spec);
      const [got] = await be!.read([td]);
      assertClose(got, want, { atol: 0, rtol: 0 }, "strided copy");
      be!.release(ts, td);
    }
  },
});
