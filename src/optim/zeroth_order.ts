/**
 * The population protocol shared by every derivative-free optimizer.
 *
 * A step is `propose` (write candidate rows of the parameter buffer) → ONE closure call that
 * evaluates every requested row at once → `accept` (GPU kernels read the loss buffer and
 * write gradients or select rows). Nothing waits for the GPU. A composite optimizer (swarm,
 * gradient chain) merges the proposals of its members into the same single closure call.
 *
 * Rows: an optimizer owns a *home* row (its parameters; row 0, the model, by default) and
 * borrows *scratch* rows for candidates during a step. Standalone, the scratch rows are the
 * rows right after home; a composite assigns them.
 *
 * @module
 */

import type { FlatParameters, Parameter } from "../params/flat.ts";
import { fill } from "../ops/elementwise.ts";
import { formatShape, Tensor, tidy } from "../tensor.ts";
import type { Evaluation, SamplerFn, StoredNoise } from "./_zo_kernels.ts";
import {
  type BindOptions,
  type Closure,
  Optimizer,
  type OptimizerStateDict,
  type ParamsInput,
  type Segment,
} from "./optimizer.ts";

/** Rows assigned to an optimizer for one step. */
export interface RowPlan {
  /** The row holding this optimizer's parameters. */
  readonly home: number;
  /** Rows it may overwrite with candidates during the step. */
  readonly scratch: readonly number[];
}

/** Options shared by the derivative-free optimizers besides their hyperparameters. */
export interface ZerothOrderBind extends BindOptions {
  /**
   * Seed of every random draw (u32). The same seed gives the same trajectory on the same
   * adapter. Default 0.
   */
  seed?: number;
}

/** Floats in each derivative-free optimizer's GPU state buffer. */
export const STATE_FLOATS = 256;

/** 32-bit FNV-1a hash, used to give each optimizer class its own random stream. */
export function streamOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * Base class of the derivative-free optimizers: `step(closure)` runs the population protocol.
 * Subclasses implement {@linkcode scratchRows}, {@linkcode propose} and {@linkcode accept}.
 */
export abstract class ZerothOrderOptimizer<O extends object> extends Optimizer<O> {
  /** Seed of the random draws. */
  seed: number;
  /** Random stream (key word 1), distinct per optimizer class and swarm member. */
  stream: number;
  /** Steps taken; the counter coordinate of this step's noise. */
  stepCount = 0;
  readonly #name: string;
  #inner: Optimizer<object> | null = null;
  #state: GPUBuffer | null = null;
  #noise: GPUBuffer | null = null;
  #stored: StoredNoise | undefined;

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
  constructor(name: string, params: ParamsInput<O>, defaults: O, options: ZerothOrderBind = {}) {
    super(name, params, defaults, { row: options.row });
    this.#name = name;
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
      throw new RangeError(`${name}: seed must be an integer in [0, 2^32), received ${seed}`);
    }
    this.seed = seed;
    this.stream = streamOf(name);
  }

  /**
   * The optimizer this one steps after setting gradients (RandomGrad's inner AdamW, the
   * optimizer UpdateToGrad wraps), or null. It moves rows and is checkpointed with this one.
   */
  get opt(): Optimizer<object> | null {
    return this.#inner;
  }

  /** Sets {@linkcode opt}. @throws {TypeError} unless it is over the same model and row. */
  protected setInner(opt: Optimizer<object> | null): void {
    if (opt !== null && (opt.flat !== this.flat || opt.row !== this.row)) {
      throw new TypeError(
        `${this.#name}: the inner optimizer must be over the same model and row ` +
          `(it is bound to row ${opt.row}, expected ${this.row})`,
      );
    }
    this.#inner = opt;
  }

  /**
   * Moves this optimizer, and its inner optimizer if any, to another home row.
   *
   * @throws {Error} once either has state: state belongs to a row.
   */
  override bindRow(row: number): void {
    super.bindRow(row);
    this.#inner?.bindRow(row);
  }

  /** Scratch rows one step may use. */
  abstract scratchRows(): number;

  /**
   * Writes this step's candidates into scratch rows (recorded on the GPU, not run).
   * @returns the rows the closure must evaluate (home and/or scratch rows); none for a
   *   wrapper around a first-order optimizer.
   */
  abstract propose(plan: RowPlan): number[];

  /**
   * Records the work that follows the evaluation (null when nothing was evaluated):
   * decisions from the losses, gradients or row selection, inner optimizer steps. Writes the
   * loss `step()` returns into `report` and advances {@linkcode stepCount}.
   */
  abstract accept(ev: Evaluation | null, plan: RowPlan, report: Tensor): void;

  /**
   * One step: propose, evaluate every candidate row in one closure call, accept.
   *
   * @param closure runs the forward pass and returns a loss per evaluated row (`[P]`, or a
   *   scalar for one row), or per example (`[P, B]`, e.g. `crossEntropy(out, y, { reduction:
   *   "none" })`), which makes the comparisons exact to the last bit.
   * @returns the loss this optimizer reports (see each class), as a one-element GPU tensor.
   * @throws {TypeError} without a closure when rows must be evaluated, or when it returns a
   *   loss of the wrong size.
   */
  override step(closure?: Closure): Tensor {
    const plan = reserveRows(this.flat, this.row, this.scratchRows());
    const rows = this.propose(plan);
    if (rows.length > 0 && closure === undefined) {
      throw new TypeError(`${this.#name}.step needs a closure`);
    }
    const ev = rows.length === 0 ? null : evaluate(this.flat, rows, closure!);
    const report = fill(Tensor.empty([], { gpu: this.gpu }), NaN);
    try {
      this.accept(ev, plan, report);
    } finally {
      ev?.loss.dispose();
    }
    return report;
  }

  /** A derivative-free optimizer updates in {@linkcode accept}; `update` is not used. */
  protected update(): void {}

  /** None: per-parameter state is not kept (the small state buffer goes in `extra`). */
  protected stateBuffers(): string[] {
    return [];
  }

  /** Small f32 state on the GPU (decisions, coefficients, lowest loss), zero-filled. */
  protected get state(): GPUBuffer {
    if (this.#state === null) {
      this.#state = this.gpu.pool.acquire(STATE_FLOATS * 4, `${this.#name} state`);
      this.gpu.write(this.#state, 0, new Float32Array(STATE_FLOATS));
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
      throw new RangeError(`${this.#name}: all groups must use the same sampler function`);
    }
    const sampler = [...fns][0] as SamplerFn;
    const { gpu, flat } = this;
    const bytes = count * flat.stride * 4;
    if (this.#noise === null || this.#noise.size < bytes) {
      if (this.#noise !== null) gpu.pool.release(this.#noise);
      this.#noise = gpu.pool.acquire(bytes, `${this.#name} stored noise`);
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

  /** Runs of trainable parameters (`requiresGrad`) sharing a group: what gets perturbed. */
  protected spans(): Segment<O>[] {
    return this.segments(() => 0, undefined, (p: Parameter) => p.requiresGrad);
  }

  /**
   * Step count, seed, stream, the small GPU state (one readback) and the inner optimizer's
   * checkpoint.
   */
  protected override async extraState(): Promise<Record<string, unknown>> {
    const state = this.#state === null
      ? null
      : new Float32Array(await this.gpu.readBuffer(this.#state, 0, STATE_FLOATS * 4));
    const own = { stepCount: this.stepCount, seed: this.seed, stream: this.stream, state };
    return this.#inner === null ? own : { ...own, opt: await this.#inner.stateDict() };
  }

  /** Restores what {@linkcode extraState} saved (the inner optimizer's part if it has one). */
  protected override loadExtraState(extra: Record<string, unknown> | undefined): void {
    if (extra === undefined) return;
    this.stepCount = extra.stepCount as number;
    this.seed = extra.seed as number;
    this.stream = extra.stream as number;
    if (extra.state instanceof Float32Array) this.gpu.write(this.state, 0, extra.state);
    if (extra.opt !== undefined && this.#inner !== null) {
      this.#inner.loadStateDict(extra.opt as OptimizerStateDict);
    }
  }

  /** Returns the state buffers, the small state and the stored noise to the pool. */
  override dispose(): void {
    super.dispose();
    if (this.#state !== null) this.gpu.pool.release(this.#state);
    if (this.#noise !== null) this.gpu.pool.release(this.#noise);
    this.#state = null;
    this.#noise = null;
  }
}

/**
 * Makes sure rows `home + 1 .. home + k` exist and returns them as scratch rows: the plan of
 * an optimizer stepping on its own.
 */
export function reserveRows(flat: FlatParameters, home: number, k: number): RowPlan {
  if (flat.rows < home + 1 + k) flat.setRows(home + 1 + k);
  return { home, scratch: Array.from({ length: k }, (_, i) => home + 1 + i) };
}

/**
 * Evaluates `rows` in one closure call: the contiguous window from the smallest to the largest
 * requested row is made active, the closure runs inside {@linkcode tidy}, and the previous
 * window is restored.
 *
 * @throws {TypeError} if the loss is not one value per row or per (row, example).
 */
export function evaluate(
  flat: FlatParameters,
  rows: readonly number[],
  closure: Closure,
): Evaluation {
  const start = Math.min(...rows);
  const count = Math.max(...rows) + 1 - start;
  const previous = flat.active;
  flat.setActive(count, start);
  let loss: Tensor;
  try {
    loss = tidy(closure);
  } finally {
    flat.setActive(previous.count, previous.start);
  }
  if (!(loss instanceof Tensor)) {
    throw new TypeError("The closure must return the loss as a Tensor");
  }
  if (loss.numel === 0 || loss.numel % count !== 0 || !loss.isContiguous) {
    const shape = formatShape(loss.shape);
    loss.dispose();
    throw new TypeError(
      `The closure evaluated ${count} rows and must return ${count} losses ([${count}]) or ` +
        `${count} rows of per-example losses ([${count}, B]), received ${shape}`,
    );
  }
  return { loss, start, count, perRow: loss.numel / count };
}
