/**
 * Optimizer steps per second on real MNIST batches of 32 with the 15,738-parameter CNN:
 * RandomGrad + AdamW (2 rows per step), RandomBestGrad best-of-10 (11 rows), a swarm of 10
 * RandomGrads (20 rows), and plain forward passes per second for P = 1, 2, 20 and 64 rows.
 *
 * Method: per workload, warm-up steps (compile, pool fill) excluded; then `--rounds` timed
 * rounds of `--steps` steps over consecutive training batches, each round ended by one
 * readback; the median round is reported. Prints the adapter and ONE JSON line:
 * `adapter, randomgrad_steps_per_s, bestgrad_steps_per_s, swarm_steps_per_s, forward_per_s
 * (keyed by P), device_bytes_peak` (the same format as bench/torch_reference.py).
 *
 *     deno run --allow-env=LP_NUM_THREADS bench/mnist_steps.ts [--rounds 5] [--steps 100]
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  AdamW,
  crossEntropy,
  DataLoader,
  type Gpu,
  initGpu,
  mnistCnn,
  type Optimizer,
  RandomBestGrad,
  RandomGrad,
  type Sequential,
  SwarmOfOptimizers,
  tidy,
} from "../mod.ts";
import { loadMnist } from "../examples/_train.ts";
import { median } from "./_timing.ts";

/** Builds a workload's optimizer over a model. */
export type Make = (model: Sequential) => Optimizer<object>;

/** The step workloads of the issue: RandomGrad + AdamW, best-of-10, swarm of 10. */
export const WORKLOADS: Record<string, Make> = {
  randomgrad: (m) => {
    const p = m.parameters();
    return new RandomGrad(p, { magn: 1e-5, opt: new AdamW(p, { lr: 1e-3 }) });
  },
  bestgrad: (m) => {
    const p = m.parameters();
    return new RandomBestGrad(p, { magn: 1e-5, bestOf: 10, opt: new AdamW(p, { lr: 1e-3 }) });
  },
  swarm: (m) => {
    const p = m.parameters();
    const members = Array.from(
      { length: 10 },
      (_, i) => new RandomGrad(p, { magn: 1e-5, seed: i, opt: new AdamW(p, { lr: 1e-3 }) }),
    );
    return new SwarmOfOptimizers(p, members, { oldSteps: 5, dieAfter: 20, crossoverP: 0.9 });
  },
};

/** Median steps per second of one workload. */
export async function benchSteps(
  gpu: Gpu,
  loader: DataLoader,
  make: Make,
  rounds: number,
  steps: number,
): Promise<number> {
  const model = mnistCnn();
  const opt = make(model);
  const batches = loader.batches(0);
  const step = () => {
    const { x, y } = batches.next().value!;
    opt.step(() => {
      opt.zeroGrad();
      return crossEntropy(model.forward(x), y, { reduction: "none" });
    })!.dispose();
  };
  for (let i = 0; i < 5; i++) step();
  await gpu.readBuffer(model.flat.buffer, 0, 4);
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) step();
    await gpu.readBuffer(model.flat.buffer, 0, 4);
    rates.push(steps / ((performance.now() - t0) / 1000));
  }
  opt.dispose();
  model.flat.dispose();
  return median(rates);
}

/** Median forward passes (calls) per second with `rows` active parameter rows. */
export async function benchForwardRows(
  gpu: Gpu,
  loader: DataLoader,
  rows: number,
  rounds: number,
): Promise<number> {
  const model = mnistCnn();
  model.flat.setRows(rows);
  model.flat.setActive(rows);
  const { x } = loader.batches(0).next().value!;
  const repeats = Math.max(4, Math.round(200 / rows));
  const forward = () => tidy(() => void model.forward(x));
  forward();
  await gpu.readBuffer(model.flat.buffer, 0, 4);
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < repeats; i++) {
      forward();
      if (i % 16 === 15) gpu.flush();
    }
    await gpu.readBuffer(model.flat.buffer, 0, 4);
    rates.push(repeats / ((performance.now() - t0) / 1000));
  }
  model.flat.dispose();
  return median(rates);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "5" },
      steps: { type: "string", default: "100" },
    },
  });
  const rounds = Number(values.rounds), steps = Number(values.steps);
  const gpu = await initGpu();
  const splits = await loadMnist();
  const loader = new DataLoader(splits.train, { batchSize: 32, shuffle: true, seed: 0, gpu });
  const result: Record<string, unknown> = { adapter: gpu.adapterName };
  for (const [name, make] of Object.entries(WORKLOADS)) {
    const n = name === "swarm"
      ? Math.max(10, Math.round(steps / 5))
      : name === "bestgrad"
      ? Math.round(steps / 2)
      : steps;
    result[`${name}_steps_per_s`] = await benchSteps(gpu, loader, make, rounds, n);
  }
  const forward: Record<string, number> = {};
  for (const p of [1, 2, 20, 64]) forward[p] = await benchForwardRows(gpu, loader, p, rounds);
  result.forward_per_s = forward;
  result.device_bytes_peak = gpu.stats.peakBytesInUse;
  loader.dispose();
  console.error(`adapter: ${gpu.adapterName}`);
  console.log(JSON.stringify(result));
}
