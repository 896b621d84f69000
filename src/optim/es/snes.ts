/**
 * `SNES`: separable natural evolution strategies, a stdev per parameter adapted by an
 * exponential natural-gradient step.
 *
 * @module
 */

import { checkPositive, type ParamsInput } from "../optimizer.ts";
import type { MemberRows } from "../population/protocol.ts";
import { defaultPopulation, EvolutionStrategy, numelOf, type StrategyConfig } from "./_es.ts";
import { sample, SCALE, update } from "./_kernels.ts";
import { nesUtilities } from "./utilities.ts";

/** Options of {@linkcode SNES}. */
export interface SNESOptions extends StrategyConfig {
  /** Candidates per generation. Default 4 + ⌊3 ln N⌋. */
  popSize?: number;
  /** Initial stdev of every parameter. Default 0.1. */
  sigma?: number;
  /** Learning rate of the center, η_m. Default 1. */
  lrMean?: number;
  /** Learning rate of the stdevs, η_s. Default (3 + ln N) / (5 √N). */
  lrStd?: number;
}

/**
 * SNES (Schaul, Glasmachers, Schmidhuber 2011; evosax `SNES`, EvoTorch `SNES`):
 *
 * ```text
 * z_k ~ N(0, I), k < P;  x_k = m + s ⊙ z_k
 * u = NES utilities of the ranks   (max(0, ln(P/2 + 1) − ln i)/Σ − 1/P for rank i = 1..P)
 * m ← m + η_m · s ⊙ Σ u_k z_k
 * s ← s ⊙ exp(η_s/2 · Σ u_k (z_k² − 1))
 * report: the mean loss of the P candidates
 * ```
 * Defaults P = 4 + ⌊3 ln N⌋ (32 for the 15,738-parameter CNN), η_m 1, η_s = (3 + ln N)/(5√N)
 * (0.0202 for that CNN). Ranking and both updates run on the GPU from regenerated noise, so a
 * generation reads nothing back.
 *
 * @example
 * ```ts ignore
 * const es = new SNES(model.parameters(), { sigma: 0.05, seed: 1 });
 * const loss = es.step(() => crossEntropy(model.forward(x), y, { reduction: "none" }));
 * ```
 */
export class SNES extends EvolutionStrategy {
  /** Initial stdev. */
  readonly sigma: number;
  /** Learning rate of the center. */
  readonly lrMean: number;
  /** Learning rate of the stdevs. */
  readonly lrStd: number;

  /**
   * Creates the strategy; options not given take the defaults above.
   *
   * @param params the model's parameters (the center of the search distribution).
   * @throws {RangeError} for a popSize below 2 or an option out of range.
   */
  constructor(params: ParamsInput<Record<string, never>>, options: SNESOptions = {}) {
    const n = numelOf(params);
    super("SNES", params, options, {
      popSize: options.popSize ?? defaultPopulation(n),
      even: false,
      fields: {},
    });
    this.sigma = options.sigma ?? 0.1;
    this.lrMean = options.lrMean ?? 1;
    this.lrStd = options.lrStd ?? (3 + Math.log(n)) / (5 * Math.sqrt(n));
    checkPositive("SNES", "sigma", this.sigma);
    checkPositive("SNES", "lrMean", this.lrMean);
    checkPositive("SNES", "lrStd", this.lrStd);
  }

  /** NES utilities. */
  protected utilityTable(): Float32Array {
    return nesUtilities(this.popSize);
  }

  /** m + s ⊙ z_k into the candidate rows. */
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
        scaleKind: SCALE.SCALE_VECTOR,
        vec: this.vector("stdev", this.sigma),
      });
    }
  }

  /** The center and stdev steps, one pass. */
  protected updateFromUtilities(rows: MemberRows): void {
    for (const span of this.spans()) {
      update(this.gpu, "snes", span, {
        state: this.state,
        rows: this.flat.buffer,
        vec: this.vector("stdev", this.sigma),
        center: rows.home,
        stride: this.flat.stride,
        terms: this.popSize,
        values: {
          seed: this.seed,
          stream: this.stream,
          counter: this.stepCount,
          utilOff: this.layout.at("utilities"),
          c0: this.lrMean,
          c1: this.lrStd / 2,
        },
      });
    }
  }

  /** The current stdevs, one per parameter in model order (one readback). */
  async stdevs(): Promise<Float32Array> {
    return await this.readVector("stdev", this.sigma);
  }
}
