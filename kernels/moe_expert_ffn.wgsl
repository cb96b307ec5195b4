// Decode-path expert FFN for a few tokens, up- and down-projection fused by neuron chunks.
// A D2DMoE expert's output is a sum over its neurons, Σ_j act(x·W1[:, j] + b1[j]) · W2[j, :], so workgroup
// (chunk c, expert e) takes NC neurons of expert e and, for each token of e's list, computes
//   h = act(x · W1[e][:, c·NC … +NC] + b1)     (threads split d, partial sums meet in workgroup memory)
//   partial = h · W2[e][c·NC … +NC, :]          (threads over d, vec4 rows of W2)
// and writes it as row (e·cap + slot)·nch + c of `out`; the merge (moe_merge.wgsl with R = nch) adds the
// partials of a token's pairs in a fixed order, so the result is deterministic with no float atomics.
// Only selected experts' weights are read (workgroups of idle experts return at once), by many workgroups.
// x: [T, d] (already normalised), W1: [E, d, s], b1: [E·s], W2: [E, s, d]; d, s multiples of 4.

struct Params { cap: u32, d: u32, s: u32, act: u32, counts_off: u32, nch: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> lists: array<u32>;
@group(0) @binding(3) var<storage, read> counts: array<u32>;
@group(0) @binding(4) var<storage, read> w1: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> b1: array<f32>;
@group(0) @binding(6) var<storage, read> w2: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> out: array<vec4<f32>>;

override WG: u32 = 256u;
override NC: u32 = 8u;          // neurons per workgroup (multiple of 4)
override NQ: u32 = NC / 4u;     // groups of 4 neurons
override KSN: u32 = WG / NQ;    // threads along d in the up-projection

var<workgroup> red: array<vec4<f32>, WG>;
var<workgroup> hsh: array<f32, NC>;

//!include activation

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let c = wid.x;
  let e = wid.y;
  let count = counts[p.counts_off + e];
  if (count == 0u) { return; }   // uniform: idle expert
  let d = p.d;
  let d4 = d / 4u;
  let s4 = p.s / 4u;
  let q = tid % NQ;
  let ks = tid / NQ;
  for (var slot = 0u; slot < count; slot++) {
    let t = lists[e * p.cap + slot];
    var acc = vec4<f32>(0.0);
    let wb = e * d * s4 + c * NQ + q;
    for (var k = ks; k < d; k += KSN) {
      acc = fma(vec4<f32>(x[t * d + k]), w1[wb + k * s4], acc);
    }
    red[tid] = acc;
    workgroupBarrier();
    for (var s = KSN / 2u; s > 0u; s >>= 1u) {
      if (ks < s) { red[tid] += red[tid + s * NQ]; }
      workgroupBarrier();
    }
    if (ks == 0u) {
      let v = red[tid];
      for (var j = 0u; j < 4u; j++) {
        let n = c * NC + q * 4u + j;
        hsh[q * 4u + j] = activate(p.act, v[j] + b1[e * p.s + n]);
      }
    }
    workgroupBarrier();
    let w2b = (e * p.s + c * NC) * d4;
    let ob = ((e * p.cap + slot) * p.nch + c) * d4;
    for (var col = tid; col < d4; col += WG) {
      var o = vec4<f32>(0.0);
      for (var j = 0u; j < NC; j++) { o = fma(vec4<f32>(hsh[j]), w2[w2b + j * d4 + col], o); }
      out[ob + col] = o;
    }
    workgroupBarrier();
  }
}
