/**
 * Minimize your own host function with `minimize`: the 10-D Rosenbrock function with CMA-ES.
 *
 *     deno run examples/minimize.ts
 *
 * README.md shows this file's code.
 *
 * @module
 */

import { initGpu, minimize } from "../mod.ts";

await initGpu();
const rosenbrock = (x: Float32Array) => {
  let f = 0;
  for (let i = 0; i + 1 < x.length; i++) f += 100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2;
  return f;
};
const result = await minimize(rosenbrock, new Array(10).fill(0), {
  sigma: 0.5, // CMA-ES by default up to N = 1000; also "sepcmaes", "snes", "openaies", "pgpe"
  targetLoss: 1e-8,
  bounds: { lower: -5, upper: 5 },
  seed: 1,
});
console.log(result.stop, result.loss, result.evaluations, result.x);
result.dispose(); // frees the run's GPU memory
