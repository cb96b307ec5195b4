// Per-token merge of expert outputs:
//   y[t, c] = res[t, c] + b2[c] + Σ_{j < k_t} Σ_{r < R} pair_out[(tok_rows[t*E + j]·R + r), c]
// R = 1 for the batched path (one output row per pair); R = chunks per expert for the decode path,
// whose expert kernel writes one partial row per neuron chunk.
// Default layout: one thread per output element, pairs summed in ascending expert order (bit-exact with
// the reference); VEC4 (d % 4 == 0): one thread per 4 columns, the same sums read as vec4 through a
// second binding of the same buffer, so each dependent row lookup moves 16 bytes instead of 4. SPLIT (decode, where a token has k·R partial rows, e.g. 7·16): a workgroup per
// (token, 4·CQ columns) whose WG/CQ thread slices each sum every (WG/CQ)-th partial row with vec4 loads,
// then a fixed-order tree in workgroup memory: deterministic, and the long row loop no longer serialises.

// row0: the tokens are rows row0 … row0 + T − 1 of y and res (a token chunk of a bigger batch).
struct Params { T: u32, E: u32, d: u32, has_res: u32, R: u32, row0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pair_out: array<f32>;
@group(0) @binding(2) var<storage, read> tok_rows: array<u32>;
@group(0) @binding(3) var<storage, read> tok_k: array<u32>;
@group(0) @binding(4) var<storage, read> b2: array<f32>;
@group(0) @binding(5) var<storage, read> res: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@group(0) @binding(7) var<storage, read> pair_out4: array<vec4<f32>>; // pair_out again, as vec4

override SPLIT: bool = false;
override VEC4: bool = false;        // d % 4 == 0
override CQ: u32 = 8u;              // SPLIT: column quads per workgroup
const WG = 256u;
override RS: u32 = WG / CQ;         // SPLIT: row slices

var<workgroup> red: array<vec4<f32>, WG>;

fn finish(t: u32, c: u32, s: f32) {
  let i = (p.row0 + t) * p.d + c;
  var v = s + b2[c];
  if (p.has_res == 1u) { v += res[i]; }
  y[i] = v;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  if (SPLIT) {
    // grid (⌈d / 4CQ⌉, T); d % 4 == 0
    let t = wid.y;
    let cq = li % CQ;
    let rs = li / CQ;
    let c = (wid.x * CQ + cq) * 4u;
    let n = tok_k[t] * p.R;
    var s = vec4<f32>(0.0);
    if (c < p.d) {
      for (var i = rs; i < n; i += RS) {
        let row = tok_rows[t * p.E + i / p.R] * p.R + i % p.R;
        s += pair_out4[(row * p.d + c) / 4u];
      }
    }
    red[li] = s;
    workgroupBarrier();
    for (var h = RS / 2u; h > 0u; h >>= 1u) {
      if (rs < h) { red[li] += red[li + h * CQ]; }
      workgroupBarrier();
    }
    if (rs == 0u && c < p.d) {
      let v = red[li];
      for (var j = 0u; j < 4u; j++) { finish(t, c + j, v[j]); }
    }
    return;
  }
  let g = (wid.x + wid.y * nwg.x) * WG + li;
  if (VEC4) {
    let dq = p.d / 4u;
    if (g >= p.T * dq) { return; }
    let t = g / dq;
    let cq = g % dq;
    var s = vec4<f32>(0.0);
    let k = tok_k[t];
    for (var j = 0u; j < k; j++) {
      let row0 = tok_rows[t * p.E + j] * p.R;
      for (var r = 0u; r < p.R; r++) { s += pair_out4[(row0 + r) * dq + cq]; }
    }
    for (var j = 0u; j < 4u; j++) { finish(t, cq * 4u + j, s[j]); }
    return;
  }
  if (g >= p.T * p.d) { return; }
  let t = g / p.d;
  let c = g % p.d;
  var s = 0.0;
  let k = tok_k[t];
  for (var j = 0u; j < k; j++) {
    let row0 = tok_rows[t * p.E + j] * p.R;
    for (var r = 0u; r < p.R; r++) { s += pair_out[(row0 + r) * p.d + c]; }
  }
  finish(t, c, s);
}
