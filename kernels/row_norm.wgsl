// out[r] = ‖x[r, :]‖₂ for rows whose index is listed as selected: used at calibration to measure each
// expert's output norm (the router's regression target). One workgroup per row.

struct Params { rows: u32, cols: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG = 64u;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= p.rows) { return; }
  var s = 0.0;
  for (var c = tid; c < p.cols; c += WG) { let v = x[r * p.cols + c]; s = fma(v, v, s); }
  red[tid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (tid < k) { red[tid] += red[tid + k]; }
    workgroupBarrier();
  }
  if (tid == 0u) { out[r] = sqrt(red[0]); }
}
