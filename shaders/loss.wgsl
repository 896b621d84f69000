// loss.wgsl — softmax, log-softmax, cross-entropy, accuracy count and mean squared error.
//
// Logits / predictions are read per population row r and vector b as
//   x[xOff + r*xStride + b*classes + c]      (c < classes; xStride 0 shares x between rows)
// and targets (class indices stored as f32 for cross-entropy and accuracy, values for MSE) as
//   t[tOff + r*tStride + b*tStep]            (cross-entropy/accuracy: tStep 1, one per vector;
//                                             MSE: classes = 1, one per element)
// Outputs are packed from oOff (src/ops/loss.ts may split a call whose tensors exceed one
// storage binding into dispatches over ranges of rows or vectors, each with its offsets).
//
// Softmax subtracts the vector's maximum before exp, so ±1e4 logits do not overflow. A vector
// holding NaN, or whose maximum is ±Infinity, gives NaN everywhere (as torch does). NaN is
// detected on the bit pattern because this compiler folds `v != v` to false.
// Cross-entropy of vector b: (m - x[target]) + log(sum_c exp(x[c] - m)), m = max_c x[c]; a
// target that is NaN, not an integer or outside [0, classes) gives NaN.
// Reductions add the finite terms and flag the others, so a row sum is NaN, +Infinity or
// -Infinity exactly when IEEE arithmetic would make it so (this compiler assumes finite math).
//
// Bindings (every entry point):
//   0  x    storage, read        f32  logits / predictions [rows?, batch, classes]
//   1  t    storage, read        f32  targets [rows?, batch] (softmax: any buffer, unused)
//   2  out  storage, read_write  f32  see each entry point
//   3  p    uniform              Params
//
// Dispatch:
//   softmax, log_softmax, cross_entropy_each, squared_error_each: one invocation per vector
//     (per element for squared_error_each), ceil(rows*batch / WG) workgroups of WG, folded
//     into x/y (linear id = gid.x + gid.y * num_workgroups.x * WG).
//   cross_entropy_rows, accuracy_rows, squared_error_rows: one workgroup of RWG invocations per
//     population row, `rows` workgroups folded into x/y. Invocation l takes vectors
//     l, l + RWG, ...; the RWG partial results are folded by invocation 0 in a fixed order, so
//     every row sums its terms in exactly the same order (rows that differ by a tiny
//     perturbation differ by the perturbation's effect, not by summation noise). Sums are
//     Neumaier-compensated.

override WG: u32 = 64u;
const RWG: u32 = 64u;

struct Params {
  rows: u32,
  batch: u32,    // vectors per row (elements per row for MSE)
  classes: u32,  // vector length (1 for MSE)
  xOff: u32,
  xStride: u32,
  tOff: u32,
  tStride: u32,
  divisor: f32,  // reductions: 1 for "sum", batch (or elements) for "mean"
  oOff: u32,     // first output element
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> t: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> wsum: array<vec2f, RWG>;
var<workgroup> wcount: array<u32, RWG>;

const NAN_BITS: u32 = 0x7fc00000u;

fn linear_id(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn row_id(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.x + wid.y * nwg.x;
}

fn is_nan(v: f32) -> bool {
  let bits = bitcast<u32>(v);
  return (bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0u;
}

fn is_finite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

// Made at run time: Chrome's WGSL compiler (Tint) refuses NaN and infinity as the value of a
// constant expression such as bitcast<f32>(NAN_BITS).
fn nan() -> f32 {
  var bits = NAN_BITS;
  return bitcast<f32>(bits);
}

fn neumaier(acc: vec2f, v: f32) -> vec2f {
  let s = acc.x + v;
  let c = select((v - s) + acc.x, (acc.x - s) + v, abs(acc.x) >= abs(v));
  return vec2f(s, acc.y + c);
}

// sum + compensation; a sum that overflowed is returned as is (its compensation is NaN).
fn total(acc: vec2f) -> f32 {
  return select(acc.x, acc.x + acc.y, is_finite(acc.x));
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
  if ((flags & 1u) != 0u || (flags & 6u) == 6u) { return nan(); }
  return bitcast<f32>(select(0xff800000u, 0x7f800000u, flags == 2u));
}

// Adds a term to a row's compensated sum; a non-finite term only sets its flag.
fn add_term(acc: ptr<function, vec2f>, flags: ptr<function, u32>, term: f32) {
  let f = special_bits(term);
  if (f != 0u) {
    *flags |= f;
  } else {
    *acc = neumaier(*acc, term);
  }
}

fn x_base(r: u32, b: u32) -> u32 {
  return p.xOff + r * p.xStride + b * p.classes;
}

fn t_at(r: u32, b: u32) -> f32 {
  return t[p.tOff + r * p.tStride + b];
}

// Index of the first maximum of the vector at `base`; NaN counts as the maximum.
fn arg_max(base: u32) -> u32 {
  var best = x[base];
  var at = 0u;
  for (var c = 1u; c < p.classes; c++) {
    let v = x[base + c];
    if (!is_nan(best) && (is_nan(v) || v > best)) {
      best = v;
      at = c;
    }
  }
  return at;
}

// (m, sum_c exp(x[c] - m)) of the vector at `base`, m = max_c x[c]; m is NaN when the vector
// holds NaN. The sum lies in [1, classes], so no compensation is needed.
fn max_sum_exp(base: u32) -> vec2f {
  let m = x[base + arg_max(base)];
  var s = 0.0;
  for (var c = 0u; c < p.classes; c++) {
    s += exp(x[base + c] - m);
  }
  return vec2f(m, s);
}

// The class a target names, or -1 when it is NaN, not an integer or outside [0, classes).
fn class_of(label: f32) -> i32 {
  let ok = !is_nan(label) && label >= 0.0 && label < f32(p.classes) && floor(label) == label;
  return select(-1, i32(label), ok);
}

// Cross-entropy of vector b of row r; NaN for a bad target or non-finite logits maximum.
fn cross_entropy(r: u32, b: u32) -> f32 {
  let base = x_base(r, b);
  let k = class_of(t_at(r, b));
  let ms = max_sum_exp(base);
  if (k < 0 || !is_finite(ms.x)) { return nan(); }
  return (ms.x - x[base + u32(k)]) + log(ms.y);
}

@compute @workgroup_size(WG)
fn softmax(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let v = linear_id(gid, nwg);
  if (v >= p.rows * p.batch) { return; }
  let r = v / p.batch;
  let base = x_base(r, v - r * p.batch);
  let o = p.oOff + v * p.classes;
  let ms = max_sum_exp(base);
  if (!is_finite(ms.x)) {
    for (var c = 0u; c < p.classes; c++) { out[o + c] = nan(); }
    return;
  }
  for (var c = 0u; c < p.classes; c++) {
    out[o + c] = exp(x[base + c] - ms.x) / ms.y;
  }
}

@compute @workgroup_size(WG)
fn log_softmax(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let v = linear_id(gid, nwg);
  if (v >= p.rows * p.batch) { return; }
  let r = v / p.batch;
  let base = x_base(r, v - r * p.batch);
  let o = p.oOff + v * p.classes;
  let ms = max_sum_exp(base);
  if (!is_finite(ms.x)) {
    for (var c = 0u; c < p.classes; c++) { out[o + c] = nan(); }
    return;
  }
  let lse = log(ms.y);
  for (var c = 0u; c < p.classes; c++) {
    out[o + c] = (x[base + c] - ms.x) - lse;
  }
}

// out[r*batch + b] = cross-entropy of vector b of row r ("none" reduction).
@compute @workgroup_size(WG)
fn cross_entropy_each(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let v = linear_id(gid, nwg);
  if (v >= p.rows * p.batch) { return; }
  let r = v / p.batch;
  out[p.oOff + v] = cross_entropy(r, v - r * p.batch);
}

// Folds the RWG partial sums of the workgroup in a fixed order; invocation 0 writes out[r]:
// the sum divided by p.divisor, or the IEEE value of the non-finite terms if there were any.
fn finish_sum(l: u32, r: u32, acc: vec2f, flags: u32) {
  wsum[l] = acc;
  wcount[l] = flags;
  workgroupBarrier();
  if (l != 0u) { return; }
  var all = vec2f(0.0, 0.0);
  var comp = 0.0;
  var special = 0u;
  for (var i = 0u; i < RWG; i++) {
    all = neumaier(all, wsum[i].x);
    comp += wsum[i].y;
    special |= wcount[i];
  }
  if (special != 0u) {
    out[p.oOff + r] = special_value(special);
  } else {
    out[p.oOff + r] = total(vec2f(all.x, all.y + comp)) / p.divisor;
  }
}

// out[r] = sum (or mean) over b of the cross-entropy of vector b of row r.
@compute @workgroup_size(RWG)
fn cross_entropy_rows(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let r = row_id(wid, nwg);
  if (r >= p.rows) { return; }
  var acc = vec2f(0.0, 0.0);
  var flags = 0u;
  for (var b = lid.x; b < p.batch; b += RWG) {
    add_term(&acc, &flags, cross_entropy(r, b));
  }
  finish_sum(lid.x, r, acc, flags);
}

// out[r] = number of vectors b of row r whose first maximum is at class t[r, b].
@compute @workgroup_size(RWG)
fn accuracy_rows(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let r = row_id(wid, nwg);
  if (r >= p.rows) { return; }
  var hits = 0u;
  for (var b = lid.x; b < p.batch; b += RWG) {
    let k = class_of(t_at(r, b));
    if (k >= 0 && u32(k) == arg_max(x_base(r, b))) { hits++; }
  }
  wcount[lid.x] = hits;
  workgroupBarrier();
  if (lid.x != 0u) { return; }
  var all = 0u;
  for (var i = 0u; i < RWG; i++) { all += wcount[i]; }
  out[p.oOff + r] = f32(all);
}

// (a - b)^2 with IEEE results for non-finite inputs decided on the bit patterns: NaN when
// either is NaN or both are the same infinity, +Infinity when one is infinite.
fn squared_error(a: f32, b: f32) -> f32 {
  let fa = special_bits(a);
  let fb = special_bits(b);
  if (fa == 0u && fb == 0u) {
    let d = a - b;
    return d * d;
  }
  if (((fa | fb) & 1u) != 0u || fa == fb) { return nan(); }
  var inf_bits = 0x7f800000u;
  return bitcast<f32>(inf_bits);
}

// out[r*batch + j] = (x[r, j] - t[r, j])^2 ("none" reduction; classes = 1).
@compute @workgroup_size(WG)
fn squared_error_each(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let v = linear_id(gid, nwg);
  if (v >= p.rows * p.batch) { return; }
  let r = v / p.batch;
  let j = v - r * p.batch;
  out[p.oOff + v] = squared_error(x[x_base(r, j)], t_at(r, j));
}

// out[r] = sum (or mean) over j of (x[r, j] - t[r, j])^2 (classes = 1).
@compute @workgroup_size(RWG)
fn squared_error_rows(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let r = row_id(wid, nwg);
  if (r >= p.rows) { return; }
  var acc = vec2f(0.0, 0.0);
  var flags = 0u;
  for (var j = lid.x; j < p.batch; j += RWG) {
    add_term(&acc, &flags, squared_error(x[x_base(r, j)], t_at(r, j)));
  }
  finish_sum(lid.x, r, acc, flags);
}
