// ViT embeddings: out[b*(np+1) + 0, d] = cls[d] + pos[0, d];
// out[b*(np+1) + 1 + p, d] = bias[d] + pos[1 + p, d] + Σ_{ch,ky,kx} pix[b, ch, py*P+ky, px*P+kx] · w[d, ch, ky, kx]
// (a stride-P convolution, written directly: it runs once per image).

struct Params { batch: u32, ch: u32, height: u32, width: u32, psz: u32, dim: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pix: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> cls: array<f32>;
@group(0) @binding(5) var<storage, read> pos: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let g = (wid.x + wid.y * nwg.x) * 256u + li;
  let gx = p.width / p.psz;
  let np = gx * (p.height / p.psz);
  let tokens = np + 1u;
  if (g >= p.batch * tokens * p.dim) { return; }
  let d = g % p.dim;
  let bt = g / p.dim;
  let t = bt % tokens;
  let b = bt / tokens;
  if (t == 0u) {
    out[g] = cls[d] + pos[d];
    return;
  }
  let pi = t - 1u;
  let y0 = (pi / gx) * p.psz;
  let x0 = (pi % gx) * p.psz;
  var s = bias[d];
  for (var c = 0u; c < p.ch; c++) {
    let pb = ((b * p.ch + c) * p.height + y0) * p.width + x0;
    let wb = ((d * p.ch + c) * p.psz) * p.psz;
    for (var ky = 0u; ky < p.psz; ky++) {
      for (var kx = 0u; kx < p.psz; kx++) {
        s = fma(pix[pb + ky * p.width + kx], w[wb + ky * p.psz + kx], s);
      }
    }
  }
  out[g] = s + pos[t * p.dim + d];
}
