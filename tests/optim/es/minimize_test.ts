// minimize(): CMA-ES and sep-CMA-ES against pycma 4.5 (evaluations to 1e-8 on sphere, ellipsoid
// and Rosenbrock, 5 seeds; tests/golden/pycma_reference.json), and every option and stop rule.

import { Parameter } from "../../../src/params/flat.ts";
import { SepCMAES } from "../../../src/optim/es/sep_cma_es.ts";
import { minimize, MinimizeError } from "../../../src/optim/minimize.ts";
import { assert, assertNoLeak, gpu } from "../../_util.ts";
import pycma from "../../golden/pycma_reference.json" with { type: "json" };
import {
  evaluationsToTarget,
  type FunctionName,
  FUNCTIONS,
  gpuClosure,
  hostFunction,
  median,
  successes,
} from "./_benchmarks.ts";

const SEEDS = [1, 2, 3, 4, 5];
const NAMES: FunctionName[] = ["sphere", "elli", "rosen"];

for (const name of NAMES) {
  for (const n of [10, 20] as const) {
    const { median: reference, successes: theirs } = pycma.results.full[name][n] as {
      median: number;
      successes: number;
    };
    Deno.test(`minimize with CMAES reaches 1e-8 on ${name} ${n}-D within 1.5× pycma's evaluations (${reference})`, async () => {
      const f = hostFunction(name);
      const { x0, sigma } = FUNCTIONS[name];
      const counts: (number | null)[] = [];
      for (const seed of SEEDS) {
        const r = await minimize(f, new Array(n).fill(x0), {
          method: "cmaes",
          sigma,
          seed,
          targetLoss: 1e-8,
          budget: 1e5,
        });
        counts.push(r.stop === "target" ? r.evaluations : null);
      }
      const ours = median(counts);
      assert.ok(
        ours !== null && ours <= 1.5 * reference,
        `median ${ours} (${counts}) vs pycma ${reference}`,
      );
      // As reliable as pycma: at most one seed more may miss the target (other random numbers).
      assert.ok(successes(counts) >= theirs - 1, `${successes(counts)} of 5 vs pycma ${theirs}`);
    });
  }
}

for (const name of NAMES) {
  for (const n of [10, 20] as const) {
    const entry = pycma.results.sep[name][n];
    if (entry.median === null) continue; // pycma's sep-CMA never reaches 1e-8 on 10-D Rosenbrock
    const reference = entry.median as number;
    const theirs = entry.successes;
    Deno.test(`SepCMAES reaches 1e-8 on ${name} ${n}-D within 1.5× pycma's evaluations (${reference})`, async () => {
      // A GPU objective, so the generations run without a readback (the losses are checked in
      // chunks); the counts are those of minimize() with the host function, which reads every
      // generation back.
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
      const ours = median(counts);
      assert.ok(
        ours !== null && ours <= 1.5 * reference,
        `median ${ours} (${counts}) vs pycma ${reference}`,
      );
      // As reliable as pycma: at most one seed more may miss the target (other random numbers).
      assert.ok(successes(counts) >= theirs - 1, `${successes(counts)} of 5 vs pycma ${theirs}`);
    });
  }
}

const sphere = hostFunction("sphere");

Deno.test("minimize returns the best point, the mean, counts, the stop reason and the history", async () => {
  const r = await minimize(sphere, [1, 1, 1, 1], { sigma: 0.5, targetLoss: 1e-6, seed: 3 });
  assert.equal(r.stop, "target");
  assert.ok(r.loss <= 1e-6);
  assert.equal(sphere(r.x), r.loss);
  assert.equal(r.mean.length, 4);
  assert.equal(r.generations, r.history.length);
  assert.equal(r.evaluations, r.history.at(-1)!.evaluations);
  assert.equal(r.history.at(-1)!.bestSoFar, r.loss);
  assert.ok(r.history.every((h, i) => i === 0 || h.bestSoFar <= r.history[i - 1].bestSoFar));
});

for (const method of ["cmaes", "sepcmaes", "snes", "openaies", "pgpe"] as const) {
  Deno.test(`minimize with method "${method}" improves a 5-D sphere`, async () => {
    const r = await minimize(sphere, [1, 1, 1, 1, 1], {
      method,
      sigma: 0.3,
      seed: 1,
      maxGenerations: 60,
      methodOptions: method === "openaies" ? { lr: 0.05 } : method === "pgpe" ? { lr: 0.05 } : {},
    });
    assert.equal(r.stop, "maxGenerations");
    assert.ok(r.loss < 0.5, `best ${r.loss}`);
  });
}

Deno.test("minimize stops on budget, maxGenerations, tolFun, tolX, a callback and an AbortSignal", async () => {
  const budget = await minimize(sphere, [1, 1], { popSize: 6, budget: 50 });
  assert.equal(budget.stop, "budget");
  assert.equal(budget.evaluations, 48); // a generation that would pass the budget is not started
  assert.equal((await minimize(sphere, [1, 1], { maxGenerations: 3 })).stop, "maxGenerations");
  const flat = await minimize(() => 5, [1, 1], { tolX: 0 });
  assert.equal(flat.stop, "tolFun");
  assert.equal(flat.generations, 10 + Math.ceil(30 * 2 / 6)); // pycma's tolfun window, λ = 6
  const narrow = await minimize(sphere, [1, 1], { sigma: 1e-9, tolX: 1e-6, tolFun: 0 });
  assert.equal(narrow.stop, "tolX");
  assert.equal(narrow.generations, 1);
  const byCallback = await minimize(sphere, [1, 1], { callback: (i) => i.generation < 4 });
  assert.equal(byCallback.stop, "callback");
  assert.equal(byCallback.generations, 4);
  const controller = new AbortController();
  const aborted = await minimize(sphere, [1, 1], {
    signal: controller.signal,
    callback: (i) => {
      if (i.generation === 2) controller.abort();
    },
  });
  assert.equal(aborted.stop, "aborted");
  assert.equal(aborted.generations, 2);
});

for (const mode of ["clip", "reflect"] as const) {
  Deno.test(`minimize with bounds (${mode}) evaluates only points inside the box`, async () => {
    const seen: Float32Array[] = [];
    const r = await minimize(
      (x: Float32Array) => {
        seen.push(x);
        return (x[0] - 3) ** 2 + (x[1] + 3) ** 2; // optimum outside the box
      },
      [0, 0],
      {
        bounds: { lower: [-1, -2], upper: 1, mode },
        sigma: 2,
        maxGenerations: 80,
        seed: 4,
      },
    );
    assert.ok(seen.every((x) => x[0] >= -1 && x[0] <= 1 && x[1] >= -2 && x[1] <= 1));
    assert.ok(Math.abs(r.x[0] - 1) < 1e-2 && Math.abs(r.x[1] + 2) < 1e-2, `${r.x}`);
    assert.ok(r.mean[0] <= 1 && r.mean[1] >= -2);
  });
}

Deno.test("minimize treats NaN, ±∞ and non-numbers as the worst loss", async () => {
  const r = await minimize(
    (x: Float32Array) => (x[0] < 0 ? NaN : x[0] > 2 ? -Infinity : (x[0] - 1) ** 2),
    [1.5],
    {
      sigma: 1,
      maxGenerations: 40,
      seed: 2,
    },
  );
  assert.ok(r.loss < 1e-3 && Number.isFinite(r.loss), `best ${r.loss}`);
  assert.ok(r.x[0] >= 0 && r.x[0] <= 2);
});

Deno.test("minimize with a batch objective gets every generation at once", async () => {
  const sizes: number[] = [];
  const r = await minimize(
    (xs: Float32Array[]) => {
      sizes.push(xs.length);
      return xs.map(sphere);
    },
    [1, 1, 1],
    { batch: true, popSize: 7, maxGenerations: 5 },
  );
  assert.deepEqual(sizes, [7, 7, 7, 7, 7]);
  assert.equal(r.evaluations, 35);
  await assert.rejects(
    () => minimize(() => [1], [1, 1], { batch: true }),
    (e: Error) => e instanceof MinimizeError && /must return 6 losses/.test(e.message),
  );
});

Deno.test("an objective that throws stops the run; the optimizer resumes where it stopped", async () => {
  const run = () => minimize(sphere, [1, 1, 1], { seed: 5, maxGenerations: 20 });
  const whole = await run();
  let calls = 0;
  const failing = (x: Float32Array) => {
    if (++calls === 40) throw new Error("sensor offline");
    return sphere(x);
  };
  const error = await minimize(failing, [1, 1, 1], { seed: 5, maxGenerations: 20 }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(error instanceof MinimizeError);
  assert.match(error.message, /generation 6: sensor offline/); // λ = 7: call 40 is in generation 6
  assert.equal((error.cause as Error).message, "sensor offline");
  const resumed = await minimize(sphere, [1, 1, 1], {
    optimizer: error.optimizer,
    maxGenerations: 15, // the 5 generations before the error are in the optimizer
  });
  assert.deepEqual([...resumed.mean], [...whole.mean]);
});

Deno.test("minimize rejects bad input with the value named", async () => {
  await assert.rejects(() => minimize(sphere, []), /x0 must have at least one value/);
  await assert.rejects(
    () => minimize(sphere, [1], { method: "nelder-mead" as "cmaes" }),
    /method must be/,
  );
  await assert.rejects(
    () => minimize(sphere, [1, 1], { bounds: { lower: 1, upper: 0 } }),
    /lower <= upper, received \[1, 0\] at 0/,
  );
  await assert.rejects(
    () => minimize(sphere, [1, 1], { bounds: { lower: [0], upper: 1 } }),
    /bounds.lower must have 2 values, received 1/,
  );
  await assert.rejects(() => minimize(sphere, [1], { budget: 0 }), /budget must be > 0/);
  await assertNoLeak(gpu, async () => {
    await assert.rejects(
      () => minimize(sphere, [1, 1, 1, 1], { popSize: 8, budget: 5 }),
      /budget 5 is less than one generation \(popSize 8 evaluations\)/,
    );
  });
});

Deno.test("result.dispose() frees what minimize made, and only that", async () => {
  await assertNoLeak(gpu, async () => {
    for (const method of ["cmaes", "sepcmaes", "openaies"] as const) {
      const r = await minimize(sphere, [1, 1, 1], { method, maxGenerations: 3, seed: 1 });
      assert.equal(r.generations, 3);
      r.dispose();
    }
  });
  const first = await minimize(sphere, [1, 1, 1], { method: "snes", maxGenerations: 2 });
  const resumed = await minimize(sphere, [1, 1, 1], {
    optimizer: first.optimizer,
    maxGenerations: 2,
  });
  resumed.dispose(); // not its optimizer: it was passed in
  assert.equal((await first.optimizer.center()).length, 3);
  first.dispose();
});
