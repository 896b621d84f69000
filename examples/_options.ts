// The command line of examples/mnist.ts: flags to a TrainConfig, every value checked before any
// slow work, and the rules for resuming a checkpoint (what may change, what is taken from it).

import { parseArgs } from "node:util";
import {
  ES_DEFAULTS,
  ES_PRESETS,
  type Preset,
  PRESETS,
  RESUMABLE,
  type TrainConfig,
} from "./_train.ts";

/** A mistake on the command line: printed as one sentence, exit status 2. */
export class UsageError extends Error {
  /** @param message what is wrong, naming the flag and the value. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The parsed command line. */
export interface ParsedArgs {
  config: TrainConfig;
  /** The flags given explicitly (without `--`). */
  given: Set<string>;
  data: string | null;
  save?: string;
  resume?: string;
  json?: string;
  plot?: string;
  curveEvery?: number;
  /** `--budget`, kept to recompute the steps against a resumed configuration. */
  budget?: number;
  help: boolean;
}

const OPTIONS = {
  preset: { type: "string" },
  epochs: { type: "string" },
  "batch-size": { type: "string" },
  lr: { type: "string" },
  magn: { type: "string" },
  "swarm-size": { type: "string" },
  pop: { type: "string" },
  sigma: { type: "string" },
  generations: { type: "string" },
  budget: { type: "string" },
  seed: { type: "string" },
  data: { type: "string" },
  faithful: { type: "boolean" },
  save: { type: "string" },
  resume: { type: "string" },
  json: { type: "string" },
  plot: { type: "string" },
  limit: { type: "string" },
  "test-limit": { type: "string" },
  "curve-every": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** Flags that set a TrainConfig field (the others name files or change the output only). */
export const CONFIG_FLAGS: Record<string, keyof TrainConfig> = {
  preset: "preset",
  epochs: "epochs",
  "batch-size": "batchSize",
  lr: "lr",
  magn: "magn",
  "swarm-size": "swarmSize",
  pop: "pop",
  sigma: "sigma",
  generations: "steps",
  budget: "steps",
  seed: "seed",
  faithful: "faithful",
  limit: "limit",
  "test-limit": "testLimit",
};

const MAX_SEED = 2 ** 32 - 1;
const ESTIMATORS: readonly Preset[] = ["randomgrad", "swarm", "bestgrad", "spsa"];

/** Parameter rows one step of a preset evaluates. */
export function rowsOf(c: TrainConfig): number {
  if (c.pop !== undefined) return c.pop;
  switch (c.preset) {
    case "swarm":
      return 2 * c.swarmSize;
    case "swarm-sgd":
      return c.swarmSize;
    case "bestgrad":
      return 11;
    case "sgd":
    case "adam":
      return 1;
    default:
      return 2;
  }
}

/** Default learning rate of a preset (the inner optimizer's, or the walk's step). */
function defaultLr(preset: Preset): number {
  if (preset === "randomwalk") return 2e-3;
  if (preset === "sgd" || preset === "swarm-sgd") return 1e-2;
  return 1e-3;
}

/**
 * Parses and checks the command line.
 *
 * @param args the arguments after the script name.
 * @param defaults the preset to assume when `--preset` is not given (a resumed checkpoint's).
 * @throws {UsageError} naming the flag and the value: an unknown or repeated flag, a missing
 *   or malformed value, a value out of range, a flag the preset does not use, flags that
 *   exclude each other.
 */
export function parseConfig(args: string[], defaults: { preset?: Preset } = {}): ParsedArgs {
  let values: Record<string, string | boolean | undefined>;
  let tokens: { kind: string; name?: string }[];
  try {
    ({ values, tokens } = parseArgs({ args, options: OPTIONS, strict: true, tokens: true }));
  } catch (error) {
    throw new UsageError(reword(error as Error & { code?: string }));
  }
  const given = new Set<string>();
  for (const t of tokens) {
    if (t.kind !== "option" || t.name === undefined) continue;
    if (given.has(t.name)) throw new UsageError(`--${t.name} is given more than once`);
    given.add(t.name);
  }
  const text = (name: string) => {
    const v = values[name] as string | undefined;
    if (v !== undefined && v.trim() === "") throw new UsageError(`--${name} needs a value`);
    return v;
  };
  const preset = (text("preset") ?? defaults.preset ?? "randomgrad") as Preset;
  if (!PRESETS.includes(preset)) {
    throw new UsageError(`--preset must be one of ${PRESETS.join(", ")}, received ${preset}`);
  }
  const es = ES_PRESETS.includes(preset) ? ES_DEFAULTS[preset] : null;
  // With --resume and no --preset, the preset comes from the checkpoint: the flags that depend
  // on it are checked when the command line is parsed again with it.
  const deferred = given.has("resume") && !given.has("preset") && defaults.preset === undefined;
  const only = (flag: string, presets: readonly Preset[], what: string) => {
    if (given.has(flag) && !presets.includes(preset) && !deferred) {
      throw new UsageError(`--${flag} is used by ${what} only, not by --preset ${preset}`);
    }
  };
  only("pop", ES_PRESETS, "the evolution strategies (openes, pgpe, snes, sepcma)");
  only("sigma", ES_PRESETS, "the evolution strategies (openes, pgpe, snes, sepcma)");
  only("magn", ESTIMATORS, "randomgrad, swarm, bestgrad and spsa");
  only("swarm-size", ["swarm", "swarm-sgd"], "the swarm presets (swarm, swarm-sgd)");
  if (preset === "sepcma" && given.has("lr") && !deferred) {
    throw new UsageError("--lr is not used by --preset sepcma (it adapts its own step size)");
  }
  for (
    const [a, b] of [["generations", "budget"], ["epochs", "generations"], ["epochs", "budget"]]
  ) {
    if (given.has(a) && given.has(b)) {
      throw new UsageError(`--${a} and --${b} cannot be given together`);
    }
  }
  const batchSize = integer("batch-size", text("batch-size"), es?.batchSize ?? 32, 1);
  const pop = integer("pop", text("pop"), es?.pop ?? 0, 0);
  if (es !== null && (pop < 2 || (preset !== "snes" && preset !== "sepcma" && pop % 2 !== 0))) {
    throw new UsageError(
      `--pop must be ${
        preset === "openes" || preset === "pgpe" ? "an even integer" : "an integer"
      } >= 2 for ${preset}, received ${pop}`,
    );
  }
  const swarmSize = integer("swarm-size", text("swarm-size"), 10, 1);
  const seed = integer("seed", text("seed"), 0, 0);
  const seedMax = preset === "swarm" ? Math.floor((MAX_SEED - swarmSize + 1) / 1000) : MAX_SEED;
  if (seed > seedMax) {
    throw new UsageError(
      `--seed must be at most ${seedMax}${
        preset === "swarm" ? " for the swarm (member i uses seed × 1000 + i)" : ""
      }, received ${seed}`,
    );
  }
  const config: TrainConfig = {
    preset,
    epochs: integer("epochs", text("epochs"), 10, 1),
    batchSize,
    lr: positive("lr", text("lr"), es?.lr ?? defaultLr(preset)),
    magn: positive("magn", text("magn"), preset === "spsa" ? 1e-3 : 1e-5),
    swarmSize,
    seed,
    faithful: values.faithful === true,
    limit: text("limit") === undefined ? null : integer("limit", text("limit"), 0, 1),
    testLimit: text("test-limit") === undefined
      ? null
      : integer("test-limit", text("test-limit"), 0, 1),
    ...(es === null ? {} : { pop, sigma: positive("sigma", text("sigma"), es.sigma) }),
    steps: null,
  };
  const budget = text("budget") === undefined ? undefined : positive("budget", text("budget"), 0);
  if (text("generations") !== undefined) {
    config.steps = integer("generations", text("generations"), 0, 1);
  } else if (budget !== undefined) {
    config.steps = stepsOfBudget(config, budget);
  }
  const path = (name: string) => text(name);
  return {
    config,
    given,
    data: path("data") ?? null,
    save: path("save"),
    resume: path("resume"),
    json: path("json"),
    plot: path("plot"),
    curveEvery: text("curve-every") === undefined
      ? undefined
      : integer("curve-every", text("curve-every"), 0, 1),
    budget,
    help: values.help === true,
  };
}

/**
 * Steps that spend `budget` image-forwards (rows per step × batch × steps).
 *
 * @throws {UsageError} when the budget is less than one step.
 */
export function stepsOfBudget(c: TrainConfig, budget: number): number {
  const perStep = rowsOf(c) * c.batchSize;
  const steps = Math.floor(budget / perStep);
  if (steps < 1) {
    throw new UsageError(
      `--budget ${budget} is less than one step of --preset ${c.preset} (${perStep} image-forwards)`,
    );
  }
  return steps;
}

/**
 * The configuration of a resumed run: the checkpoint's, with what the command line may change
 * (the length, the test images) taken from it.
 *
 * @param saved the checkpoint's configuration.
 * @param parsed the command line, parsed with the checkpoint's preset as default.
 * @throws {UsageError} for a flag whose value differs from the checkpoint's: a resumed run
 *   continues the saved one and cannot honour it.
 */
export function mergeResume(saved: TrainConfig, parsed: ParsedArgs): TrainConfig {
  const merged: TrainConfig = { ...saved };
  for (const flag of parsed.given) {
    const key = CONFIG_FLAGS[flag];
    if (key === undefined) continue;
    if (RESUMABLE.includes(key)) continue;
    const ours = parsed.config[key], theirs = saved[key];
    if (JSON.stringify(ours) !== JSON.stringify(theirs)) {
      throw new UsageError(
        `--${flag} ${ours} differs from the checkpoint's ${theirs}: a resumed run continues ` +
          `with the settings it was saved with (leave --${flag} out, or start a new run)`,
      );
    }
  }
  if (parsed.given.has("epochs")) {
    merged.epochs = parsed.config.epochs;
    merged.steps = null;
  }
  if (parsed.given.has("generations")) merged.steps = parsed.config.steps;
  if (parsed.budget !== undefined) merged.steps = stepsOfBudget(merged, parsed.budget);
  if (parsed.given.has("test-limit")) merged.testLimit = parsed.config.testLimit;
  return merged;
}

function integer(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || !Number.isSafeInteger(n)) {
    throw new UsageError(`--${name} must be an integer >= ${min}, received ${value}`);
  }
  return n;
}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new UsageError(`--${name} must be a number > 0, received ${value}`);
  }
  return n;
}

function reword(error: Error & { code?: string }): string {
  const flag = /'(-[^' ]+)/.exec(error.message)?.[1] ?? "";
  switch (error.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${flag}`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument '${
        /'([^']*)'/.exec(error.message)?.[1]
      }' (options start with --)`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return error.message.includes("does not take an argument")
        ? `${flag} takes no value`
        : `${flag} needs a value`;
    default:
      return error.message;
  }
}
