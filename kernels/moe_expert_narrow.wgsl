// Grouped expert matmul for narrow outputs (K % 8 == 0, N % 4 == 0, N < 64: the up-projection of
// experts of 16 or 32 neurons): the same function as moe_expert_matmul.wgsl with an unrolled 128×32 tile,
// 128 threads, 8 rows × 4 columns each. The configurable kernel at such tiles kept its accumulators in a
// dynamically indexed private array and ran ~12× slower on the H200 (96 experts of 32, f = 1: 112 ms GPU,
// this kernel 9.6 ms).
// Grid (⌈N/32⌉, ⌈cap/128⌉, E); expert e = wid.z; row tiles past count_e return at once.
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
var<workgroup> Bs: array<vec4<f32>, 64>;  // [k 0..7][n / 4 0..7]

//!include activation

fn store4(e: u32, slot: u32, count: u32, gn: u32, v: vec4<f32>) {
  if (slot >= count) { return; }
  let row = e * p.cap + slot;
  for (var j = 0u; j < 4u; j++) {
    let n = gn + j;
    if (n < p.N) {
      var o = v[j];
      if (p.has_bias == 1u) { o += bias[e * p.N + n]; }
      out[row * p.N + n] = activate(p.act, o);
    }
  }
}

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let e = wid.z;
  let count = counts[p.counts_off + e];
  let slot0 = wid.y * 128u;
  if (slot0 >= count) { return; }   // uniform: the whole workgroup leaves
  let col0 = wid.x * 32u;
  let tx = li % 8u;                   // 4-column group
  let ty = li / 8u;                   // rows ty*4 .. +3 and 64 + ty*4 .. +3
  let K = p.K;
  let kq4 = K >> 2u;
  let nq4 = p.N >> 2u;
  let wbase = e * K * nq4;            // vec4 index of W[e]
  // Each thread stages one A row (its slot's token or pair row), 8 k at a time: two vec4.
  let slot = slot0 + li;
  let a_ok = slot < count;
  var arow = 0u;
  if (a_ok) { arow = select(e * p.cap + slot, lists[e * p.cap + slot], p.gather == 1u); }
  // Threads 0..63 stage one vec4 of the 8×32 W tile.
  let bk = li / 8u;
  let bnq = col0 / 4u + tx;
  let b_ok = li < 64u && col0 + tx * 4u < p.N;
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  var c4 = vec4<f32>(0.0);
  var c5 = vec4<f32>(0.0);
  var c6 = vec4<f32>(0.0);
  var c7 = vec4<f32>(0.0);
  var ra0 = vec4<f32>(0.0);
  var ra1 = vec4<f32>(0.0);
  var rb = vec4<f32>(0.0);
  if (a_ok) { ra0 = A[arow * kq4]; ra1 = A[arow * kq4 + 1u]; }
  if (b_ok) { rb = W[wbase + bk * nq4 + bnq]; }
  let mq = li >> 2u;
  let mr = li & 3u;
  for (var k0 = 0u; k0 < K; k0 += 8u) {
    As[0u * 32u + mq][mr] = ra0.x;
    As[1u * 32u + mq][mr] = ra0.y;
    As[2u * 32u + mq][mr] = ra0.z;
    As[3u * 32u + mq][mr] = ra0.w;
    As[4u * 32u + mq][mr] = ra1.x;
    As[5u * 32u + mq][mr] = ra1.y;
    As[6u * 32u + mq][mr] = ra1.z;
    As[7u * 32u + mq][mr] = ra1.w;
    if (li < 64u) { Bs[li] = rb; }
    workgroupBarrier();
    let k1 = k0 + 8u;
    if (k1 < K) {
      if (a_ok) { ra0 = A[arow * kq4 + (k1 >> 2u)]; ra1 = A[arow * kq4 + (k1 >> 2u) + 1u]; }
      if (b_ok) { rb = W[wbase + (k1 + bk) * nq4 + bnq]; }
    }
    for (var k = 0u; k < 8u; k++) {
      let a0 = As[k * 32u + ty];
      let a1 = As[k * 32u + ty + 16u];
      let b = Bs[k * 8u + tx];
      c0 = fma(vec4<f32>(a0.x), b, c0);
      c1 = fma(vec4<f32>(a0.y), b, c1);
      c2 = fma(vec4<f32>(a0.z), b, c2);
      c3 = fma(vec4<f32>(a0.w), b, c3);
      c4 = fma(vec4<f32>(a1.x), b, c4);
      c5 = fma(vec4<f32>(a1.y), b, c5);
      c6 = fma(vec4<f32>(a1.z), b, c6);
      c7 = fma(vec4<f32>(a1.w), b, c7);
    }
    workgroupBarrier();
  }
  let gn = col0 + tx * 4u;
  store4(e, slot0 + ty * 4u + 0u, count, gn, c0);
  store4(e, slot0 + ty * 4u + 1u, count, gn, c1);
  store4(e, slot0 + ty * 4u + 2u, count, gn, c2);
  store4(e, slot0 + ty * 4u + 3u, count, gn, c3);
  store4(e, slot0 + ty * 4u + 64u, count, gn, c4);
  store4(e, slot0 + ty * 4u + 65u, count, gn, c5);
  store4(e, slot0 + ty * 4u + 66u, count, gn, c6);
  store4(e, slot0 + ty * 4u + 67u, count, gn, c7);
}
