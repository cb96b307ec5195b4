// out[b, c] = Σ_t mask[b, t] · x[b*T + t, c] / max(1, Σ_t mask[b, t]): masked mean over tokens.

struct Params { batch: u32, seq: u32, cols: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let g = gid.x;
  if (g >= p.batch * p.cols) { return; }
  let b = g / p.cols;
  let c = g % p.cols;
  var s = 0.0;
  var n = 0u;
  for (var t = 0u; t < p.seq; t++) {
    if (mask[b * p.seq + t] != 0u) {
      s += x[(b * p.seq + t) * p.cols + c];
      n++;
    }
  }
  out[g] = s / f32(max(n, 1u));
}
