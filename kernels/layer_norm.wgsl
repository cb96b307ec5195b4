// y[r, :] = (x[r, :] - mean) / sqrt(var + eps) * gamma + beta, one workgroup per row.
// Two passes over the row (mean, then centred variance) for accuracy on large-offset inputs.

struct Params { rows: u32, cols: u32, eps: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const WG = 128u;
var<workgroup> red: array<f32, WG>;

fn reduce_sum(t: u32, v: f32) -> f32 {
  red[t] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { red[t] += red[t + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var s = 0.0;
  for (var c = t; c < p.cols; c += WG) { s += x[base + c]; }
  let mean = reduce_sum(t, s) / f32(p.cols);
  var v = 0.0;
  for (var c = t; c < p.cols; c += WG) { let d = x[base + c] - mean; v += d * d; }
  let rstd = inverseSqrt(reduce_sum(t, v) / f32(p.cols) + p.eps);
  for (var c = t; c < p.cols; c += WG) {
    y[base + c] = (x[base + c] - mean) * rstd * gamma[c] + beta[c];
  }
}
