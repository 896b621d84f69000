/**
 * Backpropagation cost on the MNIST CNN: `lossAndGrad` (forward, loss, backward of every
 * layer, gradients written for every row) against the forward and loss alone, for P parameter
 * rows on one shared batch of B images. Optionally times the forward of another checkout of the
 * library in the same process (`--baseline path/to/mod.ts`), to show that forward-only paths
 * are unchanged.
 *
 *     deno run --allow-env=LP_NUM_THREADS --allow-read bench/backward.ts [--cases 1x32,10x32]
 *       [--rounds 5] [--baseline /tmp/main/mod.ts]
 *
 * Method: per case, a warm-up call read back; then `--rounds` rounds, every measurement once
 * per round (interleaved, so drift hits all alike), each timing 5 calls recorded back to back
 * and ended by one 4-byte readback. Prints the median milliseconds per call and the ratio.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  crossEntropy,
  type Gpu,
  initGpu,
  lossAndGrad,
  manualSeed,
  mnistCnn,
  type Sequential,
  type Tensor,
  tensor,
  tidy,
} from "../mod.ts";
import { median } from "./_timing.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    cases: { type: "string", default: "1x32,10x32" },
    rounds: { type: "string", default: "5" },
    baseline: { type: "string" },
  },
});
const CALLS = 5;

interface Setup {
  gpu: Gpu;
  model: Sequential;
  x: Tensor;
  y: Tensor;
}

/** A model with `rows` active rows and a batch, built by the library at `lib`. */
// deno-lint-ignore no-explicit-any
async function setup(lib: any, rows: number, batch: number): Promise<Setup> {
  const gpu = await lib.initGpu();
  lib.manualSeed(0);
  const model = lib.mnistCnn();
  model.parameters();
  if (rows > 1) {
    model.flat.setRows(rows);
    model.flat.setActive(rows);
  }
  const pixels = Float32Array.from({ length: batch * 784 }, (_, i) => (i % 255) / 255);
  const x = lib.tensor(pixels, [batch, 1, 28, 28]);
  const y = lib.tensor(Array.from({ length: batch }, (_, i) => i % 10), [batch]);
  return { gpu, model, x, y };
}

async function msPerCall(s: Setup, run: () => Tensor): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < CALLS; i++) run().dispose();
  await s.gpu.readBuffer(s.model.flat.buffer, 0, 4);
  return (performance.now() - t0) / CALLS;
}

const lib = { crossEntropy, initGpu, manualSeed, mnistCnn, tensor, tidy };
const base = values.baseline === undefined ? null : await import(values.baseline);
const gpu = await initGpu();
console.error(`adapter: ${gpu.adapterName}`);
for (const c of values.cases.split(",")) {
  const [rows, batch] = c.split("x").map(Number);
  const ours = await setup(lib, rows, batch);
  const theirs = base === null ? null : await setup(base, rows, batch);
  const forward = (s: Setup, l: typeof lib) => () =>
    l.tidy(() => l.crossEntropy(s.model.forward(s.x), s.y, { reduction: "none" }));
  const runs: [string, Setup, () => Tensor][] = [
    ["forward+loss", ours, forward(ours, lib)],
    ["lossAndGrad", ours, () => lossAndGrad(ours.model, ours.x, ours.y, crossEntropy)],
  ];
  if (theirs !== null) runs.push(["baseline forward+loss", theirs, forward(theirs, base)]);
  for (const [, s, run] of runs) await msPerCall(s, run); // warm-up
  const times = runs.map(() => [] as number[]);
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const [i, [, s, run]] of runs.entries()) times[i].push(await msPerCall(s, run));
  }
  const ms = times.map(median);
  const cells = runs.map(([name], i) => `${name} ${ms[i].toFixed(1)} ms`);
  const ratio = `backward costs ${(ms[1] / ms[0]).toFixed(1)}× a forward`;
  const parity = theirs === null ? "" : `, forward vs baseline ${(ms[0] / ms[2]).toFixed(3)}×`;
  console.log(`P=${rows} B=${batch}: ${cells.join(", ")}; ${ratio}${parity}`);
}
