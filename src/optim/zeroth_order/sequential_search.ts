/**
 * `SequentialSearch`: coordinate-wise line scans over a domain.
 *
 * @module
 */

import { checkPositive, type ParamGroup, type ParamsInput } from "../optimizer.ts";
import { checkDomain, Search, type SearchConfig } from "./_search.ts";

/** Hyperparameters of {@linkcode SequentialSearch} (per param group; both required). */
export interface SequentialSearchOptions {
  /** Scan increment (> 0), read every step: schedulers may drive it. */
  lr: number;
  /** `[lo, hi]`: the range each coordinate is scanned over. */
  domain: readonly [number, number];
}

/**
 * SequentialSearch (torchzero's `SequentialSearch`): scans one coordinate at a time over
 * `lo, lo + lr, lo + 2·lr, … ≤ hi`, keeping any value that lowers the loss, then moves to the
 * next coordinate; after the last element of the last group it starts a new sweep. Every
 * candidate differs from the current best point in exactly one element.
 *
 * ```text
 * on the first step (every step if stochastic):  lowest = f(x)        (same forward pass)
 * for k < candidates:  x_k = x with element e set to lo_g + i·lr_g     (g: e's group)
 *                      i += 1; past hi_g: i = 0, e = next element (wrapping to the first)
 * m = argmin_k f(x_k);  if f(x_m) < lowest (strictly): x = x_m; lowest = f(x_m)
 * return f(x_m)                                (the best candidate's loss)
 * ```
 *
 * Elements are visited in group order, parameter order within a group, then element order.
 * Value i of a coordinate exists while `i ≤ (hi − lo) / lr` (to within 1e-9, so the endpoint of
 * (−1, 1) with lr 0.1 is included). With several candidates per step they are consecutive
 * scan positions, all relative to the point at the start of the step.
 *
 * Options: per group `lr` and `domain` (both required); instance `candidates` (default 1),
 * `stochastic` (default false), `seed`, `row`.
 *
 * Differences from the original: every step evaluates a candidate (the original spent a
 * closure call on steps that only moved its cursor to the next coordinate or tensor); domain
 * values are `lo + i·lr` (the original added `lr` repeatedly, so float error could drop or add
 * the endpoint); the parameters and the first candidate share one closure call on the first
 * step; the scan is over the parameter buffer, so non-contiguous tensors cannot break it; NaN
 * and infinite losses are never accepted.
 *
 * @example
 * ```ts ignore
 * const opt = new SequentialSearch([w], { lr: 0.1, domain: [-1, 1] });
 * for (let i = 0; i < 21 * w.numel; i++) opt.step(() => loss(w)).dispose(); // one sweep
 * ```
 */
export class SequentialSearch extends Search<SequentialSearchOptions> {
  /** Cursor: trainable element (in group and parameter order) and value index. */
  #element = 0;
  #index = 0;
  #values = new Float32Array(0);

  /**
   * Creates the optimizer; every group needs an `lr` and a `domain` (here or in its group).
   *
   * @param params parameters of one model, or param groups with per-group overrides.
   * @param options `lr`, `domain`, `candidates`, `stochastic`, the home row and the seed.
   * @throws {RangeError} for a missing or bad `lr` or `domain`, or bad `candidates`.
   */
  constructor(
    params: ParamsInput<SequentialSearchOptions>,
    options: Partial<SequentialSearchOptions> & SearchConfig = {},
  ) {
    const { row, seed, candidates, stochastic, ...hyper } = options;
    super(
      "SequentialSearch",
      params,
      { lr: undefined, domain: undefined, ...hyper } as unknown as SequentialSearchOptions,
      { row, seed, candidates, stochastic },
      { ties: false, reportLowest: false },
    );
  }

  /**
   * Checks a group's scan.
   *
   * @throws {RangeError} unless `lr` is finite and > 0 and `domain` is `[lo, hi]` with finite
   *   lo <= hi.
   */
  protected validate(g: ParamGroup<SequentialSearchOptions>): void {
    checkPositive("SequentialSearch", "lr", g.lr);
    checkDomain("SequentialSearch", g.domain);
  }

  /** The next scan position: `[element, value index]` (elements in group and parameter order). */
  get cursor(): [number, number] {
    return [this.#element, this.#index];
  }

  /**
   * Copies the home row into each candidate row, then writes the next scan position's value
   * into its one element (a CPU upload), advancing the cursor.
   */
  protected writeCandidates(home: number, first: number): void {
    const k = this.candidates;
    if (this.#values.length !== k) this.#values = new Float32Array(k);
    const offsets: number[] = [];
    for (let row = 0; row < k; row++) {
      const next = this.#next();
      if (next === null) break;
      offsets.push(next.offset);
      this.#values[row] = next.value;
    }
    // Copies first, then the writes: a write submits the work recorded before it.
    this.copyHome(home, first, true);
    const stride = this.flat.stride;
    offsets.forEach((offset, row) => {
      this.gpu.write(
        this.flat.buffer,
        ((first + row) * stride + offset) * 4,
        this.#values.subarray(row, row + 1),
      );
    });
  }

  /** Takes the scan position at the cursor and advances it; null without trainable elements. */
  #next(): { offset: number; value: number } | null {
    let n = 0;
    for (const group of this.paramGroups) {
      for (const p of group.params) if (p.requiresGrad) n += p.numel;
    }
    if (n === 0) return null;
    for (;;) {
      if (this.#element >= n) this.#element = 0;
      const { group, offset } = this.#locate(this.#element);
      const [lo, hi] = group.domain;
      const count = Math.floor((hi - lo) / group.lr + 1e-9) + 1;
      if (this.#index < count) {
        const value = lo + this.#index * group.lr;
        this.#index++;
        return { offset, value };
      }
      this.#element++;
      this.#index = 0;
    }
  }

  /** Group and row offset of trainable element `e`. */
  #locate(e: number): { group: ParamGroup<SequentialSearchOptions>; offset: number } {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (!p.requiresGrad) continue;
        if (e < p.numel) return { group, offset: p.offset + e };
        e -= p.numel;
      }
    }
    throw new Error("SequentialSearch: element index out of range");
  }

  /** The base state plus the {@linkcode cursor}. */
  protected override async extraState(): Promise<Record<string, unknown>> {
    const own = await super.extraState();
    return { ...own, cursor: [this.#element, this.#index] };
  }

  /** Restores what {@linkcode extraState} saved. */
  protected override loadExtraState(extra: Record<string, unknown> | undefined): void {
    super.loadExtraState(extra);
    const cursor = extra?.cursor;
    if (Array.isArray(cursor)) [this.#element, this.#index] = cursor as [number, number];
  }
}
