/**
 * `GradientEstimator`: what RandomGrad, RandomBestGrad and SPSA share — a gradient estimated
 * from the losses of perturbed rows, written into the home row's gradient as a weighted sum of
 * the regenerated noise, then an inner optimizer that takes the step.
 *
 * @module
 */

import type { Optimizer, OptimizerStateDict, ParamsInput, Segment } from "../optimizer.ts";
import { combine } from "../population/noise.ts";
import { type PopulationBind, PopulationOptimizer } from "../population/population_optimizer.ts";

/** Options of the gradient estimators besides their per-group hyperparameters. */
export interface EstimatorConfig extends PopulationBind {
  /** Inner optimizer over the same parameters and row, stepped after the gradient is set. */
  opt?: Optimizer<object>;
}

/** How one span's estimate is formed from the coefficients in the state. */
export interface EstimateTerms {
  /** Candidates (noise ids 0 .. k − 1) in the sum. */
  k: number;
  /** Where the k coefficients start in the state buffer. */
  coefOff: number;
  /** Multiplier of the whole sum. */
  mult: number;
  /** Divide by the noise instead of multiplying (SPSA). Default false. */
  reciprocal?: boolean;
}

/**
 * Base of the gradient estimators: owns the inner optimizer (moved to another row and
 * checkpointed with this one) and writes the estimate into the gradient.
 */
export abstract class GradientEstimator<O extends { sampler: unknown }>
  extends PopulationOptimizer<O> {
  readonly #inner: Optimizer<object> | null;

  /**
   * Builds the param groups and the random key, and keeps the inner optimizer.
   *
   * @param name the estimator's name (errors, and its random stream).
   * @param params parameters of one model, or param groups with per-group overrides.
   * @param defaults option values for what a group does not override.
   * @param options the home row and the seed.
   * @param opt the inner optimizer, or null.
   * @throws {TypeError} unless `opt` is over the same model and row.
   */
  constructor(
    name: string,
    params: ParamsInput<O>,
    defaults: O,
    options: PopulationBind,
    opt: Optimizer<object> | null,
  ) {
    super(name, params, defaults, options);
    if (opt !== null && (opt.flat !== this.flat || opt.row !== this.row)) {
      throw new TypeError(
        `${name}: the inner optimizer must be over the same model and row ` +
          `(it is bound to row ${opt.row}, expected ${this.row})`,
      );
    }
    this.#inner = opt;
  }

  /**
   * The optimizer stepped after the gradient is set (e.g. RandomGrad's AdamW), or null. It
   * moves rows and is checkpointed with this one.
   */
  get opt(): Optimizer<object> | null {
    return this.#inner;
  }

  /**
   * Moves this optimizer and its inner optimizer to another home row.
   *
   * @throws {Error} once either has state: state belongs to a row.
   */
  override bindRow(row: number): void {
    super.bindRow(row);
    this.#inner?.bindRow(row);
  }

  /**
   * Adds `mult · Σ_k coef_k · f(noise_k)` over every trained span to the gradient of `home`
   * (replacing it where zeroGrad cleared it), and marks the gradient present.
   */
  protected addToGradient(home: number, terms: (span: Segment<O>) => EstimateTerms): void {
    const { flat } = this;
    const rowOffset = home * flat.stride;
    for (const seg of this.spans()) {
      const accumulate = seg.params.every((p) => flat.hasGrad(p, home));
      combine(this.gpu, this.state, flat.gradBuffer, rowOffset, seg, {
        ...this.noise(seg.group.sampler),
        ...terms(seg),
        accumulate,
      });
      for (const p of seg.params) flat.setHasGrad(p, home, true);
    }
  }

  /** Ends a step: advances the step counter and steps the inner optimizer. */
  protected finishStep(): void {
    this.stepCount++;
    this.#inner?.step();
  }

  /** Throws unless something was evaluated. */
  protected evaluated<T>(losses: T | null): T {
    if (losses === null) throw new Error(`${this.name}: nothing was evaluated`);
    return losses;
  }

  /** The base state plus the inner optimizer's checkpoint. */
  protected override async extraState(): Promise<Record<string, unknown>> {
    const own = await super.extraState();
    return this.#inner === null ? own : { ...own, opt: await this.#inner.stateDict() };
  }

  /** Restores what {@linkcode extraState} saved. */
  protected override loadExtraState(extra: Record<string, unknown> | undefined): void {
    super.loadExtraState(extra);
    if (extra?.opt !== undefined && this.#inner !== null) {
      this.#inner.loadStateDict(extra.opt as OptimizerStateDict);
    }
  }
}
