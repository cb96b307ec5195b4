// Per-token merge of expert outputs: y[t, c] = res[t, c] + b2[c] + Σ_{j < k_t} pair_out[tok_rows[t*E + j], c]
// (pairs in ascending expert order, so the sum is deterministic).

struct Params { T: u32, E: u32, d: u32, has_res: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pair_out: array<f32>;
@group(0) @binding(2) var<storage, read> tok_rows: array<u32>;
@group(0) @binding(3) var<storage, read> tok_k: array<u32>;
@group(0) @binding(4) var<storage, read> b2: array<f32>;
@group(0) @binding(5) var<storage, read> res: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let g = (wid.x + wid.y * nwg.x) * 256u + li;
  if (g >= p.T * p.d) { return; }
  let t = g / p.d;
  let c = g % p.d;
  var s = 0.0;
  let k = tok_k[t];
  for (var j = 0u; j < k; j++) { s += pair_out[tok_rows[t * p.E + j] * p.d + c]; }
  var v = s + b2[c];
  if (p.has_res == 1u) { v += res[g]; }
  y[g] = v;
}
