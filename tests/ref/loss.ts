/**
 * CPU references for `src/ops/loss.ts`, in float64, over packed row-major data. Every operand
 * is given for all `rows` population rows (expand a shared operand first, or pass its
 * `*Pop: false` flag where offered).
 *
 * @module
 */

import type { Reduction } from "../../src/ops/loss.ts";

/**
 * Softmax of each consecutive vector of `classes` values (max-subtracted, float64).
 *
 * @param x packed `[..., classes]` data.
 * @param classes vector length.
 * @returns the softmax, same length as `x`.
 * @example
 * ```ts ignore
 * softmaxRef(new Float32Array([0, 0]), 2); // [0.5, 0.5]
 * ```
 */
export function softmaxRef(x: ArrayLike<number>, classes: number): Float64Array {
  const out = logSoftmaxRef(x, classes);
  return out.map(Math.exp);
}

/**
 * Log-softmax of each consecutive vector of `classes` values,
 * `(x - max) - log(sum(exp(x - max)))` in float64. A vector holding NaN gives NaN.
 *
 * @param x packed `[..., classes]` data.
 * @param classes vector length.
 * @returns the log-softmax, same length as `x`.
 * @example
 * ```ts ignore
 * logSoftmaxRef(new Float32Array([0, 0]), 2); // [-0.693.., -0.693..]
 * ```
 */
export function logSoftmaxRef(x: ArrayLike<number>, classes: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let v = 0; v < x.length / classes; v++) {
    let m = -Infinity;
    let nan = false;
    for (let c = 0; c < classes; c++) {
      const value = x[v * classes + c];
      nan ||= Number.isNaN(value);
      m = Math.max(m, value);
    }
    let s = 0;
    for (let c = 0; c < classes; c++) s += Math.exp(x[v * classes + c] - m);
    const lse = Math.log(s);
    for (let c = 0; c < classes; c++) {
      out[v * classes + c] = nan ? NaN : (x[v * classes + c] - m) - lse;
    }
  }
  return out;
}

/** Shapes of {@linkcode crossEntropyRef} and {@linkcode accuracyCountRef}. */
export interface ClassRefOptions {
  /** Examples per row. */
  batch: number;
  /** Classes per example. */
  classes: number;
  /** Population rows (default 1). */
  rows?: number;
  /** `logits` holds `rows` blocks of `[batch, classes]` (default true); else one shared. */
  logitsPop?: boolean;
  /** `target` holds `rows` blocks of `[batch]` (default false: one shared `[batch]`). */
  targetPop?: boolean;
}

function classTarget(t: number, classes: number): number {
  return Number.isInteger(t) && t >= 0 && t < classes ? t : -1;
}

/**
 * Cross-entropy with class-index targets, float64: per example `-log_softmax(x)[target]`;
 * a target that is NaN, non-integer or outside `[0, classes)` gives NaN.
 *
 * @param logits packed logits.
 * @param target packed class indices.
 * @param options shapes, sharing flags and `reduction` (default `"mean"`).
 * @returns `rows` values for `"mean"`/`"sum"`, `rows * batch` for `"none"`.
 * @example
 * ```ts ignore
 * crossEntropyRef(new Float32Array([0, 0]), new Float32Array([1]), { batch: 1, classes: 2 });
 * // [0.693..]
 * ```
 */
export function crossEntropyRef(
  logits: ArrayLike<number>,
  target: ArrayLike<number>,
  options: ClassRefOptions & { reduction?: Reduction },
): Float64Array {
  const { batch, classes, rows = 1, logitsPop = true, targetPop = false } = options;
  const reduction = options.reduction ?? "mean";
  const each = new Float64Array(rows * batch);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < batch; b++) {
      const base = ((logitsPop ? r * batch : 0) + b) * classes;
      const vector = Array.from({ length: classes }, (_, c) => logits[base + c]);
      const k = classTarget(target[(targetPop ? r * batch : 0) + b], classes);
      each[r * batch + b] = k < 0 ? NaN : -logSoftmaxRef(vector, classes)[k];
    }
  }
  if (reduction === "none") return each;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let b = 0; b < batch; b++) s += each[r * batch + b];
    out[r] = reduction === "mean" ? s / batch : s;
  }
  return out;
}

/**
 * Number of examples per row whose first maximum (NaN counting as the maximum) is the target.
 *
 * @param logits packed logits.
 * @param target packed class indices.
 * @param options shapes and sharing flags.
 * @returns `rows` counts.
 * @example
 * ```ts ignore
 * accuracyCountRef(new Float32Array([0, 1]), new Float32Array([1]), { batch: 1, classes: 2 });
 * // [1]
 * ```
 */
export function accuracyCountRef(
  logits: ArrayLike<number>,
  target: ArrayLike<number>,
  options: ClassRefOptions,
): Float64Array {
  const { batch, classes, rows = 1, logitsPop = true, targetPop = false } = options;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < batch; b++) {
      const base = ((logitsPop ? r * batch : 0) + b) * classes;
      let best = logits[base];
      let at = 0;
      for (let c = 1; c < classes; c++) {
        const v = logits[base + c];
        if (!Number.isNaN(best) && (Number.isNaN(v) || v > best)) {
          best = v;
          at = c;
        }
      }
      if (classTarget(target[(targetPop ? r * batch : 0) + b], classes) === at) out[r]++;
    }
  }
  return out;
}

/** Shapes of {@linkcode mseLossRef}. */
export interface MseRefOptions {
  /** Elements per row. */
  numel: number;
  /** Population rows (default 1). */
  rows?: number;
  /** `pred` holds `rows` rows (default true). */
  predPop?: boolean;
  /** `target` holds `rows` rows (default false: shared). */
  targetPop?: boolean;
  /** Default `"mean"`. */
  reduction?: Reduction;
}

/**
 * Mean (or sum) squared error per row in float64, or every squared error for `"none"`.
 *
 * @param pred packed predictions.
 * @param target packed targets.
 * @param options shapes, sharing flags and reduction.
 * @returns `rows` values, or `rows * numel` for `"none"`.
 * @example
 * ```ts ignore
 * mseLossRef(new Float32Array([1, 3]), new Float32Array([0, 0]), { numel: 2 }); // [5]
 * ```
 */
export function mseLossRef(
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  options: MseRefOptions,
): Float64Array {
  const { numel, rows = 1, predPop = true, targetPop = false, reduction = "mean" } = options;
  const each = new Float64Array(rows * numel);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < numel; j++) {
      const d = pred[(predPop ? r * numel : 0) + j] - target[(targetPop ? r * numel : 0) + j];
      each[r * numel + j] = d * d;
    }
  }
  if (reduction === "none") return each;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < numel; j++) s += each[r * numel + j];
    out[r] = reduction === "mean" ? s / numel : s;
  }
  return out;
}
