/**
 * `CMAES`: covariance matrix adaptation with a full covariance, for problems of up to a few
 * thousand parameters. Its N × N linear algebra runs in float64 on the host.
 *
 * @module
 */

import { fill } from "../../ops/elementwise.ts";
import type { Tensor } from "../../tensor.ts";
import { checkPositive, type ParamsInput } from "../optimizer.ts";
import { randomNormalAt } from "../../rng.ts";
import { type PopulationBind, PopulationOptimizer } from "../population/population_optimizer.ts";
import { type Losses, type MemberRows, type RowNeeds, rowsOf } from "../population/protocol.ts";
import { symmetricEigen } from "./_eigen.ts";
import { defaultPopulation, paramsOf } from "./_es.ts";
import { cmaWeights } from "./utilities.ts";

/** Options of {@linkcode CMAES}. */
export interface CMAESOptions extends PopulationBind {
  /** Candidates per generation, λ. Default 4 + ⌊3 ln N⌋. */
  popSize?: number;
  /** Initial step size σ₀ (C starts at the identity). Default 0.1. */
  sigma?: number;
  /**
   * The starting mean, N values in parameter order. Default: the parameters' values (read
   * once from the GPU by `prepare()` when they are already there).
   */
  mean?: ArrayLike<number>;
}

/** Largest N: C and its eigenvectors are two N × N float64 matrices (1 GiB at N = 8192). */
export const CMAES_MAX_DIMENSION = 8192;

/** The learning rates and constants of CMA-ES for N parameters and population λ. */
export interface CMAConstants {
  /** Weights of the ranks: positive for the μ best, negative (active CMA) after. */
  weights: Float64Array;
  /** Number of positive weights, ⌊λ/2⌋. */
  mu: number;
  /** Variance-effective selection mass of the positive weights. */
  mueff: number;
  /** Learning rate of the step-size path. */
  cs: number;
  /** Damping of the step-size update. */
  damps: number;
  /** Learning rate of the covariance path. */
  cc: number;
  /** Rank-one learning rate. */
  c1: number;
  /** Rank-μ learning rate. */
  cmu: number;
  /** E‖N(0, I)‖ ≈ √N (1 − 1/(4N) + 1/(21N²)). */
  chiN: number;
}

/**
 * The constants of CMA-ES as pycma 4 sets them by default (`options_parameters.py`, the
 * sampler's `parameters()`, `sigma_adaptation.py`): c₁ = min(1, λ/6)·2/((N + 1.3)² + μ_eff),
 * c_μ = min(1 − c₁, 2(0.25 + μ_eff − 2 + 1/μ_eff)/((N + 2)² + μ_eff)),
 * c_c = (4 + μ_eff/N)/(N + 4 + 2μ_eff/N), c_σ = (μ_eff + 2)/(N + μ_eff + 3),
 * d_σ = 1 + 2 max(0, √((μ_eff − 1)/(N + 1)) − 1) + c_σ, and active (negative) weights.
 */
export function cmaConstants(n: number, population: number): CMAConstants {
  const { mueff } = cmaWeights(population);
  const c1 = Math.min(1, population / 6) * 2 / ((n + 1.3) ** 2 + mueff);
  const cmu = Math.min(1 - c1, 2 * (0.25 + mueff - 2 + 1 / mueff) / ((n + 2) ** 2 + mueff));
  const { weights, mu } = cmaWeights(population, { c1, cmu, dimension: n });
  const cs = (mueff + 2) / (n + mueff + 3);
  return {
    weights,
    mu,
    mueff,
    cs,
    damps: 1 + 2 * Math.max(0, Math.sqrt((mueff - 1) / (n + 1)) - 1) + cs,
    cc: (4 + mueff / n) / (n + 4 + 2 * mueff / n),
    c1,
    cmu,
    chiN: Math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n)),
  };
}

/**
 * CMA-ES (Hansen & Ostermeier 2001; the tutorial form of Hansen 2016, arXiv:1604.00772, with
 * pycma 4's default constants and active CMA), minimizing:
 *
 * ```text
 * z_k ~ N(0, I);  y_k = B D z_k  (C = B D² Bᵀ);  x_k = m + σ y_k,  k < λ
 * sort by loss;  ⟨y⟩ = Σ_{i≤μ} w_i y_{i:λ};  m ← m + σ⟨y⟩
 * p_σ ← (1 − c_σ)p_σ + √(c_σ(2 − c_σ)μ_eff) B ⟨z⟩
 * h_σ = ‖p_σ‖/√(1 − (1 − c_σ)^(2(g+1))) < (1.4 + 2/(N + 1))χ_N
 * p_c ← (1 − c_c)p_c + h_σ √(c_c(2 − c_c)μ_eff) ⟨y⟩
 * C ← (1 + c₁δ(h_σ) − c₁ − c_μ Σw) C + c₁ p_c p_cᵀ + c_μ Σ_i w°_i y_{i:λ} y_{i:λ}ᵀ
 *     (w° = w for w ≥ 0, w·N/‖z‖² for the negative weights;  δ(h_σ) = (1 − h_σ)c_c(2 − c_c))
 * σ ← σ exp(min(1, c_σ/d_σ (‖p_σ‖/χ_N − 1)))
 * B, D ← eigendecomposition of C, every ⌈1/((c₁ + c_μ)N·10)⌉ generations (pycma's lazy gap)
 * ```
 *
 * Where it runs: the noise z comes from the library's counter-based generator (the TypeScript
 * twin of the GPU's, so a seed gives the same run everywhere), and C, its eigendecomposition,
 * the paths and the mean live in float64 on the host: an eigendecomposition has no sensible
 * WGSL form on a software adapter, and a float32 C loses the conditioning CMA-ES relies on
 * (pycma allows condition numbers to 1e14). The candidate rows are uploaded each generation and
 * evaluated on the GPU like any population; `Population.read()` returns them without a
 * readback. Memory: two N × N float64 matrices, so N is limited to
 * {@linkcode CMAES_MAX_DIMENSION}; use {@linkcode SepCMAES} for networks.
 *
 * The ranking needs the losses on the host: `tell()` takes numbers, `stepAsync(closure)` reads
 * a GPU closure's P losses back (one readback of 4P bytes per generation), and `minimize`
 * drives it for a host function.
 *
 * @example
 * ```ts ignore
 * const es = new CMAES([x], { sigma: 0.5, seed: 1 });
 * for (let g = 0; g < 100; g++) {
 *   const points = await es.ask().read();
 *   es.tell(points.map(f)).dispose();
 * }
 * ```
 */
export class CMAES extends PopulationOptimizer<Record<string, never>> {
  /** Candidates per generation. */
  readonly popSize: number;
  /** Initial step size. */
  readonly sigma: number;
  /** Number of parameters, N. */
  readonly dimension: number;
  /** The strategy's constants. */
  readonly constants: CMAConstants;
  #mean: Float64Array | null;
  #step: number;
  #C: Float64Array;
  #B: Float64Array;
  #D: Float64Array;
  readonly #pc: Float64Array;
  readonly #ps: Float64Array;
  #eigenAt = 0;
  #candidates: Float32Array[] = [];

  /**
   * Creates the strategy; options not given take the defaults above.
   *
   * @param params the parameters (the search space is all of their elements).
   * @throws {RangeError} for a popSize below 2, σ ≤ 0, N above {@linkcode CMAES_MAX_DIMENSION}
   *   or a `mean` of the wrong length.
   */
  constructor(params: ParamsInput<Record<string, never>>, options: CMAESOptions = {}) {
    const all = paramsOf(params);
    const n = all.reduce((a, p) => a + p.numel, 0);
    if (n > CMAES_MAX_DIMENSION) {
      throw new RangeError(
        `CMAES: ${n} parameters need two ${n} × ${n} float64 matrices ` +
          `(${(16 * n * n / 2 ** 30).toFixed(1)} GiB); the limit is N = ${CMAES_MAX_DIMENSION}. ` +
          "Use SepCMAES (diagonal covariance) for larger problems",
      );
    }
    const initial = all.every((p) => p.initialValues !== null)
      ? concat(all.map((p) => p.initialValues!))
      : null;
    super("CMAES", params, {}, { row: options.row, seed: options.seed });
    const popSize = options.popSize ?? defaultPopulation(n);
    if (!Number.isInteger(popSize) || popSize < 2) {
      throw new RangeError(`CMAES: popSize must be an integer >= 2, received ${popSize}`);
    }
    this.popSize = popSize;
    this.sigma = options.sigma ?? 0.1;
    checkPositive("CMAES", "sigma", this.sigma);
    if (this.flat.params.some((p) => !all.includes(p)) || this.flat.size !== n) {
      throw new RangeError("CMAES: the parameters must be all of the model's parameters");
    }
    this.dimension = n;
    this.constants = cmaConstants(n, popSize);
    if (options.mean !== undefined && options.mean.length !== n) {
      throw new RangeError(`CMAES: mean must have ${n} values, received ${options.mean.length}`);
    }
    this.#mean = options.mean !== undefined ? Float64Array.from(options.mean) : initial;
    this.#step = this.sigma;
    this.#C = identity(n);
    this.#B = identity(n);
    this.#D = new Float64Array(n).fill(1);
    this.#pc = new Float64Array(n);
    this.#ps = new Float64Array(n);
  }

  /** Nothing to check per group. */
  protected validate(): void {}

  /** The losses are ranked on the host. */
  protected override get needsHostLosses(): boolean {
    return true;
  }

  /** Reads the starting mean from the GPU if it is not known yet (one readback, once). */
  override async prepare(): Promise<void> {
    if (this.#mean === null) this.#mean = Float64Array.from(await this.flat.readRow(this.row));
  }

  /** The current mean (a copy, in parameter order). */
  get mean(): Float64Array {
    return Float64Array.from(this.#needMean());
  }

  /** The mean, from the host (no readback). */
  override center(): Promise<Float32Array> {
    return Promise.resolve(Float32Array.from(this.#needMean()));
  }

  /** The current step size σ. */
  get currentSigma(): number {
    return this.#step;
  }

  /** The covariance matrix C (a copy, N × N row-major). */
  get covariance(): Float64Array {
    return Float64Array.from(this.#C);
  }

  /** σ times the largest and smallest axis of C: the spread of the search distribution. */
  get axes(): { max: number; min: number } {
    let max = 0;
    let min = Infinity;
    for (const d of this.#D) {
      max = Math.max(max, d);
      min = Math.min(min, d);
    }
    return { max: this.#step * max, min: this.#step * min };
  }

  /** λ candidate rows. */
  rowNeeds(): RowNeeds {
    return { members: 0, candidates: this.popSize, work: 0 };
  }

  /**
   * Draws the candidates on the host and uploads them into the candidate rows.
   * @throws {Error} if the starting mean is still on the GPU (await `prepare()` first).
   */
  propose(rows: MemberRows): number[] {
    const mean = this.#needMean();
    const n = this.dimension;
    this.#candidates = [];
    const stride = this.flat.stride;
    const padded = new Float32Array(this.popSize * stride);
    for (let k = 0; k < this.popSize; k++) {
      const y = this.#y(k);
      const x = new Float32Array(n);
      for (let i = 0; i < n; i++) x[i] = mean[i] + this.#step * y[i];
      this.#candidates.push(x);
      let at = 0;
      for (const p of this.flat.params) {
        padded.set(x.subarray(at, at + p.numel), k * stride + p.offset);
        at += p.numel;
      }
    }
    this.gpu.write(this.flat.buffer, rows.candidates.first * stride * 4, padded);
    return rowsOf(rows.candidates);
  }

  /** The uploaded candidates, when the asked rows are exactly them. */
  protected override hostRows(rows: readonly number[]): readonly Float32Array[] | null {
    return rows.length === this.#candidates.length ? this.#candidates : null;
  }

  /**
   * Ranks the host losses and updates the mean (written to the home row), the paths, C and σ;
   * reports the mean finite loss of the candidates.
   *
   * @throws {Error} without host losses.
   */
  accept(losses: Losses | null, rows: MemberRows, report: Tensor): void {
    const f = losses?.host;
    if (f === undefined) throw new Error("CMAES: the losses must come from the host");
    const mean = this.#needMean();
    const { weights, mu, mueff, cs, damps, cc, c1, cmu, chiN } = this.constants;
    const n = this.dimension;
    const order = rankOrder(f);
    const zs = order.map((k) => this.#z(k));
    const ys = zs.map((z) => this.#transform(z));
    // Mean and paths from the μ best.
    const zw = new Float64Array(n);
    const yw = new Float64Array(n);
    for (let i = 0; i < mu; i++) {
      for (let j = 0; j < n; j++) {
        zw[j] += weights[i] * zs[i][j];
        yw[j] += weights[i] * ys[i][j];
      }
    }
    for (let j = 0; j < n; j++) mean[j] += this.#step * yw[j];
    const bz = this.#rotate(zw);
    const csFactor = Math.sqrt(cs * (2 - cs) * mueff);
    let psNorm = 0;
    for (let j = 0; j < n; j++) {
      this.#ps[j] = (1 - cs) * this.#ps[j] + csFactor * bz[j];
      psNorm += this.#ps[j] ** 2;
    }
    psNorm = Math.sqrt(psNorm);
    const g = this.stepCount + 1;
    const hsig = psNorm / Math.sqrt(1 - (1 - cs) ** (2 * g)) < (1.4 + 2 / (n + 1)) * chiN ? 1 : 0;
    const ccFactor = hsig * Math.sqrt(cc * (2 - cc) * mueff);
    for (let j = 0; j < n; j++) this.#pc[j] = (1 - cc) * this.#pc[j] + ccFactor * yw[j];
    // Covariance: rank one and rank μ (active weights rescaled by the Mahalanobis norm).
    const sumW = weights.reduce((a, w) => a + w, 0);
    const decay = 1 + c1 * (1 - hsig) * cc * (2 - cc) - c1 - cmu * sumW;
    const C = this.#C;
    for (let i = 0; i < n * n; i++) C[i] *= decay;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) C[i * n + j] += c1 * this.#pc[i] * this.#pc[j];
    }
    for (let k = 0; k < this.popSize; k++) {
      let w = weights[k];
      if (w === 0) continue;
      if (w < 0) w *= n / zs[k].reduce((a, v) => a + v * v, 0);
      const y = ys[k];
      for (let i = 0; i < n; i++) {
        const cy = cmu * w * y[i];
        for (let j = 0; j <= i; j++) C[i * n + j] += cy * y[j];
      }
    }
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) C[j * n + i] = C[i * n + j];
    this.#step *= Math.exp(Math.min(1, cs / damps * (psNorm / chiN - 1)));
    this.stepCount++;
    if (this.stepCount - this.#eigenAt >= this.#eigenGap()) this.#decompose();
    // The new mean into the model row; the report on the GPU.
    this.flat.loadRow(rows.home, Float32Array.from(mean));
    let sum = 0;
    let count = 0;
    for (const v of f) {
      if (Number.isFinite(v)) {
        sum += v;
        count++;
      }
    }
    fill(report, count === 0 ? NaN : sum / count);
  }

  /**
   * Generations between eigendecompositions: pycma's lazy gap, 1/((c₁ + c_μ)·N·10) tells
   * (`GaussFullSampler.update_now` decomposes once that many tells have passed), about
   * N/(10(2 + μ_eff)) — O(N/λ) — so the O(N³) work per generation stays O(N²λ).
   */
  #eigenGap(): number {
    const { c1, cmu } = this.constants;
    return Math.max(1, Math.ceil(1 / ((c1 + cmu) * this.dimension * 10)));
  }

  #decompose(): void {
    const n = this.dimension;
    const { values, vectors } = symmetricEigen(this.#C, n);
    this.#B = vectors;
    this.#D = values.map((v) => Math.sqrt(Math.max(v, 0)));
    this.#eigenAt = this.stepCount;
  }

  #needMean(): Float64Array {
    if (this.#mean === null) {
      throw new Error(
        "CMAES: the starting mean is on the GPU; `await opt.prepare()` once first " +
          "(stepAsync and minimize do), or pass `mean`",
      );
    }
    return this.#mean;
  }

  /** z_k of this generation, from the counter-based generator. */
  #z(k: number): Float64Array {
    const coords = { seed: this.seed, stream: this.stream, counter: this.stepCount, row: k };
    return Float64Array.from({ length: this.dimension }, (_, j) => randomNormalAt(coords, j));
  }

  /** B D z. */
  #transform(z: Float64Array): Float64Array {
    const dz = z.map((v, j) => v * this.#D[j]);
    return this.#rotate(dz);
  }

  /** B v. */
  #rotate(v: Float64Array): Float64Array {
    const n = this.dimension;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += this.#B[i * n + j] * v[j];
      out[i] = s;
    }
    return out;
  }

  #y(k: number): Float64Array {
    return this.#transform(this.#z(k));
  }

  /** Mean, σ, paths, C, its last eigendecomposition and when it was made. */
  protected override async extraState(): Promise<Record<string, unknown>> {
    return {
      ...await super.extraState(),
      mean: this.#mean === null ? null : Float64Array.from(this.#mean),
      sigma: this.#step,
      pc: Float64Array.from(this.#pc),
      ps: Float64Array.from(this.#ps),
      C: Float64Array.from(this.#C),
      B: Float64Array.from(this.#B),
      D: Float64Array.from(this.#D),
      eigenAt: this.#eigenAt,
    };
  }

  /** Restores what {@linkcode extraState} saved. */
  protected override loadExtraState(extra: Record<string, unknown> | undefined): void {
    super.loadExtraState(extra);
    if (extra === undefined) return;
    if (extra.mean instanceof Float64Array) this.#mean = Float64Array.from(extra.mean);
    this.#step = extra.sigma as number;
    this.#pc.set(extra.pc as Float64Array);
    this.#ps.set(extra.ps as Float64Array);
    this.#C = Float64Array.from(extra.C as Float64Array);
    this.#B = Float64Array.from(extra.B as Float64Array);
    this.#D = Float64Array.from(extra.D as Float64Array);
    this.#eigenAt = extra.eigenAt as number;
  }

  /** Refuses a saved state of another dimension or with a bad σ, before anything changes. */
  protected override checkExtraState(extra: Record<string, unknown> | undefined): void {
    super.checkExtraState(extra);
    if (extra === undefined) return;
    const n = this.dimension;
    const sizes: [string, number][] = [["pc", n], ["ps", n], ["D", n], ["C", n * n], ["B", n * n]];
    if (extra.mean !== null) sizes.push(["mean", n]);
    for (const [key, size] of sizes) {
      const value = extra[key];
      if (!(value instanceof Float64Array) || value.length !== size) {
        throw new TypeError(
          `CMAES.loadStateDict: ${key} must be ${size} float64 values for N = ${n}, received ${
            value instanceof Float64Array ? `${value.length}` : typeof value
          }`,
        );
      }
    }
    const sigma = extra.sigma;
    if (typeof sigma !== "number" || !(sigma > 0) || !Number.isFinite(sigma)) {
      throw new TypeError(
        `CMAES.loadStateDict: sigma must be a finite number > 0, received ${sigma}`,
      );
    }
    if (!Number.isInteger(extra.eigenAt)) {
      throw new TypeError(
        `CMAES.loadStateDict: eigenAt must be an integer, received ${extra.eigenAt}`,
      );
    }
  }
}

/** Indices sorted by loss, NaN and ±∞ last, ties by index. */
function rankOrder(f: Float64Array): number[] {
  const key = (k: number) => (Number.isFinite(f[k]) ? f[k] : Infinity);
  return Array.from(f, (_, k) => k).sort((a, b) => key(a) - key(b) || a - b);
}

function identity(n: number): Float64Array {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = 1;
  return m;
}

function concat(parts: Float32Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
