import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { patchEmbedRef, type PatchGeometry } from "../../src/ops/patch_embed_ref.ts";

const be = await testGpu();

Deno.test({
  name: "patch_embed: GPU equals reference (non-square image, 3 channels, odd dim)",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const g: PatchGeometry = { batch: 2, channels: 3, height: 12, width: 8, patch: 4, dim: 7 };
    const np = (g.height / g.patch) * (g.width / g.patch);
    const pix = randomF32(g.batch * g.channels * g.height * g.width, 1);
    const w = randomF32(g.dim * g.channels * g.patch * g.patch, 2);
    const bias = randomF32(g.dim, 3), cls = randomF32(g.dim, 4), pos = randomF32((np + 1) * g.dim, 5);
    const ts = [pix, w, bias, cls, pos].map((a) => be!.input(a, [a.length]));
    const out = be!.patchEmbed(ts[0], ts[1], ts[2], ts[3], ts[4], g);
    const [got] = await be!.read([out]);
    assertClose(got, patchEmbedRef(pix, w, bias, cls, pos, g), { atol: 1e-5, rtol: 1e-4 }, "patch embed");
    be!.release(...ts, out);
  },
});
