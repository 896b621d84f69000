/**
 * MNIST with an evolution strategy spread over processes and machines through NATS JetStream
 * (`@torchzero/torchzero/distributed`, docs/DISTRIBUTED.md). Every process builds the same CNN
 * and strategy from the same seed; workers evaluate shards of each generation, the coordinator
 * gathers the losses, and every replica applies the same update.
 *
 *     nats-server -js -sd /tmp/nats-store &                       # the server (any machine)
 *     deno run --allow-net --allow-read examples/mnist_distributed.ts \
 *       --nats 10.0.0.1:4222 --role coordinator --preset openes --generations 200
 *     deno run --allow-net --allow-read examples/mnist_distributed.ts \
 *       --nats 10.0.0.1:4222 --role worker --preset openes --generations 200   # per machine
 *     # or everything on one machine: --role local --workers 2 (adds --allow-run);
 *     # --role single runs the same job in one process without NATS (the reference)
 *
 * Workers and the coordinator must be given the same preset, population, σ, lr, batch size,
 * seed and generations. A restarted coordinator resumes the run (`--fresh` starts over).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import {
  crossEntropy,
  DataLoader,
  initGpu,
  manualSeed,
  mnistCnn,
  type Sequential,
  tidy,
} from "../mod.ts";
import { type EsJob, Replica, runCoordinator, runWorker } from "../src/distributed/mod.ts";
import {
  ES_DEFAULTS,
  ES_PRESETS,
  evaluateModel,
  loadMnist,
  makeOptimizer,
  type Preset,
  type TrainConfig,
} from "./_train.ts";

const { values: v } = parseArgs({
  args: Deno.args,
  options: {
    nats: { type: "string", default: "127.0.0.1:4222" },
    role: { type: "string", default: "local" },
    run: { type: "string", default: "mnist" },
    preset: { type: "string", default: "openes" },
    generations: { type: "string", default: "100" },
    pop: { type: "string" },
    sigma: { type: "string" },
    lr: { type: "string" },
    "batch-size": { type: "string" },
    seed: { type: "string", default: "0" },
    "shard-size": { type: "string" },
    workers: { type: "string", default: "2" },
    "snapshot-every": { type: "string", default: "10" },
    "test-limit": { type: "string", default: "2000" },
    fresh: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
  },
});

const preset = v.preset as Preset;
if (!ES_PRESETS.includes(preset)) {
  throw new RangeError(`--preset must be one of ${ES_PRESETS.join(", ")}, received ${v.preset}`);
}
if (!["coordinator", "worker", "local", "single"].includes(v.role!)) {
  throw new RangeError(`--role must be coordinator, worker, local or single, received ${v.role}`);
}
const d = ES_DEFAULTS[preset];
const number = (name: string, value: string | undefined, fallback: number) => {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isFinite(n)) throw new RangeError(`--${name} must be a number, received ${value}`);
  return n;
};
const generations = number("generations", v.generations, 100);
const config: TrainConfig = {
  preset,
  epochs: 1,
  batchSize: number("batch-size", v["batch-size"], d.batchSize),
  lr: number("lr", v.lr, d.lr),
  magn: 0,
  swarmSize: 0,
  seed: number("seed", v.seed, 0),
  faithful: false,
  limit: null,
  testLimit: number("test-limit", v["test-limit"], 2000),
  pop: number("pop", v.pop, d.pop),
  sigma: number("sigma", v.sigma, d.sigma),
  steps: generations,
};

if (v.role === "single") {
  // The reference: one process, no NATS, all P candidates evaluated at once (same code path).
  const { job, test } = await build();
  const replica = new Replica(job);
  const times: number[] = [];
  let checksum = "";
  for (let g = 0; g < generations; g++) {
    const started = performance.now();
    await replica.apply(await replica.evaluate(0, await replica.popSize()));
    checksum = await replica.checksum();
    times.push(performance.now() - started);
  }
  const [accuracy, loss] = await evaluateModel(job.model as Sequential, test, config);
  console.log(JSON.stringify({
    preset,
    pop: config.pop,
    generations,
    medianGenerationMs: median(times),
    testAccuracy: accuracy,
    testLoss: loss,
    checksum,
  }));
} else if (v.role === "local") {
  // The coordinator here, the workers as child processes of this script.
  const self = new URL(import.meta.url).pathname;
  const passed = Deno.args.filter((a, i, all) =>
    !a.startsWith("--role") && all[i - 1] !== "--role"
  );
  const children = Array.from(
    { length: number("workers", v.workers, 2) },
    () =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-net",
          "--allow-read",
          self,
          ...passed,
          "--role",
          "worker",
          "--quiet",
        ],
        stdout: "inherit",
        stderr: "inherit",
      }).spawn(),
  );
  await coordinate();
  for (const c of children) await c.status;
} else if (v.role === "coordinator") {
  await coordinate();
} else {
  const nc = await connect({ servers: v.nats, maxReconnectAttempts: -1 });
  const { job } = await build();
  const r = await runWorker(nc, job, {
    run: v.run!,
    onGeneration: (g, sum) => v.quiet || console.log(`worker: generation ${g} applied, ${sum}`),
  });
  console.log(`worker: done, joined at ${r.joinedAt}, ${r.shards} shards, checksum ${r.checksum}`);
  await nc.close();
}

async function build(): Promise<{ job: EsJob; test: DataLoader }> {
  const gpu = await initGpu();
  const splits = await loadMnist();
  manualSeed(config.seed);
  const model = mnistCnn();
  const { opt, scheduler } = makeOptimizer(model, config);
  const train = new DataLoader(splits.train, {
    batchSize: config.batchSize,
    shuffle: true,
    seed: config.seed,
    dropLast: true,
    gpu,
  });
  const test = new DataLoader(splits.test, { batchSize: 500, gpu });
  const job: EsJob = {
    model,
    optimizer: opt as EsJob["optimizer"],
    scheduler,
    loss(g) {
      const { x, y } = train.batch(Math.floor(g / train.length), g % train.length);
      return tidy(() => crossEntropy(model.forward(x), y, { reduction: "none" }));
    },
  };
  return { job, test };
}

async function coordinate(): Promise<void> {
  const nc = await connect({ servers: v.nats, maxReconnectAttempts: -1 });
  const { job, test } = await build();
  const times: number[] = [];
  const overheads: number[] = [];
  let messages = 0;
  let bytes = 0;
  const { checksums, resumedAt } = await runCoordinator(nc, job, {
    run: v.run!,
    generations,
    shardSize: v["shard-size"] === undefined ? undefined : number("shard-size", v["shard-size"], 1),
    snapshotEvery: number("snapshot-every", v["snapshot-every"], 10),
    fresh: v.fresh,
    onGeneration: (s) => {
      times.push(s.ms);
      overheads.push(s.overheadMs);
      messages += s.messages;
      bytes += s.bytes;
      if (!v.quiet) {
        console.log(
          `generation ${s.generation}: mean loss ${s.meanLoss.toFixed(4)}, ${
            s.ms.toFixed(0)
          } ms (coordinator ${
            s.overheadMs.toFixed(1)
          } ms), ${s.shards} shards from ${s.workers} workers, ${s.messages} messages, ${s.bytes} bytes, ${s.checksum}`,
        );
      }
    },
  });
  const [accuracy, loss] = await evaluateModel(
    job.model as Sequential,
    test,
    config,
  );
  const ran = checksums.length;
  console.log(JSON.stringify({
    preset,
    pop: config.pop,
    generations,
    resumedAt,
    medianGenerationMs: median(times),
    medianCoordinatorMs: median(overheads),
    messagesPerGeneration: messages / Math.max(1, ran),
    bytesPerGeneration: bytes / Math.max(1, ran),
    testAccuracy: accuracy,
    testLoss: loss,
    checksum: checksums.at(-1),
  }));
  await nc.close();
}

function median(values: number[]): number {
  return [...values].sort((p, q) => p - q)[Math.floor(values.length / 2)] ?? NaN;
}
