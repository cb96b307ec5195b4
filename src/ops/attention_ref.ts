/**
 * CPU reference for `kernels/attention.wgsl`, and the strided-view arguments both share.
 * @module
 */

/** Where one of Q, K, V lives inside a flat buffer: element offset, per-token and per-batch strides. */
export interface AttnView {
  /** Element offset of batch 0, token 0, head 0. */
  offset: number;
  /** Elements between consecutive tokens. */
  rowStride: number;
  /** Elements between consecutive batch entries. */
  batchStride: number;
}

/** Shape and masking of one attention call. */
export interface AttentionShape {
  /** Batch size. */
  batch: number;
  /** Number of heads. */
  heads: number;
  /** Head dimension (≤ 256). */
  headDim: number;
  /** Query tokens per batch entry. */
  tq: number;
  /** Key tokens per batch entry. */
  tk: number;
  /** Absolute position of query 0 (past length for a KV cache); used by the causal rule. */
  qPos0: number;
  /** Key j is visible to query i only if j ≤ qPos0 + i. */
  causal: boolean;
  /** Multiplier of q·k, usually 1/√headDim. */
  scale: number;
}

/**
 * Softmax attention; output [batch·tq, heads·headDim].
 * @param q Buffer holding Q, read through `qv`.
 * @param k Buffer holding K, read through `kv`.
 * @param v Buffer holding V, read through `vv`.
 * @param s Shape, causal rule and scale.
 * @param qv Q view.
 * @param kv K view.
 * @param vv V view.
 * @param keyMask Optional [batch, tk]; 0 hides a key.
 * @returns Attention output; rows whose keys are all hidden are zero.
 */
export function attentionRef(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  s: AttentionShape,
  qv: AttnView,
  kv: AttnView,
  vv: AttnView,
  keyMask?: Uint32Array,
): Float32Array {
  const { batch, heads, headDim: dh, tq, tk } = s;
  const out = new Float32Array(batch * tq * heads * dh);
  const scores = new Float64Array(tk);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < tq; i++) {
        const qb = qv.offset + b * qv.batchStride + i * qv.rowStride + h * dh;
        const kmax = s.causal ? Math.min(tk, s.qPos0 + i + 1) : tk;
        let mx = -Infinity;
        for (let j = 0; j < tk; j++) {
          if (j >= kmax || (keyMask && keyMask[b * tk + j] === 0)) {
            scores[j] = -Infinity;
            continue;
          }
          const kb = kv.offset + b * kv.batchStride + j * kv.rowStride + h * dh;
          let dot = 0;
          for (let d = 0; d < dh; d++) dot += q[qb + d] * k[kb + d];
          scores[j] = dot * s.scale;
          if (scores[j] > mx) mx = scores[j];
        }
        let sum = 0;
        for (let j = 0; j < tk; j++) {
          scores[j] = scores[j] === -Infinity ? 0 : Math.exp(scores[j] - mx);
          sum += scores[j];
        }
        const ob = (b * tq + i) * heads * dh + h * dh;
        if (sum === 0) continue;
        for (let j = 0; j < tk; j++) {
          const pj = scores[j] / sum;
          if (pj === 0) continue;
          const vb = vv.offset + b * vv.batchStride + j * vv.rowStride + h * dh;
          for (let d = 0; d < dh; d++) out[ob + d] += pj * v[vb + d];
        }
      }
    }
  }
  return out;
}
