// swarm_respawn.wgsl — SwarmOfOptimizers' respawn: the row of a dead member becomes a child
// of the best member (A) and the second best (B), read from copies of their rows made before
// (a dead second best may be overwritten in the same dispatch). Prefixed with RANDOM_WGSL.
//
// Per member i and tensor t the draws u = philox(seed, stream, t, i, counter) give:
//   u.x < crossoverP → crossover, else a copy of A
//   u.y picks the strategy: swap below cSwap, uniform below cUniform, onepoint below cOnepoint,
//        else mean (cumulative normalised weights)
//   u.z the swap coin;  per dim d, philox(seed, stream, 64 + 8t + d/4, i, counter) the cut k_d
//   swap: B if u.z < 1/2 else A                uniform: B or A per element (its own coin)
//   onepoint: B inside the leading block [:k1, :k2, ...] (k_d in [0, size_d − 2] for dims of
//             size > 1; dims of size 1 are taken whole), A elsewhere
//   mean: (A + B) / 2
// Elements outside every tensor (alignment gaps) copy A.
//
// Bindings:
//   0  state  storage, read        f32  swarm state (see swarm_rank.wgsl): member i's death flag at deadOff + i
//   1  shapes   storage, read        u32  per tensor 8 words: offset, numel, ndim, dims[4] (outer first), 0
//   2  rows   storage, read_write  f32  the parameter buffer; member i's row at homeOff + i·stride,
//                                      the parent copies A at aOff and B at aOff + stride
//   3  p      uniform              Params
//
// Dispatch: x·z = ceil(stride / (PER·WG)) workgroups (x ≤ 65535), y = number of members.

override WG: u32 = 64u;
// Number of tensors (loop bound): an override constant, because Mesa's lavapipe (22.x)
// recompiles a shader on every dispatch when a loop bound comes from the uniform buffer.
override TENSORS: u32 = 1u;
// Elements per invocation (strided by WG): most rows are not respawning and return at once, so
// fewer, fatter workgroups cut the launch overhead that dominates this kernel on llvmpipe.
override PER: u32 = 16u;

struct Params {
  deadOff: u32,
  homeOff: u32,
  aOff: u32,
  stride: u32,
  seed: u32,
  stream: u32,
  counter: u32,
  crossoverP: f32,
  cSwap: f32,
  cUniform: f32,
  cOnepoint: f32,
}

@group(0) @binding(0) var<storage, read> state: array<f32>;
@group(0) @binding(1) var<storage, read> shapes: array<u32>;
@group(0) @binding(2) var<storage, read_write> rows: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn in_block(t: u32, local: u32, i: u32) -> bool {
  let base = 8u * t;
  let ndim = shapes[base + 2u];
  var rest = local;
  var inside = true;
  // Walk dims from the innermost: idx_d = rest % size_d.
  for (var d = 0u; d < ndim; d++) {
    let dim = ndim - 1u - d;
    let size = shapes[base + 3u + dim];
    let idx = rest % size;
    rest = rest / size;
    if (size > 1u) {
      let bits = rng_block(p.seed, p.stream, 64u + 8u * t + dim / 4u, i, p.counter);
      let k = min(u32(rng_uniform4(bits)[dim % 4u] * f32(size - 1u)), size - 2u);
      if (idx >= k) { inside = false; }
    }
  }
  return inside;
}

@compute @workgroup_size(WG)
fn respawn(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let i = wid.y;
  if (state[p.deadOff + i] == 0.0) { return; }
  let first = (wid.x + wid.z * nwg.x) * PER * WG + lid.x;
  for (var e = 0u; e < PER; e++) {
    let j = first + e * WG;
    if (j < p.stride) { respawn_one(i, j); }
  }
}

// Element j of member i's row: a crossover of A and B.
fn respawn_one(i: u32, j: u32) {
  let a = rows[p.aOff + j];
  let b = rows[p.aOff + p.stride + j];
  var value = a;
  for (var t = 0u; t < TENSORS; t++) {
    let offset = shapes[8u * t];
    if (j < offset || j >= offset + shapes[8u * t + 1u]) { continue; }
    let u = rng_uniform4(rng_block(p.seed, p.stream, t, i, p.counter));
    if (u.x < p.crossoverP) {
      if (u.y < p.cSwap) {
        value = select(a, b, u.z < 0.5);
      } else if (u.y < p.cUniform) {
        let coin = rng_uniform4(rng_block(p.seed, p.stream ^ 0x5bd1e995u, j >> 2u, i, p.counter));
        value = select(a, b, coin[j & 3u] < 0.5);
      } else if (u.y < p.cOnepoint) {
        value = select(a, b, in_block(t, j - offset, i));
      } else {
        value = (a + b) * 0.5;
      }
    }
  }
  rows[p.homeOff + i * p.stride + j] = value;
}
