// C[M, N] = act(A[M, K] · B + bias) + residual, B stored [K, N] (or [N, K] when trans_b = 1).
// 64x64 output tile per workgroup, 16x16 threads, each owning a strided 4x4 block so that
// neighbouring threads touch neighbouring columns (conflict-free shared reads, coalesced stores).
// Flags are uniform branches, not override constants: one pipeline serves every variant.

struct Params {
  M: u32, N: u32, K: u32,
  trans_b: u32,   // 1: B is [N, K]
  act: u32,       // 0 none, 1 relu, 2 gelu (erf), 3 gelu (tanh), 4 tanh
  has_bias: u32,
  has_res: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> res: array<f32>;
@group(0) @binding(5) var<storage, read_write> C: array<f32>;

const BM = 64u;
const BN = 64u;
const BK = 16u;

var<workgroup> As: array<f32, 1024>; // [BK][BM]
var<workgroup> Bs: array<f32, 1024>; // [BK][BN]

fn erf_approx(x: f32) -> f32 {
  // Abramowitz & Stegun 7.1.26, |error| < 1.5e-7 (same as the CPU reference).
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
  let row0 = wid.y * BM;
  let col0 = wid.x * BN;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    for (var i = 0u; i < 4u; i++) {
      let idx = li + i * 256u;
      let m = idx / BK;
      let k = idx % BK;
      let gm = row0 + m;
      let gk = k0 + k;
      var a = 0.0;
      if (gm < p.M && gk < p.K) { a = A[gm * p.K + gk]; }
      As[k * BM + m] = a;
      var b = 0.0;
      if (p.trans_b == 1u) {
        let n = idx / BK;
        let gn = col0 + n;
        if (gn < p.N && gk < p.K) { b = B[gn * p.K + gk]; }
        Bs[k * BN + n] = b;
      } else {
        let kk = idx / BN;
        let n = idx % BN;
        let gn = col0 + n;
        let gkk = k0 + kk;
        if (gn < p.N && gkk < p.K) { b = B[gkk * p.N + gn]; }
        Bs[kk * BN + n] = b;
      }
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
    let gm = row0 + lid.y + 16u * i;
    if (gm >= p.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let gn = col0 + lid.x + 16u * j;
      if (gn >= p.N) { continue; }
      var v = acc[i * 4u + j];
      if (p.has_bias == 1u) { v += bias[gn]; }
      v = act(v);
      if (p.has_res == 1u) { v += res[gm * p.N + gn]; }
      C[gm * p.N + gn] = v;
    }
  }
}
