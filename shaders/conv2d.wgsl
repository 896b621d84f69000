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
//   pack_weights   torch layout → the layout conv2d_direct and conv2d_rows read (kept with the
//                  weights and rebuilt after they are written: see Gpu.derived)
//     0  w      storage, read        f32    [rowsW, cout, K] at wOff, row stride wStride
//     1  packed storage, read_write  vec4   [rowsW, nb, K, NC] at pOff (CB = 4*NC channels per
//                                           block; channels >= cout are written as zeros)
//     dispatch: x*y = ceil(nb*K*NC / WG) (folded, x ≤ 65535), z = rowsW
//   conv2d_direct  "fallback" variant for software adapters (llvmpipe): no workgroup memory.
//     Each invocation computes a TH×TW tile of output pixels for CB = 4*NC output channels,
//     accumulating TH*TW*NC vec4 in registers. Per input channel it loads the input patch of the
//     tile once into registers, then for each tap loads NC vec4 of packed weights (4 channels
//     each) and does TH*TW*NC vec4 FMAs. Loads cost far more than FMAs on llvmpipe (Mesa 22.3
//     runs every storage load, uniform address or not, as a loop over the 8 SIMD lanes with a
//     bounds check per component: ~1 ns per lane for a vec4, against ~0.04 ns for a vec4 FMA),
//     so both reuse factors matter. The loops have trip counts fixed by override constants, but
//     NIR unrolls only the small ones: the tap loop stays a loop, so `xs` is indexed with the
//     tap and read lane by lane (keep TH*TW*NC ≤ 40, 48 for small unpadded kernels, and
//     TH*TW ≤ 12: larger tiles stop unrolling the pixel loop too and fall off a cliff on
//     llvmpipe). conv2d_rows below does the same arithmetic without that; src/ops/conv2d.ts
//     picks the entry point and the tile.
//     With POOL > 1 (TH, TW multiples of POOL) the tile is max-pooled in registers before the
//     store and the output is [rows?, batch, cout, hp, wp] (floor(ho / POOL) × floor(wo / POOL));
//     RELU applies max(·, 0) last. Both fuse conv → max-pool → ReLU into one pass.
//     0  x      storage, read        f32    [rows?, batch, cin, h, w] at xOff, row stride xStride
//     1  packed storage, read        vec4   from pack_weights at pOff, row stride pStride (vec4;
//                                           0 = shared)
//     2  bias   storage, read        f32    [rows?, cout] at bOff, row stride bStride (if hasBias)
//     3  out    storage, read_write  f32    [rows?, batch, cout, hp, wp] at oOff, row stride oStride
//     One dispatch covers a region of the output: tilesY × tilesX tiles from output pixel
//     (y0, x0) in every image. Edge tiles may overhang the output (nothing is stored there),
//     or src/ops/conv2d.ts covers the edges with further dispatches of smaller tiles.
//     dispatch: x = tile groups of WG tiles (tiles = batch * tilesY * tilesX), folded into
//     y = nb * fold; z = rows
//   conv2d_rows, conv2d_rows_unrolled   the same as conv2d_direct (same bindings, dispatch and
//     arithmetic, in the same order: results equal bit for bit) for stride 1 and tiles within
//     their limits (see below), with the input patch streamed through registers one kernel row
//     at a time. 15-35% faster than conv2d_direct on MNIST's convolutions on llvmpipe.
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
//   All entry points: binding after the storage ones = uniform Params. Offsets are relative to
//   the bound range: src/ops/conv2d.ts may split a call whose tensors exceed one storage binding
//   into dispatches over ranges of rows or images (src/ops/_chunks.ts), each with its offsets.

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
const MAXPIX: u32 = 20u;
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
  pOff: u32,    // packed weights: offset of row 0 (vec4)
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
  wdst[pp.pOff + r * per + i] = v;
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
        m = select(m, quiet_nan(), nan);
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
  var wi = p.pOff + r * p.pStride + cb * K * NC;
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

// conv2d_rows and conv2d_rows_unrolled: the arithmetic of conv2d_direct (stride 1), with the
// input patch streamed through registers one kernel row at a time: a window of TH input rows
// moves down one row per kernel row ky, and every tap (ky, kx) then updates every pixel from it.
// The loops over pixels, taps of a row and patch elements are written out as calls with literal
// arguments guarded by the tile's constants, so every private array is indexed by constants once
// the code is specialised (conv2d_direct indexes its patch with the tap, which llvmpipe does lane
// by lane). conv2d_rows_unrolled also writes out the loop over kernel rows (small kernels, whose
// loop bookkeeping costs more than the code). Limits: TH ≤ 4, TH·TW ≤ 20, KW ≤ 5 (KH ≤ 4 for
// the unrolled entry), TW - 1 + KW ≤ 16; src/ops/conv2d.ts uses conv2d_direct beyond them.
const MAXSW: u32 = 16u;
const MAXTH: u32 = 4u;
alias Acc = array<array<vec4f, MAXPIX>, MAXNC>;
alias Rows = array<array<f32, MAXSW>, MAXTH>;

// rw[a][j] = input element j of the patch row that starts at `idx` (input row iy).
fn r_ld(rw: ptr<function, Rows>, a: u32, j: u32, idx: i32, iy: i32, ix0: i32) {
  if (j < TW - 1u + KW) {
    if (PADDED) {
      let ix = ix0 + i32(j);
      let inside = iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
      (*rw)[a][j] = select(0.0, x[u32(max(idx + i32(j), 0))], inside);
    } else {
      (*rw)[a][j] = x[u32(idx + i32(j))];
    }
  }
}

// Loads patch row `row` (relative to the tile's first input row) into rw[a].
fn r_row(rw: ptr<function, Rows>, a: u32, row: u32, base: i32, iy0: i32, ix0: i32) {
  let idx = base + i32(row) * i32(p.w);
  let iy = iy0 + i32(row);
  r_ld(rw, a, 0u, idx, iy, ix0);
  r_ld(rw, a, 1u, idx, iy, ix0);
  r_ld(rw, a, 2u, idx, iy, ix0);
  r_ld(rw, a, 3u, idx, iy, ix0);
  r_ld(rw, a, 4u, idx, iy, ix0);
  r_ld(rw, a, 5u, idx, iy, ix0);
  r_ld(rw, a, 6u, idx, iy, ix0);
  r_ld(rw, a, 7u, idx, iy, ix0);
  r_ld(rw, a, 8u, idx, iy, ix0);
  r_ld(rw, a, 9u, idx, iy, ix0);
  r_ld(rw, a, 10u, idx, iy, ix0);
  r_ld(rw, a, 11u, idx, iy, ix0);
  r_ld(rw, a, 12u, idx, iy, ix0);
  r_ld(rw, a, 13u, idx, iy, ix0);
  r_ld(rw, a, 14u, idx, iy, ix0);
  r_ld(rw, a, 15u, idx, iy, ix0);
}

// rw[a] = rw[a + 1] (element by element: a whole-row copy would move MAXSW values).
fn r_move(rw: ptr<function, Rows>, a: u32) {
  if (a + 1u < TH) {
  (*rw)[a][0u] = (*rw)[a + 1u][0u];
  (*rw)[a][1u] = (*rw)[a + 1u][1u];
  (*rw)[a][2u] = (*rw)[a + 1u][2u];
  (*rw)[a][3u] = (*rw)[a + 1u][3u];
  (*rw)[a][4u] = (*rw)[a + 1u][4u];
  (*rw)[a][5u] = (*rw)[a + 1u][5u];
  (*rw)[a][6u] = (*rw)[a + 1u][6u];
  (*rw)[a][7u] = (*rw)[a + 1u][7u];
  (*rw)[a][8u] = (*rw)[a + 1u][8u];
  (*rw)[a][9u] = (*rw)[a + 1u][9u];
  (*rw)[a][10u] = (*rw)[a + 1u][10u];
  (*rw)[a][11u] = (*rw)[a + 1u][11u];
  (*rw)[a][12u] = (*rw)[a + 1u][12u];
  (*rw)[a][13u] = (*rw)[a + 1u][13u];
  (*rw)[a][14u] = (*rw)[a + 1u][14u];
  (*rw)[a][15u] = (*rw)[a + 1u][15u];
  }
}

fn r_px(acc: ptr<function, Acc>, rw: ptr<function, Rows>, q: u32, kx: u32,
        w0: vec4f, w1: vec4f, w2: vec4f, w3: vec4f) {
  if (q < TH * TW) {
    let a = q / TW;
    let xv = vec4f((*rw)[a][q - a * TW + kx]);
    (*acc)[0][q] = fma(xv, w0, (*acc)[0][q]);
    if (NC > 1u) { (*acc)[1][q] = fma(xv, w1, (*acc)[1][q]); }
    if (NC > 2u) { (*acc)[2][q] = fma(xv, w2, (*acc)[2][q]); }
    if (NC > 3u) { (*acc)[3][q] = fma(xv, w3, (*acc)[3][q]); }
  }
}

// Tap (ky, kx) for every pixel; the kernel row's packed weights start at wt.
fn r_kx(acc: ptr<function, Acc>, rw: ptr<function, Rows>, kx: u32, wt: u32) {
  if (kx < KW) {
    let w0 = packed[wt + kx * NC];
    var w1 = vec4f();
    var w2 = vec4f();
    var w3 = vec4f();
    if (NC > 1u) { w1 = packed[wt + kx * NC + 1u]; }
    if (NC > 2u) { w2 = packed[wt + kx * NC + 2u]; }
    if (NC > 3u) { w3 = packed[wt + kx * NC + 3u]; }
    r_px(acc, rw, 0u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 1u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 2u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 3u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 4u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 5u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 6u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 7u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 8u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 9u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 10u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 11u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 12u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 13u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 14u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 15u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 16u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 17u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 18u, kx, w0, w1, w2, w3);
    r_px(acc, rw, 19u, kx, w0, w1, w2, w3);
  }
}

// Kernel row ky: the window moves down to input rows ky..ky + TH - 1, then every tap of the row.
fn r_ky(acc: ptr<function, Acc>, rw: ptr<function, Rows>, ky: u32, wi: u32, base: i32, iy0: i32,
        ix0: i32) {
  r_move(rw, 0u);
  r_move(rw, 1u);
  r_move(rw, 2u);
  r_row(rw, TH - 1u, ky + TH - 1u, base, iy0, ix0);
  let wt = wi + ky * KW * NC;
  r_kx(acc, rw, 0u, wt);
  r_kx(acc, rw, 1u, wt);
  r_kx(acc, rw, 2u, wt);
  r_kx(acc, rw, 3u, wt);
  r_kx(acc, rw, 4u, wt);
}

// The first TH - 1 input rows of the patch go to rw[1..TH - 1] (r_ky moves them up first).
fn r_start(rw: ptr<function, Rows>, base: i32, iy0: i32, ix0: i32) {
  if (TH > 1u) { r_row(rw, 1u, 0u, base, iy0, ix0); }
  if (TH > 2u) { r_row(rw, 2u, 1u, base, iy0, ix0); }
  if (TH > 3u) { r_row(rw, 3u, 2u, base, iy0, ix0); }
}

// The tile of invocation t (see conv2d_direct): image, first output pixel, first input element.
struct Tile {
  t0: u32,
  T: u32,
  b: u32,
  oy0: u32,
  ox0: u32,
  iy0: i32,
  ix0: i32,
  corner: i32,
}

fn rows_tile(wid: vec3u, lid: vec3u, nwg: vec3u) -> Tile {
  let r = wid.z;
  let group = wid.x + (wid.y / p.nb) * nwg.x;
  let tilesImage = p.tilesY * p.tilesX;
  let T = p.batch * tilesImage;
  let t0 = group * WG + lid.x;
  let t = min(t0, T - 1u);
  let b = t / tilesImage;
  let rem = t - b * tilesImage;
  let ty = rem / p.tilesX;
  let oy0 = p.y0 + ty * TH;
  let ox0 = p.x0 + (rem - ty * p.tilesX) * TW;
  let iy0 = i32(oy0) - i32(p.pad);
  let ix0 = i32(ox0) - i32(p.pad);
  let corner = i32(p.xOff + r * p.xStride + b * p.cin * p.h * p.w) + iy0 * i32(p.w) + ix0;
  return Tile(t0, T, b, oy0, ox0, iy0, ix0, corner);
}

fn rows_store(acc: ptr<function, Acc>, tile: Tile, r: u32, cb: u32) {
  if (tile.t0 >= tile.T) { return; }
  let co0 = cb * 4u * NC;
  store_group((*acc)[0], r, tile.b, co0, tile.oy0, tile.ox0);
  if (NC > 1u) { store_group((*acc)[1], r, tile.b, co0 + 4u, tile.oy0, tile.ox0); }
  if (NC > 2u) { store_group((*acc)[2], r, tile.b, co0 + 8u, tile.oy0, tile.ox0); }
  if (NC > 3u) { store_group((*acc)[3], r, tile.b, co0 + 12u, tile.oy0, tile.ox0); }
}

@compute @workgroup_size(WG)
fn conv2d_rows(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
               @builtin(num_workgroups) nwg: vec3u) {
  let tile = rows_tile(wid, lid, nwg);
  let cb = wid.y % p.nb;
  var wi = p.pOff + wid.z * p.pStride + cb * p.cin * KH * KW * NC;
  var acc: Acc;
  var rw: Rows;
  for (var ci = 0u; ci < p.cin; ci++) {
    let base = tile.corner + i32(ci * p.h * p.w);
    r_start(&rw, base, tile.iy0, tile.ix0);
    for (var ky = 0u; ky < p.kh; ky++) {
      r_ky(&acc, &rw, ky, wi, base, tile.iy0, tile.ix0);
    }
    wi += KH * KW * NC;
  }
  rows_store(&acc, tile, wid.z, cb);
}

@compute @workgroup_size(WG)
fn conv2d_rows_unrolled(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
                        @builtin(num_workgroups) nwg: vec3u) {
  let tile = rows_tile(wid, lid, nwg);
  let cb = wid.y % p.nb;
  var wi = p.pOff + wid.z * p.pStride + cb * p.cin * KH * KW * NC;
  var acc: Acc;
  var rw: Rows;
  for (var ci = 0u; ci < p.cin; ci++) {
    let base = tile.corner + i32(ci * p.h * p.w);
    r_start(&rw, base, tile.iy0, tile.ix0);
    r_ky(&acc, &rw, 0u, wi, base, tile.iy0, tile.ix0);
    if (KH > 1u) { r_ky(&acc, &rw, 1u, wi, base, tile.iy0, tile.ix0); }
    if (KH > 2u) { r_ky(&acc, &rw, 2u, wi, base, tile.iy0, tile.ix0); }
    if (KH > 3u) { r_ky(&acc, &rw, 3u, wi, base, tile.iy0, tile.ix0); }
    wi += KH * KW * NC;
  }
  rows_store(&acc, tile, wid.z, cb);
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
