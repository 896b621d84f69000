// swarm_gravity.wgsl — SwarmOfOptimizers' gravity: pulls every member's row toward a center row.
//
//   d = x − center;  x −= gravity · sign(d) · |d|^power      (power 1: x −= gravity · d)
//
// Bindings:
//   0  center  storage, read        f32  [stride] the center (best member or mean of members)
//   1  rows    storage, read_write  f32  the parameter buffer: members at homeOff + i·stride
//   2  p       uniform              Params
//
// Dispatch: x·z = ceil(stride / WG) workgroups (x ≤ 65535), y = number of members.

override WG: u32 = 64u;

struct Params {
  homeOff: u32,
  stride: u32,
  gravity: f32,
  power: f32,
}

@group(0) @binding(0) var<storage, read> center: array<f32>;
@group(0) @binding(1) var<storage, read_write> rows: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn gravity(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let j = (wid.x + wid.z * nwg.x) * WG + lid.x;
  if (j >= p.stride) { return; }
  let o = p.homeOff + wid.y * p.stride + j;
  let d = rows[o] - center[j];
  var pull = d;
  if (p.power != 1.0) { pull = sign(d) * pow(abs(d), p.power); }
  rows[o] = rows[o] - p.gravity * pull;
}
