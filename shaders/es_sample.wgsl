// es_sample.wgsl — an evolution strategy's candidate rows, drawn from the center row with noise
// regenerated from its coordinates (prefixed with RANDOM_WGSL), so the noise is never stored:
//
//   row k, element j:  x = m[j] + sign_k · σ · scale_j · z_j(id_k)     (k = kBase + wid.y)
//   z_j(id) = lane j & 3 of rng_normal4(rng_block(seed, stream, j >> 2, id, counter))
//   mirrored: id_k = k / 2, sign = + for even k, − for odd k;  else id_k = k, sign = +
//   σ = sigmaMult · (state[sigmaAt] if SIGMA_FROM_STATE else 1)
//   scale_j = 1 (SCALE_NONE), vec[j] (SCALE_VECTOR: a stdev per parameter), or √vec[j]
//            (SCALE_SQRT: vec holds variances, sep-CMA's diagonal C)
//
// Bindings:
//   0  vec     storage, read        f32  per-parameter stdevs or variances (unused for SCALE_NONE)
//   1  state   storage, read        f32  the strategy's state record (σ at sigmaAt)
//   2  center  storage, read        f32  a copy of the center row
//   3  rows    storage, read_write  f32  candidate rows (a range of the parameter buffer): row
//                                        kBase + y at dstOff + y·stride
//   4  p       uniform              Params
//
// Dispatch: x·z = ceil(ceil(count / 4) / WG) workgroups (x ≤ 65535), y = rows of this chunk;
// one invocation per block of 4 elements of one row. A population whose rows do not fit one
// storage binding is written in chunks of rows (kBase), each binding only its rows.

override WG: u32 = 64u;

// Scale kinds and flags (TypeScript reads these values: src/optim/es/_kernels.ts).
const SCALE_NONE: u32 = 0u;
const SCALE_VECTOR: u32 = 1u;
const SCALE_SQRT: u32 = 2u;
const MIRRORED: u32 = 1u;
const SIGMA_FROM_STATE: u32 = 2u;

struct Params {
  kBase: u32,
  dstOff: u32,
  stride: u32,
  vecOff: u32,
  start: u32,
  count: u32,
  seed: u32,
  stream: u32,
  counter: u32,
  scaleKind: u32,
  flags: u32,
  sigmaAt: u32,
  sigmaMult: f32,
}

@group(0) @binding(0) var<storage, read> vec: array<f32>;
@group(0) @binding(1) var<storage, read> state: array<f32>;
@group(0) @binding(2) var<storage, read> center: array<f32>;
@group(0) @binding(3) var<storage, read_write> rows: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn sample(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let b = (wid.x + wid.z * nwg.x) * WG + lid.x;
  let first = p.start + 4u * b;
  if (4u * b >= p.count) { return; }
  let k = p.kBase + wid.y;
  var id = k;
  var sigma = p.sigmaMult;
  if ((p.flags & SIGMA_FROM_STATE) != 0u) { sigma *= state[p.sigmaAt]; }
  if ((p.flags & MIRRORED) != 0u) {
    id = k / 2u;
    if ((k & 1u) == 1u) { sigma = -sigma; }
  }
  let z = rng_normal4(rng_block(p.seed, p.stream, first >> 2u, id, p.counter));
  let dst = p.dstOff + wid.y * p.stride;
  let end = p.start + p.count;
  for (var lane = 0u; lane < 4u; lane++) {
    let j = first + lane;
    if (j < end) {
      var scale = 1.0;
      if (p.scaleKind == SCALE_VECTOR) { scale = vec[p.vecOff + j]; }
      if (p.scaleKind == SCALE_SQRT) { scale = sqrt(vec[p.vecOff + j]); }
      rows[dst + j] = center[j] + sigma * scale * z[lane];
    }
  }
}
