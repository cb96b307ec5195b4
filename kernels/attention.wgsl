// Multi-head softmax attention over strided Q/K/V views (packed QKV rows, or a KV cache),
// one workgroup per (query row, head, batch), online softmax over key chunks of 64.
// out[(b * tq + i), h * dh + d] = Σ_j softmax_j(q·k_j * scale) v_j[d]
// Keys are excluded by the causal rule (j > q_pos0 + i) and by key_mask[b, j] == 0.

struct Params {
  heads: u32, dh: u32, tq: u32, tk: u32,
  q_off: u32, q_row: u32, q_batch: u32,
  k_off: u32, k_row: u32, k_batch: u32,
  v_off: u32, v_row: u32, v_batch: u32,
  q_pos0: u32, causal: u32, has_mask: u32,
  scale: f32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read> key_mask: array<u32>;
@group(0) @binding(5) var<storage, read_write> O: array<f32>;

const WG = 64u;
const MAX_DH = 256u;
var<workgroup> qs: array<f32, MAX_DH>;
var<workgroup> ps: array<f32, WG>;
var<workgroup> red: array<f32, WG>;

fn reduce(t: u32, v: f32, is_max: bool) -> f32 {
  red[t] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { red[t] = select(red[t] + red[t + s], max(red[t], red[t + s]), is_max); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let i = wid.x;
  let h = wid.y;
  let b = wid.z;
  let qbase = p.q_off + b * p.q_batch + i * p.q_row + h * p.dh;
  for (var d = t; d < p.dh; d += WG) { qs[d] = Q[qbase + d] * p.scale; }
  workgroupBarrier();
  var kmax = p.tk;
  if (p.causal == 1u) { kmax = min(p.tk, p.q_pos0 + i + 1u); }
  let kb = p.k_off + b * p.k_batch + h * p.dh;
  let vb = p.v_off + b * p.v_batch + h * p.dh;
  let NEG = -3.0e38;
  var m = NEG;
  var l = 0.0;
  var acc: array<f32, 4>;
  for (var j0 = 0u; j0 < kmax; j0 += WG) {
    let j = j0 + t;
    var s = NEG;
    var ok = j < kmax;
    if (ok && p.has_mask == 1u) { ok = key_mask[b * p.tk + j] != 0u; }
    if (ok) {
      // Four independent partial sums keep four loads of this key row in flight (one chain would wait
      // for every load in turn: the decode step is latency-bound here).
      let kr = kb + j * p.k_row;
      var s0 = 0.0;
      var s1 = 0.0;
      var s2 = 0.0;
      var s3 = 0.0;
      var d = 0u;
      for (; d + 4u <= p.dh; d += 4u) {
        s0 = fma(qs[d], K[kr + d], s0);
        s1 = fma(qs[d + 1u], K[kr + d + 1u], s1);
        s2 = fma(qs[d + 2u], K[kr + d + 2u], s2);
        s3 = fma(qs[d + 3u], K[kr + d + 3u], s3);
      }
      for (; d < p.dh; d++) { s0 = fma(qs[d], K[kr + d], s0); }
      s = (s0 + s1) + (s2 + s3);
    }
    let cm = reduce(t, s, true);
    let nm = max(m, cm);
    var pj = 0.0;
    if (ok) { pj = exp(s - nm); }
    ps[t] = pj;
    let alpha = select(exp(m - nm), 0.0, m <= NEG);
    let cs = reduce(t, pj, false);
    l = l * alpha + cs;
    let jn = min(WG, kmax - j0);
    for (var r = 0u; r < 4u; r++) {
      let d = t + r * WG;
      if (d < p.dh) {
        // Independent partial sums over keys, as for the dot products above.
        let vd = vb + j0 * p.v_row + d;
        var a0 = 0.0;
        var a1 = 0.0;
        var a2 = 0.0;
        var a3 = 0.0;
        var jj = 0u;
        for (; jj + 4u <= jn; jj += 4u) {
          a0 = fma(ps[jj], V[vd + jj * p.v_row], a0);
          a1 = fma(ps[jj + 1u], V[vd + (jj + 1u) * p.v_row], a1);
          a2 = fma(ps[jj + 2u], V[vd + (jj + 2u) * p.v_row], a2);
          a3 = fma(ps[jj + 3u], V[vd + (jj + 3u) * p.v_row], a3);
        }
        for (; jj < jn; jj++) { a0 = fma(ps[jj], V[vd + jj * p.v_row], a0); }
        acc[r] = acc[r] * alpha + ((a0 + a1) + (a2 + a3));
      }
    }
    m = nm;
    workgroupBarrier();
  }
  let obase = (b * p.tq + i) * (p.heads * p.dh) + h * p.dh;
  let inv = select(1.0 / l, 0.0, l == 0.0);
  for (var r = 0u; r < 4u; r++) {
    let d = t + r * WG;
    if (d < p.dh) { O[obase + d] = acc[r] * inv; }
  }
}
