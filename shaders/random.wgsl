// random.wgsl — counter-based random numbers: Philox4x32-10 (Salmon et al., SC 2011).
//
// Part 1 (library, up to the "end of library" marker) holds pure functions with an `rng_`
// prefix and no bindings, so another kernel can prepend this text (`RANDOM_WGSL` in
// src/ops/random.ts) and draw its perturbations in place instead of reading them from memory.
// Part 2 holds the fill entry points.
//
// Element j of population row `row` at draw `counter` is lane j & 3 of the Philox block with
//   key (seed, stream), counter (j >> 2, row, counter, 0).
// Bit-exact CPU twin: src/rng.ts (randomBitsAt, randomUniformAt, randomNormalAt,
// randomRademacherAt).
//
// Bindings (every entry point):
//   0  out  storage, read_write  u32 (the f32 tensor's words)  [rows, rowNumel] at off, row
//                                                                stride `stride`
//   1  p    uniform              Params
//
// For each row r < rows and element j < rowNumel:
//   out[off + r*stride + j] = f(lane j & 3 of block (seed, stream; j >> 2, rowBase + r, counter))
// Floats are stored through bitcast<u32>, so `fill_bits` writes the exact u32 pattern.
//
// Dispatch: one invocation per Philox block (4 consecutive elements of one row);
// blocksPerRow = ceil(rowNumel / 4); ceil(rows * blocksPerRow / WG) workgroups folded into
// x (<= 65535) and y; linear group index = wid.x + wid.y * num_workgroups.x.

// ---------------------------------------------------------------- library (Philox4x32-10)

const RNG_M0: u32 = 0xD2511F53u;
const RNG_M1: u32 = 0xCD9E8D57u;
const RNG_W0: u32 = 0x9E3779B9u;
const RNG_W1: u32 = 0xBB67AE85u;
// 2^-24: a 24-bit integer times this is an exact f32 in [0, 1].
const RNG_INV_2_24: f32 = 5.9604644775390625e-8;
const RNG_TWO_PI: f32 = 6.283185307179586;

// High 32 bits of the 64-bit product a * b (WGSL has no 64-bit integers): 16-bit halves.
fn rng_mulhi(a: u32, b: u32) -> u32 {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let mid = ((a0 * b0) >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
}

// Philox4x32-10: four u32 words for key (k.x, k.y) and the 128-bit counter c.
fn rng_philox(key: vec2u, ctr: vec4u) -> vec4u {
  var k = key;
  var x = ctr;
  for (var round = 0u; round < 10u; round++) {
    let hi0 = rng_mulhi(RNG_M0, x.x);
    let hi1 = rng_mulhi(RNG_M1, x.z);
    x = vec4u(hi1 ^ x.y ^ k.x, RNG_M1 * x.z, hi0 ^ x.w ^ k.y, RNG_M0 * x.x);
    k += vec2u(RNG_W0, RNG_W1);
  }
  return x;
}

// The block holding elements 4*block .. 4*block+3 of `row` at draw `counter`.
fn rng_block(seed: u32, stream: u32, block: u32, row: u32, counter: u32) -> vec4u {
  return rng_philox(vec2u(seed, stream), vec4u(block, row, counter, 0u));
}

// u32 -> [0, 1) with 24 bits (exact: an integer < 2^24 times 2^-24).
fn rng_uniform4(bits: vec4u) -> vec4f {
  return vec4f(bits >> vec4u(8u)) * RNG_INV_2_24;
}

// -2 ln(m * 2^-24) for integers m in [1, 2^24] (m = (bits >> 8) + 1: the twin's
// toUniformOpen), to about 2 f32 ulps relative on any adapter. Only IEEE add/mul/div are used:
// the built-in log may have an absolute error near ulp(1) (llvmpipe does), a large relative
// error for u close to 1, and the WGSL spec allows it.
//   m = x * 2^e with x in [sqrt(1/2), sqrt(2)), found exactly from the leading zeros;
//   ln x = 2 atanh(s), s = (x - 1) / (x + 1), |s| <= 0.172 (x - 1 is exact), series to s^9
//   (truncation < 1e-9 relative); ln 2 split into an exact high part and a low part.
fn rng_neg2log(m: vec2u) -> vec2f {
  let e0 = vec2i(31) - vec2i(countLeadingZeros(m));
  let x0 = ldexp(vec2f(m), -e0); // exact, in [1, 2)
  let big = x0 > vec2f(1.4142135);
  let x = select(x0, 0.5 * x0, big);
  let e = vec2f(e0 + select(vec2i(0), vec2i(1), big) - vec2i(24));
  let s = (x - 1.0) / (x + 1.0);
  let s2 = s * s;
  let lnx = 2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 / 9.0))));
  return -2.0 * (e * 0.693359375 + (e * -2.12194440e-4 + lnx));
}

// (cos, sin) of 2 pi k / 2^24 for two 24-bit integers k, packed (cos k.x, sin k.x, cos k.y,
// sin k.y), to about 1 f32 ulp on any adapter (the WGSL spec allows built-in sin/cos an
// absolute error of 2^-11). The nearest quarter turn q is taken exactly in integers, the rest
// is an angle in [-pi/4, pi/4] for Cephes' sinf/cosf polynomials; then a rotation by q.
fn rng_cos_sin_turns(k: vec2u) -> vec4f {
  let q = (k + vec2u(0x200000u)) >> vec2u(22u);
  let x = vec2f(vec2i(k) - vec2i(q << vec2u(22u))) * (RNG_TWO_PI * RNG_INV_2_24);
  let z = x * x;
  let s = x + x * z * ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1);
  let c = 1.0 - 0.5 * z +
    z * z * ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2);
  // rotate (c, s) by q quarter turns: one turn maps (c, s) to (-s, c)
  let odd = (q & vec2u(1u)) == vec2u(1u);
  let neg = (q & vec2u(2u)) == vec2u(2u);
  let c1 = select(c, -s, odd);
  let s1 = select(s, c, odd);
  let cr = select(c1, -c1, neg);
  let sr = select(s1, -s1, neg);
  return vec4f(cr.x, sr.x, cr.y, sr.y);
}

// Four standard normals: Box–Muller on the lane pairs (0, 1) and (2, 3); the radius comes
// from the even lane, the angle from the odd lane; cosine for even elements, sine for odd.
fn rng_normal4(bits: vec4u) -> vec4f {
  let radius = sqrt(rng_neg2log((bits.xz >> vec2u(8u)) + vec2u(1u)));
  let cs = rng_cos_sin_turns(bits.yw >> vec2u(8u));
  return vec4f(radius.x * cs.x, radius.x * cs.y, radius.y * cs.z, radius.y * cs.w);
}

// ±1 from the top bit (1 -> +1).
fn rng_rademacher4(bits: vec4u) -> vec4f {
  return select(vec4f(-1.0), vec4f(1.0), (bits >> vec4u(31u)) == vec4u(1u));
}

// ---------------------------------------------------------------- end of library

override WG: u32 = 64u;

struct Params {
  rows: u32,
  rowNumel: u32,
  blocksPerRow: u32,
  off: u32,
  stride: u32,
  seed: u32,
  stream: u32,
  counter: u32,
  rowBase: u32,
  // bits: unused; uniform: lo, span, top; normal: mean, std, -; rademacher: scale, -, -
  a: f32,
  b: f32,
  c: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> p: Params;

// Row, block and the block's bits of this invocation; `ok` is false past the last block.
struct Site {
  ok: bool,
  base: u32,
  count: u32,
  bits: vec4u,
}

fn site(wid: vec3u, lid: vec3u, nwg: vec3u) -> Site {
  let t = (wid.x + wid.y * nwg.x) * WG + lid.x;
  var s: Site;
  s.ok = t < p.rows * p.blocksPerRow;
  if (!s.ok) { return s; }
  let r = t / p.blocksPerRow;
  let block = t - r * p.blocksPerRow;
  s.base = p.off + r * p.stride + block * 4u;
  s.count = min(4u, p.rowNumel - block * 4u);
  s.bits = rng_block(p.seed, p.stream, block, p.rowBase + r, p.counter);
  return s;
}

fn store4(s: Site, v: vec4u) {
  for (var i = 0u; i < s.count; i++) { out[s.base + i] = v[i]; }
}

@compute @workgroup_size(WG)
fn fill_bits(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let s = site(wid, lid, nwg);
  if (s.ok) { store4(s, s.bits); }
}

// lo + span * u, capped at `top` (the largest f32 below hi) so rounding never returns hi.
@compute @workgroup_size(WG)
fn fill_uniform(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let s = site(wid, lid, nwg);
  if (s.ok) { store4(s, bitcast<vec4u>(min(p.a + p.b * rng_uniform4(s.bits), vec4f(p.c)))); }
}

// mean + std * z
@compute @workgroup_size(WG)
fn fill_normal(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let s = site(wid, lid, nwg);
  if (s.ok) { store4(s, bitcast<vec4u>(p.a + p.b * rng_normal4(s.bits))); }
}

// scale * (±1)
@compute @workgroup_size(WG)
fn fill_rademacher(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let s = site(wid, lid, nwg);
  if (s.ok) { store4(s, bitcast<vec4u>(p.a * rng_rademacher4(s.bits))); }
}
