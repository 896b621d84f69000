/**
 * Gradients of the layers and losses (`shaders/backward.wgsl`): one dispatch per op computes
 * every population row's gradient. Activation gradients are new tensors `[P?, ...]`; weight
 * gradients are written straight into each row of a flat gradient buffer
 * ({@linkcode GradTarget}), so a model's whole backward pass ends with its `[P, N]` gradients
 * in place and nothing read back.
 *
 * These are the building blocks of `lossAndGrad` (`src/nn/grad.ts`); each mirrors the
 * forward op of the same name and takes the tensors that forward used.
 *
 * @module
 */

import type { KernelSpec } from "../gpu/kernel.ts";
import { formatShape, type Shape, Tensor } from "../tensor.ts";
import {
  anyPopulation,
  ceilDiv,
  dummyBuffer,
  fold,
  MAX_GROUPS,
  populationRows,
  rowLayout,
  sameGpu,
  SPECIAL_VALUES_WGSL,
  withRows,
} from "./_util.ts";
import { conv2d } from "./conv2d.ts";
import { matmul } from "./matmul.ts";
import type { Reduction } from "./loss.ts";
import code from "../../shaders/backward.wgsl" with { type: "text" };

const WG = 64;

function spec(entryPoint: string): KernelSpec {
  return {
    file: "shaders/backward.wgsl",
    prelude: SPECIAL_VALUES_WGSL,
    code,
    entryPoint,
    storage: ["read", "read", "write"],
  };
}

const KERNELS = {
  linearInput: spec("linear_grad_input"),
  linearWeight: spec("linear_grad_weight"),
  convInput: spec("conv2d_grad_input"),
  convWeight: spec("conv2d_grad_weight"),
  convFlip: spec("conv2d_flip_weight"),
  convBias: spec("conv2d_grad_bias"),
  transpose01: spec("transpose01"),
  patches: spec("conv2d_patches"),
  maxPool: spec("max_pool2d_grad"),
  maxPoolWindows: spec("max_pool2d_grad_windows"),
  avgPool: spec("avg_pool2d_grad"),
  relu: spec("relu_grad"),
  softmax: spec("softmax_grad"),
  crossEntropy: spec("cross_entropy_grad"),
  mse: spec("mse_grad"),
};

/**
 * Where a layer's weight (and bias) gradients go: row `r` of the gradient buffer holds row
 * `r`'s gradients, the weight's at `offset + r · rowStride`, the bias's at
 * `biasOffset + r · rowStride` (elements).
 */
export interface GradTarget {
  /** The gradient buffer (e.g. `FlatParameters.gradBuffer`). */
  readonly buffer: GPUBuffer;
  /** Element offset of the weight gradient of the first row. */
  readonly offset: number;
  /** Element offset of the bias gradient of the first row, or null for a layer without bias. */
  readonly biasOffset: number | null;
  /** Elements between the gradients of consecutive rows. */
  readonly rowStride: number;
}

/** Geometry of a convolution or pooling window (square), as the forward op used it. */
export interface WindowGeometry {
  /** Side of the square window. */
  readonly kernelSize: number;
  /** Step between windows. */
  readonly stride: number;
  /** Zero (or −∞ for max) padding on each side. */
  readonly padding: number;
}

type Fields = Record<string, number>;

const ZERO_FIELDS: Fields = {
  aOff: 0,
  aStride: 0,
  bOff: 0,
  bStride: 0,
  oOff: 0,
  oStride: 0,
  biasOff: 0,
  hasBias: 0,
  batch: 0,
  cin: 0,
  h: 0,
  w: 0,
  cout: 0,
  ho: 0,
  wo: 0,
  k: 0,
  stride: 0,
  pad: 0,
  scale: 1,
};

function checkBinding(op: string, ...tensors: (Tensor | GPUBuffer | undefined)[]): void {
  for (const t of tensors) {
    if (t === undefined) continue;
    const buffer = t instanceof Tensor ? t.buffer : t;
    const gpu = t instanceof Tensor ? t.gpu : undefined;
    const limit = gpu?.maxBindingSize ?? Infinity;
    if (buffer.size > limit) {
      throw new RangeError(
        `${op}: an operand of ${buffer.size} bytes exceeds the device's storage binding limit ` +
          `of ${limit} bytes; the backward pass does not split dispatches, use a smaller ` +
          "population or batch",
      );
    }
  }
}

function launch(
  kernel: KernelSpec,
  a: Tensor,
  b: Tensor | undefined,
  out: GPUBuffer,
  rows: number,
  n: number,
  fields: Fields,
): void {
  const gpu = a.gpu;
  const total = rows * n;
  if (total === 0) return;
  const groups = ceilDiv(total, WG);
  if (groups > MAX_GROUPS * MAX_GROUPS) {
    throw new RangeError(`${kernel.entryPoint}: the problem is too large for one dispatch`);
  }
  const al = rowLayout(a);
  const bl = b === undefined ? { off: 0, stride: 0 } : rowLayout(b);
  gpu.dispatch(
    gpu.kernel(kernel, { WG }),
    [a.buffer, b?.buffer ?? dummyBuffer(gpu), out],
    {
      ...ZERO_FIELDS,
      rows,
      n,
      aOff: al.off,
      aStride: al.stride,
      bOff: bl.off,
      bStride: bl.stride,
      ...fields,
    },
    fold(groups),
  );
}

/** A new gradient tensor: `[rows, ...rowShape]` when any operand is a population tensor. */
function gradTensor(population: boolean, rows: number, rowShape: Shape, like: Tensor): Tensor {
  return Tensor.empty(withRows(population, rows, rowShape), { gpu: like.gpu, population });
}

function expectRowShape(op: string, name: string, t: Tensor, rowShape: Shape): void {
  if (t.rowShape.length !== rowShape.length || t.rowShape.some((d, i) => d !== rowShape[i])) {
    throw new TypeError(
      `${op}: expected ${name} rows of shape ${formatShape(rowShape)}, received ${
        formatShape(t.shape)
      }`,
    );
  }
}

function run(
  op: string,
  kernel: KernelSpec,
  a: Tensor,
  b: Tensor | undefined,
  rowShape: Shape,
  fields: Fields,
): Tensor {
  sameGpu(op, a, b);
  checkBinding(op, a, b);
  const rows = populationRows(op, a, b);
  const out = gradTensor(anyPopulation(a, b), rows, rowShape, a);
  checkBinding(op, out);
  launch(kernel, a, b, out.buffer, rows, out.rowNumel, {
    oOff: out.offset,
    oStride: out.population ? out.rowStride : 0,
    ...fields,
  });
  return out;
}

function writeWeights(
  op: string,
  kernel: KernelSpec,
  dy: Tensor,
  x: Tensor,
  target: GradTarget,
  weights: number,
  outputs: number,
  fields: Fields,
): void {
  sameGpu(op, dy, x);
  checkBinding(op, dy, x, target.buffer);
  const rows = populationRows(op, dy, x);
  const hasBias = target.biasOffset !== null;
  launch(kernel, dy, x, target.buffer, rows, weights + (hasBias ? outputs : 0), {
    oOff: target.offset,
    oStride: target.rowStride,
    biasOff: target.biasOffset ?? 0,
    hasBias: hasBias ? 1 : 0,
    ...fields,
  });
}

/**
 * Gradient of `linear(x, W, b)` with respect to `x`: `dx = dy W`.
 *
 * @param dy gradient of the output, `[P?, B, outFeatures]`.
 * @param weight the weights the forward used, `[P?, outFeatures, inFeatures]`.
 * @returns `[P?, B, inFeatures]`.
 * @throws {TypeError} if the shapes do not fit together.
 */
export function linearGradInput(dy: Tensor, weight: Tensor): Tensor {
  const [outF, inF] = weight.rowShape;
  const [batch] = dy.rowShape;
  expectRowShape("linearGradInput", "dy", dy, [batch, outF]);
  return run("linearGradInput", KERNELS.linearInput, dy, weight, [batch, inF], {
    cin: inF,
    cout: outF,
  });
}

/**
 * Writes the weight and bias gradients of `linear(x, W, b)` into each row of `target`:
 * `dW = dyᵀ x`, `db = Σ_batch dy`.
 *
 * @param dy gradient of the output, `[P?, B, outFeatures]`.
 * @param x the input the forward used, `[P?, B, inFeatures]`.
 * @param target where the gradients go.
 * @throws {TypeError} if the batch sizes differ.
 */
export function linearGradWeight(dy: Tensor, x: Tensor, target: GradTarget): void {
  const [batch, outF] = dy.rowShape;
  const [, inF] = x.rowShape;
  expectRowShape("linearGradWeight", "x", x, [batch, inF]);
  writeWeights("linearGradWeight", KERNELS.linearWeight, dy, x, target, outF * inF, outF, {
    batch,
    cin: inF,
    cout: outF,
  });
}

function convFields(x: Shape, dy: Shape, k: number, g: WindowGeometry): Fields {
  const [batch, cin, h, w] = x;
  const [, cout, ho, wo] = dy;
  return { batch, cin, h, w, cout, ho, wo, k, stride: g.stride, pad: g.padding };
}

function checkConv(op: string, dy: Tensor, xRow: Shape, weight: Shape, g: WindowGeometry): void {
  const [batch, , h, w] = xRow;
  const [cout, , k] = weight;
  const ho = Math.floor((h + 2 * g.padding - k) / g.stride) + 1;
  const wo = Math.floor((w + 2 * g.padding - k) / g.stride) + 1;
  expectRowShape(op, "dy", dy, [batch, cout, ho, wo]);
}

/**
 * Gradient of `conv2d(x, W, b)` (unpooled) with respect to `x`. With stride 1 it runs as a
 * forward convolution of `dy` with the flipped, transposed filters (the forward's fast
 * kernel); other strides use a direct kernel.
 *
 * @param dy gradient of the output, `[P?, B, outChannels, Ho, Wo]`.
 * @param weight the filters the forward used, `[P?, outChannels, inChannels, k, k]`.
 * @param xRowShape the shape of one row of the forward's input, `[B, inChannels, H, W]`.
 * @param geometry the forward's stride and padding (`kernelSize` is the weight's).
 * @returns `[P?, B, inChannels, H, W]`.
 * @throws {TypeError} if `dy` does not have the forward output's shape.
 */
export function conv2dGradInput(
  dy: Tensor,
  weight: Tensor,
  xRowShape: Shape,
  geometry: Omit<WindowGeometry, "kernelSize">,
): Tensor {
  const k = weight.rowShape[2];
  const g = { ...geometry, kernelSize: k };
  checkConv("conv2dGradInput", dy, xRowShape, weight.rowShape, g);
  if (g.stride === 1 && g.padding <= k - 1) {
    // A stride-1 convolution's input gradient is a forward convolution of dy with the filters
    // transposed and flipped: the forward kernel (tiled, fast) does the work.
    const [cout, cin] = weight.rowShape;
    const flipped = run("conv2dGradInput", KERNELS.convFlip, weight, undefined, [cin, cout, k, k], {
      cin,
      cout,
      k,
    });
    try {
      return conv2d(dy, flipped, undefined, { padding: k - 1 - g.padding });
    } finally {
      flipped.dispose();
    }
  }
  return run(
    "conv2dGradInput",
    KERNELS.convInput,
    dy,
    weight,
    xRowShape,
    convFields(xRowShape, dy.rowShape, k, g),
  );
}

/**
 * Writes the filter and bias gradients of `conv2d(x, W, b)` (unpooled) into each row of
 * `target`.
 *
 * @param dy gradient of the output, `[P?, B, outChannels, Ho, Wo]`.
 * @param x the input the forward used, `[P?, B, inChannels, H, W]`.
 * @param weightShape `[outChannels, inChannels, k, k]`.
 * @param geometry the forward's stride and padding.
 * @param target where the gradients go.
 * @throws {TypeError} if `dy` does not have the forward output's shape.
 */
export function conv2dGradWeight(
  dy: Tensor,
  x: Tensor,
  weightShape: Shape,
  geometry: Omit<WindowGeometry, "kernelSize">,
  target: GradTarget,
): void {
  const [cout, cin, k] = weightShape;
  const g = { ...geometry, kernelSize: k };
  checkConv("conv2dGradWeight", dy, x.rowShape, weightShape, g);
  const fields = convFields(x.rowShape, dy.rowShape, k, g);
  // Two rewrites onto the forward's fast kernels, chosen by what measured faster on llvmpipe
  // for the MNIST CNN (P = 1 and 10): a forward convolution when dy's planes (its filters
  // there) are small — 10×10: ~8× faster than the direct kernel, 25×25: ~3× slower — else a
  // matrix product over the input's patches (25×25 planes, 10 rows: ~1.5× faster).
  if (g.stride === 1 && fields.ho === fields.wo && fields.ho * fields.wo <= 256) {
    weightGradAsConv(dy, x, fields, g.padding, target);
    return;
  }
  if (patchesFit(x, dy, fields)) {
    weightGradAsMatmul(dy, x, fields, target);
    return;
  }
  writeWeights(
    "conv2dGradWeight",
    KERNELS.convWeight,
    dy,
    x,
    target,
    cout * cin * k * k,
    cout,
    fields,
  );
}

/**
 * The filter gradient of a stride-1 convolution as a forward convolution:
 * `dW[o, c] = Σ_b x[b, c] ⋆ dy[b, o]` is a convolution of `x` laid out `[C, B, H, W]` with
 * filters `dy` laid out `[O, B, Ho, Wo]`, whose `[C, O, k, k]` output is transposed into the
 * gradient rows; the bias gradient sums `dy`.
 */
function weightGradAsConv(
  dy: Tensor,
  x: Tensor,
  f: Fields,
  padding: number,
  target: GradTarget,
): void {
  const op = "conv2dGradWeight";
  sameGpu(op, dy, x);
  checkBinding(op, dy, x, target.buffer);
  const rows = populationRows(op, dy, x);
  const xt = transpose01(op, x);
  const filters = transpose01(op, dy);
  let out: Tensor | undefined;
  try {
    out = conv2d(xt, filters, undefined, { padding }); // [P?, C, O, k, k]
    const kk = f.k * f.k;
    launch(KERNELS.transpose01, out, undefined, target.buffer, rows, f.cout * f.cin * kk, {
      oOff: target.offset,
      oStride: target.rowStride,
      batch: f.cin,
      cin: f.cout,
      h: kk,
    });
    biasGrad(dy, f, rows, target);
  } finally {
    for (const t of [xt, filters, out]) t?.dispose();
  }
}

function biasGrad(dy: Tensor, f: Fields, rows: number, target: GradTarget): void {
  if (target.biasOffset === null) return;
  launch(KERNELS.convBias, dy, undefined, target.buffer, rows, f.cout, {
    ...f,
    oOff: target.biasOffset,
    oStride: target.rowStride,
  });
}

/** Whether the patch matrix of {@linkcode weightGradAsMatmul} fits one storage binding. */
function patchesFit(x: Tensor, dy: Tensor, f: Fields): boolean {
  const rows = x.population ? x.rows : 1;
  const bytes = rows * f.cin * f.k * f.k * f.batch * f.ho * f.wo * 4;
  return bytes <= Math.min(x.gpu.maxBindingSize, dy.gpu.limits.maxBufferSize);
}

/**
 * The filter gradient as one matrix product on the tiled matmul kernel:
 * `dW[o, tap] = Σ_(b, pixel) dy[o, (b, pixel)] · patches[tap, (b, pixel)]`, with `dy` laid
 * out `[O, B·Ho·Wo]` and the input's patches `[C·k·k, B·Ho·Wo]` (built once for all rows when
 * the input is shared); the bias gradient sums `dy`.
 */
function weightGradAsMatmul(dy: Tensor, x: Tensor, f: Fields, target: GradTarget): void {
  const op = "conv2dGradWeight";
  sameGpu(op, dy, x);
  checkBinding(op, dy, x, target.buffer);
  const rows = populationRows(op, dy, x);
  const taps = f.cin * f.k * f.k;
  const pixels = f.batch * f.ho * f.wo;
  const transposed = transpose01(op, dy);
  const dyT = transposed.reshape(withRows(dy.population, rows, [f.cout, pixels]));
  transposed.dispose(); // the view keeps the storage
  const patches = Tensor.empty(withRows(x.population, x.rows, [taps, pixels]), {
    gpu: x.gpu,
    population: x.population,
  });
  let dw: Tensor | undefined;
  try {
    launch(KERNELS.patches, x, x, patches.buffer, x.rows, taps * pixels, {
      ...f,
      oOff: patches.offset,
      oStride: patches.population ? patches.rowStride : 0,
    });
    dw = matmul(dyT, patches, { transB: true }); // [P?, O, C·k·k]
    // Copy each row's [O, C·k·k] into its gradient row (a transpose of a leading axis of 1).
    launch(KERNELS.transpose01, dw, undefined, target.buffer, rows, f.cout * taps, {
      oOff: target.offset,
      oStride: target.rowStride,
      batch: 1,
      cin: f.cout,
      h: taps,
    });
    biasGrad(dy, f, rows, target);
  } finally {
    for (const t of [dyT, patches, dw]) t?.dispose();
  }
}

/** Swaps the two leading axes of every row: `[P?, d0, d1, ...rest]` → `[P?, d1, d0, ...rest]`. */
function transpose01(op: string, t: Tensor): Tensor {
  const [d0, d1, ...rest] = t.rowShape;
  const n = rest.reduce((a, b) => a * b, 1);
  return run(op, KERNELS.transpose01, t, undefined, [d1, d0, ...rest], {
    batch: d0,
    cin: d1,
    h: n,
  });
}

function poolFields(op: string, dy: Tensor, xRow: Shape, g: WindowGeometry): Fields {
  if (xRow.length !== 4) {
    throw new TypeError(`${op}: expected x rows [B, C, H, W], received ${formatShape(xRow)}`);
  }
  const [batch, channels, h, w] = xRow;
  const ho = Math.floor((h + 2 * g.padding - g.kernelSize) / g.stride) + 1;
  const wo = Math.floor((w + 2 * g.padding - g.kernelSize) / g.stride) + 1;
  expectRowShape(op, "dy", dy, [batch, channels, ho, wo]);
  return {
    batch: batch * channels,
    h,
    w,
    ho,
    wo,
    k: g.kernelSize,
    stride: g.stride,
    pad: g.padding,
  };
}

/**
 * Gradient of `maxPool2d(x)`: each window's output gradient goes to its argmax, chosen as
 * torch does (the first maximum; a NaN wins).
 *
 * @param dy gradient of the output, `[P?, B, C, Ho, Wo]`.
 * @param x the input the forward used, `[P?, B, C, H, W]`.
 * @param geometry the window.
 * @returns `[P?, B, C, H, W]`.
 */
export function maxPool2dGrad(dy: Tensor, x: Tensor, geometry: WindowGeometry): Tensor {
  const fields = poolFields("maxPool2dGrad", dy, x.rowShape, geometry);
  if (geometry.stride === geometry.kernelSize && geometry.padding === 0) {
    // Non-overlapping windows: one invocation per window (measured ~3× faster on llvmpipe).
    const k = geometry.kernelSize;
    const op = "maxPool2dGrad";
    sameGpu(op, dy, x);
    checkBinding(op, dy, x);
    const rows = populationRows(op, dy, x);
    const out = gradTensor(anyPopulation(dy, x), rows, x.rowShape, dy);
    const [cellsY, cellsX] = [ceilDiv(fields.h, k), ceilDiv(fields.w, k)];
    launch(KERNELS.maxPoolWindows, dy, x, out.buffer, rows, fields.batch * cellsY * cellsX, {
      ...fields,
      cin: cellsY,
      cout: cellsX,
      oOff: out.offset,
      oStride: out.population ? out.rowStride : 0,
    });
    return out;
  }
  return run("maxPool2dGrad", KERNELS.maxPool, dy, x, x.rowShape, fields);
}

/**
 * Gradient of `avgPool2d(x)` (padding counted, as torch's default): every window's output
 * gradient spread evenly over its `k²` cells.
 *
 * @param dy gradient of the output, `[P?, B, C, Ho, Wo]`.
 * @param xRowShape the shape of one row of the forward's input, `[B, C, H, W]`.
 * @param geometry the window.
 * @returns `[P?, B, C, H, W]`.
 */
export function avgPool2dGrad(dy: Tensor, xRowShape: Shape, geometry: WindowGeometry): Tensor {
  const fields = poolFields("avgPool2dGrad", dy, xRowShape, geometry);
  return run("avgPool2dGrad", KERNELS.avgPool, dy, undefined, xRowShape, fields);
}

/**
 * Gradient of `relu(x)` from its output: `dy` where `y > 0`, else 0 (torch's
 * `threshold_backward`).
 *
 * @param dy gradient of the output.
 * @param y the forward's output, same row shape.
 * @returns the gradient of the input.
 */
export function reluGrad(dy: Tensor, y: Tensor): Tensor {
  expectRowShape("reluGrad", "y", y, dy.rowShape);
  return run("reluGrad", KERNELS.relu, dy, y, dy.rowShape, {});
}

/**
 * Gradient of `softmax(x)` along the last axis from its output: `y (dy − Σ dy·y)`.
 *
 * @param dy gradient of the output `[P?, ..., C]`.
 * @param y the forward's output (probabilities), same row shape.
 * @returns the gradient of the input.
 */
export function softmaxGrad(dy: Tensor, y: Tensor): Tensor {
  expectRowShape("softmaxGrad", "y", y, dy.rowShape);
  const classes = dy.rowShape.at(-1) ?? 1;
  return run("softmaxGrad", KERNELS.softmax, dy, y, dy.rowShape, { cin: classes });
}

/** The factor of a reduction: 1/B for `"mean"`, 1 for `"sum"` and `"none"` (the sum's gradient). */
function reductionScale(reduction: Reduction, count: number): number {
  return reduction === "mean" ? 1 / count : 1;
}

/**
 * Gradient of `crossEntropy(logits, target)` with respect to the logits:
 * `(softmax(logits) − onehot(target)) · s`, `s = 1/B` for `"mean"`, 1 for `"sum"`, and for
 * `"none"` the gradient of the sum of the per-example losses (what torch's
 * `loss.backward(torch.ones_like(loss))` gives). A bad target makes its example's gradient NaN.
 *
 * @param logits `[P?, B, C]`, the forward's input of the loss.
 * @param target class indices as f32, `[B]` or `[P, B]`.
 * @param reduction the loss's reduction.
 * @returns `[P?, B, C]`.
 */
export function crossEntropyGrad(logits: Tensor, target: Tensor, reduction: Reduction): Tensor {
  if (logits.rowShape.length !== 2) {
    throw new TypeError(
      `crossEntropyGrad: expected logits [P?, B, C], received ${formatShape(logits.shape)}`,
    );
  }
  const [batch, classes] = logits.rowShape;
  expectRowShape("crossEntropyGrad", "target", target, [batch]);
  return run("crossEntropyGrad", KERNELS.crossEntropy, logits, target, logits.rowShape, {
    cin: classes,
    scale: reductionScale(reduction, batch),
  });
}

/**
 * Gradient of `mseLoss(pred, target)` with respect to `pred`: `2 (pred − target) · s`,
 * `s = 1/n` (elements per row) for `"mean"`, else 1 (`"none"`: the sum's gradient).
 *
 * @param pred `[P?, ...]`.
 * @param target the same row shape, shared or per row.
 * @param reduction the loss's reduction.
 * @returns the shape of `pred` (with the population axis of either input).
 */
export function mseGrad(pred: Tensor, target: Tensor, reduction: Reduction): Tensor {
  expectRowShape("mseGrad", "target", target, pred.rowShape);
  return run("mseGrad", KERNELS.mse, pred, target, pred.rowShape, {
    scale: reductionScale(reduction, pred.rowNumel),
  });
}
