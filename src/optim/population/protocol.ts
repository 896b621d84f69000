/**
 * The population protocol: how an optimizer that evaluates several parameter rows per step
 * talks to the rows of the model, and how composites (swarm, chain) build one evaluation out
 * of their members' requests.
 *
 * The model's parameters are a buffer `[rows, stride]` (see `FlatParameters`); row `home` is
 * the parameters an optimizer updates. One step is three phases:
 *
 * 1. **propose** — the member is given its rows by role ({@linkcode MemberRows}), records GPU
 *    work that writes its candidates into them, and returns the rows it wants evaluated.
 * 2. **evaluate** — every requested row of every member is evaluated in ONE closure call (or by
 *    a host objective through `ask()`/`tell()`), giving one loss per row (`[P]`) or per row and
 *    example (`[P, B]`).
 * 3. **accept** — the member records GPU kernels that read its rows' losses from that tensor
 *    ({@linkcode Losses.slot}) and write gradients, select rows or update state. Nothing waits
 *    for the GPU.
 *
 * Rows come in four roles, requested with {@linkcode RowNeeds} and handed out as
 * {@linkcode MemberRows}:
 *
 * | role         | lifetime   | evaluated? | example                                        |
 * | ------------ | ---------- | ---------- | ---------------------------------------------- |
 * | `home`       | persistent | if asked   | the model row; a swarm member's own parameters |
 * | `members`    | persistent | if asked   | a swarm's rows for its members' homes          |
 * | `candidates` | one step   | if asked   | RandomGrad's probe, SPSA's ± pairs             |
 * | `work`       | one step   | never      | the swarm's copies of the two best parents     |
 *
 * A member asks only for what it uses, and only the rows some member asks for are evaluated:
 * when the requested rows are not one contiguous block, they are copied into one before the
 * closure runs (see `evaluation.ts`).
 *
 * Every optimizer of the library implements {@linkcode PopulationMember}: first-order ones ask
 * for nothing and step on accept, so a chain or a wrapper treats every optimizer alike.
 *
 * @module
 */

import type { FlatParameters } from "../../params/flat.ts";
import type { Tensor } from "../../tensor.ts";

/** `count` consecutive rows from `first` (count may be 0). */
export interface RowBlock {
  /** First row of the block. */
  readonly first: number;
  /** Number of rows. */
  readonly count: number;
}

/** Rows a member needs besides its home row, by role (see the module docs). */
export interface RowNeeds {
  /** Persistent rows for the homes of the member's own members (a swarm). */
  readonly members: number;
  /** Rows written with candidates each step; the member may ask for them to be evaluated. */
  readonly candidates: number;
  /** Rows written each step and never evaluated. */
  readonly work: number;
}

/** Needs of a member that uses only its home row (first-order optimizers). */
export const NO_ROWS: RowNeeds = Object.freeze({ members: 0, candidates: 0, work: 0 });

/** The rows a member may use in one step, one block per role of {@linkcode RowNeeds}. */
export interface MemberRows {
  /** The row of the member's parameters. */
  readonly home: number;
  /** Homes of its members, in member order. */
  readonly members: RowBlock;
  /** Its candidate rows, consecutive. */
  readonly candidates: RowBlock;
  /** Its work rows, consecutive. */
  readonly work: RowBlock;
}

/**
 * The losses of one evaluation, as a member reads them on the GPU. Row `r`'s values are
 * `tensor` elements `[slot(r) · perRow, (slot(r) + 1) · perRow)`.
 */
export interface Losses {
  /** The loss tensor the closure (or a host objective) produced, `[P]` or `[P, B]`. */
  readonly tensor: Tensor;
  /** Values per row: 1 (a loss per row) or B (per-example losses). */
  readonly perRow: number;
  /** The evaluated rows, in slot order. */
  readonly rows: readonly number[];
  /**
   * The losses as the host gave them (one per row, slot order, in float64: host rankings see
   * differences that float32 would round away), when told from the host.
   */
  readonly host?: Float64Array;
  /**
   * The position of `row` among the evaluated rows.
   * @throws {RangeError} if `row` was not evaluated.
   */
  slot(row: number): number;
}

/**
 * What an optimizer must do to take part in a population step. Composites (swarm, chain,
 * wrappers) drive their members through this interface only.
 */
export interface PopulationMember {
  /** The parameter buffer the member works on. */
  readonly flat: FlatParameters;
  /** Its home row. */
  readonly row: number;
  /**
   * Whether a step evaluates rows, so that `step()` needs a closure (false for first-order
   * optimizers, which step on the gradients already present).
   */
  readonly requiresClosure: boolean;
  /** The rows one step needs besides the home row. */
  rowNeeds(): RowNeeds;
  /**
   * Records the writes of this step's candidates into `rows` (on the GPU, not run).
   *
   * @returns the rows to evaluate (home, member or candidate rows; none to skip evaluation).
   */
  propose(rows: MemberRows): readonly number[];
  /**
   * Records what follows the evaluation: decisions from the losses, gradients, row selection,
   * inner optimizer steps; writes the loss this member reports into `report` (a one-element
   * tensor).
   *
   * @param losses the evaluation of every requested row, or null when nothing was evaluated.
   */
  accept(losses: Losses | null, rows: MemberRows, report: Tensor): void;
}

/** Total rows of `needs`. */
export function rowsNeeded(needs: RowNeeds): number {
  return needs.members + needs.candidates + needs.work;
}

/** The rows of a block, in order. */
export function rowsOf(block: RowBlock): number[] {
  return Array.from({ length: block.count }, (_, i) => block.first + i);
}

/**
 * The layout of a member stepping on its own: its home, then its member homes, candidates and
 * work rows, each block right after the previous one.
 */
export function layoutRows(home: number, needs: RowNeeds): MemberRows {
  const members = { first: home + 1, count: needs.members };
  const candidates = { first: members.first + members.count, count: needs.candidates };
  const work = { first: candidates.first + candidates.count, count: needs.work };
  return { home, members, candidates, work };
}

/** Splits `block` into consecutive sub-blocks of the given sizes, in order. */
export function splitBlock(block: RowBlock, counts: readonly number[]): RowBlock[] {
  let first = block.first;
  const out = counts.map((count) => {
    const sub = { first, count };
    first += count;
    return sub;
  });
  if (first - block.first > block.count) {
    throw new RangeError(
      `splitBlock: ${first - block.first} rows requested from a block of ${block.count}`,
    );
  }
  return out;
}

/** The sum of several members' needs (their blocks laid side by side, in member order). */
export function sumNeeds(needs: readonly RowNeeds[]): RowNeeds {
  return needs.reduce(
    (a, b) => ({
      members: a.members + b.members,
      candidates: a.candidates + b.candidates,
      work: a.work + b.work,
    }),
    NO_ROWS,
  );
}

/**
 * The rows of each member of a composite that shares or splits its own rows: member i gets
 * sub-block i of each role (sized by its needs) and the home `homes[i]`.
 */
export function splitRows(
  rows: MemberRows,
  needs: readonly RowNeeds[],
  homes: readonly number[],
): MemberRows[] {
  const members = splitBlock(rows.members, needs.map((n) => n.members));
  const candidates = splitBlock(rows.candidates, needs.map((n) => n.candidates));
  const work = splitBlock(rows.work, needs.map((n) => n.work));
  return needs.map((_, i) => ({
    home: homes[i],
    members: members[i],
    candidates: candidates[i],
    work: work[i],
  }));
}
