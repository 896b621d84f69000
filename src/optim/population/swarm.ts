/**
 * `SwarmOfOptimizers`: optimizers (derivative-free or gradient-based) each with its own parameters, evaluated
 * together; the bad ones die and respawn as a crossover of the two best.
 *
 * @module
 */

import type { KernelSpec } from "../../gpu/kernel.ts";
import { ceilDiv, fold } from "../../ops/_util.ts";
import { axpy, broadcastRow, copy, copyRows, scale, zeros } from "../../ops/elementwise.ts";
import { RANDOM_WGSL } from "../../ops/random.ts";
import { mean } from "../../ops/reduce.ts";
import { Tensor } from "../../tensor.ts";
import type { Optimizer, OptimizerStateDict, ParamsInput } from "../optimizer.ts";
import { selectRow } from "./decisions.ts";
import { perturb, type Sampler, samplerKind } from "./noise.ts";
import { type PopulationBind, PopulationOptimizer } from "./population_optimizer.ts";
import {
  type Losses,
  type MemberRows,
  type RowBlock,
  type RowNeeds,
  rowsNeeded,
  rowsOf,
  splitRows,
  sumNeeds,
} from "./protocol.ts";
import { StateLayout } from "./state_layout.ts";
import { reportRow } from "./update_to_grad.ts";
import rankCode from "../../../shaders/swarm_rank.wgsl" with { type: "text" };
import respawnCode from "../../../shaders/swarm_respawn.wgsl" with { type: "text" };
import gravityCode from "../../../shaders/swarm_gravity.wgsl" with { type: "text" };

/** Crossover strategies of the original, with its default weights 8 : 1 : 4 : 4. */
export interface CrossoverWeights {
  /** Weight of `swap`: per tensor, the whole tensor of one parent or the other (a coin flip). */
  swap: number;
  /** Weight of `uniform`: per element, the value of one parent or the other. */
  uniform: number;
  /**
   * Weight of `onepoint`: per tensor, the second best inside a leading block cut at random,
   * the best elsewhere.
   */
  onepoint: number;
  /** Weight of `mean`: the average of the two parents. */
  mean: number;
}

/** Options of {@linkcode SwarmOfOptimizers}. */
export interface SwarmOptions extends PopulationBind {
  /** Members older than this many steps can die; null: nobody dies. Default null. */
  oldSteps?: number | null;
  /** An old member that is not the best for more than this many steps in a row dies. Default 10. */
  dieAfter?: number;
  /** Probability that a respawn is a crossover (else a copy of the best). Default 1. */
  crossoverP?: number;
  /** Strategy weights, or one strategy by name. Default swap 8, uniform 1, onepoint 4, mean 4. */
  crossover?: Partial<CrossoverWeights> | keyof CrossoverWeights;
  /** Pull toward the center each step (x −= gravity·sign(d)·|d|^gravityP); null: off. Default null. */
  gravity?: number | null;
  /** Center of gravity: the best member's parameters or the members' mean. Default "best". */
  gravityMode?: "best" | "mean";
  /** Exponent of the pull. Default 1. */
  gravityP?: number;
  /** Noise added to every member each step (scale of the sampler); null: off. Default null. */
  noise?: number | null;
  /** Distribution of that noise. Default "normal". */
  noiseSampler?: Sampler;
  /** Momentum of the members' mean, added to every member; null: off. Default null. */
  meanMomentum?: number | null;
  /** The model row after a step: the best member, the mean of the members before the step, or the last member. Default "best". */
  aggMode?: "best" | "mean" | "last";
  /**
   * `"reset"` (default): a respawned member starts young (age and bad streak reset).
   * `"original"`: the streak is kept, so it respawns every step until it becomes the best.
   */
  respawn?: "reset" | "original";
}

const WG = 64;
/** Elements per invocation of the respawn kernel. */
const RESPAWN_PER = 16;
const NOISE_STREAM = 0x6e6f6973;
const DEFAULT_WEIGHTS: CrossoverWeights = { swap: 8, uniform: 1, onepoint: 4, mean: 4 };

const RANK: KernelSpec = {
  file: "shaders/swarm_rank.wgsl",
  code: rankCode,
  entryPoint: "rank",
  storage: ["read", "write", "write"],
};

const RESPAWN: KernelSpec = {
  file: "shaders/swarm_respawn.wgsl",
  prelude: RANDOM_WGSL,
  code: respawnCode,
  entryPoint: "respawn",
  storage: ["read", "read", "write"],
};

const GRAVITY: KernelSpec = {
  file: "shaders/swarm_gravity.wgsl",
  code: gravityCode,
  entryPoint: "gravity",
  storage: ["read", "write"],
};

/** What {@linkcode SwarmOfOptimizers.inspect} returns. */
export interface SwarmInspection {
  /** Index of the member with the lowest reported loss in the last step. */
  best: number;
  /** Index of the member with the second lowest reported loss. */
  second: number;
  /** Steps each member has lived (reset on respawn unless `respawn: "original"`). */
  age: number[];
  /** Consecutive steps each member has been old and not the best. */
  streak: number[];
  /** Whether each member died (and respawned) in the last step. */
  dead: boolean[];
}

/**
 * SwarmOfOptimizers (torchzero's `SwarmOfOptimizers`): every member optimizer gets its own
 * copy of the parameters (a row of the parameter buffer); one step evaluates all members'
 * candidates in ONE closure call (10 RandomGrads: 20 rows), ranks them on the GPU, ages them,
 * and replaces members that stay bad by a crossover of the two best.
 *
 * ```text
 * first step: every member's row = the model row
 * each step:  age += 1; [mean of members; gravity; mean momentum; noise]
 *             every member proposes → one evaluation → every member accepts, reports a loss
 *             best, second = the two lowest reported losses (NaN/∞ never rank best)
 *             old (age > oldSteps) and not best → streak += 1, else streak = 0
 *             streak > dieAfter → row = crossover(best, second) with probability crossoverP,
 *                                 else a copy of the best; its own optimizer state is kept
 *             model row = best member (aggMode "best") | mean before the step | last member
 * return the best member's reported loss
 * ```
 * Gradient-based members (the original's "supports both gradient based and gradient free
 * optimizers"): each step evaluates every member's own row with ONE call of a closure that
 * computes gradients — `() => lossAndGrad(model, x, y, crossEntropy)`, all members' forward
 * and backward batched — then each member steps on its row's gradients and reports its loss
 * before the step; ranking and respawn are as above.
 *
 * Members are built over the model's parameters as usual; the swarm moves each to its own
 * row (member i → row i + 1; row 0 stays the model) and zeroes their gradients every step.
 *
 * Differences from the original: all members are evaluated in one forward pass; a respawned
 * member starts young (its age and bad streak reset; the original kept the streak, so a member
 * respawned on every later step until it became the best — `respawn: "original"` keeps that);
 * options apply to the whole swarm rather than per param group; the respawn draws come from the
 * counter-based generator (one per member and tensor, as in the original).
 *
 * @example
 * ```ts ignore
 * const params = model.parameters();
 * const members = Array.from({ length: 10 }, (_, i) =>
 *   new RandomGrad(params, { magn: 1e-5, seed: i, opt: new AdamW(params, { lr: 1e-3 }) }));
 * const swarm = new SwarmOfOptimizers(params, members, { oldSteps: 5, dieAfter: 20, crossoverP: 0.9 });
 * const loss = swarm.step(() => crossEntropy(model.forward(x), y, { reduction: "none" }));
 * ```
 */
export class SwarmOfOptimizers extends PopulationOptimizer<Record<string, never>> {
  /** The members, each bound to its own row. */
  readonly optimizers: Optimizer<object>[];
  /** The respawn rule in force (the `respawn` option). */
  readonly respawn: "reset" | "original";
  /**
   * True when the members are gradient-based (first-order) optimizers: each step evaluates
   * every member's own row with a closure that computes gradients (`lossAndGrad`), and each
   * member steps on the gradients of its row.
   */
  readonly gradientBased: boolean;
  readonly #o: Required<Omit<SwarmOptions, "row" | "seed" | "crossover">> & {
    weights: CrossoverWeights;
  };
  readonly #reports: Tensor;
  /** Ranking (best, second) and each member's age, bad streak and death flag. */
  readonly #layout: StateLayout<"best" | "second" | "age" | "streak" | "dead">;
  readonly #meta: GPUBuffer;
  readonly #tensors: number;
  #center: Tensor | null = null;
  #mean: Tensor | null = null;
  #prevMean: Tensor | null = null;
  #momentum: Tensor | null = null;

  /**
   * Builds the swarm and binds member i to row `row + 1 + i`.
   *
   * @param params the model's parameters.
   * @param optimizers two or more optimizers over the model's parameters, all derivative-free
   *   or all gradient-based (first-order: SGD, Adam, ...),
   *   without state yet (they are moved to their own rows).
   * @param options swarm options, the model row and the seed.
   * @throws {RangeError} for fewer than two members or an option out of range.
   * @throws {TypeError} for a mix of derivative-free and gradient-based members (saying why),
   *   or a member over another model.
   * @throws {Error} if a member already has state (it cannot move to another row).
   */
  constructor(
    params: ParamsInput<Record<string, never>>,
    optimizers: Optimizer<object>[],
    options: SwarmOptions = {},
  ) {
    super("SwarmOfOptimizers", params, {}, { row: options.row, seed: options.seed });
    if (optimizers.length < 2) {
      throw new RangeError(
        `SwarmOfOptimizers: needs at least 2 members, received ${optimizers.length}`,
      );
    }
    this.gradientBased = checkMembers(optimizers);
    optimizers.forEach((opt) => {
      if (opt.flat !== this.flat) {
        throw new TypeError("SwarmOfOptimizers: members must be over the same model");
      }
    });
    this.optimizers = optimizers;
    this.#o = resolveOptions(options);
    this.respawn = this.#o.respawn;
    const n = this.optimizers.length;
    this.optimizers.forEach((m, i) => m.bindRow(this.row + 1 + i));
    const gpu = this.gpu;
    this.#reports = zeros([n], { gpu }).keep();
    this.#layout = new StateLayout({ best: 1, second: 1, age: n, streak: n, dead: n });
    const meta = new Uint32Array(8 * this.flat.params.length);
    this.flat.params.forEach((p, t) => {
      meta.set([p.offset, p.numel, Math.min(p.shape.length, 4), ...padDims(p.shape)], 8 * t);
    });
    this.#tensors = this.flat.params.length;
    this.#meta = gpu.device.createBuffer({
      size: Math.max(16, meta.byteLength),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    });
    gpu.write(this.#meta, 0, meta);
  }

  /** Nothing to check: swarm options are checked by the constructor. */
  protected validate(): void {}

  /** The ranking, ages, streaks and death flags. */
  protected override stateLayout(): StateLayout<string> {
    return this.#layout;
  }

  /**
   * A home row per member, the members' candidate and work rows, and two work rows for copies
   * of the parents.
   *
   * @throws {Error} if a member has members of its own (swarms do not nest).
   */
  rowNeeds(): RowNeeds {
    const own = sumNeeds(this.optimizers.map((m) => m.rowNeeds()));
    if (own.members > 0) {
      throw new Error("SwarmOfOptimizers: a member cannot have members of its own");
    }
    return { members: this.optimizers.length, candidates: own.candidates, work: own.work + 2 };
  }

  /**
   * Each member's rows: member i's home is the i-th member row (where the constructor bound
   * it), its candidates and work rows are its share of the swarm's.
   *
   * @throws {Error} if the member rows are not the rows the members are bound to.
   */
  #split(rows: MemberRows): MemberRows[] {
    const homes = rowsOf(rows.members);
    this.optimizers.forEach((m, i) => {
      if (m.row !== homes[i]) {
        throw new Error(
          `SwarmOfOptimizers: member ${i} is bound to row ${m.row} but was given row ${homes[i]}`,
        );
      }
    });
    const needs = this.optimizers.map((m) => m.rowNeeds());
    const work = { first: rows.work.first, count: rows.work.count - 2 };
    return splitRows({ ...rows, work }, needs, homes);
  }

  /** The two work rows after the members' ones: copies of the best and the second best. */
  #parents(rows: MemberRows): RowBlock {
    return { first: rows.work.first + rows.work.count - 2, count: 2 };
  }

  /** Rows of the members as a population view `[n, stride]`. */
  #homes(rows: MemberRows): Tensor {
    const { flat } = this;
    return Tensor.view(this.gpu, flat.buffer, [this.optimizers.length, flat.stride], {
      population: true,
      offset: rows.members.first * flat.stride,
      rowStride: flat.stride,
    });
  }

  /**
   * On the first step copies the model row to every member; then applies the mean, gravity,
   * mean momentum and noise options to the members' rows, zeroes their gradients and merges
   * their proposals.
   *
   * @returns every member's rows to evaluate.
   */
  propose(rows: MemberRows): number[] {
    const { gpu, flat } = this;
    const o = this.#o;
    const split = this.#split(rows);
    if (this.stepCount === 0) {
      const all = flat.tensor();
      broadcastRow(all, rows.home);
      all.dispose();
    }
    const homes = this.#homes(rows);
    if (o.gravity !== null || o.meanMomentum !== null || o.aggMode === "mean") {
      const m = mean(homes, { axis: 0 });
      if (this.#mean === null) this.#mean = m.keep();
      else {
        this.#prevMean ??= zeros([flat.stride], { gpu }).keep();
        copy(this.#mean, this.#prevMean);
        copy(m, this.#mean);
        m.dispose();
      }
    }
    if (o.gravity !== null && this.#center !== null) {
      const [x, z] = this.#grid();
      gpu.dispatch(gpu.kernel(GRAVITY, { WG }), [this.#center.buffer, flat.buffer], {
        homeOff: rows.members.first * flat.stride,
        stride: flat.stride,
        gravity: o.gravity,
        power: o.gravityP,
      }, [x, this.optimizers.length, z]);
    }
    if (this.#momentum !== null) axpy(homes, this.#momentum, 1);
    if (o.noise !== null) {
      const kind = samplerKind("SwarmOfOptimizers", o.noiseSampler);
      for (let i = 0; i < this.optimizers.length; i++) {
        for (const seg of this.spans()) {
          perturb(gpu, flat.buffer, flat.stride, seg, {
            seed: this.seed,
            stream: this.stream ^ NOISE_STREAM,
            counter: this.stepCount,
            idBase: i,
            kind,
            base: split[i].home,
            dst: split[i].home,
            k: 1,
            keep: 1,
            scale: o.noise,
          });
        }
      }
    }
    homes.dispose();
    return this.optimizers.flatMap((m, i) => {
      m.zeroGrad();
      // A gradient-based member is evaluated at its own parameters (the closure writes their
      // gradients into its row); a derivative-free one asks for its candidates.
      return this.gradientBased ? [split[i].home] : m.propose(split[i]);
    });
  }

  /** @throws {Error} if the closure left a gradient-based member's row without gradients. */
  #checkGradients(home: number): void {
    if (this.flat.params.some((p) => !this.flat.hasGrad(p, home))) {
      throw new Error(
        "SwarmOfOptimizers: the members are gradient-based but the closure computed no " +
          `gradients for row ${home}; return lossAndGrad(model, x, y, lossFn) from the closure ` +
          "instead of the loss alone",
      );
    }
  }

  #grid(): [number, number] {
    return fold(ceilDiv(this.flat.stride, WG));
  }

  /**
   * Lets every member accept, ranks their reported losses on the GPU (reporting the best one),
   * respawns dead members, then writes the model row per `aggMode` and updates the gravity
   * center and mean momentum.
   */
  accept(losses: Losses | null, rows: MemberRows, report: Tensor): void {
    const { gpu, flat } = this;
    const o = this.#o;
    const n = this.optimizers.length;
    const layout = this.#layout;
    const state = this.state;
    this.#split(rows).forEach((own, i) => {
      const slot = Tensor.view(gpu, this.#reports.buffer, [], { offset: i });
      if (this.gradientBased) {
        if (losses === null) throw new Error("SwarmOfOptimizers: a gradient step needs losses");
        this.#checkGradients(own.home);
        reportRow(losses, own.home, slot); // the loss at the member's parameters before its step
      }
      this.optimizers[i].accept(losses, own, slot);
      slot.dispose();
    });
    gpu.dispatch(gpu.kernel(RANK, { N: n }), [this.#reports.buffer, state, report.buffer], {
      oldSteps: o.oldSteps ?? 0,
      noOld: o.oldSteps === null ? 1 : 0,
      dieAfter: o.dieAfter,
      original: o.respawn === "original" ? 1 : 0,
      reportOff: report.offset,
      bestAt: layout.at("best"),
      secondAt: layout.at("second"),
      ageOff: layout.at("age"),
      streakOff: layout.at("streak"),
      deadOff: layout.at("dead"),
    }, [1]);
    const first = rows.members.first;
    const parents = this.#parents(rows).first;
    const whole = { start: 0, end: flat.stride };
    const copyMember = (chosenAt: number, home: number) =>
      selectRow(gpu, state, flat.buffer, flat.stride, whole, { chosenAt, home, cand: first });
    copyMember(layout.at("best"), parents);
    copyMember(layout.at("second"), parents + 1);
    if (o.oldSteps !== null) this.#respawn(first, parents);
    if (o.aggMode === "best") {
      copyMember(layout.at("best"), rows.home);
    } else if (o.aggMode === "mean") {
      const row = Tensor.view(gpu, flat.buffer, [flat.stride], { offset: rows.home * flat.stride });
      copy(this.#mean!, row);
      row.dispose();
    } else {
      const all = flat.tensor();
      copyRows(all, first + n - 1, rows.home);
      all.dispose();
    }
    if (o.gravity !== null) {
      this.#center ??= zeros([flat.stride], { gpu }).keep();
      if (o.gravityMode === "mean") copy(this.#mean!, this.#center);
      else {gpu.copy(
          flat.buffer,
          parents * flat.stride * 4,
          this.#center.buffer,
          0,
          flat.stride * 4,
        );}
    }
    if (o.meanMomentum !== null && this.#prevMean !== null) {
      this.#momentum ??= zeros([flat.stride], { gpu }).keep();
      // mm = (mm + prevMean − mean) · meanMomentum
      axpy(this.#momentum, this.#prevMean, 1);
      axpy(this.#momentum, this.#mean!, -1);
      const scaled = scale(this.#momentum, o.meanMomentum);
      copy(scaled, this.#momentum);
      scaled.dispose();
    }
    this.stepCount++;
  }

  #respawn(first: number, parents: number): void {
    const { gpu, flat } = this;
    const o = this.#o;
    const w = o.weights;
    const total = w.swap + w.uniform + w.onepoint + w.mean;
    const [x, z] = fold(ceilDiv(flat.stride, WG * RESPAWN_PER));
    const kernel = gpu.kernel(RESPAWN, { WG, PER: RESPAWN_PER, TENSORS: this.#tensors });
    gpu.dispatch(kernel, [this.state, this.#meta, flat.buffer], {
      deadOff: this.#layout.at("dead"),
      homeOff: first * flat.stride,
      aOff: parents * flat.stride,
      stride: flat.stride,
      seed: this.seed,
      stream: this.stream,
      counter: this.stepCount,
      crossoverP: o.crossoverP,
      cSwap: w.swap / total,
      cUniform: (w.swap + w.uniform) / total,
      cOnepoint: (w.swap + w.uniform + w.onepoint) / total,
    }, [x, this.optimizers.length, z]);
  }

  /** Reads the ranking and each member's age, bad streak and death flag (one readback; for tests and diagnostics). */
  async inspect(): Promise<SwarmInspection> {
    const layout = this.#layout;
    const s = new Float32Array(await this.gpu.readBuffer(this.state, 0, layout.floats * 4));
    return {
      best: layout.read(s, "best")[0],
      second: layout.read(s, "second")[0],
      age: [...layout.read(s, "age")],
      streak: [...layout.read(s, "streak")],
      dead: [...layout.read(s, "dead")].map((v) => v === 1),
    };
  }

  /**
   * Clears the members' gradients (each in its own row).
   *
   * @param options `setToNone: false` writes zeros instead (see {@linkcode Optimizer.zeroGrad}).
   */
  override zeroGrad(options: { setToNone?: boolean } = {}): void {
    for (const m of this.optimizers) m.zeroGrad(options);
  }

  /**
   * The base state plus every member's checkpoint, the members' rows, the swarm ranking state
   * and the mean, gravity and momentum vectors (several readbacks).
   */
  protected override async extraState(): Promise<Record<string, unknown>> {
    const members = [];
    for (const m of this.optimizers) members.push(await m.stateDict());
    const read = async (t: Tensor | null) => t === null ? null : await t.read();
    const { flat } = this;
    const first = this.row + 1;
    const rows = flat.rows > first
      ? new Float32Array(
        await this.gpu.readBuffer(
          flat.buffer,
          first * flat.stride * 4,
          this.optimizers.length * flat.stride * 4,
        ),
      )
      : null;
    return {
      ...await super.extraState(),
      members,
      rows,
      center: await read(this.#center),
      mean: await read(this.#mean),
      prevMean: await read(this.#prevMean),
      momentum: await read(this.#momentum),
    };
  }

  /** Restores what {@linkcode extraState} saved, adding rows to the buffer if needed. */
  protected override loadExtraState(extra: Record<string, unknown> | undefined): void {
    super.loadExtraState(extra);
    if (extra === undefined) return;
    (extra.members as OptimizerStateDict[]).forEach((d, i) => this.optimizers[i].loadStateDict(d));
    if (extra.rows instanceof Float32Array) {
      // The members' own parameters (rows row + 1 ... row + n).
      const { flat } = this;
      const needed = this.row + 1 + rowsNeeded(this.rowNeeds());
      if (flat.rows < needed) flat.setRows(needed);
      this.gpu.write(flat.buffer, (this.row + 1) * flat.stride * 4, extra.rows);
    }
    // Checkpoints of 0.1 kept the swarm record apart from the (then unused) base state.
    if (extra.swarm instanceof Float32Array) this.gpu.write(this.state, 0, extra.swarm);
    const load = (values: unknown, current: Tensor | null): Tensor | null => {
      if (!(values instanceof Float32Array)) return current;
      const t = current ?? Tensor.empty([values.length], { gpu: this.gpu }).keep();
      this.gpu.write(t.buffer, 0, values);
      return t;
    };
    this.#center = load(extra.center, this.#center);
    this.#mean = load(extra.mean, this.#mean);
    this.#prevMean = load(extra.prevMean, this.#prevMean);
    this.#momentum = load(extra.momentum, this.#momentum);
  }

  /** Frees the swarm's buffers and disposes every member. */
  override dispose(): void {
    super.dispose();
    for (const m of this.optimizers) m.dispose();
    for (
      const t of [
        this.#reports,
        this.#center,
        this.#mean,
        this.#prevMean,
        this.#momentum,
      ]
    ) t?.dispose();
    this.#meta.destroy();
  }
}

/**
 * Whether the members are gradient-based (all first-order) or derivative-free (all evaluate
 * rows).
 *
 * @throws {TypeError} for a mix, naming a member of each kind.
 */
function checkMembers(optimizers: readonly Optimizer<object>[]): boolean {
  const firstOrder = optimizers.findIndex((m) => !m.requiresClosure);
  const zeroOrder = optimizers.findIndex((m) => m.requiresClosure);
  if (firstOrder >= 0 && zeroOrder >= 0) {
    throw new TypeError(
      `SwarmOfOptimizers: member ${firstOrder} (${
        optimizers[firstOrder].constructor.name
      }) is gradient-based ` +
        `and member ${zeroOrder} (${
          optimizers[zeroOrder].constructor.name
        }) derivative-free; a swarm's ` +
        "members must be of one kind: gradient-based members are evaluated at their own rows " +
        "by a closure that computes gradients (lossAndGrad), derivative-free ones at candidate " +
        "rows by a closure that returns losses, and one evaluation cannot serve both",
    );
  }
  return zeroOrder < 0;
}

function padDims(shape: readonly number[]): number[] {
  const dims = shape.length <= 4
    ? [...shape]
    : [shape.slice(0, shape.length - 3).reduce((a, b) => a * b, 1), ...shape.slice(-3)];
  while (dims.length < 4) dims.push(1);
  return dims;
}

function resolveOptions(options: SwarmOptions) {
  const name = "SwarmOfOptimizers";
  const o = {
    oldSteps: options.oldSteps ?? null,
    dieAfter: options.dieAfter ?? 10,
    crossoverP: options.crossoverP ?? 1,
    gravity: options.gravity ?? null,
    gravityMode: options.gravityMode ?? "best",
    gravityP: options.gravityP ?? 1,
    noise: options.noise ?? null,
    noiseSampler: options.noiseSampler ?? "normal",
    meanMomentum: options.meanMomentum ?? null,
    aggMode: options.aggMode ?? "best",
    respawn: options.respawn ?? "reset",
    weights: weightsOf(options.crossover),
  };
  const integer = (key: string, v: number | null) => {
    if (v !== null && (!Number.isInteger(v) || v < 0)) {
      throw new RangeError(`${name}: ${key} must be an integer >= 0, received ${v}`);
    }
  };
  integer("oldSteps", o.oldSteps);
  integer("dieAfter", o.dieAfter);
  if (!(o.crossoverP >= 0 && o.crossoverP <= 1)) {
    throw new RangeError(`${name}: crossoverP must be in [0, 1], received ${o.crossoverP}`);
  }
  for (const key of ["gravity", "noise", "meanMomentum"] as const) {
    const v = o[key];
    if (v !== null && !(v >= 0 && Number.isFinite(v))) {
      throw new RangeError(`${name}: ${key} must be >= 0, received ${v}`);
    }
  }
  if (!(o.gravityP > 0)) {
    throw new RangeError(`${name}: gravityP must be > 0, received ${o.gravityP}`);
  }
  if (!["best", "mean"].includes(o.gravityMode)) {
    throw new RangeError(
      `${name}: gravityMode must be "best" or "mean", received ${o.gravityMode}`,
    );
  }
  if (!["best", "mean", "last"].includes(o.aggMode)) {
    throw new RangeError(
      `${name}: aggMode must be "best", "mean" or "last", received ${o.aggMode}`,
    );
  }
  if (!["reset", "original"].includes(o.respawn)) {
    throw new RangeError(`${name}: respawn must be "reset" or "original", received ${o.respawn}`);
  }
  samplerKind(name, o.noiseSampler);
  return o;
}

function weightsOf(crossover: SwarmOptions["crossover"]): CrossoverWeights {
  if (crossover === undefined) return DEFAULT_WEIGHTS;
  if (typeof crossover === "string") {
    if (!(crossover in DEFAULT_WEIGHTS)) {
      throw new RangeError(
        `SwarmOfOptimizers: crossover must be "swap", "uniform", "onepoint" or "mean", received ${crossover}`,
      );
    }
    return { swap: 0, uniform: 0, onepoint: 0, mean: 0, [crossover]: 1 };
  }
  const w = { ...DEFAULT_WEIGHTS, ...crossover };
  const total = w.swap + w.uniform + w.onepoint + w.mean;
  if (Object.values(w).some((v) => !(v >= 0)) || !(total > 0)) {
    throw new RangeError(`SwarmOfOptimizers: crossover weights must be >= 0 with a positive sum`);
  }
  return w;
}
