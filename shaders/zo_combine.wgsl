// zo_combine.wgsl — adds a combination of regenerated perturbations to a row (prefixed with
// RANDOM_WGSL and zo_noise.wgsl): the gradient estimates of RandomGrad, RandomBestGrad and SPSA.
//
//   out[outOff + j] = (accumulate ? out[outOff + j] : 0) + mult * Σ_{k<K} coef[coefOff + k] * f(noise(j; idBase + k))
//
// for elements j in [start, start + count); f(n) = n, or 1 / n with `reciprocal` (SPSA's
// element-wise division by the perturbation). The coefficients come from a decide kernel on
// the GPU, so no value is read back; a zero coefficient skips its noise.
//
// Bindings:
//   0  coef       storage, read        f32  coefficients
//   1  zo_stored  storage, read        f32  noise of a user-supplied sampler (kind 3), else unused
//   2  out        storage, read_write  f32  gradient or parameter buffer
//   3  p          uniform              Params
//
// Dispatch: one invocation per block of 4 elements: x·z = ceil(ceil(count / 4) / WG)
// workgroups (x ≤ 65535), y = 1.

override WG: u32 = 64u;

struct Params {
  outOff: u32,
  start: u32,
  count: u32,
  seed: u32,
  stream: u32,
  counter: u32,
  idBase: u32,
  kind: u32,
  k: u32,
  coefOff: u32,
  reciprocal: u32,
  accumulate: u32,
  mult: f32,
}

@group(0) @binding(0) var<storage, read> coef: array<f32>;
@group(0) @binding(1) var<storage, read> zo_stored: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn combine(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let b = (wid.x + wid.z * nwg.x) * WG + lid.x;
  let first = p.start + 4u * b;
  if (4u * b >= p.count) { return; }
  var acc = vec4f(0.0);
  for (var k = 0u; k < p.k; k++) {
    let c = coef[p.coefOff + k];
    if (c == 0.0) { continue; }
    let n = zo_noise4(p.kind, p.seed, p.stream, first >> 2u, p.idBase + k, p.counter);
    if (p.reciprocal != 0u) { acc += c / n; } else { acc += c * n; }
  }
  let end = p.start + p.count;
  for (var lane = 0u; lane < 4u; lane++) {
    let j = first + lane;
    if (j < end) {
      let o = p.outOff + j;
      out[o] = select(0.0, out[o], p.accumulate != 0u) + p.mult * acc[lane];
    }
  }
}
