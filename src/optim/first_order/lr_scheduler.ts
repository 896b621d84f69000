/**
 * Learning-rate schedulers with `torch.optim.lr_scheduler` semantics (torch 1.13): `StepLR`,
 * `ExponentialLR`, `CosineAnnealingLR`, `LambdaLR`, `LinearLR` and `OneCycleLR`.
 *
 * Each scheduler takes an optimizer (anything with torch-style mutable `paramGroups`) and one
 * options object. Constructing it performs the initial step (`lastEpoch` 0, the groups' `lr` set to
 * the first value of the schedule); afterwards call {@linkcode LRScheduler.step} once per unit of
 * the schedule, after `optimizer.step()`: once per epoch for the epoch-based schedules, once per
 * batch for {@linkcode OneCycleLR} (or any schedule whose unit you decide is a batch).
 *
 * The chainable schedulers compute the next rate from each group's current `lr`, as torch does, so
 * their sequences agree with torch's to rounding, and several schedulers may act on one optimizer.
 *
 * Reference: https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate
 *
 * @module
 */

import {
  checkInt,
  checkRange,
  LRScheduler,
  type LRSchedulerOptions,
  type LRSchedulerState,
  type Schedulable,
} from "./_scheduler_base.ts";

export {
  LRScheduler,
  type LRSchedulerOptions,
  type LRSchedulerState,
  type Schedulable,
  type SchedulableGroup,
} from "./_scheduler_base.ts";
export { OneCycleLR, type OneCycleLROptions, type OneCycleLRState } from "./one_cycle_lr.ts";

/** Options of {@linkcode StepLR}. */
export interface StepLROptions extends LRSchedulerOptions {
  /** Period of learning-rate decay, in steps: an integer >= 1. */
  stepSize: number;
  /** Multiplicative factor of learning-rate decay, > 0; default 0.1. */
  gamma?: number;
}

/** State of a {@linkcode StepLR}, returned by `stateDict()`. */
export interface StepLRState extends LRSchedulerState {
  /** Period of decay. */
  stepSize: number;
  /** Decay factor. */
  gamma: number;
}

/**
 * Decays each group's learning rate by `gamma` every `stepSize` steps (torch's `StepLR`):
 *
 * ```text
 * lr_t = lr_{t-1} * gamma   if t > 0 and t % stepSize == 0,   else lr_{t-1}
 *      = initialLr * gamma ^ floor(t / stepSize)   (without other schedulers on the optimizer)
 * ```
 *
 * Reference: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.StepLR.html
 *
 * @example Per epoch: halve the rate every 30 epochs
 * ```ts
 * import { StepLR } from "./lr_scheduler.ts";
 *
 * const optimizer = { paramGroups: [{ lr: 0.1, momentum: 0.9 }] };
 * const scheduler = new StepLR(optimizer, { stepSize: 30, gamma: 0.5 });
 * for (let epoch = 0; epoch < 100; epoch++) {
 *   // for (const batch of data) { ...; optimizer.step(); }
 *   scheduler.step();
 * }
 * console.log(scheduler.getLastLr()); // [0.0125]
 * ```
 */
export class StepLR extends LRScheduler {
  /** Period of learning-rate decay, in steps. */
  stepSize: number;
  /** Multiplicative factor of learning-rate decay. */
  gamma: number;

  /**
   * Attaches the schedule to `optimizer` and performs the initial step.
   *
   * @param optimizer Optimizer whose groups' `lr` is scheduled.
   * @param options `stepSize`, `gamma` (default 0.1), `lastEpoch` (default -1).
   * @throws {RangeError} if `stepSize` is not an integer >= 1 or `gamma` is not > 0.
   * @throws {TypeError} if the optimizer has no groups with a numeric `lr`.
   */
  constructor(optimizer: Schedulable, options: StepLROptions) {
    const { stepSize, gamma = 0.1, lastEpoch } = options;
    checkStepLR(stepSize, gamma);
    super(optimizer, { name: "StepLR", lastEpoch });
    this.stepSize = stepSize;
    this.gamma = gamma;
    this.initialStep();
  }

  /** Each group's `lr`, times `gamma` when `lastEpoch` is a positive multiple of `stepSize`. */
  protected getLr(): number[] {
    const groups = this.optimizer.paramGroups;
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) {
      return groups.map((g) => g.lr);
    }
    return groups.map((g) => g.lr * this.gamma);
  }

  /** The base state plus `stepSize` and `gamma`. */
  override stateDict(): StepLRState {
    return { ...super.stateDict(), stepSize: this.stepSize, gamma: this.gamma };
  }

  /**
   * Restores `stepSize` and `gamma`.
   *
   * @throws {RangeError} if `stepSize` is not an integer >= 1 or `gamma` is not > 0.
   */
  protected override loadOwnState(state: StepLRState): void {
    checkStepLR(state.stepSize, state.gamma);
    this.stepSize = state.stepSize;
    this.gamma = state.gamma;
  }
}

function checkStepLR(stepSize: number, gamma: number): void {
  checkInt("StepLR", "stepSize", stepSize, 1);
  checkRange("StepLR", "gamma", gamma, { lo: 0, loOpen: true });
}

/** Options of {@linkcode ExponentialLR}. */
export interface ExponentialLROptions extends LRSchedulerOptions {
  /** Multiplicative factor applied every step, > 0. */
  gamma: number;
}

/** State of an {@linkcode ExponentialLR}, returned by `stateDict()`. */
export interface ExponentialLRState extends LRSchedulerState {
  /** Decay factor. */
  gamma: number;
}

/**
 * Multiplies each group's learning rate by `gamma` every step (torch's `ExponentialLR`):
 *
 * ```text
 * lr_t = lr_{t-1} * gamma  (t > 0),   i.e. initialLr * gamma ^ t
 * ```
 *
 * Reference: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ExponentialLR.html
 *
 * @example Per epoch
 * ```ts
 * import { ExponentialLR } from "./lr_scheduler.ts";
 *
 * const optimizer = { paramGroups: [{ lr: 0.1 }] };
 * const scheduler = new ExponentialLR(optimizer, { gamma: 0.9 });
 * for (let epoch = 0; epoch < 3; epoch++) scheduler.step(); // after each epoch's training
 * console.log(optimizer.paramGroups[0].lr); // 0.0729 (to rounding)
 * ```
 */
export class ExponentialLR extends LRScheduler {
  /** Multiplicative factor applied every step. */
  gamma: number;

  /**
   * Attaches the schedule to `optimizer` and performs the initial step.
   *
   * @param optimizer Optimizer whose groups' `lr` is scheduled.
   * @param options `gamma`, `lastEpoch` (default -1).
   * @throws {RangeError} if `gamma` is not > 0.
   * @throws {TypeError} if the optimizer has no groups with a numeric `lr`.
   */
  constructor(optimizer: Schedulable, options: ExponentialLROptions) {
    const { gamma, lastEpoch } = options;
    checkRange("ExponentialLR", "gamma", gamma, { lo: 0, loOpen: true });
    super(optimizer, { name: "ExponentialLR", lastEpoch });
    this.gamma = gamma;
    this.initialStep();
  }

  /** Each group's `lr` times `gamma` (unchanged on the initial step). */
  protected getLr(): number[] {
    const groups = this.optimizer.paramGroups;
    if (this.lastEpoch === 0) return groups.map((g) => g.lr);
    return groups.map((g) => g.lr * this.gamma);
  }

  /** The base state plus `gamma`. */
  override stateDict(): ExponentialLRState {
    return { ...super.stateDict(), gamma: this.gamma };
  }

  /**
   * Restores `gamma`.
   *
   * @throws {RangeError} if `gamma` is not > 0.
   */
  protected override loadOwnState(state: ExponentialLRState): void {
    checkRange("ExponentialLR", "gamma", state.gamma, { lo: 0, loOpen: true });
    this.gamma = state.gamma;
  }
}

/** Options of {@linkcode CosineAnnealingLR}. */
export interface CosineAnnealingLROptions extends LRSchedulerOptions {
  /** Number of steps of a half cosine period (torch's `T_max`): an integer >= 1. */
  tMax: number;
  /** Minimum learning rate (torch's `eta_min`), >= 0; default 0. */
  etaMin?: number;
}

/** State of a {@linkcode CosineAnnealingLR}, returned by `stateDict()`. */
export interface CosineAnnealingLRState extends LRSchedulerState {
  /** Half period in steps. */
  tMax: number;
  /** Minimum learning rate. */
  etaMin: number;
}

/**
 * Cosine annealing from each group's initial rate down to `etaMin` over `tMax` steps, and back up
 * over the next `tMax` (torch's `CosineAnnealingLR`, without restarts). The closed form is
 *
 * ```text
 * lr_t = etaMin + (initialLr - etaMin) * (1 + cos(pi * t / tMax)) / 2
 * ```
 *
 * but like torch 1.13 the rate is computed recursively from the group's current `lr`:
 *
 * ```text
 * t == 0:                            lr_t = lr_{t-1}
 * (t - 1 - tMax) % (2 tMax) == 0:    lr_t = lr_{t-1} + (initialLr - etaMin) * (1 - cos(pi / tMax)) / 2
 * otherwise:                         lr_t = etaMin + (lr_{t-1} - etaMin)
 *                                           * (1 + cos(pi t / tMax)) / (1 + cos(pi (t - 1) / tMax))
 * ```
 *
 * (the closed form on the constructor's step when resuming with `lastEpoch >= 0`), so the values
 * follow torch's, including after `tMax`.
 *
 * Reference:
 * https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.CosineAnnealingLR.html
 * (Loshchilov & Hutter 2017, "SGDR: Stochastic Gradient Descent with Warm Restarts").
 *
 * @example Per epoch, over 100 epochs
 * ```ts
 * import { CosineAnnealingLR } from "./lr_scheduler.ts";
 *
 * const optimizer = { paramGroups: [{ lr: 0.1, momentum: 0.9 }] };
 * const scheduler = new CosineAnnealingLR(optimizer, { tMax: 100, etaMin: 1e-4 });
 * for (let epoch = 0; epoch < 100; epoch++) {
 *   // train one epoch, calling optimizer.step() per batch
 *   scheduler.step();
 * }
 * console.log(optimizer.paramGroups[0].lr); // 1e-4 (to rounding)
 * ```
 */
export class CosineAnnealingLR extends LRScheduler {
  /** Half period in steps (torch's `T_max`). */
  tMax: number;
  /** Minimum learning rate (torch's `eta_min`). */
  etaMin: number;

  /**
   * Attaches the schedule to `optimizer` and performs the initial step.
   *
   * @param optimizer Optimizer whose groups' `lr` is scheduled.
   * @param options `tMax`, `etaMin` (default 0), `lastEpoch` (default -1).
   * @throws {RangeError} if `tMax` is not an integer >= 1 or `etaMin` is not a finite number >= 0.
   * @throws {TypeError} if the optimizer has no groups with a numeric `lr`.
   */
  constructor(optimizer: Schedulable, options: CosineAnnealingLROptions) {
    const { tMax, etaMin = 0, lastEpoch } = options;
    checkCosine(tMax, etaMin);
    super(optimizer, { name: "CosineAnnealingLR", lastEpoch });
    this.tMax = tMax;
    this.etaMin = etaMin;
    this.initialStep();
  }

  /** The recursive cosine step above (the closed form on the initial step when resuming). */
  protected getLr(): number[] {
    const { lastEpoch: t, tMax, etaMin, baseLrs } = this;
    const groups = this.optimizer.paramGroups;
    if (t === 0) return groups.map((g) => g.lr);
    if (this.stepCount === 1 && t > 0) {
      return baseLrs.map((base) =>
        etaMin + (base - etaMin) * (1 + Math.cos(t * Math.PI / tMax)) / 2
      );
    }
    if ((t - 1 - tMax) % (2 * tMax) === 0) {
      return groups.map((g, i) =>
        g.lr + (baseLrs[i] - etaMin) * (1 - Math.cos(Math.PI / tMax)) / 2
      );
    }
    return groups.map((g) =>
      (1 + Math.cos(Math.PI * t / tMax)) / (1 + Math.cos(Math.PI * (t - 1) / tMax)) *
        (g.lr - etaMin) + etaMin
    );
  }

  /** The base state plus `tMax` and `etaMin`. */
  override stateDict(): CosineAnnealingLRState {
    return { ...super.stateDict(), tMax: this.tMax, etaMin: this.etaMin };
  }

  /**
   * Restores `tMax` and `etaMin`.
   *
   * @throws {RangeError} if `tMax` is not an integer >= 1 or `etaMin` is not a finite number >= 0.
   */
  protected override loadOwnState(state: CosineAnnealingLRState): void {
    checkCosine(state.tMax, state.etaMin);
    this.tMax = state.tMax;
    this.etaMin = state.etaMin;
  }
}

function checkCosine(tMax: number, etaMin: number): void {
  checkInt("CosineAnnealingLR", "tMax", tMax, 1);
  checkRange("CosineAnnealingLR", "etaMin", etaMin, { lo: 0 });
}

/** Options of {@linkcode LambdaLR}. */
export interface LambdaLROptions extends LRSchedulerOptions {
  /**
   * Factor of the initial rate as a function of the step index, or one such function per
   * parameter group.
   */
  lrLambda: ((epoch: number) => number) | ((epoch: number) => number)[];
}

/**
 * Sets each group's rate to its initial rate times a user function of the step index (torch's
 * `LambdaLR`):
 *
 * ```text
 * lr_t = initialLr * lrLambda(t)
 * ```
 *
 * The functions are not part of `stateDict()` (like torch): a restored scheduler keeps the
 * functions it was constructed with.
 *
 * Reference: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.LambdaLR.html
 *
 * @example Per batch: linear warm-up over the first 1000 batches
 * ```ts
 * import { LambdaLR } from "./lr_scheduler.ts";
 *
 * const optimizer = { paramGroups: [{ lr: 3e-4, betas: [0.9, 0.999] as [number, number] }] };
 * const scheduler = new LambdaLR(optimizer, { lrLambda: (t) => Math.min(1, (t + 1) / 1000) });
 * for (let batch = 0; batch < 2000; batch++) {
 *   // loss.backward(); optimizer.step();
 *   scheduler.step();
 * }
 * console.log(optimizer.paramGroups[0].lr); // 3e-4
 * ```
 */
export class LambdaLR extends LRScheduler {
  /** One function per parameter group. */
  readonly lrLambdas: ((epoch: number) => number)[];

  /**
   * Attaches the schedule to `optimizer` and performs the initial step.
   *
   * @param optimizer Optimizer whose groups' `lr` is scheduled.
   * @param options `lrLambda` (one function, or an array with one per group), `lastEpoch`.
   * @throws {TypeError} if `lrLambda` (or an entry of it) is not a function, or the optimizer has
   *   no groups with a numeric `lr`.
   * @throws {RangeError} if an array `lrLambda` does not have one entry per parameter group.
   */
  constructor(optimizer: Schedulable, options: LambdaLROptions) {
    const { lrLambda, lastEpoch } = options;
    const groupCount = optimizer?.paramGroups?.length ?? 0;
    let lambdas: ((epoch: number) => number)[];
    if (Array.isArray(lrLambda)) {
      if (lrLambda.length !== groupCount) {
        throw new RangeError(
          `LambdaLR: lrLambda must have one function per param group (${groupCount}), received ${lrLambda.length}`,
        );
      }
      lambdas = [...lrLambda];
    } else {
      lambdas = Array.from({ length: groupCount }, () => lrLambda);
    }
    if (lambdas.some((fn) => typeof fn !== "function")) {
      throw new TypeError("LambdaLR: lrLambda must be a function or an array of functions");
    }
    super(optimizer, { name: "LambdaLR", lastEpoch });
    this.lrLambdas = lambdas;
    this.initialStep();
  }

  /** `initialLr · lrLambda(lastEpoch)` for each group. */
  protected getLr(): number[] {
    return this.baseLrs.map((base, i) => base * this.lrLambdas[i](this.lastEpoch));
  }
}

/** Options of {@linkcode LinearLR}. */
export interface LinearLROptions extends LRSchedulerOptions {
  /** Factor of the initial rate at step 0, in (0, 1]; default 1/3. */
  startFactor?: number;
  /** Factor of the initial rate from step `totalIters` on, in [0, 1]; default 1. */
  endFactor?: number;
  /** Number of steps of the linear ramp, an integer >= 1; default 5. */
  totalIters?: number;
}

/** State of a {@linkcode LinearLR}, returned by `stateDict()`. */
export interface LinearLRState extends LRSchedulerState {
  /** Factor at step 0. */
  startFactor: number;
  /** Factor from `totalIters` on. */
  endFactor: number;
  /** Length of the ramp. */
  totalIters: number;
}

/**
 * Scales each group's initial rate by a factor that moves linearly from `startFactor` to
 * `endFactor` over `totalIters` steps, then stays (torch's `LinearLR`, typically a warm-up):
 *
 * ```text
 * lr_t = initialLr * (startFactor + (endFactor - startFactor) * min(t, totalIters) / totalIters)
 * ```
 *
 * computed, like torch, recursively from the group's current `lr`:
 * `lr_t = lr_{t-1} * (1 + (end - start) / (totalIters * start + (t - 1) * (end - start)))` for
 * `0 < t <= totalIters`.
 *
 * Reference: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.LinearLR.html
 *
 * @example Per epoch: warm up from a quarter of the rate over 8 epochs
 * ```ts
 * import { LinearLR } from "./lr_scheduler.ts";
 *
 * const optimizer = { paramGroups: [{ lr: 0.1 }] };
 * const scheduler = new LinearLR(optimizer, { startFactor: 0.25, totalIters: 8 });
 * console.log(optimizer.paramGroups[0].lr); // 0.025
 * for (let epoch = 0; epoch < 8; epoch++) scheduler.step(); // after each epoch's training
 * console.log(optimizer.paramGroups[0].lr); // 0.1 (to rounding)
 * ```
 */
export class LinearLR extends LRScheduler {
  /** Factor at step 0. */
  startFactor: number;
  /** Factor from `totalIters` on. */
  endFactor: number;
  /** Length of the ramp in steps. */
  totalIters: number;

  /**
   * Attaches the schedule to `optimizer` and performs the initial step.
   *
   * @param optimizer Optimizer whose groups' `lr` is scheduled.
   * @param options `startFactor` (default 1/3), `endFactor` (default 1), `totalIters` (default 5),
   *   `lastEpoch` (default -1).
   * @throws {RangeError} if `startFactor` is outside (0, 1], `endFactor` outside [0, 1], or
   *   `totalIters` is not an integer >= 1.
   * @throws {TypeError} if the optimizer has no groups with a numeric `lr`.
   */
  constructor(optimizer: Schedulable, options: LinearLROptions = {}) {
    const { startFactor = 1 / 3, endFactor = 1, totalIters = 5, lastEpoch } = options;
    checkLinear(startFactor, endFactor, totalIters);
    super(optimizer, { name: "LinearLR", lastEpoch });
    this.startFactor = startFactor;
    this.endFactor = endFactor;
    this.totalIters = totalIters;
    this.initialStep();
  }

  /** The recursive linear step above; `lr` is unchanged after `totalIters`. */
  protected getLr(): number[] {
    const { lastEpoch: t, startFactor: start, endFactor: end, totalIters } = this;
    const groups = this.optimizer.paramGroups;
    if (t === 0) return groups.map((g) => g.lr * start);
    if (t > totalIters) return groups.map((g) => g.lr);
    return groups.map((g) =>
      g.lr * (1 + (end - start) / (totalIters * start + (t - 1) * (end - start)))
    );
  }

  /** The base state plus `startFactor`, `endFactor` and `totalIters`. */
  override stateDict(): LinearLRState {
    const { startFactor, endFactor, totalIters } = this;
    return { ...super.stateDict(), startFactor, endFactor, totalIters };
  }

  /**
   * Restores `startFactor`, `endFactor` and `totalIters`.
   *
   * @throws {RangeError} if `startFactor` is outside (0, 1], `endFactor` outside [0, 1], or
   *   `totalIters` is not an integer >= 1.
   */
  protected override loadOwnState(state: LinearLRState): void {
    checkLinear(state.startFactor, state.endFactor, state.totalIters);
    this.startFactor = state.startFactor;
    this.endFactor = state.endFactor;
    this.totalIters = state.totalIters;
  }
}

function checkLinear(startFactor: number, endFactor: number, totalIters: number): void {
  checkRange("LinearLR", "startFactor", startFactor, { lo: 0, hi: 1, loOpen: true });
  checkRange("LinearLR", "endFactor", endFactor, { lo: 0, hi: 1 });
  checkInt("LinearLR", "totalIters", totalIters, 1);
}
