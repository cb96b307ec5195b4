// Per-row cross-entropy: loss[r] = logsumexp(logits[r, :]) − logits[r, target[r]]; rows whose target
// is 0xffffffff (no next token) get 0. One workgroup per row: language-model evaluation reads back
// one number per token instead of a vocabulary-wide row.

struct Params { rows: u32, vocab: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;

const WG = 256u;
var<workgroup> red: array<f32, WG>;

fn reduce(t: u32, v: f32, is_max: bool) -> f32 {
  red[t] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { red[t] = select(red[t] + red[t + s], max(red[t], red[t + s]), is_max); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= p.rows) { return; }
  let base = r * p.vocab;
  var m = -3.0e38;
  for (var v = t; v < p.vocab; v += WG) { m = max(m, logits[base + v]); }
  m = reduce(t, m, true);
  var s = 0.0;
  for (var v = t; v < p.vocab; v += WG) { s += exp(logits[base + v] - m); }
  s = reduce(t, s, false);
  if (t == 0u) {
    let tg = targets[r];
    if (tg >= p.vocab) { loss[r] = 0.0; } else { loss[r] = log(s) + m - logits[base + tg]; }
  }
}
