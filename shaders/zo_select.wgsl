// zo_select.wgsl — copies the candidate row a decide kernel chose onto the home row
// (searches and walks), without reading the choice back.
//
//   m = i32(state[chosenAt]);  if m >= 0: rows[homeOff + j] = rows[candOff + m*candStride + j]
//
// for elements j in [start, start + count) of the row.
//
// Bindings:
//   0  state  storage, read        f32  optimizer state holding the choice (−1: keep home)
//   1  rows   storage, read_write  f32  the parameter buffer
//   2  p      uniform              Params
//
// Dispatch: ceil(count / WG) workgroups folded into (x, y); one element per invocation.

override WG: u32 = 64u;

struct Params {
  chosenAt: u32,
  homeOff: u32,
  candOff: u32,
  candStride: u32,
  start: u32,
  count: u32,
}

@group(0) @binding(0) var<storage, read> state: array<f32>;
@group(0) @binding(1) var<storage, read_write> rows: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn select_row(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let m = i32(state[p.chosenAt]);
  if (i >= p.count || m < 0) { return; }
  let j = p.start + i;
  rows[p.homeOff + j] = rows[p.candOff + u32(m) * p.candStride + j];
}
