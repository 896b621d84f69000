/**
 * What every search shares: candidate rows evaluated in one closure call, the best one
 * accepted against the lowest loss on the GPU (internal).
 *
 * @module
 */

import type { Tensor } from "../../tensor.ts";
import type { ParamsInput } from "../optimizer.ts";
import { decide, FLAGS, SELECT_RECORD, selectRow } from "../population/decisions.ts";
import { type PopulationBind, PopulationOptimizer } from "../population/population_optimizer.ts";
import { type Losses, type MemberRows, type RowNeeds, rowsOf } from "../population/protocol.ts";
import { StateLayout } from "../population/state_layout.ts";

/** Options of the searches besides their per-group hyperparameters. */
export interface SearchConfig extends PopulationBind {
  /**
   * Candidates evaluated per step, all in the same closure call (one row each); the best one
   * is compared with the lowest loss. Default 1 (the original's behaviour).
   */
  candidates?: number;
  /**
   * Re-evaluate the current parameters every step, in the same closure call as the candidates,
   * so that the comparison uses losses of the same minibatch. Default false: the parameters
   * are evaluated on the first step only and the lowest loss is remembered.
   */
  stochastic?: boolean;
}

/** The select record of `decide_select`: lowest loss so far, chosen candidate, … */
const STATE = new StateLayout({ select: SELECT_RECORD.SELECT_FLOATS });

/**
 * Base of the searches: each step writes {@linkcode SearchConfig.candidates} candidate rows,
 * evaluates them (and the home row on the first step, or every step when stochastic) in ONE
 * closure call, and copies the best candidate onto the home row if it beats the lowest loss so
 * far. The decision and the copy run on the GPU (`decide_select`, `select_row`); the lowest
 * loss lives in the select record of the state. Subclasses write the candidates.
 */
export abstract class Search<O extends object> extends PopulationOptimizer<O> {
  /** Candidates evaluated per step. */
  readonly candidates: number;
  /** Whether the parameters are re-evaluated every step. */
  stochastic: boolean;
  readonly #ties: boolean;
  readonly #reportLowest: boolean;

  /**
   * Builds the param groups and the search's rules.
   *
   * @param name the search's name (errors, and its random stream).
   * @param params parameters of one model, or param groups with per-group overrides.
   * @param defaults option values for what a group does not override.
   * @param config candidates per step, stochastic, the home row and the seed.
   * @param rules `ties`: a candidate equal to the lowest loss is accepted; `reportLowest`:
   *   `step()` returns the lowest loss so far instead of the best candidate's loss.
   * @throws {RangeError} unless `candidates` is an integer >= 1.
   */
  constructor(
    name: string,
    params: ParamsInput<O>,
    defaults: O,
    config: SearchConfig,
    rules: { ties: boolean; reportLowest: boolean },
  ) {
    super(name, params, defaults, { row: config.row, seed: config.seed });
    const k = config.candidates ?? 1;
    if (!Number.isInteger(k) || k < 1) {
      throw new RangeError(`${name}: candidates must be an integer >= 1, received ${k}`);
    }
    this.candidates = k;
    this.stochastic = config.stochastic ?? false;
    this.#ties = rules.ties;
    this.#reportLowest = rules.reportLowest;
  }

  /** One candidate row per candidate. */
  rowNeeds(): RowNeeds {
    return { members: 0, candidates: this.candidates, work: 0 };
  }

  /** The select record. */
  protected override stateLayout(): StateLayout<string> {
    return STATE;
  }

  /** Whether this step evaluates the home row: the first step, or every step when stochastic. */
  protected get baseline(): boolean {
    return this.stepCount === 0 || this.stochastic;
  }

  /**
   * Writes the candidates into the candidate rows.
   * @returns the candidate rows, preceded by the home row when it is evaluated this step.
   */
  propose(rows: MemberRows): number[] {
    const first = rows.candidates.first;
    this.writeCandidates(rows.home, first);
    const candidates = rowsOf(rows.candidates);
    return this.baseline ? [rows.home, ...candidates] : candidates;
  }

  /** Records the writes of candidate rows `first .. first + candidates - 1`. */
  protected abstract writeCandidates(home: number, first: number): void;

  /** Picks the best candidate on the GPU and copies it onto the home row if it is accepted. */
  accept(losses: Losses | null, rows: MemberRows, report: Tensor): void {
    if (losses === null) throw new Error(`${this.name}: nothing was evaluated`);
    const first = rows.candidates.first;
    const baseline = this.baseline;
    decide(this.gpu, "select", losses, this.state, report, {
      base: baseline ? rows.home : undefined,
      cand: first,
      k: this.candidates,
      flags: (baseline ? FLAGS.BASELINE : 0) | (this.#ties ? FLAGS.TIES : 0) |
        (this.#reportLowest ? FLAGS.REPORT_LOWEST : 0),
      stateOff: STATE.at("select"),
    });
    for (const span of this.spans()) {
      selectRow(this.gpu, this.state, this.flat.buffer, this.flat.stride, span, {
        chosenAt: STATE.at("select") + SELECT_RECORD.SELECT_CHOSEN,
        home: rows.home,
        cand: first,
      });
    }
    this.stepCount++;
    this.afterStep();
  }

  /** Runs after each step (hyperparameter decay). */
  protected afterStep(): void {}

  /**
   * Copies the home row onto the candidate rows, so that what the candidates do not write
   * (parameters this optimizer does not train) has the model's values. Skipped when the
   * candidates write every parameter, unless `always`.
   */
  protected copyHome(home: number, first: number, always = false): void {
    if (!always && this.coversModel()) return;
    for (let k = 0; k < this.candidates; k++) this.flat.copyRow(home, first + k);
  }

  /** Whether {@linkcode spans} hold every parameter of the model. */
  protected coversModel(): boolean {
    const trained = this.spans().reduce((n, s) => n + s.params.length, 0);
    return trained === this.flat.params.length;
  }
}

/**
 * @throws {RangeError} unless `domain` is a pair of finite numbers `[lo, hi]` with lo <= hi.
 * @internal
 */
export function checkDomain(optimizer: string, domain: unknown): void {
  const ok = Array.isArray(domain) && domain.length === 2 &&
    domain.every((v) => typeof v === "number" && Number.isFinite(v)) && domain[0] <= domain[1];
  if (!ok) {
    const shown = Array.isArray(domain) ? `[${domain.join(", ")}]` : String(domain);
    throw new RangeError(
      `${optimizer}: domain must be [lo, hi] with finite lo <= hi, received ${shown}`,
    );
  }
}
