// optim_sgd.wgsl — fused SGD update over a run of a flat parameter row (torch.optim.SGD).
//
//   d = maximize ? -g : g
//   d += weightDecay * x
//   if momentum != 0:
//     b = first ? d : momentum * b + (1 - dampening) * d      (torch's first-step rule)
//     d = nesterov ? d + momentum * b : b
//   x -= lr * d
//
// Bindings:
//   0  grad   storage, read        f32  gradient row, run starts at gOff
//   1  param  storage, read_write  f32  parameter row, run starts at pOff
//   2  buf    storage, read_write  f32  momentum buffer (one row), run starts at sOff; unused if momentum == 0
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
  momentum: f32,
  oneMinusDampening: f32,
  weightDecay: f32,
  nesterov: u32,
  maximize: u32,
  first: u32,
}

@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> buf: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn sgd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) { return; }
  var d = grad[p.gOff + i];
  if (p.maximize != 0u) { d = -d; }
  let x = param[p.pOff + i];
  if (p.weightDecay != 0.0) { d = d + p.weightDecay * x; }
  if (p.momentum != 0.0) {
    var b = d;
    if (p.first == 0u) { b = buf[p.sOff + i] * p.momentum + p.oneMinusDampening * d; }
    buf[p.sOff + i] = b;
    if (p.nesterov != 0u) { d = d + p.momentum * b; } else { d = b; }
  }
  param[p.pOff + i] = x - p.lr * d;
}
