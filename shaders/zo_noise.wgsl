// zo_noise.wgsl — library (no bindings, no entry points): perturbation noise drawn in place
// from the counter-based generator for the derivative-free optimizers. Kernels that use it
// are built as RANDOM_WGSL + this file + the kernel (src/optim/population/noise.ts), so noise is
// regenerated from its coordinates when needed again instead of being stored:
//
//   noise(j; id, counter) = sampler(lane j & 3 of rng_block(seed, stream, j >> 2, id, counter))
//
// j is the element's index inside a parameter row (a value never depends on how the row is
// split into segments), `id` names the candidate and `counter` is the step.
// Samplers (kind, below; TypeScript reads these values): normal N(0, 1), uniform U(-1, 1),
// Rademacher ±1, stored: values a user-supplied sampler wrote for this step, read from
// `zo_stored` [ids, ZO_STRIDE]. Every kernel that includes this file declares `zo_stored` (a
// read-only f32 storage binding).

const SAMPLER_NORMAL: u32 = 0u;
const SAMPLER_UNIFORM: u32 = 1u;
const SAMPLER_RADEMACHER: u32 = 2u;
const SAMPLER_STORED: u32 = 3u;

override ZO_STRIDE: u32 = 0u;

fn zo_noise4(kind: u32, seed: u32, stream: u32, block: u32, id: u32, counter: u32) -> vec4f {
  if (kind == SAMPLER_STORED) {
    let o = id * ZO_STRIDE + 4u * block;
    return vec4f(zo_stored[o], zo_stored[o + 1u], zo_stored[o + 2u], zo_stored[o + 3u]);
  }
  let bits = rng_block(seed, stream, block, id, counter);
  if (kind == SAMPLER_NORMAL) { return rng_normal4(bits); }
  if (kind == SAMPLER_UNIFORM) { return rng_uniform4(bits) * 2.0 - 1.0; }
  return rng_rademacher4(bits);
}
