/**
 * `Optimizer`: the torch.optim contract in TypeScript, shared by every optimizer of the
 * library — param groups with mutable options, `zeroGrad()`, `step(closure?)`,
 * `stateDict()` / `loadStateDict()` — and the population protocol every optimizer implements
 * (`population/protocol.ts`), so that composites drive any optimizer the same way.
 *
 * Two kinds derive from it: first-order optimizers (`first_order/first_order.ts`: a fused
 * update from the gradients) and population optimizers (`population/population_optimizer.ts`:
 * ask/tell over parameter rows). Nothing here reads from the GPU except
 * {@linkcode Optimizer.stateDict}.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import { FlatParameters, type Parameter } from "../params/flat.ts";
import type { Tensor } from "../tensor.ts";
import type { Losses, MemberRows, PopulationMember, RowNeeds } from "./population/protocol.ts";

/** A closure: runs one forward pass and returns the loss (scalar, or `[P]` for P rows). */
export type Closure = () => Tensor;

/** One param group: its parameters plus option values (mutable; schedulers write `lr`). */
export type ParamGroup<O> = O & { params: Parameter[]; [extra: string]: unknown };

/** Parameters as torch takes them: a list, or groups with per-group option overrides. */
export type ParamsInput<O> =
  | readonly Parameter[]
  | readonly (Partial<O> & { params: Parameter[] })[];

/** Options every optimizer accepts besides its hyperparameters. */
export interface BindOptions {
  /**
   * Row of the parameter buffer this optimizer updates (default 0, the model). Its gradients
   * and state belong to that row; a swarm binds one member per row.
   */
  row?: number;
}

/** Per-parameter state saved by {@linkcode Optimizer.stateDict}: counters and buffers. */
export type ParamStateDict = Record<string, number | Float32Array>;

/** Plain-data checkpoint of an optimizer (JSON structure plus `Float32Array` buffers). */
export interface OptimizerStateDict {
  /** Per-parameter state keyed by the parameter's index, numbered across groups in order. */
  state: Record<number, ParamStateDict>;
  /** Group options with `params` replaced by parameter indices. */
  paramGroups: (Record<string, unknown> & { params: number[] })[];
  /** Optimizer-level state beyond torch's format (counters, seeds, wrapped optimizers). */
  extra?: Record<string, unknown>;
}

/**
 * A run of adjacent parameters sharing a param group (see `Optimizer.segments`): one dispatch
 * of an update or a perturbation covers it.
 *
 * @internal
 */
export interface Segment<O> {
  /** The param group all its parameters belong to. */
  group: ParamGroup<O>;
  /** The parameters, in offset order. */
  params: Parameter[];
  /** First element (offset inside a row). */
  start: number;
  /** One past the last element. */
  end: number;
}

/**
 * Base class of every optimizer: it owns the param groups, the gradient bookkeeping and the
 * checkpoint format; subclasses declare their defaults, validate options and implement
 * `step` and the population protocol ({@linkcode PopulationMember}).
 */
export abstract class Optimizer<O extends object> implements PopulationMember {
  /** Options used for groups that do not override them. */
  readonly defaults: Readonly<O>;
  /** The param groups; their option values may be changed between steps. */
  readonly paramGroups: ParamGroup<O>[] = [];
  /** The parameter buffer all parameters belong to. */
  readonly flat: FlatParameters;
  /** The parameter row this optimizer updates (see {@linkcode bindRow}). */
  row: number;
  /** Per-parameter counters (`step`, ...), created when a parameter first gets a gradient. */
  protected readonly paramState: Map<Parameter, Record<string, number>> = new Map();
  /** The optimizer's name, for error messages. */
  protected readonly name: string;

  /**
   * Builds the param groups over one model's flat parameter buffer.
   *
   * @param name the optimizer's name, for error messages.
   * @param params a parameter list, or param groups with per-group option overrides. When
   *   none of them is in a flat buffer yet, they are put into a new one.
   * @param defaults option values for what a group does not override.
   * @param options the parameter row to update (default 0).
   * @throws {TypeError} for an empty list or group, parameters of different models, or a
   *   parameter in two groups.
   * @throws {RangeError} for an invalid row or option value.
   */
  constructor(name: string, params: ParamsInput<O>, defaults: O, options: BindOptions = {}) {
    this.name = name;
    this.defaults = Object.freeze({ ...defaults });
    const groups = normaliseGroups(name, params);
    const all = groups.flatMap((g) => g.params);
    if (all.every((p) => p.flat === null)) new FlatParameters(all); // loose parameters: one new buffer
    this.flat = all[0].flat!;
    if (this.flat === null || all.some((p) => p.flat !== this.flat)) {
      throw new TypeError(`${name}: all parameters must belong to the same model`);
    }
    this.row = options.row ?? 0;
    this.flat.checkRow(this.row, `${name}: row`);
    for (const group of groups) this.addParamGroup(group);
  }

  /**
   * Moves this optimizer to another parameter row (a swarm gives each member its own).
   *
   * @throws {Error} once the optimizer has state: state belongs to a row.
   */
  bindRow(row: number): void {
    if (this.hasState()) {
      throw new Error(`${this.name}: cannot move to another row once it has state`);
    }
    this.row = row;
  }

  /** Whether the optimizer holds state that belongs to its row. */
  protected hasState(): boolean {
    return this.paramState.size > 0;
  }

  /** The device. */
  get gpu(): Gpu {
    return this.flat.gpu;
  }

  /**
   * Adds a group; missing options come from {@linkcode defaults}.
   *
   * @throws {TypeError} if a parameter is already in another group.
   * @throws {RangeError} if an option is out of range.
   */
  addParamGroup(group: Partial<O> & { params: Parameter[] }): void {
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    for (const p of group.params) {
      if (seen.has(p)) {
        throw new TypeError(`${this.name}: a parameter appears in more than one param group`);
      }
      if (p.flat !== this.flat) {
        throw new TypeError(`${this.name}: all parameters must belong to the same model`);
      }
      seen.add(p);
    }
    const full = { ...cloneOptions(this.defaults), ...group, params: [...group.params] };
    this.validate(full as ParamGroup<O>);
    this.paramGroups.push(full as ParamGroup<O>);
  }

  /** Checks a group's options. @throws {RangeError} naming the option and value. */
  protected abstract validate(group: ParamGroup<O>): void;

  /**
   * Clears the gradients of this optimizer's parameters in its row. By default this is
   * torch's `set_to_none`: no GPU work, and the update skips them until a gradient is set.
   * With `setToNone: false` the gradients become zeros and stay present.
   */
  zeroGrad(options: { setToNone?: boolean } = {}): void {
    if (this.row >= this.flat.rows) return; // a row not made yet (a swarm member) has no gradient
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (options.setToNone === false) {
          if (this.flat.hasGrad(p, this.row)) {
            this.flat.setGrad(p, new Float32Array(p.numel), this.row);
          }
        } else {
          this.flat.setHasGrad(p, this.row, false);
        }
      }
    }
  }

  /**
   * One optimization step.
   *
   * @param closure runs a forward pass and returns the loss; optional for first-order
   *   optimizers, required when {@linkcode requiresClosure}.
   * @returns the loss as a GPU tensor (no readback), or undefined when nothing was evaluated.
   */
  abstract step(closure?: Closure): Tensor | undefined;

  // The population protocol (see population/protocol.ts).

  /** Whether a step evaluates parameter rows, so that `step()` needs a closure. */
  abstract get requiresClosure(): boolean;

  /** The rows one step needs besides the home row. */
  abstract rowNeeds(): RowNeeds;

  /**
   * Records the writes of this step's candidates.
   * @returns the rows to evaluate.
   */
  abstract propose(rows: MemberRows): readonly number[];

  /** Records what follows the evaluation of the rows {@linkcode propose} asked for. */
  abstract accept(losses: Losses | null, rows: MemberRows, report: Tensor): void;

  /**
   * Runs of adjacent parameters that share a group and a `key` (e.g. the step count), ready
   * for one dispatch each; by default only parameters with a gradient in this optimizer's row
   * (`include`). Calls `touch` on each included parameter first (to create its state).
   */
  protected segments(
    key: (p: Parameter) => string | number = () => 0,
    touch?: (p: Parameter) => void,
    include: (p: Parameter) => boolean = (p) => this.flat.hasGrad(p, this.row),
  ): Segment<O>[] {
    const items: { group: ParamGroup<O>; p: Parameter; k: string | number }[] = [];
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (!include(p)) continue;
        touch?.(p);
        items.push({ group, p, k: key(p) });
      }
    }
    items.sort((a, b) => a.p.offset - b.p.offset);
    const out: Segment<O>[] = [];
    for (const { group, p, k } of items) {
      const last = out.at(-1);
      const lastKey = last === undefined ? undefined : key(last.params.at(-1)!);
      if (
        last !== undefined && last.group === group && lastKey === k &&
        alignUp(last.end) === p.offset
      ) {
        last.params.push(p);
        last.end = p.offset + p.numel;
      } else {
        out.push({ group, params: [p], start: p.offset, end: p.offset + p.numel });
      }
    }
    return out;
  }

  /**
   * Per-parameter state kept in row-length buffers, by name (read once each); default none.
   * {@linkcode stateDict} slices them per parameter.
   */
  protected stateRows(): Promise<Map<string, Float32Array>> {
    return Promise.resolve(new Map());
  }

  /**
   * Restores one parameter's slice of a row-length state buffer ({@linkcode stateRows}).
   *
   * @throws {TypeError} by default: an optimizer without such state has no field to restore.
   */
  protected loadStateRow(field: string, _param: Parameter, _values: Float32Array): void {
    throw new TypeError(`${this.name}.loadStateDict: unexpected per-parameter state "${field}"`);
  }

  /** Reads every state buffer once and packs a torch-shaped checkpoint. */
  async stateDict(): Promise<OptimizerStateDict> {
    const rows = await this.stateRows();
    const state: Record<number, ParamStateDict> = {};
    const paramGroups: OptimizerStateDict["paramGroups"] = [];
    let index = 0;
    for (const group of this.paramGroups) {
      const { params, ...options } = group;
      const indices: number[] = [];
      for (const p of params) {
        const counters = this.paramState.get(p);
        if (counters !== undefined) {
          const entry: ParamStateDict = { ...counters };
          for (const [name, row] of rows) entry[name] = row.slice(p.offset, p.offset + p.numel);
          state[index] = entry;
        }
        indices.push(index++);
      }
      paramGroups.push({ ...cloneOptions(options, true), params: indices });
    }
    const extra = await this.extraState();
    return extra === undefined ? { state, paramGroups } : { state, paramGroups, extra };
  }

  /** Optimizer-level state to checkpoint besides groups and per-parameter state. */
  protected extraState(): Promise<Record<string, unknown> | undefined> {
    return Promise.resolve(undefined);
  }

  /** Restores what {@linkcode extraState} saved. */
  protected loadExtraState(_extra: Record<string, unknown> | undefined): void {}

  /**
   * Throws if `extra` cannot be loaded; called by `loadStateDict` before it changes anything,
   * so a refused state dict leaves the optimizer as it was.
   */
  protected checkExtraState(_extra: Record<string, unknown> | undefined): void {}

  /**
   * Restores a checkpoint from {@linkcode stateDict} into an optimizer over the same model.
   *
   * @throws {TypeError} if the groups or parameter sizes do not match.
   */
  loadStateDict(dict: OptimizerStateDict): void {
    const name = this.name;
    if (dict.paramGroups.length !== this.paramGroups.length) {
      throw new TypeError(
        `${name}.loadStateDict: ${dict.paramGroups.length} param groups, expected ${this.paramGroups.length}`,
      );
    }
    const params = this.paramGroups.flatMap((g) => g.params);
    dict.paramGroups.forEach((saved, g) => {
      if (saved.params.length !== this.paramGroups[g].params.length) {
        throw new TypeError(
          `${name}.loadStateDict: group ${g} has ${saved.params.length} parameters, expected ${
            this.paramGroups[g].params.length
          }`,
        );
      }
    });
    for (const [key, entry] of Object.entries(dict.state)) {
      const p = params[Number(key)];
      if (p === undefined) throw new TypeError(`${name}.loadStateDict: no parameter ${key}`);
      for (const [field, value] of Object.entries(entry)) {
        if (value instanceof Float32Array && value.length !== p.numel) {
          throw new TypeError(
            `${name}.loadStateDict: state "${field}" of parameter ${key} has ${value.length} values, expected ${p.numel}`,
          );
        }
      }
    }
    this.checkExtraState(dict.extra);
    dict.paramGroups.forEach((saved, g) => {
      const { params: _, ...options } = saved;
      Object.assign(this.paramGroups[g], cloneOptions(options));
    });
    this.paramState.clear();
    for (const [key, entry] of Object.entries(dict.state)) {
      const p = params[Number(key)];
      const counters: Record<string, number> = {};
      for (const [field, value] of Object.entries(entry)) {
        if (typeof value === "number") counters[field] = value;
        else this.loadStateRow(field, p, Float32Array.from(value));
      }
      this.paramState.set(p, counters);
    }
    this.loadExtraState(dict.extra);
  }

  /** Returns the optimizer's GPU state to the pool. */
  dispose(): void {
    this.paramState.clear();
  }
}

/** Copies option values (arrays too); with `plain`, drops functions (they are not data). */
function cloneOptions(options: object, plain = false): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (
      plain &&
      (typeof value === "function" ||
        typeof value === "object" && value !== null && !Array.isArray(value))
    ) continue;
    out[key] = Array.isArray(value) ? [...value] : value;
  }
  return out;
}

function alignUp(n: number): number {
  return Math.ceil(n / 4) * 4;
}

function normaliseGroups<O>(
  name: string,
  params: ParamsInput<O>,
): (Partial<O> & { params: Parameter[] })[] {
  if (params.length === 0) throw new TypeError(`${name}: got an empty parameter list`);
  const first = params[0] as unknown;
  if (typeof first === "object" && first !== null && "params" in first) {
    return (params as (Partial<O> & { params: Parameter[] })[]).map((g) => {
      if (g.params.length === 0) throw new TypeError(`${name}: a param group has no parameters`);
      return g;
    });
  }
  return [{ params: [...(params as Parameter[])] } as Partial<O> & { params: Parameter[] }];
}

/** @throws {RangeError} unless `value` is finite and ≥ `min`. */
export function checkMin(optimizer: string, option: string, value: unknown, min = 0): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
    throw new RangeError(`${optimizer}: ${option} must be >= ${min}, received ${value}`);
  }
}

/** @throws {RangeError} unless `value` is in [0, 1). */
export function checkUnit(optimizer: string, option: string, value: unknown): void {
  if (typeof value !== "number" || !(value >= 0 && value < 1)) {
    throw new RangeError(`${optimizer}: ${option} must be in [0, 1), received ${value}`);
  }
}

/** @throws {RangeError} unless `value` is finite and > 0. */
export function checkPositive(optimizer: string, option: string, value: unknown): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${optimizer}: ${option} must be > 0, received ${value}`);
  }
}
