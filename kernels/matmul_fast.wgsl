// C[M, N] = act(A[M, K] · B + bias) + residual — the fast path for aligned shapes (K % 8 == 0, and
// N % 4 == 0 unless B is [N, K]); matmul.wgsl serves every other shape. Same parameters and epilogue.
//
// 128×128 output tile, 256 threads (16×16), each thread an 8×8 block as 2×2 sub-blocks of 4×4 spaced
// 64 rows / 64 columns apart. The accumulators are 16 named vec4 registers and the inner product is
// written out in full: no private arrays indexed in loops, which GPU compilers may place in local memory.
// K advances 8 at a time: the next tile's global loads (one vec4 of A and one of B per thread) are
// issued before the current tile's 512 FMAs, so their latency hides behind the arithmetic.

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

var<workgroup> As: array<vec4<f32>, 256>; // [k 0..7][m / 4 0..31]
var<workgroup> Bs: array<vec4<f32>, 256>; // [k 0..7][n / 4 0..31]

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

fn store4(gm: u32, gn: u32, v: vec4<f32>) {
  if (gm >= p.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    let n = gn + j;
    if (n < p.N) {
      var o = v[j];
      if (p.has_bias == 1u) { o += bias[n]; }
      o = act(o);
      if (p.has_res == 1u) { o += res[gm * p.N + n]; }
      C[gm * p.N + n] = o;
    }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row0 = wid.y * 128u;
  let col0 = wid.x * 128u;
  let tx = li % 16u;
  let ty = li / 16u;
  let K = p.K;
  let kq4 = K >> 2u;
  // This thread's global loads: A row (li / 2), k offset (li % 2)·4; B likewise ([N, K]) or
  // B row k = li / 32 at column vec4 li % 32 ([K, N]).
  let am = row0 + li / 2u;
  let ak = (li % 2u) * 4u;
  let bn_t = col0 + li / 2u;
  let bk = li / 32u;
  let bnq = col0 / 4u + li % 32u;
  let a_ok = am < p.M;
  let b_ok = select(col0 + (li % 32u) * 4u < p.N, bn_t < p.N, TRANS_B);
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
  var ra = vec4<f32>(0.0);
  var rb = vec4<f32>(0.0);
  if (a_ok) { ra = A[am * kq4 + (ak >> 2u)]; }
  if (b_ok) {
    if (TRANS_B) { rb = B[bn_t * kq4 + (ak >> 2u)]; } else { rb = B[bk * (p.N >> 2u) + bnq]; }
  }
  for (var k0 = 0u; k0 < K; k0 += 8u) {
    // registers → workgroup memory (A and [N, K] B transposed to k-major)
    let mq = (li / 2u) >> 2u;
    let mr = (li / 2u) & 3u;
    As[(ak + 0u) * 32u + mq][mr] = ra.x;
    As[(ak + 1u) * 32u + mq][mr] = ra.y;
    As[(ak + 2u) * 32u + mq][mr] = ra.z;
    As[(ak + 3u) * 32u + mq][mr] = ra.w;
    if (TRANS_B) {
      Bs[(ak + 0u) * 32u + mq][mr] = rb.x;
      Bs[(ak + 1u) * 32u + mq][mr] = rb.y;
      Bs[(ak + 2u) * 32u + mq][mr] = rb.z;
      Bs[(ak + 3u) * 32u + mq][mr] = rb.w;
    } else {
      Bs[bk * 32u + li % 32u] = rb;
    }
    workgroupBarrier();
    // next K step's global loads, in flight during the FMAs
    let k1 = k0 + 8u;
    if (k1 < K) {
      if (a_ok) { ra = A[am * kq4 + ((k1 + ak) >> 2u)]; }
      if (b_ok) {
        if (TRANS_B) { rb = B[bn_t * kq4 + ((k1 + ak) >> 2u)]; } else { rb = B[(k1 + bk) * (p.N >> 2u) + bnq]; }
      }
    }
    for (var k = 0u; k < 8u; k++) {
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
