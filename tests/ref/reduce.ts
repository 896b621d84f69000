/**
 * CPU references for `src/ops/reduce.ts`: plain loops with float64 accumulation over packed
 * row-major data. The population axis is just the leading axis here; "reduce everything but
 * the population axis" is `reduceRef(kind, x, [P, rowNumel], 1)`.
 *
 * @module
 */

/** Which reduction {@linkcode reduceRef} computes. */
export type ReduceKind = "sum" | "mean" | "max" | "argmax";

/**
 * The `[outer, len, inner]` view of `shape` around `axis`.
 *
 * @param shape a shape.
 * @param axis an axis of it, in `[0, shape.length)`.
 * @returns the products of the dims before `axis`, the dim itself, and the dims after.
 * @example
 * ```ts ignore
 * axisLayout([2, 3, 4], 1); // { outer: 2, len: 3, inner: 4 }
 * ```
 */
export function axisLayout(
  shape: readonly number[],
  axis: number,
): { outer: number; len: number; inner: number } {
  const prod = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
  return {
    outer: prod(shape.slice(0, axis)),
    len: shape[axis],
    inner: prod(shape.slice(axis + 1)),
  };
}

/**
 * Reduces packed data of `shape` along `axis` (non-negative). Sums and means accumulate in
 * float64; `max` and `argmax` return the first maximum, NaN counting as the maximum (torch).
 *
 * @param kind the reduction.
 * @param x packed row-major data.
 * @param shape shape of `x`.
 * @param axis axis to reduce, in `[0, shape.length)`.
 * @returns `outer * inner` results in float64, output-major (`[outer, inner]`).
 * @example
 * ```ts ignore
 * reduceRef("sum", new Float32Array([1, 2, 3, 4]), [2, 2], 1); // [3, 7]
 * ```
 */
export function reduceRef(
  kind: ReduceKind,
  x: ArrayLike<number>,
  shape: readonly number[],
  axis: number,
): Float64Array {
  const { outer, len, inner } = axisLayout(shape, axis);
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (k: number) => x[(o * len + k) * inner + i];
      let value: number;
      if (kind === "sum" || kind === "mean") {
        let s = 0;
        for (let k = 0; k < len; k++) s += at(k);
        value = kind === "mean" ? s / len : s;
      } else {
        let best = at(0);
        let index = 0;
        for (let k = 1; k < len; k++) {
          const v = at(k);
          if (!Number.isNaN(best) && (Number.isNaN(v) || v > best)) {
            best = v;
            index = k;
          }
        }
        value = kind === "max" ? best : index;
      }
      out[o * inner + i] = value;
    }
  }
  return out;
}
