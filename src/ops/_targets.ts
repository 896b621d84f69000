/**
 * Class-index targets whose values the host knows: the largest class of each such tensor,
 * recorded where labels are uploaded (the `DataLoader`), so that `crossEntropy` can refuse a
 * class outside the logits' range before any GPU work, as PyTorch does, without a readback.
 * Targets made any other way are not checked (their bad values give NaN losses).
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";

const largest = new WeakMap<Tensor, number>();

/** Records that `target` now holds class indices whose largest is `max`. */
export function recordClassTargets(target: Tensor, max: number): void {
  largest.set(target, max);
}

/**
 * @throws {RangeError} when `target` is known to hold a class index ≥ `classes`.
 */
export function checkClassTargets(op: string, target: Tensor, classes: number): void {
  const max = largest.get(target);
  if (max !== undefined && max >= classes) {
    throw new RangeError(
      `${op}: target holds class ${max}, outside [0, ${classes}) for logits of ${classes} classes`,
    );
  }
}
