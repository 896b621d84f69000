/**
 * Population forward throughput: the MNIST CNN (15,738 parameters) evaluated for P parameter
 * rows on one shared batch of B images, with the per-row cross-entropy an evolution strategy
 * ranks (one `[P]` loss tensor), in image-forwards per second (P × B per forward).
 *
 *     deno run --allow-env=LP_NUM_THREADS bench/population_forward.ts [--cases 1x32,64x32,16x256]
 *       [--rounds 5] [--ms 600]
 *
 * Method: per case, a warm-up forward (compile, pool fill) read back; then `--rounds` rounds,
 * each case once per round (interleaved, so drift hits every case alike), each timing
 * `n` forwards recorded back to back and ended by one 4-byte readback, `n` sized from the
 * warm-up so a timed batch lasts about `--ms` milliseconds (at least 2 forwards, so the ~11 ms
 * synchronisation floor is a small share). The median over rounds is reported. A case that
 * fails (out of memory, a binding limit) reports `null` and its error.
 *
 * Prints the adapter to stderr and ONE JSON line (the same format as
 * bench/torch_population.py): `adapter`, `image_forwards_per_s` and `ms_per_forward` keyed by
 * `PxB`, `errors`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  crossEntropy,
  type Gpu,
  initGpu,
  manualSeed,
  mnistCnn,
  type Sequential,
  type Tensor,
  tensor,
  tidy,
} from "../mod.ts";
import { median } from "./_timing.ts";

/** The grid of the population issue: P ∈ {1, 16, 64, 256} × B ∈ {32, 256}. */
export const DEFAULT_CASES = [
  "1x32",
  "16x32",
  "64x32",
  "256x32",
  "1x256",
  "16x256",
  "64x256",
  "256x256",
];

/** A model with `rows` distinct rows and a batch of `batch` images, ready to run. */
export interface PopulationCase {
  rows: number;
  batch: number;
  model: Sequential;
  x: Tensor;
  y: Tensor;
  /** Records one forward and its `[P]` losses; returns the losses. */
  run(): Tensor;
  dispose(): void;
}

/** Deterministic values in [-0.5, 0.5). */
function noise(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/** Builds a case: the seeded CNN with `rows` perturbed rows and a batch of `batch` images. */
export async function populationCase(rows: number, batch: number): Promise<PopulationCase> {
  manualSeed(0);
  const model = mnistCnn();
  const flat = model.flat;
  const base = await flat.readRow(0);
  flat.setRows(rows);
  const eps = noise(flat.size, 7);
  for (let r = 1; r < rows; r++) {
    const row = base.map((v, i) => v + 0.01 * eps[(i + 977 * r) % eps.length]);
    flat.loadRow(r, row);
  }
  flat.setActive(rows);
  const x = tensor(noise(batch * 784, 1).map((v) => 4 * v), [batch, 1, 28, 28]);
  const y = tensor(Array.from({ length: batch }, (_, i) => (i * 7) % 10), [batch]);
  return {
    rows,
    batch,
    model,
    x,
    y,
    run: () => tidy(() => crossEntropy(model.forward(x), y)),
    dispose() {
      x.dispose();
      y.dispose();
      flat.dispose();
    },
  };
}

/** Milliseconds for `n` forwards of a case, ended by one readback. */
async function timeForwards(gpu: Gpu, c: PopulationCase, n: number): Promise<number> {
  const t0 = performance.now();
  let loss = c.run();
  for (let i = 1; i < n; i++) {
    loss.dispose();
    loss = c.run();
  }
  await gpu.readBuffer(loss.buffer, 0, 4);
  loss.dispose();
  return performance.now() - t0;
}

/** Result of {@linkcode benchPopulation}. */
export interface PopulationResult {
  adapter: string;
  image_forwards_per_s: Record<string, number | null>;
  ms_per_forward: Record<string, number | null>;
  errors: Record<string, string>;
}

/**
 * Image-forwards per second of each `PxB` case, interleaved over rounds.
 *
 * @param cases `"PxB"` strings.
 * @param options rounds and target milliseconds per timed batch.
 */
export async function benchPopulation(
  gpu: Gpu,
  cases: readonly string[],
  { rounds = 5, ms = 600 }: { rounds?: number; ms?: number } = {},
): Promise<PopulationResult> {
  const live: { key: string; c: PopulationCase; n: number; times: number[] }[] = [];
  const errors: Record<string, string> = {};
  for (const key of cases) {
    const [rows, batch] = key.split("x").map(Number);
    let c: PopulationCase | undefined;
    try {
      c = await populationCase(rows, batch);
      const once = await timeForwards(gpu, c, 1); // compile and fill the pool
      const again = await timeForwards(gpu, c, 1);
      const n = Math.max(2, Math.round(ms / Math.max(1, Math.min(once, again))));
      live.push({ key, c, n, times: [] });
    } catch (error) {
      errors[key] = error instanceof Error ? error.message : String(error);
      c?.dispose();
      // A failed dispatch leaves its error pending: collect it before the next case.
      await gpu.checkErrors().catch(() => {});
    }
  }
  for (let r = 0; r < rounds; r++) {
    for (const l of live) l.times.push((await timeForwards(gpu, l.c, l.n)) / l.n);
  }
  const perS: Record<string, number | null> = {};
  const msPer: Record<string, number | null> = {};
  for (const key of cases) {
    const l = live.find((v) => v.key === key);
    if (l === undefined) {
      perS[key] = msPer[key] = null;
      continue;
    }
    const m = median(l.times);
    msPer[key] = m;
    perS[key] = (l.c.rows * l.c.batch) / (m / 1000);
    l.c.dispose();
  }
  return { adapter: gpu.adapterName, image_forwards_per_s: perS, ms_per_forward: msPer, errors };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      cases: { type: "string", default: DEFAULT_CASES.join(",") },
      rounds: { type: "string", default: "5" },
      ms: { type: "string", default: "600" },
    },
  });
  const gpu = await initGpu();
  console.error(`adapter: ${gpu.adapterName}`);
  const result = await benchPopulation(gpu, values.cases.split(","), {
    rounds: Number(values.rounds),
    ms: Number(values.ms),
  });
  console.log(JSON.stringify(result));
  gpu.destroy();
}
