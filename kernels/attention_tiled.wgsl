// Multi-head softmax attention for many query rows (encoders, prefill): the function of attention.wgsl,
// tiled. One workgroup per (16 query rows, head, batch) stages its queries once and streams K and V
// through workgroup memory in chunks of 32 keys, so each key row is loaded once per 16 queries (not once
// per query) with coalesced vec4 reads; online softmax per row. Head dimension ≤ 64; dh, every offset and
// every stride a multiple of 4 (vec4 loads; other shapes take attention.wgsl).
// Thread t owns query row t / 4 of the tile; its lane t % 4 scores keys lane + 4c (c < 8) of each chunk
// and accumulates output dimensions 16·lane … 16·lane + 15, so a row's softmax statistics stay within its
// four lanes. The thread's query row, scores and accumulators are registers (the row a private array
// indexed by constants only), and the stages vec4 rows with padded strides (no bank conflicts between the
// rows of a warp). Each thread issues all its loads of
// a stage before storing any: staging one element per loop iteration left every load's latency exposed
// and was most of the kernel's time on the H200 (bench/probe_attention.ts).
// Grid (⌈tq / 16⌉, heads, batch).

struct Params {
  heads: u32, dh: u32, tq: u32, tk: u32,
  q_off: u32, q_row: u32, q_batch: u32,
  k_off: u32, k_row: u32, k_batch: u32,
  v_off: u32, v_row: u32, v_batch: u32,
  q_pos0: u32, causal: u32, has_mask: u32,
  scale: f32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> K: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> V: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> key_mask: array<u32>;
@group(0) @binding(5) var<storage, read_write> O: array<f32>;

const WG = 64u;
const BQ = 16u;   // query rows per workgroup
const BC = 32u;   // keys per chunk
const R4 = 17u;   // vec4 row stride of the Q and K/V stages (16 + 1 of padding)
const PS = 33u;   // row stride of the probabilities
const NEG = -3.0e38;

var<workgroup> qs: array<vec4<f32>, 272>;  // [BQ][R4] scaled queries, zero past dh
var<workgroup> kvs: array<vec4<f32>, 544>; // [BC][R4] the chunk's keys, then its values
var<workgroup> ps: array<f32, 528>;        // [BQ][PS] unnormalised probabilities of the chunk
var<workgroup> red: array<f32, 64>;        // per-thread partial max, then partial sum

// vec4 e of a BC × 16 stage (row e / 16, dims 4·(e % 16) …) of K or V; zero past tk or dh.
fn load_kv(src_is_k: bool, base: u32, row: u32, j0: u32, e: u32) -> vec4<f32> {
  let j = j0 + e / 16u;
  let q = e % 16u;
  if (j >= p.tk || 4u * q >= p.dh) { return vec4<f32>(0.0); }
  let i = (base + j * row) / 4u + q;
  if (src_is_k) { return K[i]; }
  return V[i];
}

// Stages keys (or values) j0 … j0+BC−1 into kvs: 512 vec4, 8 per thread, all loads issued first.
fn stage(src_is_k: bool, base: u32, row: u32, j0: u32, t: u32) {
  let v0 = load_kv(src_is_k, base, row, j0, t);
  let v1 = load_kv(src_is_k, base, row, j0, t + 64u);
  let v2 = load_kv(src_is_k, base, row, j0, t + 128u);
  let v3 = load_kv(src_is_k, base, row, j0, t + 192u);
  let v4 = load_kv(src_is_k, base, row, j0, t + 256u);
  let v5 = load_kv(src_is_k, base, row, j0, t + 320u);
  let v6 = load_kv(src_is_k, base, row, j0, t + 384u);
  let v7 = load_kv(src_is_k, base, row, j0, t + 448u);
  let r0 = (t / 16u) * R4 + t % 16u; // element t + 64u lands 4 rows further: + 4 · R4
  kvs[r0] = v0;
  kvs[r0 + 4u * R4] = v1;
  kvs[r0 + 8u * R4] = v2;
  kvs[r0 + 12u * R4] = v3;
  kvs[r0 + 16u * R4] = v4;
  kvs[r0 + 20u * R4] = v5;
  kvs[r0 + 24u * R4] = v6;
  kvs[r0 + 28u * R4] = v7;
}

// vec4 e of the 16 × 16 query stage, scaled; zero past tq or dh.
fn load_q(i0: u32, h: u32, b: u32, e: u32) -> vec4<f32> {
  let qi = i0 + e / 16u;
  let q = e % 16u;
  if (qi >= p.tq || 4u * q >= p.dh) { return vec4<f32>(0.0); }
  return Q[(p.q_off + b * p.q_batch + qi * p.q_row + h * p.dh) / 4u + q] * p.scale;
}

// Score of this thread's query row (qv, in registers) against staged key jr, or NEG when the key is hidden
// from row i. All 16 vec4 of the row: past dh both sides are zero, so the sum is the same as over dh.
fn score(qv: ptr<function, array<vec4<f32>, 16>>, jr: u32, j0: u32, i: u32, kmax: u32, b: u32,
         row_ok: bool) -> f32 {
  let j = j0 + jr;
  var ok = row_ok && j < kmax;
  if (ok && p.has_mask == 1u) { ok = key_mask[b * p.tk + j] != 0u; }
  if (!ok) { return NEG; }
  let k = jr * R4;
  var a = dot((*qv)[0], kvs[k]);
  a += dot((*qv)[1], kvs[k + 1u]);
  a += dot((*qv)[2], kvs[k + 2u]);
  a += dot((*qv)[3], kvs[k + 3u]);
  a += dot((*qv)[4], kvs[k + 4u]);
  a += dot((*qv)[5], kvs[k + 5u]);
  a += dot((*qv)[6], kvs[k + 6u]);
  a += dot((*qv)[7], kvs[k + 7u]);
  a += dot((*qv)[8], kvs[k + 8u]);
  a += dot((*qv)[9], kvs[k + 9u]);
  a += dot((*qv)[10], kvs[k + 10u]);
  a += dot((*qv)[11], kvs[k + 11u]);
  a += dot((*qv)[12], kvs[k + 12u]);
  a += dot((*qv)[13], kvs[k + 13u]);
  a += dot((*qv)[14], kvs[k + 14u]);
  a += dot((*qv)[15], kvs[k + 15u]);
  return a;
}

fn p_of(s: f32, m: f32) -> f32 {
  return select(0.0, exp(s - m), s > NEG);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let i0 = wid.x * BQ;
  let h = wid.y;
  let b = wid.z;
  let dh = p.dh;
  let w0 = load_q(i0, h, b, t);
  let w1 = load_q(i0, h, b, t + 64u);
  let w2 = load_q(i0, h, b, t + 128u);
  let w3 = load_q(i0, h, b, t + 192u);
  let q0 = (t / 16u) * R4 + t % 16u;
  qs[q0] = w0;
  qs[q0 + 4u * R4] = w1;
  qs[q0 + 8u * R4] = w2;
  qs[q0 + 12u * R4] = w3;
  let r = t / 4u;
  let lane = t % 4u;
  // this thread's query row, from the stage into registers (constant indices only): the scores then read
  // only the keys from workgroup memory
  workgroupBarrier();
  var qv: array<vec4<f32>, 16>;
  let qr = r * R4;
  qv[0] = qs[qr];
  qv[1] = qs[qr + 1u];
  qv[2] = qs[qr + 2u];
  qv[3] = qs[qr + 3u];
  qv[4] = qs[qr + 4u];
  qv[5] = qs[qr + 5u];
  qv[6] = qs[qr + 6u];
  qv[7] = qs[qr + 7u];
  qv[8] = qs[qr + 8u];
  qv[9] = qs[qr + 9u];
  qv[10] = qs[qr + 10u];
  qv[11] = qs[qr + 11u];
  qv[12] = qs[qr + 12u];
  qv[13] = qs[qr + 13u];
  qv[14] = qs[qr + 14u];
  qv[15] = qs[qr + 15u];
  let i = i0 + r;
  let row_ok = i < p.tq;
  var kmax = p.tk;
  var kend = p.tk; // keys any row of the tile may see
  if (p.causal == 1u) {
    kmax = min(p.tk, p.q_pos0 + i + 1u);
    kend = min(p.tk, p.q_pos0 + min(i0 + BQ, p.tq));
  }
  let kb = p.k_off + b * p.k_batch + h * dh;
  let vb = p.v_off + b * p.v_batch + h * dh;
  let rb = r * 4u;
  let c0 = lane * 4u; // first vec4 of this lane's output dimensions
  var m = NEG;
  var l = 0.0;
  var o0 = vec4<f32>(0.0);
  var o1 = vec4<f32>(0.0);
  var o2 = vec4<f32>(0.0);
  var o3 = vec4<f32>(0.0);
  for (var j0 = 0u; j0 < kend; j0 += BC) {
    workgroupBarrier(); // the previous chunk's values read
    stage(true, kb, p.k_row, j0, t);
    workgroupBarrier();
    let s0 = score(&qv, lane, j0, i, kmax, b, row_ok);
    let s1 = score(&qv, lane + 4u, j0, i, kmax, b, row_ok);
    let s2 = score(&qv, lane + 8u, j0, i, kmax, b, row_ok);
    let s3 = score(&qv, lane + 12u, j0, i, kmax, b, row_ok);
    let s4 = score(&qv, lane + 16u, j0, i, kmax, b, row_ok);
    let s5 = score(&qv, lane + 20u, j0, i, kmax, b, row_ok);
    let s6 = score(&qv, lane + 24u, j0, i, kmax, b, row_ok);
    let s7 = score(&qv, lane + 28u, j0, i, kmax, b, row_ok);
    red[t] = max(max(max(s0, s1), max(s2, s3)), max(max(s4, s5), max(s6, s7)));
    workgroupBarrier();
    let nm = max(m, max(max(red[rb], red[rb + 1u]), max(red[rb + 2u], red[rb + 3u])));
    let p0 = p_of(s0, nm);
    let p1 = p_of(s1, nm);
    let p2 = p_of(s2, nm);
    let p3 = p_of(s3, nm);
    let p4 = p_of(s4, nm);
    let p5 = p_of(s5, nm);
    let p6 = p_of(s6, nm);
    let p7 = p_of(s7, nm);
    let pr = r * PS + lane;
    ps[pr] = p0;
    ps[pr + 4u] = p1;
    ps[pr + 8u] = p2;
    ps[pr + 12u] = p3;
    ps[pr + 16u] = p4;
    ps[pr + 20u] = p5;
    ps[pr + 24u] = p6;
    ps[pr + 28u] = p7;
    workgroupBarrier(); // the row maxima and the keys are read
    red[t] = ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7));
    stage(false, vb, p.v_row, j0, t);
    workgroupBarrier();
    let alpha = select(exp(m - nm), 0.0, m <= NEG);
    l = l * alpha + ((red[rb] + red[rb + 1u]) + (red[rb + 2u] + red[rb + 3u]));
    m = nm;
    o0 *= alpha;
    o1 *= alpha;
    o2 *= alpha;
    o3 *= alpha;
    let jn = min(BC, kend - j0);
    for (var jj = 0u; jj < jn; jj++) {
      let pj = vec4<f32>(ps[r * PS + jj]);
      let vr = jj * R4 + c0;
      o0 = fma(pj, kvs[vr], o0);
      o1 = fma(pj, kvs[vr + 1u], o1);
      o2 = fma(pj, kvs[vr + 2u], o2);
      o3 = fma(pj, kvs[vr + 3u], o3);
    }
  }
  if (!row_ok) { return; }
  let obase = (b * p.tq + i) * (p.heads * dh) + h * dh + lane * 16u;
  let inv = select(1.0 / l, 0.0, l == 0.0);
  let os = array<vec4<f32>, 4>(o0 * inv, o1 * inv, o2 * inv, o3 * inv);
  for (var d = 0u; d < 16u; d++) {
    if (lane * 16u + d < dh) { O[obase + d] = os[d / 4u][d % 4u]; }
  }
}
