// Grouped expert matmul, fast path (K % 8 == 0, N % 4 == 0): the same function as
// moe_expert_matmul.wgsl with matmul_fast.wgsl's 128×128 unrolled tile. Grid (⌈N/128⌉, ⌈cap/128⌉, E);
// expert e = wid.z; row tiles past count_e return at once (skipped experts cost an empty workgroup).
//   up   (gather = 1): out[e*cap + slot, :] = act( x[lists[e*cap + slot], :] · W[e] + b[e] )
//   down (gather = 0): out[e*cap + slot, :] = a[e*cap + slot, :] · W[e]

struct Params { cap: u32, K: u32, N: u32, gather: u32, act: u32, has_bias: u32, counts_off: u32, _p0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> lists: array<u32>;
@group(0) @binding(3) var<storage, read> counts: array<u32>;
@group(0) @binding(4) var<storage, read> W: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

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

fn store4(e: u32, slot: u32, count: u32, gn: u32, v: vec4<f32>) {
  if (slot >= count) { return; }
  let row = e * p.cap + slot;
  for (var j = 0u; j < 4u; j++) {
    let n = gn + j;
    if (n < p.N) {
      var o = v[j];
      if (p.has_bias == 1u) { o += bias[e * p.N + n]; }
      out[row * p.N + n] = act(o);
    }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let e = wid.z;
  let count = counts[p.counts_off + e];
  let slot0 = wid.y * 128u;
  if (slot0 >= count) { return; }   // uniform: the whole workgroup leaves
  let col0 = wid.x * 128u;
  let tx = li % 16u;
  let ty = li / 16u;
  let K = p.K;
  let kq4 = K >> 2u;
  let nq4 = p.N >> 2u;
  let wbase = e * K * nq4;            // vec4 index of W[e]
  // This thread's A row: its slot's token (up) or pair row (down).
  let slot = slot0 + li / 2u;
  let a_ok = slot < count;
  var arow = 0u;
  if (a_ok) { arow = select(e * p.cap + slot, lists[e * p.cap + slot], p.gather == 1u); }
  let ak = (li % 2u) * 4u;
  let bk = li / 32u;
  let bnq = col0 / 4u + li % 32u;
  let b_ok = col0 + (li % 32u) * 4u < p.N;
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
  if (a_ok) { ra = A[arow * kq4 + (ak >> 2u)]; }
  if (b_ok) { rb = W[wbase + bk * nq4 + bnq]; }
  let mq = (li / 2u) >> 2u;
  let mr = (li / 2u) & 3u;
  for (var k0 = 0u; k0 < K; k0 += 8u) {
    As[(ak + 0u) * 32u + mq][mr] = ra.x;
    As[(ak + 1u) * 32u + mq][mr] = ra.y;
    As[(ak + 2u) * 32u + mq][mr] = ra.z;
    As[(ak + 3u) * 32u + mq][mr] = ra.w;
    Bs[bk * 32u + li % 32u] = rb;
    workgroupBarrier();
    let k1 = k0 + 8u;
    if (k1 < K) {
      if (a_ok) { ra = A[arow * kq4 + ((k1 + ak) >> 2u)]; }
      if (b_ok) { rb = W[wbase + (k1 + bk) * nq4 + bnq]; }
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
  store4(e, slot0 + ty * 4u + 0u + 0u, count, col0 + tx * 4u + 0u, c000);
  store4(e, slot0 + ty * 4u + 0u + 0u, count, col0 + tx * 4u + 64u, c001);
  store4(e, slot0 + ty * 4u + 1u + 0u, count, col0 + tx * 4u + 0u, c010);
  store4(e, slot0 + ty * 4u + 1u + 0u, count, col0 + tx * 4u + 64u, c011);
  store4(e, slot0 + ty * 4u + 2u + 0u, count, col0 + tx * 4u + 0u, c020);
  store4(e, slot0 + ty * 4u + 2u + 0u, count, col0 + tx * 4u + 64u, c021);
  store4(e, slot0 + ty * 4u + 3u + 0u, count, col0 + tx * 4u + 0u, c030);
  store4(e, slot0 + ty * 4u + 3u + 0u, count, col0 + tx * 4u + 64u, c031);
  store4(e, slot0 + ty * 4u + 0u + 64u, count, col0 + tx * 4u + 0u, c100);
  store4(e, slot0 + ty * 4u + 0u + 64u, count, col0 + tx * 4u + 64u, c101);
  store4(e, slot0 + ty * 4u + 1u + 64u, count, col0 + tx * 4u + 0u, c110);
  store4(e, slot0 + ty * 4u + 1u + 64u, count, col0 + tx * 4u + 64u, c111);
  store4(e, slot0 + ty * 4u + 2u + 64u, count, col0 + tx * 4u + 0u, c120);
  store4(e, slot0 + ty * 4u + 2u + 64u, count, col0 + tx * 4u + 64u, c121);
  store4(e, slot0 + ty * 4u + 3u + 64u, count, col0 + tx * 4u + 0u, c130);
  store4(e, slot0 + ty * 4u + 3u + 64u, count, col0 + tx * 4u + 64u, c131);
}
