/**
 * CPU reference for `kernels/embed.wgsl`.
 * @module
 */

/**
 * Token (+ position, + token type) embedding lookup; ids past a table are clamped like the kernel.
 * @param ids [rows] token ids.
 * @param wte [vocab, cols] token table.
 * @param cols Embedding width.
 * @param pos Optional [rows] position ids with table `wpe` [nPos, cols].
 * @param wpe Position table.
 * @param types Optional [rows] token-type ids with table `wtt` [nType, cols].
 * @param wtt Token-type table.
 * @returns [rows, cols].
 */
export function embedRef(
  ids: Uint32Array,
  wte: Float32Array,
  cols: number,
  pos?: Uint32Array,
  wpe?: Float32Array,
  types?: Uint32Array,
  wtt?: Float32Array,
): Float32Array {
  const rows = ids.length;
  const out = new Float32Array(rows * cols);
  const clampRow = (id: number, table: Float32Array) => Math.min(id, table.length / cols - 1) * cols;
  for (let r = 0; r < rows; r++) {
    const t = clampRow(ids[r], wte);
    const p = pos && wpe ? clampRow(pos[r], wpe) : -1;
    const y = types && wtt ? clampRow(types[r], wtt) : -1;
    for (let c = 0; c < cols; c++) {
      // fround after each add: the same f32 rounding sequence as the kernel, so results match exactly.
      let v = wte[t + c];
      if (p >= 0) v = Math.fround(v + wpe![p + c]);
      if (y >= 0) v = Math.fround(v + wtt![y + c]);
      out[r * cols + c] = v;
    }
  }
  return out;
}
