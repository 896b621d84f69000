// zo_update_grad.wgsl — UpdateToGrad: the update an optimizer just made becomes a gradient.
//
//   g = (backup[j] − rows[home + j]) · lr          (minus the update: SGD(lr = 1) reproduces it)
//   grad[home + j] = add ? grad[home + j] + g : g
//   rows[home + j] = reset ? backup[j] : rows[home + j]
//
// for elements j in [start, start + count) of the row.
//
// Bindings:
//   0  backup  storage, read        f32  the home row before the wrapped step (one row)
//   1  rows    storage, read_write  f32  the parameter buffer
//   2  grad    storage, read_write  f32  the gradient buffer
//   3  p       uniform              Params
//
// Dispatch: ceil(count / WG) workgroups folded into (x, y); one element per invocation.

override WG: u32 = 64u;

struct Params {
  homeOff: u32,
  start: u32,
  count: u32,
  add: u32,
  reset: u32,
  lr: f32,
}

@group(0) @binding(0) var<storage, read> backup: array<f32>;
@group(0) @binding(1) var<storage, read_write> rows: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn update_to_grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) { return; }
  let j = p.start + i;
  let before = backup[j];
  let after = rows[p.homeOff + j];
  let g = (before - after) * p.lr;
  let o = p.homeOff + j;
  grad[o] = select(g, grad[o] + g, p.add != 0u);
  if (p.reset != 0u) { rows[o] = before; }
}
