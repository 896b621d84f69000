// es_update.wgsl — the updates of the evolution strategies, element by element, from the
// utilities the rank kernel wrote into the state and the candidates' noise regenerated from its
// coordinates (prefixed with RANDOM_WGSL; see es_sample.wgsl for z and the mirrored pairs).
//
// Every entry point first forms, for the 4 elements j of its block,
//   A_j = Σ_k a_k z_kj   and   B_j = Σ_k b_k (z_kj² − 1)
// over K terms: mirrored pairs (a_k = u⁺ − u⁻, b_k = u⁺ + u⁻, z of pair k) or single
// candidates (a_k = b_k = u_k), u the utilities at state[utilOff ..]. A term whose
// coefficients are both 0 is skipped (sep-CMA weighs only its μ best). Then:
//
//   openai_grad     grad_j = c0·A_j + c1·m_j               (c0 = −1/(P·σ), c1 = weight decay)
//   pgpe            ∇m_j = s_j·c0·A_j, ∇s_j = s_j·c0·B_j   (c0 = 1/P)
//                   grad_j = −∇m_j;  s_j ← clamp(s_j + c1·∇s_j, s_j(1 − c2), s_j(1 + c2))
//   snes            m_j ← m_j + c0·s_j·A_j;  s_j ← s_j·exp(c1·B_j)   (c0 = η_m, c1 = η_s / 2)
//   sepcma_moments  ⟨z⟩_j = A_j, zz_j = B_j (kept in aux), p_σ,j ← c0·p_σ,j + c1·A_j
//   sepcma_update   after sepcma_sigma: D_j = √C_j, y_j = D_j⟨z⟩_j,
//                   p_c,j ← (1 − cc)·p_c,j + hσ·c2·y_j,  c1a = c1(1 − (1 − hσ²)·cc(2 − cc)),
//                   C_j ← (1 − c1a − cμ·Σw)·C_j + c1·p_c,j² + cμ·C_j·(zz_j + Σw),
//                   m_j ← m_j + σ_old·y_j
//   sepcma_sigma    (one invocation) ‖p_σ‖ = √state[normAt], hσ = ‖p_σ‖ / √(1 − (1 − cs)^(2g))
//                   < (1.4 + 2/(N + 1))·χ_N,  σ_old = σ,  σ ← σ·exp(clamp(cs/damps·(‖p_σ‖/χ_N − 1), ±1))
//
// Offsets into state, rows, grad, vec and aux come from TypeScript (src/optim/es/_kernels.ts).
//
// Bindings:
//   0  state  storage, read_write  f32  the strategy's state record (utilities, σ, hσ, …)
//   1  rows   storage, read_write  f32  the parameter buffer (the center row at centerOff)
//   2  grad   storage, read_write  f32  the gradient buffer (the center row's at gradOff)
//   3  vec    storage, read_write  f32  per-parameter stdevs s (PGPE, SNES) or variances C (sep-CMA)
//   4  aux    storage, read_write  f32  sep-CMA's paths and moments: rows p_σ, p_c, ⟨z⟩, zz of `stride`
//   5  p      uniform              Params
//
// Dispatch: x·z = ceil(ceil(count / 4) / WG) workgroups (x ≤ 65535), one invocation per block of
// 4 elements; sepcma_sigma: one workgroup. K is an override constant (a loop bound).

override WG: u32 = 64u;
override K: u32 = 1u;

struct Params {
  centerOff: u32,
  gradOff: u32,
  vecOff: u32,
  stride: u32,
  start: u32,
  count: u32,
  seed: u32,
  stream: u32,
  counter: u32,
  utilOff: u32,
  mirrored: u32,
  normAt: u32,
  sigmaAt: u32,
  sigmaOldAt: u32,
  hsigAt: u32,
  n: u32,
  c0: f32,
  c1: f32,
  c2: f32,
  cs: f32,
  damps: f32,
  cc: f32,
  cmu: f32,
  sumW: f32,
}

@group(0) @binding(0) var<storage, read_write> state: array<f32>;
@group(0) @binding(1) var<storage, read_write> rows: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> vec: array<f32>;
@group(0) @binding(4) var<storage, read_write> aux: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

struct Sums {
  a: vec4f,
  b: vec4f,
}

fn weighted(block: u32) -> Sums {
  var s = Sums(vec4f(0.0), vec4f(0.0));
  for (var k = 0u; k < K; k++) {
    var ca: f32;
    var cb: f32;
    if (p.mirrored != 0u) {
      let up = state[p.utilOff + 2u * k];
      let um = state[p.utilOff + 2u * k + 1u];
      ca = up - um;
      cb = up + um;
    } else {
      ca = state[p.utilOff + k];
      cb = ca;
    }
    if (ca == 0.0 && cb == 0.0) { continue; }
    let z = rng_normal4(rng_block(p.seed, p.stream, block, k, p.counter));
    s.a += ca * z;
    s.b += cb * (z * z - 1.0);
  }
  return s;
}

fn block_of(wid: vec3u, lid: vec3u, nwg: vec3u) -> u32 {
  return (wid.x + wid.z * nwg.x) * WG + lid.x;
}

@compute @workgroup_size(WG)
fn openai_grad(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let b = block_of(wid, lid, nwg);
  let first = p.start + 4u * b;
  if (4u * b >= p.count) { return; }
  let s = weighted(first >> 2u);
  let end = p.start + p.count;
  for (var lane = 0u; lane < 4u; lane++) {
    let j = first + lane;
    if (j < end) { grad[p.gradOff + j] = p.c0 * s.a[lane] + p.c1 * rows[p.centerOff + j]; }
  }
}

@compute @workgroup_size(WG)
fn pgpe(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let b = block_of(wid, lid, nwg);
  let first = p.start + 4u * b;
  if (4u * b >= p.count) { return; }
  let s = weighted(first >> 2u);
  let end = p.start + p.count;
  for (var lane = 0u; lane < 4u; lane++) {
    let j = first + lane;
    if (j < end) {
      let sj = vec[p.vecOff + j];
      grad[p.gradOff + j] = -sj * p.c0 * s.a[lane];
      let moved = sj + p.c1 * sj * p.c0 * s.b[lane];
      vec[p.vecOff + j] = clamp(moved, sj * (1.0 - p.c2), sj * (1.0 + p.c2));
    }
  }
}

@compute @workgroup_size(WG)
fn snes(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let b = block_of(wid, lid, nwg);
  let first = p.start + 4u * b;
  if (4u * b >= p.count) { return; }
  let s = weighted(first >> 2u);
  let end = p.start + p.count;
  for (var lane = 0u; lane < 4u; lane++) {
    let j = first + lane;
    if (j < end) {
      let sj = vec[p.vecOff + j];
      rows[p.centerOff + j] = rows[p.centerOff + j] + p.c0 * sj * s.a[lane];
      vec[p.vecOff + j] = sj * exp(p.c1 * s.b[lane]);
    }
  }
}

@compute @workgroup_size(WG)
fn sepcma_moments(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let b = block_of(wid, lid, nwg);
  let first = p.start + 4u * b;
  if (4u * b >= p.count) { return; }
  let s = weighted(first >> 2u);
  let end = p.start + p.count;
  for (var lane = 0u; lane < 4u; lane++) {
    let j = first + lane;
    if (j < end) {
      aux[2u * p.stride + j] = s.a[lane];
      aux[3u * p.stride + j] = s.b[lane];
      aux[j] = p.c0 * aux[j] + p.c1 * s.a[lane];
    }
  }
}

@compute @workgroup_size(1)
fn sepcma_sigma() {
  let norm = sqrt(state[p.normAt]);
  let n = f32(p.n);
  let chi = sqrt(n) * (1.0 - 1.0 / (4.0 * n) + 1.0 / (21.0 * n * n));
  let g = f32(p.counter + 1u);
  let corrected = norm / sqrt(1.0 - pow(1.0 - p.cs, 2.0 * g));
  state[p.hsigAt] = select(0.0, 1.0, corrected < (1.4 + 2.0 / (n + 1.0)) * chi);
  let sigma = state[p.sigmaAt];
  state[p.sigmaOldAt] = sigma;
  state[p.sigmaAt] = sigma * exp(clamp(p.cs / p.damps * (norm / chi - 1.0), -1.0, 1.0));
}

@compute @workgroup_size(WG)
fn sepcma_update(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let b = block_of(wid, lid, nwg);
  let first = p.start + 4u * b;
  if (4u * b >= p.count) { return; }
  let hsig = state[p.hsigAt];
  let sigmaOld = state[p.sigmaOldAt];
  let c1a = p.c1 * (1.0 - (1.0 - hsig * hsig) * p.cc * (2.0 - p.cc));
  let end = p.start + p.count;
  for (var lane = 0u; lane < 4u; lane++) {
    let j = first + lane;
    if (j < end) {
      let c = vec[p.vecOff + j];
      let y = sqrt(c) * aux[2u * p.stride + j];
      let pc = (1.0 - p.cc) * aux[p.stride + j] + hsig * p.c2 * y;
      aux[p.stride + j] = pc;
      let zz = aux[3u * p.stride + j];
      vec[p.vecOff + j] = (1.0 - c1a - p.cmu * p.sumW) * c + p.c1 * pc * pc +
        p.cmu * c * (zz + p.sumW);
      rows[p.centerOff + j] = rows[p.centerOff + j] + sigmaOld * y;
    }
  }
}
