/**
 * `PopulationOptimizer`: the base of every optimizer that evaluates several parameter rows per
 * step (the derivative-free methods, the swarm, the chain), with the public ask/tell interface
 * in the spirit of evosax, pycma and nevergrad:
 *
 * ```ts ignore
 * const population = opt.ask();           // the rows to evaluate, [P, stride] on the GPU
 * const losses = population.size > 0 ? closure() : undefined; // or host losses (numbers)
 * const report = opt.tell(losses);        // decisions on the GPU; the step is done
 * ```
 *
 * `step(closure)` is exactly that: ask → closure → tell, one closure call, no readback.
 * Subclasses implement the population protocol (`protocol.ts`): `rowNeeds`, `propose`,
 * `accept`.
 *
 * @module
 */

import type { FlatParameters, Parameter } from "../../params/flat.ts";
import { fill } from "../../ops/elementwise.ts";
import { Tensor, tensor, tidy } from "../../tensor.ts";
import {
  type BindOptions,
  type Closure,
  Optimizer,
  type ParamsInput,
  type Segment,
} from "../optimizer.ts";
import {
  EvaluatedLosses,
  type EvaluationPlan,
  lossesPerRow,
  planEvaluation,
  rowMeans,
} from "./evaluation.ts";
import { type NoiseCoords, type SamplerFn, samplerKind, type StoredNoise } from "./noise.ts";
import { layoutRows, type Losses, type MemberRows, type RowNeeds, rowsNeeded } from "./protocol.ts";
import { StateLayout } from "./state_layout.ts";

/** Options shared by the population optimizers besides their hyperparameters. */
export interface PopulationBind extends BindOptions {
  /**
   * Seed of every random draw (u32). The same seed gives the same trajectory on the same
   * adapter. Default 0.
   */
  seed?: number;
}

/** 32-bit FNV-1a hash, used to give each optimizer class its own random stream. */
export function streamOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * What {@linkcode PopulationOptimizer.ask} returns: the parameter rows a step needs evaluated.
 * While it is pending, the model's forward pass evaluates exactly these rows.
 */
export class Population {
  /** Number of rows to evaluate, P (0 when this step evaluates nothing). */
  readonly size: number;
  readonly #flat: FlatParameters;
  readonly #start: number;
  readonly #host: readonly Float32Array[] | null;

  /**
   * @internal Built by `ask()`.
   * @param host the rows' values when the optimizer made them on the host (no readback then).
   */
  constructor(flat: FlatParameters, plan: EvaluationPlan, host: readonly Float32Array[] | null) {
    this.#flat = flat;
    this.#start = plan.start;
    this.size = plan.count;
    this.#host = host;
  }

  /** Elements per row of {@linkcode rows}: the parameter count N plus alignment gaps. */
  get stride(): number {
    return this.#flat.stride;
  }

  /**
   * The rows on the GPU as a population view `[P, stride]`: parameter `p` of row `r` is
   * elements `p.offset .. p.offset + p.numel` of `rows[r]` (the gaps between parameters hold
   * zeros; with one parameter of N elements they are its N values). Each parameter's own view,
   * `p.view()`, is `[P, ...p.shape]` while the ask is pending. The view owns nothing.
   *
   * @throws {RangeError} when the step evaluates nothing (size 0).
   */
  get rows(): Tensor {
    if (this.size === 0) throw new RangeError("Population.rows: this step evaluates no rows");
    const flat = this.#flat;
    return Tensor.view(flat.gpu, flat.buffer, [this.size, flat.stride], {
      population: true,
      offset: this.#start * flat.stride,
      rowStride: flat.stride,
    });
  }

  /**
   * The rows on the host: P vectors of N values, parameters in model order without the gaps —
   * what a host objective evaluates. One readback, or none when the optimizer computed the rows
   * on the host (CMAES).
   */
  read(): Promise<Float32Array[]> {
    if (this.#host !== null) return Promise.resolve(this.#host.map((r) => r.slice()));
    return this.#flat.readRows(this.#start, this.size);
  }
}

interface Pending {
  readonly rows: MemberRows;
  readonly plan: EvaluationPlan;
  readonly population: Population;
  /** The active window before `ask()`, restored by `tell()`. */
  readonly previous: { start: number; count: number };
}

/**
 * Base class of the population optimizers: `ask()` lays out the rows and lets the subclass
 * propose candidates, `tell(losses)` lets it accept them, `step(closure)` is the two around
 * one closure call. Subclasses implement {@linkcode rowNeeds}, {@linkcode propose} and
 * {@linkcode accept}, and describe their small GPU state with {@linkcode stateLayout}.
 */
export abstract class PopulationOptimizer<O extends object> extends Optimizer<O> {
  /** Seed of the random draws. */
  seed: number;
  /** Random stream (key word 1), distinct per optimizer class and swarm member. */
  stream: number;
  /** Steps taken; the counter coordinate of this step's noise. */
  stepCount = 0;
  #state: GPUBuffer | null = null;
  #stateFloats = 0;
  #noise: GPUBuffer | null = null;
  #stored: StoredNoise | undefined;
  #pending: Pending | null = null;
  #told = false;
  #report: Tensor | null = null;
  #midStep = false;

  /**
   * Builds the param groups (see {@linkcode Optimizer}) and the random key.
   *
   * @param name the optimizer's name: error messages, and the hash that gives its
   *   {@linkcode stream}.
   * @param params parameters of one model, or param groups with per-group overrides.
   * @param defaults option values for what a group does not override.
   * @param options the home row (default 0) and the seed (default 0).
   * @throws {RangeError} unless the seed is an integer in [0, 2^32), or for an invalid row or
   *   option value.
   * @throws {TypeError} for an empty list or group, or parameters of different models.
   */
  constructor(name: string, params: ParamsInput<O>, defaults: O, options: PopulationBind = {}) {
    super(name, params, defaults, { row: options.row });
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
      throw new RangeError(`${name}: seed must be an integer in [0, 2^32), received ${seed}`);
    }
    this.seed = seed;
    this.stream = streamOf(name);
  }

  /** True: a step evaluates rows. */
  get requiresClosure(): boolean {
    return true;
  }

  /** The rows one step needs besides the home row. */
  abstract override rowNeeds(): RowNeeds;

  /**
   * Writes this step's candidates into `rows` (recorded on the GPU, not run).
   * @returns the rows the closure must evaluate.
   */
  abstract override propose(rows: MemberRows): readonly number[];

  /**
   * Records the work that follows the evaluation (null when nothing was evaluated): decisions
   * from the losses, gradients or row selection, inner optimizer steps. Writes the loss the
   * step reports into `report` and advances {@linkcode stepCount}.
   */
  abstract override accept(losses: Losses | null, rows: MemberRows, report: Tensor): void;

  /**
   * Rows one step uses after the home row, all roles together.
   * @deprecated Use {@linkcode rowNeeds}, which names the rows by role.
   */
  scratchRows(): number {
    return rowsNeeded(this.rowNeeds());
  }

  /**
   * The parameter rows to evaluate for this step: lays out the rows, writes the candidates
   * (on the GPU) and makes the model's forward pass evaluate exactly them until
   * {@linkcode tell}. Asking again before `tell` returns the same pending population.
   *
   * @returns the population; `size` 0 when this step evaluates nothing (then `tell()` with no
   *   losses).
   */
  ask(): Population {
    let pending = this.#pending;
    if (pending === null) {
      const { rows, requested } = this.beginRound();
      const staging = rows.work.first + rows.work.count;
      const plan = planEvaluation(this.flat, requested, staging);
      pending = {
        rows,
        plan,
        population: new Population(this.flat, plan, this.hostRows(plan.rows)),
        previous: this.flat.active,
      };
      this.#pending = pending;
    }
    if (pending.plan.count > 0) this.flat.setActive(pending.plan.count, pending.plan.start);
    return pending.population;
  }

  /**
   * Hands the losses of the asked rows to the optimizer, which decides on the GPU and updates
   * (no readback). NaN and infinite losses never win a comparison.
   *
   * @param losses one loss per asked row: a GPU tensor `[P]` (or `[P, B]` per-example losses,
   *   which makes comparisons exact to the last bit), or P numbers from the host; nothing when
   *   `ask()` returned an empty population. A tensor stays the caller's.
   * @returns the loss this optimizer reports for the step (see each class), a one-element GPU
   *   tensor the caller disposes.
   * @throws {Error} before any `ask()`, or a second time for one `ask()`.
   * @throws {TypeError} for the wrong number of losses. No state changes on any error.
   */
  tell(losses?: Tensor | ArrayLike<number>): Tensor {
    const pending = this.#pending;
    if (pending === null) {
      throw new Error(
        this.#told
          ? `${this.name}.tell: these losses were already told; call ask() for the next rows`
          : `${this.name}.tell: nothing was asked; call ask() first`,
      );
    }
    const count = pending.plan.count;
    let loss: Tensor | null = null;
    let host: Float64Array | undefined;
    let owned = false;
    if (count === 0) {
      if (losses !== undefined && !(isArrayLike(losses) && losses.length === 0)) {
        throw new TypeError(`${this.name}.tell: no rows were asked for, so no losses are expected`);
      }
    } else if (losses instanceof Tensor) {
      if (this.needsHostLosses) {
        throw new TypeError(
          `${this.name}.tell: this optimizer ranks on the host; tell the losses as numbers ` +
            "(or use stepAsync, which reads them back)",
        );
      }
      lossesPerRow(losses, count, `${this.name}.tell: ${count} rows were asked for; expected`);
      loss = losses;
    } else {
      host = hostValues(this.name, losses, count);
      loss = tensor(Float32Array.from(host), [count], { gpu: this.gpu });
      owned = true;
    }
    this.#pending = null;
    this.#told = true;
    this.#deactivate(pending);
    const report = this.#report ??= fill(Tensor.empty([], { gpu: this.gpu }), NaN);
    try {
      const evaluated = loss === null
        ? null
        : new EvaluatedLosses(loss, loss.numel / count, pending.plan.rows, host);
      this.#midStep = !this.endRound(evaluated, pending.rows, report);
    } finally {
      if (owned) loss!.dispose();
      this.#report = null;
    }
    return report;
  }

  /**
   * One step: {@linkcode ask}, the closure (inside `tidy`) when rows must be evaluated,
   * {@linkcode tell}. One closure call, no readback.
   *
   * @param closure runs the forward pass and returns a loss per evaluated row (`[P]`, or a
   *   scalar for one row), or per example (`[P, B]`, e.g. `crossEntropy(out, y, { reduction:
   *   "none" })`), which makes the comparisons exact to the last bit.
   * @returns the loss this optimizer reports (see each class), as a one-element GPU tensor.
   * @throws {TypeError} without a closure when rows must be evaluated, or when it returns a
   *   loss of the wrong size; the step can then be taken again.
   */
  override step(closure?: Closure): Tensor {
    if (this.needsHostLosses) {
      throw new TypeError(
        `${this.name}.step: this optimizer ranks on the host and reads the losses back; ` +
          "use `await opt.stepAsync(closure)`",
      );
    }
    for (;;) {
      const population = this.ask();
      let loss: Tensor | undefined;
      if (population.size > 0) {
        try {
          if (closure === undefined) throw new TypeError(`${this.name}.step needs a closure`);
          loss = tidy(closure);
          lossesPerRow(
            loss,
            population.size,
            `The closure evaluated ${population.size} rows and must return`,
          );
        } catch (error) {
          loss?.dispose();
          this.#deactivate(this.#pending!);
          throw error;
        }
      }
      let report: Tensor;
      try {
        report = this.tell(loss);
      } finally {
        loss?.dispose();
      }
      if (!this.#midStep) return report;
      report.dispose();
    }
  }

  /**
   * One step that reads the losses back to the host (one readback of P values per
   * evaluation): for optimizers that rank on the host ({@linkcode needsHostLosses}), and usable
   * with any other. Per-example losses (`[P, B]`) are averaged per row in float64.
   *
   * @returns the loss this optimizer reports, as a one-element GPU tensor.
   * @throws {TypeError} as {@linkcode step}.
   */
  async stepAsync(closure?: Closure): Promise<Tensor> {
    await this.prepare();
    for (;;) {
      const population = this.ask();
      let host: Float32Array | undefined;
      if (population.size > 0) {
        let loss: Tensor | undefined;
        try {
          if (closure === undefined) throw new TypeError(`${this.name}.step needs a closure`);
          loss = tidy(closure);
          const per = lossesPerRow(
            loss,
            population.size,
            `The closure evaluated ${population.size} rows and must return`,
          );
          host = rowMeans(await loss.read(), per);
        } catch (error) {
          this.#deactivate(this.#pending!);
          throw error;
        } finally {
          loss?.dispose();
        }
      }
      const report = this.tell(host);
      if (!this.#midStep) return report;
      report.dispose();
    }
  }

  /**
   * Whether `tell` needs the losses on the host (as numbers): true for optimizers that rank
   * on the host. Default false: the GPU ranks.
   */
  protected get needsHostLosses(): boolean {
    return false;
  }

  /**
   * Work an async driver (`stepAsync`, `minimize`) awaits before asking: e.g. reading the
   * starting point to the host. Default: nothing.
   */
  prepare(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * The point this optimizer stands at, N values in parameter order: its home row (one
   * readback), or where an optimizer keeps it (CMAES: on the host).
   */
  center(): Promise<Float32Array> {
    return this.flat.readRow(this.row);
  }

  /**
   * The asked rows' values when the optimizer made them on the host, so `Population.read()`
   * needs no readback; null by default.
   */
  protected hostRows(_rows: readonly number[]): readonly Float32Array[] | null {
    return null;
  }

  /**
   * Starts one evaluation round of a step: lays out the rows and proposes. One round per step
   * unless a subclass evaluates in several (a chain whose links move one after another).
   */
  protected beginRound(): { rows: MemberRows; requested: readonly number[] } {
    const rows = layoutRows(this.row, this.rowNeeds());
    const end = rows.work.first + rows.work.count;
    if (this.flat.rows < end) this.flat.setRows(end);
    return { rows, requested: this.propose(rows) };
  }

  /**
   * Ends the round {@linkcode beginRound} started.
   * @returns whether the step is complete (default: always).
   */
  protected endRound(losses: Losses | null, rows: MemberRows, report: Tensor): boolean {
    this.accept(losses, rows, report);
    return true;
  }

  /** The report of the step under way, created NaN-filled on first use. */
  protected get stepReport(): Tensor {
    return this.#report ??= fill(Tensor.empty([], { gpu: this.gpu }), NaN);
  }

  #deactivate(pending: Pending): void {
    const { start, count } = pending.previous;
    if (this.flat.rows >= start + count) this.flat.setActive(count, start);
  }

  /**
   * The layout of this optimizer's small GPU state ({@linkcode state}). Default: empty.
   * Called once, when the state is first used.
   */
  protected stateLayout(): StateLayout<string> {
    return new StateLayout({});
  }

  /** The values of a new state record (default: zeros). */
  protected initialState(floats: number): Float32Array {
    return new Float32Array(floats);
  }

  /** Small f32 state on the GPU, laid out by {@linkcode stateLayout}, from {@linkcode initialState}. */
  protected get state(): GPUBuffer {
    if (this.#state === null) {
      const floats = this.#stateFloats = this.stateLayout().floats;
      this.#state = this.gpu.pool.acquire(floats * 4, `${this.name} state`);
      this.gpu.write(this.#state, 0, this.initialState(floats));
    }
    return this.#state;
  }

  /**
   * Runs the user-supplied sampler of the groups (if any) for candidate ids `0 .. count − 1` of
   * this step and keeps the values for the step: call it in `propose` before any noise kernel.
   *
   * @returns what the noise kernels read for kind 3 (also {@linkcode stored} until the next call).
   * @throws {RangeError} if groups use different sampler functions.
   */
  protected storeNoise(count: number): StoredNoise | undefined {
    const fns = new Set(
      this.paramGroups.map((g) => (g as { sampler?: unknown }).sampler).filter((s) =>
        typeof s === "function"
      ),
    );
    if (fns.size === 0) return this.#stored = undefined;
    if (fns.size > 1) {
      throw new RangeError(`${this.name}: all groups must use the same sampler function`);
    }
    const sampler = [...fns][0] as SamplerFn;
    const { gpu, flat } = this;
    const bytes = count * flat.stride * 4;
    if (this.#noise === null || this.#noise.size < bytes) {
      if (this.#noise !== null) gpu.pool.release(this.#noise);
      this.#noise = gpu.pool.acquire(bytes, `${this.name} stored noise`);
    }
    for (let id = 0; id < count; id++) {
      const row = Tensor.view(gpu, this.#noise, [flat.stride], { offset: id * flat.stride });
      sampler(row, { seed: this.seed, stream: this.stream, step: this.stepCount, candidate: id });
      row.dispose();
    }
    return this.#stored = { buffer: this.#noise, stride: flat.stride };
  }

  /** The noise {@linkcode storeNoise} stored this step, if a user-supplied sampler is in use. */
  protected get stored(): StoredNoise | undefined {
    return this.#stored;
  }

  /**
   * Where this step's noise comes from for a group's sampler: this optimizer's key, the step
   * counter, candidate ids from 0, and the stored values of a user-supplied sampler.
   */
  protected noise(sampler: unknown): NoiseCoords {
    return {
      seed: this.seed,
      stream: this.stream,
      counter: this.stepCount,
      idBase: 0,
      kind: samplerKind(this.name, sampler),
      stored: this.stored,
    };
  }

  /** Runs of trainable parameters (`requiresGrad`) sharing a group: what gets perturbed. */
  protected spans(): Segment<O>[] {
    return this.segments(() => 0, undefined, (p: Parameter) => p.requiresGrad);
  }

  /** Step count, seed, stream and the small GPU state (one readback). */
  protected override async extraState(): Promise<Record<string, unknown>> {
    const state = this.#state === null
      ? null
      : new Float32Array(await this.gpu.readBuffer(this.#state, 0, this.#stateFloats * 4));
    return { stepCount: this.stepCount, seed: this.seed, stream: this.stream, state };
  }

  /**
   * Restores what {@linkcode extraState} saved. A state record saved by an older version with
   * another length is copied as far as both reach.
   */
  protected override loadExtraState(extra: Record<string, unknown> | undefined): void {
    if (extra === undefined) return;
    this.stepCount = extra.stepCount as number;
    this.seed = extra.seed as number;
    this.stream = extra.stream as number;
    if (extra.state instanceof Float32Array) {
      const state = this.state;
      const values = new Float32Array(this.#stateFloats);
      values.set(extra.state.subarray(0, values.length));
      this.gpu.write(state, 0, values);
    }
  }

  /** Returns the small state and the stored noise to the pool; a pending ask is dropped. */
  override dispose(): void {
    super.dispose();
    if (this.#pending !== null) this.#deactivate(this.#pending);
    this.#pending = null;
    this.#report?.dispose();
    this.#report = null;
    if (this.#state !== null) this.gpu.pool.release(this.#state);
    if (this.#noise !== null) this.gpu.pool.release(this.#noise);
    this.#state = null;
    this.#noise = null;
  }
}

function isArrayLike(value: unknown): value is ArrayLike<unknown> {
  return typeof value === "object" && value !== null && "length" in value &&
    typeof (value as { length: unknown }).length === "number";
}

/**
 * Host losses as float32 values.
 * @throws {TypeError} unless `losses` holds `count` numbers.
 */
function hostValues(name: string, losses: unknown, count: number): Float64Array {
  if (!isArrayLike(losses)) {
    throw new TypeError(
      `${name}.tell: expected ${count} losses (a Tensor or numbers), received ${losses}`,
    );
  }
  if (losses.length !== count) {
    throw new TypeError(
      `${name}.tell: ${count} rows were asked for; expected ${count} losses, received ${losses.length}`,
    );
  }
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const v = losses[i];
    if (typeof v !== "number") {
      throw new TypeError(`${name}.tell: loss ${i} must be a number, received ${typeof v}`);
    }
    values[i] = v;
  }
  return values;
}
