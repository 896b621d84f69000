/**
 * `Adam` and `AdamW` (torch.optim semantics, amsgrad and maximize included) as one fused
 * kernel (`shaders/optim_adam.wgsl`).
 *
 * @module
 */

import { dummyBuffer } from "../../ops/_util.ts";
import type { Parameter } from "../../params/flat.ts";
import {
  type BindOptions,
  checkMin,
  checkUnit,
  type ParamGroup,
  type ParamsInput,
} from "../optimizer.ts";
import { FirstOrderOptimizer } from "./first_order.ts";
import code from "../../../shaders/optim_adam.wgsl" with { type: "text" };

/** Hyperparameters of {@linkcode Adam} and {@linkcode AdamW} (per param group). */
export interface AdamOptions {
  /** Learning rate. Default 1e-3. */
  lr: number;
  /** Decay rates of the first and second moment estimates. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to the denominator for stability. Default 1e-8. */
  eps: number;
  /** L2 penalty (Adam) or decoupled decay rate (AdamW). Default 0 (Adam), 1e-2 (AdamW). */
  weightDecay: number;
  /** Use the running maximum of the second moment (AMSGrad). Default false. */
  amsgrad: boolean;
  /** Maximise the objective instead. Default false. */
  maximize: boolean;
}

const SPEC = {
  file: "shaders/optim_adam.wgsl",
  code,
  entryPoint: "adam",
  storage: ["read", "write", "write", "write", "write"],
} as const;

/**
 * Adam (torch.optim.Adam): weight decay is added to the gradient (L2 penalty).
 *
 * ```text
 * g = maximize ? -g : g;  g += weightDecay · x;  t += 1
 * m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²;  v̂ = amsgrad ? max(v̂, v) : v
 * x -= lr / (1 − β1ᵗ) · m / (sqrt(v̂) / sqrt(1 − β2ᵗ) + eps)
 * ```
 * The step count `t` is kept per parameter, as in torch. Reference: Kingma & Ba 2015;
 * https://pytorch.org/docs/stable/generated/torch.optim.Adam.html
 *
 * @example
 * ```ts ignore
 * const opt = new Adam(model.parameters(), { lr: 1e-3, betas: [0.9, 0.999] });
 * ```
 */
export class Adam extends FirstOrderOptimizer<AdamOptions> {
  /** True for AdamW: decay multiplies the parameters instead of entering the gradient. */
  protected readonly decoupled: boolean = false;

  /**
   * Creates the optimizer; options a group does not set take the defaults above (AdamW's
   * weight decay defaults to 1e-2).
   *
   * @param params parameters of one model, or param groups with per-group overrides.
   * @param options hyperparameters and the parameter row to update (default 0).
   * @throws {RangeError} for lr, eps or weightDecay < 0, or a beta outside [0, 1).
   */
  constructor(params: ParamsInput<AdamOptions>, options: Partial<AdamOptions> & BindOptions = {}) {
    const { row, ...hyper } = options;
    super(new.target.name, params, { ...adamDefaults(new.target === AdamW), ...hyper }, { row });
  }

  /**
   * Checks a group's hyperparameters.
   *
   * @throws {RangeError} for lr, eps or weightDecay < 0, betas that are not a pair, or a beta
   *   outside [0, 1).
   */
  protected validate(g: ParamGroup<AdamOptions>): void {
    const name = this.constructor.name;
    checkMin(name, "lr", g.lr);
    checkMin(name, "eps", g.eps);
    checkMin(name, "weightDecay", g.weightDecay);
    if (!Array.isArray(g.betas) || g.betas.length !== 2) {
      throw new RangeError(`${name}: betas must be a pair, received ${g.betas}`);
    }
    checkUnit(name, "betas[0]", g.betas[0]);
    checkUnit(name, "betas[1]", g.betas[1]);
  }

  /** The moment estimates (torch's `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`). */
  protected stateBuffers(): string[] {
    return ["expAvg", "expAvgSq", "maxExpAvgSq"];
  }

  /** Increments each stepped parameter's `step`, then one fused dispatch per segment. */
  protected update(): void {
    const touch = (p: Parameter) => {
      const s = this.paramState.get(p) ?? { step: 0 };
      s.step++;
      this.paramState.set(p, s);
    };
    const step = (p: Parameter) => this.paramState.get(p)!.step;
    for (const seg of this.segments(step, touch)) {
      const g = seg.group;
      const t = step(seg.params[0]);
      const [beta1, beta2] = g.betas;
      const vmax = g.amsgrad ? this.buffer("maxExpAvgSq") : dummyBuffer(this.gpu);
      this.dispatchSegment(SPEC, seg, [this.buffer("expAvg"), this.buffer("expAvgSq"), vmax], {
        beta1,
        beta2,
        oneMinusBeta1: 1 - beta1,
        oneMinusBeta2: 1 - beta2,
        eps: g.eps,
        weightDecay: g.weightDecay,
        decay: 1 - g.lr * g.weightDecay,
        stepSize: g.lr / (1 - beta1 ** t),
        bc2Sqrt: Math.sqrt(1 - beta2 ** t),
        decoupled: this.decoupled ? 1 : 0,
        amsgrad: g.amsgrad ? 1 : 0,
        maximize: g.maximize ? 1 : 0,
      });
    }
  }
}

/**
 * AdamW (torch.optim.AdamW): Adam with decoupled weight decay, `x *= 1 − lr · weightDecay`
 * before the Adam step. Default weight decay 1e-2, as in torch. Reference: Loshchilov & Hutter
 * 2019; https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html
 *
 * @example
 * ```ts ignore
 * const inner = new AdamW(model.parameters(), { lr: 1e-3 }); // weightDecay 0.01
 * ```
 */
export class AdamW extends Adam {
  /** Always true: weight decay is decoupled. */
  protected override readonly decoupled: boolean = true;
}

function adamDefaults(decoupled: boolean): AdamOptions {
  return {
    lr: 1e-3,
    betas: [0.9, 0.999],
    eps: 1e-8,
    weightDecay: decoupled ? 1e-2 : 0,
    amsgrad: false,
    maximize: false,
  };
}
