// C[M, N] = act(A[M, K] · B + bias) + residual — the fast path for aligned shapes (K % 8 == 0, and
// N % 4 == 0 unless B is [N, K]); matmul.wgsl serves every other shape. Same parameters and epilogue.
//
// 128×128 output tile, 256 threads (16×16), each thread an 8×8 block as 2×2 sub-blocks of 4×4 spaced
// 64 rows / 64 columns apart. The accumulators are 16 named vec4 registers and the inner product is
// written out in full: no private arrays indexed in loops, which GPU compilers may place in local memory.
// K advances 16 at a time through one 16 KB stage of workgroup memory: two barriers per 1,024 FMAs per
// thread (K step 8: per 512; two stages of 16 would halve occupancy; both measured slower on the H200, see
// docs/kernels.md). The next step's global loads (two vec4 of A and two of B per thread) are issued before
// the current step's FMAs, so their latency hides behind the arithmetic. GROUP_M > 1 walks the grid in
// groups of row tiles (L2 reuse of B); 1 keeps the dispatch order.

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

var<workgroup> As: array<vec4<f32>, 512>; // [k 0..15][m / 4 0..31]
var<workgroup> Bs: array<vec4<f32>, 512>; // [k 0..15][n / 4 0..31]

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

// One K step's global loads for this thread: A rows lr and lr + 64 at k quad lq; B likewise ([N, K]) or
// B rows k = lb and lb + 8 at column quad lc ([K, N]). Out-of-range elements read as zero.
struct Staged { a0: vec4<f32>, a1: vec4<f32>, b0: vec4<f32>, b1: vec4<f32> }

fn load_step(k0: u32, row0: u32, col0: u32, lr: u32, lq: u32, lb: u32, lc: u32) -> Staged {
  let K = p.K;
  let kq = (k0 >> 2u) + lq;
  let k_in = k0 + lq * 4u < K;
  var r = Staged(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  if (k_in && row0 + lr < p.M) { r.a0 = A[(row0 + lr) * (K >> 2u) + kq]; }
  if (k_in && row0 + lr + 64u < p.M) { r.a1 = A[(row0 + lr + 64u) * (K >> 2u) + kq]; }
  if (TRANS_B) {
    if (k_in && col0 + lr < p.N) { r.b0 = B[(col0 + lr) * (K >> 2u) + kq]; }
    if (k_in && col0 + lr + 64u < p.N) { r.b1 = B[(col0 + lr + 64u) * (K >> 2u) + kq]; }
  } else if (col0 + lc * 4u < p.N) {
    let nq = p.N >> 2u;
    if (k0 + lb < K) { r.b0 = B[(k0 + lb) * nq + col0 / 4u + lc]; }
    if (k0 + lb + 8u < K) { r.b1 = B[(k0 + lb + 8u) * nq + col0 / 4u + lc]; }
  }
  return r;
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
  // this thread's global-load lanes (see load_step)
  let lr = li / 4u;
  let lq = li % 4u;
  let lb = li / 32u;
  let lc = li % 32u;
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
  var r = load_step(0u, row0, col0, lr, lq, lb, lc);
  for (var s = 0u; s < steps; s++) {
    // registers → workgroup memory (A and [N, K] B transposed to k-major)
    let m0 = lr >> 2u;
    let mr = lr & 3u;
    let kk = lq * 4u;
    As[(kk + 0u) * 32u + m0][mr] = r.a0.x;
    As[(kk + 1u) * 32u + m0][mr] = r.a0.y;
    As[(kk + 2u) * 32u + m0][mr] = r.a0.z;
    As[(kk + 3u) * 32u + m0][mr] = r.a0.w;
    As[(kk + 0u) * 32u + m0 + 16u][mr] = r.a1.x;
    As[(kk + 1u) * 32u + m0 + 16u][mr] = r.a1.y;
    As[(kk + 2u) * 32u + m0 + 16u][mr] = r.a1.z;
    As[(kk + 3u) * 32u + m0 + 16u][mr] = r.a1.w;
    if (TRANS_B) {
      Bs[(kk + 0u) * 32u + m0][mr] = r.b0.x;
      Bs[(kk + 1u) * 32u + m0][mr] = r.b0.y;
      Bs[(kk + 2u) * 32u + m0][mr] = r.b0.z;
      Bs[(kk + 3u) * 32u + m0][mr] = r.b0.w;
      Bs[(kk + 0u) * 32u + m0 + 16u][mr] = r.b1.x;
      Bs[(kk + 1u) * 32u + m0 + 16u][mr] = r.b1.y;
      Bs[(kk + 2u) * 32u + m0 + 16u][mr] = r.b1.z;
      Bs[(kk + 3u) * 32u + m0 + 16u][mr] = r.b1.w;
    } else {
      Bs[lb * 32u + lc] = r.b0;
      Bs[(lb + 8u) * 32u + lc] = r.b1;
    }
    workgroupBarrier();
    // next K step's global loads, in flight during the FMAs
    if (s + 1u < steps) { r = load_step((s + 1u) * 16u, row0, col0, lr, lq, lb, lc); }
    for (var k = 0u; k < 16u; k++) {
      let a0 = As[k * 32u + ty];
      let a1 = As[k * 32u + ty + 16u];
      let b0 = Bs[k * 32u + tx];
      let b1 = Bs[k * 32u + tx + 16u];
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
