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
      let kr = kb + j * p.k_row;
      var dot = 0.0;
      for (var d = 0u; d < p.dh; d++) { dot = fma(qs[d], K[kr + d], dot); }
      s = dot;
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
        var a = acc[r] * alpha;
        for (var jj = 0u; jj < jn; jj++) {
          a = fma(ps[jj], V[vb + (j0 + jj) * p.v_row + d], a);
        }
        acc[r] = a;
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
