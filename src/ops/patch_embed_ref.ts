/**
 * CPU reference for `kernels/patch_embed.wgsl`.
 * @module
 */

/** Image and patch geometry. */
export interface PatchGeometry {
  /** Images. */
  batch: number;
  /** Channels. */
  channels: number;
  /** Image height (a multiple of `patch`). */
  height: number;
  /** Image width (a multiple of `patch`). */
  width: number;
  /** Patch side. */
  patch: number;
  /** Embedding width. */
  dim: number;
}

/**
 * ViT embeddings: a CLS row then one row per patch (stride-`patch` convolution), plus positions.
 * @param pix [batch, channels, height, width].
 * @param w [dim, channels, patch, patch] (PyTorch Conv2d weight).
 * @param bias [dim].
 * @param cls [dim].
 * @param pos [patches + 1, dim].
 * @param g Geometry.
 * @returns [batch·(patches + 1), dim].
 */
export function patchEmbedRef(
  pix: Float32Array,
  w: Float32Array,
  bias: Float32Array,
  cls: Float32Array,
  pos: Float32Array,
  g: PatchGeometry,
): Float32Array {
  const { batch, channels: C, height: H, width: W, patch: P, dim: D } = g;
  const gx = W / P;
  const np = gx * (H / P);
  const out = new Float32Array(batch * (np + 1) * D);
  for (let b = 0; b < batch; b++) {
    const base = b * (np + 1) * D;
    for (let d = 0; d < D; d++) out[base + d] = cls[d] + pos[d];
    for (let pi = 0; pi < np; pi++) {
      const y0 = Math.floor(pi / gx) * P;
      const x0 = (pi % gx) * P;
      for (let d = 0; d < D; d++) {
        let s = bias[d];
        for (let c = 0; c < C; c++) {
          for (let ky = 0; ky < P; ky++) {
            for (let kx = 0; kx < P; kx++) {
              s += pix[((b * C + c) * H + y0 + ky) * W + x0 + kx] * w[((d * C + c) * P + ky) * P + kx];
            }
          }
        }
        out[base + (pi + 1) * D + d] = s + pos[(pi + 1) * D + d];
      }
    }
  }
  return out;
}
