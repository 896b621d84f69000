/**
 * 2-D convolution (`shaders/conv2d.wgsl`): NCHW, square stride and padding, zero padding, bias
 * fused, a population of weights evaluated in one dispatch.
 *
 * Two kernel variants compute the same thing:
 * - `"fallback"` (software adapters such as llvmpipe): a direct convolution where each
 *   invocation holds a tile of output pixels times a block of output channels in registers,
 *   after a small dispatch that repacks the weights so one vec4 load covers 4 output channels
 *   (the packing is kept with the weights and redone only after they are written: see
 *   `Gpu.derived`).
 *   The tile is chosen per shape by a cost model fitted on llvmpipe (see {@linkcode chooseTile}).
 *   Stride-1 convolutions with small kernels run `conv2d_rows`, which streams the input patch
 *   through registers one kernel row at a time and may take tiles of up to 20 pixels; the rest
 *   run `conv2d_direct`. Both do the same operations in the same order: the results are equal
 *   bit for bit.
 * - `"tiled"` (real GPUs): implicit GEMM through workgroup-memory tiles.
 *
 * Tensors larger than one storage binding (128 MiB on llvmpipe) are fine: a call whose operands
 * do not fit is split into dispatches over ranges of population rows, or of images when one row
 * is too big, each binding only its range (`src/ops/_chunks.ts`); results do not change.
 *
 * @module
 */

import type { KernelVariant } from "../gpu/device.ts";
import type { KernelSpec } from "../gpu/kernel.ts";
import { formatShape, Tensor } from "../tensor.ts";
import {
  anyPopulation,
  ceilDiv,
  checkInt,
  dummyBuffer,
  MAX_GROUPS,
  populationRows,
  rowLayout,
  sameGpu,
  SPECIAL_VALUES_WGSL,
  withRows,
} from "./_util.ts";
import { type ChunkOperand, planChunks } from "./_chunks.ts";
import { maxPool2d } from "./pool.ts";
import code from "../../shaders/conv2d.wgsl" with { type: "text" };

const FILE = "shaders/conv2d.wgsl";

const PACK: KernelSpec = {
  file: FILE,
  prelude: SPECIAL_VALUES_WGSL,
  code,
  entryPoint: "pack_weights",
  storage: ["read", "write"],
};
const DIRECT: KernelSpec = {
  file: FILE,
  prelude: SPECIAL_VALUES_WGSL,
  code,
  entryPoint: "conv2d_direct",
  storage: ["read", "read", "read", "write"],
};
const GEMM: KernelSpec = { ...DIRECT, entryPoint: "conv2d_gemm" };
const ROWS: KernelSpec = { ...DIRECT, entryPoint: "conv2d_rows" };
const ROWS_UNROLLED: KernelSpec = { ...DIRECT, entryPoint: "conv2d_rows_unrolled" };

/**
 * Largest tile body (taps × pixels × channel groups, vec4 FMAs per input channel) for which
 * `conv2d_rows_unrolled` also writes out the loop over kernel rows: small bodies pay for the
 * loop's bookkeeping (MNIST's conv3, 2×2 taps × 8 pixels × 4 groups = 128: 25% faster), large
 * ones for the code size (its conv2, 432: 20% slower).
 */
const UNROLL_KY_MAX = 192;

/** What `conv2d_rows` writes out: tile rows and pixels, kernel width, patch width. */
const ROWS_MAX_TH = 4;
const ROWS_MAX_PIXELS = 20;
const ROWS_MAX_KW = 5;
const ROWS_MAX_SW = 16;

/** True when `conv2d_rows` covers a `th × tw` tile of the convolution. */
function rowsCovers(g: Geometry, th: number, tw: number): boolean {
  return g.stride === 1 && g.kw <= ROWS_MAX_KW && th <= ROWS_MAX_TH &&
    th * tw <= ROWS_MAX_PIXELS && tw - 1 + g.kw <= ROWS_MAX_SW;
}

/**
 * The direct kernel for a region: `conv2d_rows` (the input patch streamed through registers one
 * kernel row at a time) within the limits its written-out loops cover, else `conv2d_direct`.
 * Both compute every output with the same operations in the same order, so the choice changes
 * no bit.
 */
function directKernel(g: Geometry, th: number, tw: number, nc: number): KernelSpec {
  if (!rowsCovers(g, th, tw)) return DIRECT;
  return g.kh <= 4 && g.kh * g.kw * th * tw * nc <= UNROLL_KY_MAX ? ROWS_UNROLLED : ROWS;
}

const WG = 64;
/**
 * Register budget of the direct kernel, in vec4 accumulators (TH·TW·NC) and pixels (TH·TW).
 * Past it llvmpipe stops unrolling and the time jumps 2-5x; the cliff comes earlier for larger
 * kernels and for padded inputs (more code per tap), so 48 accumulators are only allowed for
 * unpadded kernels of at most 16 taps (measured on 2x2 to 7x7 kernels).
 */
const MAX_ACC = 40;
const MAX_ACC_SMALL = 48;
const MAX_PIXELS = 12;
const MAX_PATCH = 128;

/** Options of {@linkcode conv2d}. */
export interface Conv2dOptions {
  /** Step between output pixels, both axes. Default 1. */
  stride?: number;
  /** Zero padding on each side, both axes. Default 0. */
  padding?: number;
  /**
   * Fused max pooling: window and stride of a `maxPool2d` applied to the convolution's output
   * (no padding, floor output size). Default 1 (none).
   */
  maxPool?: number;
  /** Fused ReLU on the (pooled) output. Default false. */
  relu?: boolean;
  /** Kernel variant; defaults to the device's (`gpu.variant`). */
  variant?: KernelVariant;
}

/** Tile of the direct kernel: `th × tw` output pixels times `4·nc` output channels. */
export interface ConvTile {
  tw: number;
  th: number;
  nc: number;
  /** Model cost per image (units of one scalar storage load on llvmpipe). */
  cost: number;
}

/** Shape facts the kernels need. */
interface Geometry {
  batch: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  kh: number;
  kw: number;
  ho: number;
  wo: number;
  stride: number;
  pad: number;
  /** Fused max-pool window (1 = none) and the pooled output size. */
  pool: number;
  hp: number;
  wp: number;
}

/** What {@linkcode chooseTile} needs to know about a convolution. */
export interface TileProblem {
  /** Convolution output size. */
  ho: number;
  wo: number;
  kh: number;
  kw: number;
  stride: number;
  cin: number;
  cout: number;
  /** Zero padding of the input. Default 0. */
  padding?: number;
  /** Fused max-pool window; tiles are then multiples of it. Default 1. */
  pool?: number;
  /** Most pixels per tile. Default 12. */
  maxPixels?: number;
}

/**
 * Picks the direct kernel's tile for a convolution by minimising a cost model fitted on
 * llvmpipe, in units of one scalar storage load: per tile and input channel the input patch
 * loads (1.5 when padded), 0.85 per vec4 weight load and 0.15 per vec4 FMA, plus one per stored
 * output. Only
 * tiles whose accumulators fit the register budget are considered; with a fused pool, tile
 * sides are multiples of the window. Exported for the benchmark and tests.
 *
 * @param g the convolution.
 * @returns the tile, or undefined when no tile fits (a kernel of more than 128 taps, or a
 *   fused pool window larger than 3).
 * @example
 * ```ts ignore
 * chooseTile({ ho: 10, wo: 10, kh: 3, kw: 3, stride: 1, cin: 16, cout: 32 }); // 5x2, nc 4
 * ```
 */
export function chooseTile(g: TileProblem): ConvTile | undefined {
  const pool = g.pool ?? 1;
  const hp = Math.floor(g.ho / pool), wp = Math.floor(g.wo / pool);
  const taps = g.kh * g.kw;
  const padded = (g.padding ?? 0) > 0;
  const maxAcc = !padded && taps <= 16 ? MAX_ACC_SMALL : MAX_ACC;
  const maxPixels = g.maxPixels ?? MAX_PIXELS;
  let best: ConvTile | undefined;
  let bestCost = Infinity;
  for (let nc = 1; nc <= 4; nc++) {
    const blocks = ceilDiv(g.cout, 4 * nc);
    for (let th = pool; th <= maxPixels; th += pool) {
      for (let tw = pool; th * tw <= maxPixels && th * tw * nc <= maxAcc; tw += pool) {
        const patch = ((th - 1) * g.stride + g.kh) * ((tw - 1) * g.stride + g.kw);
        if (patch > MAX_PATCH) continue;
        const tiles = ceilDiv(hp, th / pool) * ceilDiv(wp, tw / pool);
        const cost = blocks * tiles * tileCost(g, th, tw, nc);
        // Ties go to the first found: fewer channels, then the wider tile.
        if (cost < bestCost - 1e-9) {
          bestCost = cost;
          best = { tw, th, nc, cost };
        }
      }
    }
  }
  return best;
}

/** Model cost of one invocation's tile of `th × tw` pixels and `4·nc` channels (see chooseTile). */
function tileCost(g: TileProblem, th: number, tw: number, nc: number): number {
  const pool = g.pool ?? 1;
  const patch = ((th - 1) * g.stride + g.kh) * ((tw - 1) * g.stride + g.kw);
  const taps = g.kh * g.kw;
  // A padded patch element costs more: bounds checks and a select.
  const perChannel = ((g.padding ?? 0) > 0 ? 1.5 : 1) * patch + 0.85 * taps * nc +
    0.15 * th * tw * taps * nc;
  return g.cin * perChannel + (th * tw * 4 * nc) / pool ** 2;
}

/**
 * Model cost of one more dispatch (~50 µs on llvmpipe, which runs about a million model units
 * per millisecond on two cores).
 */
const DISPATCH_COST = 50_000;

/** One dispatch of the direct kernel: a rectangle of the output covered by whole tiles. */
export interface ConvRegion {
  /** Tile of this region, output pixels (multiples of the fused pool window). */
  th: number;
  tw: number;
  /** First output row and column of the region (convolution pixels). */
  y0: number;
  x0: number;
  /** Tiles down and across. */
  tilesY: number;
  tilesX: number;
  /** Invocations per workgroup: tiles of a (row, channel block) fill whole workgroups. */
  wg: number;
}

/**
 * Invocations per workgroup for `tiles` tiles: the size among 64, 32, 16 and 8 that leaves the
 * fewest invocations without a tile (they compute a copy and store nothing), the larger on a tie.
 */
function workgroupSize(tiles: number): number {
  let best = WG;
  for (const wg of [WG, 32, 16, 8]) {
    if (ceilDiv(tiles, wg) * wg < ceilDiv(tiles, best) * best) best = wg;
  }
  return best;
}

/**
 * Covers the stored output (`⌊ho/pool⌋ × ⌊wo/pool⌋` per image, `images` images per channel
 * block) with the tile: either one dispatch whose edge tiles overhang the output (their extra
 * pixels are computed and not stored), or, when the model says the saved work pays for the
 * extra dispatches, the whole tiles plus strips along the bottom and right edges with tiles cut
 * to fit (up to four dispatches). Invocations without a tile count as work. MNIST's conv2 is
 * the case in point: 1×3-pooled tiles overhang its 5×5 pooled output by a sixth.
 *
 * @param g the convolution.
 * @param tile the tile of {@linkcode chooseTile}.
 * @param images images of the batch.
 * @param blocks parameter rows × channel blocks of the call (each covers every image): the more,
 *   the cheaper an extra dispatch in comparison.
 * @returns the dispatches; together they cover every stored pixel exactly once.
 * @example
 * ```ts ignore
 * const conv2 = { ho: 10, wo: 10, kh: 3, kw: 3, stride: 1, cin: 16, cout: 32, pool: 2 };
 * planRegions(conv2, chooseTile(conv2)!, 32, 2); // 1×3-pooled tiles, then a 1×2 strip
 * ```
 */
export function planRegions(
  g: TileProblem,
  tile: { th: number; tw: number; nc: number },
  images: number,
  blocks = 1,
): ConvRegion[] {
  const pool = g.pool ?? 1;
  const hp = Math.floor(g.ho / pool), wp = Math.floor(g.wo / pool);
  const region = (
    th: number,
    tw: number,
    y0: number,
    x0: number,
    tilesY: number,
    tilesX: number,
  ) => ({ th, tw, y0, x0, tilesY, tilesX, wg: workgroupSize(images * tilesY * tilesX) });
  const a = tile.th / pool, b = tile.tw / pool; // the tile in stored pixels
  const one = region(tile.th, tile.tw, 0, 0, ceilDiv(hp, a), ceilDiv(wp, b));
  const fullY = Math.floor(hp / a), fullX = Math.floor(wp / b);
  const remY = hp - fullY * a, remX = wp - fullX * b;
  if (remY === 0 && remX === 0) return [one];
  // Bands down and across: [tile count, tile side, first pixel].
  const bands = (full: number, side: number, rem: number) =>
    [[full, side, 0], [rem > 0 ? 1 : 0, rem * pool, full * side]].filter(([n]) => n > 0);
  const split: ConvRegion[] = [];
  for (const [tilesY, th, y0] of bands(fullY, tile.th, remY)) {
    for (const [tilesX, tw, x0] of bands(fullX, tile.tw, remX)) {
      split.push(region(th, tw, y0, x0, tilesY, tilesX));
    }
  }
  // Per image, invocations without a tile included.
  const cost = (r: ConvRegion) =>
    (ceilDiv(images * r.tilesY * r.tilesX, r.wg) * r.wg / images) *
    tileCost(g, r.th, r.tw, tile.nc);
  const splitCost = split.reduce((sum, r) => sum + cost(r), 0) +
    (DISPATCH_COST * (split.length - 1)) / (images * blocks);
  return splitCost < cost(one) ? split : [one];
}

/** Model cost of a separate `maxPool2d` pass per convolution output value (same units). */
const POOL_PASS_COST = 1.25;

/**
 * The direct kernel's plan: fused with the max pool when the model says it pays (on
 * llvmpipe the stores saved outweigh tiles constrained to multiples of the window), else
 * unfused (`pool` 1). Undefined when no tile fits (very large kernels).
 */
function directTile(g: Geometry): (ConvTile & { pool: number }) | undefined {
  // conv2d_rows has no register cliff at 12 pixels: it may take tiles of up to 20 (MNIST's conv2:
  // 2×10 pixels × 8 channels, its whole pooled output width, 9% faster than 2×6 × 16 and an edge
  // strip), when the tile the model picks is one it covers.
  const wide = g.stride === 1 && g.kw <= ROWS_MAX_KW ? planTile(g, ROWS_MAX_PIXELS) : undefined;
  if (wide !== undefined && rowsCovers(g, wide.th, wide.tw)) return wide;
  return planTile(g, MAX_PIXELS);
}

/** The direct kernel's plan among tiles of at most `maxPixels` pixels (see directTile). */
function planTile(g: Geometry, maxPixels: number): (ConvTile & { pool: number }) | undefined {
  const plain = chooseTile({ ...g, padding: g.pad, pool: 1, maxPixels });
  const pooled = g.pool > 1 ? chooseTile({ ...g, padding: g.pad, maxPixels }) : undefined;
  if (pooled !== undefined && plain !== undefined) {
    if (pooled.cost < plain.cost + POOL_PASS_COST * g.cout * g.ho * g.wo) {
      return { ...pooled, pool: g.pool };
    }
  }
  return plain === undefined ? undefined : { ...plain, pool: 1 };
}

/** Splits `groups` along x (≤ 65535) and multiplies the overflow into y. */
function grid(groups: number, yBlocks: number, rows: number): [number, number, number] {
  const fold = ceilDiv(groups, MAX_GROUPS);
  const x = ceilDiv(groups, fold);
  if (yBlocks * fold > MAX_GROUPS || rows > MAX_GROUPS) {
    throw new RangeError(`conv2d: the problem is too large for one dispatch`);
  }
  return [x, yBlocks * fold, rows];
}

function checkShapes(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  stride: number,
  pad: number,
  pool: number,
): Geometry {
  const xs = x.rowShape, ws = weight.rowShape;
  if (xs.length !== 4 || ws.length !== 4) {
    throw new TypeError(
      `conv2d: expected x [P?, B, Cin, H, W] and weight [P?, Cout, Cin, kH, kW], received ` +
        `${formatShape(x.shape)} and ${formatShape(weight.shape)}`,
    );
  }
  const [batch, cin, h, w] = xs;
  const [cout, wcin, kh, kw] = ws;
  if (wcin !== cin) {
    throw new TypeError(
      `conv2d: x ${formatShape(x.shape)} has ${cin} channels but weight ` +
        `${formatShape(weight.shape)} expects ${wcin}`,
    );
  }
  if (bias !== undefined && (bias.rowShape.length !== 1 || bias.rowShape[0] !== cout)) {
    throw new TypeError(
      `conv2d: bias ${formatShape(bias.shape)} does not match weight ${formatShape(weight.shape)}`,
    );
  }
  if (kh > h + 2 * pad || kw > w + 2 * pad || kh < 1 || kw < 1) {
    throw new TypeError(
      `conv2d: kernel ${kh}x${kw} of weight ${formatShape(weight.shape)} does not fit x ` +
        `${formatShape(x.shape)} with padding ${pad}`,
    );
  }
  const ho = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const wo = Math.floor((w + 2 * pad - kw) / stride) + 1;
  if (pool > ho || pool > wo) {
    throw new TypeError(
      `conv2d: maxPool ${pool} does not fit the ${ho}x${wo} output of x ${formatShape(x.shape)} ` +
        `and weight ${formatShape(weight.shape)}`,
    );
  }
  const hp = Math.floor(ho / pool), wp = Math.floor(wo / pool);
  return { batch, cin, h, w, cout, kh, kw, ho, wo, stride, pad, pool, hp, wp };
}

/**
 * 2-D convolution of NCHW images, torch's `F.conv2d(x, weight, bias, stride, padding)`, for
 * every population row in one dispatch.
 *
 * `x` is `[B, Cin, H, W]` (shared by all rows) or `[P, B, Cin, H, W]`; `weight` is
 * `[Cout, Cin, kH, kW]` or `[P, Cout, Cin, kH, kW]`; `bias` is `[Cout]` or `[P, Cout]`. Any
 * operand may be a strided population view (e.g. a parameter in the flat parameter buffer).
 * The output is `[P?, B, Cout, Ho, Wo]` with `Ho = floor((H + 2·padding − kH) / stride) + 1`,
 * with a population axis when any operand has one.
 *
 * `maxPool: k` and `relu: true` fuse `relu(maxPool2d(conv2d(x), k))`, the MNIST CNN's
 * conv → max-pool → ReLU, into the convolution (output `[P?, B, Cout, ⌊Ho/k⌋, ⌊Wo/k⌋]`): on the
 * fallback variant the pooling happens in registers, so the full-size activation is never
 * written (the tiled variant and windows above 3 run a separate `maxPool2d`).
 *
 * @param x input images.
 * @param weight filters, torch layout.
 * @param bias optional per-channel bias, fused.
 * @param options `stride`, `padding`, `maxPool`, `relu`, `variant`.
 * @returns a new tensor.
 * @throws {TypeError} for wrong ranks, a channel or bias mismatch, a kernel larger than the
 *   padded input (or a pool window larger than the output), population sizes that differ, or
 *   tensors on different devices.
 * @throws {RangeError} for `stride < 1`, `padding < 0`, `maxPool < 1` (or non-integers), or an
 *   unknown variant.
 * @example
 * ```ts ignore
 * const y = conv2d(images, conv.weight.view(), conv.bias.view(), { padding: 1 });
 * ```
 */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias?: Tensor,
  options: Conv2dOptions = {},
): Tensor {
  const stride = options.stride ?? 1;
  const padding = options.padding ?? 0;
  const pool = options.maxPool ?? 1;
  const relu = options.relu === true;
  checkInt("conv2d", "stride", stride, 1);
  checkInt("conv2d", "padding", padding, 0);
  checkInt("conv2d", "maxPool", pool, 1);
  const gpu = sameGpu("conv2d", x, weight, bias);
  const variant = options.variant ?? gpu.variant;
  if (variant !== "fallback" && variant !== "tiled") {
    throw new RangeError(`conv2d: variant must be "fallback" or "tiled", received ${variant}`);
  }
  const g = checkShapes(x, weight, bias, stride, padding, pool);
  const rows = populationRows("conv2d", x, weight, bias);
  const population = anyPopulation(x, weight, bias);
  const tile = variant === "fallback" ? directTile(g) : undefined;
  const fused = tile !== undefined && tile.pool === g.pool;
  // What the kernel computes: the pooled output when fused, else the full one.
  const k = fused ? g : { ...g, pool: 1, hp: g.ho, wp: g.wo };
  const out = Tensor.empty(withRows(population, rows, [g.batch, g.cout, k.hp, k.wp]), {
    gpu,
    population,
  });
  try {
    if (out.numel > 0) {
      if (tile !== undefined) runDirect(x, weight, bias, out, k, rows, tile, fused && relu);
      else runGemm(x, weight, bias, out, k, rows);
    }
  } catch (error) {
    out.dispose();
    throw error;
  }
  if (fused || (pool === 1 && !relu)) return out;
  // Unfused epilogue (tiled variant, or the pool window does not pay off in registers).
  const pooled = maxPool2d(out, { kernelSize: pool, relu });
  out.dispose();
  return pooled;
}

function baseParams(x: Tensor, weight: Tensor, bias: Tensor | undefined, out: Tensor, g: Geometry) {
  const xl = rowLayout(x), wl = rowLayout(weight);
  const bl = bias === undefined ? { off: 0, stride: 0 } : rowLayout(bias);
  return {
    batch: g.batch,
    cin: g.cin,
    h: g.h,
    w: g.w,
    cout: g.cout,
    ho: g.ho,
    wo: g.wo,
    kh: g.kh,
    kw: g.kw,
    stride: g.stride,
    pad: g.pad,
    xOff: xl.off,
    xStride: xl.stride,
    wOff: wl.off,
    wStride: wl.stride,
    pStride: 0,
    bOff: bl.off,
    bStride: bl.stride,
    hasBias: bias === undefined ? 0 : 1,
    oOff: out.offset,
    oStride: out.population ? out.rowStride : 0,
    nb: 1,
    tilesX: 1,
    tilesY: 1,
    hp: g.hp,
    wp: g.wp,
    y0: 0,
    x0: 0,
    pOff: 0,
  };
}

/** The operands an input, bias and output of the kernels are to {@linkcode planChunks}. */
function operands(
  x: Tensor,
  bias: Tensor | undefined,
  out: Tensor,
  g: Geometry,
): { x: ChunkOperand; bias: ChunkOperand; out: ChunkOperand } {
  const xl = rowLayout(x);
  const image = g.cin * g.h * g.w;
  const outImage = g.cout * g.hp * g.wp;
  const bl = bias === undefined ? { off: 0, stride: 0 } : rowLayout(bias);
  return {
    x: { name: "x", buffer: x.buffer, off: xl.off, stride: xl.stride, item: image, span: image },
    bias: {
      name: "bias",
      buffer: bias?.buffer ?? dummyBuffer(out.gpu),
      off: bl.off,
      stride: bl.stride,
      span: bias === undefined ? 1 : g.cout,
    },
    out: {
      name: "out",
      buffer: out.buffer,
      off: out.offset,
      stride: out.population ? out.rowStride : 0,
      item: outImage,
      span: outImage,
    },
  };
}

function runDirect(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  out: Tensor,
  g: Geometry,
  rows: number,
  tile: ConvTile,
  relu: boolean,
): void {
  const gpu = out.gpu;
  const nb = ceilDiv(g.cout, 4 * tile.nc);
  const K = g.cin * g.kh * g.kw;
  const perRow = nb * K * tile.nc; // vec4 per packed weight row
  const params = {
    ...baseParams(x, weight, bias, out, g),
    pStride: weight.population ? perRow : 0,
    nb,
  };
  // The packed weights are kept and repacked only after a write to the weights' buffer: an
  // evaluation loop with fixed weights packs once, a training step once per step.
  const wl = rowLayout(weight);
  const key = `conv2d pack ${wl.off}+${wl.stride}x${weight.rows} ${g.cout}x${K} nc${tile.nc}`;
  const packedBytes = Math.max(weight.rows * perRow, 1) * 16;
  const packed = gpu.derived(weight.buffer, key, packedBytes, (to) => {
    const pack = gpu.kernel(PACK, { WG, NC: tile.nc });
    const chunks = planChunks(
      gpu,
      "conv2d",
      [
        { name: "weight", buffer: weight.buffer, off: wl.off, stride: wl.stride, span: g.cout * K },
        { name: "packed weight", buffer: to, off: 0, stride: perRow, span: perRow, unit: 16 },
      ],
      weight.rows,
      1,
    );
    for (const c of chunks) {
      gpu.dispatch(
        pack,
        c.bindings,
        { ...params, wOff: c.offs[0], pOff: c.offs[1] },
        grid(ceilDiv(perRow, WG), 1, c.rows),
      );
    }
  });
  const ops = operands(x, bias, out, g);
  const packedOperand: ChunkOperand = {
    name: "packed weight",
    buffer: packed,
    off: 0,
    stride: params.pStride,
    span: perRow,
    unit: 16,
  };
  const chunks = planChunks(
    gpu,
    "conv2d",
    [ops.x, packedOperand, ops.bias, ops.out],
    rows,
    g.batch,
    { itemName: "image" },
  );
  const problem = { ...g, padding: g.pad };
  for (const c of chunks) {
    const chunkParams = {
      ...params,
      batch: c.items,
      xOff: c.offs[0],
      pOff: c.offs[1],
      bOff: c.offs[2],
      oOff: c.offs[3],
    };
    for (const region of planRegions(problem, tile, c.items, c.rows * nb)) {
      const kernel = gpu.kernel(directKernel(g, region.th, region.tw, tile.nc), {
        WG: region.wg,
        TW: region.tw,
        TH: region.th,
        NC: tile.nc,
        KH: g.kh,
        KW: g.kw,
        SX: g.stride,
        PADDED: g.pad > 0 ? 1 : 0,
        POOL: g.pool,
        RELU: relu ? 1 : 0,
      });
      const { tilesY, tilesX, y0, x0 } = region;
      gpu.dispatch(
        kernel,
        c.bindings,
        { ...chunkParams, tilesY, tilesX, y0, x0 },
        grid(ceilDiv(c.items * tilesY * tilesX, region.wg), nb, c.rows),
      );
    }
  }
}

function runGemm(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  out: Tensor,
  g: Geometry,
  rows: number,
): void {
  const gpu = out.gpu;
  const WGM = 16, TM = 4, TN = 4;
  const WGN = g.cout <= 16 ? 4 : g.cout <= 32 ? 8 : 16;
  const nb = ceilDiv(g.cout, WGN * TN);
  const kernel = gpu.kernel(GEMM, { WGM, WGN, TM, TN });
  const params = { ...baseParams(x, weight, bias, out, g), nb };
  const wl = rowLayout(weight);
  const K = g.cin * g.kh * g.kw;
  const ops = operands(x, bias, out, g);
  const chunks = planChunks(
    gpu,
    "conv2d",
    [
      ops.x,
      { name: "weight", buffer: weight.buffer, off: wl.off, stride: wl.stride, span: g.cout * K },
      ops.bias,
      ops.out,
    ],
    rows,
    g.batch,
    { itemName: "image" },
  );
  for (const c of chunks) {
    gpu.dispatch(
      kernel,
      c.bindings,
      {
        ...params,
        batch: c.items,
        xOff: c.offs[0],
        wOff: c.offs[1],
        bOff: c.offs[2],
        oOff: c.offs[3],
      },
      grid(ceilDiv(c.items * g.ho * g.wo, WGM * TM), nb, c.rows),
    );
  }
}
