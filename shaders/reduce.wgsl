// reduce.wgsl — sum / mean / max / argmax along one axis.
//
// The input is read as a 4-d strided array [rows, outer, len, inner] (inner stride 1):
//   x(r, o, k, i) = x[xOff + r*rStride + o*oStride + k*kStride + i]
// which covers every axis of a population view (rows = P with rStride = rowStride) and the
// population axis itself (rows = outer = 1, len = P, kStride = rowStride, inner = rowNumel).
// Output element n = (r*outer + o)*inner + i, n < outputs, packed from index 0.
//
// Two schedules:
//   direct    one invocation per output loops over the whole axis (len elements).
//   split     for long axes: pass 1 (`*_partial`) gives invocation t = n*splits + s the chunk
//             k in [s*chunk, min((s+1)*chunk, len)) and writes a pair to `out`:
//               sum: (compensated sum, its compensation)   max: (value, index as f32)
//             pass 2 (`*_combine`) reads those pairs (bound as `x`, rows = outer = inner = 1)
//             and folds the `splits` pairs of each output in chunk order.
//
// Sums use Neumaier's compensated summation in f32. NaN and infinities are not trusted to the
// arithmetic (this compiler assumes finite math: `v != v` folds to false, and the compensation
// of an infinite term is NaN): the hot loop tracks the largest magnitude bit pattern, and a
// range that holds a non-finite value is scanned again for flags (NaN, +Infinity, -Infinity),
// which decide the result as IEEE would. A pass-1 pair holding a non-finite sum carries it as
// that value with compensation 0.
// max/argmax take the first maximum (torch) and treat NaN as larger than everything (the first
// NaN wins); NaN is detected on the bit pattern.
//
// Bindings (every entry point):
//   0  x    storage, read        f32  input (or the pass-1 pairs, [outputs, splits, 2])
//   1  out  storage, read_write  f32  [outputs] results, or [outputs, splits, 2] pairs
//   2  p    uniform              Params
//
// Dispatch: ceil(outputs * splits / WG) workgroups of WG invocations (splits = 1 except in
// pass 1), folded into x/y with x <= 65535; linear id = gid.x + gid.y * num_workgroups.x * WG.

override WG: u32 = 64u;

struct Params {
  outputs: u32,  // rows * outer * inner
  perRow: u32,   // outer * inner
  inner: u32,
  len: u32,      // length of the reduced axis
  xOff: u32,
  rStride: u32,
  oStride: u32,
  kStride: u32,
  chunk: u32,    // axis elements per pass-1 invocation
  splits: u32,   // pass-1 invocations per output (pairs per output in pass 2)
  divisor: f32,  // 1 for sum, len for mean
  argIndex: u32, // max kernels: 1 writes the index (argmax), 0 the value (max)
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

fn linear_id(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// Address of x(r, o, 0, i) for output n.
fn base_of(n: u32) -> u32 {
  let r = n / p.perRow;
  let rem = n - r * p.perRow;
  let o = rem / p.inner;
  let i = rem - o * p.inner;
  return p.xOff + r * p.rStride + o * p.oStride + i;
}

fn is_nan(v: f32) -> bool {
  let bits = bitcast<u32>(v);
  return (bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0u;
}

fn is_finite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

// Flags of a non-finite value: 1 NaN, 2 +Infinity, 4 -Infinity; 0 when finite.
fn special_bits(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  if ((b & 0x7f800000u) != 0x7f800000u) { return 0u; }
  if ((b & 0x007fffffu) != 0u) { return 1u; }
  return select(2u, 4u, b >= 0x80000000u);
}

// The IEEE sum of the non-finite values whose flags are `flags` (nonzero).
fn special_value(flags: u32) -> f32 {
  if ((flags & 1u) != 0u || (flags & 6u) == 6u) { return quiet_nan(); }
  return bitcast<f32>(select(0xff800000u, 0x7f800000u, flags == 2u));
}

// A compensated sum of finite values and the flags of the non-finite ones.
struct Sum {
  acc: vec2f,
  flags: u32,
}

fn add_value(s: Sum, v: f32) -> Sum {
  let f = special_bits(v);
  if (f != 0u) { return Sum(s.acc, s.flags | f); }
  return Sum(neumaier(s.acc, v), s.flags);
}

// The result of a sum divided by `p.divisor`.
fn finish(s: Sum) -> f32 {
  if (s.flags != 0u) { return special_value(s.flags); }
  return total(s.acc) / p.divisor;
}

// Neumaier step: acc = (sum, compensation).
fn neumaier(acc: vec2f, v: f32) -> vec2f {
  let t = acc.x + v;
  let c = select((v - t) + acc.x, (acc.x - t) + v, abs(acc.x) >= abs(v));
  return vec2f(t, acc.y + c);
}

// sum + compensation; a sum that overflowed is returned as is (its compensation is NaN).
fn total(acc: vec2f) -> f32 {
  return select(acc.x, acc.x + acc.y, is_finite(acc.x));
}

// True when v replaces best: NaN beats everything, ties keep the earlier element.
fn better(v: f32, best: f32) -> bool {
  return !is_nan(best) && (is_nan(v) || v > best);
}

// The hot loop only tracks the largest magnitude bit pattern; the range is scanned again for
// the flags in the rare case that it holds a non-finite value.
fn sum_range(base: u32, k0: u32, k1: u32) -> Sum {
  var acc = vec2f(0.0, 0.0);
  var top = 0u;
  for (var k = k0; k < k1; k++) {
    let v = x[base + k * p.kStride];
    acc = neumaier(acc, v);
    top = max(top, bitcast<u32>(v) & 0x7fffffffu);
  }
  var flags = 0u;
  if (top >= 0x7f800000u) {
    for (var k = k0; k < k1; k++) {
      flags |= special_bits(x[base + k * p.kStride]);
    }
  }
  return Sum(acc, flags);
}

// (value, index) of the first maximum of x(.., k, ..) for k in [k0, k1), k1 > k0.
fn max_range(base: u32, k0: u32, k1: u32) -> vec2f {
  var best = x[base + k0 * p.kStride];
  var at = k0;
  for (var k = k0 + 1u; k < k1; k++) {
    let v = x[base + k * p.kStride];
    if (better(v, best)) {
      best = v;
      at = k;
    }
  }
  return vec2f(best, f32(at));
}

@compute @workgroup_size(WG)
fn sum_direct(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = linear_id(gid, nwg);
  if (n >= p.outputs) { return; }
  out[n] = finish(sum_range(base_of(n), 0u, p.len));
}

@compute @workgroup_size(WG)
fn sum_partial(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linear_id(gid, nwg);
  if (t >= p.outputs * p.splits) { return; }
  let n = t / p.splits;
  let k0 = (t - n * p.splits) * p.chunk;
  let s = sum_range(base_of(n), k0, min(k0 + p.chunk, p.len));
  let special = s.flags != 0u;
  out[2u * t] = select(s.acc.x, special_value(s.flags), special);
  out[2u * t + 1u] = select(s.acc.y, 0.0, special);
}

@compute @workgroup_size(WG)
fn sum_combine(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = linear_id(gid, nwg);
  if (n >= p.outputs) { return; }
  var s = Sum(vec2f(0.0, 0.0), 0u);
  var comp = 0.0;
  for (var j = 0u; j < p.splits; j++) {
    let at = 2u * (n * p.splits + j);
    s = add_value(s, x[at]);
    comp += x[at + 1u];
  }
  out[n] = finish(Sum(vec2f(s.acc.x, s.acc.y + comp), s.flags));
}

@compute @workgroup_size(WG)
fn max_direct(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = linear_id(gid, nwg);
  if (n >= p.outputs) { return; }
  let best = max_range(base_of(n), 0u, p.len);
  out[n] = select(best.x, best.y, p.argIndex == 1u);
}

@compute @workgroup_size(WG)
fn max_partial(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linear_id(gid, nwg);
  if (t >= p.outputs * p.splits) { return; }
  let n = t / p.splits;
  let k0 = (t - n * p.splits) * p.chunk;
  let best = max_range(base_of(n), k0, min(k0 + p.chunk, p.len));
  out[2u * t] = best.x;
  out[2u * t + 1u] = best.y;
}

@compute @workgroup_size(WG)
fn max_combine(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = linear_id(gid, nwg);
  if (n >= p.outputs) { return; }
  let first = 2u * n * p.splits;
  var best = x[first];
  var at = x[first + 1u];
  for (var s = 1u; s < p.splits; s++) {
    let v = x[first + 2u * s];
    if (better(v, best)) {
      best = v;
      at = x[first + 2u * s + 1u];
    }
  }
  out[n] = select(best, at, p.argIndex == 1u);
}
