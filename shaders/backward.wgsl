// backward.wgsl — gradients of the layers and losses (reverse mode), population-aware.
//
// Every entry point writes, for each population row r < rows and output element j < n,
//   out[oOff + r*oStride + j'] = (gradient formula below)
// reading its operands as `aOff + r*aStride + index` and `bOff + r*bStride + index`; a row
// stride of 0 shares an operand (the data batch, or a one-row model) between all rows. The
// weight-gradient entry points write the bias gradient (when `hasBias` = 1) at
// `biasOff + r*oStride + o`, so each row's gradients land in that row of the flat grad buffer.
// One invocation computes one output element (a sum over everything that feeds it), so every
// output is computed alone and in a fixed order: results do not depend on the dispatch.
//
//   linear_grad_input    a = dy [B, O], b = W [O, I]          out = dx [B, I]   = dy W
//   linear_grad_weight   a = dy [B, O], b = x [B, I]          out = dW [O, I] = dyᵀ x, db = Σ_b dy
//   conv2d_grad_input    a = dy [B, O, Ho, Wo], b = W [O, C, K, K]   out = dx [B, C, H, W]
//   conv2d_grad_weight   a = dy [B, O, Ho, Wo], b = x [B, C, H, W]   out = dW [O, C, K, K], db
//   conv2d_patches       b = x [B, C, H, W]                    out = [C·K·K, B·Ho·Wo] (im2col)
//   conv2d_grad_bias     a = dy [B, O, Ho, Wo]                 out = db [O]
//   transpose01          a = [d0, d1, rest]                    out = [d1, d0, rest] (h = rest)
//   conv2d_flip_weight   a = W [O, C, K, K]                    out = [C, O, K, K] flipped in space
//   max_pool2d_grad      a = dy [planes, Ho, Wo], b = x [planes, H, W]  out = dx: dy of every
//                        window whose argmax is here (torch's: the first maximum, the last NaN)
//   max_pool2d_grad_windows  the same for stride = k, pad = 0, one invocation per window
//   avg_pool2d_grad      a = dy, out = dx: Σ over the windows holding the pixel of dy / K²
//   relu_grad            a = dy, b = y = relu(x)               out = dy where y > 0, else 0
//   softmax_grad         a = dy [B, C], b = y = softmax [B, C] out = y (dy − Σ_c dy y)
//   cross_entropy_grad   a = z [B, C] logits, b = target [B]   out = (softmax(z) − onehot) · scale
//   mse_grad             a = pred, b = target                  out = 2 (pred − target) · scale
//
// Bindings (all entry points; an unused input is bound to any read-only buffer):
//   0  a    storage, read        f32  at aOff, row stride aStride
//   1  b    storage, read        f32  at bOff, row stride bStride
//   2  out  storage, read_write  f32  at oOff, row stride oStride
//   3  p    uniform              Params
//
// Dispatch: x*y = ceil(rows * n / WG) workgroups (folded, x ≤ 65535); invocation t handles
// row t / n, element t % n.

override WG: u32 = 64u;

struct Params {
  rows: u32,
  n: u32,
  aOff: u32,
  aStride: u32,
  bOff: u32,
  bStride: u32,
  oOff: u32,
  oStride: u32,
  biasOff: u32,
  hasBias: u32,
  batch: u32,
  cin: u32,
  h: u32,
  w: u32,
  cout: u32,
  ho: u32,
  wo: u32,
  k: u32,
  stride: u32,
  pad: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

struct Item { r: u32, j: u32, ok: bool }

fn item(wid: vec3u, lid: vec3u, nwg: vec3u) -> Item {
  let t = (wid.x + wid.y * nwg.x) * WG + lid.x;
  let total = p.rows * p.n;
  if (t >= total) { return Item(0u, 0u, false); }
  return Item(t / p.n, t % p.n, true);
}

fn ar(r: u32) -> u32 { return p.aOff + r * p.aStride; }
fn br(r: u32) -> u32 { return p.bOff + r * p.bStride; }
fn or(r: u32) -> u32 { return p.oOff + r * p.oStride; }

// ---- Linear: in features = cin, out features = cout ----

@compute @workgroup_size(WG)
fn linear_grad_input(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let it = item(wid, lid, nwg);
  if (!it.ok) { return; }
  let bi = it.j / p.cin;
  let i = it.j % p.cin;
  let dy = ar(it.r) + bi * p.cout;
  let wt = br(it.r) + i;
  var s = 0.0;
  for (var o = 0u; o < p.cout; o++) { s += a[dy + o] * b[wt + o * p.cin]; }
  out[or(it.r) + it.j] = s;
}

@compute @workgroup_size(WG)
fn linear_grad_weight(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let it = item(wid, lid, nwg);
  if (!it.ok) { return; }
  let weights = p.cout * p.cin;
  let dy = ar(it.r);
  if (it.j < weights) {
    let o = it.j / p.cin;
    let i = it.j % p.cin;
    let x = br(it.r);
    var s = 0.0;
    for (var bi = 0u; bi < p.batch; bi++) {
      s += a[dy + bi * p.cout + o] * b[x + bi * p.cin + i];
    }
    out[or(it.r) + it.j] = s;
  } else {
    let o = it.j - weights;
    var s = 0.0;
    for (var bi = 0u; bi < p.batch; bi++) { s += a[dy + bi * p.cout + o]; }
    out[p.biasOff + it.r * p.oStride + o] = s;
  }
}

// ---- Conv2d: x [B, cin, h, w], W [cout, cin, k, k], y [B, cout, ho, wo] ----

@compute @workgroup_size(WG)
fn conv2d_grad_input(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let it = item(wid, lid, nwg);
  if (!it.ok) { return; }
  let plane = p.h * p.w;
  let bi = it.j / (p.cin * plane);
  let c = (it.j / plane) % p.cin;
  let y = i32((it.j % plane) / p.w) + i32(p.pad);
  let x = i32(it.j % p.w) + i32(p.pad);
  let s_ = i32(p.stride);
  let dyBase = ar(it.r) + bi * p.cout * p.ho * p.wo;
  let wBase = br(it.r) + c * p.k * p.k;
  var s = 0.0;
  for (var ky = 0; ky < i32(p.k); ky++) {
    let ty = y - ky;
    if (ty < 0 || ty % s_ != 0 || ty / s_ >= i32(p.ho)) { continue; }
    let oy = u32(ty / s_);
    for (var kx = 0; kx < i32(p.k); kx++) {
      let tx = x - kx;
      if (tx < 0 || tx % s_ != 0 || tx / s_ >= i32(p.wo)) { continue; }
      let ox = u32(tx / s_);
      for (var o = 0u; o < p.cout; o++) {
        s += a[dyBase + (o * p.ho + oy) * p.wo + ox] *
          b[wBase + o * p.cin * p.k * p.k + u32(ky) * p.k + u32(kx)];
      }
    }
  }
  out[or(it.r) + it.j] = s;
}

// Output positions o (along one axis) whose tap k reads an input inside [0, size):
// 0 <= o*stride - pad + k < size.
fn tap_range(k: u32, size: u32, outSize: u32) -> vec2u {
  let s = i32(p.stride);
  let lo = i32(p.pad) - i32(k); // o*stride >= lo
  let hi = i32(size) - 1 + i32(p.pad) - i32(k); // o*stride <= hi
  if (hi < 0) { return vec2u(0u, 0u); }
  let first = select(0, (lo + s - 1) / s, lo > 0);
  let last = min(i32(outSize), hi / s + 1);
  return vec2u(u32(first), u32(max(first, last)));
}

@compute @workgroup_size(WG)
fn conv2d_grad_weight(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let it = item(wid, lid, nwg);
  if (!it.ok) { return; }
  let weights = p.cout * p.cin * p.k * p.k;
  let dy = ar(it.r);
  let outPlane = p.ho * p.wo;
  if (it.j < weights) {
    let o = it.j / (p.cin * p.k * p.k);
    let c = (it.j / (p.k * p.k)) % p.cin;
    let ky = (it.j / p.k) % p.k;
    let kx = it.j % p.k;
    // Only the output pixels whose tap lands inside the input: no bounds test in the loop.
    let ys = tap_range(ky, p.h, p.ho);
    let xs = tap_range(kx, p.w, p.wo);
    let x = br(it.r);
    var s = 0.0;
    for (var bi = 0u; bi < p.batch; bi++) {
      let dyBase = dy + (bi * p.cout + o) * outPlane;
      let xBase = x + (bi * p.cin + c) * p.h * p.w + kx - p.pad; // + ox*stride stays >= 0
      for (var oy = ys.x; oy < ys.y; oy++) {
        let d = dyBase + oy * p.wo;
        let xr = xBase + (oy * p.stride + ky - p.pad) * p.w;
        for (var ox = xs.x; ox < xs.y; ox++) { s += a[d + ox] * b[xr + ox * p.stride]; }
      }
    }
    out[or(it.r) + it.j] = s;
  } else {
    let o = it.j - weights;
    var s = 0.0;
    for (var bi = 0u; bi < p.batch; bi++) {
      let dyBase = dy + (bi * p.cout + o) * outPlane;
      for (var q = 0u; q < outPlane; q++) { s += a[dyBase + q]; }
    }
    out[p.biasOff + it.r * p.oStride + o] = s;
  }
}

// The filters of the input gradient of a stride-1 convolution, as a forward convolution:
// out[c, o, ky, kx] = W[o, c, k-1-ky, k-1-kx] (dx = conv2d(dy, out, padding k-1-pad)).
@compute @workgroup_size(WG)
fn conv2d_flip_weight(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let it = item(wid, lid, nwg);
  if (!it.ok) { return; }
  let kk = p.k * p.k;
  let c = it.j / (p.cout * kk);
  let o = (it.j / kk) % p.cout;
  let t = kk - 1u - it.j % kk; // (k-1-ky)*k + (k-1-kx)
  out[or(it.r) + it.j] = a[ar(it.r) + (o * p.cin + c) * kk + t];
}

// Swaps the two leading axes of every row: a [d0 = batch, d1 = cin, rest = h·w] →
// out [cin, batch, h·w] (a layout for running a gradient as a forward convolution).
@compute @workgroup_size(WG)
fn transpose01(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let it = item(wid, lid, nwg);
  if (!it.ok) { return; }
  let rest = p.h;
  let i1 = it.j / (p.batch * rest); // index along d1 (now leading)
  let i0 = (it.j / rest) % p.batch;
  let q = it.j % rest;
  out[or(it.r) + it.j] = a[ar(it.r) + (i0 * p.cin + i1) * rest + q];
}

// The input patches of a convolution, one row per filter tap: out[(c, ky, kx), (b, oy, ox)] =
// x[b, c, oy*stride - pad + ky, ox*stride - pad + kx] (0 in the padding), so that the filter
// gradient is the matrix product dy[o, (b, oy, ox)] · outᵀ.
@compute @workgroup_size(WG)
fn conv2d_patches(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let it = item(wid, lid, nwg);
  if (!it.ok) { return; }
  let cols = p.batch * p.ho * p.wo;
  let tap = it.j / cols;
  let col = it.j % cols;
  let c = tap / (p.k * p.k);
  let ky = (tap / p.k) % p.k;
  let kx = tap % p.k;
  let bi = col / (p.ho * p.wo);
  let oy = (col / p.wo) % p.ho;
  let ox = col % p.wo;
  let iy = i32(oy * p.stride + ky) - i32(p.pad);
  let ix = i32(ox * p.stride + kx) - i32(p.pad);
  var v = 0.0;
  if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
    v = b[br(it.r) + ((bi * p.cin + c) * p.h + u32(iy)) * p.w + u32(ix)];
  }
  out[or(it.r) + it.j] = v;
}

// Bias gradient of a convolution: db[o] = Σ_b Σ_pixels dy[b, o, ·] (n = cout per row).
@compute @workgroup_size(WG)
fn conv2d_grad_bias(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let it = item(wid, lid, nwg);
  if (!it.ok) { return; }
  let outPlane = p.ho * p.wo;
  var s = 0.0;
  for (var bi = 0u; bi < p.batch; bi++) {
    let dyBase = ar(it.r) + (bi * p.cout + it.j) * outPlane;
    for (var q = 0u; q < outPlane; q++) { s += a[dyBase + q]; }
  }
  out[or(it.r) + it.j] = s;
}

// NaN test on the bit pattern: compilers may assume `v != v` is false (finite math).
fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// ---- Pooling: planes = B · C (in `batch`), windows k × k, stride, pad ----

// First and one-past-last window index (along one axis) whose window holds input coordinate v.
fn windows(v: u32, size: u32) -> vec2u {
  let hi = i32(v) + i32(p.pad); // window o holds v when o*stride <= hi < o*stride + k
  let first = max(0, (hi - i32(p.k) + i32(p.stride)) / i32(p.stride));
  let last = min(i32(size), hi / i32(p.stride) + 1);
  return vec2u(u32(first), u32(max(first, last)));
}

@compute @workgroup_size(WG)
fn max_pool2d_grad(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let it = item(wid, lid, nwg);
  if (!it.ok) { return; }
  let plane = p.h * p.w;
  let pl = it.j / plane;
  let iy = (it.j % plane) / p.w;
  let ix = it.j % p.w;
  let xBase = br(it.r) + pl * plane;
  let dyBase = ar(it.r) + pl * p.ho * p.wo;
  let wy = windows(iy, p.ho);
  let wx = windows(ix, p.wo);
  var s = 0.0;
  for (var oy = wy.x; oy < wy.y; oy++) {
    for (var ox = wx.x; ox < wx.y; ox++) {
      // The window's argmax as torch picks it: the first maximum, a NaN replacing it.
      var best = negative_infinity();
      var at = 0xffffffffu;
      for (var ky = 0u; ky < p.k; ky++) {
        let yy = i32(oy * p.stride + ky) - i32(p.pad);
        if (yy < 0 || yy >= i32(p.h)) { continue; }
        for (var kx = 0u; kx < p.k; kx++) {
          let xx = i32(ox * p.stride + kx) - i32(p.pad);
          if (xx < 0 || xx >= i32(p.w)) { continue; }
          let q = u32(yy) * p.w + u32(xx);
          let v = b[xBase + q];
          if (at == 0xffffffffu) { at = q; }
          if (v > best || is_nan(v)) {
            best = v;
            at = q;
          }
        }
      }
      if (at == iy * p.w + ix) { s += a[dyBase + oy * p.wo + ox]; }
    }
  }
  out[or(it.r) + it.j] = s;
}

// Non-overlapping windows without padding (stride = k, pad = 0, the MNIST CNN's pools): one
// invocation per cell of a ceil(h/k) × ceil(w/k) grid reads its window once and writes all its
// inputs (dy at the argmax, 0 elsewhere, and 0 for the cells past the last window). n = planes ·
// cells; the cell grid's width is in `cout`, its height in `cin`.
@compute @workgroup_size(WG)
fn max_pool2d_grad_windows(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let it = item(wid, lid, nwg);
  if (!it.ok) { return; }
  let cells = p.cin * p.cout;
  let pl = it.j / cells;
  let oy = (it.j % cells) / p.cout;
  let ox = it.j % p.cout;
  let xBase = br(it.r) + pl * p.h * p.w;
  let oBase = or(it.r) + pl * p.h * p.w;
  let inside = oy < p.ho && ox < p.wo;
  var best = negative_infinity();
  var at = 0xffffffffu;
  if (inside) {
    for (var ky = 0u; ky < p.k; ky++) {
      for (var kx = 0u; kx < p.k; kx++) {
        let q = (oy * p.k + ky) * p.w + ox * p.k + kx;
        let v = b[xBase + q];
        if (at == 0xffffffffu) { at = q; }
        if (v > best || is_nan(v)) {
          best = v;
          at = q;
        }
      }
    }
  }
  let g = select(0.0, a[ar(it.r) + (pl * p.ho + oy) * p.wo + ox], inside);
  for (var ky = 0u; ky < p.k; ky++) {
    let yy = oy * p.k + ky;
    if (yy >= p.h) { break; }
    for (var kx = 0u; kx < p.k; kx++) {
      let xx = ox * p.k + kx;
      if (xx >= p.w) { break; }
      let q = yy * p.w + xx;
      out[oBase + q] = select(0.0, g, q == at);
    }
  }
}

@compute @workgroup_size(WG)
fn avg_pool2d_grad(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let it = item(wid, lid, nwg);
  if (!it.ok) { return; }
  let plane = p.h * p.w;
  let pl = it.j / plane;
  let dyBase = ar(it.r) + pl * p.ho * p.wo;
  let wy = windows((it.j % plane) / p.w, p.ho);
  let wx = windows(it.j % p.w, p.wo);
  var s = 0.0;
  for (var oy = wy.x; oy < wy.y; oy++) {
    for (var ox = wx.x; ox < wx.y; ox++) { s += a[dyBase + oy * p.wo + ox]; }
  }
  out[or(it.r) + it.j] = s / f32(p.k * p.k);
}

// ---- Element-wise and per-example ----

@compute @workgroup_size(WG)
fn relu_grad(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let it = item(wid, lid, nwg);
  if (!it.ok) { return; }
  let y = b[br(it.r) + it.j];
  out[or(it.r) + it.j] = select(0.0, a[ar(it.r) + it.j], y > 0.0);
}

// Classes in `cin`.
@compute @workgroup_size(WG)
fn softmax_grad(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let it = item(wid, lid, nwg);
  if (!it.ok) { return; }
  let first = (it.j / p.cin) * p.cin;
  var dot = 0.0;
  for (var c = 0u; c < p.cin; c++) { dot += a[ar(it.r) + first + c] * b[br(it.r) + first + c]; }
  let y = b[br(it.r) + it.j];
  out[or(it.r) + it.j] = y * (a[ar(it.r) + it.j] - dot);
}

// Classes in `cin`; a bad target (NaN, fractional, outside [0, C)) gives NaN, like the loss.
@compute @workgroup_size(WG)
fn cross_entropy_grad(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let it = item(wid, lid, nwg);
  if (!it.ok) { return; }
  let ex = it.j / p.cin;
  let c = it.j % p.cin;
  let z = ar(it.r) + ex * p.cin;
  var m = a[z];
  for (var q = 1u; q < p.cin; q++) { m = max(m, a[z + q]); }
  var sum = 0.0;
  for (var q = 0u; q < p.cin; q++) { sum += exp(a[z + q] - m); }
  let t = b[br(it.r) + ex];
  let good = !is_nan(t) && t >= 0.0 && t < f32(p.cin) && floor(t) == t;
  let prob = exp(a[z + c] - m) / sum;
  let g = (prob - select(0.0, 1.0, good && u32(t) == c)) * p.scale;
  let nan = quiet_nan();
  out[or(it.r) + it.j] = select(nan, g, good);
}

@compute @workgroup_size(WG)
fn mse_grad(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let it = item(wid, lid, nwg);
  if (!it.ok) { return; }
  out[or(it.r) + it.j] = 2.0 * (a[ar(it.r) + it.j] - b[br(it.r) + it.j]) * p.scale;
}
