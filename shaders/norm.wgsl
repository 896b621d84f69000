// norm.wgsl — the sum of squares of a run of a buffer, in two passes that suit both llvmpipe
// (few invocations, each with a long loop, no workgroup memory) and real GPUs (many invocations):
//
//   partial:  part[i] = Σ x[off + j]² for j in [i·CHUNK, (i + 1)·CHUNK) ∩ [0, count)
//   total:    out[outAt] = (accumulate ? out[outAt] : 0) + Σ_i part[i]   (one invocation)
//
// Bindings:
//   0  x     storage, read        f32  the values
//   1  part  storage, read_write  f32  partial sums, one per chunk
//   2  out   storage, read_write  f32  the result at outAt
//   3  p     uniform              Params
//
// Dispatch: partial: ceil(chunks / WG) workgroups; total: one workgroup of one invocation.

override WG: u32 = 64u;
override CHUNK: u32 = 256u;

struct Params {
  off: u32,
  count: u32,
  chunks: u32,
  outAt: u32,
  accumulate: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn partial(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= p.chunks) { return; }
  var sum = 0.0;
  let begin = i * CHUNK;
  for (var j = 0u; j < CHUNK; j++) {
    let at = begin + j;
    if (at < p.count) {
      let v = x[p.off + at];
      sum += v * v;
    }
  }
  part[i] = sum;
}

@compute @workgroup_size(1)
fn total() {
  var sum = select(0.0, out[p.outAt], p.accumulate != 0u);
  for (var i = 0u; i < p.chunks; i++) { sum += part[i]; }
  out[p.outAt] = sum;
}
