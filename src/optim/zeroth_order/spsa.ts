/**
 * `SPSA`: simultaneous-perturbation gradient estimates from ± pairs of random perturbations,
 * applied directly or handed to an inner optimizer.
 *
 * @module
 */

import type { Tensor } from "../../tensor.ts";
import { checkMin, type ParamGroup, type ParamsInput } from "../optimizer.ts";
import { decide } from "../population/decisions.ts";
import { combine, perturb, type Sampler, samplerKind } from "../population/noise.ts";
import { type Losses, type MemberRows, type RowNeeds, rowsOf } from "../population/protocol.ts";
import { StateLayout } from "../population/state_layout.ts";
import { type EstimatorConfig, GradientEstimator } from "./_estimator.ts";

/** Gradient estimate of {@linkcode SPSA}. */
export type SpsaFormula = "spsa" | "rdsa";

/** Hyperparameters of {@linkcode SPSA} (per param group). */
export interface SPSAOptions {
  /** Step size of the direct update `x −= lr · ĝ` (unused with an inner optimizer). Default 1e-2. */
  lr: number;
  /** Size of the perturbations: x ± magn · r. Must be > 0. Default 1e-3. */
  magn: number;
  /** "spsa" (divide by the perturbation) or "rdsa" (multiply by it); case-insensitive. Default "spsa". */
  formula: SpsaFormula;
  /** Distribution of r. Default "rademacher". */
  sampler: Sampler;
}

/** Options of {@linkcode SPSA} besides its per-group hyperparameters. */
export interface SPSAConfig extends EstimatorConfig {
  /** ± pairs per step (1 ≤ n ≤ 256); the closure evaluates 2n rows. Default 1. */
  n?: number;
  /**
   * Add the estimate to the gradient (then step `opt` if given) instead of updating the
   * parameters. Default: true when `opt` is given, else false.
   */
  grad?: boolean;
}

/** Most ± pairs per step. */
const MAX_N = 256;

/**
 * SPSA (torchzero's `SPSA`, simultaneous perturbation stochastic approximation): evaluates
 * `n` pairs `x ± magn·r_i` in ONE closure call (2n rows) and estimates the gradient from the
 * loss differences:
 *
 * ```text
 * r_i ~ sampler (i < n);  L±_i = f(x ± magn·r_i)              (2n rows, one forward pass)
 * "spsa": ĝ = (1/n) Σ_i (L+_i − L−_i) / (2·magn·r_i)          (element-wise division)
 * "rdsa": ĝ = (1/n) Σ_i (L+_i − L−_i) · magn·r_i / 2
 * grad ? (grad += ĝ; opt?.step()) : x −= lr·ĝ
 * return min(L+_{n−1}, L−_{n−1})
 * ```
 * With the default Rademacher r (±1) the "spsa" estimate of a quadratic is unbiased: its
 * expectation is the true gradient. With "normal" or "uniform" r the division by r_i makes
 * the estimate heavy-tailed; prefer "rdsa" with those. The "rdsa" estimate keeps the
 * original's scale: since L+ − L− ≈ 2·magn·(r·∇f), it is ≈ magn²·(r·∇f)·r, whose expectation
 * with Rademacher r is magn²·∇f, so it needs an `lr` about 1/magn² larger (or a scale-free
 * inner optimizer such as Adam).
 *
 * Options per param group: `lr` (1e-2), `magn` (1e-3), `formula` ("spsa"), `sampler`
 * ("rademacher"). Instance options: `n` (1), `grad` (false; true when `opt` is given), `opt`
 * (none), `seed` (0), `row` (0).
 *
 * Differences from the original: all 2n evaluations happen in one closure call and the
 * parameters are never modified and restored; the loss differences come from per-example
 * losses when the closure returns them (`reduction: "none"`); a pair with a NaN or infinite
 * loss contributes zero (the average still divides by n), and in the last pair the finite
 * loss is the one reported. `formula` is case-insensitive and an unknown name throws a
 * RangeError (the original matched lowercase names only, so "RDSA" silently gave a zero
 * estimate). `n` and `grad` are instance options, since they set the rows evaluated and where
 * the estimate goes; an inner optimizer implies `grad: true`.
 *
 * @example
 * ```ts ignore
 * const opt = new SPSA(model.parameters(), { lr: 1e-2, magn: 1e-3, n: 4 });
 * const loss = opt.step(() => mseLoss(model.forward(x), y, { reduction: "none" }));
 * ```
 */
export class SPSA extends GradientEstimator<SPSAOptions> {
  /** ± pairs per step. */
  readonly n: number;
  /** One coefficient per pair: the loss difference L+ − L−. */
  readonly #layout: StateLayout<"differences">;
  /** Whether the estimate goes into the gradient (else into the parameters). */
  readonly grad: boolean;

  /**
   * Creates the optimizer; hyperparameters and instance options share one object.
   *
   * @throws {RangeError} for lr < 0, magn ≤ 0, n outside [1, 256], an unknown formula or
   *   sampler.
   * @throws {TypeError} if `opt` is over another model or row, or given with `grad: false`.
   */
  constructor(
    params: ParamsInput<SPSAOptions>,
    options: Partial<SPSAOptions> & SPSAConfig = {},
  ) {
    const { row, seed, opt, n = 1, grad, ...hyper } = options;
    super(
      "SPSA",
      params,
      { lr: 1e-2, magn: 1e-3, formula: "spsa", sampler: "rademacher", ...hyper },
      { row, seed },
      opt ?? null,
    );
    if (!Number.isInteger(n) || n < 1 || n > MAX_N) {
      throw new RangeError(`SPSA: n must be an integer in [1, ${MAX_N}], received ${n}`);
    }
    if (opt !== undefined && grad === false) {
      throw new TypeError("SPSA: an inner optimizer needs grad: true");
    }
    this.n = n;
    this.grad = grad ?? opt !== undefined;
    this.#layout = new StateLayout({ differences: n });
  }

  /**
   * Checks a group's hyperparameters.
   * @throws {RangeError} naming the bad option and value.
   */
  protected validate(g: ParamGroup<SPSAOptions>): void {
    checkMin("SPSA", "lr", g.lr);
    if (typeof g.magn !== "number" || !Number.isFinite(g.magn) || !(g.magn > 0)) {
      throw new RangeError(`SPSA: magn must be > 0, received ${g.magn}`);
    }
    formulaOf(g.formula);
    samplerKind("SPSA", g.sampler);
  }

  /** Two candidate rows per pair. */
  rowNeeds(): RowNeeds {
    return { members: 0, candidates: 2 * this.n, work: 0 };
  }

  /** The loss differences. */
  protected override stateLayout(): StateLayout<string> {
    return this.#layout;
  }

  /** Writes x + magn·r_i into candidate row 2i and x − magn·r_i into row 2i + 1. */
  propose(rows: MemberRows): number[] {
    this.storeNoise(this.n);
    for (const seg of this.spans()) {
      perturb(this.gpu, this.flat.buffer, this.flat.stride, seg, {
        ...this.noise(seg.group.sampler),
        base: rows.home,
        dst: rows.candidates.first,
        k: 2 * this.n,
        keep: 1,
        scale: seg.group.magn,
        pairs: true,
      });
    }
    return rowsOf(rows.candidates);
  }

  /** Decides on the GPU from the losses, writes the estimate, steps the inner optimizer. */
  accept(losses: Losses | null, rows: MemberRows, report: Tensor): void {
    // c_i = L+_i − L−_i; the per-group factors go into each combine's multiplier.
    const coefOff = this.#layout.at("differences");
    decide(this.gpu, "spsa", this.evaluated(losses), this.state, report, {
      cand: rows.candidates.first,
      k: this.n,
      coefOff,
      scale: 1,
    });
    const factor = (g: SPSAOptions) =>
      formulaOf(g.formula) === "spsa" ? 1 / (2 * g.magn * this.n) : g.magn / (2 * this.n);
    const terms = (g: SPSAOptions) => ({
      k: this.n,
      coefOff,
      reciprocal: formulaOf(g.formula) === "spsa",
    });
    if (this.grad) {
      this.addToGradient(rows.home, (seg) => ({ ...terms(seg.group), mult: factor(seg.group) }));
    } else {
      for (const seg of this.spans()) {
        combine(this.gpu, this.state, this.flat.buffer, rows.home * this.flat.stride, seg, {
          ...this.noise(seg.group.sampler),
          ...terms(seg.group),
          accumulate: true,
          mult: -seg.group.lr * factor(seg.group),
        });
      }
    }
    this.finishStep();
  }
}

/** @throws {RangeError} unless `formula` is "spsa" or "rdsa" in any case. */
function formulaOf(formula: unknown): SpsaFormula {
  const name = typeof formula === "string" ? formula.toLowerCase() : "";
  if (name !== "spsa" && name !== "rdsa") {
    throw new RangeError(`SPSA: formula must be "spsa" or "rdsa", received ${formula}`);
  }
  return name;
}
