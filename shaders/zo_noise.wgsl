// zo_noise.wgsl — library (no bindings, no entry points): perturbation noise drawn in place
// from the counter-based generator for the derivative-free optimizers. Kernels that use it
// are built as RANDOM_WGSL + this file + the kernel (src/optim/_zo_kernels.ts), so noise is
// regenerated from its coordinates when needed again instead of being stored:
//
//   noise(j; id, counter) = sampler(lane j & 3 of rng_block(seed, stream, j >> 2, id, counter))
//
// j is the element's index inside a parameter row (a value never depends on how the row is
// split into segments), `id` names the candidate and `counter` is the step.
// Samplers (kind): 0 normal N(0, 1), 1 uniform U(-1, 1), 2 Rademacher ±1.

fn zo_noise4(kind: u32, seed: u32, stream: u32, block: u32, id: u32, counter: u32) -> vec4f {
  let bits = rng_block(seed, stream, block, id, counter);
  if (kind == 0u) { return rng_normal4(bits); }
  if (kind == 1u) { return rng_uniform4(bits) * 2.0 - 1.0; }
  return rng_rademacher4(bits);
}
