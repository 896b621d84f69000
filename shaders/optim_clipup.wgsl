// optim_clipup.wgsl — ClipUp (Toklu et al. 2020, "ClipUp: A Simple and Powerful Optimizer for
// Distribution-based Policy Evolution"), over runs of a flat parameter row, in two passes around
// two global norms that sumSquares (norm.wgsl) writes into `norms`:
//
//   velocity:  v = momentum·v − lr·g/‖g‖             (‖g‖ = √norms[0]; a zero gradient adds 0)
//   apply:     v = v·min(1, maxSpeed/‖v‖);  x = x + v  (‖v‖ = √norms[1])
//
// Bindings:
//   0  grad   storage, read        f32  gradient row, run starts at gOff
//   1  param  storage, read_write  f32  parameter row, run starts at pOff
//   2  v      storage, read_write  f32  velocity (one row), run starts at sOff
//   3  norms  storage, read_write  f32  [‖g‖², ‖v‖²]
//   4  p      uniform              Params
//
// Dispatch: ceil(count / WG) workgroups folded into (x, y); one element per invocation.

override WG: u32 = 64u;

struct Params {
  pOff: u32,
  gOff: u32,
  sOff: u32,
  count: u32,
  lr: f32,
  momentum: f32,
  maxSpeed: f32,
}

@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> norms: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn velocity(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) { return; }
  let norm = sqrt(norms[0]);
  let step = select(0.0, p.lr * grad[p.gOff + i] / norm, norm > 0.0);
  v[p.sOff + i] = p.momentum * v[p.sOff + i] - step;
}

@compute @workgroup_size(WG)
fn apply(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) { return; }
  let speed = sqrt(norms[1]);
  let scale = select(1.0, p.maxSpeed / speed, speed > p.maxSpeed);
  let moved = v[p.sOff + i] * scale;
  v[p.sOff + i] = moved;
  param[p.pOff + i] = param[p.pOff + i] + moved;
}
