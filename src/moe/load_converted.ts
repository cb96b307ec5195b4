/**
 * Loading converted folders: when `d2dmoe.json` is present, every FFN is built as a {@link MoeFfn}
 * from `d2dmoe.safetensors` instead of the dense weights. Registered with `loadModel` by importing
 * this module (mod.ts does).
 * @module
 */
import { join } from "node:path";
import type { ModelConfig } from "../model/config.ts";
import { ModelFormatError } from "../model/errors.ts";
import { type ConvertedParts, registerConvertedLoader } from "../model/load.ts";
import { SafetensorsFile } from "../model/safetensors.ts";
import type { Uploader } from "../model/weight_loader.ts";
import { EXPERTS_FILE, type Manifest, moeInfo, readManifest } from "./manifest.ts";
import type { AttentionProjections } from "../model/layers.ts";
import type { Activation } from "../ops/activation.ts";
import { MoeFfn, type MoeSite } from "./moe_ffn.ts";
import { MoeRouting } from "./routing.ts";

/** Names of one MoE layer's tensors under `prefix` in `d2dmoe.safetensors`. */
const moeTensorNames = (prefix: string) => ({
  r1: `${prefix}.router.w1`,
  r2: `${prefix}.router.w2`,
  w1: `${prefix}.experts.w1`,
  b1: `${prefix}.experts.b1`,
  w2: `${prefix}.experts.w2`,
  b2: `${prefix}.experts.b2`,
  order: `${prefix}.neuron_order`,
});

/** Tensor names of layer i's FFN in `d2dmoe.safetensors`. */
export const expertTensorNames = (i: number): ReturnType<typeof moeTensorNames> =>
  moeTensorNames(`layers.${i}`);

/** Tensor names of block i's converted attention projection `p` (q, k, v or o). */
export const projectionTensorNames = (i: number, p: string): ReturnType<typeof moeTensorNames> =>
  moeTensorNames(`layers.${i}.attn.${p}`);

/**
 * Checks that a manifest fits the model it sits beside.
 * @param m Manifest.
 * @param cfg The folder's config.
 * @param file Manifest path, for messages.
 * @throws {ModelFormatError} On any disagreement.
 */
export function checkManifestFits(m: Manifest, cfg: ModelConfig, file: string): void {
  if (m.family !== cfg.family) {
    throw new ModelFormatError(
      file,
      `manifest is for a ${m.family} model but config.json describes ${cfg.family}`,
    );
  }
  if (m.layers.length !== cfg.layers) {
    throw new ModelFormatError(file, `manifest has ${m.layers.length} layers, config.json ${cfg.layers}`);
  }
  if (cfg.family === "use" && m.layers.some((l) => l.attention)) {
    throw new ModelFormatError(file, "converted attention projections are not supported for USE models");
  }
  m.layers.forEach((l, i) => {
    if (l.experts * l.expert_size !== cfg.ffn) {
      throw new ModelFormatError(
        file,
        `layers[${i}]: ${l.experts} experts × ${l.expert_size} neurons ≠ FFN width ${cfg.ffn}`,
      );
    }
  });
}

/**
 * Reads one converted layer and uploads it.
 * @param file The experts file.
 * @param ld Upload target (frees with the model).
 * @param m Manifest.
 * @param cfg Config.
 * @param i Layer.
 * @returns The MoE layer.
 */
async function loadLayer(
  file: SafetensorsFile,
  ld: Uploader,
  m: Manifest,
  cfg: ModelConfig,
  i: number,
): Promise<MoeFfn> {
  const { experts: E, expert_size: s, router_width: w } = m.layers[i];
  return await loadMoe(file, ld, expertTensorNames(i), cfg.hidden, E, s, w, cfg.activation, "ffn");
}

/** Reads one MoE layer's six tensors and uploads them. */
async function loadMoe(
  file: SafetensorsFile,
  ld: Uploader,
  n: ReturnType<typeof expertTensorNames>,
  d: number,
  E: number,
  s: number,
  w: number,
  act: Activation,
  site: MoeSite,
): Promise<MoeFfn> {
  const get = async (name: string, shape: number[], upShape: number[]) =>
    ld.upload(await file.readF32(name, shape), upShape, name);
  const t = {
    r1: await get(n.r1, [d, w], [d, w]),
    r2: await get(n.r2, [w, E], [w, E]),
    w1: await get(n.w1, [E, d, s], [E * d, s]),
    b1: await get(n.b1, [E, s], [E * s]),
    w2: await get(n.w2, [E, s, d], [E * s, d]),
    b2: await get(n.b2, [d], [d]),
  };
  return new MoeFfn(t, { d, experts: E, size: s, width: w }, act, ld.be.info.maxTensorBytes, site);
}

/** Reads block i's converted attention projections (undefined when the block has none). */
async function loadProjections(
  file: SafetensorsFile,
  ld: Uploader,
  m: Manifest,
  cfg: ModelConfig,
  i: number,
): Promise<AttentionProjections | undefined> {
  const a = m.layers[i].attention;
  if (!a) return undefined;
  const one = (p: string) =>
    loadMoe(
      file,
      ld,
      projectionTensorNames(i, p),
      cfg.hidden,
      a.experts,
      a.expert_size,
      a.router_width,
      "relu",
      "attn",
    );
  return { q: await one("q"), k: await one("k"), v: await one("v"), o: await one("o") };
}

/**
 * The converted-folder hook for `loadModel`.
 * @param dir Model folder.
 * @param cfg Its config.
 * @param ld Upload target.
 * @returns FFN factory, routing hooks and a closer, or null for a dense folder.
 * @throws {ModelFormatError} When the manifest or experts file is invalid or does not fit the config.
 */
export async function loadConverted(
  dir: string,
  cfg: ModelConfig,
  ld: Uploader,
): Promise<ConvertedParts | null> {
  const m = await readManifest(dir);
  if (!m) return null;
  checkManifestFits(m, cfg, join(dir, "d2dmoe.json"));
  const path = join(dir, EXPERTS_FILE);
  let file: SafetensorsFile;
  try {
    file = await SafetensorsFile.open(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ModelFormatError(path, "missing: a converted folder needs its experts file");
    }
    throw e;
  }
  return {
    ffn: (i) => loadLayer(file, ld, m, cfg, i),
    attention: (i) => loadProjections(file, ld, m, cfg, i),
    routing: new MoeRouting(moeInfo(m)),
    close: () => file.close(),
  };
}

registerConvertedLoader(loadConverted);
