/**
 * Losses and class scores along the last axis (`shaders/loss.wgsl`): `softmax`, `logSoftmax`,
 * `crossEntropy`, `accuracyCount` and `mseLoss`. Each is one dispatch for all population rows.
 *
 * Logits are `[P?, B, C]` (population) or `[B, C]` (shared); targets are `[B]` (shared by every
 * row) or `[P, B]`. Batch reductions sum the per-example terms of a row with Neumaier's
 * compensated summation, always in the same order, so rows that differ by a tiny parameter
 * perturbation differ by its effect and not by rounding noise.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { KernelSpec } from "../gpu/kernel.ts";
import { formatShape, Tensor } from "../tensor.ts";
import {
  anyPopulation,
  ceilDiv,
  dummyBuffer,
  fold,
  populationRows,
  rowLayout,
  sameGpu,
  sameShape,
  withRows,
} from "./_util.ts";
import { type ChunkOperand, planChunks } from "./_chunks.ts";
import { checkClassTargets } from "./_targets.ts";
import code from "../../shaders/loss.wgsl" with { type: "text" };

/** How a loss reduces the per-example terms of each population row (torch's `reduction`). */
export type Reduction = "mean" | "sum" | "none";

/** Options of {@linkcode crossEntropy} and {@linkcode mseLoss}. */
export interface LossOptions {
  /** `"mean"` (default) and `"sum"` give one value per row, `"none"` every term. */
  reduction?: Reduction;
}

const WG = 64;
const REDUCTIONS: readonly Reduction[] = ["mean", "sum", "none"];

function spec(entryPoint: string): KernelSpec {
  return {
    file: "shaders/loss.wgsl",
    code,
    entryPoint,
    storage: ["read", "read", "write"],
  };
}

const KERNELS = {
  softmax: spec("softmax"),
  logSoftmax: spec("log_softmax"),
  crossEntropyEach: spec("cross_entropy_each"),
  crossEntropyRows: spec("cross_entropy_rows"),
  accuracyRows: spec("accuracy_rows"),
  squaredErrorEach: spec("squared_error_each"),
  squaredErrorRows: spec("squared_error_rows"),
};

/** Geometry of one call: `rows` population rows of `batch` vectors of `classes` values. */
interface Launch {
  rows: number;
  batch: number;
  classes: number;
  divisor?: number;
  /** One workgroup per row (the `*_rows` kernels) instead of one invocation per vector. */
  perRow: boolean;
  /** Output values per vector of the per-vector kernels: `classes` for softmax, else 1. */
  outPerVector?: number;
}

function launch(
  gpu: Gpu,
  kernel: KernelSpec,
  x: Tensor,
  target: Tensor | undefined,
  out: Tensor,
  l: Launch,
): Tensor {
  const work = l.perRow ? l.rows : l.rows * l.batch;
  if (work === 0) return out;
  const xl = rowLayout(x);
  const outPer = l.outPerVector ?? 1;
  const operands: ChunkOperand[] = [
    { name: "input", buffer: x.buffer, ...xl, item: l.classes, span: l.classes },
    target === undefined
      ? { name: "target", buffer: dummyBuffer(gpu), off: 0, stride: 0, span: 1 }
      : { name: "target", buffer: target.buffer, ...rowLayout(target), item: 1, span: 1 },
    l.perRow ? { name: "out", buffer: out.buffer, off: out.offset, stride: 1, span: 1 } : {
      name: "out",
      buffer: out.buffer,
      off: out.offset,
      stride: l.batch * outPer,
      item: outPer,
      span: outPer,
    },
  ];
  // Rows and vectors are folded into x/y, so any row count fits one dispatch. The per-row
  // reductions sum a whole row in one workgroup: only their rows may be split.
  let chunks;
  try {
    chunks = planChunks(gpu, kernel.entryPoint, operands, l.rows, l.batch, {
      maxRows: Infinity,
      splitItems: !l.perRow,
      itemName: "vector",
    });
  } catch (error) {
    out.dispose();
    throw error;
  }
  for (const c of chunks) {
    gpu.dispatch(gpu.kernel(kernel, { WG }), c.bindings, {
      rows: c.rows,
      batch: c.items,
      classes: l.classes,
      xOff: c.offs[0],
      xStride: xl.stride,
      tOff: c.offs[1],
      tStride: operands[1].stride,
      divisor: l.divisor ?? 1,
      oOff: c.offs[2],
    }, l.perRow ? fold(c.rows) : fold(ceilDiv(c.rows * c.items, WG)));
  }
  return out;
}

function checkReduction(op: string, reduction: unknown): Reduction {
  if (!REDUCTIONS.includes(reduction as Reduction)) {
    throw new RangeError(
      `${op}: reduction must be "mean", "sum" or "none", received ${JSON.stringify(reduction)}`,
    );
  }
  return reduction as Reduction;
}

function softmaxLike(op: string, kernel: KernelSpec, x: Tensor): Tensor {
  if (x.rowShape.length === 0) {
    throw new TypeError(
      `${op}: input rows need at least one axis, received ${formatShape(x.shape)}`,
    );
  }
  const classes = x.rowShape[x.rowShape.length - 1];
  const out = Tensor.empty(x.shape, { gpu: x.gpu, population: x.population });
  if (classes === 0) return out;
  return launch(x.gpu, kernel, x, undefined, out, {
    rows: x.rows,
    batch: x.rowNumel / classes,
    classes,
    perRow: false,
    outPerVector: classes,
  });
}

/**
 * Softmax along the last axis, `exp(x - max) / sum(exp(x - max))` (numerically stable: ±1e4
 * logits do not overflow). A vector holding NaN or ±Infinity as its maximum gives NaN.
 *
 * @param x `[P?, ..., C]`, possibly a strided population view.
 * @returns a new tensor of the shape of `x`.
 * @throws {TypeError} if the rows of `x` have no axis.
 * @example
 * ```ts ignore
 * const probs = softmax(logits); // [P, B, C], each [.., :] sums to 1
 * ```
 */
export function softmax(x: Tensor): Tensor {
  return softmaxLike("softmax", KERNELS.softmax, x);
}

/**
 * Log-softmax along the last axis, `(x - max) - log(sum(exp(x - max)))`.
 *
 * @param x `[P?, ..., C]`, possibly a strided population view.
 * @returns a new tensor of the shape of `x`.
 * @throws {TypeError} if the rows of `x` have no axis.
 * @example
 * ```ts ignore
 * const logp = logSoftmax(logits);
 * ```
 */
export function logSoftmax(x: Tensor): Tensor {
  return softmaxLike("logSoftmax", KERNELS.logSoftmax, x);
}

/** Shapes shared by cross-entropy and accuracy: logits `[P?, B, C]`, target `[B]` or `[P, B]`. */
function classShapes(op: string, logits: Tensor, target: Tensor) {
  sameGpu(op, logits, target);
  if (logits.rowShape.length !== 2) {
    throw new TypeError(
      `${op}: logits must be [B, C] or population [P, B, C], received ${formatShape(logits.shape)}`,
    );
  }
  const [batch, classes] = logits.rowShape;
  if (!sameShape(target.rowShape, [batch])) {
    throw new TypeError(
      `${op}: target ${formatShape(target.shape)} does not match logits ` +
        `${formatShape(logits.shape)}: expected [${batch}] or [P, ${batch}]`,
    );
  }
  const rows = populationRows(op, logits, target);
  return { rows, batch, classes, population: anyPopulation(logits, target) };
}

/**
 * Cross-entropy of logits against class indices along the last axis (torch's
 * `F.cross_entropy` with integer targets): per example `-log_softmax(logits)[target]`,
 * computed as `(max - x[target]) + log(sum(exp(x - max)))`.
 *
 * One dispatch for all rows. `"mean"` (default) and `"sum"` reduce the batch of each
 * population row with compensated summation in a fixed order. A target that is NaN, not an
 * integer or outside `[0, C)` makes that example's loss NaN (and so the row's mean/sum NaN);
 * the kernel never reads out of bounds. An empty batch gives NaN for `"mean"`, 0 for `"sum"`.
 *
 * @param logits `[B, C]` or population `[P, B, C]` (possibly a strided view).
 * @param target class indices as f32, `[B]` (shared by every row) or population `[P, B]`.
 * @param options `reduction`: `"mean"` (default), `"sum"` or `"none"`.
 * @returns `[P]` (or `[]` without population axis) for `"mean"`/`"sum"`, `[P?, B]` for `"none"`.
 * @throws {TypeError} if the ranks or the batch sizes do not match, naming both shapes.
 * @throws {RangeError} for an unknown `reduction`, or a target known on the host (a
 *   `DataLoader` batch) holding a class outside `[0, C)`.
 * @example
 * ```ts ignore
 * const loss = crossEntropy(model.forward(images), labels); // [P]
 * ```
 */
export function crossEntropy(logits: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  const reduction = checkReduction("crossEntropy", options.reduction ?? "mean");
  const { rows, batch, classes, population } = classShapes("crossEntropy", logits, target);
  checkClassTargets("crossEntropy", target, classes);
  const gpu = logits.gpu;
  if (reduction === "none") {
    const out = Tensor.empty(withRows(population, rows, [batch]), { gpu, population });
    return launch(gpu, KERNELS.crossEntropyEach, logits, target, out, {
      rows,
      batch,
      classes,
      perRow: false,
    });
  }
  const out = Tensor.empty(withRows(population, rows, []), { gpu, population });
  return launch(gpu, KERNELS.crossEntropyRows, logits, target, out, {
    rows,
    batch,
    classes,
    divisor: reduction === "mean" ? batch : 1,
    perRow: true,
  });
}

/**
 * Number of examples of each population row whose prediction (the first maximum of the
 * logits, NaN counting as the maximum, as torch.argmax) equals the target class. A bad target
 * (NaN, non-integer, outside `[0, C)`) never counts.
 *
 * @param logits `[B, C]` or population `[P, B, C]` (possibly a strided view).
 * @param target class indices as f32, `[B]` or `[P, B]`.
 * @returns the counts as f32, `[P]` (or `[]` without population axis).
 * @throws {TypeError} if the ranks or the batch sizes do not match, naming both shapes.
 * @example
 * ```ts ignore
 * const correct = accuracyCount(model.forward(images), labels); // [P]
 * ```
 */
export function accuracyCount(logits: Tensor, target: Tensor): Tensor {
  const { rows, batch, classes, population } = classShapes("accuracyCount", logits, target);
  const gpu = logits.gpu;
  const out = Tensor.empty(withRows(population, rows, []), { gpu, population });
  return launch(gpu, KERNELS.accuracyRows, logits, target, out, {
    rows,
    batch,
    classes,
    perRow: true,
  });
}

/**
 * Mean squared error per population row (torch's `F.mse_loss`): the mean (or sum) of
 * `(pred - target)^2` over every element of the row, with compensated summation.
 *
 * @param pred `[P?, ...]`, possibly a strided population view.
 * @param target the same row shape, shared (no population axis) or per row.
 * @param options `reduction`: `"mean"` (default), `"sum"` or `"none"` (squared errors).
 * @returns `[P]` (or `[]`) for `"mean"`/`"sum"`, the shape of `pred` (with the population
 *   axis of either input) for `"none"`.
 * @throws {TypeError} if the row shapes or the population sizes differ, naming both shapes.
 * @throws {RangeError} for an unknown `reduction`.
 * @example
 * ```ts ignore
 * const loss = mseLoss(model.forward(x), y); // [P]
 * ```
 */
export function mseLoss(pred: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  const reduction = checkReduction("mseLoss", options.reduction ?? "mean");
  const gpu = sameGpu("mseLoss", pred, target);
  if (!sameShape(pred.rowShape, target.rowShape)) {
    throw new TypeError(
      `mseLoss: shapes ${formatShape(pred.shape)} and ${formatShape(target.shape)} do not match`,
    );
  }
  const rows = populationRows("mseLoss", pred, target);
  const population = anyPopulation(pred, target);
  const batch = pred.rowNumel;
  if (reduction === "none") {
    const out = Tensor.empty(withRows(population, rows, pred.rowShape), { gpu, population });
    return launch(gpu, KERNELS.squaredErrorEach, pred, target, out, {
      rows,
      batch,
      classes: 1,
      perRow: false,
    });
  }
  const out = Tensor.empty(withRows(population, rows, []), { gpu, population });
  return launch(gpu, KERNELS.squaredErrorRows, pred, target, out, {
    rows,
    batch,
    classes: 1,
    divisor: reduction === "mean" ? batch : 1,
    perRow: true,
  });
}
