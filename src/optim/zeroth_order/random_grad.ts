/**
 * `RandomGrad`: a random perturbation, one comparison, and ±the perturbation as the gradient
 * of an inner optimizer.
 *
 * @module
 */

import type { Tensor } from "../../tensor.ts";
import { checkPositive, type ParamGroup, type ParamsInput } from "../optimizer.ts";
import { decide, FLAGS } from "../population/decisions.ts";
import { perturb, type Sampler, samplerKind } from "../population/noise.ts";
import type { Losses, MemberRows, RowNeeds } from "../population/protocol.ts";
import { StateLayout } from "../population/state_layout.ts";
import { type EstimatorConfig, GradientEstimator } from "./_estimator.ts";

/** Hyperparameters of {@linkcode RandomGrad} (per param group). */
export interface RandomGradOptions {
  /** Size of the perturbation: candidate = x + magn · s. Must be > 0. Default 1e-5. */
  magn: number;
  /** When the perturbation made the loss worse, use +s (step against it); else no gradient. Default true. */
  stepOpposite: boolean;
  /** Distribution of s. Default "normal". */
  sampler: Sampler;
}

/** Options of {@linkcode RandomGrad} besides its per-group hyperparameters. */
export type RandomGradConfig = EstimatorConfig;

/**
 * The decision coefficient, one per value of `stepOpposite` (groups may differ): the noise's
 * weight in the gradient.
 */
const STATE = new StateLayout({ stepOpposite: 1, plain: 1 });

/**
 * RandomGrad (torchzero's `RandomGrad`): evaluates the parameters `x` and a perturbed copy
 * `x + magn·s` in ONE closure call (two rows), then hands ±s to an inner optimizer as the
 * gradient:
 *
 * ```text
 * s ~ sampler;  f0 = f(x);  f1 = f(x + magn·s)        (both rows in one forward pass)
 * grad += f1 > f0 ? (stepOpposite ? +s : 0) : −s      (accumulates unless zeroGrad())
 * opt.step()
 * return f1
 * ```
 * The gradient has unit scale: `magn` only sets how far the probe looks; the step size comes
 * from the inner optimizer (AdamW is nearly sign-like).
 *
 * Differences from the original: the decision compares per-example losses when the closure
 * returns them (`reduction: "none"`), which resolves differences of a few float32 ulps; a NaN
 * or infinite f1 always counts as worse; the parameters are never modified and restored (the
 * perturbed copy lives in another row). With `stepOpposite: false` a worse probe leaves a zero
 * (not absent) gradient, so the inner optimizer still applies its weight decay and momentum.
 *
 * @example
 * ```ts ignore
 * const params = model.parameters();
 * const opt = new RandomGrad(params, { magn: 1e-5, opt: new AdamW(params, { lr: 1e-3 }) });
 * const loss = opt.step(() => crossEntropy(model.forward(x), y, { reduction: "none" }));
 * ```
 */
export class RandomGrad extends GradientEstimator<RandomGradOptions> {
  /**
   * Creates the optimizer; options a group does not set take the defaults above.
   *
   * @param params parameters of one model, or param groups with per-group overrides.
   * @param options hyperparameters, the inner optimizer `opt`, the home row and the seed.
   * @throws {RangeError} for magn <= 0 or an unknown sampler.
   * @throws {TypeError} if `opt` is over another model or row.
   */
  constructor(
    params: ParamsInput<RandomGradOptions>,
    options: Partial<RandomGradOptions> & RandomGradConfig = {},
  ) {
    const { row, seed, opt, ...hyper } = options;
    super(
      "RandomGrad",
      params,
      { magn: 1e-5, stepOpposite: true, sampler: "normal", ...hyper },
      { row, seed },
      opt ?? null,
    );
  }

  /**
   * Checks a group's hyperparameters.
   *
   * @throws {RangeError} for magn <= 0 or an unknown sampler.
   */
  protected validate(g: ParamGroup<RandomGradOptions>): void {
    checkPositive("RandomGrad", "magn", g.magn);
    samplerKind("RandomGrad", g.sampler);
  }

  /** One candidate row: the perturbed copy. */
  rowNeeds(): RowNeeds {
    return { members: 0, candidates: 1, work: 0 };
  }

  /** The decision coefficients. */
  protected override stateLayout(): StateLayout<string> {
    return STATE;
  }

  /**
   * Writes `x + magn·s` into the candidate row.
   *
   * @returns the home row and the candidate row.
   */
  propose(rows: MemberRows): number[] {
    this.storeNoise(1);
    const cand = rows.candidates.first;
    for (const seg of this.spans()) {
      perturb(this.gpu, this.flat.buffer, this.flat.stride, seg, {
        ...this.noise(seg.group.sampler),
        base: rows.home,
        dst: cand,
        k: 1,
        keep: 1,
        scale: seg.group.magn,
      });
    }
    return [rows.home, cand];
  }

  /**
   * Compares the two losses on the GPU, adds ±s (or zero) to the home row's gradient, steps
   * the inner optimizer, and reports f1.
   *
   * @throws {Error} if nothing was evaluated.
   */
  accept(losses: Losses | null, rows: MemberRows, report: Tensor): void {
    const evaluated = this.evaluated(losses);
    const coefAt = (stepOpposite: boolean) => STATE.at(stepOpposite ? "stepOpposite" : "plain");
    const opposite = new Set(this.spans().map((s) => s.group.stepOpposite));
    for (const value of opposite) {
      decide(this.gpu, "grad", evaluated, this.state, report, {
        base: rows.home,
        cand: rows.candidates.first,
        k: 1,
        flags: FLAGS.TIE_BEST | (value ? FLAGS.STEP_OPPOSITE : 0),
        coefOff: coefAt(value),
      });
    }
    this.addToGradient(rows.home, (seg) => ({
      k: 1,
      coefOff: coefAt(seg.group.stepOpposite),
      mult: 1,
    }));
    this.finishStep();
  }
}
