import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { addRef } from "../../src/ops/add_ref.ts";

const be = await testGpu();

Deno.test({
  name: "add: GPU equals reference, elementwise and row-broadcast",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const a = randomF32(7 * 33, 1), b = randomF32(7 * 33, 2), row = randomF32(33, 3);
    const [ta, tb, tr] = [be!.input(a, [7, 33]), be!.input(b, [7, 33]), be!.input(row, [33])];
    const s1 = be!.add(ta, tb), s2 = be!.add(ta, tr);
    const [g1, g2] = await be!.read([s1, s2]);
    assertClose(g1, addRef(a, b), { atol: 0, rtol: 0 }, "elementwise");
    assertClose(g2, addRef(a, row), { atol: 0, rtol: 0 }, "broadcast");
    be!.release(ta, tb, tr, s1, s2);
  },
});
