// conv2d.wgsl — 2-D convolution (NCHW, zero padding, bias fused) for a population of weights.
//
// For every population row r, image b, output channel co and output pixel (oy, ox):
//   out[r, b, co, oy, ox] = bias[r, co]
//     + Σ_{ci, ky, kx} x[r, b, ci, oy*stride - pad + ky, ox*stride - pad + kx] * w[r, co, ci, ky, kx]
// reading zero outside the input. Every operand is addressed as `off + r * stride + index`
// (elements); a row stride of 0 shares the operand (a data batch, or weights without a
// population axis) between all rows. K = cin * kh * kw.
//
// Entry points and bindings:
//   pack_weights   torch layout → the layout conv2d_direct reads (run right before it)
//     0  w      storage, read        f32    [rowsW, cout, K] at wOff, row stride wStride
//     1  packed storage, read_write  vec4   [rowsW, nb, K, NC] (CB = 4*NC channels per block;
//                                           channels >= cout are written as zeros)
//     dispatch: x*y = ceil(nb*K*NC / WG) (folded, x ≤ 65535), z = rowsW
//   conv2d_direct  "fallback" variant for software adapters (llvmpipe): no workgroup memory.
//     Each invocation computes a TH×TW tile of output pixels for CB = 4*NC output channels,
//     accumulating TH*TW*NC vec4 in registers. Per input channel it loads the input patch of the
//     tile once into registers, then for each tap loads NC vec4 of packed weights (4 channels
//     each) and does TH*TW*NC vec4 FMAs. Loads cost far more than FMAs on llvmpipe (each storage
//     load is a per-lane loop with a bounds check), so both reuse factors matter; all loops have
//     trip counts fixed by override constants and are fully unrolled, which keeps `acc` and the
//     patch in registers (keep TH*TW*NC ≤ 40, 48 for small unpadded kernels, and TH*TW ≤ 12:
//     larger tiles fall off a cliff on llvmpipe; src/ops/conv2d.ts picks the tile).
//     With POOL > 1 (TH, TW multiples of POOL) the tile is max-pooled in registers before the
//     store and the output is [rows?, batch, cout, hp, wp] (floor(ho / POOL) × floor(wo / POOL));
//     RELU applies max(·, 0) last. Both fuse conv → max-pool → ReLU into one pass.
//     0  x      storage, read        f32    [rows?, batch, cin, h, w] at xOff, row stride xStride
//     1  packed storage, read        vec4   from pack_weights, row stride pStride (vec4; 0 = shared)
//     2  bias   storage, read        f32    [rows?, cout] at bOff, row stride bStride (if hasBias)
//     3  out    storage, read_write  f32    [rows?, batch, cout, hp, wp] at oOff, row stride oStride
//     One dispatch covers a region of the output: tilesY × tilesX tiles from output pixel
//     (y0, x0) in every image. Edge tiles may overhang the output (nothing is stored there),
//     or src/ops/conv2d.ts covers the edges with further dispatches of smaller tiles.
//     dispatch: x = tile groups of WG tiles (tiles = batch * tilesY * tilesX), folded into
//     y = nb * fold; z = rows
//   conv2d_gemm    "tiled" variant for GPUs: implicit GEMM, M = batch*ho*wo pixels, N = cout,
//     K = cin*kh*kw. A workgroup of WGM×WGN threads computes a BM×BN tile (BM = WGM*TM,
//     BN = WGN*TN; TM×TN outputs per thread) through workgroup-memory tiles of depth BK: the
//     A tile is gathered from x on the fly (im2col never materialised), the B tile is read from
//     the torch-layout weights.
//     0  x      as above
//     1  w      storage, read        f32    [rowsW, cout, K] at wOff, row stride wStride
//     2  bias   as above
//     3  out    storage, read_write  f32    [rows?, batch, cout, ho, wo] (no fused pool or ReLU)
//     dispatch: x = ceil(M / BM) folded into y = ceil(cout / BN) * fold; z = rows
//   All entry points: binding after the storage ones = uniform Params.

override WG: u32 = 64u;
// conv2d_direct tile: TH×TW output pixels, NC groups of 4 output channels.
override TW: u32 = 5u;
override TH: u32 = 2u;
override NC: u32 = 4u;
override KH: u32 = 3u;
override KW: u32 = 3u;
override SX: u32 = 1u;        // stride (conv2d_direct only)
override PADDED: bool = false; // pad > 0: bounds-check the input patch
override POOL: u32 = 1u;       // fused max pooling window (= its stride); 1 = none
override RELU: bool = false;   // fused ReLU on the (pooled) output
// conv2d_gemm tile.
override WGM: u32 = 16u;
override WGN: u32 = 16u;
override TM: u32 = 4u;
override TN: u32 = 4u;

const MAXPATCH: u32 = 128u;
const MAXPIX: u32 = 16u;
const MAXNC: u32 = 4u;
const BK: u32 = 16u;
const MAXBM: u32 = 64u;
const MAXBN: u32 = 64u;
const MAXTM: u32 = 4u;
const MAXTN: u32 = 4u;

struct Params {
  batch: u32,
  cin: u32,
  h: u32,
  w: u32,
  cout: u32,
  ho: u32,
  wo: u32,
  kh: u32,
  kw: u32,
  stride: u32,
  pad: u32,
  xOff: u32,
  xStride: u32,
  wOff: u32,
  wStride: u32,
  pStride: u32,
  bOff: u32,
  bStride: u32,
  hasBias: u32,
  oOff: u32,
  oStride: u32,
  nb: u32,
  tilesX: u32,
  tilesY: u32,
  hp: u32,      // stored output height: floor(ho / POOL)
  wp: u32,      // stored output width: floor(wo / POOL)
  y0: u32,      // conv2d_direct: first output row and column of the region this dispatch
  x0: u32,      //   covers with tilesY × tilesX tiles (multiples of POOL)
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> packed: array<vec4f>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

// pack_weights has its own binding table (w, packed out, params).
@group(0) @binding(0) var<storage, read> wsrc: array<f32>;
@group(0) @binding(1) var<storage, read_write> wdst: array<vec4f>;
@group(0) @binding(2) var<uniform> pp: Params;

@compute @workgroup_size(WG)
fn pack_weights(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
                @builtin(num_workgroups) nwg: vec3u) {
  let K = pp.cin * pp.kh * pp.kw;
  let per = pp.nb * K * NC;
  let i = (wid.x + wid.y * nwg.x) * WG + lid.x;
  if (i >= per) { return; }
  let r = wid.z;
  let g = i % NC;                 // vec4 group inside the block
  let k = (i / NC) % K;           // tap
  let blk = i / (NC * K);
  let co0 = blk * 4u * NC + g * 4u;
  let src = pp.wOff + r * pp.wStride + k;
  var v = vec4f(0.0);
  for (var c = 0u; c < 4u; c++) {
    if (co0 + c < pp.cout) { v[c] = wsrc[src + (co0 + c) * K]; }
  }
  wdst[r * per + i] = v;
}

// NaN test on the bit pattern: compilers may assume `v != v` is false (finite math).
fn is_nan(v: f32) -> bool {
  let bits = bitcast<u32>(v);
  return (bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0u;
}

// Writes one vec4 group of accumulators (4 channels from co0) of a TH×TW tile whose first
// pixel is (oy0, ox0): bias added, then max-pooled over POOL×POOL windows (NaN propagates) and
// ReLU'd when fused.
fn store_group(v: array<vec4f, MAXPIX>, r: u32, b: u32, co0: u32, oy0: u32, ox0: u32) {
  let PW = TW / POOL;
  let py0 = oy0 / POOL;
  let px0 = ox0 / POOL;
  for (var c = 0u; c < 4u; c++) {
    let co = co0 + c;
    if (co < p.cout) {
      var bv = 0.0;
      if (p.hasBias != 0u) { bv = bias[p.bOff + r * p.bStride + co]; }
      let o = p.oOff + r * p.oStride + (b * p.cout + co) * p.hp * p.wp;
      for (var q = 0u; q < (TH / POOL) * PW; q++) {
        let a = q / PW;
        let k = q - a * PW;
        var m = v[a * POOL * TW + k * POOL][c];
        var nan = false;
        for (var e = 0u; e < POOL * POOL; e++) {
          let value = v[(a * POOL + e / POOL) * TW + k * POOL + e % POOL][c];
          nan = nan || is_nan(value);
          m = max(m, value);
        }
        m += bv;
        if (RELU) { m = max(m, 0.0); }
        m = select(m, bitcast<f32>(0x7fc00000u), nan);
        if (py0 + a < p.hp && px0 + k < p.wp) { out[o + (py0 + a) * p.wp + px0 + k] = m; }
      }
    }
  }
}

@compute @workgroup_size(WG)
fn conv2d_direct(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
                 @builtin(num_workgroups) nwg: vec3u) {
  let r = wid.z;
  let cb = wid.y % p.nb;
  let group = wid.x + (wid.y / p.nb) * nwg.x;
  let tilesImage = p.tilesY * p.tilesX;
  let T = p.batch * tilesImage;
  let t0 = group * WG + lid.x;
  // Surplus invocations compute a valid tile and skip the store (no early return: llvmpipe
  // runs the whole group anyway, and uniform control flow keeps the loops simple).
  let t = min(t0, T - 1u);
  let b = t / tilesImage;
  let rem = t - b * tilesImage;
  let ty = rem / p.tilesX;
  let oy0 = p.y0 + ty * TH;
  let ox0 = p.x0 + (rem - ty * p.tilesX) * TW;
  let plane = p.h * p.w;
  let iy0 = i32(oy0 * SX) - i32(p.pad);
  let ix0 = i32(ox0 * SX) - i32(p.pad);
  let corner = i32(p.xOff + r * p.xStride + b * p.cin * plane) + iy0 * i32(p.w) + ix0;
  let SW = (TW - 1u) * SX + KW;   // patch width
  let SH = (TH - 1u) * SX + KH;   // patch height
  let K = p.cin * KH * KW;
  var wi = r * p.pStride + cb * K * NC;
  var acc: array<array<vec4f, MAXPIX>, MAXNC>;
  for (var ci = 0u; ci < p.cin; ci++) {
    let base = corner + i32(ci * plane);
    var xs: array<f32, MAXPATCH>;
    for (var e = 0u; e < SH * SW; e++) {
      let i = e / SW;
      let j = e - i * SW;
      let idx = base + i32(i) * i32(p.w) + i32(j);
      if (PADDED) {
        let iy = iy0 + i32(i);
        let ix = ix0 + i32(j);
        let inside = iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
        xs[e] = select(0.0, x[u32(max(idx, 0))], inside);
      } else {
        xs[e] = x[u32(idx)];
      }
    }
    // The NC groups are spelled out: a loop over them defeats llvmpipe's unrolling.
    for (var tap = 0u; tap < KH * KW; tap++) {
      let ky = tap / KW;
      let kx = tap - ky * KW;
      let w0 = packed[wi];
      var w1 = vec4f();
      var w2 = vec4f();
      var w3 = vec4f();
      if (NC > 1u) { w1 = packed[wi + 1u]; }
      if (NC > 2u) { w2 = packed[wi + 2u]; }
      if (NC > 3u) { w3 = packed[wi + 3u]; }
      wi += NC;
      for (var q = 0u; q < TH * TW; q++) {
        let a = q / TW;
        let k = q - a * TW;
        let xv = vec4f(xs[(a * SX + ky) * SW + k * SX + kx]);
        acc[0][q] = fma(xv, w0, acc[0][q]);
        if (NC > 1u) { acc[1][q] = fma(xv, w1, acc[1][q]); }
        if (NC > 2u) { acc[2][q] = fma(xv, w2, acc[2][q]); }
        if (NC > 3u) { acc[3][q] = fma(xv, w3, acc[3][q]); }
      }
    }
  }
  if (t0 >= T) { return; }
  let co0 = cb * 4u * NC;
  store_group(acc[0], r, b, co0, oy0, ox0);
  if (NC > 1u) { store_group(acc[1], r, b, co0 + 4u, oy0, ox0); }
  if (NC > 2u) { store_group(acc[2], r, b, co0 + 8u, oy0, ox0); }
  if (NC > 3u) { store_group(acc[3], r, b, co0 + 12u, oy0, ox0); }
}

var<workgroup> tileA: array<f32, BK * MAXBM>; // [BK][BM]
var<workgroup> tileB: array<f32, BK * MAXBN>; // [BK][BN]

@compute @workgroup_size(WGM * WGN)
fn conv2d_gemm(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32,
               @builtin(num_workgroups) nwg: vec3u) {
  let BM = WGM * TM;
  let BN = WGN * TN;
  let threads = WGM * WGN;
  let r = wid.z;
  let nBlocks = p.nb;
  let m0 = (wid.x + (wid.y / nBlocks) * nwg.x) * BM;
  let n0 = (wid.y % nBlocks) * BN;
  let hw = p.ho * p.wo;
  let M = p.batch * hw;
  let khw = p.kh * p.kw;
  let K = p.cin * khw;
  let plane = p.h * p.w;
  let xRow = p.xOff + r * p.xStride;
  let wRow = p.wOff + r * p.wStride;
  let tm = li % WGM;
  let tn = li / WGM;
  var acc: array<array<f32, MAXTN>, MAXTM>;
  for (var k0 = 0u; k0 < K; k0 += BK) {
    // A tile: consecutive threads take consecutive pixels (coalesced along ox).
    for (var e = li; e < BK * BM; e += threads) {
      let kk = e / BM;
      let m = m0 + e % BM;
      let k = k0 + kk;
      var v = 0.0;
      if (m < M && k < K) {
        let b = m / hw;
        let pix = m % hw;
        let ci = k / khw;
        let t = k % khw;
        let iy = i32((pix / p.wo) * p.stride + t / p.kw) - i32(p.pad);
        let ix = i32((pix % p.wo) * p.stride + t % p.kw) - i32(p.pad);
        if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
          v = x[xRow + (b * p.cin + ci) * plane + u32(iy) * p.w + u32(ix)];
        }
      }
      tileA[e] = v;
    }
    // B tile: consecutive threads take consecutive taps of one channel (coalesced along K).
    for (var e = li; e < BK * BN; e += threads) {
      let kk = e % BK;
      let nn = e / BK;
      let n = n0 + nn;
      let k = k0 + kk;
      var v = 0.0;
      if (n < p.cout && k < K) { v = wt[wRow + n * K + k]; }
      tileB[kk * BN + nn] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var a: array<f32, MAXTM>;
      var bv: array<f32, MAXTN>;
      for (var i = 0u; i < TM; i++) { a[i] = tileA[kk * BM + tm + i * WGM]; }
      for (var j = 0u; j < TN; j++) { bv[j] = tileB[kk * BN + tn + j * WGN]; }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { acc[i][j] = fma(a[i], bv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let m = m0 + tm + i * WGM;
    if (m >= M) { continue; }
    let b = m / hw;
    let pix = m % hw;
    for (var j = 0u; j < TN; j++) {
      let n = n0 + tn + j * WGN;
      if (n < p.cout) {
        var v = acc[i][j];
        if (p.hasBias != 0u) { v += bias[p.bOff + r * p.bStride + n]; }
        out[p.oOff + r * p.oStride + (b * p.cout + n) * hw + pix] = v;
      }
    }
  }
}
