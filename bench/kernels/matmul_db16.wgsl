// Candidate for matmul_fast.wgsl (probe_matmul.ts): same bindings, parameters and epilogue.
// 128×128 tile, 256 threads, 8×8 per thread (2×2 sub-blocks of 4×4, 64 apart), K step 16 and two stages
// of workgroup memory: the next step's loads go to registers before the FMAs and to the other stage after
// them, so one barrier per 1,024 FMAs per thread (matmul_fast: two per 512). Optional GROUP_M swizzle.

struct Params {
  M: u32, N: u32, K: u32,
  trans_b: u32,
  act: u32,
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

override TRANS_B: bool = false;
override GROUP_M: u32 = 1u;

var<workgroup> As: array<vec4<f32>, 1024>; // [stage][k 0..15][m / 4 0..31]
var<workgroup> Bs: array<vec4<f32>, 1024>; // [stage][k 0..15][n / 4 0..31]

//!include activation

fn store4(gm: u32, gn: u32, v: vec4<f32>) {
  if (gm >= p.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    let n = gn + j;
    if (n < p.N) {
      var o = v[j];
      if (p.has_bias == 1u) { o += bias[n]; }
      o = activate(p.act, o);
      if (p.has_res == 1u) { o += res[gm * p.N + n]; }
      C[gm * p.N + n] = o;
    }
  }
}

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  // Swizzle: GROUP_M row tiles run together over the column tiles, sharing B panels in L2.
  let pid = wid.y * nwg.x + wid.x;
  let in_group = GROUP_M * nwg.x;
  let first_m = (pid / in_group) * GROUP_M;
  let group_rows = min(nwg.y - first_m, GROUP_M);
  let tm = first_m + (pid % in_group) % group_rows;
  let tn = (pid % in_group) / group_rows;
  let row0 = tm * 128u;
  let col0 = tn * 128u;
  let tx = li % 16u;
  let ty = li / 16u;
  let K = p.K;
  let kq4 = K >> 2u;
  let nq4 = p.N >> 2u;
  // Global loads: A rows lr and lr + 64 at k quad lq; B likewise ([N, K]) or B rows k = lb, lb + 8 at
  // column quad lc ([K, N]).
  let lr = li / 4u;
  let lq = li % 4u;
  let lb = li / 32u;
  let lc = li % 32u;
  let a0_ok = row0 + lr < p.M;
  let a1_ok = row0 + lr + 64u < p.M;
  let b0_ok = select(col0 + lc * 4u < p.N, col0 + lr < p.N, TRANS_B);
  let b1_ok = select(col0 + lc * 4u < p.N, col0 + lr + 64u < p.N, TRANS_B);
  var c000 = vec4<f32>(0.0);
  var c001 = vec4<f32>(0.0);
  var c010 = vec4<f32>(0.0);
  var c011 = vec4<f32>(0.0);
  var c020 = vec4<f32>(0.0);
  var c021 = vec4<f32>(0.0);
  var c030 = vec4<f32>(0.0);
  var c031 = vec4<f32>(0.0);
  var c100 = vec4<f32>(0.0);
  var c101 = vec4<f32>(0.0);
  var c110 = vec4<f32>(0.0);
  var c111 = vec4<f32>(0.0);
  var c120 = vec4<f32>(0.0);
  var c121 = vec4<f32>(0.0);
  var c130 = vec4<f32>(0.0);
  var c131 = vec4<f32>(0.0);
  var ra0 = vec4<f32>(0.0);
  var ra1 = vec4<f32>(0.0);
  var rb0 = vec4<f32>(0.0);
  var rb1 = vec4<f32>(0.0);
  let steps = (K + 15u) / 16u;
  // stage 0 ← step 0, then per step: prefetch, FMAs, stage the prefetch, one barrier
  var stage = 0u;
  for (var s = 0u; s <= steps; s++) {
    if (s < steps) {
      let k0 = s * 16u;
      let kin_a = k0 + lq * 4u < K;
      ra0 = vec4<f32>(0.0);
      ra1 = vec4<f32>(0.0);
      rb0 = vec4<f32>(0.0);
      rb1 = vec4<f32>(0.0);
      if (kin_a && a0_ok) { ra0 = A[(row0 + lr) * kq4 + (k0 >> 2u) + lq]; }
      if (kin_a && a1_ok) { ra1 = A[(row0 + lr + 64u) * kq4 + (k0 >> 2u) + lq]; }
      if (TRANS_B) {
        if (kin_a && b0_ok) { rb0 = B[(col0 + lr) * kq4 + (k0 >> 2u) + lq]; }
        if (kin_a && b1_ok) { rb1 = B[(col0 + lr + 64u) * kq4 + (k0 >> 2u) + lq]; }
      } else {
        if (b0_ok && k0 + lb < K) { rb0 = B[(k0 + lb) * nq4 + col0 / 4u + lc]; }
        if (b0_ok && k0 + lb + 8u < K) { rb1 = B[(k0 + lb + 8u) * nq4 + col0 / 4u + lc]; }
      }
    }
    if (s > 0u) {
      let base = (stage ^ 1u) * 512u;
      for (var k = 0u; k < 16u; k++) {
        let a0 = As[base + k * 32u + ty];
        let a1 = As[base + k * 32u + ty + 16u];
        let b0 = Bs[base + k * 32u + tx];
        let b1 = Bs[base + k * 32u + tx + 16u];
        c000 = fma(vec4<f32>(a0.x), b0, c000);
        c001 = fma(vec4<f32>(a0.x), b1, c001);
        c010 = fma(vec4<f32>(a0.y), b0, c010);
        c011 = fma(vec4<f32>(a0.y), b1, c011);
        c020 = fma(vec4<f32>(a0.z), b0, c020);
        c021 = fma(vec4<f32>(a0.z), b1, c021);
        c030 = fma(vec4<f32>(a0.w), b0, c030);
        c031 = fma(vec4<f32>(a0.w), b1, c031);
        c100 = fma(vec4<f32>(a1.x), b0, c100);
        c101 = fma(vec4<f32>(a1.x), b1, c101);
        c110 = fma(vec4<f32>(a1.y), b0, c110);
        c111 = fma(vec4<f32>(a1.y), b1, c111);
        c120 = fma(vec4<f32>(a1.z), b0, c120);
        c121 = fma(vec4<f32>(a1.z), b1, c121);
        c130 = fma(vec4<f32>(a1.w), b0, c130);
        c131 = fma(vec4<f32>(a1.w), b1, c131);
      }
    }
    if (s < steps) {
      // registers → this stage (A and [N, K] B transposed to k-major)
      let base = stage * 512u;
      let m0 = lr >> 2u;
      let mr = lr & 3u;
      let kk = lq * 4u;
      As[base + (kk + 0u) * 32u + m0][mr] = ra0.x;
      As[base + (kk + 1u) * 32u + m0][mr] = ra0.y;
      As[base + (kk + 2u) * 32u + m0][mr] = ra0.z;
      As[base + (kk + 3u) * 32u + m0][mr] = ra0.w;
      As[base + (kk + 0u) * 32u + m0 + 16u][mr] = ra1.x;
      As[base + (kk + 1u) * 32u + m0 + 16u][mr] = ra1.y;
      As[base + (kk + 2u) * 32u + m0 + 16u][mr] = ra1.z;
      As[base + (kk + 3u) * 32u + m0 + 16u][mr] = ra1.w;
      if (TRANS_B) {
        Bs[base + (kk + 0u) * 32u + m0][mr] = rb0.x;
        Bs[base + (kk + 1u) * 32u + m0][mr] = rb0.y;
        Bs[base + (kk + 2u) * 32u + m0][mr] = rb0.z;
        Bs[base + (kk + 3u) * 32u + m0][mr] = rb0.w;
        Bs[base + (kk + 0u) * 32u + m0 + 16u][mr] = rb1.x;
        Bs[base + (kk + 1u) * 32u + m0 + 16u][mr] = rb1.y;
        Bs[base + (kk + 2u) * 32u + m0 + 16u][mr] = rb1.z;
        Bs[base + (kk + 3u) * 32u + m0 + 16u][mr] = rb1.w;
      } else {
        Bs[base + lb * 32u + lc] = rb0;
        Bs[base + (lb + 8u) * 32u + lc] = rb1;
      }
      stage ^= 1u;
    }
    workgroupBarrier();
  }
  store4(row0 + ty * 4u + 0u + 0u, col0 + tx * 4u + 0u, c000);
  store4(row0 + ty * 4u + 0u + 0u, col0 + tx * 4u + 64u, c001);
  store4(row0 + ty * 4u + 1u + 0u, col0 + tx * 4u + 0u, c010);
  store4(row0 + ty * 4u + 1u + 0u, col0 + tx * 4u + 64u, c011);
  store4(row0 + ty * 4u + 2u + 0u, col0 + tx * 4u + 0u, c020);
  store4(row0 + ty * 4u + 2u + 0u, col0 + tx * 4u + 64u, c021);
  store4(row0 + ty * 4u + 3u + 0u, col0 + tx * 4u + 0u, c030);
  store4(row0 + ty * 4u + 3u + 0u, col0 + tx * 4u + 64u, c031);
  store4(row0 + ty * 4u + 0u + 64u, col0 + tx * 4u + 0u, c100);
  store4(row0 + ty * 4u + 0u + 64u, col0 + tx * 4u + 64u, c101);
  store4(row0 + ty * 4u + 1u + 64u, col0 + tx * 4u + 0u, c110);
  store4(row0 + ty * 4u + 1u + 64u, col0 + tx * 4u + 64u, c111);
  store4(row0 + ty * 4u + 2u + 64u, col0 + tx * 4u + 0u, c120);
  store4(row0 + ty * 4u + 2u + 64u, col0 + tx * 4u + 64u, c121);
  store4(row0 + ty * 4u + 3u + 64u, col0 + tx * 4u + 0u, c130);
  store4(row0 + ty * 4u + 3u + 64u, col0 + tx * 4u + 64u, c131);
}
