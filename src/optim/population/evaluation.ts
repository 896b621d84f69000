/**
 * One evaluation of the rows a step asked for: which rows the closure sees (the active window
 * of the parameter buffer) and where each row's losses land in the loss tensor.
 *
 * The layer kernels evaluate a contiguous window of rows. When the requested rows form one
 * block, that block is the window; otherwise they are first copied, in row order, into
 * staging rows past every row the optimizer uses, so no row that nobody asked for is
 * evaluated (a row copy costs far less than a row's forward pass).
 *
 * @module
 */

import type { FlatParameters } from "../../params/flat.ts";
import { formatShape, Tensor } from "../../tensor.ts";
import type { Losses } from "./protocol.ts";

/** Where the requested rows of one step are evaluated. */
export interface EvaluationPlan {
  /** The requested rows, sorted, each once; row `rows[s]` has slot `s`. */
  readonly rows: readonly number[];
  /** First row of the window the closure evaluates. */
  readonly start: number;
  /** Rows in the window (`rows.length`). */
  readonly count: number;
}

/**
 * Plans the evaluation of `requested` rows (any order, repeats allowed): the rows themselves
 * when they form one block, else copies of them in staging rows from `staging` on (recorded
 * now, after the work already recorded).
 */
export function planEvaluation(
  flat: FlatParameters,
  requested: readonly number[],
  staging: number,
): EvaluationPlan {
  const rows = [...new Set(requested)].sort((a, b) => a - b);
  for (const row of rows) flat.checkRow(row, "requested row");
  const count = rows.length;
  if (count === 0 || rows[count - 1] - rows[0] === count - 1) {
    return { rows, start: rows[0] ?? 0, count };
  }
  if (flat.rows < staging + count) flat.setRows(staging + count);
  for (let s = 0; s < count;) {
    let run = 1; // copy runs of consecutive rows in one dispatch
    while (s + run < count && rows[s + run] === rows[s] + run) run++;
    flat.copyRow(rows[s], staging + s, run);
    s += run;
  }
  return { rows, start: staging, count };
}

/** The losses of one evaluation, addressed by row (see {@linkcode Losses}). */
export class EvaluatedLosses implements Losses {
  readonly tensor: Tensor;
  readonly perRow: number;
  readonly rows: readonly number[];
  readonly host?: Float64Array;
  readonly #slots: Map<number, number>;

  /**
   * @param rows the evaluated rows in slot order (as planned).
   * @param host the same losses on the host, when they came from there.
   */
  constructor(tensor: Tensor, perRow: number, rows: readonly number[], host?: Float64Array) {
    this.tensor = tensor;
    this.perRow = perRow;
    this.rows = rows;
    this.host = host;
    this.#slots = new Map(rows.map((r, s) => [r, s]));
  }

  /** @throws {RangeError} if `row` was not evaluated. */
  slot(row: number): number {
    const s = this.#slots.get(row);
    if (s === undefined) {
      throw new RangeError(
        `Row ${row} was not evaluated (evaluated rows: ${this.rows.join(", ")})`,
      );
    }
    return s;
  }
}

/**
 * Checks a loss tensor for `count` evaluated rows.
 *
 * @param expect how the message starts, e.g. "The closure evaluated 2 rows and must return".
 * @returns the values per row: 1, or the batch size for per-example losses.
 * @throws {TypeError} unless it holds `count` losses or `count` rows of per-example losses.
 */
export function lossesPerRow(loss: unknown, count: number, expect: string): number {
  const wanted =
    `${count} losses ([${count}]) or ${count} rows of per-example losses ([${count}, B])`;
  if (!(loss instanceof Tensor)) {
    throw new TypeError(`${expect} ${wanted} as a Tensor, received ${describe(loss)}`);
  }
  if (loss.numel === 0 || loss.numel % count !== 0 || !loss.isContiguous) {
    throw new TypeError(`${expect} ${wanted}, received ${formatShape(loss.shape)}`);
  }
  return loss.numel / count;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === "object") return value.constructor?.name ?? "an object";
  return typeof value;
}

/**
 * The mean of each row of `perRow` host values, summed in float64: how a `[P, B]` loss read back
 * to the host becomes one loss per row (`stepAsync`, and every distributed replica alike).
 */
export function rowMeans(values: Float32Array, perRow: number): Float32Array {
  const out = new Float32Array(values.length / perRow);
  for (let r = 0; r < out.length; r++) {
    let sum = 0;
    for (let i = 0; i < perRow; i++) sum += values[r * perRow + i];
    out[r] = sum / perRow;
  }
  return out;
}
