// Dynamic-k expert selection, one workgroup per token:
//   dynk: run expert e iff r[e] ≥ tau · max_j r[j]  (ties inclusive; all-zero scores select every expert)
//   topk: run the k experts of highest score (ties broken by lower index)
// Builds, with u32 atomics and no readback: per-expert token lists (lists[e*cap + slot] = token),
// per-expert counts (counts[counts_off + e]), and per-token rows of its selected (expert, slot)
// pairs in ascending expert order (tok_rows[t*E + j] = e*cap + slot, tok_k[t] = number selected).
// With FROM_HIDDEN the first binding holds the router's hidden layer h = relu(x·R1) [T, w] (computed by
// the tiled matmul) and the scores r = |h·R2| are computed here, so the router's output layer costs no
// dispatch of its own.
// Token chunks of a big batch (t0 > 0): workgroup t reads score row t0 + t and lists hold batch tokens
// (t0 + t), so the expert up-projection gathers straight from the whole batch; tok_rows / tok_k stay per
// chunk token.

struct Params {
  T: u32, E: u32, cap: u32, mode: u32, k: u32, counts_off: u32, tau: f32, w: u32,
  t0: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;   // [t0 + T, E], or h [t0 + T, w] with FROM_HIDDEN
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> lists: array<u32>;
@group(0) @binding(4) var<storage, read_write> tok_rows: array<u32>;
@group(0) @binding(5) var<storage, read_write> tok_k: array<u32>;
@group(0) @binding(6) var<storage, read> r2: array<f32>;       // [w, E] (FROM_HIDDEN)

override FROM_HIDDEN: bool = false;
override STAGE: bool = false;   // given scores: copy the token's row into workgroup memory first
override EMAX: u32 = 1u;        // scores kept in workgroup memory (FROM_HIDDEN or STAGE: ≥ E)

const WG = 64u;
var<workgroup> red: array<f32, WG>;
var<workgroup> scan: array<u32, WG>;
var<workgroup> sc: array<f32, EMAX>;

fn score(base: u32, e: u32) -> f32 {
  if (FROM_HIDDEN || STAGE) { return sc[e]; }
  return abs(scores[base + e]);   // raw h·R2 rows may come straight from a matmul
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let t = wid.x + wid.y * nwg.x;
  if (t >= p.T) { return; }   // uniform per workgroup
  let base = t * p.E;          // this token's tok_rows
  let sb = (p.t0 + t) * p.E;   // its scores
  if (FROM_HIDDEN) {
    let hb = (p.t0 + t) * p.w;
    for (var e = tid; e < p.E; e += WG) {
      var s = 0.0;
      for (var j = 0u; j < p.w; j++) { s = fma(scores[hb + j], r2[j * p.E + e], s); }
      sc[e] = abs(s);
    }
    workgroupBarrier();
  } else if (STAGE) {
    // top-k ranks read every score E times: from workgroup memory, not global
    for (var e = tid; e < p.E; e += WG) { sc[e] = abs(scores[sb + e]); }
    workgroupBarrier();
  }
  var m = 0.0;
  for (var e = tid; e < p.E; e += WG) { m = max(m, score(sb, e)); }
  red[tid] = m;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) { red[tid] = max(red[tid], red[tid + s]); }
    workgroupBarrier();
  }
  let thr = p.tau * red[0];
  var n = 0u;   // selected so far (uniform)
  for (var e0 = 0u; e0 < p.E; e0 += WG) {
    let e = e0 + tid;
    var sel = 0u;
    if (e < p.E) {
      let r = score(sb, e);
      if (p.mode == 0u) {
        sel = select(0u, 1u, r >= thr);
      } else {
        var rank = 0u;
        for (var j = 0u; j < p.E; j++) {
          let q = score(sb, j);
          if (q > r || (q == r && j < e)) { rank++; }
        }
        sel = select(0u, 1u, rank < p.k);
      }
    }
    // Exclusive prefix sum of the flags keeps pairs in ascending expert order per token.
    scan[tid] = sel;
    workgroupBarrier();
    for (var off = 1u; off < WG; off <<= 1u) {
      var v = 0u;
      if (tid >= off) { v = scan[tid - off]; }
      workgroupBarrier();
      scan[tid] += v;
      workgroupBarrier();
    }
    if (sel == 1u) {
      let slot = atomicAdd(&counts[p.counts_off + e], 1u);
      lists[e * p.cap + slot] = p.t0 + t;
      tok_rows[base + n + scan[tid] - 1u] = e * p.cap + slot;
    }
    n += scan[WG - 1u];
    workgroupBarrier();
  }
  if (tid == 0u) { tok_k[t] = n; }
}
