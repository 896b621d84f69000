/**
 * `RandomBestGrad`: several random perturbations evaluated at once; the best one (or the
 * average of the good ones, or the opposite of the worst) becomes the gradient of an inner
 * optimizer.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import {
  combine,
  decide,
  type Evaluation,
  FLAGS,
  perturb,
  type Sampler,
  samplerKind,
} from "./_zo_kernels.ts";
import { checkMin, type Optimizer, type ParamGroup, type ParamsInput } from "./optimizer.ts";
import {
  type RowPlan,
  STATE_FLOATS,
  type ZerothOrderBind,
  ZerothOrderOptimizer,
} from "./zeroth_order.ts";

/** Floats in the base class's GPU state buffer: room for the coefficients. */

/** Hyperparameters of {@linkcode RandomBestGrad} (per param group). */
export interface RandomBestGradOptions {
  /** Size of the perturbations: trial k = x + magn · s_k. Default 1e-5. */
  magn: number;
  /** Average the perturbations of every good trial instead of taking the best one. Default false. */
  avgBest: boolean;
  /** When no trial is good, use the opposite of the worst one. Default true. */
  negateWorst: boolean;
  /** Distribution of s. Default "normal". */
  sampler: Sampler;
}

/** Options of {@linkcode RandomBestGrad} besides its per-group hyperparameters. */
export interface RandomBestGradConfig extends ZerothOrderBind {
  /** Trials per step (1 ≤ bestOf ≤ 256); the closure evaluates bestOf + 1 rows. Default 10. */
  bestOf?: number;
  /** Inner optimizer over the same parameters and row, stepped after the gradient is set. */
  opt?: Optimizer<object>;
}

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
export class RandomBestGrad extends ZerothOrderOptimizer<RandomBestGradOptions> {
  /** Trials per step. */
  readonly bestOf: number;

  /**
   * Creates the optimizer; hyperparameters and instance options share one object.
   *
   * @throws {RangeError} for magn < 0, bestOf outside [1, 256] or an unknown sampler.
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
    );
    if (!Number.isInteger(bestOf) || bestOf < 1 || bestOf > STATE_FLOATS) {
      throw new RangeError(
        `RandomBestGrad: bestOf must be an integer in [1, ${STATE_FLOATS}], received ${bestOf}`,
      );
    }
    this.bestOf = bestOf;
    this.setInner(opt ?? null);
  }

  /**
   * Checks a group's hyperparameters.
   * @throws {RangeError} naming the bad option and value.
   */
  protected validate(g: ParamGroup<RandomBestGradOptions>): void {
    checkMin("RandomBestGrad", "magn", g.magn);
    samplerKind("RandomBestGrad", g.sampler);
  }

  /** Scratch rows one step uses. */
  scratchRows(): number {
    return this.bestOf;
  }

  /** Writes trial k into row `scratch[0] + k` (the scratch rows are contiguous). */
  propose(plan: RowPlan): number[] {
    this.storeNoise(this.bestOf);
    this.#flagSets(); // fail before the closure runs
    for (const seg of this.spans()) {
      perturb(this.gpu, this.flat.buffer, this.flat.stride, seg, {
        ...this.#noise(seg.group),
        base: plan.home,
        dst: plan.scratch[0],
        k: this.bestOf,
        keep: 1,
        scale: seg.group.magn,
      });
    }
    return [plan.home, ...plan.scratch.slice(0, this.bestOf)];
  }

  /** Decides on the GPU from the losses, writes the estimate, steps the inner optimizer. */
  accept(ev: Evaluation, plan: RowPlan, report: Tensor): void {
    const spans = this.spans();
    const sets = this.#flagSets();
    // One decision per combination of (avgBest, negateWorst) in use; each writes bestOf
    // coefficients c_k so that grad += Σ c_k s_k.
    sets.forEach((flags, i) => {
      decide(this.gpu, "grad", ev, this.state, report, {
        baseRow: plan.home,
        candRow: plan.scratch[0],
        k: this.bestOf,
        flags,
        coefOff: i * this.bestOf,
      });
    });
    const rowOffset = plan.home * this.flat.stride;
    for (const seg of spans) {
      const accumulate = seg.params.every((p) => this.flat.hasGrad(p, plan.home));
      combine(this.gpu, this.state, this.flat.gradBuffer, rowOffset, seg, {
        ...this.#noise(seg.group),
        k: this.bestOf,
        coefOff: sets.indexOf(flagsOf(seg.group)) * this.bestOf,
        accumulate,
        mult: 1,
      });
      for (const p of seg.params) this.flat.setHasGrad(p, plan.home, true);
    }
    this.stepCount++;
    this.opt?.step();
  }

  /** Base state plus the inner optimizer's checkpoint. */

  /**
   * The decide flags in use, one entry per distinct combination.
   * @throws {RangeError} if their coefficients do not fit the state buffer.
   */
  #flagSets(): number[] {
    const sets = [...new Set(this.paramGroups.map(flagsOf))];
    if (sets.length * this.bestOf > STATE_FLOATS) {
      throw new RangeError(
        `RandomBestGrad: ${sets.length} combinations of avgBest and negateWorst across groups ` +
          `need bestOf <= ${Math.floor(STATE_FLOATS / sets.length)}, received ${this.bestOf}`,
      );
    }
    return sets;
  }

  #noise(group: RandomBestGradOptions) {
    return {
      seed: this.seed,
      stream: this.stream,
      counter: this.stepCount,
      idBase: 0,
      kind: samplerKind("RandomBestGrad", group.sampler),
      stored: this.stored,
    };
  }
}

function flagsOf(group: RandomBestGradOptions): number {
  return (group.avgBest ? FLAGS.AVG_BEST : 0) | (group.negateWorst ? FLAGS.NEGATE_WORST : 0);
}
