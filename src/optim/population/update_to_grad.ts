/**
 * `UpdateToGrad`: the update one optimizer makes becomes the gradient of the next.
 *
 * @module
 */

import type { KernelSpec } from "../../gpu/kernel.ts";
import { ceilDiv, fold } from "../../ops/_util.ts";
import { copy } from "../../ops/elementwise.ts";
import { mean } from "../../ops/reduce.ts";
import { Tensor } from "../../tensor.ts";
import type { Optimizer, OptimizerStateDict, ParamGroup, ParamsInput } from "../optimizer.ts";
import { type PopulationBind, PopulationOptimizer } from "./population_optimizer.ts";
import type { Losses, MemberRows, RowNeeds } from "./protocol.ts";
import code from "../../../shaders/zo_update_grad.wgsl" with { type: "text" };

/**
 * How a wrapped optimizer is stepped. `"auto"`: with the closure if it is derivative-free,
 * without otherwise. `"closure"`: a first-order optimizer also evaluates the model row to
 * report its loss. `"step"`: stepped without closure (first-order optimizers only).
 */
export type StepMode = "auto" | "closure" | "step";

/** How a new gradient meets one already present: replace it or add to it. */
export type GradMode = "set" | "add";

/** Hyperparameters of {@linkcode UpdateToGrad} (per param group). */
export interface UpdateToGradOptions {
  /** Scale of the gradient: g = (before − after) · lr. Default 1. */
  lr: number;
  /** "set" replaces a present gradient, "add" accumulates. Default "set". */
  gradMode: GradMode;
  /** Undo the wrapped optimizer's move (the parameters only move by later links). Default true. */
  reset: boolean;
}

const SPEC: KernelSpec = {
  file: "shaders/zo_update_grad.wgsl",
  code,
  entryPoint: "update_to_grad",
  storage: ["read", "write", "write"],
};
const WG = 64;

/**
 * UpdateToGrad (torchzero's `UpdateToGrad`): steps the wrapped optimizer, turns the update it
 * made into a gradient and (by default) undoes it.
 *
 * ```text
 * before = x;  loss = opt.step(closure)      (derivative-free) | opt.step() (first-order)
 * g = (before − x) · lr                      (SGD with lr 1 would reproduce the update)
 * grad = (gradMode == "add" && grad present) ? grad + g : g
 * if reset: x = before
 * ```
 * Differences from the original: the mode is chosen automatically (a derivative-free
 * optimizer needs the closure, a first-order one does not); callables for `mode` and
 * `gradMode` are not supported, since every step runs on the GPU.
 *
 * @example
 * ```ts ignore
 * const walkAsGrad = new UpdateToGrad(params, new RandomWalk(params, { lr: 1 }));
 * ```
 */
export class UpdateToGrad extends PopulationOptimizer<UpdateToGradOptions> {
  /** How the wrapped optimizer is stepped. */
  readonly mode: StepMode;
  readonly #opt: Optimizer<object>;
  #backup: GPUBuffer | null = null;

  /**
   * Wraps `opt`; options a group does not set take the defaults above.
   *
   * @param params the parameters of `opt` (param groups may override the options).
   * @param opt the optimizer whose update becomes the gradient, over the same model and row.
   * @param options hyperparameters, `mode` (default "auto"), the home row and the seed.
   * @throws {TypeError} if `opt` is over another model or row.
   * @throws {RangeError} for an unknown mode or gradMode, or `mode: "step"` on a
   *   derivative-free optimizer.
   */
  constructor(
    params: ParamsInput<UpdateToGradOptions>,
    opt: Optimizer<object>,
    options: Partial<UpdateToGradOptions> & PopulationBind & { mode?: StepMode } = {},
  ) {
    const { row, seed, mode, ...hyper } = options;
    super("UpdateToGrad", params, { lr: 1, gradMode: "set", reset: true, ...hyper }, { row, seed });
    if (opt.flat !== this.flat || opt.row !== this.row) {
      throw new TypeError(
        `UpdateToGrad: the inner optimizer must be over the same model and row ` +
          `(it is bound to row ${opt.row}, expected ${this.row})`,
      );
    }
    this.#opt = opt;
    this.mode = mode ?? "auto";
    if (!["auto", "closure", "step"].includes(this.mode)) {
      throw new RangeError(
        `UpdateToGrad: mode must be "auto", "closure" or "step", received ${mode}`,
      );
    }
    if (this.mode === "step" && opt.requiresClosure) {
      throw new RangeError('UpdateToGrad: mode "step" needs a first-order optimizer');
    }
  }

  /** The wrapped optimizer. */
  get opt(): Optimizer<object> {
    return this.#opt;
  }

  /** Whether a step evaluates rows: the wrapped optimizer's, or its row in mode "closure". */
  override get requiresClosure(): boolean {
    return this.#opt.requiresClosure || this.mode === "closure";
  }

  /**
   * Checks a group's hyperparameters.
   *
   * @throws {RangeError} for a non-finite lr or an unknown gradMode.
   */
  protected validate(g: ParamGroup<UpdateToGradOptions>): void {
    if (!Number.isFinite(g.lr)) {
      throw new RangeError(`UpdateToGrad: lr must be finite, received ${g.lr}`);
    }
    if (g.gradMode !== "set" && g.gradMode !== "add") {
      throw new RangeError(`UpdateToGrad: gradMode must be "set" or "add", received ${g.gradMode}`);
    }
  }

  /** The wrapped optimizer's rows (none for a first-order one). */
  rowNeeds(): RowNeeds {
    return this.#opt.rowNeeds();
  }

  /**
   * The wrapped optimizer's proposal; for a first-order one, the home row with
   * `mode: "closure"`, else nothing.
   *
   * @returns the rows to evaluate.
   */
  propose(rows: MemberRows): readonly number[] {
    if (this.#opt.requiresClosure) return this.#opt.propose(rows);
    return this.mode === "closure" ? [rows.home] : [];
  }

  /**
   * Backs up the home row, lets the wrapped optimizer accept (a first-order one steps; in mode
   * "closure" it reports the home row's mean loss), then writes `(before − after) · lr` as
   * the gradient and restores the row if `reset`.
   */
  accept(losses: Losses | null, rows: MemberRows, report: Tensor): void {
    const { gpu, flat } = this;
    const home = rows.home;
    const rowBytes = flat.stride * 4;
    this.#backup ??= gpu.pool.acquire(rowBytes, "UpdateToGrad backup");
    gpu.copy(flat.buffer, home * rowBytes, this.#backup, 0, rowBytes);
    this.#opt.accept(losses, rows, report);
    if (!this.#opt.requiresClosure && this.mode === "closure" && losses !== null) {
      reportRow(losses, home, report);
    }
    for (const seg of this.spans()) {
      const count = seg.end - seg.start;
      const add = seg.group.gradMode === "add" &&
        seg.params.every((p) => flat.hasGrad(p, home));
      gpu.dispatch(gpu.kernel(SPEC, { WG }), [this.#backup, flat.buffer, flat.gradBuffer], {
        homeOff: home * flat.stride,
        start: seg.start,
        count,
        add: add ? 1 : 0,
        reset: seg.group.reset ? 1 : 0,
        lr: seg.group.lr,
      }, fold(ceilDiv(count, WG)));
      for (const p of seg.params) flat.setHasGrad(p, home, true);
    }
    this.stepCount++;
  }

  /**
   * Moves this wrapper and the wrapped optimizer to another row.
   *
   * @throws {Error} once either has state: state belongs to a row.
   */
  override bindRow(row: number): void {
    super.bindRow(row);
    this.#opt.bindRow(row);
  }

  /** The base state plus the wrapped optimizer's checkpoint. */
  protected override async extraState(): Promise<Record<string, unknown>> {
    return { ...await super.extraState(), opt: await this.#opt.stateDict() };
  }

  /** Restores what {@linkcode extraState} saved. */
  protected override loadExtraState(extra: Record<string, unknown> | undefined): void {
    super.loadExtraState(extra);
    if (extra?.opt !== undefined) this.#opt.loadStateDict(extra.opt as OptimizerStateDict);
  }

  /** Frees this wrapper's buffers; the wrapped optimizer is not disposed. */
  override dispose(): void {
    super.dispose();
    if (this.#backup !== null) this.gpu.pool.release(this.#backup);
    this.#backup = null;
  }
}

/**
 * The mean loss of one evaluated row, written into `report` (one value, whatever the loss
 * shape).
 */
export function reportRow(losses: Losses, row: number, report: Tensor): void {
  const values = Tensor.view(losses.tensor.gpu, losses.tensor.buffer, [losses.perRow], {
    offset: losses.tensor.offset + losses.slot(row) * losses.perRow,
  });
  const m = mean(values);
  copy(m, report);
  m.dispose();
  values.dispose();
}
