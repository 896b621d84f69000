/**
 * `RandomBestGrad`: several random perturbations evaluated at once; the best one (or the
 * average of the good ones, or the opposite of the worst) becomes the gradient of an inner
 * optimizer.
 *
 * @module
 */

import type { Tensor } from "../../tensor.ts";
import { checkPositive, type ParamGroup, type ParamsInput } from "../optimizer.ts";
import { decide, FLAGS } from "../population/decisions.ts";
import { perturb, type Sampler, samplerKind } from "../population/noise.ts";
import { type Losses, type MemberRows, type RowNeeds, rowsOf } from "../population/protocol.ts";
import { StateLayout } from "../population/state_layout.ts";
import { type EstimatorConfig, GradientEstimator } from "./_estimator.ts";

/** Hyperparameters of {@linkcode RandomBestGrad} (per param group). */
export interface RandomBestGradOptions {
  /** Size of the perturbations: trial k = x + magn · s_k. Must be > 0. Default 1e-5. */
  magn: number;
  /** Average the perturbations of every good trial instead of taking the best one. Default false. */
  avgBest: boolean;
  /** When no trial is good, use the opposite of the worst one. Default true. */
  negateWorst: boolean;
  /** Distribution of s. Default "normal". */
  sampler: Sampler;
}

/** Options of {@linkcode RandomBestGrad} besides its per-group hyperparameters. */
export interface RandomBestGradConfig extends EstimatorConfig {
  /** Trials per step (1 ≤ bestOf ≤ 256); the closure evaluates bestOf + 1 rows. Default 10. */
  bestOf?: number;
}

/** Coefficients the state holds: trials × the (avgBest, negateWorst) combinations in use. */
const MAX_COEFFICIENTS = 256;
/** One coefficient per trial and combination of (avgBest, negateWorst) in use. */
const STATE = new StateLayout({ coefficients: MAX_COEFFICIENTS });

/**
 * RandomBestGrad (torchzero's `RandomBestGrad`): evaluates the parameters `x` and `bestOf`
 * perturbed copies in ONE closure call (`bestOf + 1` rows), then hands a unit-scale direction
 * to an inner optimizer as the gradient:
 *
 * ```text
 * s_k ~ sampler (k < bestOf);  f0 = f(x);  f_k = f(x + magn·s_k)   (one forward pass)
 * good = { k : f_k ≤ f0 }                                         (ties are good)
 * best = the first k with the largest f0 − f_k > 0                (a tie is never best)
 * d = avgBest ? mean_{k ∈ good} s_k : (best exists ? s_best : 0)
 * if good is empty and negateWorst: d = −s_worst                   (worst: largest f_k − f0)
 * grad += −d                                                       (accumulates unless zeroGrad())
 * opt.step()
 * return f_{bestOf−1}                                              (the last trial's loss)
 * ```
 * `magn` only sets how far the trials look; the step size comes from the inner optimizer.
 * Trials all start from `x` (they are not chained), and `x` itself is never modified.
 *
 * Options per param group: `magn` (1e-5), `avgBest` (false), `negateWorst` (true), `sampler`
 * ("normal"). Instance options: `bestOf` (10), `opt` (none), `seed` (0), `row` (0).
 *
 * Differences from the original: all `bestOf + 1` evaluations happen in one closure call;
 * comparisons use per-example losses when the closure returns them (`reduction: "none"`); a
 * NaN or infinite trial is never good (the original counted a NaN trial as good, since
 * `NaN > base` is false) and ranks as the worst, so `negateWorst` steps away from it; with a
 * NaN or infinite baseline every finite trial is good and the first one is the best. The
 * direction is a zero (not absent) gradient when no trial gives one, so the inner optimizer
 * still applies its weight decay and momentum.
 *
 * @example
 * ```ts ignore
 * const params = model.parameters();
 * const opt = new RandomBestGrad(params, {
 *   magn: 1e-3,
 *   bestOf: 8,
 *   opt: new AdamW(params, { lr: 1e-3 }),
 * });
 * opt.zeroGrad();
 * const loss = opt.step(() => crossEntropy(model.forward(x), y, { reduction: "none" }));
 * ```
 */
export class RandomBestGrad extends GradientEstimator<RandomBestGradOptions> {
  /** Trials per step. */
  readonly bestOf: number;

  /**
   * Creates the optimizer; hyperparameters and instance options share one object.
   *
   * @throws {RangeError} for magn <= 0, bestOf outside [1, 256] or an unknown sampler.
   * @throws {TypeError} if `opt` is over another model or row.
   */
  constructor(
    params: ParamsInput<RandomBestGradOptions>,
    options: Partial<RandomBestGradOptions> & RandomBestGradConfig = {},
  ) {
    const { row, seed, opt, bestOf = 10, ...hyper } = options;
    super(
      "RandomBestGrad",
      params,
      { magn: 1e-5, avgBest: false, negateWorst: true, sampler: "normal", ...hyper },
      { row, seed },
      opt ?? null,
    );
    if (!Number.isInteger(bestOf) || bestOf < 1 || bestOf > MAX_COEFFICIENTS) {
      throw new RangeError(
        `RandomBestGrad: bestOf must be an integer in [1, ${MAX_COEFFICIENTS}], received ${bestOf}`,
      );
    }
    this.bestOf = bestOf;
  }

  /**
   * Checks a group's hyperparameters.
   * @throws {RangeError} naming the bad option and value.
   */
  protected validate(g: ParamGroup<RandomBestGradOptions>): void {
    checkPositive("RandomBestGrad", "magn", g.magn);
    samplerKind("RandomBestGrad", g.sampler);
  }

  /** One candidate row per trial. */
  rowNeeds(): RowNeeds {
    return { members: 0, candidates: this.bestOf, work: 0 };
  }

  /** The decision coefficients, one set per flag combination in use. */
  protected override stateLayout(): StateLayout<string> {
    return STATE;
  }

  /** Writes trial k into candidate row k. */
  propose(rows: MemberRows): number[] {
    this.storeNoise(this.bestOf);
    this.#flagSets(); // fail before the closure runs
    for (const seg of this.spans()) {
      perturb(this.gpu, this.flat.buffer, this.flat.stride, seg, {
        ...this.noise(seg.group.sampler),
        base: rows.home,
        dst: rows.candidates.first,
        k: this.bestOf,
        keep: 1,
        scale: seg.group.magn,
      });
    }
    return [rows.home, ...rowsOf(rows.candidates)];
  }

  /** Decides on the GPU from the losses, writes the estimate, steps the inner optimizer. */
  accept(losses: Losses | null, rows: MemberRows, report: Tensor): void {
    const evaluated = this.evaluated(losses);
    const sets = this.#flagSets();
    const coefOff = (flags: number) => STATE.at("coefficients", sets.indexOf(flags) * this.bestOf);
    // One decision per combination of (avgBest, negateWorst) in use; each writes bestOf
    // coefficients c_k so that grad += Σ c_k s_k.
    for (const flags of sets) {
      decide(this.gpu, "grad", evaluated, this.state, report, {
        base: rows.home,
        cand: rows.candidates.first,
        k: this.bestOf,
        flags,
        coefOff: coefOff(flags),
      });
    }
    this.addToGradient(rows.home, (seg) => ({
      k: this.bestOf,
      coefOff: coefOff(flagsOf(seg.group)),
      mult: 1,
    }));
    this.finishStep();
  }

  /**
   * The decide flags in use, one entry per distinct combination.
   * @throws {RangeError} if their coefficients do not fit the state.
   */
  #flagSets(): number[] {
    const sets = [...new Set(this.paramGroups.map(flagsOf))];
    if (sets.length * this.bestOf > MAX_COEFFICIENTS) {
      throw new RangeError(
        `RandomBestGrad: ${sets.length} combinations of avgBest and negateWorst across groups ` +
          `need bestOf <= ${Math.floor(MAX_COEFFICIENTS / sets.length)}, received ${this.bestOf}`,
      );
    }
    return sets;
  }
}

function flagsOf(group: RandomBestGradOptions): number {
  return (group.avgBest ? FLAGS.AVG_BEST : 0) | (group.negateWorst ? FLAGS.NEGATE_WORST : 0);
}
