// Grouped, gathered expert matmul with early exit; grid (⌈N/BN⌉, ⌈cap/BM⌉, E), expert e = wid.z.
// Rows of expert e are its selected pairs, slots 0..count_e−1 (count_e = counts[counts_off + e]);
// row tiles past count_e return at once: that is how skipped experts save time without a readback.
//   up   (gather = 1): out[e*cap + slot, :] = act( x[lists[e*cap + slot], :] · W[e] + b[e] )   W[e]: [K, N]
//   down (gather = 0): out[e*cap + slot, :] = a[e*cap + slot, :] · W[e]                      (no bias)
// The same register tiling as matmul.wgsl (BM×BN tile, TM×TN per thread in 4×4 sub-blocks, BK-deep
// double-buffered shared stages, vec4 loads when rows are 16-byte aligned, checks only in edge tiles),
// with A's rows gathered through the expert's token list. Tiles are override constants so narrow
// experts (N = 32 up-projections) get narrow tiles instead of wasting most of a 64- or 128-wide one.

struct Params { cap: u32, K: u32, N: u32, gather: u32, act: u32, has_bias: u32, counts_off: u32, _p0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> lists: array<u32>;
@group(0) @binding(3) var<storage, read> counts: array<u32>;
@group(0) @binding(4) var<storage, read> W: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

override BM: u32 = 64u;
override BN: u32 = 64u;
override BK: u32 = 8u;
override TM: u32 = 8u;          // 4 or 8
override TN: u32 = 4u;          // 4 or 8
override VEC_A: bool = true;    // K % 4 == 0
override VEC_B: bool = true;    // N % 4 == 0

override RM: u32 = TM / 4u;
override RN: u32 = TN / 4u;
override TX: u32 = BN / TN;
override WG: u32 = (BM / TM) * (BN / TN);
override SA: u32 = BM + 4u;
override SB: u32 = BN + 4u;
override A_VECS: u32 = BM * BK / 4u;
override B_VECS: u32 = BN * BK / 4u;
override LA: u32 = (A_VECS + WG - 1u) / WG;
override LB: u32 = (B_VECS + WG - 1u) / WG;

var<workgroup> As: array<vec4<f32>, 2u * BK * (BM + 4u) / 4u>;
var<workgroup> Bs: array<vec4<f32>, 2u * BK * (BN + 4u) / 4u>;
var<workgroup> rows: array<u32, BM>;

//!include activation

// 4 floats of A's row r (0xffffffff: no row) at column gk (gk % 4 == 0).
fn load_a(r: u32, gk: u32, check: bool) -> vec4<f32> {
  let K = p.K;
  if (VEC_A) {
    if (check && (r == 0xffffffffu || gk >= K)) { return vec4<f32>(0.0); }
    return A[(r * K + gk) >> 2u];
  }
  var v = vec4<f32>(0.0);
  if (check && r == 0xffffffffu) { return v; }
  let base = r * K + gk;
  for (var j = 0u; j < 4u; j++) {
    if (!check || gk + j < K) { let i = base + j; v[j] = A[i >> 2u][i & 3u]; }
  }
  return v;
}

// 4 floats of W[e]'s row gk at column gn (gn % 4 == 0); wbase = e·K·N.
fn load_w(wbase: u32, gk: u32, gn: u32, check: bool) -> vec4<f32> {
  let N = p.N;
  if (VEC_B) {
    if (check && (gk >= p.K || gn >= N)) { return vec4<f32>(0.0); }
    return W[(wbase + gk * N + gn) >> 2u];
  }
  var v = vec4<f32>(0.0);
  if (check && gk >= p.K) { return v; }
  let base = wbase + gk * N + gn;
  for (var j = 0u; j < 4u; j++) {
    if (!check || gn + j < N) { let i = base + j; v[j] = W[i >> 2u][i & 3u]; }
  }
  return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let e = wid.z;
  let count = counts[p.counts_off + e];
  let slot0 = wid.y * BM;
  if (slot0 >= count) { return; }   // uniform: the whole workgroup leaves
  let col0 = wid.x * BN;
  let wbase = e * p.K * p.N;
  let interior = slot0 + BM <= count && col0 + BN <= p.N;
  for (var m = li; m < BM; m += WG) {
    let slot = slot0 + m;
    var r = 0xffffffffu;
    if (slot < count) {
      if (p.gather == 1u) { r = lists[e * p.cap + slot]; } else { r = e * p.cap + slot; }
    }
    rows[m] = r;
  }
  workgroupBarrier();

  let tx = li % TX;
  let ty = li / TX;
  var ra: array<vec4<f32>, 8>;
  var rb: array<vec4<f32>, 8>;
  var acc: array<vec4<f32>, 16>;
  let nk = (p.K + BK - 1u) / BK;

  for (var kt = 0u; kt <= nk; kt++) {
    let stage_w = kt & 1u;
    if (kt < nk) {
      let k0 = kt * BK;
      let check = !(interior && k0 + BK <= p.K);
      for (var i = 0u; i < LA; i++) {
        let v = li + i * WG;
        if (v < A_VECS) {
          let m = v / (BK / 4u);
          let kq = (v % (BK / 4u)) * 4u;
          ra[i] = load_a(rows[m], k0 + kq, check);
        }
      }
      for (var i = 0u; i < LB; i++) {
        let v = li + i * WG;
        if (v < B_VECS) {
          let k = v / (BN / 4u);
          let nq = (v % (BN / 4u)) * 4u;
          rb[i] = load_w(wbase, k0 + k, col0 + nq, check);
        }
      }
    }
    if (kt > 0u) {
      let stage_r = (kt - 1u) & 1u;
      let abase = stage_r * BK * SA;
      let bbase = stage_r * BK * SB;
      for (var k = 0u; k < BK; k++) {
        var a: array<vec4<f32>, 2>;
        var b: array<vec4<f32>, 2>;
        for (var r = 0u; r < RM; r++) { a[r] = As[(abase + k * SA + ty * 4u + r * (BM / RM)) >> 2u]; }
        for (var c = 0u; c < RN; c++) { b[c] = Bs[(bbase + k * SB + tx * 4u + c * (BN / RN)) >> 2u]; }
        for (var r = 0u; r < RM; r++) {
          for (var i = 0u; i < 4u; i++) {
            for (var c = 0u; c < RN; c++) {
              let idx = (r * 4u + i) * RN + c;
              acc[idx] = fma(vec4<f32>(a[r][i]), b[c], acc[idx]);
            }
          }
        }
      }
    }
    if (kt < nk) {
      let abase = stage_w * BK * SA;
      let bbase = stage_w * BK * SB;
      for (var i = 0u; i < LA; i++) {
        let v = li + i * WG;
        if (v < A_VECS) {
          let m = v / (BK / 4u);
          let kq = (v % (BK / 4u)) * 4u;
          for (var j = 0u; j < 4u; j++) {
            let f = abase + (kq + j) * SA + m;
            As[f >> 2u][f & 3u] = ra[i][j];
          }
        }
      }
      for (var i = 0u; i < LB; i++) {
        let v = li + i * WG;
        if (v < B_VECS) {
          let k = v / (BN / 4u);
          let nq = (v % (BN / 4u)) * 4u;
          Bs[(bbase + k * SB + nq) >> 2u] = rb[i];
        }
      }
    }
    workgroupBarrier();
  }

  for (var r = 0u; r < RM; r++) {
    for (var i = 0u; i < 4u; i++) {
      let m = ty * 4u + i + r * (BM / RM);
      let slot = slot0 + m;
      if (slot >= count) { continue; }
      let orow = e * p.cap + slot;
      for (var c = 0u; c < RN; c++) {
        let v4 = acc[(r * 4u + i) * RN + c];
        let gn0 = col0 + tx * 4u + c * (BN / RN);
        for (var j = 0u; j < 4u; j++) {
          let n = gn0 + j;
          if (n >= p.N) { continue; }
          var v = v4[j];
          if (p.has_bias == 1u) { v += bias[e * p.N + n]; }
          out[orow * p.N + n] = activate(p.act, v);
        }
      }
    }
  }
}
