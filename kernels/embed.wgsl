// out[r, c] = wte[ids[r], c] + wpe[pos[r], c] (if has_pos) + wtt[types[r], c] (if has_type).
// One thread per output element; ids are clamped so a bad id can never read out of bounds.

struct Params { rows: u32, cols: u32, vocab: u32, has_pos: u32, n_pos: u32, has_type: u32, n_type: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> pos: array<u32>;
@group(0) @binding(3) var<storage, read> types: array<u32>;
@group(0) @binding(4) var<storage, read> wte: array<f32>;
@group(0) @binding(5) var<storage, read> wpe: array<f32>;
@group(0) @binding(6) var<storage, read> wtt: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let g = (wid.x + wid.y * nwg.x) * 256u + li;
  if (g >= p.rows * p.cols) { return; }
  let r = g / p.cols;
  let c = g % p.cols;
  var v = wte[min(ids[r], p.vocab - 1u) * p.cols + c];
  if (p.has_pos == 1u) { v += wpe[min(pos[r], p.n_pos - 1u) * p.cols + c]; }
  if (p.has_type == 1u) { v += wtt[min(types[r], p.n_type - 1u) * p.cols + c]; }
  out[g] = v;
}
