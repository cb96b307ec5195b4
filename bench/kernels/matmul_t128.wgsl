// Probe candidate (issue 6): matmul_fast.wgsl's contract (same parameters, epilogue, alignment rules) with
// 128 threads, each a 16×8 block (4×2 sub-blocks of 4×4, rows 32 apart, columns 64 apart): 32 named vec4
// accumulators, 6 vec4 workgroup loads per 128 FMAs (the 256-thread kernel: 4 per 64), and half the threads
// at each barrier. Not used by the product; `bench/probe_matmul.ts --kernel` times it in matmul_fast's place.

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
override BN: u32 = 128u; // accepted for matmul.ts's dispatch; this candidate is 128 wide only

var<workgroup> As: array<vec4<f32>, 512>; // [k 0..15][m / 4 0..31]
var<workgroup> Bs: array<vec4<f32>, 512>; // [k 0..15][n / 4 0..31]

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

fn load_a(k0: u32, row0: u32, i: u32) -> vec4<f32> {
  let K = p.K;
  let q = i % 4u;
  let row = row0 + i / 4u;
  if (k0 + q * 4u < K && row < p.M) { return A[row * (K >> 2u) + (k0 >> 2u) + q]; }
  return vec4<f32>(0.0);
}

fn load_b(k0: u32, col0: u32, i: u32) -> vec4<f32> {
  let K = p.K;
  if (TRANS_B) {
    let q = i % 4u;
    let col = col0 + i / 4u;
    if (k0 + q * 4u < K && col < p.N) { return B[col * (K >> 2u) + (k0 >> 2u) + q]; }
  } else {
    let k = k0 + i / 32u;
    let col = col0 + (i % 32u) * 4u;
    if (k < K && col < p.N) { return B[k * (p.N >> 2u) + col / 4u]; }
  }
  return vec4<f32>(0.0);
}

fn store_a(i: u32, v: vec4<f32>) {
  let m = i / 4u;
  let k = (i % 4u) * 4u;
  As[(k + 0u) * 32u + m / 4u][m % 4u] = v.x;
  As[(k + 1u) * 32u + m / 4u][m % 4u] = v.y;
  As[(k + 2u) * 32u + m / 4u][m % 4u] = v.z;
  As[(k + 3u) * 32u + m / 4u][m % 4u] = v.w;
}

fn store_b(i: u32, v: vec4<f32>) {
  if (TRANS_B) {
    let n = i / 4u;
    let k = (i % 4u) * 4u;
    Bs[(k + 0u) * 32u + n / 4u][n % 4u] = v.x;
    Bs[(k + 1u) * 32u + n / 4u][n % 4u] = v.y;
    Bs[(k + 2u) * 32u + n / 4u][n % 4u] = v.z;
    Bs[(k + 3u) * 32u + n / 4u][n % 4u] = v.w;
  } else {
    Bs[i] = v;
  }
}

@compute @workgroup_size(128)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
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
  var c200 = vec4<f32>(0.0);
  var c201 = vec4<f32>(0.0);
  var c210 = vec4<f32>(0.0);
  var c211 = vec4<f32>(0.0);
  var c220 = vec4<f32>(0.0);
  var c221 = vec4<f32>(0.0);
  var c230 = vec4<f32>(0.0);
  var c231 = vec4<f32>(0.0);
  var c300 = vec4<f32>(0.0);
  var c301 = vec4<f32>(0.0);
  var c310 = vec4<f32>(0.0);
  var c311 = vec4<f32>(0.0);
  var c320 = vec4<f32>(0.0);
  var c321 = vec4<f32>(0.0);
  var c330 = vec4<f32>(0.0);
  var c331 = vec4<f32>(0.0);
  let steps = (p.K + 15u) / 16u;
  var ra0 = load_a(0u, row0, li);
  var ra1 = load_a(0u, row0, li + 128u);
  var ra2 = load_a(0u, row0, li + 256u);
  var ra3 = load_a(0u, row0, li + 384u);
  var rb0 = load_b(0u, col0, li);
  var rb1 = load_b(0u, col0, li + 128u);
  var rb2 = load_b(0u, col0, li + 256u);
  var rb3 = load_b(0u, col0, li + 384u);
  for (var s = 0u; s < steps; s++) {
    store_a(li, ra0);
    store_a(li + 128u, ra1);
    store_a(li + 256u, ra2);
    store_a(li + 384u, ra3);
    store_b(li, rb0);
    store_b(li + 128u, rb1);
    store_b(li + 256u, rb2);
    store_b(li + 384u, rb3);
    workgroupBarrier();
    if (s + 1u < steps) {
      let k0 = (s + 1u) * 16u;
      ra0 = load_a(k0, row0, li);
      ra1 = load_a(k0, row0, li + 128u);
      ra2 = load_a(k0, row0, li + 256u);
      ra3 = load_a(k0, row0, li + 384u);
      rb0 = load_b(k0, col0, li);
      rb1 = load_b(k0, col0, li + 128u);
      rb2 = load_b(k0, col0, li + 256u);
      rb3 = load_b(k0, col0, li + 384u);
    }
    for (var k = 0u; k < 16u; k++) {
      let a0 = As[k * 32u + ty];
      let a1 = As[k * 32u + ty + 8u];
      let a2 = As[k * 32u + ty + 16u];
      let a3 = As[k * 32u + ty + 24u];
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
      c200 = fma(vec4<f32>(a2.x), b0, c200);
      c201 = fma(vec4<f32>(a2.x), b1, c201);
      c210 = fma(vec4<f32>(a2.y), b0, c210);
      c211 = fma(vec4<f32>(a2.y), b1, c211);
      c220 = fma(vec4<f32>(a2.z), b0, c220);
      c221 = fma(vec4<f32>(a2.z), b1, c221);
      c230 = fma(vec4<f32>(a2.w), b0, c230);
      c231 = fma(vec4<f32>(a2.w), b1, c231);
      c300 = fma(vec4<f32>(a3.x), b0, c300);
      c301 = fma(vec4<f32>(a3.x), b1, c301);
      c310 = fma(vec4<f32>(a3.y), b0, c310);
      c311 = fma(vec4<f32>(a3.y), b1, c311);
      c320 = fma(vec4<f32>(a3.z), b0, c320);
      c321 = fma(vec4<f32>(a3.z), b1, c321);
      c330 = fma(vec4<f32>(a3.w), b0, c330);
      c331 = fma(vec4<f32>(a3.w), b1, c331);
    }
    workgroupBarrier();
  }
  let r0 = row0 + ty * 4u;
  let n0 = col0 + tx * 4u;
  let n1 = n0 + 64u;
  store4(r0 + 0u, n0, c000);
  store4(r0 + 0u, n1, c001);
  store4(r0 + 1u, n0, c010);
  store4(r0 + 1u, n1, c011);
  store4(r0 + 2u, n0, c020);
  store4(r0 + 2u, n1, c021);
  store4(r0 + 3u, n0, c030);
  store4(r0 + 3u, n1, c031);
  store4(r0 + 32u, n0, c100);
  store4(r0 + 32u, n1, c101);
  store4(r0 + 33u, n0, c110);
  store4(r0 + 33u, n1, c111);
  store4(r0 + 34u, n0, c120);
  store4(r0 + 34u, n1, c121);
  store4(r0 + 35u, n0, c130);
  store4(r0 + 35u, n1, c131);
  store4(r0 + 64u, n0, c200);
  store4(r0 + 64u, n1, c201);
  store4(r0 + 65u, n0, c210);
  store4(r0 + 65u, n1, c211);
  store4(r0 + 66u, n0, c220);
  store4(r0 + 66u, n1, c221);
  store4(r0 + 67u, n0, c230);
  store4(r0 + 67u, n1, c231);
  store4(r0 + 96u, n0, c300);
  store4(r0 + 96u, n1, c301);
  store4(r0 + 97u, n0, c310);
  store4(r0 + 97u, n1, c311);
  store4(r0 + 98u, n0, c320);
  store4(r0 + 98u, n1, c321);
  store4(r0 + 99u, n0, c330);
  store4(r0 + 99u, n1, c331);
}
