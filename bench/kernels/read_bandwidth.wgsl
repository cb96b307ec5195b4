// Device ceiling: stream a large buffer once (vec4 loads, grid-stride loop) and write one partial sum
// per thread, so the loads cannot be optimised away. Bytes read / time = read bandwidth.
struct Params {
  n: u32, // vec4 elements
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let stride = nwg.x * WG;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var i = gid.x;
  // two independent loads in flight per iteration
  for (; i + stride < p.n; i += 2u * stride) {
    acc0 += src[i];
    acc1 += src[i + stride];
  }
  if (i < p.n) {
    acc0 += src[i];
  }
  let s = acc0 + acc1;
  dst[gid.x] = s.x + s.y + s.z + s.w;
}
