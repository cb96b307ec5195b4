// D2DMoE router, fused: scores[t, e] = | relu(x[t] · R1) · R2 |[e]   (no biases)
// x: [T, d], R1: [d, w] (w ≤ 256), R2: [w, E], scores: [T, E].
// One workgroup per 8 tokens: the hidden layer stays in workgroup memory between the two products.
// Workgroup 0 also zeroes this layer's expert counters for the selection kernel that follows.

struct Params { T: u32, d: u32, w: u32, E: u32, counts_off: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> r1: array<f32>;
@group(0) @binding(3) var<storage, read> r2: array<f32>;
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;
@group(0) @binding(5) var<storage, read_write> counts: array<u32>;

const WG = 128u;
const TT = 8u;   // tokens per workgroup
const KC = 32u;  // d-chunk staged in workgroup memory
const WMAX = 256u;

var<workgroup> xs: array<f32, 256>;   // [TT][KC]
var<workgroup> hs: array<f32, 2048>;  // [TT][WMAX]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let g = wid.x + wid.y * nwg.x;
  if (g == 0u) {
    for (var e = tid; e < p.E; e += WG) { counts[p.counts_off + e] = 0u; }
  }
  let t0 = g * TT;
  if (t0 >= p.T) { return; }
  // Each thread owns hidden units j0 = tid and j1 = tid + 128 for all TT tokens.
  var acc0: array<f32, 8>;
  var acc1: array<f32, 8>;
  for (var k0 = 0u; k0 < p.d; k0 += KC) {
    for (var i = tid; i < TT * KC; i += WG) {
      let tt = i / KC;
      let kk = i % KC;
      var v = 0.0;
      if (t0 + tt < p.T && k0 + kk < p.d) { v = x[(t0 + tt) * p.d + k0 + kk]; }
      xs[i] = v;
    }
    workgroupBarrier();
    let kn = min(KC, p.d - k0);
    for (var kk = 0u; kk < kn; kk++) {
      let row = (k0 + kk) * p.w;
      var w0 = 0.0;
      var w1 = 0.0;
      if (tid < p.w) { w0 = r1[row + tid]; }
      if (tid + WG < p.w) { w1 = r1[row + tid + WG]; }
      for (var tt = 0u; tt < TT; tt++) {
        let xv = xs[tt * KC + kk];
        acc0[tt] = fma(xv, w0, acc0[tt]);
        acc1[tt] = fma(xv, w1, acc1[tt]);
      }
    }
    workgroupBarrier();
  }
  for (var tt = 0u; tt < TT; tt++) {
    hs[tt * WMAX + tid] = max(acc0[tt], 0.0);
    hs[tt * WMAX + tid + WG] = max(acc1[tt], 0.0);
  }
  workgroupBarrier();
  for (var e = tid; e < p.E; e += WG) {
    var s: array<f32, 8>;
    for (var j = 0u; j < p.w; j++) {
      let wv = r2[j * p.E + e];
      for (var tt = 0u; tt < TT; tt++) { s[tt] = fma(hs[tt * WMAX + j], wv, s[tt]); }
    }
    for (var tt = 0u; tt < TT; tt++) {
      if (t0 + tt < p.T) { scores[(t0 + tt) * p.E + e] = abs(s[tt]); }
    }
  }
}
