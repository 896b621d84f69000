// pool.wgsl — 2-D max and average pooling (NCHW, torch semantics) over population tensors.
//
// For every row r < rows, plane c < planes (images × channels) and output pixel (oy, ox):
//   max_pool2d: out = max over the window of x[r, c, oy*stride - pad + ky, ox*stride - pad + kx]
//               (padding is −∞, so it never wins; NaN propagates; with relu != 0 the result is
//               max(out, 0), NaN kept)
//   avg_pool2d: out = (sum over the window, padding read as 0) / (KS * KS)   (count_include_pad)
// The window is KS×KS, ky, kx < KS. Operands are addressed `off + r * stride + index` (elements).
//
// Bindings (both entry points):
//   0  x    storage, read        f32  [rows?, planes, h, w] at xOff, row stride xStride
//   1  out  storage, read_write  f32  [rows?, planes, ho, wo] at oOff, row stride oStride
//   2  p    uniform              Params
//
// Dispatch: x*y = ceil(planes*ho*runs / WG) workgroups (folded, x ≤ 65535), z = rows, where
// runs = ceil(wo / TW): each invocation computes TW consecutive outputs of one output row from
// the KS input rows under them, loaded once into registers (window loops are unrolled: KS, SX
// and TW are override constants). Windows too large for the registers (CACHED = false, TW = 1)
// read every element from memory.

override WG: u32 = 64u;
override KS: u32 = 2u;          // window size
override SX: u32 = 2u;          // stride
override TW: u32 = 4u;          // outputs per invocation along a row
override PADDED: bool = false;  // pad > 0: bounds-check the window
override CACHED: bool = true;   // the window fits MAXSPAN values: load each input once
const MAXSPAN: u32 = 64u;

struct Params {
  planes: u32,
  h: u32,
  w: u32,
  ho: u32,
  wo: u32,
  runs: u32,
  pad: u32,
  xOff: u32,
  xStride: u32,
  oOff: u32,
  oStride: u32,
  relu: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

// NaN test on the bit pattern: compilers may assume `v != v` is false (finite math).
fn is_nan(v: f32) -> bool {
  let bits = bitcast<u32>(v);
  return (bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0u;
}

// The run of TW outputs an invocation owns: plane c, output row oy, first column ox0.
struct Run {
  valid: bool,
  c: u32,
  oy: u32,
  ox0: u32,
}

fn run_of(wid: vec3u, lid: vec3u, nwg: vec3u) -> Run {
  let t = (wid.x + wid.y * nwg.x) * WG + lid.x;
  let perPlane = p.ho * p.runs;
  let c = t / perPlane;
  let rem = t - c * perPlane;
  let oy = rem / p.runs;
  return Run(c < p.planes, c, oy, (rem - oy * p.runs) * TW);
}

// Input value at row i, column j of the run's window span; `fill` where padded.
fn load_one(r: u32, run: Run, i: u32, j: u32, fill: f32) -> f32 {
  let iy = i32(run.oy * SX + i) - i32(p.pad);
  let ix = i32(run.ox0 * SX + j) - i32(p.pad);
  let idx = i32(p.xOff + r * p.xStride + run.c * p.h * p.w) + iy * i32(p.w) + ix;
  if (PADDED) {
    let inside = iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
    return select(fill, x[u32(max(idx, 0))], inside);
  }
  return x[u32(idx)];
}

// The KS input rows under the run, KS × ((TW - 1) * SX + KS) values, each loaded once
// (only when CACHED: the window fits MAXSPAN registers).
fn load_window(r: u32, run: Run, fill: f32) -> array<f32, MAXSPAN> {
  var v: array<f32, MAXSPAN>;
  if (CACHED) {
    let span = (TW - 1u) * SX + KS;
    for (var e = 0u; e < KS * span; e++) {
      let i = e / span;
      v[e] = load_one(r, run, i, e - i * span, fill);
    }
  }
  return v;
}

// Window element (i, j) of output q of the run.
fn element(v: array<f32, MAXSPAN>, r: u32, run: Run, q: u32, i: u32, j: u32, fill: f32) -> f32 {
  if (CACHED) { return v[i * ((TW - 1u) * SX + KS) + q * SX + j]; }
  return load_one(r, run, i, q * SX + j, fill);
}

@compute @workgroup_size(WG)
fn max_pool2d(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
              @builtin(num_workgroups) nwg: vec3u) {
  let run = run_of(wid, lid, nwg);
  if (!run.valid) { return; }
  let r = wid.z;
  let ninf = negative_infinity(); // padding is −∞
  let v = load_window(r, run, ninf);
  let o = p.oOff + r * p.oStride + (run.c * p.ho + run.oy) * p.wo + run.ox0;
  for (var q = 0u; q < TW; q++) {
    var m = negative_infinity();
    var nan = false;
    for (var e = 0u; e < KS * KS; e++) {
      let i = e / KS;
      let j = e - i * KS;
      let value = element(v, r, run, q, i, j, ninf);
      nan = nan || is_nan(value);
      m = max(m, value);
    }
    if (p.relu != 0u) { m = max(m, 0.0); }
    if (run.ox0 + q < p.wo) { out[o + q] = select(m, quiet_nan(), nan); }
  }
}

@compute @workgroup_size(WG)
fn avg_pool2d(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
              @builtin(num_workgroups) nwg: vec3u) {
  let run = run_of(wid, lid, nwg);
  if (!run.valid) { return; }
  let r = wid.z;
  let v = load_window(r, run, 0.0);
  let o = p.oOff + r * p.oStride + (run.c * p.ho + run.oy) * p.wo + run.ox0;
  for (var q = 0u; q < TW; q++) {
    var s = 0.0;
    for (var e = 0u; e < KS * KS; e++) {
      let i = e / KS;
      let j = e - i * KS;
      s += element(v, r, run, q, i, j, 0.0);
    }
    if (run.ox0 + q < p.wo) { out[o + q] = s / f32(KS * KS); }
  }
}
