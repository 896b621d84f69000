/**
 * Reductions along one axis (`shaders/reduce.wgsl`): `sum`, `mean`, `max`, `argmax`.
 *
 * `axis` indexes the full shape, population axis included, and may be negative (`-1` is the
 * last axis). Without `axis` every dimension except the population axis is reduced, so
 * `sum(lossPerExample)` turns `[P, B]` into one value per row, `[P]` (a scalar `[]` for a
 * tensor without population axis). Reducing the population axis itself gives a shared
 * (population-less) result.
 *
 * One dispatch for all rows; axes longer than {@linkcode SPLIT_ABOVE} with few outputs take two
 * passes (chunks, then one fold of the chunk results per output), so no invocation loops over
 * millions of elements. Sums use Neumaier's compensated summation in f32.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { KernelSpec, ParamValues } from "../gpu/kernel.ts";
import { formatShape, numelOf, Tensor } from "../tensor.ts";
import { ceilDiv, fold, SPECIAL_VALUES_WGSL } from "./_util.ts";
import code from "../../shaders/reduce.wgsl" with { type: "text" };

/** Options of the reductions. */
export interface ReduceOptions {
  /**
   * Axis of the full shape (population axis included) to reduce; negative counts from the
   * end. Default: every axis except the population axis.
   */
  axis?: number;
  /**
   * Keep the reduced axis (axes) as size 1 (torch's `keepdim`). Default false. Reducing the
   * population axis with `keepDims` gives a shared tensor of shape `[1, ...rowShape]`.
   */
  keepDims?: boolean;
}

/** Axes longer than this are reduced in two passes when there are few outputs. */
export const SPLIT_ABOVE = 4096;
/** With at least this many outputs the direct schedule has enough parallelism. */
const SPLIT_MAX_OUTPUTS = 16384;
const MIN_CHUNK = 1024;
const WG = 64;

function spec(entryPoint: string): KernelSpec {
  return {
    file: "shaders/reduce.wgsl",
    prelude: SPECIAL_VALUES_WGSL,
    code,
    entryPoint,
    storage: ["read", "write"],
  };
}

const KERNELS = {
  sumDirect: spec("sum_direct"),
  sumPartial: spec("sum_partial"),
  sumCombine: spec("sum_combine"),
  maxDirect: spec("max_direct"),
  maxPartial: spec("max_partial"),
  maxCombine: spec("max_combine"),
};

type Kind = "sum" | "mean" | "max" | "argmax";

/** How the input is walked: `[rows, outer, len, inner]` with strides, and the output shape. */
interface Plan {
  rows: number;
  outer: number;
  len: number;
  inner: number;
  rStride: number;
  oStride: number;
  kStride: number;
  shape: number[];
  population: boolean;
}

function plan(op: Kind, x: Tensor, options: ReduceOptions): Plan {
  const { axis, keepDims = false } = options;
  const full = x.shape;
  const rowShape = x.rowShape;
  if (axis === undefined) {
    const kept = keepDims ? rowShape.map(() => 1) : [];
    return {
      rows: x.rows,
      outer: 1,
      len: x.rowNumel,
      inner: 1,
      rStride: x.population ? x.rowStride : 0,
      oStride: 0,
      kStride: 1,
      shape: x.population ? [x.rows, ...kept] : kept,
      population: x.population,
    };
  }
  const nd = full.length;
  if (!Number.isInteger(axis) || axis < -nd || axis >= nd) {
    throw new RangeError(
      `${op}: axis must be an integer in [${-nd}, ${nd}) for shape ${formatShape(full)}, ` +
        `received ${axis}`,
    );
  }
  const a = axis < 0 ? axis + nd : axis;
  const shape = keepDims ? full.map((d, i) => (i === a ? 1 : d)) : full.filter((_, i) => i !== a);
  if (x.population && a === 0) {
    return {
      rows: 1,
      outer: 1,
      len: x.rows,
      inner: x.rowNumel,
      rStride: 0,
      oStride: 0,
      kStride: x.rowStride,
      shape,
      population: false,
    };
  }
  const ra = x.population ? a - 1 : a;
  const inner = numelOf(rowShape.slice(ra + 1));
  const len = rowShape[ra];
  return {
    rows: x.rows,
    outer: numelOf(rowShape.slice(0, ra)),
    len,
    inner,
    rStride: x.population ? x.rowStride : 0,
    oStride: len * inner,
    kStride: inner,
    shape,
    population: x.population,
  };
}

/** One invocation per item: `ceil(n / WG)` workgroups folded into x/y. */
function dispatch1d(
  gpu: Gpu,
  spec: KernelSpec,
  buffers: GPUBuffer[],
  params: ParamValues,
  n: number,
): void {
  gpu.dispatch(gpu.kernel(spec, { WG }), buffers, params, fold(ceilDiv(n, WG)));
}

function reduce(op: Kind, x: Tensor, options: ReduceOptions): Tensor {
  const pl = plan(op, x, options);
  const gpu = x.gpu;
  const outputs = pl.rows * pl.outer * pl.inner;
  if ((op === "max" || op === "argmax") && pl.len === 0 && outputs > 0) {
    throw new TypeError(`${op}: cannot reduce an empty axis of ${formatShape(x.shape)}`);
  }
  const out = Tensor.empty(pl.shape, { gpu, population: pl.population });
  if (outputs === 0) return out;
  const isSum = op === "sum" || op === "mean";
  const params = {
    outputs,
    perRow: pl.outer * pl.inner,
    inner: pl.inner,
    len: pl.len,
    xOff: x.offset,
    rStride: pl.rStride,
    oStride: pl.oStride,
    kStride: pl.kStride,
    chunk: pl.len,
    splits: 1,
    divisor: op === "mean" ? pl.len : 1,
    argIndex: op === "argmax" ? 1 : 0,
  };
  if (pl.len <= SPLIT_ABOVE || outputs >= SPLIT_MAX_OUTPUTS) {
    const kernel = isSum ? KERNELS.sumDirect : KERNELS.maxDirect;
    dispatch1d(gpu, kernel, [x.buffer, out.buffer], params, outputs);
    return out;
  }
  // Two passes with chunks of ~sqrt(len) so both passes loop over about as many elements.
  const chunk = Math.max(MIN_CHUNK, Math.ceil(Math.sqrt(pl.len)));
  const splits = ceilDiv(pl.len, chunk);
  const pairs = Tensor.empty([outputs * splits * 2], { gpu });
  dispatch1d(
    gpu,
    isSum ? KERNELS.sumPartial : KERNELS.maxPartial,
    [x.buffer, pairs.buffer],
    { ...params, chunk, splits },
    outputs * splits,
  );
  dispatch1d(gpu, isSum ? KERNELS.sumCombine : KERNELS.maxCombine, [pairs.buffer, out.buffer], {
    ...params,
    perRow: 1,
    inner: 1,
    xOff: 0,
    rStride: 0,
    oStride: 0,
    kStride: 0,
    chunk,
    splits,
  }, outputs);
  pairs.dispose(); // safe: later users of the buffer are ordered after this dispatch
  return out;
}

/**
 * Sum along `axis` (default: everything except the population axis), with Neumaier's
 * compensated summation in f32.
 *
 * An empty axis sums to 0. Infinite inputs give ±Infinity (NaN if both signs occur), NaN gives
 * NaN.
 *
 * @param x input, possibly a strided population view.
 * @param options `axis` (negative from the end) and `keepDims`.
 * @returns the sums; `[P]` (or `[]` without population axis) when `axis` is omitted.
 * @throws {RangeError} if `axis` is not an integer in `[-ndim, ndim)`.
 * @example
 * ```ts ignore
 * const perRow = sum(lossPerExample); // [P, B] -> [P]
 * const cols = sum(x, { axis: -2, keepDims: true }); // [P, B, C] -> [P, 1, C]
 * ```
 */
export function sum(x: Tensor, options: ReduceOptions = {}): Tensor {
  return reduce("sum", x, options);
}

/**
 * Mean along `axis` (default: everything except the population axis): the compensated sum
 * divided by the axis length. An empty axis gives NaN, as in torch.
 *
 * @param x input, possibly a strided population view.
 * @param options `axis` (negative from the end) and `keepDims`.
 * @returns the means; `[P]` (or `[]`) when `axis` is omitted.
 * @throws {RangeError} if `axis` is not an integer in `[-ndim, ndim)`.
 * @example
 * ```ts ignore
 * const loss = mean(lossPerExample); // [P, B] -> [P]
 * ```
 */
export function mean(x: Tensor, options: ReduceOptions = {}): Tensor {
  return reduce("mean", x, options);
}

/**
 * Maximum along `axis` (default: everything except the population axis). NaN counts as
 * larger than every number, so a NaN in the reduced slice gives NaN (torch.amax).
 *
 * @param x input, possibly a strided population view.
 * @param options `axis` (negative from the end) and `keepDims`.
 * @returns the maxima; `[P]` (or `[]`) when `axis` is omitted.
 * @throws {RangeError} if `axis` is not an integer in `[-ndim, ndim)`.
 * @throws {TypeError} if the reduced axis is empty.
 * @example
 * ```ts ignore
 * const best = max(scores, { axis: -1 }); // [P, B, C] -> [P, B]
 * ```
 */
export function max(x: Tensor, options: ReduceOptions = {}): Tensor {
  return reduce("max", x, options);
}

/**
 * Index of the maximum along `axis` (default: the flat index within each population row),
 * as f32 (exact below 2^24). The first maximum wins and NaN counts as the maximum (the first
 * NaN wins), as in torch.argmax.
 *
 * @param x input, possibly a strided population view.
 * @param options `axis` (negative from the end) and `keepDims`.
 * @returns f32 indices; `[P]` (or `[]`) when `axis` is omitted.
 * @throws {RangeError} if `axis` is not an integer in `[-ndim, ndim)`.
 * @throws {TypeError} if the reduced axis is empty.
 * @example
 * ```ts ignore
 * const predicted = argmax(logits, { axis: -1 }); // [P, B, C] -> [P, B]
 * ```
 */
export function argmax(x: Tensor, options: ReduceOptions = {}): Tensor {
  return reduce("argmax", x, options);
}
