// dst[d_off + b*d_b + t*d_t + c] = src[s_off + b*s_b + t*s_t + c] for b < nb, t < nt, c < nc.
// Used for KV-cache appends, CLS / last-token row gathers and column slices of packed tensors.

struct Params {
  nb: u32, nt: u32, nc: u32,
  s_off: u32, s_b: u32, s_t: u32,
  d_off: u32, d_b: u32, d_t: u32,
  _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let g = (wid.x + wid.y * nwg.x) * 256u + li;
  if (g >= p.nb * p.nt * p.nc) { return; }
  let c = g % p.nc;
  let bt = g / p.nc;
  let t = bt % p.nt;
  let b = bt / p.nt;
  dst[p.d_off + b * p.d_b + t * p.d_t + c] = src[p.s_off + b * p.s_b + t * p.s_t + c];
}
