// The job every test process builds identically: a 4-8-3 MLP on 16 seeded examples (two
// batches of 8, alternating by generation) trained by one of the library's evolution
// strategies. Used in-process and by the worker processes the NATS tests start.

import { initGpu } from "../../src/gpu/device.ts";
import { ReLU } from "../../src/nn/activation.ts";
import { manualSeed } from "../../src/nn/init.ts";
import { Linear } from "../../src/nn/linear.ts";
import { Sequential } from "../../src/nn/sequential.ts";
import { crossEntropy } from "../../src/ops/loss.ts";
import { Adam } from "../../src/optim/first_order/adam.ts";
import type { LRScheduler } from "../../src/optim/first_order/_scheduler_base.ts";
import { ExponentialLR } from "../../src/optim/first_order/lr_scheduler.ts";
import { CMAES } from "../../src/optim/es/cma_es.ts";
import { OpenAIES } from "../../src/optim/es/openai_es.ts";
import { PGPE } from "../../src/optim/es/pgpe.ts";
import { SepCMAES } from "../../src/optim/es/sep_cma_es.ts";
import { SNES } from "../../src/optim/es/snes.ts";
import type { PopulationOptimizer } from "../../src/optim/population/population_optimizer.ts";
import type { Parameter } from "../../src/params/flat.ts";
import { Generator } from "../../src/rng.ts";
import { tensor } from "../../src/tensor.ts";
import type { EsJob } from "../../src/distributed/replica.ts";

/** The strategies the tests run, by name. */
export const STRATEGIES: Record<string, (p: Parameter[]) => PopulationOptimizer<object>> = {
  openai: (p) => new OpenAIES(p, { popSize: 12, sigma: 0.1, lr: 0.05, seed: 3 }),
  snes: (p) => new SNES(p, { popSize: 10, sigma: 0.3, seed: 4 }),
  sepcma: (p) => new SepCMAES(p, { popSize: 10, sigma: 0.3, seed: 5 }),
  cma: (p) => new CMAES(p, { popSize: 10, sigma: 0.3, seed: 6 }),
  pgpe: (p) => new PGPE(p, { popSize: 10, sigma: 0.2, lr: 0.05, seed: 7 }),
};

/** The job for strategy `name` (or `openai-lr`: OpenAI-ES with an exponential lr schedule), on the process's GPU (initialised on first use). */
export async function testJob(name: string): Promise<EsJob> {
  const make = STRATEGIES[name];
  if (make === undefined && name !== "openai-lr") throw new RangeError(`unknown strategy ${name}`);
  const gpu = await initGpu();
  manualSeed(11);
  const model = new Sequential(new Linear(4, 8), new ReLU(), new Linear(8, 3));
  const rng = new Generator(21, 0);
  const batches = [0, 1].map(() => ({
    x: tensor(rng.uniforms(8 * 4, -1, 1), [8, 4], { gpu }).keep(),
    y: tensor(Array.from({ length: 8 }, (_, i) => i % 3), [8], { gpu }).keep(),
  }));
  let scheduler: LRScheduler | null = null;
  let optimizer: PopulationOptimizer<object>;
  if (name === "openai-lr") {
    // OpenAI-ES whose Adam's lr decays: the scheduler is stepped and snapshotted by the replica.
    const adam = new Adam(model.parameters(), { lr: 0.05 });
    optimizer = new OpenAIES(model.parameters(), { popSize: 12, sigma: 0.1, seed: 8, opt: adam });
    scheduler = new ExponentialLR(adam, { gamma: 0.7 });
  } else {
    optimizer = make(model.parameters());
  }
  return {
    model,
    optimizer,
    scheduler,
    loss(generation) {
      const { x, y } = batches[generation % 2];
      return crossEntropy(model.forward(x), y, { reduction: "none" });
    },
  };
}
