/**
 * The converted-model manifest (`d2dmoe.json`) and its validation. A converted folder holds the
 * source's `config.json` and tokenizer files, `model.safetensors` with every non-FFN tensor of the
 * source, `d2dmoe.safetensors` with experts and routers, and this manifest.
 * @module
 */
import { join } from "node:path";
import { ModelFormatError } from "../model/errors.ts";
import type { MoeInfo } from "../model/model.ts";
import { ROUTER_TARGETS, type RouterTarget } from "./router_target.ts";

/** File name of the manifest. */
export const MANIFEST_FILE = "d2dmoe.json";
/** File name of the expert and router weights. */
export const EXPERTS_FILE = "d2dmoe.safetensors";
/** Manifest format this version writes; older ones are rejected with a message to reconvert. */
export const FORMAT_VERSION = 1;

/**
 * Widest router hidden layer a converted folder may have. Routers up to 256 wide take the fused decode
 * kernels on the GPU; wider ones route few-token batches through the batched kernels instead.
 */
export const MAX_ROUTER_WIDTH = 1024;

/** One converted FFN layer. */
export interface ManifestLayer {
  /** Experts. */
  experts: number;
  /** Neurons per expert. */
  expert_size: number;
  /** Router hidden width. */
  router_width: number;
  /** Router loss on the held-out calibration tokens (in the units of `router_target`). */
  router_val_loss?: number;
  /** Loss of predicting the mean norm per expert (the baseline the router must beat). */
  router_val_baseline?: number;
  /** k-means objective of the expert split. */
  kmeans_cost?: number;
  /** The block's converted attention projections (`convert --attention`), when present. */
  attention?: ManifestAttention;
}

/** How one attention projection was converted. */
export interface ManifestProjection {
  /** Held-out unexplained variance of the distilled MLP against the original projection. */
  distill_val_error?: number;
  /** The same before Adam (the rank-⌊h/2⌋ initialisation). */
  distill_init_error?: number;
  /** Mean fraction of active hidden units on held-out inputs. */
  active_fraction?: number;
  /** Router loss on held-out rows. */
  router_val_loss?: number;
  /** Mean-norm baseline of that loss. */
  router_val_baseline?: number;
  /** k-means objective of the expert split. */
  kmeans_cost?: number;
}

/** A block's converted attention projections: four d → hidden → d ReLU MLPs split into experts. */
export interface ManifestAttention {
  /** MLP hidden width (= experts × expert_size). */
  hidden: number;
  /** Experts per projection. */
  experts: number;
  /** Neurons per expert. */
  expert_size: number;
  /** Router hidden width. */
  router_width: number;
  /** Per projection (q, k, v, o): distillation and router quality. */
  projections?: Record<string, ManifestProjection>;
}

/** One row of the τ calibration table (measured on held-out calibration data). */
export interface CalibrationRow {
  /** Threshold. */
  tau: number;
  /** Executed expert MACs / dense FFN MACs. */
  ffn_fraction: number;
  /** Executed attention-projection expert MACs / dense projection MACs (converted projections only). */
  attention_fraction?: number;
  /** Whole-model MACs / dense MACs. */
  compute_fraction?: number;
  /** Quality at this τ: perplexity (language models) or mean cosine to dense outputs (encoders). */
  quality?: number;
}

/** `d2dmoe.json`. */
export interface Manifest {
  /** Always "d2dmoe". */
  format: "d2dmoe";
  /** {@link FORMAT_VERSION}. */
  format_version: number;
  /** Source model family. */
  family: string;
  /** Per FFN layer, in order. */
  layers: ManifestLayer[];
  /** What every router's scores estimate (absent: "norm", the paper's target). */
  router_target?: RouterTarget;
  /** τ used when a call gives none. */
  default_tau: number;
  /** How the default τ was chosen. */
  default_tau_rule?: string;
  /** Quality metric of the calibration table: "perplexity" or "cosine". */
  quality_metric?: string;
  /** τ → fraction (ascending τ). */
  calibration: CalibrationRow[];
  /** Where the model came from and how it was converted. */
  provenance: Record<string, unknown>;
}

function fail(file: string, problem: string): never {
  throw new ModelFormatError(file, problem);
}

const isPosInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;

function checkAttention(a: unknown, at: string, file: string): void {
  if (typeof a !== "object" || a === null || Array.isArray(a)) fail(file, `${at} must be an object`);
  const r = a as Record<string, unknown>;
  for (const k of ["hidden", "experts", "expert_size", "router_width"]) {
    if (!isPosInt(r[k])) fail(file, `${at}.${k} must be a positive integer, got ${JSON.stringify(r[k])}`);
  }
  if ((r.experts as number) * (r.expert_size as number) !== r.hidden) {
    fail(file, `${at}: ${r.experts} experts × ${r.expert_size} neurons ≠ hidden width ${r.hidden}`);
  }
  if ((r.router_width as number) > MAX_ROUTER_WIDTH) {
    fail(file, `${at}.router_width ${r.router_width} exceeds ${MAX_ROUTER_WIDTH}`);
  }
}

/**
 * Validates a parsed manifest.
 * @param json Parsed JSON.
 * @param file Path, for messages.
 * @returns The manifest.
 * @throws {ModelFormatError} When a field is missing, mistyped or out of range, or the format is too old.
 */
export function parseManifest(json: unknown, file: string): Manifest {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    fail(file, "manifest must be a JSON object");
  }
  const m = json as Record<string, unknown>;
  if (m.format !== "d2dmoe") fail(file, `"format" must be "d2dmoe"`);
  if (m.format_version !== FORMAT_VERSION) {
    fail(
      file,
      `format_version ${
        JSON.stringify(m.format_version)
      } is not supported (this version reads ${FORMAT_VERSION}); convert the model again`,
    );
  }
  if (!Array.isArray(m.layers) || m.layers.length === 0) fail(file, `"layers" must be a non-empty array`);
  m.layers.forEach((l: unknown, i: number) => {
    const r = l as Record<string, unknown>;
    if (typeof l !== "object" || l === null) fail(file, `layers[${i}] must be an object`);
    for (const k of ["experts", "expert_size", "router_width"]) {
      if (!isPosInt(r[k])) {
        fail(file, `layers[${i}].${k} must be a positive integer, got ${JSON.stringify(r[k])}`);
      }
    }
    if ((r.router_width as number) > MAX_ROUTER_WIDTH) {
      fail(file, `layers[${i}].router_width ${r.router_width} exceeds ${MAX_ROUTER_WIDTH}`);
    }
    if (r.attention !== undefined) checkAttention(r.attention, `layers[${i}].attention`, file);
  });
  if (m.router_target !== undefined && !ROUTER_TARGETS.includes(m.router_target as RouterTarget)) {
    fail(
      file,
      `"router_target" must be one of ${ROUTER_TARGETS.join(", ")}, got ${JSON.stringify(m.router_target)}`,
    );
  }
  if (typeof m.default_tau !== "number" || !(m.default_tau >= 0 && m.default_tau <= 1)) {
    fail(file, `"default_tau" must be a number in [0, 1], got ${JSON.stringify(m.default_tau)}`);
  }
  if (!Array.isArray(m.calibration)) fail(file, `"calibration" must be an array`);
  let prev = -1;
  m.calibration.forEach((c: unknown, i: number) => {
    const r = c as Record<string, unknown>;
    if (
      typeof c !== "object" || c === null || typeof r.tau !== "number" || typeof r.ffn_fraction !== "number"
    ) {
      fail(file, `calibration[${i}] must have numeric tau and ffn_fraction`);
    }
    if (!((r.tau as number) > prev && (r.tau as number) >= 0 && (r.tau as number) <= 1)) {
      fail(file, "calibration taus must ascend within [0, 1]");
    }
    if (!((r.ffn_fraction as number) >= 0 && (r.ffn_fraction as number) <= 1)) {
      fail(file, `calibration[${i}].ffn_fraction must be in [0, 1], got ${r.ffn_fraction}`);
    }
    prev = r.tau as number;
  });
  if (typeof m.provenance !== "object" || m.provenance === null) fail(file, `"provenance" must be an object`);
  if (typeof m.family !== "string") fail(file, `"family" must be a string`);
  return m as unknown as Manifest;
}

/**
 * Reads `d2dmoe.json` from a folder.
 * @param dir Folder.
 * @returns The manifest, or null when the folder is not converted.
 * @throws {ModelFormatError} When the manifest exists but is invalid.
 */
export async function readManifest(dir: string): Promise<Manifest | null> {
  const file = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    const st = await Deno.stat(file);
    if (st.size > 16 << 20) fail(file, `manifest is ${st.size} bytes; expected a small JSON file`);
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(file, `not valid JSON (${(e as Error).message})`);
  }
  return parseManifest(json, file);
}

/**
 * The API view of a manifest.
 * @param m Manifest.
 * @returns MoE info for `model.moe`.
 */
export function moeInfo(m: Manifest): MoeInfo {
  return {
    formatVersion: m.format_version,
    layers: m.layers.map((l) => ({ experts: l.experts, expertSize: l.expert_size })),
    ...(m.layers.some((l) => l.attention) && {
      attention: m.layers.map((l) =>
        l.attention ? { experts: l.attention.experts, expertSize: l.attention.expert_size } : null
      ),
    }),
    routerWidth: m.layers[0].router_width,
    routerTarget: m.router_target ?? "norm",
    defaultTau: m.default_tau,
    calibration: m.calibration.map((c) => ({ tau: c.tau, ffn_fraction: c.ffn_fraction })),
  };
}
