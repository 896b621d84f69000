/**
 * `ClipUp`: normalized-gradient momentum with a speed limit, the default center optimizer of
 * PGPE (`shaders/optim_clipup.wgsl`).
 *
 * @module
 */

import { sumSquares } from "../../ops/norm.ts";
import {
  type BindOptions,
  checkPositive,
  checkUnit,
  type ParamGroup,
  type ParamsInput,
} from "../optimizer.ts";
import { FirstOrderOptimizer } from "./first_order.ts";
import code from "../../../shaders/optim_clipup.wgsl" with { type: "text" };

/** Hyperparameters of {@linkcode ClipUp} (per param group). */
export interface ClipUpOptions {
  /** Step length α: the normalized gradient's weight in the velocity. Default 0.15. */
  lr: number;
  /** Momentum β of the velocity. Default 0.9. */
  momentum: number;
  /** The velocity's norm is clipped to this (EvoTorch's default: 2·lr). Default 0.3. */
  maxSpeed: number;
}

const VELOCITY = {
  file: "shaders/optim_clipup.wgsl",
  code,
  entryPoint: "velocity",
  storage: ["read", "write", "write", "write"],
} as const;
const APPLY = { ...VELOCITY, entryPoint: "apply" } as const;

/**
 * ClipUp (Toklu, Liskowski, Srivastava 2020; EvoTorch `ClipUp`, EvoJAX `clipup`), for
 * minimization:
 *
 * ```text
 * v ← momentum · v − lr · g / ‖g‖        (‖g‖ over every parameter with a gradient)
 * if ‖v‖ > maxSpeed:  v ← v · maxSpeed / ‖v‖
 * x ← x + v
 * ```
 * The step length does not depend on the gradient's scale, which suits the noisy, arbitrarily
 * scaled estimates of evolution strategies. The norms are global over the optimizer's
 * parameters (taken on the GPU, no readback); with several param groups, each group's `lr`,
 * `momentum` and `maxSpeed` apply to its parameters but the norms stay global.
 *
 * @example
 * ```ts ignore
 * const opt = new ClipUp(model.parameters(), { lr: 0.15, maxSpeed: 0.3 });
 * ```
 */
export class ClipUp extends FirstOrderOptimizer<ClipUpOptions> {
  #norms: GPUBuffer | null = null;

  /**
   * Creates the optimizer; options a group does not set take the defaults above.
   *
   * @param params parameters of one model, or param groups with per-group overrides.
   * @param options hyperparameters and the row to update.
   * @throws {RangeError} for lr or maxSpeed ≤ 0, or momentum outside [0, 1).
   */
  constructor(
    params: ParamsInput<ClipUpOptions>,
    options: Partial<ClipUpOptions> & BindOptions = {},
  ) {
    const { row, ...hyper } = options;
    super("ClipUp", params, { lr: 0.15, momentum: 0.9, maxSpeed: 0.3, ...hyper }, { row });
  }

  /**
   * Checks a group's hyperparameters.
   * @throws {RangeError} naming the option and value.
   */
  protected validate(g: ParamGroup<ClipUpOptions>): void {
    checkPositive("ClipUp", "lr", g.lr);
    checkPositive("ClipUp", "maxSpeed", g.maxSpeed);
    checkUnit("ClipUp", "momentum", g.momentum);
  }

  /** The velocity. */
  protected stateBuffers(): string[] {
    return ["velocity"];
  }

  /** ‖g‖², the velocity pass, ‖v‖², the clip-and-move pass. */
  protected update(): void {
    const segments = this.segments(undefined, (p) => this.paramState.set(p, {}));
    if (segments.length === 0) return;
    const { gpu, flat } = this;
    const norms = this.#norms ??= gpu.pool.acquire(16, "ClipUp norms");
    const velocity = this.buffer("velocity");
    const rowOff = this.row * flat.stride;
    segments.forEach((seg, i) => {
      sumSquares(gpu, flat.gradBuffer, rowOff + seg.start, seg.end - seg.start, norms, 0, i > 0);
    });
    const values = (g: ClipUpOptions) => ({ lr: g.lr, momentum: g.momentum, maxSpeed: g.maxSpeed });
    for (const seg of segments) {
      this.dispatchSegment(VELOCITY, seg, [velocity, norms], values(seg.group));
    }
    segments.forEach((seg, i) => {
      sumSquares(gpu, velocity, seg.start, seg.end - seg.start, norms, 1, i > 0);
    });
    for (const seg of segments) {
      this.dispatchSegment(APPLY, seg, [velocity, norms], values(seg.group));
    }
  }

  /** Returns the velocity and the norms to the pool. */
  override dispose(): void {
    super.dispose();
    if (this.#norms !== null) this.gpu.pool.release(this.#norms);
    this.#norms = null;
  }
}
