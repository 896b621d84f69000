/**
 * `PGPE`: policy gradients with parameter-based exploration, with a per-parameter stdev and
 * ClipUp on the center, as EvoTorch and EvoJAX run it.
 *
 * @module
 */

import { ClipUp } from "../first_order/clipup.ts";
import { checkMin, checkPositive, type Optimizer, type ParamsInput } from "../optimizer.ts";
import type { MemberRows } from "../population/protocol.ts";
import { defaultPopulation, EvolutionStrategy, numelOf, type StrategyConfig } from "./_es.ts";
import { sample, SCALE, update } from "./_kernels.ts";
import { centeredRanks } from "./utilities.ts";

/** Options of {@linkcode PGPE}. */
export interface PGPEOptions extends StrategyConfig {
  /** Candidates per generation (even: symmetric pairs). Default: 4 + ⌊3 ln N⌋ rounded up to even. */
  popSize?: number;
  /** Initial stdev of every parameter, s₀. Default 0.1. */
  sigma?: number;
  /** Learning rate of the stdevs, η_s. Default 0.1. */
  stdLr?: number;
  /** Largest relative change of a stdev per generation, δ. Default 0.2. */
  stdMaxChange?: number;
  /** The optimizer that moves the center, over the same parameters. Default `ClipUp(lr, 2·lr)`. */
  opt?: Optimizer<object>;
  /** Step length of the default ClipUp (its max speed is twice it). Default 0.15. */
  lr?: number;
}

/**
 * PGPE (Sehnke et al. 2010) with the symmetric sampling, centered-rank utilities and ClipUp
 * center optimizer of EvoTorch (`PGPE`) and EvoJAX (`PGPE`):
 *
 * ```text
 * z_k ~ N(0, I), k < P/2;  x_k± = m ± s ⊙ z_k                    (symmetric pairs)
 * u = centered ranks of the losses;  a_k = (u_k⁺ − u_k⁻)/2,  b_k = (u_k⁺ + u_k⁻)/2
 * ∇m = s ⊙ (2/P) Σ a_k z_k;   ∇s = s ⊙ (2/P) Σ b_k (z_k² − 1)    (utility ascent)
 * grad(m) = −∇m;  opt.step()                  (ClipUp by default; Adam or any optimizer works)
 * s ← clamp(s + η_s ∇s, s(1 − δ), s(1 + δ))
 * report: the mean loss of the P candidates
 * ```
 * Centered ranks have mean zero, so b_k needs no baseline. The noise is regenerated on the GPU
 * when the gradients are formed; ranking happens on the GPU; nothing is read back.
 *
 * Defaults: s₀ 0.1, η_s 0.1, δ 0.2, ClipUp with step 0.15 and max speed 0.3 (EvoJAX's MNIST
 * recipe: P 64, center lr 0.006 with Adam, η_s 0.089, s₀ 0.039).
 *
 * @example
 * ```ts ignore
 * const es = new PGPE(model.parameters(), { popSize: 64, sigma: 0.04, seed: 1 });
 * const loss = es.step(() => crossEntropy(model.forward(x), y, { reduction: "none" }));
 * ```
 */
export class PGPE extends EvolutionStrategy {
  /** Initial stdev. */
  readonly sigma: number;
  /** Learning rate of the stdevs. */
  readonly stdLr: number;
  /** Largest relative change of a stdev per generation. */
  readonly stdMaxChange: number;

  /**
   * Creates the strategy; options not given take the defaults above.
   *
   * @param params the model's parameters (the center of the search distribution).
   * @throws {RangeError} for an odd or too small popSize, or an option out of range.
   * @throws {TypeError} if `opt` is over another model or row.
   */
  constructor(params: ParamsInput<Record<string, never>>, options: PGPEOptions = {}) {
    const n = numelOf(params);
    const lr = options.lr ?? 0.15;
    checkPositive("PGPE", "lr", lr);
    super("PGPE", params, options, {
      popSize: options.popSize ?? 2 * Math.ceil(defaultPopulation(n) / 2),
      even: true,
      fields: {},
      inner: options.opt ?? new ClipUp(params as ParamsInput<object>, { lr, maxSpeed: 2 * lr }),
      ownsInner: options.opt === undefined,
    });
    this.sigma = options.sigma ?? 0.1;
    this.stdLr = options.stdLr ?? 0.1;
    this.stdMaxChange = options.stdMaxChange ?? 0.2;
    checkPositive("PGPE", "sigma", this.sigma);
    checkMin("PGPE", "stdLr", this.stdLr);
    if (!(this.stdMaxChange >= 0 && this.stdMaxChange < 1)) {
      throw new RangeError(`PGPE: stdMaxChange must be in [0, 1), received ${this.stdMaxChange}`);
    }
  }

  /** Centered ranks. */
  protected utilityTable(): Float32Array {
    return centeredRanks(this.popSize);
  }

  /** m ± s ⊙ z_k into the candidate rows. */
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
        sigmaMult: 1,
        scaleKind: SCALE.SCALE_VECTOR,
        vec: this.vector("stdev", this.sigma),
      });
    }
  }

  /** −∇m into the center row's gradient and the stdevs' step, one pass. */
  protected updateFromUtilities(rows: MemberRows): void {
    const { flat } = this;
    for (const span of this.spans()) {
      update(this.gpu, "pgpe", span, {
        state: this.state,
        rows: flat.buffer,
        grad: flat.gradBuffer,
        vec: this.vector("stdev", this.sigma),
        center: rows.home,
        stride: flat.stride,
        terms: this.popSize / 2,
        values: {
          seed: this.seed,
          stream: this.stream,
          counter: this.stepCount,
          utilOff: this.layout.at("utilities"),
          mirrored: 1,
          c0: 1 / this.popSize,
          c1: this.stdLr,
          c2: this.stdMaxChange,
        },
      });
    }
    this.markGradients(rows.home);
  }

  /** The current stdevs, one per parameter in model order (one readback). */
  async stdevs(): Promise<Float32Array> {
    return await this.readVector("stdev", this.sigma);
  }
}
