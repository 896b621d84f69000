// optim_lion.wgsl — fused Lion update over a run of a flat parameter row
// (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", Algorithm 2).
//
//   c = beta1 * m + (1 - beta1) * g
//   x = x * decay - lr * sign(c)        (decay = 1 - lr * weightDecay)
//   m = beta2 * m + (1 - beta2) * g
//
// Bindings:
//   0  grad   storage, read        f32  gradient row, run starts at gOff
//   1  param  storage, read_write  f32  parameter row, run starts at pOff
//   2  m      storage, read_write  f32  momentum (one row), run starts at sOff
//   3  p      uniform              Params
//
// Dispatch: ceil(count / WG) workgroups folded into (x, y); one element per invocation.

override WG: u32 = 64u;

struct Params {
  pOff: u32,
  gOff: u32,
  sOff: u32,
  count: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  oneMinusBeta1: f32,
  oneMinusBeta2: f32,
  decay: f32,
}

@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn lion(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) { return; }
  let g = grad[p.gOff + i];
  let s = p.sOff + i;
  let c = m[s] * p.beta1 + p.oneMinusBeta1 * g;
  param[p.pOff + i] = param[p.pOff + i] * p.decay - p.lr * sign(c);
  m[s] = m[s] * p.beta2 + p.oneMinusBeta2 * g;
}
