/**
 * `EvolutionStrategy`: what the GPU evolution strategies share — the home row is the center of
 * the search distribution, each generation writes P candidate rows around it (one dispatch per
 * span, noise regenerated from (seed, generation, candidate, element)), ranks their losses on
 * the GPU into utilities, and updates the center (and the spread) from the same regenerated
 * noise. No loss is read back; nothing of size P × N is kept beyond the candidate rows.
 *
 * @module
 */

import type { Parameter } from "../../params/flat.ts";
import type { Tensor } from "../../tensor.ts";
import type { Optimizer, OptimizerStateDict, ParamsInput } from "../optimizer.ts";
import { type PopulationBind, PopulationOptimizer } from "../population/population_optimizer.ts";
import { type Losses, type MemberRows, type RowNeeds, rowsOf } from "../population/protocol.ts";
import { StateLayout } from "../population/state_layout.ts";
import { rank } from "./_kernels.ts";

/** Options every evolution strategy takes. */
export interface StrategyConfig extends PopulationBind {
  /** Candidates per generation, P. Each strategy documents its default. */
  popSize?: number;
}

/** Fields of every strategy's state record: the candidates' mean losses and utilities. */
export type BaseFields = "means" | "utilities" | "best";

/**
 * Base class of the evolution strategies that run on the GPU. Subclasses sample the candidate
 * rows ({@linkcode sampleRows}), give the utility of each rank ({@linkcode utilityTable}) and
 * update from the utilities ({@linkcode updateFromUtilities}).
 */
export abstract class EvolutionStrategy<F extends string = never>
  extends PopulationOptimizer<Record<string, never>> {
  /** Candidates per generation. */
  readonly popSize: number;
  /** Where each value of the state lives (the base fields, then the strategy's own). */
  protected readonly layout: StateLayout<BaseFields | F>;
  readonly #inner: Optimizer<object> | null;
  readonly #ownsInner: boolean;
  #table: GPUBuffer | null = null;
  readonly #vectors = new Map<string, { buffer: GPUBuffer; rows: number }>();

  /**
   * Builds the param groups, the random key and the state layout.
   *
   * @param name the strategy's name (errors, and its random stream).
   * @param params the model's parameters (the center of the search distribution).
   * @param config the population size, home row and seed the user gave.
   * @param o the population size to use, whether it must be even, the strategy's own state
   *   fields and their lengths (floats), and the inner optimizer if any.
   * @param inner the optimizer that steps on the gradient the strategy writes, or null.
   * @throws {RangeError} for a population below `minPopulation` or odd when `even`.
   * @throws {TypeError} unless `inner` is over the same model and row.
   */
  constructor(
    name: string,
    params: ParamsInput<Record<string, never>>,
    config: StrategyConfig,
    o: {
      popSize: number;
      even: boolean;
      fields: Readonly<Record<F, number>>;
      inner?: Optimizer<object> | null;
      /** The strategy made `inner` itself (its default), so `dispose` frees it too. */
      ownsInner?: boolean;
    },
  ) {
    super(name, params, {}, { row: config.row, seed: config.seed });
    const p = o.popSize;
    if (!Number.isInteger(p) || p < 2 || (o.even && p % 2 !== 0)) {
      throw new RangeError(
        `${name}: popSize must be ${o.even ? "an even" : "an"} integer >= 2, received ${p}`,
      );
    }
    this.popSize = p;
    this.layout = new StateLayout({ means: p, utilities: p, best: 1, ...o.fields } as Record<
      BaseFields | F,
      number
    >);
    const inner = o.inner ?? null;
    if (inner !== null && (inner.flat !== this.flat || inner.row !== this.row)) {
      throw new TypeError(
        `${name}: the inner optimizer must be over the same model and row ` +
          `(it is bound to row ${inner.row}, expected ${this.row})`,
      );
    }
    this.#inner = inner;
    this.#ownsInner = inner !== null && (o.ownsInner ?? false);
  }

  /** Nothing to check per group: a strategy's options are checked by its constructor. */
  protected validate(): void {}

  /** The optimizer that steps on the strategy's gradient estimate, or null. */
  get opt(): Optimizer<object> | null {
    return this.#inner;
  }

  /** P candidate rows; the center (home) row is not evaluated. */
  rowNeeds(): RowNeeds {
    return { members: 0, candidates: this.popSize, work: 0 };
  }

  /** The state record. */
  protected override stateLayout(): StateLayout<string> {
    return this.layout;
  }

  /** The utility of each rank (0 = the lowest loss), length P. */
  protected abstract utilityTable(): Float32Array;

  /** Whether the utilities are the negated losses themselves rather than a function of rank. */
  protected get rawUtilities(): boolean {
    return false;
  }

  /** Records the writes of the candidate rows. */
  protected abstract sampleRows(rows: MemberRows): void;

  /** Records the update of the center (and spread) from the utilities now in the state. */
  protected abstract updateFromUtilities(rows: MemberRows): void;

  /**
   * Writes the P candidates into the candidate rows (parameters that are not trained keep the
   * center's values).
   *
   * @returns the candidate rows.
   */
  propose(rows: MemberRows): number[] {
    if (!this.#coversModel()) {
      for (const r of rowsOf(rows.candidates)) this.flat.copyRow(rows.home, r);
    }
    this.sampleRows(rows);
    return rowsOf(rows.candidates);
  }

  /**
   * Ranks the candidates on the GPU, updates, steps the inner optimizer if any, and reports
   * the population's mean loss (finite losses only; NaN and ±∞ rank last).
   *
   * @throws {Error} if nothing was evaluated.
   */
  accept(losses: Losses | null, rows: MemberRows, report: Tensor): void {
    if (losses === null) throw new Error(`${this.name}: nothing was evaluated`);
    rank(this.gpu, losses, rows.candidates.first, this.popSize, report, {
      table: this.#utilityBuffer(),
      state: this.state,
      meansOff: this.layout.at("means"),
      utilOff: this.layout.at("utilities"),
      bestAt: this.layout.at("best"),
      raw: this.rawUtilities,
    });
    this.updateFromUtilities(rows);
    this.stepCount++;
    this.#inner?.step();
  }

  /**
   * Per-parameter vectors on the GPU (the stdevs, the paths): `rows` rows of the parameter
   * buffer's stride, filled with `init` when first used and checkpointed with the strategy.
   */
  protected vector(name: string, init = 0, rows = 1): GPUBuffer {
    let entry = this.#vectors.get(name);
    if (entry === undefined) {
      const floats = rows * this.flat.stride;
      const buffer = this.gpu.pool.acquire(floats * 4, `${this.name} ${name}`);
      this.gpu.write(buffer, 0, new Float32Array(floats).fill(init));
      this.#vectors.set(name, entry = { buffer, rows });
    }
    return entry.buffer;
  }

  /** A per-parameter vector's values, one per parameter in model order (one readback). */
  protected async readVector(name: string, init = 0): Promise<Float32Array> {
    return (await this.flat.readRows(0, 1, this.vector(name, init)))[0];
  }

  /** Marks the gradient of every trained parameter present in `row` (after a kernel wrote it). */
  protected markGradients(row: number): void {
    for (const seg of this.spans()) for (const p of seg.params) this.flat.setHasGrad(p, row, true);
  }

  #utilityBuffer(): GPUBuffer {
    if (this.#table === null) {
      const table = this.utilityTable();
      this.#table = this.gpu.pool.acquire(table.byteLength, `${this.name} utilities`);
      this.gpu.write(this.#table, 0, table);
    }
    return this.#table;
  }

  #coversModel(): boolean {
    return this.spans().reduce((n, s) => n + s.params.length, 0) === this.flat.params.length;
  }

  /**
   * Moves the strategy and its inner optimizer to another home row.
   *
   * @throws {Error} once either has state: state belongs to a row.
   */
  override bindRow(row: number): void {
    super.bindRow(row);
    this.#inner?.bindRow(row);
  }

  /** The base state, the per-parameter vectors (one readback each) and the inner optimizer's. */
  protected override async extraState(): Promise<Record<string, unknown>> {
    const vectors: Record<string, Float32Array> = {};
    for (const [name, { buffer, rows }] of this.#vectors) {
      const bytes = rows * this.flat.stride * 4;
      vectors[name] = new Float32Array(await this.gpu.readBuffer(buffer, 0, bytes));
    }
    const own = { ...await super.extraState(), vectors };
    return this.#inner === null ? own : { ...own, opt: await this.#inner.stateDict() };
  }

  /**
   * Restores what {@linkcode extraState} saved.
   * @throws {TypeError} for a vector of another length.
   */
  protected override loadExtraState(extra: Record<string, unknown> | undefined): void {
    super.loadExtraState(extra);
    if (extra === undefined) return;
    const vectors = (extra.vectors ?? {}) as Record<string, Float32Array>;
    for (const [name, values] of Object.entries(vectors)) {
      const rows = values.length / this.flat.stride;
      if (!Number.isInteger(rows) || rows < 1) {
        throw new TypeError(
          `${this.name}.loadStateDict: vector "${name}" has ${values.length} values, not rows of ${this.flat.stride}`,
        );
      }
      this.gpu.write(this.vector(name, 0, rows), 0, values);
    }
    if (extra.opt !== undefined && this.#inner !== null) {
      this.#inner.loadStateDict(extra.opt as OptimizerStateDict);
    }
  }

  /**
   * Returns the state, the utility table and the vectors to the pool, and frees the default
   * inner optimizer (one passed in as `opt` stays the caller's).
   */
  override dispose(): void {
    super.dispose();
    if (this.#ownsInner) this.#inner!.dispose();
    if (this.#table !== null) this.gpu.pool.release(this.#table);
    this.#table = null;
    for (const { buffer } of this.#vectors.values()) this.gpu.pool.release(buffer);
    this.#vectors.clear();
  }
}

/** The default population of SNES and CMA-ES for N parameters: 4 + ⌊3 ln N⌋. */
export function defaultPopulation(n: number): number {
  return 4 + Math.floor(3 * Math.log(Math.max(1, n)));
}

/** The parameters of a list or of param groups. */
export function paramsOf(params: ParamsInput<object>): readonly Parameter[] {
  const first = params[0] as unknown;
  if (typeof first === "object" && first !== null && "params" in first) {
    return (params as readonly { params: Parameter[] }[]).flatMap((g) => g.params);
  }
  return params as readonly Parameter[];
}

/** The number of elements of a parameter list or of param groups. */
export function numelOf(params: ParamsInput<object>): number {
  return paramsOf(params).reduce((n, p) => n + p.numel, 0);
}
