// zo_perturb.wgsl — writes candidate parameter rows around a base row (prefixed with
// RANDOM_WGSL and zo_noise.wgsl).
//
//   rows[dstOff + k*dstStride + j] = keep * rows[baseOff + j] + sign_k * scale * noise(j; id_k)
//
// for elements j in [start, start + count) of the row and candidates k < K. With `pairs`
// (SPSA's ± pairs) id_k = idBase + k / 2 and sign_k = (-1)^k; otherwise id_k = idBase + k and
// sign_k = 1. keep = 0 replaces the row by the noise (random search).
//
// Bindings:
//   0  zo_stored  storage, read        f32  noise of a user-supplied sampler (kind 3), else unused
//   1  rows       storage, read_write  f32  the parameter buffer [rows, stride]; base and
//                                           candidates are rows of it (offsets in elements)
//   2  p          uniform              Params
//
// Dispatch: one invocation per block of 4 elements: x·z = ceil(ceil(count / 4) / WG)
// workgroups (x ≤ 65535), y = K.

override WG: u32 = 64u;

struct Params {
  baseOff: u32,
  dstOff: u32,
  dstStride: u32,
  start: u32,
  count: u32,
  seed: u32,
  stream: u32,
  counter: u32,
  idBase: u32,
  kind: u32,
  pairs: u32,
  keep: f32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read> zo_stored: array<f32>;
@group(0) @binding(1) var<storage, read_write> rows: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn perturb(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let b = (wid.x + wid.z * nwg.x) * WG + lid.x;
  let first = p.start + 4u * b;
  if (4u * b >= p.count) { return; }
  let k = wid.y;
  var id = p.idBase + k;
  var scale = p.scale;
  if (p.pairs != 0u) {
    id = p.idBase + k / 2u;
    if ((k & 1u) == 1u) { scale = -scale; }
  }
  let n = zo_noise4(p.kind, p.seed, p.stream, first >> 2u, id, p.counter);
  let dst = p.dstOff + k * p.dstStride;
  let end = p.start + p.count;
  for (var lane = 0u; lane < 4u; lane++) {
    let j = first + lane;
    // keep = 0 replaces the row: never 0 · NaN from a bad home row.
    if (j < end) {
      let base = select(p.keep * rows[p.baseOff + j], 0.0, p.keep == 0.0);
      rows[dst + j] = base + scale * n[lane];
    }
  }
}
