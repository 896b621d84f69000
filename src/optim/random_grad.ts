/**
 * `RandomGrad`: a random perturbation, one comparison, and ±the perturbation as the gradient
 * of an inner optimizer.
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
import { type RowPlan, type ZerothOrderBind, ZerothOrderOptimizer } from "./zeroth_order.ts";

/** Hyperparameters of {@linkcode RandomGrad} (per param group). */
export interface RandomGradOptions {
  /** Size of the perturbation: candidate = x + magn · s. Default 1e-5. */
  magn: number;
  /** When the perturbation made the loss worse, use +s (step against it); else no gradient. Default true. */
  stepOpposite: boolean;
  /** Distribution of s. Default "normal". */
  sampler: Sampler;
}

/** Options of {@linkcode RandomGrad} besides its per-group hyperparameters. */
export interface RandomGradConfig extends ZerothOrderBind {
  /** Inner optimizer over the same parameters and row, stepped after the gradient is set. */
  opt?: Optimizer<object>;
}

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
export class RandomGrad extends ZerothOrderOptimizer<RandomGradOptions> {
  /**
   * Creates the optimizer; options a group does not set take the defaults above.
   *
   * @param params parameters of one model, or param groups with per-group overrides.
   * @param options hyperparameters, the inner optimizer `opt`, the home row and the seed.
   * @throws {RangeError} for magn < 0 or an unknown sampler.
   * @throws {TypeError} if `opt` is over another model or row.
   */
  constructor(
    params: ParamsInput<RandomGradOptions>,
    options: Partial<RandomGradOptions> & RandomGradConfig = {},
  ) {
    const { row, seed, opt, ...hyper } = options;
    super("RandomGrad", params, { magn: 1e-5, stepOpposite: true, sampler: "normal", ...hyper }, {
      row,
      seed,
    });
    this.setInner(opt ?? null);
  }

  /**
   * Checks a group's hyperparameters.
   *
   * @throws {RangeError} for magn < 0 or an unknown sampler.
   */
  protected validate(g: ParamGroup<RandomGradOptions>): void {
    checkMin("RandomGrad", "magn", g.magn);
    samplerKind("RandomGrad", g.sampler);
  }

  /** One scratch row: the perturbed copy. */
  scratchRows(): number {
    return 1;
  }

  /**
   * Writes `x + magn·s` into the scratch row.
   *
   * @returns the home row and the scratch row.
   */
  propose(plan: RowPlan): number[] {
    this.storeNoise(1);
    const cand = plan.scratch[0];
    for (const seg of this.spans()) {
      perturb(this.gpu, this.flat.buffer, this.flat.stride, seg, {
        ...this.#noise(seg.group),
        base: plan.home,
        dst: cand,
        k: 1,
        keep: 1,
        scale: seg.group.magn,
      });
    }
    return [plan.home, cand];
  }

  /**
   * Compares the two losses on the GPU, adds ±s (or zero) to the home row's gradient, steps
   * the inner optimizer, and reports f1.
   *
   * @throws {Error} if `ev` is null.
   */
  accept(ev: Evaluation | null, plan: RowPlan, report: Tensor): void {
    if (ev === null) throw new Error("RandomGrad: nothing was evaluated");
    const spans = this.spans();
    const opposite = new Set(spans.map((s) => s.group.stepOpposite));
    for (const value of opposite) {
      decide(this.gpu, "grad", ev, this.state, report, {
        baseRow: plan.home,
        candRow: plan.scratch[0],
        k: 1,
        flags: FLAGS.TIE_BEST | (value ? FLAGS.STEP_OPPOSITE : 0),
        coefOff: value ? 0 : 1,
      });
    }
    const rowOffset = plan.home * this.flat.stride;
    for (const seg of spans) {
      const accumulate = seg.params.every((p) => this.flat.hasGrad(p, plan.home));
      combine(this.gpu, this.state, this.flat.gradBuffer, rowOffset, seg, {
        ...this.#noise(seg.group),
        k: 1,
        coefOff: seg.group.stepOpposite ? 0 : 1,
        accumulate,
        mult: 1,
      });
      for (const p of seg.params) this.flat.setHasGrad(p, plan.home, true);
    }
    this.stepCount++;
    this.opt?.step();
  }

  #noise(group: RandomGradOptions) {
    return {
      seed: this.seed,
      stream: this.stream,
      counter: this.stepCount,
      idBase: 0,
      kind: samplerKind("RandomGrad", group.sampler),
      stored: this.stored,
    };
  }
}
