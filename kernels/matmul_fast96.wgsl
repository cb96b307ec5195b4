// matmul_fast.wgsl's product (same parameters, epilogue and alignment rules) in 128×96 output tiles, for
// wave quantization: an H200 holds two 256-thread matmul_fast workgroups per SM (264 slots), so 4096×768 in
// 128×128 tiles (192 workgroups) leaves a quarter of them idle, where 128×96 tiles (256) fill them;
// `fastTileWidth` in matmul.ts picks this kernel per shape (BERT-base's N = 768 products ran ~20% faster).
//
// Written for any column width BN (128 or 96): 2·BN threads (16 rows × BN/8 columns), each an 8×8 block
// as 2×2 sub-blocks of 4×4 spaced 64 rows / BN/2 columns apart, loads numbered per thread (two or three
// vec4s of A, two of B) instead of matmul_fast's fixed lanes. At BN = 128 this form measured ~9% slower
// than matmul_fast.wgsl on the H200 (docs/kernels.md), so the product runs it at 96 only. Otherwise as
// matmul_fast: 16 named vec4 accumulators, K step 16 through one stage of workgroup memory, the next
// step's global loads in flight during the FMAs, GROUP_M swizzle.

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
// Output columns per workgroup: 96 (128 works too; see the header).
override BN: u32 = 96u;
// Threads per workgroup, threads per row of the tile, and vec4 columns of a staged B row.
override WG: u32 = 2u * BN;
override NT: u32 = BN / 8u;
override NQ: u32 = BN / 4u;

var<workgroup> As: array<vec4<f32>, 512>; // [k 0..15][m / 4 0..31]
var<workgroup> Bs: array<vec4<f32>, 512>; // [k 0..15][n / 4 0..BN/4)

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

// One K step's global loads for this thread. Loads are numbered i = li + j·WG (j = 0, 1, 2): A's 512
// vec4s (128 rows × 4 k-quads) take i as (row i / 4, quad i % 4); B's 4·BN vec4s likewise as (column i / 4,
// quad i % 4) when it is [N, K], or as (k i / (BN/4), column quad i % (BN/4)) when it is [K, N].
// Out-of-range elements read as zero.
struct Staged { a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, b0: vec4<f32>, b1: vec4<f32> }

fn load_a(k0: u32, row0: u32, i: u32) -> vec4<f32> {
  let K = p.K;
  let q = i % 4u;
  let row = row0 + i / 4u;
  if (i < 512u && k0 + q * 4u < K && row < p.M) { return A[row * (K >> 2u) + (k0 >> 2u) + q]; }
  return vec4<f32>(0.0);
}

fn load_b(k0: u32, col0: u32, i: u32) -> vec4<f32> {
  let K = p.K;
  if (TRANS_B) {
    let q = i % 4u;
    let col = col0 + i / 4u;
    if (k0 + q * 4u < K && col < p.N) { return B[col * (K >> 2u) + (k0 >> 2u) + q]; }
  } else {
    let k = k0 + i / NQ;
    let col = col0 + (i % NQ) * 4u;
    if (k < K && col < p.N) { return B[k * (p.N >> 2u) + col / 4u]; }
  }
  return vec4<f32>(0.0);
}

fn load_step(k0: u32, row0: u32, col0: u32, li: u32) -> Staged {
  var r: Staged;
  r.a0 = load_a(k0, row0, li);
  r.a1 = load_a(k0, row0, li + WG);
  r.a2 = vec4<f32>(0.0);
  if (WG < 256u) { r.a2 = load_a(k0, row0, li + 2u * WG); }
  r.b0 = load_b(k0, col0, li);
  r.b1 = load_b(k0, col0, li + WG);
  return r;
}

// Stages A's load number i (see load_a) k-major: As[k][m / 4][m % 4].
fn store_a(i: u32, v: vec4<f32>) {
  if (i >= 512u) { return; }
  let m = i / 4u;
  let k = (i % 4u) * 4u;
  As[(k + 0u) * 32u + m / 4u][m % 4u] = v.x;
  As[(k + 1u) * 32u + m / 4u][m % 4u] = v.y;
  As[(k + 2u) * 32u + m / 4u][m % 4u] = v.z;
  As[(k + 3u) * 32u + m / 4u][m % 4u] = v.w;
}

// Stages B's load number i k-major: Bs[k][n / 4] (a [N, K] B is transposed on the way).
fn store_b(i: u32, v: vec4<f32>) {
  if (TRANS_B) {
    let n = i / 4u;
    let k = (i % 4u) * 4u;
    Bs[(k + 0u) * NQ + n / 4u][n % 4u] = v.x;
    Bs[(k + 1u) * NQ + n / 4u][n % 4u] = v.y;
    Bs[(k + 2u) * NQ + n / 4u][n % 4u] = v.z;
    Bs[(k + 3u) * NQ + n / 4u][n % 4u] = v.w;
  } else {
    Bs[i] = v;
  }
}

@compute @workgroup_size(WG)
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
  let col0 = tn * BN;
  let tx = li % NT;
  let ty = li / NT;
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
  let steps = (p.K + 15u) / 16u;
  var r = load_step(0u, row0, col0, li);
  for (var s = 0u; s < steps; s++) {
    // registers → workgroup memory
    store_a(li, r.a0);
    store_a(li + WG, r.a1);
    if (WG < 256u) { store_a(li + 2u * WG, r.a2); }
    store_b(li, r.b0);
    store_b(li + WG, r.b1);
    workgroupBarrier();
    // next K step's global loads, in flight during the FMAs
    if (s + 1u < steps) { r = load_step((s + 1u) * 16u, row0, col0, li); }
    for (var k = 0u; k < 16u; k++) {
      let a0 = As[k * 32u + ty];
      let a1 = As[k * 32u + ty + 16u];
      let b0 = Bs[k * NQ + tx];
      let b1 = Bs[k * NQ + tx + NT];
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
    workgroupBarrier();
  }
  let r0 = row0 + ty * 4u;
  let n0 = col0 + tx * 4u;
  let n1 = n0 + BN / 2u;
  store4(r0 + 0u, n0, c000);
  store4(r0 + 0u, n1, c001);
  store4(r0 + 1u, n0, c010);
  store4(r0 + 1u, n1, c011);
  store4(r0 + 2u, n0, c020);
  store4(r0 + 2u, n1, c021);
  store4(r0 + 3u, n0, c030);
  store4(r0 + 3u, n1, c031);
  store4(r0 + 64u, n0, c100);
  store4(r0 + 64u, n1, c101);
  store4(r0 + 65u, n0, c110);
  store4(r0 + 65u, n1, c111);
  store4(r0 + 66u, n0, c120);
  store4(r0 + 66u, n1, c121);
  store4(r0 + 67u, n0, c130);
  store4(r0 + 67u, n1, c131);
}
