// out[r] = index of the largest x[r, :], the first one on ties: greedy decoding picks the next token on the
// GPU, so the host reads 4 bytes instead of a logits row and the next step can be recorded before the read.
// NaN follows the host's sequential scan (`best = i` when x[i] > x[best]): a NaN is never picked, except at
// index 0, which then wins. One workgroup per row; each thread scans a strided slice (coalesced loads),
// then a tree reduction that keeps the lower index on equal values.

struct Params { rows: u32, cols: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

const WG = 256u;
var<workgroup> bestVal: array<f32, WG>;
var<workgroup> bestIdx: array<u32, WG>;

// Bit test, not `v != v`: WGSL lets compilers assume floats are never NaN.
fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= p.rows) { return; }
  let base = r * p.cols;
  // Thread-local: NaN-free maximum of the slice; idx stays 0xffffffff while the slice has no number.
  var val = 0.0;
  var idx = 0xffffffffu;
  for (var c = tid; c < p.cols; c += WG) {
    let v = x[base + c];
    if (!isNan(v) && (idx == 0xffffffffu || v > val)) { val = v; idx = c; }
  }
  bestVal[tid] = val;
  bestIdx[tid] = idx;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (tid < k) {
      let oi = bestIdx[tid + k];
      let ov = bestVal[tid + k];
      let mi = bestIdx[tid];
      let mv = bestVal[tid];
      if (oi != 0xffffffffu && (mi == 0xffffffffu || ov > mv || (ov == mv && oi < mi))) {
        bestVal[tid] = ov;
        bestIdx[tid] = oi;
      }
    }
    workgroupBarrier();
  }
  if (tid == 0u) {
    let i = bestIdx[0];
    out[r] = select(i, 0u, i == 0xffffffffu || isNan(x[base]));
  }
}
