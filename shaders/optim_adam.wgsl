// optim_adam.wgsl — fused Adam / AdamW update over a run of a flat parameter row
// (torch.optim.Adam and torch.optim.AdamW, torch 1.13 single-tensor arithmetic).
//
//   g = maximize ? -g : g
//   AdamW: x *= decay (= 1 - lr * weightDecay)      Adam: g += weightDecay * x
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g²
//   vmax = max(vmax, v) (amsgrad)
//   x -= stepSize * m / (sqrt(amsgrad ? vmax : v) / bc2Sqrt + eps)
// with stepSize = lr / (1 - beta1^t) and bc2Sqrt = sqrt(1 - beta2^t) computed on the CPU.
//
// Bindings:
//   0  grad   storage, read        f32  gradient row, run starts at gOff
//   1  param  storage, read_write  f32  parameter row, run starts at pOff
//   2  m      storage, read_write  f32  first moment (one row), run starts at sOff
//   3  v      storage, read_write  f32  second moment, run starts at sOff
//   4  vmax   storage, read_write  f32  running max of v (amsgrad only), run starts at sOff
//   5  p      uniform              Params
//
// Dispatch: ceil(count / WG) workgroups folded into (x, y); one element per invocation.

override WG: u32 = 64u;

struct Params {
  pOff: u32,
  gOff: u32,
  sOff: u32,
  count: u32,
  beta1: f32,
  beta2: f32,
  oneMinusBeta1: f32,
  oneMinusBeta2: f32,
  eps: f32,
  weightDecay: f32,
  decay: f32,
  stepSize: f32,
  bc2Sqrt: f32,
  decoupled: u32,
  amsgrad: u32,
  maximize: u32,
}

@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> vmax: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn adam(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) { return; }
  var g = grad[p.gOff + i];
  if (p.maximize != 0u) { g = -g; }
  var x = param[p.pOff + i];
  if (p.decoupled != 0u) {
    x = x * p.decay;
  } else if (p.weightDecay != 0.0) {
    g = g + p.weightDecay * x;
  }
  let s = p.sOff + i;
  let mt = m[s] * p.beta1 + p.oneMinusBeta1 * g;
  let vt = v[s] * p.beta2 + p.oneMinusBeta2 * (g * g);
  m[s] = mt;
  v[s] = vt;
  var second = vt;
  if (p.amsgrad != 0u) {
    second = max(vmax[s], vt);
    vmax[s] = second;
  }
  let denom = sqrt(second) / p.bc2Sqrt + p.eps;
  param[p.pOff + i] = x - p.stepSize * (mt / denom);
}
