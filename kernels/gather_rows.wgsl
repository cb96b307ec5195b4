// out[r, c] = src[idx[offset + r], c]: mini-batch rows picked through an index vector (router training
// uploads one shuffled index vector per epoch instead of the permuted data). One thread per output element;
// indices are clamped to the source so a bad one can never read out of bounds.

struct Params { rows: u32, cols: u32, offset: u32, src_rows: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let g = (wid.x + wid.y * nwg.x) * 256u + li;
  if (g >= p.rows * p.cols) { return; }
  let r = g / p.cols;
  let c = g % p.cols;
  out[g] = src[min(idx[p.offset + r], p.src_rows - 1u) * p.cols + c];
}
