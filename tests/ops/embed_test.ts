import { assertClose } from "../helpers/close.ts";
import { randomF32, randomU32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { embedRef } from "../../src/ops/embed_ref.ts";

const be = await testGpu();

Deno.test({
  name: "embed: GPU equals reference with and without position / type tables; bad ids are clamped",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const V = 37, C = 13, P = 11, Y = 2, rows = 19;
    const wte = randomF32(V * C, 1), wpe = randomF32(P * C, 2), wtt = randomF32(Y * C, 3);
    const ids = randomU32(rows, V, 4);
    ids[3] = 1_000_000; // out of range: must not read past the table
    const pos = randomU32(rows, P, 5), types = randomU32(rows, Y, 6);
    const w = [be!.upload(wte, [V, C]), be!.upload(wpe, [P, C]), be!.upload(wtt, [Y, C])];
    const ti = be!.input(ids, [rows]), tp = be!.input(pos, [rows]), ty = be!.input(types, [rows]);
    const all = be!.embed(ti, w[0], tp, w[1], ty, w[2]);
    const tokOnly = be!.embed(ti, w[0]);
    const [got, gotTok] = await be!.read([all, tokOnly]);
    assertClose(got, embedRef(ids, wte, C, pos, wpe, types, wtt), { atol: 0, rtol: 0 }, "embed all");
    assertClose(gotTok, embedRef(ids, wte, C), { atol: 0, rtol: 0 }, "embed tokens");
    assertClose(gotTok.subarray(3 * C, 4 * C), wte.subarray((V - 1) * C), { atol: 0, rtol: 0 }, "clamped id");
    be!.release(ti, tp, ty, all, tokOnly);
    w.forEach((t) => be!.free(t));
  },
});
