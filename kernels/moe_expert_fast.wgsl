// Grouped expert matmul, fast path (K % 8 == 0, N % 4 == 0): the same function as
// moe_expert_matmul.wgsl with matmul_fast.wgsl's 128×128 unrolled tile, K step 16 and next-step loads in
// flight during the FMAs. Grid (⌈N/128⌉, ⌈cap/128⌉, E); expert e = wid.z; row tiles past count_e return at
// once (skipped experts cost an empty workgroup). Output rows are stored as vec4 (N % 4 == 0): the
// down-projection writes a d-wide row per (token, expert) pair, so its stores are most of its traffic.
//   up   (gather = 1): out[e*cap + slot, :] = act( x[lists[e*cap + slot], :] · W[e] + b[e] )
//   down (gather = 0): out[e*cap + slot, :] = a[e*cap + slot, :] · W[e]

struct Params { cap: u32, K: u32, N: u32, gather: u32, act: u32, has_bias: u32, counts_off: u32, _p0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> lists: array<u32>;
@group(0) @binding(3) var<storage, read> counts: array<u32>;
@group(0) @binding(4) var<storage, read> W: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<vec4<f32>>;

var<workgroup> As: array<vec4<f32>, 512>; // [k 0..15][m / 4 0..31]
var<workgroup> Bs: array<vec4<f32>, 512>; // [k 0..15][n / 4 0..31]

//!include activation

fn store4(e: u32, slot: u32, count: u32, gn: u32, v: vec4<f32>) {
  if (slot >= count || gn >= p.N) { return; }   // N % 4 == 0: a quad is all in or all out
  var o = v;
  if (p.has_bias == 1u) {
    let b = e * p.N + gn;
    o += vec4<f32>(bias[b], bias[b + 1u], bias[b + 2u], bias[b + 3u]);
  }
  out[((e * p.cap + slot) * p.N + gn) >> 2u] = vec4<f32>(activate(p.act, o.x), activate(p.act, o.y), activate(p.act, o.z), activate(p.act, o.w));
}

// One K step's global loads for this thread: A rows (slots) lr and lr + 64 at k quad lq, W rows
// k0 + lb and k0 + lb + 8 at column quad lc. Out-of-range elements read as zero.
struct Staged { a0: vec4<f32>, a1: vec4<f32>, b0: vec4<f32>, b1: vec4<f32> }

fn load_step(k0: u32, arow0: u32, arow1: u32, a0_ok: bool, a1_ok: bool, wq: u32, b_ok: bool, lq: u32,
             lb: u32) -> Staged {
  let K = p.K;
  let kq = (k0 >> 2u) + lq;
  let k_in = k0 + lq * 4u < K;
  var r = Staged(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  if (k_in && a0_ok) { r.a0 = A[arow0 * (K >> 2u) + kq]; }
  if (k_in && a1_ok) { r.a1 = A[arow1 * (K >> 2u) + kq]; }
  if (b_ok) {
    let nq = p.N >> 2u;
    if (k0 + lb < K) { r.b0 = W[wq + (k0 + lb) * nq]; }
    if (k0 + lb + 8u < K) { r.b1 = W[wq + (k0 + lb + 8u) * nq]; }
  }
  return r;
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
  // this thread's global-load lanes (see load_step)
  let lr = li / 4u;
  let lq = li % 4u;
  let lb = li / 32u;
  let lc = li % 32u;
  // A rows: the slots' tokens (up) or pair rows (down)
  let a0_ok = slot0 + lr < count;
  let a1_ok = slot0 + lr + 64u < count;
  var arow0 = 0u;
  var arow1 = 0u;
  if (a0_ok) { arow0 = select(e * p.cap + slot0 + lr, lists[e * p.cap + slot0 + lr], p.gather == 1u); }
  if (a1_ok) { arow1 = select(e * p.cap + slot0 + lr + 64u, lists[e * p.cap + slot0 + lr + 64u], p.gather == 1u); }
  let b_ok = col0 + lc * 4u < p.N;
  let wq = e * p.K * (p.N >> 2u) + col0 / 4u + lc;   // vec4 index of W[e][0][col0 + 4 lc]
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
  var r = load_step(0u, arow0, arow1, a0_ok, a1_ok, wq, b_ok, lq, lb);
  let m0 = lr >> 2u;
  let mr = lr & 3u;
  let kk = lq * 4u;
  for (var s = 0u; s < steps; s++) {
    // registers → workgroup memory (A transposed to k-major)
    As[(kk + 0u) * 32u + m0][mr] = r.a0.x;
    As[(kk + 1u) * 32u + m0][mr] = r.a0.y;
    As[(kk + 2u) * 32u + m0][mr] = r.a0.z;
    As[(kk + 3u) * 32u + m0][mr] = r.a0.w;
    As[(kk + 0u) * 32u + m0 + 16u][mr] = r.a1.x;
    As[(kk + 1u) * 32u + m0 + 16u][mr] = r.a1.y;
    As[(kk + 2u) * 32u + m0 + 16u][mr] = r.a1.z;
    As[(kk + 3u) * 32u + m0 + 16u][mr] = r.a1.w;
    Bs[lb * 32u + lc] = r.b0;
    Bs[(lb + 8u) * 32u + lc] = r.b1;
    workgroupBarrier();
    // next K step's global loads, in flight during the FMAs
    if (s + 1u < steps) { r = load_step((s + 1u) * 16u, arow0, arow1, a0_ok, a1_ok, wq, b_ok, lq, lb); }
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
