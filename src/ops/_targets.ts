/**
 * Class-index targets whose values the host knows: the largest class of each such tensor,
 * recorded where labels are uploaded (the `DataLoader`, and `tensor()` for one-dimensional
 * host data), so that `crossEntropy` can refuse a class outside the logits' range before any GPU
 * work, as PyTorch does, without a readback. Targets computed on the GPU are not checked (their
 * bad values give NaN losses).
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";

/** The largest class of a known target tensor, or the first value that is not a class index. */
type Known = { max: number } | { invalid: number; index: number };

const known = new WeakMap<Tensor, Known>();

/** Records that `target` now holds class indices whose largest is `max`. */
export function recordClassTargets(target: Tensor, max: number): void {
  known.set(target, { max });
}

/**
 * Records what host values uploaded into `t` would be as class targets: their largest value, or
 * the first one that is not a class index (negative, fractional or not finite). One pass over
 * the values, for one-dimensional uploads only (targets are `[batch]`).
 */
export function recordHostValues(t: Tensor, values: Float32Array): void {
  let max = -1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v >= 0) || !Number.isInteger(v)) {
      known.set(t, { invalid: v, index: i });
      return;
    }
    if (v > max) max = v;
  }
  known.set(t, { max });
}

/**
 * @throws {RangeError} when `target` is known to hold a class index ≥ `classes`, or a value
 *   that is not a class index.
 */
export function checkClassTargets(op: string, target: Tensor, classes: number): void {
  const k = known.get(target);
  if (k === undefined) return;
  if ("invalid" in k) {
    throw new RangeError(
      `${op}: target[${k.index}] is ${k.invalid}, not a class index in [0, ${classes})`,
    );
  }
  const max = k.max;
  if (max >= classes) {
    throw new RangeError(
      `${op}: target holds class ${max}, outside [0, ${classes}) for logits of ${classes} classes`,
    );
  }
}
