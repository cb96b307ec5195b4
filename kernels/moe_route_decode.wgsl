// D2DMoE routing of a handful of tokens (decode) in ONE workgroup, one dispatch:
//   x̂ = LayerNorm(x) (optional; x̂ is also written out for the expert kernel),
//   scores = | relu(x̂ · R1) · R2 |, then dynamic-k / top-k selection as moe_select.wgsl.
// x: [T, d], R1: [d, w], R2: [w, E]. The selection buffer packs the lists [E·cap] at 0, the per-token
// pair rows [T·E] at rows_off and the per-token counts [T] at k_off (so the merge can bind them as
// ranges). The expert counters are zeroed here first (one workgroup: no other writer can race).
// The hidden layer is split as JQ groups of 4 hidden units × WG/JQ threads along d, each streaming
// vec4 rows of R1; partial sums meet in workgroup memory. With FROM_HIDDEN the hidden layer
// h = relu(x̂·R1) [T, w] was computed by the GEMV kernel (all SMs stream R1) and arrives in the R1 binding;
// this kernel then only normalises x (for the experts), applies R2 and selects.

struct Params {
  T: u32, d: u32, w: u32, E: u32,
  cap: u32, mode: u32, k: u32, tau: f32,
  counts_off: u32, rows_off: u32, k_off: u32, has_ln: u32,
  eps: f32, has_xn: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> r1: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> r2: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(7) var<storage, read_write> sel: array<u32>;
@group(0) @binding(8) var<storage, read_write> xn: array<f32>;

override WG: u32 = 256u;
override TT: u32 = 1u;          // token capacity (≥ T, ≤ 8)
override WMAX: u32 = 128u;      // ≥ w
override EMAX: u32 = 32u;       // ≥ E
override JQ: u32 = 32u;         // groups of 4 hidden units per pass
override KSN: u32 = WG / JQ;    // threads along d
override VEC_R1: bool = true;   // w % 4 == 0
override FROM_HIDDEN: bool = false;
const KC = 128u;                // d columns staged per step

var<workgroup> xs: array<f32, TT * 128u>;
var<workgroup> hs: array<f32, TT * WMAX>;
var<workgroup> sc: array<f32, TT * EMAX>;
var<workgroup> red: array<vec4<f32>, WG>;
var<workgroup> scan: array<u32, WG>;
var<workgroup> stats: array<vec2<f32>, 8>;

fn wg_sum(tid: u32, v: f32) -> f32 {
  red[tid] = vec4<f32>(v, 0.0, 0.0, 0.0);
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) { red[tid] += red[tid + s]; }
    workgroupBarrier();
  }
  let r = red[0].x;
  workgroupBarrier();
  return r;
}

fn r1_at(k: u32, q: u32) -> vec4<f32> {
  if (VEC_R1) { return r1[k * (p.w >> 2u) + q]; }
  var v = vec4<f32>(0.0);
  for (var c = 0u; c < 4u; c++) {
    let j = q * 4u + c;
    if (j < p.w) { let i = k * p.w + j; v[c] = r1[i >> 2u][i & 3u]; }
  }
  return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32) {
  let d = p.d;
  for (var e = tid; e < p.E; e += WG) { atomicStore(&counts[p.counts_off + e], 0u); }
  storageBarrier();

  if (p.has_ln == 1u) {
    for (var tt = 0u; tt < TT; tt++) {
      let t = min(tt, p.T - 1u);
      var s = 0.0;
      for (var k = tid; k < d; k += WG) { s += x[t * d + k]; }
      let mean = wg_sum(tid, s) / f32(d);
      var q = 0.0;
      for (var k = tid; k < d; k += WG) { let v = x[t * d + k] - mean; q += v * v; }
      let rstd = inverseSqrt(wg_sum(tid, q) / f32(d) + p.eps);
      if (tid == 0u) { stats[tt] = vec2<f32>(mean, rstd); }
    }
    workgroupBarrier();
  }

  if (FROM_HIDDEN) {
    for (var i = tid; i < p.T * p.w; i += WG) {
      let tt = i / p.w;
      hs[tt * WMAX + i % p.w] = r1[i >> 2u][i & 3u];
    }
    if (p.has_xn == 1u) {
      for (var i = tid; i < p.T * d; i += WG) {
        let tt = i / d;
        let gk = i % d;
        var v = x[i];
        if (p.has_ln == 1u) {
          let st = stats[tt];
          v = (v - st.x) * st.y * gamma[gk] + beta[gk];
        }
        xn[i] = v;
      }
    }
    workgroupBarrier();
  }

  // Hidden layer h = relu(x̂ · R1) into hs.
  let w4 = select((p.w + 3u) / 4u, 0u, FROM_HIDDEN);
  let jq = tid % JQ;
  let ks = tid / JQ;
  for (var jb = 0u; jb < w4; jb += JQ) {
    var acc: array<vec4<f32>, 8>;
    for (var k0 = 0u; k0 < d; k0 += KC) {
      let kn = min(KC, d - k0);
      for (var i = tid; i < TT * KC; i += WG) {
        let tt = i / KC;
        let kk = i % KC;
        var v = 0.0;
        if (tt < p.T && kk < kn) {
          let gk = k0 + kk;
          v = x[tt * d + gk];
          if (p.has_ln == 1u) {
            let st = stats[tt];
            v = (v - st.x) * st.y * gamma[gk] + beta[gk];
          }
          if (jb == 0u && p.has_xn == 1u) { xn[tt * d + gk] = v; }
        }
        xs[i] = v;
      }
      workgroupBarrier();
      let q = jb + jq;
      if (q < w4) {
        for (var kk = ks; kk < kn; kk += KSN) {
          let rv = r1_at(k0 + kk, q);
          for (var tt = 0u; tt < TT; tt++) { acc[tt] = fma(vec4<f32>(xs[tt * KC + kk]), rv, acc[tt]); }
        }
      }
      workgroupBarrier();
    }
    for (var tt = 0u; tt < TT; tt++) {
      red[tid] = acc[tt];
      workgroupBarrier();
      for (var s = KSN / 2u; s > 0u; s >>= 1u) {
        if (ks < s) { red[tid] += red[tid + s * JQ]; }
        workgroupBarrier();
      }
      if (ks == 0u) {
        let v = red[tid];
        for (var c = 0u; c < 4u; c++) {
          let j = (jb + jq) * 4u + c;
          if (j < p.w) { hs[tt * WMAX + j] = max(v[c], 0.0); }
        }
      }
      workgroupBarrier();
    }
  }

  // Scores |h · R2| into sc: `ep` experts side by side (coalesced R2 rows), `groups` = WG / ep thread groups
  // splitting the hidden units, partial sums met in workgroup memory. One thread per expert walking all
  // w rows would wait on w dependent loads in turn (~60 µs on the H200 at w = 128).
  let ep = min(EMAX, WG);
  let groups = WG / ep;
  let g = tid / ep;
  for (var e0 = 0u; e0 < p.E; e0 += ep) {
    let e = e0 + tid % ep;
    var s: array<f32, 8>;
    if (e < p.E) {
      for (var j = g; j < p.w; j += groups) {
        let rv = r2[j * p.E + e];
        for (var tt = 0u; tt < TT; tt++) { s[tt] = fma(hs[tt * WMAX + j], rv, s[tt]); }
      }
    }
    for (var tt = 0u; tt < TT; tt++) {
      red[tid].x = s[tt];
      workgroupBarrier();
      for (var st = groups / 2u; st > 0u; st >>= 1u) {
        if (g < st) { red[tid].x += red[tid + st * ep].x; }
        workgroupBarrier();
      }
      if (g == 0u && e < p.E) { sc[tt * EMAX + e] = abs(red[tid].x); }
      workgroupBarrier();
    }
  }
  workgroupBarrier();

  // Selection, token by token (pairs in ascending expert order, slots by atomics).
  for (var tt = 0u; tt < TT; tt++) {
    if (tt >= p.T) { break; }   // uniform
    let base = tt * EMAX;
    var m = 0.0;
    for (var e = tid; e < p.E; e += WG) { m = max(m, sc[base + e]); }
    red[tid] = vec4<f32>(m, 0.0, 0.0, 0.0);
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (tid < s) { red[tid].x = max(red[tid].x, red[tid + s].x); }
      workgroupBarrier();
    }
    let thr = p.tau * red[0].x;
    workgroupBarrier();
    var n = 0u;
    for (var e0 = 0u; e0 < p.E; e0 += WG) {
      let e = e0 + tid;
      var f = 0u;
      if (e < p.E) {
        let r = sc[base + e];
        if (p.mode == 0u) {
          f = select(0u, 1u, r >= thr);
        } else {
          var rank = 0u;
          for (var j = 0u; j < p.E; j++) {
            let q = sc[base + j];
            if (q > r || (q == r && j < e)) { rank++; }
          }
          f = select(0u, 1u, rank < p.k);
        }
      }
      scan[tid] = f;
      workgroupBarrier();
      for (var off = 1u; off < WG; off <<= 1u) {
        var v = 0u;
        if (tid >= off) { v = scan[tid - off]; }
        workgroupBarrier();
        scan[tid] += v;
        workgroupBarrier();
      }
      if (f == 1u) {
        let slot = atomicAdd(&counts[p.counts_off + e], 1u);
        sel[e * p.cap + slot] = tt;
        sel[p.rows_off + tt * p.E + n + scan[tid] - 1u] = e * p.cap + slot;
      }
      n += scan[WG - 1u];
      workgroupBarrier();
    }
    if (tid == 0u) { sel[p.k_off + tt] = n; }
  }
}
