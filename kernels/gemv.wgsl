// Small-M matmul (decode: M ≤ 8) streaming B at memory bandwidth:
//   C[M, N] = act(LN?(A)[M, K] · B + bias) + residual,  B stored [K, N] (or [N, K] with TRANS_B),
// optionally also writing a column block of C into a second tensor (KV-cache append) and optionally
// normalising A's rows first (LayerNorm fused into the A load).
//
// A workgroup handles MR rows of A (grid y) and a slice of N (grid x); its threads split K, every thread
// streams its part of B once with vec4 loads, and partial sums are reduced in workgroup memory.
//   [K, N]: CQ groups of 4 columns per workgroup, WG/CQ threads along K, each reading 4 consecutive B rows
//           (4 independent vec4 loads) per step.
//   [N, K]: WG/TPR outputs per workgroup, TPR threads along K reading consecutive vec4 of B's row.
// A is staged into workgroup memory in chunks of ASZ vec4 (normalised there when LN is fused), zero-padded
// past K, so the inner loops read A as vec4 from shared memory.

struct Params {
  M: u32, N: u32, K: u32, act: u32,
  has_bias: u32, has_res: u32, has_ln: u32, eps: f32,
  has_copy: u32, cp_col0: u32, cp_nc: u32, cp_nt: u32,
  cp_nb: u32, cp_off: u32, cp_b: u32, cp_t: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> res: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> beta: array<f32>;
@group(0) @binding(7) var<storage, read_write> C: array<f32>;
@group(0) @binding(8) var<storage, read_write> C2: array<f32>;

override WG: u32 = 256u;
override MR: u32 = 1u;          // rows of A per workgroup (≤ 8)
override CQ: u32 = 4u;          // [K, N]: 4-column groups per workgroup
override TPR: u32 = 32u;        // [N, K]: threads per output
override ASZ: u32 = 1536u;      // staged A capacity in vec4 (MR rows × chunk)
override TRANS_B: bool = false;
override VEC_A: bool = true;    // K % 4 == 0
override VEC_B: bool = true;    // TRANS_B ? K % 4 == 0 : N % 4 == 0
override KS: u32 = WG / CQ;     // [K, N]: threads along K
override NR: u32 = WG / TPR;    // [N, K]: outputs per workgroup

var<workgroup> As: array<vec4<f32>, ASZ>;
var<workgroup> red: array<vec4<f32>, WG>;
var<workgroup> stats: array<vec2<f32>, 8>;   // per row: mean, rstd

//!include activation

fn a_at(i: u32) -> f32 { return A[i >> 2u][i & 3u]; }
fn b_at(i: u32) -> f32 { return B[i >> 2u][i & 3u]; }

// Sum of `v` over the workgroup (all threads call it; every thread gets the result).
fn wg_sum(li: u32, v: vec4<f32>) -> vec4<f32> {
  red[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

// 4 floats of A's row `gm` at column `gk` (gk % 4 == 0), zero past K or M, normalised when LN is fused.
fn a4(gm: u32, gk: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (gm >= p.M || gk >= p.K) { return v; }
  let base = gm * p.K + gk;
  if (VEC_A && gk + 4u <= p.K) {
    v = A[base >> 2u];
  } else {
    for (var j = 0u; j < 4u; j++) { if (gk + j < p.K) { v[j] = a_at(base + j); } }
  }
  if (p.has_ln == 1u) {
    let st = stats[gm % MR];
    for (var j = 0u; j < 4u; j++) {
      if (gk + j < p.K) { v[j] = (v[j] - st.x) * st.y * gamma[gk + j] + beta[gk + j]; }
    }
  }
  return v;
}

// Final value of C[gm, gn] → C (and C2 when the copy epilogue covers it).
fn store(gm: u32, gn: u32, s: f32) {
  var v = s;
  if (p.has_bias == 1u) { v += bias[gn]; }
  v = activate(p.act, v);
  if (p.has_res == 1u) { v += res[gm * p.N + gn]; }
  C[gm * p.N + gn] = v;
  if (p.has_copy == 1u && gn >= p.cp_col0 && gn - p.cp_col0 < p.cp_nc) {
    let b = gm / p.cp_nt;
    if (b < p.cp_nb) {
      C2[p.cp_off + b * p.cp_b + (gm % p.cp_nt) * p.cp_t + gn - p.cp_col0] = v;
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row0 = wid.y * MR;
  let K = p.K;
  let K4 = (K + 3u) / 4u;

  // LayerNorm statistics of this workgroup's rows (two passes, as layer_norm.wgsl).
  if (p.has_ln == 1u) {
    for (var m = 0u; m < MR; m++) {
      let gm = min(row0 + m, p.M - 1u);
      var s = 0.0;
      for (var k = li; k < K; k += WG) { s += a_at(gm * K + k); }
      let mean = wg_sum(li, vec4<f32>(s, 0.0, 0.0, 0.0)).x / f32(K);
      var q = 0.0;
      for (var k = li; k < K; k += WG) { let d = a_at(gm * K + k) - mean; q += d * d; }
      let rstd = inverseSqrt(wg_sum(li, vec4<f32>(q, 0.0, 0.0, 0.0)).x / f32(K) + p.eps);
      if (li == 0u) { stats[m] = vec2<f32>(mean, rstd); }
    }
    workgroupBarrier();
  }

  let kc = ASZ / MR;              // vec4 per row per chunk
  var acc: array<vec4<f32>, 8>;   // per row: 4 columns ([K, N]) or a partial dot in .x ([N, K])

  if (TRANS_B) {
    let g = li / TPR;
    let lane = li % TPR;
    let n = wid.x * NR + g;
    for (var c0 = 0u; c0 < K4; c0 += kc) {
      let cn = min(kc, K4 - c0);
      for (var i = li; i < MR * cn; i += WG) {
        let m = i / cn;
        let q = i % cn;
        As[m * kc + q] = a4(row0 + m, (c0 + q) * 4u);
      }
      workgroupBarrier();
      if (n < p.N) {
        for (var q = lane; q < cn; q += TPR) {
          let gk = (c0 + q) * 4u;
          var b: vec4<f32>;
          if (VEC_B && gk + 4u <= K) {
            b = B[(n * K + gk) >> 2u];
          } else {
            b = vec4<f32>(0.0);
            for (var j = 0u; j < 4u; j++) { if (gk + j < K) { b[j] = b_at(n * K + gk + j); } }
          }
          for (var m = 0u; m < MR; m++) { acc[m].x += dot(As[m * kc + q], b); }
        }
      }
      workgroupBarrier();
    }
    // Reduce each row's partial dots over the TPR lanes of an output.
    for (var m = 0u; m < MR; m++) {
      red[li] = acc[m];
      workgroupBarrier();
      for (var s = TPR / 2u; s > 0u; s >>= 1u) {
        if (lane < s) { red[li] += red[li + s]; }
        workgroupBarrier();
      }
      if (lane == 0u && n < p.N && row0 + m < p.M) { store(row0 + m, n, red[li].x); }
      workgroupBarrier();
    }
  } else {
    let cq = li % CQ;
    let ks = li / CQ;
    let col = (wid.x * CQ + cq) * 4u;
    let N = p.N;
    let col_ok = col < N;
    for (var c0 = 0u; c0 < K4; c0 += kc) {
      let cn = min(kc, K4 - c0);
      for (var i = li; i < MR * cn; i += WG) {
        let m = i / cn;
        let q = i % cn;
        As[m * kc + q] = a4(row0 + m, (c0 + q) * 4u);
      }
      workgroupBarrier();
      if (col_ok) {
        for (var q = ks; q < cn; q += KS) {
          let gk = (c0 + q) * 4u;
          var b: array<vec4<f32>, 4>;
          if (VEC_B && gk + 4u <= K) {
            let base = (gk * N + col) >> 2u;
            let step = N >> 2u;
            b[0] = B[base];
            b[1] = B[base + step];
            b[2] = B[base + 2u * step];
            b[3] = B[base + 3u * step];
          } else {
            for (var j = 0u; j < 4u; j++) {
              b[j] = vec4<f32>(0.0);
              if (gk + j < K) {
                let base = (gk + j) * N + col;
                if (VEC_B) {
                  b[j] = B[base >> 2u];
                } else {
                  for (var t = 0u; t < 4u; t++) { if (col + t < N) { b[j][t] = b_at(base + t); } }
                }
              }
            }
          }
          for (var m = 0u; m < MR; m++) {
            let a = As[m * kc + q];
            acc[m] = fma(vec4<f32>(a.x), b[0], fma(vec4<f32>(a.y), b[1],
              fma(vec4<f32>(a.z), b[2], fma(vec4<f32>(a.w), b[3], acc[m]))));
          }
        }
      }
      workgroupBarrier();
    }
    // Reduce over the KS threads sharing a column group (stride CQ in `red`).
    for (var m = 0u; m < MR; m++) {
      red[li] = acc[m];
      workgroupBarrier();
      for (var s = KS / 2u; s > 0u; s >>= 1u) {
        if (ks < s) { red[li] += red[li + s * CQ]; }
        workgroupBarrier();
      }
      if (ks == 0u && row0 + m < p.M) {
        let v = red[li];
        for (var j = 0u; j < 4u; j++) { if (col + j < N) { store(row0 + m, col + j, v[j]); } }
      }
      workgroupBarrier();
    }
  }
}
