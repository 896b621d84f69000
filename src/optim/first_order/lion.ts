/**
 * `Lion`: evolved sign momentum, as one fused kernel (`shaders/optim_lion.wgsl`).
 *
 * @module
 */

import {
  type BindOptions,
  checkMin,
  checkUnit,
  type ParamGroup,
  type ParamsInput,
} from "../optimizer.ts";
import { FirstOrderOptimizer } from "./first_order.ts";
import code from "../../../shaders/optim_lion.wgsl" with { type: "text" };

/** Hyperparameters of {@linkcode Lion} (per param group). */
export interface LionOptions {
  /** Learning rate (the size of every coordinate's step). Default 1e-4. */
  lr: number;
  /** Interpolation factor of the update (β1) and momentum decay (β2). Default [0.9, 0.99]. */
  betas: [number, number];
  /** Decoupled weight decay. Default 0. */
  weightDecay: number;
}

const SPEC = {
  file: "shaders/optim_lion.wgsl",
  code,
  entryPoint: "lion",
  storage: ["read", "write", "write"],
} as const;

/**
 * Lion, the published update (Chen et al. 2023, "Symbolic Discovery of Optimization
 * Algorithms", Algorithm 2):
 *
 * ```text
 * c = β1·m + (1 − β1)·g
 * x = x·(1 − lr·weightDecay) − lr·sign(c)
 * m = β2·m + (1 − β2)·g
 * ```
 *
 * @example
 * ```ts ignore
 * const opt = new Lion(model.parameters(), { lr: 1e-4, weightDecay: 1.0 });
 * ```
 */
export class Lion extends FirstOrderOptimizer<LionOptions> {
  /**
   * Creates the optimizer; options a group does not set take the defaults above.
   *
   * @param params parameters of one model, or param groups with per-group overrides.
   * @param options hyperparameters and the parameter row to update (default 0).
   * @throws {RangeError} for lr or weightDecay < 0, or a beta outside [0, 1).
   */
  constructor(params: ParamsInput<LionOptions>, options: Partial<LionOptions> & BindOptions = {}) {
    const { row, ...hyper } = options;
    super("Lion", params, { lr: 1e-4, betas: [0.9, 0.99], weightDecay: 0, ...hyper }, { row });
  }

  /**
   * Checks a group's hyperparameters.
   *
   * @throws {RangeError} for lr or weightDecay < 0, betas that are not a pair, or a beta
   *   outside [0, 1).
   */
  protected validate(g: ParamGroup<LionOptions>): void {
    checkMin("Lion", "lr", g.lr);
    checkMin("Lion", "weightDecay", g.weightDecay);
    if (!Array.isArray(g.betas) || g.betas.length !== 2) {
      throw new RangeError(`Lion: betas must be a pair, received ${g.betas}`);
    }
    checkUnit("Lion", "betas[0]", g.betas[0]);
    checkUnit("Lion", "betas[1]", g.betas[1]);
  }

  /** The momentum `m` (torch-style name `expAvg`). */
  protected stateBuffers(): string[] {
    return ["expAvg"];
  }

  /** One fused dispatch per segment of parameters with a gradient. */
  protected update(): void {
    for (const seg of this.segments(undefined, (p) => this.paramState.set(p, {}))) {
      const g = seg.group;
      const [beta1, beta2] = g.betas;
      this.dispatchSegment(SPEC, seg, [this.buffer("expAvg")], {
        lr: g.lr,
        beta1,
        beta2,
        oneMinusBeta1: 1 - beta1,
        oneMinusBeta2: 1 - beta2,
        decay: 1 - g.lr * g.weightDecay,
      });
    }
  }
}
