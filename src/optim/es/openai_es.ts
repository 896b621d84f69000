/**
 * `OpenAIES`: the evolution strategy of Salimans et al. (2017), as evosax and EvoJAX run it:
 * mirrored Gaussian candidates, centered-rank utilities, and the gradient estimate handed to a
 * first-order optimizer.
 *
 * @module
 */

import { Adam } from "../first_order/adam.ts";
import { checkMin, checkPositive, type Optimizer, type ParamsInput } from "../optimizer.ts";
import type { MemberRows } from "../population/protocol.ts";
import { defaultPopulation, EvolutionStrategy, numelOf, type StrategyConfig } from "./_es.ts";
import { sample, SCALE, update } from "./_kernels.ts";
import { centeredRanks } from "./utilities.ts";

/** Options of {@linkcode OpenAIES}. */
export interface OpenAIESOptions extends StrategyConfig {
  /** Candidates per generation (even: mirrored pairs). Default: 4 + ⌊3 ln N⌋ rounded up to even. */
  popSize?: number;
  /** Noise scale σ of the first generation. Default 0.1. */
  sigma?: number;
  /** σ is multiplied by this after each generation. Default 1 (constant). */
  sigmaDecay?: number;
  /** σ never decays below this. Default 0. */
  sigmaLimit?: number;
  /** L2 weight decay added to the gradient estimate: ĝ + weightDecay · m. Default 0. */
  weightDecay?: number;
  /** The optimizer that steps on ĝ, over the same parameters. Default `Adam(lr)`. */
  opt?: Optimizer<object>;
  /** Learning rate of the default Adam (ignored when `opt` is given). Default 0.01. */
  lr?: number;
  /**
   * `"centered"` (default): centered ranks. `"raw"`: the utilities are the negated losses, so
   * ĝ is the plain Monte Carlo estimate of ∇ E[f(m + σz)] (unbiased, and sensitive to the
   * losses' scale and outliers).
   */
  fitnessShaping?: "centered" | "raw";
}

/**
 * OpenAI-ES (Salimans, Ho, Chen, Sidor, Sutskever 2017; evosax `OpenES`, EvoJAX `OpenES`):
 *
 * ```text
 * σ_t = max(σ · sigmaDecay^t, sigmaLimit)
 * z_k ~ N(0, I), k < P/2;  x_2k = m + σ_t z_k,  x_2k+1 = m − σ_t z_k      (mirrored pairs)
 * u = centered ranks of the losses f(x)        (½ for the lowest … −½ for the highest;
 *                                               `fitnessShaping: "raw"`: u = −f(x))
 * ĝ = −1/(P σ_t) Σ_k (u_2k − u_2k+1) z_k + weightDecay · m     (the loss gradient's estimate)
 * grad(m) = ĝ;  opt.step()                      (Adam by default)
 * report: the mean loss of the P candidates
 * ```
 * The noise is drawn again from its coordinates when the gradient is formed, never stored.
 * Ranking happens on the GPU, so a generation reads nothing back. Since the estimate goes into
 * the gradient buffer, any first-order optimizer of the library can take the step (and LR
 * schedulers drive its `lr`).
 *
 * Defaults follow evosax/EvoJAX for neural networks: σ 0.1 (EvoJAX's MNIST recipe uses 0.03
 * decayed ×0.999 to 0.01), Adam lr 0.01. Parameters with `requiresGrad = false` keep the center's
 * values in every candidate.
 *
 * @example
 * ```ts ignore
 * const es = new OpenAIES(model.parameters(), { popSize: 128, sigma: 0.05, lr: 0.01, seed: 1 });
 * const loss = es.step(() => crossEntropy(model.forward(x), y, { reduction: "none" }));
 * ```
 */
export class OpenAIES extends EvolutionStrategy {
  /** Noise scale of the first generation. */
  readonly sigma: number;
  /** Per-generation multiplier of σ. */
  readonly sigmaDecay: number;
  /** Lower bound of σ. */
  readonly sigmaLimit: number;
  /** L2 weight decay added to the estimate. */
  readonly weightDecay: number;
  /** How losses become utilities. */
  readonly fitnessShaping: "centered" | "raw";

  /**
   * Creates the strategy; options not given take the defaults above.
   *
   * @param params the model's parameters (the center of the search distribution).
   * @throws {RangeError} for an odd or too small popSize, or σ, decay, limit, weight decay or
   *   lr out of range.
   * @throws {TypeError} if `opt` is over another model or row.
   */
  constructor(params: ParamsInput<Record<string, never>>, options: OpenAIESOptions = {}) {
    const n = numelOf(params);
    const popSize = options.popSize ?? 2 * Math.ceil(defaultPopulation(n) / 2);
    const lr = options.lr ?? 0.01;
    checkPositive("OpenAIES", "lr", lr);
    super("OpenAIES", params, options, {
      popSize,
      even: true,
      fields: {},
      inner: options.opt ?? new Adam(params as ParamsInput<object>, { lr }),
      ownsInner: options.opt === undefined,
    });
    this.sigma = options.sigma ?? 0.1;
    this.sigmaDecay = options.sigmaDecay ?? 1;
    this.sigmaLimit = options.sigmaLimit ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    checkPositive("OpenAIES", "sigma", this.sigma);
    if (!(this.sigmaDecay > 0 && this.sigmaDecay <= 1)) {
      throw new RangeError(`OpenAIES: sigmaDecay must be in (0, 1], received ${this.sigmaDecay}`);
    }
    checkMin("OpenAIES", "sigmaLimit", this.sigmaLimit);
    checkMin("OpenAIES", "weightDecay", this.weightDecay);
    this.fitnessShaping = options.fitnessShaping ?? "centered";
    if (this.fitnessShaping !== "centered" && this.fitnessShaping !== "raw") {
      throw new RangeError(
        `OpenAIES: fitnessShaping must be "centered" or "raw", received ${this.fitnessShaping}`,
      );
    }
  }

  /** With raw fitness shaping, the utilities are the negated losses. */
  protected override get rawUtilities(): boolean {
    return this.fitnessShaping === "raw";
  }

  /** σ of the current generation: `max(σ · sigmaDecay^t, sigmaLimit)`. */
  get currentSigma(): number {
    return Math.max(this.sigma * this.sigmaDecay ** this.stepCount, this.sigmaLimit);
  }

  /** Centered ranks. */
  protected utilityTable(): Float32Array {
    return centeredRanks(this.popSize);
  }

  /** m ± σ_t z_k into the candidate rows. */
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
        mirrored: true,
        sigmaMult: this.currentSigma,
        scaleKind: SCALE.SCALE_NONE,
      });
    }
  }

  /** Writes ĝ into the center row's gradient. */
  protected updateFromUtilities(rows: MemberRows): void {
    const { flat } = this;
    for (const span of this.spans()) {
      update(this.gpu, "openai_grad", span, {
        state: this.state,
        rows: flat.buffer,
        grad: flat.gradBuffer,
        center: rows.home,
        stride: flat.stride,
        terms: this.popSize / 2,
        values: {
          seed: this.seed,
          stream: this.stream,
          counter: this.stepCount,
          utilOff: this.layout.at("utilities"),
          mirrored: 1,
          c0: -1 / (this.popSize * this.currentSigma),
          c1: this.weightDecay,
        },
      });
    }
    this.markGradients(rows.home);
  }
}
