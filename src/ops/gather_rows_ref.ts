/**
 * CPU reference for `kernels/gather_rows.wgsl`.
 * @module
 */

/**
 * Checks a row gather's ranges (shared by both backends so they fail alike).
 * @param srcRows Rows of the source.
 * @param idxLength Length of the index vector.
 * @param offset First index used.
 * @param rows Rows to gather.
 * @throws {RangeError} When `offset` or `rows` is not a non-negative integer, the index range runs past the
 *   index vector, or the source is empty.
 */
export function checkGatherRows(srcRows: number, idxLength: number, offset: number, rows: number): void {
  if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(rows) || rows < 0) {
    throw new RangeError(`gatherRows: offset and rows must be non-negative integers, got ${offset}, ${rows}`);
  }
  if (offset + rows > idxLength) {
    throw new RangeError(`gatherRows: indices [${offset}, ${offset + rows}) run past the ${idxLength} given`);
  }
  if (srcRows < 1) throw new RangeError("gatherRows: the source has no rows");
}

/**
 * out[r, :] = src[idx[offset + r], :], indices clamped to the last source row (as the kernel does).
 * @param src Source, [srcRows, cols] row-major.
 * @param idx Row indices.
 * @param offset First index used.
 * @param rows Rows to gather.
 * @param cols Columns of `src`.
 * @returns [rows, cols].
 */
export function gatherRowsRef(
  src: Float32Array,
  idx: Uint32Array,
  offset: number,
  rows: number,
  cols: number,
): Float32Array {
  const last = src.length / cols - 1;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const s = Math.min(idx[offset + r], last) * cols;
    out.set(src.subarray(s, s + cols), r * cols);
  }
  return out;
}
