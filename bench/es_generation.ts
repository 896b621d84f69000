/**
 * Whole evolution-strategy generations of the 15,738-parameter CNN on real MNIST batches: an
 * OpenAI-ES generation (sample P candidate rows, forward all P rows on one shared batch, rank
 * on the GPU, form the gradient from regenerated noise, Adam step) against the forward alone,
 * as image-forwards per second (P × B per generation), for P ∈ {64, 256} × B ∈ {32, 256}.
 *
 * Method: per configuration a warm-up generation (compile, pool fill) read back, then
 * `--rounds` rounds of about 2 s of generations (or forwards), each round ended by one readback;
 * the median round. Prints the adapter and ONE JSON line in the format of
 * bench/torch_es_generation.py: per "PxB", `generation` and `forward` image-forwards/s, `share`
 * (the forward's share of a generation's time), and `hostRank`: generations that read the P
 * losses back and tell them from the host (`stepAsync`), the alternative to ranking on the GPU.
 *
 *     deno run --allow-env=LP_NUM_THREADS bench/es_generation.ts [--rounds 3] [--configs 64x32,...]
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  crossEntropy,
  DataLoader,
  type Gpu,
  initGpu,
  mnistCnn,
  OpenAIES,
  type Tensor,
  tidy,
} from "../mod.ts";
import { loadMnist } from "../examples/_train.ts";
import { median } from "./_timing.ts";

/**
 * Median calls per second of `run` (rounds of `count` calls, each ended by a readback, after
 * `settle` for asynchronous calls).
 */
async function rate(
  gpu: Gpu,
  sync: GPUBuffer,
  run: () => void,
  count: number,
  rounds: number,
  settle: () => Promise<unknown> = () => Promise.resolve(),
) {
  run();
  await settle();
  await gpu.readBuffer(sync, 0, 4);
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < count; i++) run();
    await settle();
    await gpu.readBuffer(sync, 0, 4);
    rates.push(count / ((performance.now() - t0) / 1000));
  }
  return median(rates);
}

/** Image-forwards per second of OpenAI-ES generations and of forwards alone, P rows × B images. */
export async function benchGeneration(
  gpu: Gpu,
  loader: DataLoader,
  population: number,
  rounds: number,
): Promise<{ generation: number; forward: number; share: number; hostRank: number }> {
  const model = mnistCnn();
  const es = new OpenAIES(model.parameters(), { popSize: population, sigma: 0.05, seed: 1 });
  const batches = loader.batches(0);
  const images = population * loader.batchSize;
  const count = Math.max(1, Math.round(2 * 9000 / images)); // about 2 s at 9k images/s
  const generation = await rate(
    gpu,
    model.flat.buffer,
    () => {
      const { x, y } = batches.next().value!;
      es.step(() => crossEntropy(model.forward(x), y, { reduction: "none" })).dispose();
    },
    count,
    rounds,
  );
  // The alternative: read the losses back each generation and tell them from the host.
  let pending: Promise<unknown> = Promise.resolve();
  const hostRank = await rate(
    gpu,
    model.flat.buffer,
    () => {
      const { x, y } = batches.next().value!;
      pending = pending.then(() =>
        es.stepAsync(() => crossEntropy(model.forward(x), y, { reduction: "none" }))
      ).then((r) => (r as Tensor).dispose());
    },
    count,
    rounds,
    () => pending,
  );
  const { x } = batches.next().value!;
  model.flat.setActive(population, 1); // the candidate rows, as a generation evaluates them
  const forward = await rate(
    gpu,
    model.flat.buffer,
    () => {
      tidy(() => void (model.forward(x) as Tensor));
    },
    count,
    rounds,
  );
  es.dispose();
  model.flat.dispose();
  return {
    generation: generation * images,
    forward: forward * images,
    share: generation / forward,
    hostRank: hostRank * images,
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "3" },
      configs: { type: "string", default: "64x32,64x256,256x32,256x256" },
    },
  });
  const gpu = await initGpu();
  const splits = await loadMnist();
  const result: Record<string, unknown> = { adapter: gpu.adapterName };
  for (const config of values.configs!.split(",")) {
    const [p, b] = config.split("x").map(Number);
    const loader = new DataLoader(splits.train, { batchSize: b, shuffle: true, seed: 0, gpu });
    result[config] = await benchGeneration(gpu, loader, p, Number(values.rounds));
    loader.dispose();
  }
  console.error(`adapter: ${gpu.adapterName}`);
  console.log(JSON.stringify(result));
}
