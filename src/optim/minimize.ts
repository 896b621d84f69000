/**
 * `minimize`: black-box minimization of a host function with any population optimizer (CMA-ES
 * by default), in the spirit of pycma's `fmin2` and nevergrad's `minimize`: a budget, bounds,
 * stopping rules, a per-generation callback, and a result that says why it stopped.
 *
 * @module
 */

import { Parameter } from "../params/flat.ts";
import { CMAES, CMAES_MAX_DIMENSION } from "./es/cma_es.ts";
import { OpenAIES } from "./es/openai_es.ts";
import { PGPE } from "./es/pgpe.ts";
import { SepCMAES } from "./es/sep_cma_es.ts";
import { SNES } from "./es/snes.ts";
import type { PopulationOptimizer } from "./population/population_optimizer.ts";

/** A host objective: the loss of one point (N values). */
export type Objective = (x: Float32Array) => number | Promise<number>;

/** A host objective evaluating a whole generation at once: one loss per point. */
export type BatchObjective = (xs: Float32Array[]) => ArrayLike<number> | Promise<ArrayLike<number>>;

/** The strategies `minimize` builds by name. */
export type MinimizeMethod = "cmaes" | "sepcmaes" | "snes" | "openaies" | "pgpe";

/** Box constraints: every evaluated point is mapped into `[lower, upper]` first. */
export interface Bounds {
  /** Lower bound, one for all coordinates or one per coordinate. */
  lower: number | ArrayLike<number>;
  /** Upper bound, likewise. */
  upper: number | ArrayLike<number>;
  /**
   * `"clip"` (default): each coordinate is clamped to its interval. `"reflect"`: it is mirrored
   * at the bounds (periodically, so any value lands inside).
   */
  mode?: "clip" | "reflect";
}

/** What the callback and the history see after each generation. */
export interface GenerationInfo {
  /** Generations done (1 after the first). */
  generation: number;
  /** Evaluations done. */
  evaluations: number;
  /** The lowest loss of this generation. */
  best: number;
  /** The mean of this generation's finite losses. */
  meanLoss: number;
  /** The lowest loss so far. */
  bestSoFar: number;
}

/** Why a run stopped. */
export type StopReason =
  | "target"
  | "budget"
  | "maxGenerations"
  | "tolFun"
  | "tolX"
  | "aborted"
  | "callback";

/** Options of {@linkcode minimize}. */
export interface MinimizeOptions {
  /** The strategy: "cmaes" (default up to N = 1000), "sepcmaes" (default above), "snes", "openaies", "pgpe". */
  method?: MinimizeMethod;
  /** Options passed to the strategy's constructor (e.g. `{ lr: 0.05 }` for OpenAI-ES). */
  methodOptions?: Record<string, unknown>;
  /** Initial step size σ₀ (the strategies' noise scale). Default 0.5. */
  sigma?: number;
  /** Candidates per generation. Default: the strategy's. */
  popSize?: number;
  /** Seed of every random draw. Default 0. */
  seed?: number;
  /** `f` takes the whole generation (an array of points) and returns their losses. Default false. */
  batch?: boolean;
  /** Most evaluations; a generation that would pass it is not started. Default unlimited. */
  budget?: number;
  /** Box constraints (see {@linkcode Bounds}). */
  bounds?: Bounds;
  /** Stop once a loss ≤ targetLoss was seen. Default: none. */
  targetLoss?: number;
  /**
   * Stop when the range of the best losses of the last 10 + ⌈30N/P⌉ generations and of this
   * generation's losses is below tolFun (pycma's `tolfun`). Default 1e-11.
   */
  tolFun?: number;
  /** Stop when every coordinate's spread across the generation is below tolX. Default 1e-11. */
  tolX?: number;
  /** Most generations. Default pycma's `maxiter`, 100 + 150(N + 3)²/√P. */
  maxGenerations?: number;
  /** Stops the run (reason "aborted") before the next generation. */
  signal?: AbortSignal;
  /** Called after every generation; returning `false` stops the run (reason "callback"). */
  callback?: (info: GenerationInfo) => boolean | void | Promise<boolean | void>;
  /** Continue with this optimizer (e.g. the one of a run that stopped) instead of building one. */
  optimizer?: PopulationOptimizer<object>;
}

/** What {@linkcode minimize} returns. */
export interface MinimizeResult {
  /** The best point evaluated (inside the bounds). */
  x: Float32Array;
  /** Its loss. */
  loss: number;
  /** The strategy's center at the end (mapped into the bounds), often the better estimate. */
  mean: Float32Array;
  /** Evaluations done. */
  evaluations: number;
  /** Generations done. */
  generations: number;
  /** Why the run stopped. */
  stop: StopReason;
  /** One entry per generation. */
  history: GenerationInfo[];
  /** The optimizer, to continue the run (`minimize(f, x0, { optimizer })`) or inspect it. */
  optimizer: PopulationOptimizer<object>;
  /**
   * Frees the run's GPU memory: the optimizer and the parameter buffer `minimize` made for it
   * (an optimizer passed in as `options.optimizer` stays the caller's and is not touched).
   * `optimizer` is unusable afterwards.
   */
  dispose(): void;
}

/** Thrown when the objective throws: the run stopped there and can be resumed. */
export class MinimizeError extends Error {
  /** The optimizer, with the generation still asked: pass it as `optimizer` to resume. */
  readonly optimizer: PopulationOptimizer<object>;

  /**
   * Wraps the objective's error.
   *
   * @param message what happened, with the generation.
   * @param cause the objective's error.
   * @param optimizer the optimizer to resume with.
   */
  constructor(message: string, cause: unknown, optimizer: PopulationOptimizer<object>) {
    super(message, { cause });
    this.name = "MinimizeError";
    this.optimizer = optimizer;
  }
}

/**
 * Minimizes `f` from `x0` with a population optimizer: each generation asks for P points,
 * evaluates them on the host and tells the losses; the candidates are made on the GPU (one
 * readback per generation to hand them to `f`) except for CMA-ES, which makes them on the host.
 *
 * NaN and ±∞ are the worst possible loss. When `f` throws, the run stops with a
 * {@linkcode MinimizeError} (its `cause` is the error) whose `optimizer` still holds the asked
 * generation: `minimize(f, x0, { optimizer: error.optimizer })` evaluates it again and goes on.
 * A resumed run counts afresh: its evaluations, generations, history, best point and budget
 * start from zero (pass the budget that is left). CMA-ES ranks the losses as float64 numbers;
 * the GPU strategies rank them as float32, so there a difference below float32's resolution
 * (e.g. 1000 + 1e-5) is a tie. `result.dispose()` frees the run's GPU memory.
 *
 * @param f the objective: a function of one point, or of a generation with `batch: true`.
 * @param x0 the starting point (its length is N).
 * @returns the best point and loss, the final mean, counts, the stop reason and the history.
 * @throws {RangeError} for an empty x0, bounds of the wrong length or with lower > upper, or a
 *   bad option.
 * @throws {MinimizeError} when `f` throws.
 *
 * @example
 * ```ts ignore
 * const rosenbrock = (x: Float32Array) => {
 *   let f = 0;
 *   for (let i = 0; i + 1 < x.length; i++) f += 100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2;
 *   return f;
 * };
 * const result = await minimize(rosenbrock, new Array(10).fill(0), { sigma: 0.5, targetLoss: 1e-8 });
 * console.log(result.loss, result.evaluations, result.stop);
 * ```
 */
export async function minimize(
  f: Objective | BatchObjective,
  x0: ArrayLike<number>,
  options: MinimizeOptions = {},
): Promise<MinimizeResult> {
  const n = x0.length;
  if (n === 0) throw new RangeError("minimize: x0 must have at least one value");
  const box = options.bounds === undefined ? null : boundsOf(options.bounds, n);
  for (const name of ["budget", "maxGenerations"] as const) {
    const value = options[name];
    if (value !== undefined && !(value > 0)) {
      throw new RangeError(`minimize: ${name} must be > 0, received ${value}`);
    }
  }
  const budget = options.budget ?? Infinity;
  const opt = options.optimizer ?? build(x0, options);
  /** Frees what this call built (an optimizer passed in stays the caller's). */
  const release = () => {
    if (options.optimizer !== undefined) return;
    opt.dispose();
    opt.flat.dispose();
  };
  const popSize = opt.rowNeeds().candidates;
  if (budget < popSize) {
    release();
    throw new RangeError(
      `minimize: budget ${budget} is less than one generation (popSize ${popSize} evaluations)`,
    );
  }
  await opt.prepare();
  const maxGenerations = options.maxGenerations ??
    Math.floor(100 + 150 * (n + 3) ** 2 / Math.sqrt(Math.max(1, popSize)));
  const tolFun = options.tolFun ?? 1e-11;
  const tolX = options.tolX ?? 1e-11;
  const target = options.targetLoss ?? -Infinity;
  const window = 10 + Math.ceil(30 * n / Math.max(1, popSize));
  const history: GenerationInfo[] = [];
  let best = { x: new Float32Array(0), loss: Infinity };
  let evaluations = 0;
  let stop: StopReason | null = null;
  while (stop === null) {
    if (options.signal?.aborted) {
      stop = "aborted";
      break;
    }
    const population = opt.ask();
    if (evaluations + population.size > budget) {
      stop = "budget";
      break;
    }
    const points = await population.read();
    const evaluated = box === null ? points : points.map((x) => box.map(x));
    let losses: number[];
    try {
      losses = await evaluate(f, evaluated, options.batch ?? false);
    } catch (error) {
      throw new MinimizeError(
        `minimize: the objective threw in generation ${history.length + 1}: ${messageOf(error)}`,
        error,
        opt,
      );
    }
    opt.tell(losses).dispose();
    evaluations += losses.length;
    let genBest = Infinity;
    let sum = 0;
    let finite = 0;
    losses.forEach((v, k) => {
      if (!Number.isFinite(v)) return;
      sum += v;
      finite++;
      if (v < genBest) genBest = v;
      if (v < best.loss) best = { x: evaluated[k].slice(), loss: v };
    });
    const info: GenerationInfo = {
      generation: history.length + 1,
      evaluations,
      best: genBest,
      meanLoss: finite === 0 ? NaN : sum / finite,
      bestSoFar: best.loss,
    };
    history.push(info);
    if ((await options.callback?.(info)) === false) stop = "callback";
    else if (best.loss <= target) stop = "target";
    else if (evaluations >= budget) stop = "budget";
    else if (history.length >= maxGenerations) stop = "maxGenerations";
    else if (flat(history, losses, window, tolFun)) stop = "tolFun";
    else if (spread(evaluated) < tolX) stop = "tolX";
  }
  const center = await opt.center();
  return {
    x: best.x.length === 0 ? Float32Array.from(box === null ? center : box.map(center)) : best.x,
    loss: best.loss,
    mean: box === null ? center : box.map(center),
    evaluations,
    generations: history.length,
    stop,
    history,
    optimizer: opt,
    dispose: release,
  };
}

function build(x0: ArrayLike<number>, o: MinimizeOptions): PopulationOptimizer<object> {
  const n = x0.length;
  const method = o.method ?? (n <= 1000 ? "cmaes" : "sepcmaes");
  const x = new Parameter(Float32Array.from(x0));
  const common = {
    sigma: o.sigma ?? 0.5,
    seed: o.seed ?? 0,
    ...(o.popSize === undefined ? {} : { popSize: o.popSize }),
    ...o.methodOptions,
  };
  switch (method) {
    case "cmaes":
      if (n > CMAES_MAX_DIMENSION) break;
      return new CMAES([x], { ...common, mean: x0 });
    case "sepcmaes":
      return new SepCMAES([x], common);
    case "snes":
      return new SNES([x], common);
    case "openaies":
      return new OpenAIES([x], common);
    case "pgpe":
      return new PGPE([x], common);
    default:
      throw new RangeError(
        `minimize: method must be "cmaes", "sepcmaes", "snes", "openaies" or "pgpe", received ${method}`,
      );
  }
  return new CMAES([x], { ...common, mean: x0 }); // throws the dimension error
}

async function evaluate(
  f: Objective | BatchObjective,
  points: Float32Array[],
  batch: boolean,
): Promise<number[]> {
  if (batch) {
    const out = await (f as BatchObjective)(points.map((x) => x.slice()));
    if (out === null || typeof out !== "object" || out.length !== points.length) {
      throw new TypeError(`the batch objective must return ${points.length} losses`);
    }
    return Array.from(out, sanitize);
  }
  const losses: number[] = [];
  for (const x of points) losses.push(sanitize(await (f as Objective)(x.slice())));
  return losses;
}

/** A loss as a number: NaN, ±∞ and non-numbers become +∞ (the worst). */
function sanitize(v: unknown): number {
  return typeof v === "number" && !Number.isNaN(v) && v !== -Infinity ? v : Infinity;
}

/** pycma's tolfun: the best losses of the recent generations and this one's all within tolFun. */
function flat(
  history: GenerationInfo[],
  losses: number[],
  window: number,
  tolFun: number,
): boolean {
  if (history.length < window) return false;
  const values = [...history.slice(-window).map((h) => h.best), ...losses];
  if (!values.every(Number.isFinite)) return false;
  return Math.max(...values) - Math.min(...values) < tolFun;
}

/** The largest standard deviation of a coordinate across the points. */
function spread(points: Float32Array[]): number {
  const n = points[0]?.length ?? 0;
  let worst = 0;
  for (let j = 0; j < n; j++) {
    let mean = 0;
    for (const x of points) mean += x[j];
    mean /= points.length;
    let v = 0;
    for (const x of points) v += (x[j] - mean) ** 2;
    worst = Math.max(worst, Math.sqrt(v / points.length));
  }
  return worst;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Bounds resolved per coordinate, and the map into them. */
function boundsOf(b: Bounds, n: number): { map(x: ArrayLike<number>): Float32Array } {
  const expand = (v: number | ArrayLike<number>, name: string) => {
    if (typeof v === "number") return new Float64Array(n).fill(v);
    if (v.length !== n) {
      throw new RangeError(`minimize: bounds.${name} must have ${n} values, received ${v.length}`);
    }
    return Float64Array.from(v);
  };
  const lower = expand(b.lower, "lower");
  const upper = expand(b.upper, "upper");
  for (let j = 0; j < n; j++) {
    if (!(lower[j] <= upper[j]) || !Number.isFinite(lower[j] - upper[j])) {
      throw new RangeError(
        `minimize: bounds must be finite with lower <= upper, received [${lower[j]}, ${
          upper[j]
        }] at ${j}`,
      );
    }
  }
  const mode = b.mode ?? "clip";
  if (mode !== "clip" && mode !== "reflect") {
    throw new RangeError(`minimize: bounds.mode must be "clip" or "reflect", received ${mode}`);
  }
  return {
    map: (x) =>
      Float32Array.from(x, (v, j) => {
        const lo = lower[j];
        const hi = upper[j];
        if (mode === "clip" || hi === lo) return Math.min(hi, Math.max(lo, v));
        const width = hi - lo;
        const t = ((v - lo) % (2 * width) + 2 * width) % (2 * width); // period 2·width
        return lo + (t <= width ? t : 2 * width - t);
      }),
  };
}
