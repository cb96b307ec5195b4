// Backward of the router loss L = mean over b, k of u·(|z[b, k]| − t[b, k])², u = `under` where |z| < t and
// 1 elsewhere, at the router's pre-abs output z = h·R2 [B, E]: g = scale · u · (|z| − t) · sign(z) with
// sign(0) = 0 (PyTorch's convention) and scale = 2 / (B·E); also gT = gᵀ [E, B] (the left operand of
// dR2ᵀ = gᵀ·h, so no transpose kernel is needed) and loss[offset + b] = Σ_k u·(|z| − t)² (the host sums
// rows in float64).
// One thread per row: E is at most a few hundred, and this is tiny next to the matmuls around it.

struct Params { rows: u32, cols: u32, offset: u32, scale: f32, under: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> t: array<f32>;
@group(0) @binding(3) var<storage, read_write> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> gT: array<f32>;
@group(0) @binding(5) var<storage, read_write> loss: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let b = (wid.x + wid.y * nwg.x) * 64u + li;
  if (b >= p.rows) { return; }
  var s = 0.0;
  for (var k = 0u; k < p.cols; k++) {
    let i = b * p.cols + k;
    let zi = z[i];
    let r = abs(zi) - t[i];
    let wr = select(r, p.under * r, r < 0.0);
    s = fma(wr, r, s);
    // +0 (not −0) where z = 0, like the reference.
    let gi = select(0.0, p.scale * wr * sign(zi), zi != 0.0);
    g[i] = gi;
    gT[k * p.rows + b] = gi;
  }
  loss[p.offset + b] = s;
}
