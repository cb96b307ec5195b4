/**
 * `d2d info`: what a model folder holds and which device would run it.
 * @module
 */
import type { Model } from "../../model/model.ts";
import { Opts, parse } from "../args.ts";
import { MODEL_HELP, MODEL_OPTIONS, openModel } from "../common.ts";
import { deviceLine, out, outJson } from "../output.ts";

/** Usage text. */
export const INFO_HELP = `d2d info --model DIR [--json]

Prints the architecture, sizes, tokenizer, conversion (experts per layer, default τ) and the device
chosen.

      --json            print one JSON object
${MODEL_HELP}`;

/**
 * A JSON-ready description of a model.
 * @param m The model.
 * @returns Architecture, sizes, tokenizer, device and conversion details.
 */
export function describeModel(m: Model): Record<string, unknown> {
  const c = m.config;
  const sizes: Record<string, unknown> = {
    hidden: c.hidden,
    layers: c.layers,
    heads: c.heads,
    ffn: c.ffn,
    activation: c.activation,
  };
  if ("vocabSize" in c) sizes.vocab = c.vocabSize;
  if ("maxPositions" in c) sizes.max_positions = c.maxPositions;
  if (c.family === "vit") {
    Object.assign(sizes, { image_size: c.imageSize, patch_size: c.patchSize, channels: c.numChannels });
  }
  const labels = "labels" in c ? c.labels : [];
  return {
    id: m.id,
    path: m.dir,
    family: c.family,
    architecture: c.architectures[0] ?? c.family,
    sizes,
    ...(labels.length ? { labels } : {}),
    tokenizer: m.tokenizer ? { kind: m.tokenizer.kind, vocab: m.tokenizer.vocabSize } : null,
    capabilities: m.capabilities,
    ffn: m.ffnLayers.map((f) => f.kind),
    ...(m.moe ? { d2dmoe: m.moe } : {}),
    device: m.device,
  };
}

/**
 * Runs the subcommand.
 * @param args Arguments after `info`.
 * @returns Exit code.
 */
export async function infoCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { ...MODEL_OPTIONS, json: { type: "boolean" } }, "info");
  const o = new Opts(values, "info");
  if (o.flag("help")) return out(INFO_HELP), 0;
  values.quiet = true;
  using model = await openModel(o);
  const d = describeModel(model);
  if (o.flag("json")) return outJson(d), 0;
  const s = d.sizes as Record<string, unknown>;
  out(`model:        ${d.id} (${d.path})`);
  out(`architecture: ${d.architecture} [${d.family}]`);
  out(`sizes:        ${Object.entries(s).map(([k, v]) => `${k}=${v}`).join(" ")}`);
  if (d.labels) out(`labels:       ${(d.labels as string[]).join(", ")}`);
  out(
    `tokenizer:    ${
      model.tokenizer
        ? `${model.tokenizer.kind} (${model.tokenizer.vocabSize} tokens)`
        : "none (token ids only)"
    }`,
  );
  const moe = model.moe;
  if (moe) {
    out(
      `d2dmoe:       experts per layer ${moe.layers.map((l) => l.experts).join(",")}; expert size ${
        moe.layers.map((l) => l.expertSize).join(",")
      }; router width ${moe.routerWidth}; default tau ${moe.defaultTau}`,
    );
    const a = moe.attention?.find((l) => l !== null);
    if (a) {
      out(
        `attention:    Q, K, V, O converted: ${a.experts} experts of ${a.expertSize} neurons each per projection`,
      );
    }
  } else {
    out(`d2dmoe:       not converted (dense FFNs)`);
  }
  out(deviceLine(model.device));
  return 0;
}
