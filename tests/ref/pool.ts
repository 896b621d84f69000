/**
 * CPU reference for `maxPool2d` and `avgPool2d` (torch semantics: floor output size, max
 * padding with −∞, average counting the padding), the oracle of `tests/ops/pool_test.ts`.
 *
 * @module
 */

/** Geometry of one pooling. */
export interface Pool2dShape {
  /** Images times channels (any leading axes flattened). */
  planes: number;
  /** Input height. */
  h: number;
  /** Input width. */
  w: number;
  /** Window size. */
  kernelSize: number;
  /** Step between windows. Default `kernelSize`. */
  stride?: number;
  /** Implicit padding on each side. Default 0. */
  padding?: number;
}

/**
 * Output height and width of a pooling, `floor((size + 2·padding − k) / stride) + 1`.
 *
 * @param s the geometry.
 * @returns `[ho, wo]`.
 * @example
 * ```ts ignore
 * pool2dOutSize({ planes: 16, h: 25, w: 25, kernelSize: 2 }); // [12, 12]
 * ```
 */
export function pool2dOutSize(s: Pool2dShape): [number, number] {
  const stride = s.stride ?? s.kernelSize, pad = s.padding ?? 0;
  return [
    Math.floor((s.h + 2 * pad - s.kernelSize) / stride) + 1,
    Math.floor((s.w + 2 * pad - s.kernelSize) / stride) + 1,
  ];
}

function pool(
  x: Float32Array,
  s: Pool2dShape,
  reduce: (values: number[], windowSize: number) => number,
): Float32Array {
  const k = s.kernelSize, stride = s.stride ?? k, pad = s.padding ?? 0;
  const [ho, wo] = pool2dOutSize(s);
  const out = new Float32Array(s.planes * ho * wo);
  let o = 0;
  for (let c = 0; c < s.planes; c++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        const values: number[] = [];
        for (let ky = 0; ky < k; ky++) {
          for (let kx = 0; kx < k; kx++) {
            const iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
            if (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w) {
              values.push(x[(c * s.h + iy) * s.w + ix]);
            }
          }
        }
        out[o++] = reduce(values, k * k);
      }
    }
  }
  return out;
}

/**
 * Max pooling of `[planes, h, w]` (padding never wins: it is −∞). With `relu`, returns
 * `max(maxPool(x), 0)`.
 *
 * @param x input `[planes, h, w]`, row-major.
 * @param s the geometry.
 * @param relu fuse a ReLU on the output.
 * @returns `[planes, ho, wo]`.
 * @example
 * ```ts ignore
 * const y = maxPool2dRef(x, { planes: 2, h: 4, w: 4, kernelSize: 2 });
 * ```
 */
export function maxPool2dRef(x: Float32Array, s: Pool2dShape, relu = false): Float32Array {
  return pool(x, s, (v) => {
    const m = v.reduce((a, b) => Math.max(a, b), -Infinity);
    return relu ? Math.max(m, 0) : m;
  });
}

/**
 * Average pooling of `[planes, h, w]`, dividing by `kernelSize²` (padding counted as zeros,
 * torch's `count_include_pad=True`).
 *
 * @param x input `[planes, h, w]`, row-major.
 * @param s the geometry.
 * @returns `[planes, ho, wo]`.
 * @example
 * ```ts ignore
 * const y = avgPool2dRef(x, { planes: 2, h: 4, w: 4, kernelSize: 2 });
 * ```
 */
export function avgPool2dRef(x: Float32Array, s: Pool2dShape): Float32Array {
  return pool(x, s, (v, n) => v.reduce((a, b) => a + b, 0) / n);
}
