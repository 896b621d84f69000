/**
 * CPU references for `src/ops/backward.ts`: the gradient of each layer and loss as plain
 * loops in float64, one population row at a time (operands packed row-major, one row).
 *
 * @module
 */

/** `dx[b, i] = Σ_o dy[b, o] W[o, i]`. */
export function linearGradInputRef(
  dy: ArrayLike<number>,
  w: ArrayLike<number>,
  batch: number,
  inF: number,
  outF: number,
): Float64Array {
  const dx = new Float64Array(batch * inF);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < inF; i++) {
      let s = 0;
      for (let o = 0; o < outF; o++) s += dy[b * outF + o] * w[o * inF + i];
      dx[b * inF + i] = s;
    }
  }
  return dx;
}

/** `dW[o, i] = Σ_b dy[b, o] x[b, i]` and `db[o] = Σ_b dy[b, o]`. */
export function linearGradWeightRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  batch: number,
  inF: number,
  outF: number,
): { dw: Float64Array; db: Float64Array } {
  const dw = new Float64Array(outF * inF);
  const db = new Float64Array(outF);
  for (let b = 0; b < batch; b++) {
    for (let o = 0; o < outF; o++) {
      const g = dy[b * outF + o];
      db[o] += g;
      for (let i = 0; i < inF; i++) dw[o * inF + i] += g * x[b * inF + i];
    }
  }
  return { dw, db };
}

/** Geometry of a convolution: input `[batch, cin, h, w]`, filters `[cout, cin, k, k]`. */
export interface ConvGeometry {
  batch: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  k: number;
  stride: number;
  pad: number;
}

/** Output side of a window op. */
export function outSide(size: number, k: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - k) / stride) + 1;
}

/**
 * Scatters `f(b, c, iy, ix, o, oy, ox, ky, kx)` over every (input pixel, output pixel, filter
 * tap) the convolution connects.
 */
function eachTap(
  g: ConvGeometry,
  f: (
    b: number,
    c: number,
    iy: number,
    ix: number,
    o: number,
    oy: number,
    ox: number,
    ky: number,
    kx: number,
  ) => void,
): void {
  const ho = outSide(g.h, g.k, g.stride, g.pad), wo = outSide(g.w, g.k, g.stride, g.pad);
  for (let b = 0; b < g.batch; b++) {
    for (let o = 0; o < g.cout; o++) {
      for (let oy = 0; oy < ho; oy++) {
        for (let ox = 0; ox < wo; ox++) {
          for (let c = 0; c < g.cin; c++) {
            for (let ky = 0; ky < g.k; ky++) {
              const iy = oy * g.stride - g.pad + ky;
              if (iy < 0 || iy >= g.h) continue;
              for (let kx = 0; kx < g.k; kx++) {
                const ix = ox * g.stride - g.pad + kx;
                if (ix < 0 || ix >= g.w) continue;
                f(b, c, iy, ix, o, oy, ox, ky, kx);
              }
            }
          }
        }
      }
    }
  }
}

/** Gradient of the convolution's input. */
export function conv2dGradInputRef(
  dy: ArrayLike<number>,
  w: ArrayLike<number>,
  g: ConvGeometry,
): Float64Array {
  const ho = outSide(g.h, g.k, g.stride, g.pad), wo = outSide(g.w, g.k, g.stride, g.pad);
  const dx = new Float64Array(g.batch * g.cin * g.h * g.w);
  eachTap(g, (b, c, iy, ix, o, oy, ox, ky, kx) => {
    dx[((b * g.cin + c) * g.h + iy) * g.w + ix] += dy[((b * g.cout + o) * ho + oy) * wo + ox] *
      w[((o * g.cin + c) * g.k + ky) * g.k + kx];
  });
  return dx;
}

/** Gradients of the filters and the bias. */
export function conv2dGradWeightRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  g: ConvGeometry,
): { dw: Float64Array; db: Float64Array } {
  const ho = outSide(g.h, g.k, g.stride, g.pad), wo = outSide(g.w, g.k, g.stride, g.pad);
  const dw = new Float64Array(g.cout * g.cin * g.k * g.k);
  const db = new Float64Array(g.cout);
  eachTap(g, (b, c, iy, ix, o, oy, ox, ky, kx) => {
    dw[((o * g.cin + c) * g.k + ky) * g.k + kx] += dy[((b * g.cout + o) * ho + oy) * wo + ox] *
      x[((b * g.cin + c) * g.h + iy) * g.w + ix];
  });
  for (let b = 0; b < g.batch; b++) {
    for (let o = 0; o < g.cout; o++) {
      for (let q = 0; q < ho * wo; q++) db[o] += dy[(b * g.cout + o) * ho * wo + q];
    }
  }
  return { dw, db };
}

/** Geometry of a pooling window over `planes` planes of `h × w`. */
export interface PoolGeometry {
  planes: number;
  h: number;
  w: number;
  k: number;
  stride: number;
  pad: number;
}

/**
 * Gradient of max pooling: each window's gradient goes to its argmax as torch picks it
 * (the first maximum; a NaN replaces it).
 */
export function maxPool2dGradRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  g: PoolGeometry,
): Float64Array {
  const ho = outSide(g.h, g.k, g.stride, g.pad), wo = outSide(g.w, g.k, g.stride, g.pad);
  const dx = new Float64Array(g.planes * g.h * g.w);
  for (let p = 0; p < g.planes; p++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        let best = -Infinity, at = -1;
        for (let ky = 0; ky < g.k; ky++) {
          const iy = oy * g.stride - g.pad + ky;
          if (iy < 0 || iy >= g.h) continue;
          for (let kx = 0; kx < g.k; kx++) {
            const ix = ox * g.stride - g.pad + kx;
            if (ix < 0 || ix >= g.w) continue;
            const q = iy * g.w + ix;
            const v = x[p * g.h * g.w + q];
            if (at < 0) at = q;
            if (v > best || Number.isNaN(v)) [best, at] = [v, q];
          }
        }
        dx[p * g.h * g.w + at] += dy[(p * ho + oy) * wo + ox];
      }
    }
  }
  return dx;
}

/** Gradient of average pooling with padding counted (every window divides by k²). */
export function avgPool2dGradRef(dy: ArrayLike<number>, g: PoolGeometry): Float64Array {
  const ho = outSide(g.h, g.k, g.stride, g.pad), wo = outSide(g.w, g.k, g.stride, g.pad);
  const dx = new Float64Array(g.planes * g.h * g.w);
  for (let p = 0; p < g.planes; p++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        for (let ky = 0; ky < g.k; ky++) {
          const iy = oy * g.stride - g.pad + ky;
          if (iy < 0 || iy >= g.h) continue;
          for (let kx = 0; kx < g.k; kx++) {
            const ix = ox * g.stride - g.pad + kx;
            if (ix < 0 || ix >= g.w) continue;
            dx[(p * g.h + iy) * g.w + ix] += dy[(p * ho + oy) * wo + ox] / (g.k * g.k);
          }
        }
      }
    }
  }
  return dx;
}

/** `dy` where `y > 0`, else 0. */
export function reluGradRef(dy: ArrayLike<number>, y: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: dy.length }, (_, i) => y[i] > 0 ? dy[i] : 0);
}

/** `y (dy − Σ dy·y)` per group of `classes`. */
export function softmaxGradRef(
  dy: ArrayLike<number>,
  y: ArrayLike<number>,
  classes: number,
): Float64Array {
  const dx = new Float64Array(dy.length);
  for (let s = 0; s < dy.length; s += classes) {
    let dot = 0;
    for (let c = 0; c < classes; c++) dot += dy[s + c] * y[s + c];
    for (let c = 0; c < classes; c++) dx[s + c] = y[s + c] * (dy[s + c] - dot);
  }
  return dx;
}

/** `(softmax(z) − onehot(t)) · scale` per example. */
export function crossEntropyGradRef(
  z: ArrayLike<number>,
  target: ArrayLike<number>,
  classes: number,
  scale: number,
): Float64Array {
  const dz = new Float64Array(z.length);
  for (let b = 0; b < target.length; b++) {
    const s = b * classes;
    let m = -Infinity;
    for (let c = 0; c < classes; c++) m = Math.max(m, z[s + c]);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(z[s + c] - m);
    for (let c = 0; c < classes; c++) {
      dz[s + c] = (Math.exp(z[s + c] - m) / sum - (c === target[b] ? 1 : 0)) * scale;
    }
  }
  return dz;
}

/** `2 (pred − target) · scale`. */
export function mseGradRef(
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  scale: number,
): Float64Array {
  return Float64Array.from({ length: pred.length }, (_, i) => 2 * (pred[i] - target[i]) * scale);
}
