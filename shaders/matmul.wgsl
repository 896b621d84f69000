// matmul.wgsl — batched, population-aware matrix product with a fused bias.
//
// For every population row r < P (dispatch z), row i < M and column j < N:
//   out[r, i, j] = sum_k A[r, i, k] * B'[r, k, j] + bias[r, j]
// where B'[k, j] = B[k, j] (entry points `*_nn`) or B[j, k] (entry points `*_nt`, "transB",
// torch.nn.functional.linear's weight layout). Every operand is addressed as
//   X[r, ...] = x[xOff + r * xStride + row-major index]
// and a stride of 0 shares an operand (one without population axis) between all rows.
//
// Bindings (all entry points):
//   0  a     storage, read        f32 (vec4<f32> in *_vec4)  [P?, M, K]
//   1  b     storage, read        f32 (vec4<f32> in *_vec4)  [P?, K, N], or [P?, N, K] for *_nt
//   2  bias  storage, read        f32                        [P?, N]; ignored when hasBias == 0
//   3  out   storage, read_write  f32                        [P?, M, N]
//   4  p     uniform              Params
// Bindings 0 and 1 are declared twice (f32 and vec4<f32>); each entry point uses one of them.
//
// Two families of entry points:
//
// * fallback_* (software adapters such as llvmpipe): no workgroup memory, no barriers. Each
//   invocation owns one 8 x 8 tile of the output, held in registers, and walks K once. The
//   tiles of one population row are numbered t = tileRow * tilesN + tileCol (neighbouring
//   invocations share A rows) and laid out linearly over the workgroups:
//     t = (wid.x + wid.y * num_workgroups.x) * WG + lid.x,  population row r = wid.z.
//   Dispatch: [x, y] = ceil(tilesM * tilesN / WG) folded to x <= 65535, z = P; WG is an
//   override (64, or 8 for small products). Loads clamp their row/column into the matrix (no
//   divergent branches in the K loop); stores are guarded. llvmpipe executes every storage
//   load as a loop over the 8 SIMD lanes, so the fewest, widest loads per FMA win:
//     fallback_*_vec4    per 4 values of k: 8 + 8 vec4 loads for 256 FMAs.
//     fallback_*_scalar  per value of k: 8 + 8 scalar loads for 64 FMAs; any K, N, offset
//                        and stride.
//   The vec4 entry points need K % 4 == 0 (and N % 4 == 0 for nn) and offsets and strides of
//   a and b that are multiples of 4.
//
// * tiled_* (real GPUs): 16 x 16 invocations compute a 64 x 64 output tile, 4 x 4 outputs each
//   (rows ly + 16i, columns lx + 16j, so workgroup-memory reads are conflict-free); K is walked
//   in steps of 16 through workgroup-memory tiles of A (64 x 16) and B (16 x 64), zero-padded
//   at the matrix edges. Dispatch: x = ceil(N / 64), y = ceil(M / 64), z = P.

override WG: u32 = 64u;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  tilesN: u32,
  tilesM: u32,
  aOff: u32,
  aStride: u32,
  bOff: u32,
  bStride: u32,
  biasOff: u32,
  biasStride: u32,
  oOff: u32,
  oStride: u32,
  hasBias: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(0) var<storage, read> a4: array<vec4f>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(1) var<storage, read> b4: array<vec4f>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

// ---------------------------------------------------------------------------------------------
// Shared helpers

// Writes one output element (with the bias) unless it lies outside the M x N matrix.
fn store(r: u32, row: u32, col: u32, value: f32) {
  if (row < p.M && col < p.N) {
    var v = value;
    if (p.hasBias != 0u) { v += bias[p.biasOff + r * p.biasStride + col]; }
    out[p.oOff + r * p.oStride + row * p.N + col] = v;
  }
}

// Linear output-tile index of a fallback invocation; >= tilesM * tilesN when it has no tile.
fn tile_index(wid: vec3u, lid: vec3u, nwg: vec3u) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid.x;
}

// ---------------------------------------------------------------------------------------------
// fallback_*: 8 x 8 outputs per invocation. The tile is held as 16 vec4 accumulators,
// acc[2i] (columns 0-3) and acc[2i + 1] (columns 4-7) of tile row i, and every step is written
// out (no loops over the tile): the shader compiler keeps unrolled code in registers but gives
// up unrolling loops over larger tiles.

const TM: u32 = 8u;
const TN: u32 = 8u;

// Offsets of the tile's 8 rows (clamped into 0..last), as two vec4u: base + row * stride.
fn offsets_lo(base: u32, first: u32, last: u32, stride: u32) -> vec4u {
  return vec4u(base) + min(vec4u(first) + vec4u(0u, 1u, 2u, 3u), vec4u(last)) * stride;
}

fn offsets_hi(base: u32, first: u32, last: u32, stride: u32) -> vec4u {
  return vec4u(base) + min(vec4u(first) + vec4u(4u, 5u, 6u, 7u), vec4u(last)) * stride;
}

// Tile row i += a · B, where B holds 4 values of k (rows) by the tile's 8 columns.
fn mac4(acc: ptr<function, array<vec4f, 16>>, i: u32, a: vec4f, b0: mat4x4f, b1: mat4x4f) {
  (*acc)[2u * i] += b0 * a;
  (*acc)[2u * i + 1u] += b1 * a;
}

// Tile row i += a * B, where B holds one value of k by the tile's 8 columns.
fn mac1(acc: ptr<function, array<vec4f, 16>>, i: u32, a: f32, b0: vec4f, b1: vec4f) {
  (*acc)[2u * i] = fma(vec4f(a), b0, (*acc)[2u * i]);
  (*acc)[2u * i + 1u] = fma(vec4f(a), b1, (*acc)[2u * i + 1u]);
}

// One step of 4 values of k for all 8 rows; lo/hi are the rows' vec4 offsets at this k.
fn mac4_rows(acc: ptr<function, array<vec4f, 16>>, lo: vec4u, hi: vec4u, b0: mat4x4f, b1: mat4x4f) {
  mac4(acc, 0u, a4[lo.x], b0, b1);
  mac4(acc, 1u, a4[lo.y], b0, b1);
  mac4(acc, 2u, a4[lo.z], b0, b1);
  mac4(acc, 3u, a4[lo.w], b0, b1);
  mac4(acc, 4u, a4[hi.x], b0, b1);
  mac4(acc, 5u, a4[hi.y], b0, b1);
  mac4(acc, 6u, a4[hi.z], b0, b1);
  mac4(acc, 7u, a4[hi.w], b0, b1);
}

// Writes tile row i (8 columns from col0). Constant indices only: indexing `acc` with a
// runtime value would move the whole tile out of registers.
fn store_row(acc: ptr<function, array<vec4f, 16>>, i: u32, r: u32, row: u32, col0: u32) {
  let lo = (*acc)[2u * i];
  let hi = (*acc)[2u * i + 1u];
  store(r, row, col0, lo.x);
  store(r, row, col0 + 1u, lo.y);
  store(r, row, col0 + 2u, lo.z);
  store(r, row, col0 + 3u, lo.w);
  store(r, row, col0 + 4u, hi.x);
  store(r, row, col0 + 5u, hi.y);
  store(r, row, col0 + 6u, hi.z);
  store(r, row, col0 + 7u, hi.w);
}

fn store_tile(acc: ptr<function, array<vec4f, 16>>, r: u32, row0: u32, col0: u32) {
  store_row(acc, 0u, r, row0, col0);
  store_row(acc, 1u, r, row0 + 1u, col0);
  store_row(acc, 2u, r, row0 + 2u, col0);
  store_row(acc, 3u, r, row0 + 3u, col0);
  store_row(acc, 4u, r, row0 + 4u, col0);
  store_row(acc, 5u, r, row0 + 5u, col0);
  store_row(acc, 6u, r, row0 + 6u, col0);
  store_row(acc, 7u, r, row0 + 7u, col0);
}

// out = A Bᵀ; per 4 values of k: 8 vec4 loads of A rows, 8 of B rows, 256 FMAs.
@compute @workgroup_size(WG)
fn fallback_nt_vec4(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let t = tile_index(wid, lid, nwg);
  if (t >= p.tilesM * p.tilesN) { return; }
  let r = wid.z;
  let row0 = (t / p.tilesN) * TM;
  let col0 = (t % p.tilesN) * TN;
  let K4 = p.K / 4u;
  let aBase = (p.aOff + r * p.aStride) / 4u;
  let bBase = (p.bOff + r * p.bStride) / 4u;
  let aLo = offsets_lo(aBase, row0, p.M - 1u, K4);
  let aHi = offsets_hi(aBase, row0, p.M - 1u, K4);
  let bLo = offsets_lo(bBase, col0, p.N - 1u, K4);
  let bHi = offsets_hi(bBase, col0, p.N - 1u, K4);
  var acc: array<vec4f, 16>;
  for (var k = 0u; k < K4; k++) {
    // Columns of B' = rows of B: b0[c][q] = B[col0 + c, 4k + q], transposed to (k, column).
    let b0 = transpose(mat4x4f(b4[bLo.x + k], b4[bLo.y + k], b4[bLo.z + k], b4[bLo.w + k]));
    let b1 = transpose(mat4x4f(b4[bHi.x + k], b4[bHi.y + k], b4[bHi.z + k], b4[bHi.w + k]));
    mac4_rows(&acc, aLo + k, aHi + k, b0, b1);
  }
  store_tile(&acc, r, row0, col0);
}

// out = A B; per 4 values of k: 8 vec4 loads of A rows, 8 of B (4 rows x 2 vec4), 256 FMAs.
@compute @workgroup_size(WG)
fn fallback_nn_vec4(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let t = tile_index(wid, lid, nwg);
  if (t >= p.tilesM * p.tilesN) { return; }
  let r = wid.z;
  let row0 = (t / p.tilesN) * TM;
  let col0 = (t % p.tilesN) * TN;
  let K4 = p.K / 4u;
  let N4 = p.N / 4u;
  let aBase = (p.aOff + r * p.aStride) / 4u;
  let bBase = (p.bOff + r * p.bStride) / 4u;
  let aLo = offsets_lo(aBase, row0, p.M - 1u, K4);
  let aHi = offsets_hi(aBase, row0, p.M - 1u, K4);
  let c0 = bBase + min(col0 / 4u, N4 - 1u);
  let c1 = bBase + min(col0 / 4u + 1u, N4 - 1u);
  var acc: array<vec4f, 16>;
  for (var k = 0u; k < K4; k++) {
    let k0 = 4u * k * N4;
    let k1 = k0 + N4;
    let k2 = k1 + N4;
    let k3 = k2 + N4;
    let b0 = mat4x4f(b4[c0 + k0], b4[c0 + k1], b4[c0 + k2], b4[c0 + k3]);
    let b1 = mat4x4f(b4[c1 + k0], b4[c1 + k1], b4[c1 + k2], b4[c1 + k3]);
    mac4_rows(&acc, aLo + k, aHi + k, b0, b1);
  }
  store_tile(&acc, r, row0, col0);
}

// Scalar loads, any shape, offset and stride. B'[k, col] = b[bCol[col] + k * bStep].
fn fallback_scalar(wid: vec3u, lid: vec3u, nwg: vec3u, trans: bool) {
  let t = tile_index(wid, lid, nwg);
  if (t >= p.tilesM * p.tilesN) { return; }
  let r = wid.z;
  let row0 = (t / p.tilesN) * TM;
  let col0 = (t % p.tilesN) * TN;
  let aBase = p.aOff + r * p.aStride;
  let bBase = p.bOff + r * p.bStride;
  let aLo = offsets_lo(aBase, row0, p.M - 1u, p.K);
  let aHi = offsets_hi(aBase, row0, p.M - 1u, p.K);
  let bColStride = select(1u, p.K, trans);
  let bStep = select(p.N, 1u, trans);
  let bLo = offsets_lo(bBase, col0, p.N - 1u, bColStride);
  let bHi = offsets_hi(bBase, col0, p.N - 1u, bColStride);
  var acc: array<vec4f, 16>;
  for (var k = 0u; k < p.K; k++) {
    let lo = bLo + k * bStep;
    let hi = bHi + k * bStep;
    let b0 = vec4f(b[lo.x], b[lo.y], b[lo.z], b[lo.w]);
    let b1 = vec4f(b[hi.x], b[hi.y], b[hi.z], b[hi.w]);
    mac1(&acc, 0u, a[aLo.x + k], b0, b1);
    mac1(&acc, 1u, a[aLo.y + k], b0, b1);
    mac1(&acc, 2u, a[aLo.z + k], b0, b1);
    mac1(&acc, 3u, a[aLo.w + k], b0, b1);
    mac1(&acc, 4u, a[aHi.x + k], b0, b1);
    mac1(&acc, 5u, a[aHi.y + k], b0, b1);
    mac1(&acc, 6u, a[aHi.z + k], b0, b1);
    mac1(&acc, 7u, a[aHi.w + k], b0, b1);
  }
  store_tile(&acc, r, row0, col0);
}

@compute @workgroup_size(WG)
fn fallback_nn_scalar(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  fallback_scalar(wid, lid, nwg, false);
}

@compute @workgroup_size(WG)
fn fallback_nt_scalar(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  fallback_scalar(wid, lid, nwg, true);
}

// ---------------------------------------------------------------------------------------------
// tiled_*: workgroup-memory tiling for real GPUs.

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
const TS: u32 = 16u; // invocations per side of the workgroup
const TPT: u32 = 4u; // outputs per invocation per side

var<workgroup> tileA: array<f32, 1024>; // [BK][BM]: tileA[k * BM + m]
var<workgroup> tileB: array<f32, 1024>; // [BK][BN]: tileB[k * BN + n]

fn tiled(wid: vec3u, lid: vec3u, trans: bool) {
  let r = wid.z;
  let row0 = wid.y * BM;
  let col0 = wid.x * BN;
  let tid = lid.y * TS + lid.x;
  let aBase = p.aOff + r * p.aStride;
  let bBase = p.bOff + r * p.bStride;
  var acc: array<array<f32, TPT>, TPT>;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    // 1024 elements per tile, 4 per invocation; consecutive invocations read consecutive
    // addresses (along K for A and for transposed B, along N otherwise).
    for (var q = 0u; q < 4u; q++) {
      let e = tid + q * TS * TS;
      let am = e / BK;
      let ak = e % BK;
      var av = 0.0;
      if (row0 + am < p.M && k0 + ak < p.K) { av = a[aBase + (row0 + am) * p.K + k0 + ak]; }
      tileA[ak * BM + am] = av;
      var bn: u32;
      var bk: u32;
      if (trans) {
        bn = e / BK;
        bk = e % BK;
      } else {
        bk = e / BN;
        bn = e % BN;
      }
      var bv = 0.0;
      if (col0 + bn < p.N && k0 + bk < p.K) {
        if (trans) {
          bv = b[bBase + (col0 + bn) * p.K + k0 + bk];
        } else {
          bv = b[bBase + (k0 + bk) * p.N + col0 + bn];
        }
      }
      tileB[bk * BN + bn] = bv;
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      var av: array<f32, TPT>;
      var bv: array<f32, TPT>;
      for (var i = 0u; i < TPT; i++) { av[i] = tileA[k * BM + lid.y + i * TS]; }
      for (var j = 0u; j < TPT; j++) { bv[j] = tileB[k * BN + lid.x + j * TS]; }
      for (var i = 0u; i < TPT; i++) {
        for (var j = 0u; j < TPT; j++) { acc[i][j] = fma(av[i], bv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < TPT; i++) {
    for (var j = 0u; j < TPT; j++) {
      store(r, row0 + lid.y + i * TS, col0 + lid.x + j * TS, acc[i][j]);
    }
  }
}

@compute @workgroup_size(TS, TS)
fn tiled_nn(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  tiled(wid, lid, false);
}

@compute @workgroup_size(TS, TS)
fn tiled_nt(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  tiled(wid, lid, true);
}
