/**
 * Matrix products (`shaders/matmul.wgsl`): `matmul` (optionally with `b` transposed and a fused
 * bias) and `linear` (torch.nn.functional.linear). One dispatch covers every population row.
 *
 * Two kernel families: `"fallback"` for software adapters (register tiles, no workgroup
 * memory; vec4 loads when K, N, offsets and strides allow, scalar loads otherwise) and
 * `"tiled"` for real GPUs (64 x 64 workgroup-memory tiles). `gpu.variant` picks one; the
 * `variant` option overrides it (tests run both).
 *
 * @module
 */

import type { Gpu, KernelVariant } from "../gpu/device.ts";
import type { KernelSpec } from "../gpu/kernel.ts";
import { formatShape, Tensor } from "../tensor.ts";
import {
  anyPopulation,
  ceilDiv,
  dummyBuffer,
  fold,
  MAX_GROUPS,
  populationRows,
  rowLayout,
  sameGpu,
} from "./_util.ts";
import { type Chunk, planChunks } from "./_chunks.ts";
import code from "../../shaders/matmul.wgsl" with { type: "text" };

/** Options of {@linkcode matmul}. */
export interface MatmulOptions {
  /** Read `b` as `[P?, N, K]` and use its transpose (the layout of a linear layer's weight). */
  transB?: boolean;
  /** `[P?, N]`, added to every output row (fused into the product). */
  bias?: Tensor;
  /** Kernel family; defaults to `gpu.variant`. */
  variant?: KernelVariant;
}

/** Options of {@linkcode linear}. */
export interface LinearOptions {
  /** Kernel family; defaults to `gpu.variant`. */
  variant?: KernelVariant;
}

function spec(entryPoint: string): KernelSpec {
  return {
    file: "shaders/matmul.wgsl",
    code,
    entryPoint,
    storage: ["read", "read", "read", "write"],
  };
}

/** A fallback entry point and the output tile (rows x columns) one invocation computes. */
interface Fallback {
  spec: KernelSpec;
  tm: number;
  tn: number;
}

const FALLBACK = {
  nnVec4: { spec: spec("fallback_nn_vec4"), tm: 8, tn: 8 },
  ntVec4: { spec: spec("fallback_nt_vec4"), tm: 8, tn: 8 },
  nnScalar: { spec: spec("fallback_nn_scalar"), tm: 8, tn: 8 },
  ntScalar: { spec: spec("fallback_nt_scalar"), tm: 8, tn: 8 },
} satisfies Record<string, Fallback>;

const TILED = { nn: spec("tiled_nn"), nt: spec("tiled_nt") };
/** Output tile of one tiled workgroup (64 x 64). */
const TILE = 64;
/** Invocations per fallback workgroup, for large and for small products. */
const WG_LARGE = 64;
const WG_SMALL = 8;

function checkVariant(op: string, variant: unknown): void {
  if (variant !== undefined && variant !== "fallback" && variant !== "tiled") {
    throw new RangeError(`${op}: variant must be "fallback" or "tiled", received ${variant}`);
  }
}

/**
 * True when every row of a tensor starts on a vec4 boundary. With K (or N) a multiple of 4,
 * each vec4 the kernel reads then lies inside the tensor, hence inside the bound buffer.
 */
function vec4Ready(t: Tensor): boolean {
  const { off, stride } = rowLayout(t);
  return off % 4 === 0 && stride % 4 === 0;
}

/**
 * Matrix product `a @ b` (or `a @ bᵀ` with `transB`) plus an optional bias, for shared and
 * population operands, in one dispatch.
 *
 * Shapes: `a` is `[M, K]` or `[P, M, K]`; `b` is `[K, N]` / `[P, K, N]`, or with `transB`
 * `[N, K]` / `[P, N, K]`; `bias` is `[N]` / `[P, N]`. The output is `[M, N]`, or `[P, M, N]`
 * when any operand has a population axis; an operand without one is shared by every row.
 * Operands may be strided population views (for example weights inside the flat parameter
 * buffer); the output is a new contiguous tensor. Accumulates in f32 in order of increasing k.
 *
 * @param a left operand `[P?, M, K]`.
 * @param b right operand `[P?, K, N]` (or `[P?, N, K]` with `transB`).
 * @param options `transB`, `bias`, `variant`.
 * @returns a new tensor `[P?, M, N]`.
 * @throws {TypeError} if a row shape is not 2-D, the inner dimensions differ, the bias is not
 * `[N]`, population sizes differ or the tensors live on different devices.
 * @throws {RangeError} for an unknown `variant`, or one row of an operand too large for one
 * storage binding (larger tensors are split into several dispatches over ranges of population
 * rows, or of rows of `a` when one population row is too large: the results do not change).
 * @example
 * ```ts ignore
 * const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
 * const b = tensor([1, 0, 0, 1, 1, 1], [3, 2]);
 * console.log(await matmul(a, b).read()); // Float32Array [4, 5, 10, 11]
 * ```
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  return product("matmul", a, b, options);
}

/**
 * `torch.nn.functional.linear`: `x Wᵀ + bias`, one dispatch for every population row.
 *
 * `x` is `[B, in]` (shared data) or `[P, B, in]` (per-row activations); `weight` is
 * `[out, in]` or `[P, out, in]` (usually a population view of the flat parameter buffer);
 * `bias` is `[out]` or `[P, out]`. Same as `matmul(x, weight, { transB: true, bias })`.
 *
 * @param x input `[P?, B, in]`.
 * @param weight weight `[P?, out, in]`.
 * @param bias optional bias `[P?, out]`.
 * @param options `variant`.
 * @returns a new tensor `[P?, B, out]`.
 * @throws {TypeError} if a shape does not fit (messages name both shapes).
 * @throws {RangeError} for an unknown `variant` or a product too large for one dispatch.
 * @example
 * ```ts ignore
 * const x = tensor([1, 2], [1, 2]);
 * const w = tensor([1, 1, 1, -1, 0, 2], [3, 2]);
 * console.log(await linear(x, w).read()); // Float32Array [3, -1, 4]
 * ```
 */
export function linear(
  x: Tensor,
  weight: Tensor,
  bias?: Tensor,
  options: LinearOptions = {},
): Tensor {
  return product("linear", x, weight, { transB: true, bias, variant: options.variant });
}

function product(op: string, a: Tensor, b: Tensor, options: MatmulOptions): Tensor {
  const { transB = false, bias } = options;
  checkVariant(op, options.variant);
  const gpu = sameGpu(op, a, b, bias);
  const linear = op === "linear";
  const [aName, bName] = linear ? ["x", "weight"] : ["a", "b"];
  if (a.rowShape.length !== 2) {
    const want = linear ? "[B, in] or [P, B, in]" : "[M, K] or [P, M, K]";
    throw new TypeError(`${op}: ${aName} must be ${want}, received ${formatShape(a.shape)}`);
  }
  if (b.rowShape.length !== 2) {
    const want = linear
      ? "[out, in] or [P, out, in]"
      : transB
      ? "[N, K] or [P, N, K] with transB"
      : "[K, N] or [P, K, N]";
    throw new TypeError(`${op}: ${bName} must be ${want}, received ${formatShape(b.shape)}`);
  }
  const [M, K] = a.rowShape;
  const [bK, N] = transB ? [b.rowShape[1], b.rowShape[0]] : b.rowShape;
  if (bK !== K) {
    throw new TypeError(
      `${op}: inner dimensions differ, ${aName} ${formatShape(a.shape)} vs ` +
        `${bName} ${formatShape(b.shape)}${transB && !linear ? " (transB)" : ""} (${K} vs ${bK})`,
    );
  }
  if (bias !== undefined && (bias.rowShape.length !== 1 || bias.rowShape[0] !== N)) {
    throw new TypeError(
      `${op}: bias must be [${N}] or [P, ${N}] for ${bName} ${formatShape(b.shape)}, ` +
        `received ${formatShape(bias.shape)}`,
    );
  }
  const rows = populationRows(op, a, b, bias);
  const population = anyPopulation(a, b, bias);
  const out = Tensor.empty(population ? [rows, M, N] : [M, N], { gpu, population });
  if (M * N === 0 || rows === 0) return out;
  try {
    dispatch(op, gpu, options.variant ?? gpu.variant, a, b, bias, out, transB);
  } catch (error) {
    out.dispose();
    throw error;
  }
  return out;
}

function dispatch(
  op: string,
  gpu: Gpu,
  variant: KernelVariant,
  a: Tensor,
  b: Tensor,
  bias: Tensor | undefined,
  out: Tensor,
  transB: boolean,
): void {
  const [M, K] = a.rowShape;
  const N = out.rowShape[1];
  const rows = out.rows;
  const al = rowLayout(a), bl = rowLayout(b);
  const bi = bias === undefined ? { off: 0, stride: 0 } : rowLayout(bias);
  // Items are rows of `a` and of the output: each output is one invocation's sum over k in
  // increasing order wherever its tile lies, so a split changes no bit.
  const chunks = planChunks(
    gpu,
    op,
    [
      { name: "a", buffer: a.buffer, off: al.off, stride: al.stride, item: K, span: K },
      { name: "b", buffer: b.buffer, off: bl.off, stride: bl.stride, span: K * N },
      { name: "bias", buffer: bias?.buffer ?? dummyBuffer(gpu), ...bi, span: bias ? N : 1 },
      {
        name: "out",
        buffer: out.buffer,
        off: out.offset,
        stride: out.population ? out.rowStride : 0,
        item: N,
        span: N,
      },
    ],
    rows,
    M,
    { itemName: "row of a" },
  );
  const params = (c: Chunk) => ({
    M: c.items,
    N,
    K,
    tilesN: 0,
    tilesM: 0,
    aOff: c.offs[0],
    aStride: al.stride,
    bOff: c.offs[1],
    bStride: bl.stride,
    biasOff: c.offs[2],
    biasStride: bi.stride,
    oOff: c.offs[3],
    oStride: out.population ? out.rowStride : 0,
    hasBias: bias === undefined ? 0 : 1,
  });
  if (variant === "tiled") {
    const kernel = gpu.kernel(transB ? TILED.nt : TILED.nn);
    for (const c of chunks) {
      const gx = ceilDiv(N, TILE), gy = ceilDiv(c.items, TILE);
      if (gx > MAX_GROUPS || gy > MAX_GROUPS) {
        throw new RangeError(`${op}: a ${M} x ${N} output is too large for one dispatch`);
      }
      gpu.dispatch(kernel, c.bindings, params(c), [gx, gy, c.rows]);
    }
    return;
  }
  const vec4 = K % 4 === 0 && vec4Ready(a) && vec4Ready(b) && (transB || N % 4 === 0);
  const f: Fallback = vec4
    ? (transB ? FALLBACK.ntVec4 : FALLBACK.nnVec4)
    : (transB ? FALLBACK.ntScalar : FALLBACK.nnScalar);
  for (const c of chunks) {
    const tilesN = ceilDiv(N, f.tn), tilesM = ceilDiv(c.items, f.tm);
    const tiles = tilesN * tilesM;
    // One SIMD group (8 invocations) per workgroup for small products, so that their few tiles
    // still spread over the CPU threads; two sizes only, each is a pipeline to compile.
    const wg = tiles >= 2 * WG_LARGE ? WG_LARGE : WG_SMALL;
    const [gx, gy] = fold(ceilDiv(tiles, wg));
    if (gy > MAX_GROUPS) {
      throw new RangeError(`${op}: a ${M} x ${N} output is too large for one dispatch`);
    }
    gpu.dispatch(gpu.kernel(f.spec, { WG: wg }), c.bindings, { ...params(c), tilesN, tilesM }, [
      gx,
      gy,
      c.rows,
    ]);
  }
}
