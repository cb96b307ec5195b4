// C[M, N] = act(A[M, K] · B + bias) + residual, B stored [K, N] (or [N, K] with TRANS_B).
//
// Register-tiled SGEMM. A workgroup owns a BM×BN output tile; each of its (BM/TM)·(BN/TN) threads owns a
// TM×TN block made of (TM/4)×(TN/4) 4×4 sub-blocks spaced BM/(TM/4) rows and BN/(TN/4) columns apart, so
// every shared-memory read is a vec4 and a warp's reads hit few distinct addresses.
// K advances BK at a time through two shared-memory stages: the next tile's global loads are issued into
// registers before the current tile's FMAs and stored into the other stage after them (one barrier per
// step). A and transposed B tiles are stored k-major ([k][m], rows padded by 4 floats against bank
// conflicts) so both operands are read as vec4 along m / n.
// Global loads are vec4 when rows are 16-byte aligned (VEC_A: K % 4 == 0; VEC_B: N % 4 == 0, or
// K % 4 == 0 with TRANS_B); otherwise the same vec4 arrays are read one component at a time.
// Bounds checks run only in edge tiles (a uniform branch per tile and K step).
// Workgroups are swizzled in groups of GROUP_M row tiles so concurrently running tiles share B in L2.

struct Params {
  M: u32, N: u32, K: u32,
  trans_b: u32,   // informational: the pipeline's TRANS_B decides
  act: u32,       // 0 none, 1 relu, 2 gelu (erf), 3 gelu (tanh), 4 tanh
  has_bias: u32,
  has_res: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> res: array<f32>;
@group(0) @binding(5) var<storage, read_write> C: array<f32>;

override BM: u32 = 128u;
override BN: u32 = 128u;
override BK: u32 = 8u;
override TM: u32 = 8u;          // 4 or 8
override TN: u32 = 8u;          // 4 or 8
override TRANS_B: bool = false;
override VEC_A: bool = true;
override VEC_B: bool = true;
override GROUP_M: u32 = 8u;

override RM: u32 = TM / 4u;              // 4-row sub-blocks per thread
override RN: u32 = TN / 4u;              // 4-column sub-blocks per thread
override TX: u32 = BN / TN;              // threads along n
override WG: u32 = (BM / TM) * (BN / TN);
override SA: u32 = BM + 4u;              // floats per k-row of As
override SB: u32 = BN + 4u;              // floats per k-row of Bs
override A_VECS: u32 = BM * BK / 4u;     // vec4 per A tile
override B_VECS: u32 = BN * BK / 4u;     // vec4 per B tile
override LA: u32 = (A_VECS + WG - 1u) / WG;
override LB: u32 = (B_VECS + WG - 1u) / WG;

var<workgroup> As: array<vec4<f32>, 2u * BK * (BM + 4u) / 4u>;
var<workgroup> Bs: array<vec4<f32>, 2u * BK * (BN + 4u) / 4u>;

//!include activation

// 4 floats of A's row gm starting at column gk (gk % 4 == 0); zero past M / K when `check`.
fn load_a(gm: u32, gk: u32, check: bool) -> vec4<f32> {
  let K = p.K;
  if (VEC_A) {
    if (check && (gm >= p.M || gk >= K)) { return vec4<f32>(0.0); }
    return A[(gm * K + gk) >> 2u];
  }
  var v = vec4<f32>(0.0);
  if (check && gm >= p.M) { return v; }
  let base = gm * K + gk;
  for (var j = 0u; j < 4u; j++) {
    if (!check || gk + j < K) { let i = base + j; v[j] = A[i >> 2u][i & 3u]; }
  }
  return v;
}

// B stored [N, K]: 4 floats of row gn starting at column gk.
fn load_bt(gn: u32, gk: u32, check: bool) -> vec4<f32> {
  let K = p.K;
  if (VEC_B) {
    if (check && (gn >= p.N || gk >= K)) { return vec4<f32>(0.0); }
    return B[(gn * K + gk) >> 2u];
  }
  var v = vec4<f32>(0.0);
  if (check && gn >= p.N) { return v; }
  let base = gn * K + gk;
  for (var j = 0u; j < 4u; j++) {
    if (!check || gk + j < K) { let i = base + j; v[j] = B[i >> 2u][i & 3u]; }
  }
  return v;
}

// B stored [K, N]: 4 floats of row gk starting at column gn (gn % 4 == 0).
fn load_b(gk: u32, gn: u32, check: bool) -> vec4<f32> {
  let N = p.N;
  if (VEC_B) {
    if (check && (gk >= p.K || gn >= N)) { return vec4<f32>(0.0); }
    return B[(gk * N + gn) >> 2u];
  }
  var v = vec4<f32>(0.0);
  if (check && gk >= p.K) { return v; }
  let base = gk * N + gn;
  for (var j = 0u; j < 4u; j++) {
    if (!check || gn + j < N) { let i = base + j; v[j] = B[i >> 2u][i & 3u]; }
  }
  return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  // Swizzle: walk GROUP_M row tiles down a column of tiles before moving right.
  let nx = nwg.x;
  let ny = nwg.y;
  let lin = wid.y * nx + wid.x;
  let per_group = GROUP_M * nx;
  let first_m = (lin / per_group) * GROUP_M;
  let gsz = min(ny - first_m, GROUP_M);
  let tile_m = first_m + (lin % per_group) % gsz;
  let tile_n = (lin % per_group) / gsz;
  let row0 = tile_m * BM;
  let col0 = tile_n * BN;
  let interior = row0 + BM <= p.M && col0 + BN <= p.N;

  let tx = li % TX;
  let ty = li / TX;

  var ra: array<vec4<f32>, 8>;
  var rb: array<vec4<f32>, 8>;
  var acc: array<vec4<f32>, 16>;

  let nk = (p.K + BK - 1u) / BK;

  // ---- global → registers for K step `kt`
  // (inlined twice below through this closure-free pattern: load into ra/rb, then store to stage s)
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
          ra[i] = load_a(row0 + m, k0 + kq, check);
        }
      }
      for (var i = 0u; i < LB; i++) {
        let v = li + i * WG;
        if (v < B_VECS) {
          if (TRANS_B) {
            let n = v / (BK / 4u);
            let kq = (v % (BK / 4u)) * 4u;
            rb[i] = load_bt(col0 + n, k0 + kq, check);
          } else {
            let k = v / (BN / 4u);
            let nq = (v % (BN / 4u)) * 4u;
            rb[i] = load_b(k0 + k, col0 + nq, check);
          }
        }
      }
    }
    // FMAs on the stage written in the previous step (none before the first store).
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
    // Registers → the other stage (nobody reads it now: its last readers passed the previous barrier).
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
          if (TRANS_B) {
            let n = v / (BK / 4u);
            let kq = (v % (BK / 4u)) * 4u;
            for (var j = 0u; j < 4u; j++) {
              let f = bbase + (kq + j) * SB + n;
              Bs[f >> 2u][f & 3u] = rb[i][j];
            }
          } else {
            let k = v / (BN / 4u);
            let nq = (v % (BN / 4u)) * 4u;
            Bs[(bbase + k * SB + nq) >> 2u] = rb[i];
          }
        }
      }
    }
    workgroupBarrier();
  }

  // ---- epilogue: bias, activation, residual
  for (var r = 0u; r < RM; r++) {
    for (var i = 0u; i < 4u; i++) {
      let gm = row0 + ty * 4u + i + r * (BM / RM);
      if (gm >= p.M) { continue; }
      for (var c = 0u; c < RN; c++) {
        let v4 = acc[(r * 4u + i) * RN + c];
        let gn0 = col0 + tx * 4u + c * (BN / RN);
        for (var j = 0u; j < 4u; j++) {
          let gn = gn0 + j;
          if (gn >= p.N) { continue; }
          var v = v4[j];
          if (p.has_bias == 1u) { v += bias[gn]; }
          v = activate(p.act, v);
          if (p.has_res == 1u) { v += res[gm * p.N + gn]; }
          C[gm * p.N + gn] = v;
        }
      }
    }
  }
}
