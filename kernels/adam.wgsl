// One AdamW step in place over a parameter vector (decoupled weight decay, bias-corrected moments):
//   m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²;  p = p·decay − lr·(m / c1) / (√(v / c2) + eps)
// with decay = 1 − lr·weight_decay, c1 = 1 − β1^step, c2 = 1 − β2^step computed on the host (they change
// every step, so they travel in the uniform and one pipeline serves the whole run). One thread per element.

struct Params {
  n: u32, _p0: u32, _p1: u32, _p2: u32,
  lr: f32, decay: f32, c1: f32, c2: f32,
  beta1: f32, beta2: f32, omb1: f32, omb2: f32, // omb = 1 − β, from the host: 1 − f32(0.999) is off by 1e-5
  eps: f32, _p3: f32, _p4: f32, _p5: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  if (i >= p.n) { return; }
  let gi = grad[i];
  let mi = p.beta1 * m[i] + p.omb1 * gi;
  let vi = p.beta2 * v[i] + p.omb2 * gi * gi;
  m[i] = mi;
  v[i] = vi;
  param[i] = param[i] * p.decay - p.lr * (mi / p.c1) / (sqrt(vi / p.c2) + p.eps);
}
