/**
 * `SGD`: stochastic gradient descent with momentum, dampening, Nesterov momentum, weight decay
 * and maximisation, torch.optim.SGD's semantics as one fused kernel (`shaders/optim_sgd.wgsl`).
 *
 * @module
 */

import { dummyBuffer } from "../../ops/_util.ts";
import type { Parameter } from "../../params/flat.ts";
import { type BindOptions, checkMin, type ParamGroup, type ParamsInput } from "../optimizer.ts";
import { FirstOrderOptimizer } from "./first_order.ts";
import code from "../../../shaders/optim_sgd.wgsl" with { type: "text" };

/** Hyperparameters of {@linkcode SGD} (per param group). */
export interface SGDOptions {
  /** Learning rate. Default 1e-3. */
  lr: number;
  /** Momentum factor; 0 disables the momentum buffer. Default 0. */
  momentum: number;
  /** Dampening of the gradient added to the momentum buffer. Default 0. */
  dampening: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). Default false. */
  nesterov: boolean;
  /** Maximise the objective instead. Default false. */
  maximize: boolean;
}

const SPEC = {
  file: "shaders/optim_sgd.wgsl",
  code,
  entryPoint: "sgd",
  storage: ["read", "write", "write"],
} as const;

/**
 * Stochastic gradient descent (torch.optim.SGD).
 *
 * ```text
 * d = maximize ? -g : g;  d += weightDecay · x
 * if momentum ≠ 0:
 *   b = (first step of this parameter) ? d : momentum · b + (1 − dampening) · d
 *   d = nesterov ? d + momentum · b : b
 * x -= lr · d
 * ```
 * Parameters without a gradient are skipped (weight decay too), as in torch.
 * Reference: https://pytorch.org/docs/stable/generated/torch.optim.SGD.html
 *
 * @example
 * ```ts ignore
 * const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, nesterov: true });
 * opt.zeroGrad();
 * // ... set gradients (a derivative-free optimizer does this) ...
 * opt.step();
 * ```
 */
export class SGD extends FirstOrderOptimizer<SGDOptions> {
  /**
   * Creates the optimizer; options a group does not set take the defaults above.
   *
   * @param params parameters of one model, or param groups with per-group overrides.
   * @param options hyperparameters and the parameter row to update (default 0).
   * @throws {RangeError} for lr, momentum or weightDecay < 0, or Nesterov without momentum
   *   or with dampening.
   */
  constructor(
    params: ParamsInput<SGDOptions>,
    options: Partial<SGDOptions> & BindOptions = {},
  ) {
    const { row, ...hyper } = options;
    super("SGD", params, {
      lr: 1e-3,
      momentum: 0,
      dampening: 0,
      weightDecay: 0,
      nesterov: false,
      maximize: false,
      ...hyper,
    }, { row });
  }

  /**
   * Checks a group's hyperparameters.
   *
   * @throws {RangeError} for lr, momentum or weightDecay < 0, a non-finite dampening, or
   *   Nesterov without momentum or with dampening.
   */
  protected validate(g: ParamGroup<SGDOptions>): void {
    checkMin("SGD", "lr", g.lr);
    checkMin("SGD", "momentum", g.momentum);
    checkMin("SGD", "weightDecay", g.weightDecay);
    if (!Number.isFinite(g.dampening)) {
      throw new RangeError(`SGD: dampening must be finite, received ${g.dampening}`);
    }
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) {
      throw new RangeError(
        `SGD: nesterov requires momentum > 0 and dampening 0, received momentum ${g.momentum}, dampening ${g.dampening}`,
      );
    }
  }

  /** The momentum buffer (torch's `momentum_buffer`), created once momentum is used. */
  protected stateBuffers(): string[] {
    return ["momentumBuffer"];
  }

  /** One fused dispatch per segment of parameters with a gradient. */
  protected update(): void {
    const hasBuffer = (p: Parameter) => this.paramState.has(p) ? 1 : 0;
    for (const seg of this.segments(hasBuffer)) {
      const g = seg.group;
      const first = hasBuffer(seg.params[0]) === 0;
      if (g.momentum !== 0) { for (const p of seg.params) this.paramState.set(p, {}); }
      const buf = g.momentum !== 0 ? this.buffer("momentumBuffer") : dummyBuffer(this.gpu);
      this.dispatchSegment(SPEC, seg, [buf], {
        lr: g.lr,
        momentum: g.momentum,
        oneMinusDampening: 1 - g.dampening,
        weightDecay: g.weightDecay,
        nesterov: g.nesterov ? 1 : 0,
        maximize: g.maximize ? 1 : 0,
        first: first ? 1 : 0,
      });
    }
  }
}
