// Grouped, gathered expert matmul with early exit; grid (⌈N/64⌉, ⌈cap/64⌉, E), expert e = wid.z.
// Rows of expert e are its selected pairs, slots 0..count_e−1 (count_e = counts[counts_off + e]);
// row tiles past count_e return at once: that is how skipped experts save time without a readback.
//   up   (gather = 1): out[e*cap + slot, :] = act( x[lists[e*cap + slot], :] · W[e] + b[e] )   W[e]: [K, N]
//   down (gather = 0): out[e*cap + slot, :] = a[e*cap + slot, :] · W[e]                      (no bias)
// Same 64x64x16 register tiling as matmul.wgsl.

struct Params { cap: u32, K: u32, N: u32, gather: u32, act: u32, has_bias: u32, counts_off: u32, _p0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> lists: array<u32>;
@group(0) @binding(3) var<storage, read> counts: array<u32>;
@group(0) @binding(4) var<storage, read> W: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

const BM = 64u;
const BN = 64u;
const BK = 16u;
var<workgroup> As: array<f32, 1024>;
var<workgroup> Bs: array<f32, 1024>;
var<workgroup> rows: array<u32, 64>;

fn erf_approx(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return select(-y, y, x >= 0.0);
}

fn act(x: f32) -> f32 {
  switch p.act {
    case 1u: { return max(x, 0.0); }
    case 2u: { return 0.5 * x * (1.0 + erf_approx(x * 0.7071067811865476)); }
    case 3u: { return 0.5 * x * (1.0 + tanh(clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0))); }
    case 4u: { return tanh(clamp(x, -15.0, 15.0)); }
    default: { return x; }
  }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let e = wid.z;
  let count = counts[p.counts_off + e];
  let slot0 = wid.y * BM;
  if (slot0 >= count) { return; }   // uniform: the whole workgroup leaves
  let col0 = wid.x * BN;
  let wbase = e * p.K * p.N;
  if (li < BM) {
    let slot = slot0 + li;
    var r = 0xffffffffu;
    if (slot < count) {
      if (p.gather == 1u) { r = lists[e * p.cap + slot]; } else { r = e * p.cap + slot; }
    }
    rows[li] = r;
  }
  workgroupBarrier();
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    for (var i = 0u; i < 4u; i++) {
      let idx = li + i * 256u;
      let m = idx / BK;
      let k = idx % BK;
      let r = rows[m];
      var a = 0.0;
      if (r != 0xffffffffu && k0 + k < p.K) { a = A[r * p.K + k0 + k]; }
      As[k * BM + m] = a;
      let kk = idx / BN;
      let n = idx % BN;
      var b = 0.0;
      if (col0 + n < p.N && k0 + kk < p.K) { b = W[wbase + (k0 + kk) * p.N + col0 + n]; }
      Bs[kk * BN + n] = b;
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { a[i] = As[k * BM + lid.y + 16u * i]; }
      for (var j = 0u; j < 4u; j++) { b[j] = Bs[k * BN + lid.x + 16u * j]; }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] = fma(a[i], b[j], acc[i * 4u + j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = lid.y + 16u * i;
    let slot = slot0 + m;
    if (slot >= count) { continue; }
    let orow = e * p.cap + slot;
    for (var j = 0u; j < 4u; j++) {
      let n = col0 + lid.x + 16u * j;
      if (n >= p.N) { continue; }
      var v = acc[i * 4u + j];
      if (p.has_bias == 1u) { v += bias[e * p.N + n]; }
      out[orow * p.N + n] = act(v);
    }
  }
}
