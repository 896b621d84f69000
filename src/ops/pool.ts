/**
 * 2-D pooling (`shaders/pool.wgsl`): `maxPool2d` (optionally with a fused ReLU) and
 * `avgPool2d`, torch semantics, NCHW. Pooling has no weights, so a population axis is just
 * another batch axis; every row is handled by the same dispatch.
 *
 * @module
 */

import type { KernelSpec } from "../gpu/kernel.ts";
import { formatShape, Tensor } from "../tensor.ts";
import {
  ceilDiv,
  checkInt,
  MAX_GROUPS,
  rowLayout,
  SPECIAL_VALUES_WGSL,
  withRows,
} from "./_util.ts";
import { planChunks } from "./_chunks.ts";
import code from "../../shaders/pool.wgsl" with { type: "text" };

const WG = 64;
/** Outputs per invocation along a row, at most; fewer when the window is large. */
const MAX_RUN = 4;
/** Input values an invocation holds in registers (`KS · ((TW − 1) · stride + KS)`). */
const MAX_WINDOW = 64;

function spec(entryPoint: string): KernelSpec {
  return {
    file: "shaders/pool.wgsl",
    prelude: SPECIAL_VALUES_WGSL,
    code,
    entryPoint,
    storage: ["read", "write"],
  };
}

const MAX_POOL = spec("max_pool2d");
const AVG_POOL = spec("avg_pool2d");

/** Options of {@linkcode avgPool2d} (and, with `relu`, {@linkcode maxPool2d}). */
export interface Pool2dOptions {
  /** Window size, both axes. */
  kernelSize: number;
  /** Step between windows; defaults to `kernelSize`. */
  stride?: number;
  /** Implicit padding on each side, at most `kernelSize / 2` (torch's rule). Default 0. */
  padding?: number;
}

/** Options of {@linkcode maxPool2d}. */
export interface MaxPool2dOptions extends Pool2dOptions {
  /** Return `relu(maxPool2d(x))`, fused (exact: max and ReLU commute). Default false. */
  relu?: boolean;
}

function pool(op: string, kernel: KernelSpec, x: Tensor, options: MaxPool2dOptions): Tensor {
  const k = options.kernelSize;
  checkInt(op, "kernelSize", k, 1);
  const stride = options.stride ?? k;
  const pad = options.padding ?? 0;
  checkInt(op, "stride", stride, 1);
  checkInt(op, "padding", pad, 0);
  if (2 * pad > k) {
    throw new RangeError(
      `${op}: padding must be at most half the kernel size ${k}, received ${pad}`,
    );
  }
  if (x.rowShape.length !== 4) {
    throw new TypeError(`${op}: expected x [P?, B, C, H, W], received ${formatShape(x.shape)}`);
  }
  const [batch, channels, h, w] = x.rowShape;
  if (k > h + 2 * pad || k > w + 2 * pad) {
    throw new TypeError(
      `${op}: kernel ${k}x${k} does not fit x ${formatShape(x.shape)} with padding ${pad}`,
    );
  }
  const ho = Math.floor((h + 2 * pad - k) / stride) + 1;
  const wo = Math.floor((w + 2 * pad - k) / stride) + 1;
  const gpu = x.gpu;
  const rows = x.rows;
  const out = Tensor.empty(withRows(x.population, rows, [batch, channels, ho, wo]), {
    gpu,
    population: x.population,
  });
  const n = out.rowNumel;
  if (n === 0 || rows === 0) return out;
  let tw = Math.min(MAX_RUN, wo);
  while (tw > 1 && k * ((tw - 1) * stride + k) > MAX_WINDOW) tw--;
  const cached = k * k <= MAX_WINDOW;
  const runs = ceilDiv(wo, tw);
  const xl = rowLayout(x);
  const compiled = gpu.kernel(kernel, {
    WG,
    KS: k,
    SX: stride,
    TW: tw,
    PADDED: pad > 0 ? 1 : 0,
    CACHED: cached ? 1 : 0,
  });
  // Items are planes (image × channel); every output is computed alone, so any split is exact.
  const operands = [
    { name: "x", buffer: x.buffer, off: xl.off, stride: xl.stride, item: h * w, span: h * w },
    {
      name: "out",
      buffer: out.buffer,
      off: out.offset,
      stride: out.population ? out.rowStride : 0,
      item: ho * wo,
      span: ho * wo,
    },
  ];
  try {
    for (const c of planChunks(gpu, op, operands, rows, batch * channels, { itemName: "plane" })) {
      const groups = ceilDiv(c.items * ho * runs, WG);
      const fold = ceilDiv(groups, MAX_GROUPS);
      if (fold > MAX_GROUPS) {
        throw new RangeError(`${op}: the problem is too large for one dispatch`);
      }
      gpu.dispatch(compiled, c.bindings, {
        planes: c.items,
        h,
        w,
        ho,
        wo,
        runs,
        pad,
        xOff: c.offs[0],
        xStride: xl.stride,
        oOff: c.offs[1],
        oStride: operands[1].stride,
        relu: options.relu === true ? 1 : 0,
      }, [ceilDiv(groups, fold), fold, c.rows]);
    }
  } catch (error) {
    out.dispose();
    throw error;
  }
  return out;
}

/**
 * Max pooling over `kernelSize × kernelSize` windows, torch's `F.max_pool2d` (floor output
 * size, padding never wins, NaN propagates). With `relu: true` returns `relu(maxPool2d(x))` in
 * the same kernel, the MNIST CNN's conv → max-pool → ReLU.
 *
 * `x` is `[B, C, H, W]` or `[P, B, C, H, W]` (possibly a strided population view); the output
 * is `[P?, B, C, Ho, Wo]` with `Ho = floor((H + 2·padding − kernelSize) / stride) + 1`.
 *
 * @param x input images.
 * @param options `kernelSize`, `stride` (default `kernelSize`), `padding`, `relu`.
 * @returns a new tensor.
 * @throws {TypeError} if `x` is not 4-D per row or the window does not fit the padded input.
 * @throws {RangeError} for `kernelSize < 1`, `stride < 1`, `padding < 0` or
 *   `padding > kernelSize / 2`.
 * @example
 * ```ts ignore
 * const y = maxPool2d(conv2d(x, w, b), { kernelSize: 2, relu: true }); // [B, 16, 12, 12]
 * ```
 */
export function maxPool2d(x: Tensor, options: MaxPool2dOptions): Tensor {
  return pool("maxPool2d", MAX_POOL, x, options);
}

/**
 * Average pooling over `kernelSize × kernelSize` windows, torch's `F.avg_pool2d` with its
 * defaults (floor output size, `count_include_pad=True`: padding counts as zeros and every
 * window divides by `kernelSize²`).
 *
 * @param x input images `[P?, B, C, H, W]`.
 * @param options `kernelSize`, `stride` (default `kernelSize`), `padding`.
 * @returns a new tensor `[P?, B, C, Ho, Wo]`.
 * @throws {TypeError} if `x` is not 4-D per row or the window does not fit the padded input.
 * @throws {RangeError} for `kernelSize < 1`, `stride < 1`, `padding < 0` or
 *   `padding > kernelSize / 2`.
 * @example
 * ```ts ignore
 * const y = avgPool2d(x, { kernelSize: 2 });
 * ```
 */
export function avgPool2d(x: Tensor, options: Pool2dOptions): Tensor {
  return pool("avgPool2d", AVG_POOL, x, { ...options, relu: false });
}
