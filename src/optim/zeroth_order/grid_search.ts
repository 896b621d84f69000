/**
 * `GridSearch`: exhaustive search over a regular grid of every trainable element, refined by
 * halving the step when the grid is exhausted.
 *
 * @module
 */

import { checkPositive, type ParamGroup, type ParamsInput } from "../optimizer.ts";
import { checkDomain, Search, type SearchConfig } from "./_search.ts";

/** Hyperparameters of {@linkcode GridSearch} (per param group; both required). */
export interface GridSearchOptions {
  /** `[lo, hi]`: the range every element of the group is searched in. */
  domain: readonly [number, number];
  /** Grid spacing (> 0); halved each time the whole grid has been tried. */
  step: number;
}

/** A group's grid: values (d + lo) · step for digits d in [0, base). */
interface Grid {
  lo: number;
  base: number;
  step: number;
  domain: readonly [number, number];
}

/** A run of trainable elements of one group: `numel` elements from `offset` in a row. */
interface Run {
  group: number;
  offset: number;
  numel: number;
}

/**
 * GridSearch (torchzero's `GridSearch`): tries every point of a grid over the trainable
 * elements, keeping the best, and halves the step when the grid is exhausted.
 *
 * Group g's elements take the values `(d + lo) · step` for digits `d` in `[0, B)`, with
 * `lo = trunc(domain[0] / step)`, `hi = trunc(domain[1] / step)`, `B = hi − lo + 1` (domain
 * (−1, 1) with step 0.1 gives the 21 values −1.0 … 1.0). The elements of every group, in group
 * and parameter order, form one vector; combination c (0 ≤ c < Π B_g^n_g) is c written in this
 * mixed radix, element 0 the most significant digit. So c = 0 puts every element at its lower
 * bound and the last element changes fastest.
 *
 * ```text
 * on the first step (every step if stochastic):  lowest = f(x)        (same forward pass)
 * for k < candidates:  x_k = grid point c; c += 1
 *                      (c past the last point: every group's step /= 2, c = 0, continue)
 * m = argmin_k f(x_k);  if f(x_m) < lowest (strictly): x = x_m; lowest = f(x_m)
 * return f(x_m)                                (the best candidate's loss)
 * ```
 *
 * Options: per group `domain` and `step` (both required); instance `candidates` (default 1),
 * `stochastic` (default false), `seed`, `row`. {@linkcode combination} reads or sets c.
 * Changing a group's `domain` or `step` between steps restarts the enumeration at c = 0.
 *
 * Differences from the original: the digits of c are exact integer arithmetic (the original
 * counted them with `int(log(c) / log(B))`, which drops the leading digit at exact powers such
 * as 1000 in base 10 and maps c to the wrong point); a group may hold several tensors (the
 * original raised IndexError), which together form one vector; several groups are enumerated
 * as one mixed-radix number (the original walked sympy's `iproduct` diagonally); the current
 * parameters are evaluated once, on the first step (the original never advanced its step
 * counter, so it re-evaluated them with an extra closure call on every step; `stochastic: true`
 * keeps that, in the same call); exhaustion halves the step and evaluates the first point of
 * the new grid in the same step (the original spent a closure call on a step without a
 * candidate); `domain / step` within 1e-9 of an integer counts as that integer (0.3 / 0.1
 * includes 0.3); NaN and infinite losses are never accepted.
 *
 * @example
 * ```ts ignore
 * const opt = new GridSearch([w], { domain: [-1, 1], step: 0.5 });
 * for (let i = 0; i < 125; i++) opt.step(() => loss(w)).dispose(); // 5^3 points for 3 elements
 * ```
 */
export class GridSearch extends Search<GridSearchOptions> {
  #grids: Grid[] = [];
  /** Digits of c, element 0 first (null before the layout is known). */
  #digits: Int32Array | null = null;
  #values = new Float32Array(0);

  /**
   * Creates the optimizer; every group needs a `domain` and a `step` (here or in its group).
   *
   * @param params parameters of one model, or param groups with per-group overrides.
   * @param options `domain`, `step`, `candidates`, `stochastic`, the home row and the seed.
   * @throws {RangeError} for a missing or bad `domain` or `step`, or bad `candidates`.
   */
  constructor(
    params: ParamsInput<GridSearchOptions>,
    options: Partial<GridSearchOptions> & SearchConfig = {},
  ) {
    const { row, seed, candidates, stochastic, ...hyper } = options;
    super(
      "GridSearch",
      params,
      { domain: undefined, step: undefined, ...hyper } as unknown as GridSearchOptions,
      { row, seed, candidates, stochastic },
      { ties: false, reportLowest: false },
    );
  }

  /**
   * Checks a group's grid.
   *
   * @throws {RangeError} unless `domain` is `[lo, hi]` with finite lo <= hi and `step` is
   *   finite and > 0.
   */
  protected validate(g: ParamGroup<GridSearchOptions>): void {
    checkDomain("GridSearch", g.domain);
    checkPositive("GridSearch", "step", g.step);
  }

  /** The index c of the next grid point to evaluate. */
  get combination(): bigint {
    const runs = this.#sync();
    const digits = this.#digits!;
    let c = 0n;
    let e = 0;
    for (const run of runs) {
      const base = BigInt(this.#grids[run.group].base);
      for (let i = 0; i < run.numel; i++) c = c * base + BigInt(digits[e++]);
    }
    return c;
  }

  /** @throws {RangeError} unless 0 <= c < {@linkcode combinations}. */
  set combination(c: bigint) {
    const runs = this.#sync();
    const total = this.combinations;
    if (typeof c !== "bigint" || c < 0n || c >= total) {
      throw new RangeError(`GridSearch: combination must be in [0, ${total}), received ${c}`);
    }
    const digits = this.#digits!;
    let e = digits.length;
    for (let r = runs.length - 1; r >= 0; r--) {
      const base = BigInt(this.#grids[runs[r].group].base);
      for (let i = 0; i < runs[r].numel; i++) {
        digits[--e] = Number(c % base);
        c /= base;
      }
    }
  }

  /** Number of points of the current grid: Π over groups of B_g^(elements of g). */
  get combinations(): bigint {
    const runs = this.#sync();
    let total = 1n;
    for (const run of runs) total *= BigInt(this.#grids[run.group].base) ** BigInt(run.numel);
    return total;
  }

  /**
   * Writes the next `candidates` grid points into the candidate rows (a CPU upload), advancing
   * c and refining the grid when it is exhausted.
   */
  protected writeCandidates(home: number, first: number): void {
    const runs = this.#sync();
    const stride = this.flat.stride;
    const k = this.candidates;
    if (this.#values.length !== k * stride) this.#values = new Float32Array(k * stride);
    const values = this.#values;
    values.fill(0);
    for (let row = 0; row < k; row++) {
      let e = 0;
      for (const run of runs) {
        const { lo, step } = this.#grids[run.group];
        for (let i = 0; i < run.numel; i++) {
          values[row * stride + run.offset + i] = (this.#digits![e++] + lo) * step;
        }
      }
      if (!this.#advance(runs)) this.#refine();
    }
    const buffer = this.flat.buffer;
    if (this.coversModel()) {
      this.gpu.write(buffer, first * stride * 4, values);
      return;
    }
    this.copyHome(home, first);
    const spans = this.spans();
    for (let row = 0; row < k; row++) {
      for (const { start, end } of spans) {
        const at = row * stride;
        this.gpu.write(
          buffer,
          ((first + row) * stride + start) * 4,
          values.subarray(at + start, at + end),
        );
      }
    }
  }

  /** Adds 1 to c; false when it wraps around to 0 (the grid is exhausted). */
  #advance(runs: Run[]): boolean {
    const digits = this.#digits!;
    let e = digits.length;
    for (let r = runs.length - 1; r >= 0; r--) {
      const base = this.#grids[runs[r].group].base;
      for (let i = 0; i < runs[r].numel; i++) {
        e--;
        if (++digits[e] < base) return true;
        digits[e] = 0;
      }
    }
    return false;
  }

  /** Halves every group's step and starts the finer grid at c = 0. */
  #refine(): void {
    for (const g of this.paramGroups) g.step /= 2;
    this.#grids = this.paramGroups.map(gridOf);
    this.#digits!.fill(0);
  }

  /**
   * The trainable elements in group and parameter order; rebuilds the grids (and restarts at
   * c = 0) when a group's domain or step changed or the set of trainable elements did.
   */
  #sync(): Run[] {
    const runs: Run[] = [];
    let n = 0;
    this.paramGroups.forEach((g, group) => {
      for (const p of g.params) {
        if (!p.requiresGrad) continue;
        runs.push({ group, offset: p.offset, numel: p.numel });
        n += p.numel;
      }
    });
    const changed = this.#grids.length !== this.paramGroups.length ||
      this.paramGroups.some((g, i) => {
        const grid = this.#grids[i];
        return grid.step !== g.step || grid.domain[0] !== g.domain[0] ||
          grid.domain[1] !== g.domain[1];
      });
    if (changed) this.#grids = this.paramGroups.map(gridOf);
    if (changed || this.#digits === null || this.#digits.length !== n) {
      this.#digits = new Int32Array(n);
    }
    return runs;
  }

  /** The base state plus {@linkcode combination} (as a decimal string). */
  protected override async extraState(): Promise<Record<string, unknown>> {
    const own = await super.extraState();
    return { ...own, combination: this.combination.toString() };
  }

  /** Restores what {@linkcode extraState} saved. */
  protected override loadExtraState(extra: Record<string, unknown> | undefined): void {
    super.loadExtraState(extra);
    if (typeof extra?.combination === "string") this.combination = BigInt(extra.combination);
  }
}

function gridOf(g: ParamGroup<GridSearchOptions>): Grid {
  const lo = truncNear(g.domain[0] / g.step);
  const hi = truncNear(g.domain[1] / g.step);
  return { lo, base: hi - lo + 1, step: g.step, domain: [g.domain[0], g.domain[1]] };
}

/** Truncation toward zero, except that a value within 1e-9 of an integer is that integer. */
function truncNear(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - r) <= 1e-9 * Math.max(1, Math.abs(v)) ? r : Math.trunc(v);
}
