/**
 * Minimize a function computed on the host with ask/tell: the 2-D Rosenbrock function from
 * (−1.5, 2), by a random search whose radius shrinks to zero over 300 steps.
 *
 *     deno run examples/ask_tell.ts
 *
 * `ask()` writes the candidates on the GPU and `read()` brings them to the host (one readback
 * per step); `tell()` uploads the losses and the optimizer chooses on the GPU. The same loop
 * drives any population optimizer of the library. README.md shows this file's code.
 *
 * @module
 */

import { initGpu, Parameter, RandomShrinkingSearch } from "../mod.ts";

await initGpu();
const rosenbrock = ([x, y]: Float32Array) => (1 - x) ** 2 + 100 * (y - x * x) ** 2;
const xy = new Parameter([-1.5, 2]); // the point, in a one-row parameter buffer
const opt = new RandomShrinkingSearch([xy], { lr: 0.5, nsteps: 300, candidates: 16, seed: 1 });
for (let step = 0; step < 300; step++) {
  const population = opt.ask(); // 16 candidates (and the point itself on the first step)
  const points = await population.read(); // one Float32Array per row
  opt.tell(points.map(rosenbrock)).dispose(); // the choice is made on the GPU
}
const best = await xy.read();
console.log(`x = ${best[0]}, y = ${best[1]}, f = ${rosenbrock(best)}`); // ≈ (1, 1), f < 1e-5
