// ask/tell, the public face of the population protocol: the same trajectories as step(), host
// losses, errors that change nothing, and evaluations of exactly the rows that were asked for.

import { diffStats } from "../../../src/gpu/stats.ts";
import { Parameter } from "../../../src/params/flat.ts";
import { Adam } from "../../../src/optim/first_order/adam.ts";
import { SGD } from "../../../src/optim/first_order/sgd.ts";
import { GradChain } from "../../../src/optim/population/grad_chain.ts";
import type { PopulationOptimizer } from "../../../src/optim/population/population_optimizer.ts";
import { SwarmOfOptimizers } from "../../../src/optim/population/swarm.ts";
import { UpdateToGrad } from "../../../src/optim/population/update_to_grad.ts";
import { GridSearch } from "../../../src/optim/zeroth_order/grid_search.ts";
import { RandomBestGrad } from "../../../src/optim/zeroth_order/random_best_grad.ts";
import { RandomGrad } from "../../../src/optim/zeroth_order/random_grad.ts";
import {
  RandomSearch,
  RandomShrinkingSearch,
} from "../../../src/optim/zeroth_order/random_search.ts";
import { RandomWalk } from "../../../src/optim/zeroth_order/random_walk.ts";
import { SequentialSearch } from "../../../src/optim/zeroth_order/sequential_search.ts";
import { SPSA } from "../../../src/optim/zeroth_order/spsa.ts";
import { Tensor, tensor } from "../../../src/tensor.ts";
import { assert, gpu } from "../../_util.ts";
import { counted, QUADRATIC } from "../_zo_problems.ts";

type Make = (x: Parameter) => PopulationOptimizer<object>;

/** Every population optimizer, in configurations that exercise each code path. */
const OPTIMIZERS: [string, Make][] = [
  [
    "RandomGrad",
    (x) => new RandomGrad([x], { magn: 1e-2, seed: 1, opt: new Adam([x], { lr: 0.05 }) }),
  ],
  [
    "RandomBestGrad",
    (x) =>
      new RandomBestGrad([x], { magn: 1e-2, bestOf: 3, seed: 2, opt: new SGD([x], { lr: 0.01 }) }),
  ],
  ["SPSA", (x) => new SPSA([x], { lr: 1e-2, magn: 1e-2, n: 2, seed: 3 })],
  ["RandomSearch", (x) => new RandomSearch([x], { candidates: 2, seed: 4 })],
  [
    "RandomShrinkingSearch",
    (x) => new RandomShrinkingSearch([x], { lr: 0.3, nsteps: 8, stochastic: true, seed: 5 }),
  ],
  ["GridSearch", (x) => new GridSearch([x], { domain: [-1, 1], step: 1, candidates: 3 })],
  [
    "SequentialSearch",
    (x) => new SequentialSearch([x], { lr: 0.5, domain: [-1, 1], candidates: 2 }),
  ],
  [
    "RandomWalk",
    (x) => new RandomWalk([x], { lr: 0.05, order: 2, bestOf: 2, stochastic: false, seed: 6 }),
  ],
  [
    "UpdateToGrad",
    (x) => new UpdateToGrad([x], new RandomWalk([x], { lr: 0.05, seed: 7 }), { reset: false }),
  ],
  [
    "SwarmOfOptimizers",
    (x) =>
      new SwarmOfOptimizers(
        [x],
        [0, 1, 2].map((seed) =>
          new RandomGrad([x], { magn: 1e-2, seed, opt: new Adam([x], { lr: 0.05 }) })
        ),
        {
          oldSteps: 1,
          dieAfter: 1,
          seed: 8,
        },
      ),
  ],
  [
    "SwarmOfOptimizers (mixed members)",
    (x) =>
      new SwarmOfOptimizers([x], [
        new RandomGrad([x], { magn: 1e-2, seed: 9, opt: new SGD([x], { lr: 0.01 }) }),
        new SPSA([x], { lr: 1e-2, magn: 1e-2, seed: 10 }),
      ]),
  ],
  [
    "GradChain",
    (x) =>
      new GradChain([x], [
        new RandomWalk([x], { lr: 0.05, seed: 11 }),
        new SGD([x], { lr: 1, momentum: 0.9 }),
        new Adam([x], { lr: 0.05 }),
      ]),
  ],
  [
    "GradChain (link by link)",
    (x) =>
      new GradChain([x], [
        new RandomWalk([x], { lr: 0.05, seed: 12 }),
        new RandomGrad([x], { magn: 1e-2, seed: 13 }),
        new SGD([x], { lr: 0.01 }),
      ], {
        reset: [false, true],
        modes: ["auto", "auto", "closure"],
      }),
  ],
];

/** Runs `steps` steps through `step` or through ask/tell; returns every row and the reports. */
async function run(make: Make, steps: number, route: "step" | "ask/tell") {
  const x = QUADRATIC.init();
  const opt = make(x);
  const closure = QUADRATIC.closure(x);
  const reports: number[] = [];
  for (let i = 0; i < steps; i++) {
    opt.zeroGrad();
    if (route === "step") {
      const report = opt.step(closure);
      reports.push(await report.item());
      report.dispose();
      continue;
    }
    // A step may take several rounds (a chain evaluating link by link): the last one reports.
    let report: Tensor;
    const before = opt.stepCount;
    do {
      const population = opt.ask();
      const loss = population.size > 0 ? closure() : undefined;
      report = opt.tell(loss);
      loss?.dispose();
      if (opt.stepCount === before) report.dispose();
    } while (opt.stepCount === before);
    reports.push(await report.item());
    report.dispose();
  }
  const flat = x.flat!;
  const rows = await flat.readRows(0, flat.rows);
  opt.dispose();
  flat.dispose();
  return { rows: rows.map((r) => [...r]), reports };
}

for (const [name, make] of OPTIMIZERS) {
  Deno.test(`${name}: step(closure) and ask → closure → tell give bit-identical trajectories`, async () => {
    const stepped = await run(make, 10, "step");
    const asked = await run(make, 10, "ask/tell");
    assert.deepEqual(asked.reports, stepped.reports);
    assert.deepEqual(asked.rows, stepped.rows);
  });
}

Deno.test("tell before ask, and twice for one ask, is an error that changes nothing", () => {
  const x = QUADRATIC.init();
  const opt = new RandomGrad([x], { magn: 1e-2, seed: 1, opt: new SGD([x], { lr: 0.1 }) });
  assert.throws(() => opt.tell([1, 2]), (e: Error) => /call ask\(\) first/.test(e.message));
  const population = opt.ask();
  assert.equal(population.size, 2);
  opt.tell([2, 1]).dispose();
  assert.throws(() => opt.tell([2, 1]), (e: Error) => /already told/.test(e.message));
  assert.equal(opt.stepCount, 1);
  opt.dispose();
  x.flat!.dispose();
});

Deno.test("a tell with the wrong number of losses throws a TypeError and changes no state", async () => {
  const trajectory = async (mistakes: boolean) => {
    const x = QUADRATIC.init();
    const opt = new RandomGrad([x], { magn: 1e-2, seed: 3, opt: new Adam([x], { lr: 0.05 }) });
    const closure = QUADRATIC.closure(x);
    for (let i = 0; i < 6; i++) {
      opt.zeroGrad();
      opt.ask();
      if (mistakes) {
        assert.throws(() => opt.tell([1, 2, 3]), TypeError);
        assert.throws(() => opt.tell(tensor([1, 2, 3])), /2 rows were asked for/);
        assert.throws(() => opt.tell(["a", 1] as unknown as number[]), /loss 0 must be a number/);
        assert.throws(() => opt.tell(), TypeError);
      }
      const loss = closure();
      opt.tell(loss).dispose();
      loss.dispose();
    }
    const out = [...await x.read()];
    opt.dispose();
    x.flat!.dispose();
    return out;
  };
  assert.deepEqual(await trajectory(true), await trajectory(false));
});

Deno.test("ask is idempotent until tell: the grid advances once per step", () => {
  const x = new Parameter([0, 0]);
  const opt = new GridSearch([x], { domain: [-1, 1], step: 1 });
  const first = opt.ask();
  assert.equal(opt.ask(), first);
  assert.equal(opt.combination, 1n); // point 0 was written once, not twice
  opt.tell([5, 4]).dispose();
  assert.equal(opt.ask().size, 1); // no baseline after the first step
  opt.dispose();
  x.flat!.dispose();
});

Deno.test("host losses: NaN and infinite losses never win", async () => {
  const x = new Parameter([0.5, -0.5]);
  const opt = new RandomSearch([x], { candidates: 2, seed: 2 });
  const start = [...await x.read()];
  opt.ask();
  opt.tell([1, NaN, Infinity]).dispose(); // baseline 1, both candidates bad
  assert.deepEqual([...await x.read()], start);
  const population = opt.ask();
  const [, second] = await population.read();
  opt.tell([-Infinity, 0.5]).dispose(); // −∞ is not finite either; the finite 0.5 wins
  assert.deepEqual([...await x.read()], [...second]);
  opt.dispose();
  x.flat!.dispose();
});

Deno.test("the population: a [P, stride] view of the asked rows, read as P vectors of N values", async () => {
  const a = new Parameter([1, 2, 3], [3]);
  const b = new Parameter([4, 5], [2]);
  const opt = new RandomGrad([a, b], { magn: 0.5, seed: 4 });
  const population = opt.ask();
  assert.equal(population.size, 2);
  const rows = population.rows;
  assert.deepEqual(rows.shape, [2, population.stride]);
  const all = await rows.read();
  const host = await population.read();
  assert.equal(host.length, 2);
  for (let r = 0; r < 2; r++) {
    assert.equal(host[r].length, 5);
    const row = all.subarray(r * population.stride);
    assert.deepEqual([...host[r]], [
      ...row.subarray(a.offset, a.offset + 3),
      ...row.subarray(b.offset, b.offset + 2),
    ]);
  }
  assert.deepEqual([...host[0]], [1, 2, 3, 4, 5]); // the home row comes first
  assert.deepEqual(a.view().shape, [2, 3]); // parameters see the asked rows
  rows.dispose();
  opt.tell([1, 2]).dispose();
  assert.deepEqual(a.view().shape, [3]); // and the model row again after tell
  opt.dispose();
  a.flat!.dispose();
});

Deno.test("a step with nothing to evaluate asks for no rows and tells nothing", async () => {
  const x = new Parameter([1, 2]);
  const opt = new UpdateToGrad([x], new SGD([x], { lr: 0.5 }));
  x.flat!.setGrad(x, [1, 1]);
  const population = opt.ask();
  assert.equal(population.size, 0);
  assert.throws(() => population.rows, RangeError);
  assert.throws(() => opt.tell([1]), /no rows were asked for/);
  opt.tell().dispose();
  assert.deepEqual([...(await x.flat!.readGrad(x))!], [0.5, 0.5]); // the SGD move, as a gradient
  opt.dispose();
  x.flat!.dispose();
});

Deno.test("a closure that throws leaves the step to be taken again, with the model row active", async () => {
  const trajectory = async (fail: boolean) => {
    const x = QUADRATIC.init();
    const opt = new RandomBestGrad([x], {
      magn: 1e-2,
      bestOf: 2,
      seed: 5,
      opt: new Adam([x], { lr: 0.05 }),
    });
    const closure = QUADRATIC.closure(x);
    for (let i = 0; i < 5; i++) {
      opt.zeroGrad();
      if (fail && i === 2) {
        assert.throws(() =>
          opt.step(() => {
            throw new Error("objective failed");
          }), /objective failed/);
        assert.deepEqual(x.flat!.active, { start: 0, count: 1 });
      }
      opt.step(closure).dispose();
    }
    const out = [...await x.read()];
    opt.dispose();
    x.flat!.dispose();
    return out;
  };
  assert.deepEqual(await trajectory(true), await trajectory(false));
});

Deno.test("a swarm of mixed members evaluates only the rows they ask for", async () => {
  // Rows: model 0; member homes 1 (RandomGrad) and 2 (SPSA); candidates 3 (RandomGrad's probe),
  // 4-5 (SPSA's pair); parents 6-7. SPSA does not ask for its home row, so the four asked
  // rows {1, 3, 4, 5} are copied into one block and row 2 is not evaluated.
  const members = (x: Parameter) => [
    new RandomGrad([x], { magn: 1e-2, seed: 1, opt: new Adam([x], { lr: 0.05 }) }),
    new SPSA([x], { lr: 1e-2, magn: 1e-2, seed: 2 }),
  ];
  const x = QUADRATIC.init();
  const swarm = new SwarmOfOptimizers([x], members(x)); // nobody dies
  const inner = QUADRATIC.closure(x);
  let evaluated = 0;
  const { closure, calls } = counted(() => {
    evaluated = x.flat!.active.count;
    return inner();
  });
  swarm.step(closure).dispose();
  const before = gpu.stats.snapshot();
  for (let i = 1; i < 8; i++) swarm.step(closure).dispose();
  assert.equal(diffStats(before, gpu.stats.snapshot()).readbacks, 0);
  assert.equal(calls(), 8);
  assert.equal(evaluated, 4);
  // Each member followed exactly the trajectory it follows alone.
  const alone = await Promise.all([0, 1].map(async (i) => {
    const y = QUADRATIC.init();
    const opt = members(y)[i];
    const closure = QUADRATIC.closure(y);
    for (let s = 0; s < 8; s++) {
      opt.zeroGrad();
      opt.step(closure).dispose();
    }
    const values = [...await y.read()];
    y.flat!.dispose();
    return values;
  }));
  assert.deepEqual([...await x.read(1)], alone[0]);
  assert.deepEqual([...await x.read(2)], alone[1]);
  swarm.dispose();
  x.flat!.dispose();
});
