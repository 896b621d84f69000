// elementwise.wgsl — element-by-element ops over population tensors.
//
// Every entry point computes, for each population row r < rows and element j < rowNumel,
//   out[oOff + r*oStride + j] = f(a[aOff + r*aStride + j], b[...], c[...], out[...], alpha, beta)
// A stride of 0 broadcasts a shared (population-less) operand to every row.
//
// Bindings (all entry points; unused inputs are bound to any read-only buffer):
//   0  a    storage, read        f32  [rows?, rowNumel] at aOff, row stride aStride
//   1  b    storage, read        f32  same layout with bOff / bStride
//   2  c    storage, read        f32  same layout with cOff / cStride
//   3  out  storage, read_write  f32  same layout with oOff / oStride (also read by in-place ops)
//   4  p    uniform              Params
//
// Dispatch: x = ceil(rowNumel / (WG * PER_THREAD)) workgroups, y = rows.
// Each invocation handles PER_THREAD elements spaced WG apart (coalesced on GPUs).

override WG: u32 = 64u;
const PER_THREAD: u32 = 4u;

struct Params {
  rows: u32,
  rowNumel: u32,
  aOff: u32,
  aStride: u32,
  bOff: u32,
  bStride: u32,
  cOff: u32,
  cStride: u32,
  oOff: u32,
  oStride: u32,
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> c: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

// First element index (within the row) owned by this invocation.
fn start(wid: vec3u, lid: vec3u) -> u32 {
  return wid.x * WG * PER_THREAD + lid.x;
}

fn ai(r: u32, j: u32) -> u32 { return p.aOff + r * p.aStride + j; }
fn bi(r: u32, j: u32) -> u32 { return p.bOff + r * p.bStride + j; }
fn ci(r: u32, j: u32) -> u32 { return p.cOff + r * p.cStride + j; }
fn oi(r: u32, j: u32) -> u32 { return p.oOff + r * p.oStride + j; }

@compute @workgroup_size(WG)
fn relu(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wid.y;
  for (var k = 0u; k < PER_THREAD; k++) {
    let j = start(wid, lid) + k * WG;
    if (j < p.rowNumel) { out[oi(r, j)] = max(a[ai(r, j)], 0.0); }
  }
}

@compute @workgroup_size(WG)
fn sign_(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wid.y;
  for (var k = 0u; k < PER_THREAD; k++) {
    let j = start(wid, lid) + k * WG;
    if (j < p.rowNumel) { out[oi(r, j)] = sign(a[ai(r, j)]); }
  }
}

@compute @workgroup_size(WG)
fn abs_(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wid.y;
  for (var k = 0u; k < PER_THREAD; k++) {
    let j = start(wid, lid) + k * WG;
    if (j < p.rowNumel) { out[oi(r, j)] = abs(a[ai(r, j)]); }
  }
}

// out = a (bit-exact copy)
@compute @workgroup_size(WG)
fn copy(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wid.y;
  for (var k = 0u; k < PER_THREAD; k++) {
    let j = start(wid, lid) + k * WG;
    if (j < p.rowNumel) { out[oi(r, j)] = a[ai(r, j)]; }
  }
}

// out = alpha * a + beta
@compute @workgroup_size(WG)
fn affine(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wid.y;
  for (var k = 0u; k < PER_THREAD; k++) {
    let j = start(wid, lid) + k * WG;
    if (j < p.rowNumel) { out[oi(r, j)] = p.alpha * a[ai(r, j)] + p.beta; }
  }
}

// NaN test on the bit pattern: compilers may assume `v != v` is false (finite math).
fn is_nan(v: f32) -> bool {
  let bits = bitcast<u32>(v);
  return (bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0u;
}

// out = clamp(a, alpha, beta); NaN stays NaN.
@compute @workgroup_size(WG)
fn clamp_(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wid.y;
  for (var k = 0u; k < PER_THREAD; k++) {
    let j = start(wid, lid) + k * WG;
    if (j < p.rowNumel) {
      let v = a[ai(r, j)];
      out[oi(r, j)] = select(min(max(v, p.alpha), p.beta), v, is_nan(v));
    }
  }
}

// out = a + alpha * b
@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wid.y;
  for (var k = 0u; k < PER_THREAD; k++) {
    let j = start(wid, lid) + k * WG;
    if (j < p.rowNumel) { out[oi(r, j)] = a[ai(r, j)] + p.alpha * b[bi(r, j)]; }
  }
}

// out = a * b
@compute @workgroup_size(WG)
fn mul(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wid.y;
  for (var k = 0u; k < PER_THREAD; k++) {
    let j = start(wid, lid) + k * WG;
    if (j < p.rowNumel) { out[oi(r, j)] = a[ai(r, j)] * b[bi(r, j)]; }
  }
}

// out = a > 0 ? b : c
@compute @workgroup_size(WG)
fn where_(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wid.y;
  for (var k = 0u; k < PER_THREAD; k++) {
    let j = start(wid, lid) + k * WG;
    if (j < p.rowNumel) {
      out[oi(r, j)] = select(c[ci(r, j)], b[bi(r, j)], a[ai(r, j)] > 0.0);
    }
  }
}

// In place: out = beta * out + alpha * a   (axpy is beta = 1)
@compute @workgroup_size(WG)
fn axpby(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wid.y;
  for (var k = 0u; k < PER_THREAD; k++) {
    let j = start(wid, lid) + k * WG;
    if (j < p.rowNumel) {
      let o = oi(r, j);
      out[o] = p.beta * out[o] + p.alpha * a[ai(r, j)];
    }
  }
}

// In place: out = alpha
@compute @workgroup_size(WG)
fn fill(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wid.y;
  for (var k = 0u; k < PER_THREAD; k++) {
    let j = start(wid, lid) + k * WG;
    if (j < p.rowNumel) { out[oi(r, j)] = p.alpha; }
  }
}

// In place within one buffer: out row r (at oOff) = out row r at aOff (aStride 0 broadcasts
// one source row). Source and destination rows must not overlap unless they are equal.
@compute @workgroup_size(WG)
fn copy_rows(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wid.y;
  for (var k = 0u; k < PER_THREAD; k++) {
    let j = start(wid, lid) + k * WG;
    if (j < p.rowNumel) { out[oi(r, j)] = out[p.aOff + r * p.aStride + j]; }
  }
}
