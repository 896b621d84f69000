/**
 * The learning-rate scheduler base class and the structural optimizer interface it needs.
 *
 * Schedulers follow `torch.optim.lr_scheduler` (torch 1.13): the constructor performs an initial
 * step (`lastEpoch` becomes 0 and each group's `lr` is set to the schedule's first value), and every
 * later {@linkcode LRScheduler.step} advances the schedule by one unit (an epoch or a batch,
 * whichever the caller decides) and writes the new `lr` into every parameter group.
 *
 * @module
 */

/**
 * The part of an optimizer parameter group that schedulers read and write: torch's `param_group`
 * dict with camelCase keys. Any optimizer group with a numeric `lr` fits; `momentum` (SGD) or
 * `betas` (Adam, AdamW, Lion) are only needed by schedulers that cycle momentum
 * ({@linkcode OneCycleLR}). Schedulers add `initialLr` (torch's `'initial_lr'`), the learning rate
 * the schedule started from.
 */
export interface SchedulableGroup {
  /** Current learning rate; schedulers overwrite it on every step. */
  lr: number;
  /** SGD-style momentum, cycled by {@linkcode OneCycleLR} when present. */
  momentum?: number;
  /** Adam-style `[beta1, beta2]`; {@linkcode OneCycleLR} cycles `beta1` when present. */
  betas?: readonly [number, number];
  /** Learning rate the schedule started from (torch's `'initial_lr'`), set by the schedulers. */
  initialLr?: number;
}

/** Anything with torch-style mutable parameter groups, e.g. `SGD` or `Adam`. */
export interface Schedulable {
  /** The parameter groups, mutated in place by the scheduler. */
  readonly paramGroups: SchedulableGroup[];
}

/** Options every scheduler accepts. */
export interface LRSchedulerOptions {
  /**
   * Index of the last epoch when resuming, like torch's `last_epoch`; default -1 (start fresh).
   * With a value >= 0 every group must already carry `initialLr` and the constructor's initial step
   * moves the schedule to `lastEpoch + 1`. Prefer {@linkcode LRScheduler.loadStateDict} to resume.
   */
  lastEpoch?: number;
}

/**
 * The JSON-able state of a scheduler, returned by {@linkcode LRScheduler.stateDict}. Concrete
 * schedulers extend it with their own hyperparameters.
 */
export interface LRSchedulerState {
  /** Class name of the scheduler that saved the state, checked on load. */
  scheduler: string;
  /** Index of the last step taken (0 right after construction). */
  lastEpoch: number;
  /** Number of `step()` calls including the constructor's initial step (torch's `_step_count`). */
  stepCount: number;
  /** Learning rate each group started from. */
  baseLrs: number[];
  /** Learning rate of each group after the last step. */
  lastLr: number[];
}

/**
 * Base class of the learning-rate schedulers, the TypeScript twin of torch's
 * `torch.optim.lr_scheduler.LRScheduler` (`_LRScheduler` in torch 1.13).
 *
 * The constructor records each group's `initialLr` (keeping one that is already there, like
 * torch's `group.setdefault('initial_lr', group['lr'])`) as {@linkcode LRScheduler.baseLrs}.
 * Subclasses implement {@linkcode LRScheduler.getLr} (torch's chainable `get_lr`, which may read
 * the groups' current `lr`) and call {@linkcode LRScheduler.initialStep} as the last statement of
 * their constructor, which performs torch's initial step (`lastEpoch` -1 → 0).
 *
 * Differences from torch: `step()` takes no epoch argument (torch deprecated it); there is no
 * warning about calling it before `optimizer.step()`; a `step()` that throws leaves the scheduler
 * unchanged; and {@linkcode LRScheduler.loadStateDict} also writes `lr` and `initialLr` back into
 * the groups, so a scheduler restored into a fresh optimizer continues the same sequence.
 *
 * See https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate.
 *
 * @example Writing a scheduler
 * ```ts
 * import { LRScheduler, type Schedulable } from "./lr_scheduler.ts";
 *
 * class HalveEveryStep extends LRScheduler {
 *   constructor(optimizer: Schedulable) {
 *     super(optimizer, { name: "HalveEveryStep" });
 *     this.initialStep();
 *   }
 *   protected getLr(): number[] {
 *     return this.baseLrs.map((lr) => lr * 0.5 ** this.lastEpoch);
 *   }
 * }
 * const opt = { paramGroups: [{ lr: 0.1 }] };
 * const sched = new HalveEveryStep(opt);
 * sched.step();
 * console.log(opt.paramGroups[0].lr); // 0.05
 * ```
 */
export abstract class LRScheduler {
  /** The optimizer whose groups are scheduled. */
  readonly optimizer: Schedulable;
  /** Class name used in error messages and saved in the state dict. */
  readonly name: string;
  /** Index of the last step taken: 0 after construction, +1 per {@linkcode LRScheduler.step}. */
  lastEpoch: number;
  /** Learning rate each group started from (the groups' `initialLr`). */
  baseLrs: number[];
  /** Number of `step()` calls including the initial one (torch's `_step_count`). */
  protected stepCount = 0;
  #lastLr: number[] = [];
  #started = false;

  /**
   * Attaches the scheduler to `optimizer` and records the base learning rates. Does not step:
   * subclasses call {@linkcode LRScheduler.initialStep} once their own fields are set.
   *
   * @param optimizer Object with torch-style `paramGroups`, each with a numeric `lr`.
   * @param options `name` of the concrete class (for messages) and `lastEpoch` (default -1).
   * @throws {TypeError} if a group has no finite `lr`, or if resuming (`lastEpoch >= 0`) and a
   *   group has no `initialLr`.
   * @throws {RangeError} if `lastEpoch` is not an integer >= -1.
   */
  constructor(optimizer: Schedulable, options: LRSchedulerOptions & { name: string }) {
    const { name, lastEpoch = -1 } = options;
    this.name = name;
    this.optimizer = optimizer;
    checkInt(name, "lastEpoch", lastEpoch, -1);
    const groups = checkGroups(name, optimizer);
    groups.forEach((group, i) => {
      if (lastEpoch === -1) {
        group.initialLr ??= group.lr;
      } else if (typeof group.initialLr !== "number") {
        throw new TypeError(
          `${name}: paramGroups[${i}] has no initialLr, required when resuming with lastEpoch ${lastEpoch}`,
        );
      }
    });
    this.baseLrs = groups.map((group) => group.initialLr!);
    this.lastEpoch = lastEpoch;
  }

  /**
   * Performs torch's initial step. Concrete schedulers call it as the last statement of their
   * constructor; later calls do nothing.
   */
  protected initialStep(): void {
    if (this.#started) return;
    this.#started = true;
    this.stepCount = 0;
    this.step();
  }

  /**
   * Learning rate of every group at step `lastEpoch` (already advanced), in torch's chainable
   * form: it may read each group's current `lr`, which still holds the previous step's value.
   */
  protected abstract getLr(): number[];

  /**
   * Advances the schedule by one unit and writes the new learning rates into the groups. Call it
   * once per epoch for per-epoch schedules and once per batch for per-batch ones (e.g.
   * {@linkcode OneCycleLR}), after `optimizer.step()`, exactly like torch.
   *
   * @throws {RangeError} when the schedule is exhausted ({@linkcode OneCycleLR}); the scheduler and
   *   the groups are then left unchanged.
   */
  step(): void {
    this.stepCount += 1;
    this.lastEpoch += 1;
    let values: number[];
    try {
      values = this.getLr();
    } catch (error) {
      this.stepCount -= 1;
      this.lastEpoch -= 1;
      throw error;
    }
    const groups = this.optimizer.paramGroups;
    groups.forEach((group, i) => group.lr = values[i]);
    this.#lastLr = groups.map((group) => group.lr);
  }

  /** Learning rate of each group after the last step (torch's `get_last_lr()`). */
  getLastLr(): number[] {
    return [...this.#lastLr];
  }

  /**
   * Everything needed to continue the schedule: `lastEpoch`, `stepCount`, `baseLrs`, `lastLr` and
   * the scheduler's own hyperparameters, as a plain JSON-able object (functions such as
   * {@linkcode LambdaLR}'s `lrLambda` are not saved, like torch).
   */
  stateDict(): LRSchedulerState {
    return {
      scheduler: this.name,
      lastEpoch: this.lastEpoch,
      stepCount: this.stepCount,
      baseLrs: [...this.baseLrs],
      lastLr: [...this.#lastLr],
    };
  }

  /**
   * Restores a state saved by {@linkcode LRScheduler.stateDict} of the same scheduler class, and
   * writes `lr = lastLr[i]` and `initialLr = baseLrs[i]` into each group so that stepping continues
   * the saved sequence even in a freshly built optimizer.
   *
   * @param state The saved state (e.g. after a `JSON.stringify`/`JSON.parse` round trip).
   * @throws {TypeError} if the state was saved by another scheduler class, or its per-group arrays
   *   do not match the number of parameter groups.
   * @throws {RangeError} if a saved counter or hyperparameter is out of range; nothing is changed.
   */
  loadStateDict(state: LRSchedulerState): void {
    if (state?.scheduler !== this.name) {
      throw new TypeError(
        `${this.name}: cannot load a state dict saved by ${String(state?.scheduler)}`,
      );
    }
    const groups = this.optimizer.paramGroups;
    const baseLrs = groupArray(this.name, state, "baseLrs", groups.length);
    const lastLr = groupArray(this.name, state, "lastLr", groups.length);
    checkInt(this.name, "state dict lastEpoch", state.lastEpoch, 0);
    checkInt(this.name, "state dict stepCount", state.stepCount, 1);
    this.loadOwnState(state);
    this.lastEpoch = state.lastEpoch;
    this.stepCount = state.stepCount;
    this.baseLrs = baseLrs;
    this.#lastLr = lastLr;
    this.#started = true;
    groups.forEach((group, i) => {
      group.initialLr = baseLrs[i];
      group.lr = lastLr[i];
    });
  }

  /**
   * Validates and restores the scheduler's own fields from `state`; called by
   * {@linkcode LRScheduler.loadStateDict} before it restores the base fields, so that a throw
   * leaves the base state untouched. The default restores nothing.
   *
   * @param _state The state being loaded.
   */
  protected loadOwnState(_state: LRSchedulerState): void {}
}

/**
 * The optimizer's parameter groups, checked.
 *
 * @throws {TypeError} unless `optimizer.paramGroups` is a non-empty array of groups with a finite
 *   numeric `lr`.
 */
export function checkGroups(name: string, optimizer: Schedulable): SchedulableGroup[] {
  const groups = optimizer?.paramGroups;
  if (!Array.isArray(groups) || groups.length === 0) {
    throw new TypeError(`${name}: optimizer must have a non-empty paramGroups array`);
  }
  groups.forEach((group, i) => {
    if (typeof group?.lr !== "number" || !Number.isFinite(group.lr)) {
      throw new TypeError(`${name}: paramGroups[${i}].lr must be a finite number`);
    }
  });
  return groups;
}

/**
 * Reads a per-group number array from a saved state.
 *
 * @throws {TypeError} unless `state[key]` is an array of `count` numbers.
 */
export function groupArray(name: string, state: object, key: string, count: number): number[] {
  const value = (state as Record<string, unknown>)[key];
  if (
    !Array.isArray(value) || value.length !== count || value.some((v) => typeof v !== "number")
  ) {
    throw new TypeError(`${name}: state dict ${key} must hold ${count} numbers, one per group`);
  }
  return [...value];
}

/** @throws {RangeError} unless `value` is an integer >= `min`. */
export function checkInt(name: string, option: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${name}: ${option} must be an integer >= ${min}, received ${value}`);
  }
}

/**
 * @throws {RangeError} unless `value` is a finite number within the interval; `lo`/`hi` bounds are
 *   exclusive when `loOpen`/`hiOpen` are set, and an omitted bound is unbounded.
 */
export function checkRange(
  name: string,
  option: string,
  value: number,
  bounds: { lo?: number; hi?: number; loOpen?: boolean; hiOpen?: boolean },
): void {
  const { lo, hi, loOpen = false, hiOpen = false } = bounds;
  const ok = typeof value === "number" && Number.isFinite(value) &&
    (lo === undefined || (loOpen ? value > lo : value >= lo)) &&
    (hi === undefined || (hiOpen ? value < hi : value <= hi));
  if (ok) return;
  let rule: string;
  if (lo !== undefined && hi !== undefined) {
    rule = `in ${loOpen ? "(" : "["}${lo}, ${hi}${hiOpen ? ")" : "]"}`;
  } else if (lo !== undefined) {
    rule = `${loOpen ? ">" : ">="} ${lo}`;
  } else if (hi !== undefined) {
    rule = `${hiOpen ? "<" : "<="} ${hi}`;
  } else {
    rule = "finite";
  }
  throw new RangeError(`${name}: ${option} must be ${rule}, received ${value}`);
}
