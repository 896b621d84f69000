/**
 * `RandomWalk`: the n-th order random walk of torchzero (order 2 is the "second-order random
 * walk"), with every candidate of a step evaluated in one closure call.
 *
 * @module
 */

import type { KernelSpec } from "../../gpu/kernel.ts";
import { wgslConstants } from "../../gpu/wgsl_layout.ts";
import type { Parameter } from "../../params/flat.ts";
import { ceilDiv, fold } from "../../ops/_util.ts";
import { RANDOM_WGSL } from "../../ops/random.ts";
import type { Tensor } from "../../tensor.ts";
import noiseCode from "../../../shaders/zo_noise.wgsl" with { type: "text" };
import walkCode from "../../../shaders/zo_walk.wgsl" with { type: "text" };
import {
  checkMin,
  checkUnit,
  type OptimizerStateDict,
  type ParamGroup,
  type ParamsInput,
  type ParamStateDict,
} from "../optimizer.ts";
import { decide, FLAGS, SELECT_RECORD } from "../population/decisions.ts";
import { noiseBinding, type Sampler, samplerKind, type Span } from "../population/noise.ts";
import { type PopulationBind, PopulationOptimizer } from "../population/population_optimizer.ts";
import { type Losses, type MemberRows, type RowNeeds, rowsOf } from "../population/protocol.ts";
import { StateLayout } from "../population/state_layout.ts";

/** Hyperparameters of {@linkcode RandomWalk} (per param group). */
export interface RandomWalkOptions {
  /** Size of the random change of the top order: lr · s. Default 1e-3. */
  lr: number;
  /**
   * Order of the walk: 1 perturbs the position, 2 the velocity (the second-order random
   * walk), 3 the acceleration, … An integer ≥ 1. Default 1.
   */
  order: number;
  /**
   * When every candidate was worse, move against the worst one: order 1 steps the position
   * by −lr·s_worst (without evaluating it); higher orders subtract lr·s_worst from the
   * highest kept direction. Default true.
   */
  moveOpposite: boolean;
  /**
   * With `moveOpposite`, carry the correction down to the lower directions
   * (dir_k += dir_{k+1}); only matters for order ≥ 3. Default false.
   */
  propagateOpposite: boolean;
  /** L1 penalty weight added to each compared loss (see the class docs); 0 is off. Default 0. */
  L1: number;
  /** L2 penalty weight added to each compared loss; 0 is off. Default 0. */
  L2: number;
  /**
   * Literal weight decay of the candidates: candidate = (x + c_0) · (1 − weightDecay); in
   * [0, 1). The original's `literal_wd`. Default 0.
   */
  weightDecay: number;
  /** Distribution of s. Default "normal". */
  sampler: Sampler;
}

/** Options of {@linkcode RandomWalk} besides its per-group hyperparameters. */
export interface RandomWalkConfig extends PopulationBind {
  /**
   * Candidates per step, evaluated together; the best one is kept. An integer in
   * [1, 250]. Default 1.
   */
  bestOf?: number;
  /**
   * Re-evaluate the current parameters every step (a minibatch changes the loss). With false
   * the baseline is evaluated only on the first step and each later step evaluates just the
   * `bestOf` candidates against the lowest loss so far. Default true.
   */
  stochastic?: boolean;
}

const MAX_BEST_OF = 250;
const WG = 64;
const CODE = RANDOM_WGSL + noiseCode + walkCode;
const WALK_FLAGS = wgslConstants(walkCode, ["MOVE_OPPOSITE", "PROPAGATE"] as const);

function walkSpec(entryPoint: string): KernelSpec {
  return {
    file: "shaders/zo_walk.wgsl",
    code: CODE,
    entryPoint,
    storage: ["read", "read", "write", "write"],
  };
}

const PROPOSE = walkSpec("walk_propose");
const ACCEPT = walkSpec("walk_accept");
const REG: KernelSpec = {
  file: "shaders/zo_walk.wgsl",
  code: CODE,
  entryPoint: "walk_reg",
  storage: ["read", "write"],
};

const DIRECTION = /^(\d+) direction$/;

/**
 * RandomWalk (torchzero's `RandomWalk`): an n-th order random walk that tries `bestOf`
 * random changes of its top order per step and keeps the best if it is no worse than the
 * lowest loss so far. Order 1 perturbs the position; order 2, the second-order random walk,
 * perturbs a velocity that moves the position; order 3 an acceleration, and so on. The
 * candidates (and the baseline, when evaluated) are rows of the parameter buffer, evaluated in
 * ONE closure call; the choice is made on the GPU.
 *
 * ```text
 * D = order − 1 directions dir_0 (velocity), dir_1 (acceleration), …, all zero at first
 * reg(x) = mean over penalty terms {L1 · mean|p|, L2 · mean p² for each tensor p} (0 if none)
 * if stochastic or first step: lowest = f(x) + reg(x)            (row home, same call)
 * for b < bestOf:  s_b ~ sampler                                  (row home + 1 + b)
 *   c_D = lr · s_b;  c_k = dir_k + c_{k+1}  for k = D−1 … 0
 *   x_b = (x + c_0) · (1 − weightDecay);  f_b = f(x_b) + reg(x_b)
 * m = argmin f_b;  w = argmax f_b
 * if f_m ≤ lowest:  x = x_m; dir_k = c_k of m; lowest = f_m        (ties accepted)
 * else if moveOpposite:                                           (lowest kept)
 *   order 1: x −= lr · s_w                                        (not evaluated)
 *   else:    dir_{D−1} −= lr · s_w; if propagateOpposite: dir_k += dir_{k+1}, k = D−2 … 0
 * return f_m                                       (the smallest candidate loss, even if rejected)
 * ```
 * Rows per step (the original's closure calls): bestOf + 1 when stochastic or on the first
 * step, bestOf otherwise; always one closure call. With `stochastic: false` and
 * `moveOpposite`, a blind order-1 step leaves `lowest` from an older position (as in the
 * original).
 *
 * Per group: `lr`, `order`, `moveOpposite`, `propagateOpposite`, `L1`, `L2`, `weightDecay`,
 * `sampler` (defaults 1e-3, 1, true, false, 0, 0, 0, "normal"); one accept/reject decision
 * covers all groups. Instance options: `bestOf` (1), `stochastic` (true), `seed` (0), `row`.
 * The directions are saved by {@linkcode RandomWalk.stateDict} per parameter as
 * `"0 direction"`, `"1 direction"`, … (the original's state keys).
 *
 * The legacy walks of the original (`random_walk_old.py`: `RandomWalk_old` with momentum and
 * adaptive lr, and `RandomWalkSO`, the first "second-order random walk") were not exported by
 * the snapshot and are not ported: order 2 here is the second-order walk the snapshot
 * exported. RandomWalkSO moved the parameters by twice the velocity (a listed bug); this walk
 * moves them by the velocity once.
 *
 * Differences from the original: a NaN or infinite candidate loss is never accepted (the
 * original's `loss > lowest` test accepted NaN), and a NaN or infinite baseline loses to any
 * finite candidate; when the baseline is evaluated and no penalty is set, the comparison uses
 * per-example losses if the closure returns them (`reduction: "none"`), exact to the last
 * bit; among equally worst candidates the first is `w` (the original took the last); the
 * directions grow (zero-filled) when `order` is raised between steps instead of failing;
 * `weightDecay` must be in [0, 1). Parameters are never modified and restored: candidates
 * live in other rows.
 *
 * @example
 * ```ts ignore
 * const opt = new RandomWalk(model.parameters(), { lr: 1e-3, order: 2, bestOf: 3 });
 * const loss = opt.step(() => crossEntropy(model.forward(x), y, { reduction: "none" }));
 * ```
 */
export class RandomWalk extends PopulationOptimizer<RandomWalkOptions> {
  /** Candidates per step. */
  readonly bestOf: number;
  /** Whether the current parameters are re-evaluated every step. */
  stochastic: boolean;
  /** The select record of `decide_select`, then each candidate's penalty and the home row's. */
  readonly #layout: StateLayout<"select" | "penalties">;
  /** Directions [depth, stride]; 4 floats while depth is 0. */
  #dirs: GPUBuffer | null = null;
  #depth = 0;

  /**
   * Wraps parameters (or param groups) of one model.
   * @throws {RangeError} for an option out of range or an unknown sampler.
   */
  constructor(
    params: ParamsInput<RandomWalkOptions>,
    options: Partial<RandomWalkOptions> & RandomWalkConfig = {},
  ) {
    const { row, seed, bestOf, stochastic, ...hyper } = options;
    super("RandomWalk", params, {
      lr: 1e-3,
      order: 1,
      moveOpposite: true,
      propagateOpposite: false,
      L1: 0,
      L2: 0,
      weightDecay: 0,
      sampler: "normal",
      ...hyper,
    }, { row, seed });
    this.bestOf = bestOf ?? 1;
    if (!Number.isInteger(this.bestOf) || this.bestOf < 1 || this.bestOf > MAX_BEST_OF) {
      throw new RangeError(
        `RandomWalk: bestOf must be an integer in [1, ${MAX_BEST_OF}], received ${bestOf}`,
      );
    }
    this.stochastic = stochastic ?? true;
    this.#layout = new StateLayout({
      select: SELECT_RECORD.SELECT_FLOATS,
      penalties: this.bestOf + 1,
    });
  }

  /** Checks a group's options. @throws {RangeError} naming the option and value. */
  protected validate(g: ParamGroup<RandomWalkOptions>): void {
    checkMin("RandomWalk", "lr", g.lr);
    if (!Number.isInteger(g.order) || g.order < 1) {
      throw new RangeError(`RandomWalk: order must be an integer >= 1, received ${g.order}`);
    }
    checkMin("RandomWalk", "L1", g.L1);
    checkMin("RandomWalk", "L2", g.L2);
    checkUnit("RandomWalk", "weightDecay", g.weightDecay);
    samplerKind("RandomWalk", g.sampler);
  }

  /** One candidate row per candidate. */
  rowNeeds(): RowNeeds {
    return { members: 0, candidates: this.bestOf, work: 0 };
  }

  /** The select record and the penalties. */
  protected override stateLayout(): StateLayout<string> {
    return this.#layout;
  }

  /**
   * Writes the `bestOf` candidates into the candidate rows.
   * @returns home and the candidates when the baseline is evaluated, else the candidates.
   */
  propose(rows: MemberRows): number[] {
    this.#reserve(Math.max(...this.paramGroups.map((g) => g.order - 1)));
    this.storeNoise(this.bestOf);
    for (const seg of this.spans()) this.#walk(PROPOSE, rows, seg, this.bestOf);
    const candidates = rowsOf(rows.candidates);
    return this.#baseline() ? [rows.home, ...candidates] : candidates;
  }

  /** Penalties, the choice on the GPU, then the move (row copy and directions). */
  accept(losses: Losses | null, rows: MemberRows, report: Tensor): void {
    if (losses === null) throw new Error("RandomWalk: nothing was evaluated");
    const baseline = this.#baseline();
    const penalised = this.#regularise(rows, baseline);
    decide(this.gpu, "select", losses, this.state, report, {
      base: baseline ? rows.home : undefined,
      cand: rows.candidates.first,
      k: this.bestOf,
      flags: FLAGS.TIES | (baseline ? FLAGS.BASELINE : 0) | (penalised ? FLAGS.REG : 0),
      stateOff: this.#layout.at("select"),
      regOff: this.#layout.at("penalties"),
    });
    for (const seg of this.spans()) this.#walk(ACCEPT, rows, seg, 1);
    this.stepCount++;
  }

  /**
   * The checkpoint, with the directions as per-parameter state `"k direction"` (one
   * readback for the directions besides the base's).
   */
  override async stateDict(): Promise<OptimizerStateDict> {
    const dict = await super.stateDict();
    if (this.#depth === 0) return dict;
    const stride = this.flat.stride;
    const all = new Float32Array(
      await this.gpu.readBuffer(this.#dirs!, 0, this.#depth * stride * 4),
    );
    this.paramGroups.flatMap((g) => g.params).forEach((p, index) => {
      const entry: ParamStateDict = { ...dict.state[index] };
      for (let d = 0; d < this.#depth; d++) {
        const at = d * stride + p.offset;
        entry[`${d} direction`] = all.slice(at, at + p.numel);
      }
      dict.state[index] = entry;
    });
    return dict;
  }

  /**
   * Restores a checkpoint from {@linkcode stateDict}; directions it does not hold become zero.
   *
   * @throws {TypeError} if the groups, parameters or direction sizes do not match.
   */
  override loadStateDict(dict: OptimizerStateDict): void {
    const params = this.paramGroups.flatMap((g) => g.params);
    const rest: Record<number, ParamStateDict> = {};
    const directions: [Parameter, number, Float32Array][] = [];
    for (const [key, entry] of Object.entries(dict.state)) {
      const own: ParamStateDict = {};
      for (const [field, value] of Object.entries(entry)) {
        const match = DIRECTION.exec(field);
        if (match === null || !(value instanceof Float32Array)) {
          own[field] = value;
          continue;
        }
        const p = params[Number(key)];
        if (p === undefined) throw new TypeError(`RandomWalk.loadStateDict: no parameter ${key}`);
        if (value.length !== p.numel) {
          throw new TypeError(
            `RandomWalk.loadStateDict: state "${field}" of parameter ${key} has ${value.length} values, expected ${p.numel}`,
          );
        }
        directions.push([p, Number(match[1]), value]);
      }
      if (Object.keys(own).length > 0) rest[Number(key)] = own;
    }
    super.loadStateDict({ ...dict, state: rest });
    const depth = Math.max(this.#depth, ...directions.map(([, d]) => d + 1));
    this.#reserve(depth);
    if (depth === 0) return;
    const stride = this.flat.stride;
    const all = new Float32Array(depth * stride);
    for (const [p, d, values] of directions) all.set(values, d * stride + p.offset);
    this.gpu.write(this.#dirs!, 0, all);
  }

  /** Returns the directions and the state to the pool. */
  override dispose(): void {
    super.dispose();
    if (this.#dirs !== null) this.gpu.pool.release(this.#dirs);
    this.#dirs = null;
    this.#depth = 0;
  }

  #baseline(): boolean {
    return this.stochastic || this.stepCount === 0;
  }

  /** Makes the direction buffer hold `depth` rows (new rows zero; kept rows copied). */
  #reserve(depth: number): void {
    if (this.#dirs !== null && depth <= this.#depth) return;
    const stride = this.flat.stride;
    const floats = Math.max(4, depth * stride);
    const dirs = this.gpu.pool.acquire(floats * 4, "RandomWalk directions");
    this.gpu.write(dirs, 0, new Float32Array(floats));
    if (this.#dirs !== null) {
      this.gpu.copy(this.#dirs, 0, dirs, 0, this.#depth * stride * 4);
      this.gpu.pool.release(this.#dirs);
    }
    this.#dirs = dirs;
    this.#depth = depth;
  }

  /** One propose (`k` candidates) or accept dispatch over a span. */
  #walk(spec: KernelSpec, rows: MemberRows, seg: Span & { group: RandomWalkOptions }, k: number) {
    const g = seg.group;
    const stride = this.flat.stride;
    const [x, z] = fold(ceilDiv(ceilDiv(seg.end - seg.start, 4), WG));
    const [stored, constants] = noiseBinding(this.gpu, this.stored);
    this.gpu.dispatch(this.gpu.kernel(spec, constants), [
      this.state,
      stored,
      this.#dirs!,
      this.flat.buffer,
    ], {
      homeOff: rows.home * stride,
      candOff: rows.candidates.first * stride,
      stride,
      start: seg.start,
      count: seg.end - seg.start,
      seed: this.seed,
      stream: this.stream,
      counter: this.stepCount,
      kind: samplerKind("RandomWalk", g.sampler),
      depth: g.order - 1,
      flags: (g.moveOpposite ? WALK_FLAGS.MOVE_OPPOSITE : 0) |
        (g.propagateOpposite ? WALK_FLAGS.PROPAGATE : 0),
      chosenAt: this.#layout.at("select") + SELECT_RECORD.SELECT_CHOSEN,
      worstAt: this.#layout.at("select") + SELECT_RECORD.SELECT_WORST,
      lr: g.lr,
      keep: 1 - g.weightDecay,
    }, [x, k, z]);
  }

  /**
   * Writes reg(candidate b) to penalty b and, with a baseline, reg(home) to penalty bestOf:
   * one dispatch per penalised parameter tensor.
   * @returns whether any penalty is set.
   */
  #regularise(rows: MemberRows, baseline: boolean): boolean {
    const terms: [Parameter, number, number][] = [];
    let count = 0;
    for (const g of this.paramGroups) {
      if (g.L1 === 0 && g.L2 === 0) continue;
      for (const p of g.params) {
        if (!p.requiresGrad) continue;
        terms.push([p, g.L1, g.L2]);
        count += (g.L1 !== 0 ? 1 : 0) + (g.L2 !== 0 ? 1 : 0);
      }
    }
    const stride = this.flat.stride;
    terms.forEach(([p, l1, l2], i) => {
      this.gpu.dispatch(this.gpu.kernel(REG), [this.flat.buffer, this.state], {
        candOff: rows.candidates.first * stride,
        homeOff: rows.home * stride,
        stride,
        k: this.bestOf,
        start: p.offset,
        count: p.numel,
        outOff: this.#layout.at("penalties"),
        accumulate: i === 0 ? 0 : 1,
        l1,
        l2,
        weight: 1 / count,
      }, [1, this.bestOf + (baseline ? 1 : 0)]);
    });
    return terms.length > 0;
  }
}
