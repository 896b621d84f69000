/**
 * `SepCMAES`: CMA-ES with a diagonal covariance (Ros & Hansen 2008), with pycma's separable
 * learning rates, entirely on the GPU.
 *
 * @module
 */

import { sumSquares } from "../../ops/norm.ts";
import { checkPositive, type ParamsInput } from "../optimizer.ts";
import type { MemberRows } from "../population/protocol.ts";
import { defaultPopulation, EvolutionStrategy, numelOf, type StrategyConfig } from "./_es.ts";
import { sample, SCALE, update } from "./_kernels.ts";
import { cmaWeights } from "./utilities.ts";

/** Options of {@linkcode SepCMAES}. */
export interface SepCMAESOptions extends StrategyConfig {
  /** Candidates per generation, λ. Default 4 + ⌊3 ln N⌋. */
  popSize?: number;
  /** Initial step size σ₀ (the diagonal C starts at ones). Default 0.1. */
  sigma?: number;
}

/** The learning rates and constants of sep-CMA-ES for N parameters and population λ. */
export interface SepCMAConstants {
  /** Weights of the ranks (zero beyond μ). */
  weights: Float64Array;
  /** Number of positive weights, ⌊λ/2⌋. */
  mu: number;
  /** Variance-effective selection mass, 1 / Σ w². */
  mueff: number;
  /** Learning rate of the step-size path (pycma's CSA). */
  cs: number;
  /** Damping of the step-size update (pycma's CSA). */
  damps: number;
  /** Learning rate of the covariance path (pycma's `cc_sep`). */
  cc: number;
  /** Rank-one learning rate (pycma's `c1_sep`). */
  c1: number;
  /** Rank-μ learning rate (pycma's `cmu_sep`). */
  cmu: number;
}

/**
 * The constants of sep-CMA-ES, as pycma sets them with `CMA_diagonal=True`
 * (`options_parameters.py`, `sigma_adaptation.py`): positive recombination weights only, and
 * the separable rates — not the full-CMA ones, which make the diagonal freeze at N ≈ 10⁴.
 */
export function sepCmaConstants(n: number, population: number): SepCMAConstants {
  const { weights, mu, mueff } = cmaWeights(population);
  const cs = (mueff + 2) / (n + mueff + 3);
  const damps = 1 + 2 * Math.max(0, Math.sqrt((mueff - 1) / (n + 1)) - 1) + cs;
  const cc = (1 + 1 / n + mueff / n) / (Math.sqrt(n) + 1 / n + 2 * mueff / n);
  const c1 = 1 / (n + 2 * Math.sqrt(n) + mueff / n);
  const cmu = Math.min(1 - c1, (0.25 + mueff + 1 / mueff - 2) / (n + 4 * Math.sqrt(n) + mueff / 2));
  return { weights, mu, mueff, cs, damps, cc, c1, cmu };
}

/** The fields sep-CMA-ES adds to the state record: σ, σ before the update, h_σ, ‖p_σ‖². */
export type SepCMAESFields = "sigma" | "sigmaOld" | "hsig" | "norm";

/**
 * sep-CMA-ES (Ros & Hansen 2008, "A Simple Modification in CMA-ES Achieving Linear Time and
 * Space Complexity"; pycma with `CMA_diagonal=True`), minimizing:
 *
 * ```text
 * z_k ~ N(0, I), k < λ;  y_k = √C ⊙ z_k;  x_k = m + σ y_k
 * w = recombination weights by rank (μ = ⌊λ/2⌋ positive, summing to 1; zero beyond μ)
 * ⟨z⟩ = Σ w_k z_k;  ⟨y⟩ = √C ⊙ ⟨z⟩
 * p_σ ← (1 − c_σ) p_σ + √(c_σ(2 − c_σ)μ_eff) ⟨z⟩
 * h_σ = ‖p_σ‖/√(1 − (1 − c_σ)^(2(g+1))) < (1.4 + 2/(N + 1)) χ_N
 * p_c ← (1 − c_c) p_c + h_σ √(c_c(2 − c_c)μ_eff) ⟨y⟩
 * C ← (1 − c₁ₐ − c_μ) C + c₁ p_c² + c_μ C ⊙ Σ w_k z_k²       (c₁ₐ = c₁(1 − (1 − h_σ²)c_c(2 − c_c)))
 * m ← m + σ ⟨y⟩;  σ ← σ exp(min(1, c_σ/d_σ (‖p_σ‖/χ_N − 1)))
 * ```
 * with c_σ = (μ_eff + 2)/(N + μ_eff + 3), d_σ = 1 + 2 max(0, √((μ_eff − 1)/(N + 1)) − 1) + c_σ
 * (pycma's CSA), and pycma's separable rates c_c = (1 + 1/N + μ_eff/N)/(√N + 1/N + 2μ_eff/N),
 * c₁ = 1/(N + 2√N + μ_eff/N), c_μ = min(1 − c₁, (μ_eff − 1.75 + 1/μ_eff)/(N + 4√N + μ_eff/2)).
 * The evosax port uses the full-CMA rates here, which at N = 11,274 give c₁ ≈ 1.6e-8 and a
 * diagonal that never learns. Only positive weights are used (pycma's separable mode updates the
 * diagonal multiplicatively with active weights; the classic additive form needs them
 * positive to keep C positive).
 *
 * Everything runs on the GPU: ranking, the moments from regenerated noise, ‖p_σ‖ (a two-pass
 * reduction), σ and h_σ (one invocation), and the element-wise updates; σ lives in the state
 * record. State: C, p_σ, p_c and two moment vectors, 5N floats.
 *
 * @example
 * ```ts ignore
 * const es = new SepCMAES(model.parameters(), { popSize: 64, sigma: 0.05, seed: 1 });
 * const loss = es.step(() => crossEntropy(model.forward(x), y, { reduction: "none" }));
 * ```
 */
export class SepCMAES extends EvolutionStrategy<SepCMAESFields> {
  /** Initial step size. */
  readonly sigma: number;
  /** The strategy's constants. */
  readonly constants: SepCMAConstants;
  /** Number of trained parameters, N. */
  readonly dimension: number;

  /**
   * Creates the strategy; options not given take the defaults above.
   *
   * @param params the model's parameters (the initial mean).
   * @throws {RangeError} for a popSize below 2 or σ ≤ 0.
   */
  constructor(params: ParamsInput<Record<string, never>>, options: SepCMAESOptions = {}) {
    const n = numelOf(params);
    const popSize = options.popSize ?? defaultPopulation(n);
    super("SepCMAES", params, options, {
      popSize,
      even: false,
      fields: { sigma: 1, sigmaOld: 1, hsig: 1, norm: 1 },
    });
    this.sigma = options.sigma ?? 0.1;
    checkPositive("SepCMAES", "sigma", this.sigma);
    this.dimension = this.spans().reduce(
      (a, s) => a + s.params.reduce((b, p) => b + p.numel, 0),
      0,
    );
    this.constants = sepCmaConstants(this.dimension, popSize);
  }

  /** σ₀ in the state record. */
  protected override initialState(floats: number): Float32Array {
    const values = new Float32Array(floats);
    values[this.layout.at("sigma")] = this.sigma;
    values[this.layout.at("sigmaOld")] = this.sigma;
    return values;
  }

  /** The recombination weights by rank. */
  protected utilityTable(): Float32Array {
    return Float32Array.from(this.constants.weights);
  }

  /** m + σ √C ⊙ z_k into the candidate rows (σ read from the state on the GPU). */
  protected sampleRows(rows: MemberRows): void {
    for (const span of this.spans()) {
      sample(this.gpu, this.flat.buffer, span, {
        center: rows.home,
        first: rows.candidates.first,
        population: this.popSize,
        stride: this.flat.stride,
        seed: this.seed,
        stream: this.stream,
        counter: this.stepCount,
        mirrored: false,
        sigmaMult: 1,
        sigmaAt: this.layout.at("sigma"),
        scaleKind: SCALE.SCALE_SQRT,
        vec: this.vector("C", 1),
        state: this.state,
      });
    }
  }

  /** Moments and p_σ, ‖p_σ‖², σ and h_σ, then p_c, C and m. */
  protected updateFromUtilities(rows: MemberRows): void {
    const { gpu, flat, layout } = this;
    const k = this.constants;
    const spans = this.spans();
    const paths = this.vector("paths", 0, 4); // p_σ, p_c, ⟨z⟩, Σ w (z² − 1)
    const common = {
      state: this.state,
      rows: flat.buffer,
      vec: this.vector("C", 1),
      aux: paths,
      center: rows.home,
      stride: flat.stride,
      terms: this.popSize,
    };
    const values = {
      stride: flat.stride,
      seed: this.seed,
      stream: this.stream,
      counter: this.stepCount,
      utilOff: layout.at("utilities"),
      normAt: layout.at("norm"),
      sigmaAt: layout.at("sigma"),
      sigmaOldAt: layout.at("sigmaOld"),
      hsigAt: layout.at("hsig"),
      n: this.dimension,
      cs: k.cs,
      damps: k.damps,
      cc: k.cc,
      cmu: k.cmu,
      sumW: 1,
    };
    for (const span of spans) {
      update(gpu, "sepcma_moments", span, {
        ...common,
        values: { ...values, c0: 1 - k.cs, c1: Math.sqrt(k.cs * (2 - k.cs) * k.mueff) },
      });
    }
    spans.forEach((span, i) => {
      sumSquares(
        gpu,
        paths,
        span.start,
        span.end - span.start,
        this.state,
        layout.at("norm"),
        i > 0,
      );
    });
    update(gpu, "sepcma_sigma", { start: 0, end: 0 }, { ...common, values });
    for (const span of spans) {
      update(gpu, "sepcma_update", span, {
        ...common,
        values: { ...values, c1: k.c1, c2: Math.sqrt(k.cc * (2 - k.cc) * k.mueff) },
      });
    }
  }

  /** The current step size σ (one readback). */
  async currentSigma(): Promise<number> {
    const record = new Float32Array(
      await this.gpu.readBuffer(this.state, 0, this.layout.floats * 4),
    );
    return record[this.layout.at("sigma")];
  }

  /** The current diagonal of C, one value per parameter in model order (one readback). */
  async variances(): Promise<Float32Array> {
    return await this.readVector("C", 1);
  }
}
