/**
 * `UpdateToGrad` and `GradChain`: the update of one optimizer becomes the gradient of the next.
 *
 * @module
 */

import type { KernelSpec } from "../gpu/kernel.ts";
import { ceilDiv, fold } from "../ops/_util.ts";
import { mean } from "../ops/reduce.ts";
import { copy, fill } from "../ops/elementwise.ts";
import { Tensor } from "../tensor.ts";
import type { Evaluation } from "./_zo_kernels.ts";
import { type Closure, Optimizer, type ParamGroup, type ParamsInput } from "./optimizer.ts";
import {
  evaluate,
  reserveRows,
  type RowPlan,
  type ZerothOrderBind,
  ZerothOrderOptimizer,
} from "./zeroth_order.ts";
import code from "../../shaders/zo_update_grad.wgsl" with { type: "text" };

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
  params: { homeOff: "u32", start: "u32", count: "u32", add: "u32", reset: "u32", lr: "f32" },
};
const WG = 64;

function isZeroth(opt: Optimizer<object>): opt is ZerothOrderOptimizer<object> {
  return opt instanceof ZerothOrderOptimizer;
}

/** Whether a member asks for rows to be evaluated. */
function evaluates(m: Optimizer<object>): boolean {
  if (!(m instanceof UpdateToGrad)) return isZeroth(m);
  return isZeroth(m.opt) || m.mode === "closure";
}

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
export class UpdateToGrad extends ZerothOrderOptimizer<UpdateToGradOptions> {
  /** The wrapped optimizer. */
  override get opt(): Optimizer<object> {
    return super.opt!;
  }

  /** How it is stepped. */
  readonly mode: StepMode;
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
    options: Partial<UpdateToGradOptions> & ZerothOrderBind & { mode?: StepMode } = {},
  ) {
    const { row, seed, mode, ...hyper } = options;
    super("UpdateToGrad", params, { lr: 1, gradMode: "set", reset: true, ...hyper }, { row, seed });
    this.setInner(opt);
    this.mode = mode ?? "auto";
    if (!["auto", "closure", "step"].includes(this.mode)) {
      throw new RangeError(
        `UpdateToGrad: mode must be "auto", "closure" or "step", received ${mode}`,
      );
    }
    if (this.mode === "step" && isZeroth(opt)) {
      throw new RangeError('UpdateToGrad: mode "step" needs a first-order optimizer');
    }
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

  /** The wrapped optimizer's scratch rows (none for a first-order one). */
  scratchRows(): number {
    return isZeroth(this.opt) ? this.opt.scratchRows() : 0;
  }

  /**
   * The wrapped optimizer's proposal; for a first-order one, the home row with
   * `mode: "closure"`, else nothing.
   *
   * @returns the rows to evaluate.
   */
  propose(plan: RowPlan): number[] {
    if (isZeroth(this.opt)) return this.opt.propose(plan);
    return this.mode === "closure" ? [plan.home] : [];
  }

  /**
   * Backs up the home row, steps the wrapped optimizer (reporting its loss, or the home row's
   * mean loss for a first-order one that was evaluated), then writes
   * `(before − after) · lr` as the gradient and restores the row if `reset`.
   */
  accept(ev: Evaluation | null, plan: RowPlan, report: Tensor): void {
    const { gpu, flat } = this;
    const rowBytes = flat.stride * 4;
    this.#backup ??= gpu.pool.acquire(rowBytes, "UpdateToGrad backup");
    gpu.copy(flat.buffer, plan.home * rowBytes, this.#backup, 0, rowBytes);
    if (isZeroth(this.opt)) {
      this.opt.accept(ev, plan, report);
    } else {
      this.opt.step();
      if (this.mode === "closure" && ev !== null) reportRow(ev, plan.home, report);
    }
    for (const seg of this.spans()) {
      const count = seg.end - seg.start;
      const add = seg.group.gradMode === "add" &&
        seg.params.every((p) => flat.hasGrad(p, plan.home));
      gpu.dispatch(gpu.kernel(SPEC, { WG }), [this.#backup, flat.buffer, flat.gradBuffer], {
        homeOff: plan.home * flat.stride,
        start: seg.start,
        count,
        add: add ? 1 : 0,
        reset: seg.group.reset ? 1 : 0,
        lr: seg.group.lr,
      }, fold(ceilDiv(count, WG)));
      for (const p of seg.params) flat.setHasGrad(p, plan.home, true);
    }
    this.stepCount++;
  }

  /** Frees this wrapper's buffers; the wrapped optimizer is not disposed. */
  override dispose(): void {
    super.dispose();
    if (this.#backup !== null) this.gpu.pool.release(this.#backup);
    this.#backup = null;
  }
}

/** The mean loss of one evaluated row, written into `report` (one value, whatever the loss shape). */
function reportRow(ev: Evaluation, row: number, report: Tensor): void {
  const values = Tensor.view(ev.loss.gpu, ev.loss.buffer, [ev.perRow], {
    offset: ev.loss.offset + (row - ev.start) * ev.perRow,
  });
  const m = mean(values);
  copy(m, report);
  m.dispose();
  values.dispose();
}

/** Options of {@linkcode GradChain}; scalars apply to every link. */
export interface GradChainOptions extends ZerothOrderBind {
  /** Gradient scale of each link's update (one per optimizer but the last). Default 1. */
  lrs?: number | number[];
  /** How each optimizer is stepped (one per optimizer). Default "auto". */
  modes?: StepMode | StepMode[];
  /** Gradient mode of each link (one per optimizer but the last). Default "set". */
  gradModes?: GradMode | GradMode[];
  /** Whether each link undoes its move (one per optimizer but the last). Default true. */
  reset?: boolean | boolean[];
}

/**
 * GradChain (torchzero's `GradChain`): the update of optimizer k becomes the gradient of
 * optimizer k + 1; only the last optimizer moves the parameters.
 *
 * ```text
 * for k < n − 1:  g_k = UpdateToGrad(opt_k, lrs[k], gradModes[k], reset[k]).step(closure)
 * opt_{n−1}.step(...)                       the parameters move by the last update only
 * ```
 * `[SGD(lr 1), X]` behaves like X (SGD with lr 1 is the identity link); `[RandomWalk(lr 1),
 * AdamW]` is roughly RandomGrad; a momentum SGD link adds momentum before or after another
 * rule.
 *
 * Population batching: with every link resetting (the default), each derivative-free link
 * proposes around the same parameters, so all their candidates are evaluated in ONE closure
 * call. A link with `reset: false` followed by a derivative-free link makes the chain evaluate
 * link by link (one closure call each), as the original did.
 *
 * Differences from the original: first-order links are stepped without the closure by default
 * (`modes: "auto"`), so a closure is evaluated once per step however long the chain.
 *
 * @example
 * ```ts ignore
 * const params = model.parameters();
 * const chain = new GradChain(params, [
 *   new RandomWalk(params, { lr: 1e-3 }),
 *   new SGD(params, { lr: 1, momentum: 0.9, nesterov: true }),
 *   new Lion(params, { lr: 1e-3 }),
 * ]);
 * const loss = chain.step(closure);
 * ```
 */
export class GradChain extends ZerothOrderOptimizer<Record<string, never>> {
  /** The wrapped links (every optimizer but the last). */
  readonly links: UpdateToGrad[];
  /** The optimizer that moves the parameters. */
  readonly last: Optimizer<object>;
  readonly #lastMode: StepMode;

  /**
   * Chains `optimizers`, wrapping every one but the last in an {@linkcode UpdateToGrad}.
   *
   * @param params the parameters of the chain (the model the optimizers are over).
   * @param optimizers two or more optimizers over the same model and row, in chain order.
   * @param options per-link settings, the home row and the seed.
   * @throws {RangeError} with fewer than two optimizers or option lists of the wrong length.
   * @throws {TypeError} if an optimizer is over another model or row.
   */
  constructor(
    params: ParamsInput<Record<string, never>>,
    optimizers: Optimizer<object>[],
    options: GradChainOptions = {},
  ) {
    super("GradChain", params, {}, { row: options.row, seed: options.seed });
    const n = optimizers.length;
    if (n < 2) throw new RangeError(`GradChain: needs at least 2 optimizers, received ${n}`);
    const lrs = perLink("lrs", options.lrs ?? 1, n - 1);
    const modes = perLink("modes", options.modes ?? "auto", n);
    const gradModes = perLink("gradModes", options.gradModes ?? "set", n - 1);
    const resets = perLink("reset", options.reset ?? true, n - 1);
    this.links = optimizers.slice(0, -1).map((opt, i) =>
      new UpdateToGrad(opt.paramGroups.map((g) => ({ params: g.params })), opt, {
        row: this.row,
        lr: lrs[i],
        gradMode: gradModes[i],
        reset: resets[i],
        mode: modes[i],
      })
    );
    this.last = optimizers[n - 1];
    this.#lastMode = modes[n - 1];
    if (this.last.flat !== this.flat || this.last.row !== this.row) {
      throw new TypeError("GradChain: every optimizer must be over the same model and row");
    }
  }

  /** Nothing to check: the chain has no hyperparameters of its own. */
  protected validate(): void {}

  /**
   * Moves the chain, its links and the last optimizer to another row.
   *
   * @throws {Error} once any of them has state: state belongs to a row.
   */
  override bindRow(row: number): void {
    super.bindRow(row);
    for (const link of this.links) link.bindRow(row);
    this.last.bindRow(row);
  }

  /** The members that take part in the evaluation, in order. */
  #members(): ZerothOrderOptimizer<object>[] {
    return isZeroth(this.last) ? [...this.links, this.last] : this.links;
  }

  /**
   * True when every member that evaluates candidates proposes around the same parameters
   * (no earlier link keeps its move), so one closure call serves the whole chain.
   */
  get merged(): boolean {
    const members = this.#members();
    const moving = members.findLastIndex((m) =>
      m instanceof UpdateToGrad && m.paramGroups.some((g) => !g.reset)
    );
    return moving < 0 || !members.slice(moving + 1).some(evaluates);
  }

  /** The scratch rows of every evaluating member, summed. */
  scratchRows(): number {
    return this.#members().reduce((n, m) => n + m.scratchRows(), 0);
  }

  #plans(plan: RowPlan): RowPlan[] {
    let at = 0;
    return this.#members().map((m) => {
      const k = m.scratchRows();
      const scratch = plan.scratch.slice(at, at + k);
      at += k;
      return { home: plan.home, scratch };
    });
  }

  /**
   * Splits the scratch rows among the members, in order, and merges their proposals.
   *
   * @returns every member's rows to evaluate.
   */
  propose(plan: RowPlan): number[] {
    const plans = this.#plans(plan);
    const rows = this.#members().flatMap((m, i) => m.propose(plans[i]));
    if (!isZeroth(this.last) && this.#lastMode === "closure") rows.push(plan.home);
    return rows;
  }

  /**
   * Lets each member accept the shared evaluation in order, then steps a first-order last
   * optimizer (reporting the home row's mean loss with mode "closure").
   */
  accept(ev: Evaluation | null, plan: RowPlan, report: Tensor): void {
    const plans = this.#plans(plan);
    this.#members().forEach((m, i) => m.accept(ev, plans[i], report));
    if (!isZeroth(this.last)) {
      this.last.step();
      if (this.#lastMode === "closure" && ev !== null) reportRow(ev, plan.home, report);
    }
    this.stepCount++;
  }

  /**
   * One chain step. Merged chains evaluate every candidate in one closure call; otherwise each
   * derivative-free link evaluates on its own, in order.
   */
  override step(closure?: Closure): Tensor {
    if (this.merged) return super.step(closure);
    const report = fill(Tensor.empty([], { gpu: this.gpu }), NaN);
    for (const m of this.#members()) {
      const plan = reserveRows(this.flat, this.row, m.scratchRows());
      const rows = m.propose(plan);
      if (rows.length > 0 && closure === undefined) {
        throw new TypeError("GradChain.step needs a closure");
      }
      const ev = rows.length === 0 ? null : evaluate(this.flat, rows, closure!);
      m.accept(ev, plan, report);
      ev?.loss.dispose();
    }
    if (!isZeroth(this.last)) {
      this.last.step();
      if (this.#lastMode === "closure") {
        if (closure === undefined) throw new TypeError("GradChain.step needs a closure");
        const ev = evaluate(this.flat, [this.row], closure);
        reportRow(ev, this.row, report);
        ev.loss.dispose();
      }
    }
    this.stepCount++;
    return report;
  }

  /** The base state plus the checkpoints of every link and of the last optimizer. */
  protected override async extraState(): Promise<Record<string, unknown>> {
    const links = [];
    for (const link of this.links) links.push(await link.stateDict());
    return { ...await super.extraState(), links, last: await this.last.stateDict() };
  }

  /** Restores what {@linkcode extraState} saved. */
  protected override loadExtraState(extra: Record<string, unknown> | undefined): void {
    super.loadExtraState(extra);
    if (extra === undefined) return;
    type Dict = Parameters<Optimizer<object>["loadStateDict"]>[0];
    (extra.links as Dict[]).forEach((d, i) => this.links[i].loadStateDict(d));
    this.last.loadStateDict(extra.last as Dict);
  }

  /** Frees the chain's buffers and its links; the optimizers passed in are not disposed. */
  override dispose(): void {
    super.dispose();
    for (const link of this.links) link.dispose();
  }
}

function perLink<T>(name: string, value: T | T[], n: number): T[] {
  if (!Array.isArray(value)) return new Array(n).fill(value);
  if (value.length !== n) {
    throw new RangeError(`GradChain: ${name} must have ${n} entries, received ${value.length}`);
  }
  return value;
}
