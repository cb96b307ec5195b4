// Backward of y = relu(x): dx = dy ⊙ (y > 0) (ReLU'(0) = 0, as in PyTorch), for dy, y [rows, cols].
// With trans = 1 the result is written transposed, [cols, rows]: the left operand of the weight gradient
// dW1ᵀ = dxᵀ·x, which saves a transpose dispatch. One thread per output element.

struct Params { rows: u32, cols: u32, trans: u32, _p0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let g = (wid.x + wid.y * nwg.x) * 256u + li;
  if (g >= p.rows * p.cols) { return; }
  var i = g;
  // Transposed: output element g = (c, r) reads input (r, c); writes stay coalesced.
  if (p.trans == 1u) { i = (g % p.rows) * p.cols + g / p.rows; }
  out[g] = select(0.0, dy[i], y[i] > 0.0);
}
