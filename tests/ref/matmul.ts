/**
 * CPU references for `src/ops/matmul.ts`: plain loops, float64 accumulation, one population
 * row at a time. Operands are packed row-major `Float32Array`s; a population operand holds
 * `P` packed rows, a shared one a single row.
 *
 * @module
 */

/** Shapes and options of {@linkcode matmulRef}. */
export interface MatmulRefOptions {
  /** Rows of the output (`A` is `M x K`). */
  m: number;
  /** Columns of the output. */
  n: number;
  /** Inner dimension. */
  k: number;
  /** Population rows of the output (default 1). */
  rows?: number;
  /** `a` holds `rows` matrices (else one shared matrix). */
  aPop?: boolean;
  /** `b` holds `rows` matrices (else one shared matrix). */
  bPop?: boolean;
  /** `b` is stored `n x k` and used transposed. */
  transB?: boolean;
  /** Optional bias, `n` values, or `rows * n` with `biasPop`. */
  bias?: Float32Array;
  /** `bias` holds `rows` vectors. */
  biasPop?: boolean;
}

/**
 * `out[r] = a[r] @ b[r] (+ bias[r])` for every population row `r`, where `b[r]` is used
 * transposed with `transB`. Returns `rows * m * n` values, rounded to f32 once at the end.
 *
 * @param a `[rows?, m, k]` packed.
 * @param b `[rows?, k, n]` packed (`[rows?, n, k]` with `transB`).
 * @param options shapes and flags.
 * @returns the packed `[rows, m, n]` product.
 * @example
 * ```ts ignore
 * matmulRef(new Float32Array([1, 2]), new Float32Array([3, 4]), { m: 1, n: 1, k: 2 }); // [11]
 * ```
 */
export function matmulRef(
  a: Float32Array,
  b: Float32Array,
  options: MatmulRefOptions,
): Float32Array {
  const { m, n, k, rows = 1, aPop = false, bPop = false, transB = false } = options;
  const { bias, biasPop = false } = options;
  const out = new Float32Array(rows * m * n);
  for (let r = 0; r < rows; r++) {
    const ao = aPop ? r * m * k : 0;
    const bo = bPop ? r * k * n : 0;
    const co = biasPop ? r * n : 0;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = bias === undefined ? 0 : bias[co + j];
        for (let q = 0; q < k; q++) {
          const bv = transB ? b[bo + j * k + q] : b[bo + q * n + j];
          s += a[ao + i * k + q] * bv;
        }
        out[(r * m + i) * n + j] = s;
      }
    }
  }
  return out;
}

/**
 * `torch.nn.functional.linear` on the CPU: `x @ weightᵀ + bias` per population row.
 *
 * @param x `[rows?, batch, inF]` packed.
 * @param weight `[rows?, outF, inF]` packed.
 * @param options sizes, population flags and the optional bias (`[rows?, outF]`).
 * @returns the packed `[rows, batch, outF]` output.
 * @example
 * ```ts ignore
 * linearRef(x, w, { batch: 32, inF: 784, outF: 10 });
 * ```
 */
export function linearRef(
  x: Float32Array,
  weight: Float32Array,
  options: {
    batch: number;
    inF: number;
    outF: number;
    rows?: number;
    xPop?: boolean;
    wPop?: boolean;
    bias?: Float32Array;
    biasPop?: boolean;
  },
): Float32Array {
  const { batch, inF, outF, xPop, wPop, ...rest } = options;
  return matmulRef(x, weight, {
    ...rest,
    m: batch,
    n: outF,
    k: inF,
    aPop: xPop,
    bPop: wPop,
    transB: true,
  });
}
