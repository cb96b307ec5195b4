/**
 * Every performance knob of our kernels in one place: tile shapes (WGSL override constants), the
 * shape thresholds that pick a kernel, and the decode-path switches. `bench/tune.ts` measures the
 * candidates on the GPU machine and prints which to set here; nothing else needs to change.
 *
 * The values are read at dispatch time from the mutable {@link TUNING} object, so the tuner (and tests)
 * can swap configurations without reloading modules; product code never writes it.
 * @module
 */

/** Tile shape of the register-tiled matmul kernels (`matmul.wgsl`, `moe_expert_matmul.wgsl`). */
export interface TileConfig {
  /** Output rows per workgroup (multiple of `TM`, 16 … 128). */
  BM: number;
  /** Output columns per workgroup (multiple of `TN`, 16 … 128). */
  BN: number;
  /** K step staged in workgroup memory per iteration (multiple of 4). */
  BK: number;
  /** Rows per thread: 4 or 8. */
  TM: number;
  /** Columns per thread: 4 or 8. */
  TN: number;
}

/** Matmul tile plus its workgroup swizzle. */
export interface MatmulTile extends TileConfig {
  /** Row tiles per swizzle group (L2 reuse of B); 1 turns the swizzle off. */
  GROUP_M: number;
}

/** Thread layout of the small-M matrix-vector kernel (`gemv.wgsl`). */
export interface GemvConfig {
  /** Threads per workgroup (64 … 1024, power of two). */
  WG: number;
  /** B stored [K, N]: 4-column groups per workgroup (WG / CQ threads split K). Power of two. */
  CQ: number;
  /** B stored [N, K] (`transB`): threads per output (they split K). Power of two ≤ WG. */
  TPR: number;
}

/** Decode-path (tiny T) D2DMoE kernels. */
export interface MoeDecodeConfig {
  /** Largest token count that takes the decode path (fused router+select, fused expert FFN). */
  maxTokens: number;
  /**
   * Where the router's hidden layer runs: `gemv` (its own dispatch, every SM streams R1) or `fused` (inside
   * the single-workgroup router kernel: one dispatch fewer, one SM's bandwidth).
   */
  routeMode: "gemv" | "fused";
  /** Threads of the single-workgroup fused router (`moe_route.wgsl` with the hidden layer fused). */
  routeWG: number;
  /** Neurons per workgroup of `moe_expert_ffn.wgsl` (divides the expert size; 4, 8, 16 or 32). */
  chunk: number;
  /** Threads per workgroup of `moe_expert_ffn.wgsl`. */
  ffnWG: number;
}

/** All tunables. */
export interface Tuning {
  /** Kernel for M above `gemvMaxM` on aligned shapes: the unrolled 128×128 `fast` one or the configurable `tiled`. */
  matmulKernel: "fast" | "tiled";
  /**
   * Whether the fast matmul may take 128×96 tiles (`matmul_fast96.wgsl`) where they fill `minWorkgroups` better (see `fastTileWidth`
   * in matmul.ts).
   */
  matmulFastNarrow: boolean;
  /** Tiles for big products, tried in order: the first whose grid has ≥ `minWorkgroups` workgroups wins. */
  matmulTiles: MatmulTile[];
  /** Workgroups a tile choice should fill (about 2 per SM on an H200: 132 SMs). */
  minWorkgroups: number;
  /** Largest M that takes the GEMV kernel instead of the tiled one. */
  gemvMaxM: number;
  /** GEMV layout (`CQ` is the widest; narrower for small N, see `gemvMinWorkgroups`). */
  gemv: GemvConfig;
  /** GEMV ([K, N] layout) halves CQ while its grid has fewer workgroups than this. */
  gemvMinWorkgroups: number;
  /** Expert up-projection tile (N = expert size), keyed by expert size; `default` otherwise. */
  expertUp: Record<number | "default", TileConfig>;
  /** Expert down-projection tile (K = expert size, N = d), keyed by expert size; `default` otherwise. */
  expertDown: Record<number | "default", TileConfig>;
  /** Tokens per workgroup of the batched router output + selection kernel. */
  routeTokens: number;
  /** Threads of the batched router output + selection kernel. */
  routeWG: number;
  /** Decode path. */
  moeDecode: MoeDecodeConfig;
  /**
   * Options for Dawn's `create()` when the backend is made by `createBackend` (e.g.
   * `"enable-dawn-features=disable_robustness,skip_validation"`); `bench/tune.ts` measures what they buy.
   */
  dawnFlags: string[];
}

/** The configuration we expect to win on the H200 (see docs/kernels.md); `bench/tune.ts` checks it. */
export const DEFAULT_TUNING: Tuning = {
  matmulKernel: "fast",
  matmulFastNarrow: true,
  matmulTiles: [
    { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8, GROUP_M: 8 },
    { BM: 64, BN: 128, BK: 8, TM: 8, TN: 8, GROUP_M: 8 },
    { BM: 64, BN: 64, BK: 8, TM: 8, TN: 4, GROUP_M: 8 },
    { BM: 32, BN: 64, BK: 8, TM: 4, TN: 4, GROUP_M: 8 },
  ],
  minWorkgroups: 264,
  gemvMaxM: 8,
  gemv: { WG: 256, CQ: 8, TPR: 16 }, // H200 tune: best for ffn_up / lm_head (N ≥ 3072)
  gemvMinWorkgroups: 160,
  expertUp: {
    128: { BM: 64, BN: 128, BK: 8, TM: 8, TN: 8 }, // H200 tune (f = 0.3)
    32: { BM: 128, BN: 32, BK: 8, TM: 8, TN: 4 },
    default: { BM: 64, BN: 64, BK: 8, TM: 8, TN: 4 },
  },
  expertDown: {
    128: { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 },
    32: { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 },
    default: { BM: 64, BN: 64, BK: 8, TM: 8, TN: 4 },
  },
  routeTokens: 8,
  routeWG: 128,
  moeDecode: { maxTokens: 8, routeMode: "gemv", routeWG: 256, chunk: 8, ffnWG: 256 }, // H200 tune: lowest GPU time
  dawnFlags: [],
};

/** The live configuration (a deep copy of {@link DEFAULT_TUNING}); the tuner swaps entries in it. */
export const TUNING: Tuning = structuredClone(DEFAULT_TUNING);

/**
 * Checks a tile against the kernels' rules and a device's limits.
 * @param t Tile.
 * @param limits Workgroup storage bytes and invocations the device allows.
 * @returns `null` when valid, else why not.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(tileProblem({ BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 }), null);
 * assert.match(tileProblem({ BM: 128, BN: 128, BK: 8, TM: 8, TN: 6 })!, /TN/);
 * ```
 */
export function tileProblem(
  t: TileConfig,
  limits: { storage: number; invocations: number } = { storage: 32768, invocations: 256 },
): string | null {
  if (t.TM !== 4 && t.TM !== 8) return `TM must be 4 or 8, got ${t.TM}`;
  if (t.TN !== 4 && t.TN !== 8) return `TN must be 4 or 8, got ${t.TN}`;
  if (t.BM % t.TM || t.BN % t.TN) return `BM, BN must be multiples of TM, TN`;
  if (t.BK % 4 || t.BK < 4 || t.BK > 32) return `BK must be 4, 8, …, 32`;
  const wg = (t.BM / t.TM) * (t.BN / t.TN);
  if (wg > limits.invocations) return `${wg} threads exceed the device's ${limits.invocations}`;
  if (wg < 16) return `${wg} threads is too few`;
  // Each thread stages at most 8 vec4 of each operand per K step (the kernels' register buffers).
  if ((t.BM * t.BK) / 4 > 8 * wg || (t.BN * t.BK) / 4 > 8 * wg) return `BK too large for ${wg} threads`;
  const bytes = 2 * t.BK * (t.BM + 4 + t.BN + 4) * 4 + 4 * t.BM;
  if (bytes > limits.storage) {
    return `${bytes} bytes of workgroup memory exceed the device's ${limits.storage}`;
  }
  return null;
}

/**
 * Override constants of a tile for `matmul.wgsl` / `moe_expert_matmul.wgsl`.
 * @param t Tile.
 * @returns `{ BM, BN, BK, TM, TN }`.
 */
export function tileConstants(t: TileConfig): Record<string, number> {
  return { BM: t.BM, BN: t.BN, BK: t.BK, TM: t.TM, TN: t.TN };
}

/**
 * The tile for an M×N output: the first of `TUNING.matmulTiles` whose grid fills the device, else the
 * one with the most workgroups.
 * @param m Rows.
 * @param n Columns.
 * @returns The tile.
 */
export function pickMatmulTile(m: number, n: number): MatmulTile {
  const tiles = TUNING.matmulTiles;
  let best = tiles[0], most = 0;
  for (const t of tiles) {
    const wgs = Math.ceil(m / t.BM) * Math.ceil(n / t.BN);
    if (wgs >= TUNING.minWorkgroups) return t;
    if (wgs > most) [best, most] = [t, wgs];
  }
  return best;
}

/**
 * The expert tile for a projection.
 * @param kind `up` (N = expert size) or `down` (K = expert size).
 * @param size Neurons per expert.
 * @returns The tile.
 */
export function pickExpertTile(kind: "up" | "down", size: number): TileConfig {
  const table = kind === "up" ? TUNING.expertUp : TUNING.expertDown;
  return table[size] ?? table.default;
}
