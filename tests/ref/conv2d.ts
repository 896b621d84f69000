/**
 * CPU reference for `conv2d` (NCHW, zero padding, square stride and padding), the oracle of
 * `tests/ops/conv2d_test.ts` and of the model tests. Plain loops, float64 accumulation.
 *
 * @module
 */

/** Geometry of one convolution. */
export interface Conv2dShape {
  /** Images. */
  batch: number;
  /** Input channels. */
  cin: number;
  /** Input height. */
  h: number;
  /** Input width. */
  w: number;
  /** Output channels. */
  cout: number;
  /** Kernel height. */
  kh: number;
  /** Kernel width. */
  kw: number;
  /** Step between output pixels. Default 1. */
  stride?: number;
  /** Zero padding on each side. Default 0. */
  padding?: number;
}

/**
 * Output height and width of a convolution, `floor((size + 2·padding − k) / stride) + 1`.
 *
 * @param s the geometry.
 * @returns `[ho, wo]`.
 * @example
 * ```ts ignore
 * conv2dOutSize({ batch: 1, cin: 1, h: 28, w: 28, cout: 16, kh: 4, kw: 4 }); // [25, 25]
 * ```
 */
export function conv2dOutSize(s: Conv2dShape): [number, number] {
  const stride = s.stride ?? 1, pad = s.padding ?? 0;
  return [
    Math.floor((s.h + 2 * pad - s.kh) / stride) + 1,
    Math.floor((s.w + 2 * pad - s.kw) / stride) + 1,
  ];
}

/**
 * One convolution of one parameter row: `out[b, co, oy, ox] = bias[co] +
 * Σ_{ci, ky, kx} x[b, ci, oy·s − p + ky, ox·s − p + kx] · weight[co, ci, ky, kx]`, reading zero
 * outside the input.
 *
 * @param x input `[batch, cin, h, w]`, row-major.
 * @param weight `[cout, cin, kh, kw]`.
 * @param bias `[cout]`, or null for none.
 * @param s the geometry.
 * @returns `[batch, cout, ho, wo]`.
 * @example
 * ```ts ignore
 * const y = conv2dRef(x, w, null, { batch: 1, cin: 1, h: 5, w: 5, cout: 2, kh: 3, kw: 3 });
 * ```
 */
export function conv2dRef(
  x: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  s: Conv2dShape,
): Float32Array {
  const stride = s.stride ?? 1, pad = s.padding ?? 0;
  const [ho, wo] = conv2dOutSize(s);
  const out = new Float32Array(s.batch * s.cout * ho * wo);
  let o = 0;
  for (let b = 0; b < s.batch; b++) {
    for (let co = 0; co < s.cout; co++) {
      for (let oy = 0; oy < ho; oy++) {
        for (let ox = 0; ox < wo; ox++) {
          let acc = bias === null ? 0 : bias[co];
          for (let ci = 0; ci < s.cin; ci++) {
            for (let ky = 0; ky < s.kh; ky++) {
              const iy = oy * stride - pad + ky;
              if (iy < 0 || iy >= s.h) continue;
              for (let kx = 0; kx < s.kw; kx++) {
                const ix = ox * stride - pad + kx;
                if (ix < 0 || ix >= s.w) continue;
                acc += x[((b * s.cin + ci) * s.h + iy) * s.w + ix] *
                  weight[((co * s.cin + ci) * s.kh + ky) * s.kw + kx];
              }
            }
          }
          out[o++] = acc;
        }
      }
    }
  }
  return out;
}
