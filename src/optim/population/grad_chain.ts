/**
 * `GradChain`: the update of optimizer k becomes the gradient of optimizer k + 1.
 *
 * @module
 */

import { type Tensor, tidy } from "../../tensor.ts";
import type { Closure, Optimizer, OptimizerStateDict, ParamsInput } from "../optimizer.ts";
import { type PopulationBind, PopulationOptimizer } from "./population_optimizer.ts";
import {
  layoutRows,
  type Losses,
  type MemberRows,
  NO_ROWS,
  type PopulationMember,
  type RowNeeds,
  splitRows,
  sumNeeds,
} from "./protocol.ts";
import { type GradMode, reportRow, type StepMode, UpdateToGrad } from "./update_to_grad.ts";

/** Options of {@linkcode GradChain}; scalars apply to every link. */
export interface GradChainOptions extends PopulationBind {
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
 * link by link (one closure call each), as the original did: `step(closure)` calls the closure
 * once per evaluating link, and through ask/tell each `ask()` returns the next link's rows
 * until the step is complete.
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
 *
 * // On backpropagated gradients, the original's Nesterov → Lion example:
 * const nesterovLion = new GradChain(params, [
 *   new SGD(params, { lr: 1, momentum: 0.9, nesterov: true }),
 *   new Lion(params, { lr: 1e-2 }),
 * ]);
 * nesterovLion.zeroGrad();
 * lossAndGrad(model, x, y, crossEntropy); // writes the gradients
 * nesterovLion.step();
 * ```
 */
export class GradChain extends PopulationOptimizer<Record<string, never>> {
  /** The wrapped links (every optimizer but the last). */
  readonly links: UpdateToGrad[];
  /** The optimizer that moves the parameters. */
  readonly last: Optimizer<object>;
  readonly #lastMode: StepMode;
  /** Link by link: the member to run next; members.length = the last optimizer's turn. */
  #stage = 0;

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
   * One step. A chain of gradient-based optimizers only (nothing to evaluate) runs the closure
   * once first, as torch's `step(closure)` does, so a closure that computes gradients
   * (`lossAndGrad`) feeds the first link; it then returns the closure's loss.
   *
   * @param closure evaluates the rows the links ask for, or computes the gradients.
   * @returns the reported loss (see the class docs), or the closure's loss for a gradient chain.
   */
  override step(closure?: Closure): Tensor {
    if (closure === undefined || this.requiresClosure) return super.step(closure);
    const loss = tidy(closure);
    super.step().dispose();
    return loss;
  }

  /** Whether a step evaluates rows: some link does, or the last optimizer. */
  override get requiresClosure(): boolean {
    return this.#members().some((m) => m.requiresClosure) || this.#lastEvaluates();
  }

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

  /** The members that take part in the evaluation, in order: the links, and a last optimizer that evaluates rows. */
  #members(): PopulationMember[] {
    return this.last.requiresClosure ? [...this.links, this.last] : this.links;
  }

  /** A first-order last optimizer in mode "closure": the home row is evaluated for its report. */
  #lastEvaluates(): boolean {
    return !this.last.requiresClosure && this.#lastMode === "closure";
  }

  /**
   * True when every member that evaluates candidates proposes around the same parameters
   * (no earlier link keeps its move), so one closure call serves the whole chain.
   */
  get merged(): boolean {
    const members = this.#members();
    const moving = this.links.findLastIndex((l) => l.paramGroups.some((g) => !g.reset));
    return moving < 0 || !members.slice(moving + 1).some((m) => m.requiresClosure);
  }

  /** The rows of every evaluating member, side by side. */
  rowNeeds(): RowNeeds {
    return sumNeeds(this.#members().map((m) => m.rowNeeds()));
  }

  /** Every member's rows: the chain's blocks split in member order, one shared home row. */
  #split(rows: MemberRows): MemberRows[] {
    const members = this.#members();
    return splitRows(rows, members.map((m) => m.rowNeeds()), members.map(() => rows.home));
  }

  /**
   * Splits the rows among the members, in order, and merges their proposals.
   *
   * @returns every member's rows to evaluate.
   * @throws {Error} for a chain that evaluates link by link (see {@linkcode merged}): it
   *   cannot share one evaluation with other members of a composite.
   */
  propose(rows: MemberRows): readonly number[] {
    if (!this.merged) {
      throw new Error(
        "GradChain: this chain evaluates link by link (a link with reset: false comes before a " +
          "derivative-free link), so it cannot be part of another optimizer's evaluation",
      );
    }
    const split = this.#split(rows);
    const requested = this.#members().flatMap((m, i) => m.propose(split[i]));
    if (this.#lastEvaluates()) requested.push(rows.home);
    return requested;
  }

  /**
   * Lets each member accept the shared evaluation in order, then steps a first-order last
   * optimizer (reporting the home row's mean loss with mode "closure").
   */
  accept(losses: Losses | null, rows: MemberRows, report: Tensor): void {
    const split = this.#split(rows);
    this.#members().forEach((m, i) => m.accept(losses, split[i], report));
    if (!this.last.requiresClosure) {
      this.last.accept(losses, rows, report);
      if (this.#lastEvaluates() && losses !== null) reportRow(losses, rows.home, report);
    }
    this.stepCount++;
  }

  /**
   * One round of a step. Merged chains have one round; otherwise each round is the next
   * member that evaluates rows, after running the members before it that evaluate nothing,
   * and a final round evaluates the home row for a last optimizer in mode "closure".
   */
  protected override beginRound(): { rows: MemberRows; requested: readonly number[] } {
    if (this.merged && this.#stage === 0) return super.beginRound();
    const members = this.#members();
    const home = layoutRows(this.row, NO_ROWS);
    while (this.#stage < members.length) {
      const m = members[this.#stage];
      const rows = layoutRows(this.row, m.rowNeeds());
      const end = rows.work.first + rows.work.count;
      if (this.flat.rows < end) this.flat.setRows(end);
      const requested = m.propose(rows);
      if (requested.length > 0) return { rows, requested };
      m.accept(null, rows, this.stepReport);
      this.#stage++;
    }
    if (this.#stage === members.length) {
      this.#stage++;
      if (!this.last.requiresClosure) this.last.accept(null, home, this.stepReport);
      if (this.#lastEvaluates()) return { rows: home, requested: [this.row] };
    }
    return { rows: home, requested: [] };
  }

  /**
   * Ends a round; link by link, runs the remaining members at once when none of them
   * evaluates rows.
   * @returns whether the step is complete.
   */
  protected override endRound(losses: Losses | null, rows: MemberRows, report: Tensor): boolean {
    if (this.merged && this.#stage === 0) return super.endRound(losses, rows, report);
    const members = this.#members();
    if (this.#stage < members.length) {
      members[this.#stage++].accept(losses, rows, report);
      const rest = members.slice(this.#stage);
      if (rest.some((m) => m.requiresClosure) || this.#lastEvaluates()) return false;
      for (const m of rest) {
        const own = layoutRows(this.row, m.rowNeeds());
        m.propose(own);
        m.accept(null, own, report);
      }
      if (!this.last.requiresClosure) this.last.accept(null, rows, report);
    } else if (losses !== null) {
      reportRow(losses, this.row, report); // the final round: the last optimizer's report
    }
    this.#stage = 0;
    this.stepCount++;
    return true;
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
    (extra.links as OptimizerStateDict[]).forEach((d, i) => this.links[i].loadStateDict(d));
    this.last.loadStateDict(extra.last as OptimizerStateDict);
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
