/**
 * Evaluations to reach f ≤ 1e-8 on sphere, ellipsoid and Rosenbrock in 10 and 20 dimensions,
 * median of seeds 1–5, for `CMAES` (through `minimize()` with a host function) and `SepCMAES`
 * (a GPU objective), beside pycma 4.5's medians (`tests/golden/pycma_reference.json`, made by
 * `bench/pycma_reference.py`). The same runs as tests/optim/es/minimize_test.ts, which asserts
 * ours ≤ 1.5 × pycma's; this prints the table of docs/RESULTS.md.
 *
 *     deno run --allow-read --allow-env=LP_NUM_THREADS bench/es_parity.ts
 *
 * @module
 */

import { Parameter } from "../src/params/flat.ts";
import { SepCMAES } from "../src/optim/es/sep_cma_es.ts";
import { minimize } from "../src/optim/minimize.ts";
import pycma from "../tests/golden/pycma_reference.json" with { type: "json" };
import {
  evaluationsToTarget,
  type FunctionName,
  FUNCTIONS,
  gpuClosure,
  hostFunction,
  median,
} from "../tests/optim/es/_benchmarks.ts";

const SEEDS = [1, 2, 3, 4, 5];
const NAMES: FunctionName[] = ["sphere", "elli", "rosen"];
const DIMENSIONS = [10, 20] as const;

async function cmaes(name: FunctionName, n: number): Promise<(number | null)[]> {
  const { x0, sigma } = FUNCTIONS[name];
  const counts: (number | null)[] = [];
  for (const seed of SEEDS) {
    const r = await minimize(hostFunction(name), new Array(n).fill(x0), {
      method: "cmaes",
      sigma,
      seed,
      targetLoss: 1e-8,
      budget: 1e5,
    });
    counts.push(r.stop === "target" ? r.evaluations : null);
  }
  return counts;
}

async function sepCmaes(name: FunctionName, n: number): Promise<(number | null)[]> {
  const { x0, sigma } = FUNCTIONS[name];
  const counts: (number | null)[] = [];
  for (const seed of SEEDS) {
    const x = new Parameter(new Array(n).fill(x0));
    const es = new SepCMAES([x], { sigma, seed });
    counts.push(
      await evaluationsToTarget(es, gpuClosure(name, x), { target: 1e-8, maxEvals: 1.6e5 }),
    );
    es.dispose();
    x.flat!.dispose();
  }
  return counts;
}

/** "ours / pycma (ratio, successes)" for one cell. */
function cell(counts: (number | null)[], reference: number | null): string {
  const ours = median(counts);
  const ok = counts.filter((c) => c !== null).length;
  const theirs = reference === null ? "—" : `${reference}`;
  const ratio = ours !== null && reference !== null ? ` (${(ours / reference).toFixed(2)}×)` : "";
  return `${ours ?? "—"} / ${theirs}${ratio}, ${ok}/${counts.length}`;
}

console.log(`pycma ${pycma.meta.cma}; ours: median of seeds ${SEEDS.join(", ")}`);
console.log("\n| function | CMAES 10-D | CMAES 20-D | SepCMAES 10-D | SepCMAES 20-D |");
console.log("|---|---|---|---|---|");
for (const name of NAMES) {
  const cells: string[] = [];
  for (const n of DIMENSIONS) {
    cells.push(cell(await cmaes(name, n), pycma.results.full[name][n].median));
  }
  for (const n of DIMENSIONS) {
    cells.push(cell(await sepCmaes(name, n), pycma.results.sep[name][n].median));
  }
  console.log(`| ${name} | ${cells.join(" | ")} |`);
}
