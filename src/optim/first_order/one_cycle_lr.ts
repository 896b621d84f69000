/**
 * The 1cycle learning-rate policy, torch's `OneCycleLR`.
 *
 * @module
 */

import {
  checkGroups,
  checkInt,
  checkRange,
  groupArray,
  LRScheduler,
  type LRSchedulerOptions,
  type LRSchedulerState,
  type Schedulable,
  type SchedulableGroup,
} from "./_scheduler_base.ts";

const NAME = "OneCycleLR";

/** Options of {@linkcode OneCycleLR}. */
export interface OneCycleLROptions extends LRSchedulerOptions {
  /** Peak learning rate, > 0: one for all groups or one per group. */
  maxLr: number | number[];
  /** Length of the cycle in steps (integer >= 1); else `epochs * stepsPerEpoch`. */
  totalSteps?: number;
  /** Number of epochs (integer >= 1), used with `stepsPerEpoch` when `totalSteps` is not given. */
  epochs?: number;
  /** Steps per epoch (integer >= 1), used with `epochs` when `totalSteps` is not given. */
  stepsPerEpoch?: number;
  /** Fraction of the cycle spent increasing the rate, in (0, 1); default 0.3. */
  pctStart?: number;
  /** `"cos"` (default) or `"linear"` annealing between the phase end points. */
  annealStrategy?: "cos" | "linear";
  /** Cycle `momentum` (SGD) or `betas[0]` (Adam) inversely to the rate; default true. */
  cycleMomentum?: boolean;
  /** Momentum at the peak rate, >= 0: one for all groups or one per group; default 0.85. */
  baseMomentum?: number | number[];
  /** Momentum at the ends of the cycle, >= 0: one or one per group; default 0.95. */
  maxMomentum?: number | number[];
  /** `initialLr = maxLr / divFactor`, > 0; default 25. */
  divFactor?: number;
  /** `minLr = initialLr / finalDivFactor`, > 0; default 1e4. */
  finalDivFactor?: number;
  /** Use fastai's three phases (up, down to `initialLr`, down to `minLr`); default false. */
  threePhase?: boolean;
}

/** State of a {@linkcode OneCycleLR}, returned by `stateDict()`. */
export interface OneCycleLRState extends LRSchedulerState {
  /** Length of the cycle in steps. */
  totalSteps: number;
  /** Fraction of the cycle spent increasing the rate. */
  pctStart: number;
  /** Annealing function between phase end points. */
  annealStrategy: "cos" | "linear";
  /** Whether the schedule has three phases. */
  threePhase: boolean;
  /** Whether momentum is cycled. */
  cycleMomentum: boolean;
  /** Whether the cycled momentum is `betas[0]` (else `momentum`). */
  useBeta1: boolean;
  /** Peak learning rate per group. */
  maxLrs: number[];
  /** Final learning rate per group. */
  minLrs: number[];
  /** Momentum at the ends of the cycle, per group. */
  maxMomenta: number[];
  /** Momentum at the peak rate, per group. */
  baseMomenta: number[];
}

type LrKey = "initial" | "max" | "min";
type MomentumKey = "max" | "base";

/** A phase of the cycle: annealing from its start values to its end values up to `endStep`. */
interface Phase {
  endStep: number;
  startLr: LrKey;
  endLr: LrKey;
  startMomentum: MomentumKey;
  endMomentum: MomentumKey;
}

/**
 * The 1cycle policy (torch's `OneCycleLR`): the rate rises from `initialLr = maxLr / divFactor` to
 * `maxLr` over the first `pctStart` of `totalSteps`, then falls to
 * `minLr = initialLr / finalDivFactor`; the momentum (`momentum`, or `betas[0]` for Adam-style
 * optimizers) moves the opposite way between `maxMomentum` and `baseMomentum`. Within a phase from
 * step `s` to `e`, with `pct = (t - s) / (e - s)`:
 *
 * ```text
 * cos:     value = end + (start - end) / 2 * (1 + cos(pi * pct))
 * linear:  value = start + (end - start) * pct
 * phases:  [0, pctStart*T - 1]: initialLr -> maxLr,  maxMomentum -> baseMomentum
 *          (.., T - 1]:         maxLr -> minLr,      baseMomentum -> maxMomentum
 * three:   [0, pctStart*T - 1]: initialLr -> maxLr;  (.., 2 pctStart*T - 2]: maxLr -> initialLr;
 *          (.., T - 1]: initialLr -> minLr  (momentum: max -> base -> max -> max)
 * ```
 *
 * It is a per-batch schedule: call `step()` after every `optimizer.step()`. Like torch, steps
 * 0 to `totalSteps` are allowed (the last one extrapolates the final phase) and the step after
 * throws a RangeError. On construction the groups' `initialLr` is set to `maxLr / divFactor` and,
 * with `cycleMomentum`, their momentum to `maxMomentum`. Unlike torch, `maxLr`, `minLr` and the
 * momenta are kept in the scheduler (and its state dict) rather than in the groups.
 *
 * Reference: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.OneCycleLR.html
 * (Smith & Topin 2017, "Super-Convergence: Very Fast Training of Neural Networks Using Large
 * Learning Rates").
 *
 * @example Per batch, for 10 epochs of 100 batches
 * ```ts
 * import { OneCycleLR } from "./lr_scheduler.ts";
 *
 * const optimizer = { paramGroups: [{ lr: 0.1, momentum: 0.9 }] };
 * const scheduler = new OneCycleLR(optimizer, { maxLr: 0.1, epochs: 10, stepsPerEpoch: 100 });
 * for (let epoch = 0; epoch < 10; epoch++) {
 *   for (let batch = 0; batch < 100; batch++) {
 *     // loss.backward(); optimizer.step();
 *     scheduler.step();
 *   }
 * }
 * // The 1000th step extrapolates just past minLr = 0.1 / 25 / 1e4 = 4e-7, like torch:
 * console.log(optimizer.paramGroups[0].lr); // ≈ 9e-7
 * ```
 */
export class OneCycleLR extends LRScheduler {
  /** Length of the cycle in steps. */
  totalSteps: number;
  /** Fraction of the cycle spent increasing the rate. */
  pctStart: number;
  /** Annealing function between phase end points. */
  annealStrategy: "cos" | "linear";
  /** Whether the schedule has three phases. */
  threePhase: boolean;
  /** Whether momentum is cycled. */
  cycleMomentum: boolean;
  /** Whether the cycled momentum is `betas[0]` (else `momentum`). */
  useBeta1: boolean;
  /** Peak learning rate per group. */
  maxLrs: number[];
  /** Final learning rate per group. */
  minLrs: number[];
  /** Momentum at the ends of the cycle, per group. */
  maxMomenta: number[];
  /** Momentum at the peak rate, per group. */
  baseMomenta: number[];

  /**
   * Attaches the cycle to `optimizer`, sets the groups' `initialLr` (and momentum) when starting
   * fresh, and performs the initial step.
   *
   * @param optimizer Optimizer whose groups' `lr` (and momentum) are scheduled.
   * @param options See {@linkcode OneCycleLROptions}; `maxLr` and `totalSteps` (or `epochs` and
   *   `stepsPerEpoch`) are required.
   * @throws {RangeError} naming the option for a bad value: `totalSteps`, `epochs`,
   *   `stepsPerEpoch` not integers >= 1, `pctStart` outside (0, 1), an unknown `annealStrategy`,
   *   `maxLr`, `divFactor`, `finalDivFactor` not > 0, momenta not >= 0, a per-group array of the
   *   wrong length, or a `pctStart` that makes a phase zero steps long.
   * @throws {TypeError} if `cycleMomentum` is set and the groups have neither `momentum` nor
   *   `betas`, or the optimizer has no groups with a numeric `lr`.
   */
  constructor(optimizer: Schedulable, options: OneCycleLROptions) {
    const {
      maxLr,
      pctStart = 0.3,
      annealStrategy = "cos",
      cycleMomentum = true,
      baseMomentum = 0.85,
      maxMomentum = 0.95,
      divFactor = 25,
      finalDivFactor = 1e4,
      threePhase = false,
      lastEpoch = -1,
    } = options;
    const groups = checkGroups(NAME, optimizer);
    const totalSteps = resolveTotalSteps(options);
    checkCycle(totalSteps, pctStart, annealStrategy, threePhase);
    checkRange(NAME, "divFactor", divFactor, { lo: 0, loOpen: true });
    checkRange(NAME, "finalDivFactor", finalDivFactor, { lo: 0, loOpen: true });
    const maxLrs = perGroup("maxLr", maxLr, groups.length, { lo: 0, loOpen: true });
    const maxMomenta = perGroup("maxMomentum", maxMomentum, groups.length, { lo: 0 });
    const baseMomenta = perGroup("baseMomentum", baseMomentum, groups.length, { lo: 0 });
    const useBeta1 = cycleMomentum ? momentumKind(groups) : false;
    if (lastEpoch === -1) {
      groups.forEach((group, i) => {
        group.initialLr = maxLrs[i] / divFactor;
        if (cycleMomentum) setMomentum(group, useBeta1, maxMomenta[i]);
      });
    }
    super(optimizer, { name: NAME, lastEpoch });
    this.totalSteps = totalSteps;
    this.pctStart = pctStart;
    this.annealStrategy = annealStrategy;
    this.threePhase = threePhase;
    this.cycleMomentum = cycleMomentum;
    this.useBeta1 = useBeta1;
    this.maxLrs = maxLrs;
    this.minLrs = this.baseLrs.map((lr) => lr / finalDivFactor);
    this.maxMomenta = maxMomenta;
    this.baseMomenta = baseMomenta;
    this.initialStep();
  }

  /**
   * Each group's rate at step `lastEpoch` of the cycle; with `cycleMomentum`, also writes the
   * group's momentum for that step.
   *
   * @throws {RangeError} past `totalSteps`.
   */
  protected getLr(): number[] {
    const t = this.lastEpoch;
    if (t > this.totalSteps) {
      throw new RangeError(
        `${NAME}: tried to step ${t + 1} times, but totalSteps is ${this.totalSteps}`,
      );
    }
    return this.optimizer.paramGroups.map((group, i) => {
      const { lr, momentum } = this.#at(t, i);
      if (this.cycleMomentum) setMomentum(group, this.useBeta1, momentum);
      return lr;
    });
  }

  /** Learning rate and momentum of group `i` at step `t`, as torch's `get_lr` computes them. */
  #at(t: number, i: number): { lr: number; momentum: number } {
    const phases = schedulePhases(this.totalSteps, this.pctStart, this.threePhase);
    const lrs = { initial: this.baseLrs[i], max: this.maxLrs[i], min: this.minLrs[i] };
    const momenta = { max: this.maxMomenta[i], base: this.baseMomenta[i] };
    const anneal = this.annealStrategy === "cos" ? annealCos : annealLinear;
    let start = 0;
    for (let p = 0; p < phases.length; p++) {
      const phase = phases[p];
      if (t <= phase.endStep || p === phases.length - 1) {
        const pct = (t - start) / (phase.endStep - start);
        return {
          lr: anneal(lrs[phase.startLr], lrs[phase.endLr], pct),
          momentum: anneal(momenta[phase.startMomentum], momenta[phase.endMomentum], pct),
        };
      }
      start = phase.endStep;
    }
    throw new Error("unreachable: the last phase always matches");
  }

  /** The base state plus the cycle's configuration and per-group end points. */
  override stateDict(): OneCycleLRState {
    return {
      ...super.stateDict(),
      totalSteps: this.totalSteps,
      pctStart: this.pctStart,
      annealStrategy: this.annealStrategy,
      threePhase: this.threePhase,
      cycleMomentum: this.cycleMomentum,
      useBeta1: this.useBeta1,
      maxLrs: [...this.maxLrs],
      minLrs: [...this.minLrs],
      maxMomenta: [...this.maxMomenta],
      baseMomenta: [...this.baseMomenta],
    };
  }

  /** Restores the state, then sets each group's momentum to its value at `lastEpoch`. */
  override loadStateDict(state: OneCycleLRState): void {
    super.loadStateDict(state);
    if (!this.cycleMomentum) return;
    this.optimizer.paramGroups.forEach((group, i) => {
      setMomentum(group, this.useBeta1, this.#at(this.lastEpoch, i).momentum);
    });
  }

  /**
   * Checks and restores the cycle's configuration and per-group end points.
   *
   * @throws {RangeError} for a bad cycle configuration.
   * @throws {TypeError} if a per-group array does not have one number per group, or the state
   *   cycles a momentum kind (`momentum` or `betas[0]`) the groups lack.
   */
  protected override loadOwnState(state: OneCycleLRState): void {
    const count = this.optimizer.paramGroups.length;
    checkCycle(state.totalSteps, state.pctStart, state.annealStrategy, state.threePhase);
    const arrays = {
      maxLrs: groupArray(NAME, state, "maxLrs", count),
      minLrs: groupArray(NAME, state, "minLrs", count),
      maxMomenta: groupArray(NAME, state, "maxMomenta", count),
      baseMomenta: groupArray(NAME, state, "baseMomenta", count),
    };
    const useBeta1 = Boolean(state.useBeta1);
    const cycleMomentum = Boolean(state.cycleMomentum);
    if (cycleMomentum && momentumKind(this.optimizer.paramGroups) !== useBeta1) {
      throw new TypeError(
        `${NAME}: the state dict cycles ${
          useBeta1 ? "betas[0]" : "momentum"
        }, which the optimizer's groups lack`,
      );
    }
    this.totalSteps = state.totalSteps;
    this.pctStart = state.pctStart;
    this.annealStrategy = state.annealStrategy;
    this.threePhase = Boolean(state.threePhase);
    this.cycleMomentum = cycleMomentum;
    this.useBeta1 = useBeta1;
    Object.assign(this, arrays);
  }
}

/** `totalSteps`, or `epochs * stepsPerEpoch` when it is not given. */
function resolveTotalSteps(options: OneCycleLROptions): number {
  const { totalSteps, epochs, stepsPerEpoch } = options;
  if (totalSteps !== undefined || (epochs === undefined && stepsPerEpoch === undefined)) {
    if (!Number.isInteger(totalSteps) || totalSteps! < 1) {
      throw new RangeError(
        `${NAME}: totalSteps must be an integer >= 1 (or give epochs and stepsPerEpoch), received ${totalSteps}`,
      );
    }
    return totalSteps!;
  }
  checkInt(NAME, "epochs", epochs!, 1);
  checkInt(NAME, "stepsPerEpoch", stepsPerEpoch!, 1);
  return epochs! * stepsPerEpoch!;
}

/** @throws {RangeError} for a bad cycle configuration (see the constructor). */
function checkCycle(
  totalSteps: number,
  pctStart: number,
  annealStrategy: string,
  threePhase: boolean,
): void {
  checkInt(NAME, "totalSteps", totalSteps, 1);
  checkRange(NAME, "pctStart", pctStart, { lo: 0, hi: 1, loOpen: true, hiOpen: true });
  if (annealStrategy !== "cos" && annealStrategy !== "linear") {
    throw new RangeError(
      `${NAME}: annealStrategy must be "cos" or "linear", received ${
        JSON.stringify(annealStrategy)
      }`,
    );
  }
  // torch divides by each phase's length: a zero-length phase would give NaN (0 / 0).
  let start = 0;
  for (const { endStep } of schedulePhases(totalSteps, pctStart, threePhase)) {
    if (endStep === start) {
      throw new RangeError(
        `${NAME}: pctStart ${pctStart} with totalSteps ${totalSteps} makes a phase zero steps long`,
      );
    }
    start = endStep;
  }
}

/** The phases of torch's `_schedule_phases`. */
function schedulePhases(totalSteps: number, pctStart: number, threePhase: boolean): Phase[] {
  const up = pctStart * totalSteps - 1;
  if (threePhase) {
    return [
      { endStep: up, startLr: "initial", endLr: "max", startMomentum: "max", endMomentum: "base" },
      {
        endStep: 2 * pctStart * totalSteps - 2,
        startLr: "max",
        endLr: "initial",
        startMomentum: "base",
        endMomentum: "max",
      },
      {
        endStep: totalSteps - 1,
        startLr: "initial",
        endLr: "min",
        startMomentum: "max",
        endMomentum: "max",
      },
    ];
  }
  return [
    { endStep: up, startLr: "initial", endLr: "max", startMomentum: "max", endMomentum: "base" },
    {
      endStep: totalSteps - 1,
      startLr: "max",
      endLr: "min",
      startMomentum: "base",
      endMomentum: "max",
    },
  ];
}

function annealCos(start: number, end: number, pct: number): number {
  return end + (start - end) / 2 * (Math.cos(Math.PI * pct) + 1);
}

function annealLinear(start: number, end: number, pct: number): number {
  return (end - start) * pct + start;
}

/** One value per group from a scalar or a per-group array (torch's `_format_param`), checked. */
function perGroup(
  option: string,
  value: number | number[],
  count: number,
  bounds: { lo: number; loOpen?: boolean },
): number[] {
  let values: number[];
  if (Array.isArray(value)) {
    if (value.length !== count) {
      throw new RangeError(
        `${NAME}: ${option} must have one value per param group (${count}), received ${value.length}`,
      );
    }
    values = [...value];
  } else {
    values = Array.from({ length: count }, () => value);
  }
  values.forEach((v, i) =>
    checkRange(NAME, Array.isArray(value) ? `${option}[${i}]` : option, v, bounds)
  );
  return values;
}

/**
 * True when every group has `betas` (cycle `betas[0]`), false when every group has `momentum`.
 *
 * @throws {TypeError} otherwise, like torch's "optimizer must support momentum".
 */
function momentumKind(groups: SchedulableGroup[]): boolean {
  if (groups.every((g) => Array.isArray(g.betas) && g.betas.length === 2)) return true;
  if (groups.every((g) => typeof g.momentum === "number")) return false;
  throw new TypeError(
    `${NAME}: cycleMomentum needs an optimizer whose param groups have momentum or betas; pass cycleMomentum: false`,
  );
}

/** Writes the cycled momentum: a fresh `betas` tuple (never mutating a shared one) or `momentum`. */
function setMomentum(group: SchedulableGroup, useBeta1: boolean, value: number): void {
  if (useBeta1) group.betas = [value, group.betas![1]];
  else group.momentum = value;
}
