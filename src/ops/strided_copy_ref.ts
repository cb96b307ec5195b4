/**
 * CPU reference for `kernels/strided_copy.wgsl`, and the copy description both share.
 * @module
 */

/** A 3-D strided block copy: `nb × nt × nc` elements, contiguous along c. */
export interface CopySpec {
  /** Outer count (usually batch). */
  nb: number;
  /** Middle count (usually tokens). */
  nt: number;
  /** Inner count (contiguous elements per row). */
  nc: number;
  /** Source element offset. */
  srcOffset: number;
  /** Source stride of b. */
  srcB: number;
  /** Source stride of t. */
  srcT: number;
  /** Destination element offset. */
  dstOffset: number;
  /** Destination stride of b. */
  dstB: number;
  /** Destination stride of t. */
  dstT: number;
}

/**
 * Copies a strided block from `src` into `dst` in place.
 * @param src Source elements.
 * @param dst Destination elements (modified).
 * @param s The block.
 */
export function stridedCopyRef(src: Float32Array, dst: Float32Array, s: CopySpec): void {
  for (let b = 0; b < s.nb; b++) {
    for (let t = 0; t < s.nt; t++) {
      const si = s.srcOffset + b * s.srcB + t * s.srcT;
      const di = s.dstOffset + b * s.dstB + t * s.dstT;
      dst.set(src.subarray(si, si + s.nc), di);
    }
  }
}
