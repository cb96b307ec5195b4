// The activations of the matmul-family epilogues, by ACTIVATION_CODE (src/ops/activation.ts): spliced into
// a kernel where it has the line `//!include activation` (src/gpu/kernels.ts); the CPU references apply
// the same formulas (activation.ts).

fn erf_approx(x: f32) -> f32 {
  // Abramowitz & Stegun 7.1.26, |error| < 1.5e-7 (same as the CPU reference).
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return select(-y, y, x >= 0.0);
}

// 0 none, 1 relu, 2 gelu (erf), 3 gelu_tanh, 4 tanh.
fn activate(code: u32, x: f32) -> f32 {
  switch code {
    case 1u: { return max(x, 0.0); }
    case 2u: { return 0.5 * x * (1.0 + erf_approx(x * 0.7071067811865476)); }
    case 3u: { return 0.5 * x * (1.0 + tanh(clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0))); }
    case 4u: { return tanh(clamp(x, -15.0, 15.0)); }
    default: { return x; }
  }
}
