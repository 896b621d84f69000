import { diffStats } from "../../../src/gpu/stats.ts";
import { FlatParameters, Parameter } from "../../../src/params/flat.ts";
import {
  RandomSearch,
  RandomShrinkingSearch,
} from "../../../src/optim/zeroth_order/random_search.ts";
import { streamOf } from "../../../src/optim/population/population_optimizer.ts";
import { randomNormalAt, randomRademacherAt, randomUniformAt } from "../../../src/rng.ts";
import { tensor } from "../../../src/tensor.ts";
import { assert, assertClose, gpu } from "../../_util.ts";
import { counted, QUADRATIC, RESTORATION, ROSENBROCK, type ZoProblem } from "../_zo_problems.ts";

function noise(name: string, sampler: string, seed: number, step: number, id: number, j: number) {
  const c = { seed, stream: streamOf(name), counter: step, row: id };
  if (sampler === "uniform") return Math.fround(randomUniformAt(c, j) * 2 - 1);
  if (sampler === "rademacher") return randomRademacherAt(c, j);
  return randomNormalAt(c, j);
}

/**
 * A closure returning scripted losses, one list per step; each list must have one loss per
 * evaluated row (or `perRow` losses per row).
 */
function scripted(flat: FlatParameters, steps: number[][], perRow = 1) {
  let i = 0;
  return () => {
    const losses = steps[i++];
    const rows = flat.active.count;
    assert.equal(losses.length, rows * perRow, `step ${i - 1} evaluates ${rows} rows`);
    return tensor(losses, perRow === 1 ? [rows] : [rows, perRow]);
  };
}

const SAMPLE = (step: number, id: number, n: number, sampler = "normal", seed = 0) =>
  Array.from({ length: n }, (_, j) => noise("RandomSearch", sampler, seed, step, id, j));

Deno.test("RandomSearch evaluates all candidates in one closure call with no readback", () => {
  for (
    const make of [
      (x: Parameter) => new RandomSearch([x], { seed: 1 }),
      (x: Parameter) =>
        new RandomShrinkingSearch([x], { lr: 0.1, candidates: 3, stochastic: true }),
    ]
  ) {
    const x = QUADRATIC.init();
    const opt = make(x);
    const { closure, calls } = counted(QUADRATIC.closure(x));
    opt.step(closure).dispose(); // compile and allocate
    const before = gpu.stats.snapshot();
    for (let i = 0; i < 500; i++) {
      opt.step(closure).dispose();
      if (i % 100 === 99) gpu.flush();
    }
    const d = diffStats(before, gpu.stats.snapshot());
    assert.equal(calls(), 501);
    assert.equal(d.readbacks, 0);
    assert.equal(d.uploads, 0);
    assert.equal(d.bytesInUse, 0);
    assert.equal(d.buffersCreated, 0);
    assert.equal(x.flat!.rows, 1 + opt.candidates);
    opt.dispose();
    x.flat!.dispose();
  }
});

for (const sampler of ["normal", "uniform", "rademacher"] as const) {
  Deno.test(`RandomSearch samples the whole vector anew and keeps the best point (${sampler})`, async () => {
    const x = new Parameter([1, 2, 3, 4, 5, 6, 7]);
    const opt = new RandomSearch([x], { sampler, seed: 11 });
    const flat = x.flat!;
    const closure = scripted(flat, [[2, 1], [3], [1], [0.5]]);
    const expected: [number[], number][] = [
      [SAMPLE(0, 0, 7, sampler, 11), 1], // better: accepted
      [SAMPLE(0, 0, 7, sampler, 11), 1], // worse: rejected
      [SAMPLE(2, 0, 7, sampler, 11), 1], // tie: accepted
      [SAMPLE(3, 0, 7, sampler, 11), 0.5],
    ];
    for (const [step, [home, lowest]] of expected.entries()) {
      const loss = opt.step(closure);
      assertClose(await x.read(1), SAMPLE(step, 0, 7, sampler, 11), { rtol: 1e-6 }, "candidate");
      assertClose(await x.read(), home, { rtol: 1e-6 }, `home after step ${step}`);
      assert.equal(await loss.item(), lowest); // the best loss so far
    }
    flat.dispose();
  });
}

Deno.test("RandomSearch never accepts a NaN or infinite loss", async () => {
  const x = new Parameter([1, 2]);
  const opt = new RandomSearch([x], { seed: 4 });
  const closure = scripted(x.flat!, [[1, NaN], [Infinity], [-Infinity]]);
  for (let step = 0; step < 3; step++) {
    const loss = opt.step(closure);
    assert.equal(await loss.item(), 1);
    assert.deepEqual([...await x.read()], [1, 2]);
  }
  x.flat!.dispose();
  const y = new Parameter([1, 2]);
  const other = new RandomSearch([y], { seed: 4 });
  const loss = other.step(scripted(y.flat!, [[NaN, 3]])); // a finite candidate beats a NaN start
  assert.equal(await loss.item(), 3);
  assertClose(await y.read(), SAMPLE(0, 0, 2, "normal", 4), { rtol: 1e-6 });
  y.flat!.dispose();
});

Deno.test("RandomSearch with several candidates keeps the first best one", async () => {
  const x = new Parameter([0, 0, 0]);
  const opt = new RandomSearch([x], { candidates: 3, seed: 2 });
  const closure = scripted(x.flat!, [[5, 4, 2, 3], [3, 1, 1], [NaN, 9, NaN]]);
  assert.equal(await opt.step(closure).item(), 2);
  assertClose(await x.read(), SAMPLE(0, 1, 3, "normal", 2), { rtol: 1e-6 });
  for (let k = 0; k < 3; k++) {
    assertClose(await x.read(1 + k), SAMPLE(0, k, 3, "normal", 2), { rtol: 1e-6 }, `row ${k}`);
  }
  assert.equal(await opt.step(closure).item(), 1);
  assertClose(await x.read(), SAMPLE(1, 1, 3, "normal", 2), { rtol: 1e-6 });
  assert.equal(await opt.step(closure).item(), 1); // 9 > 1: rejected
  assertClose(await x.read(), SAMPLE(1, 1, 3, "normal", 2), { rtol: 1e-6 });
  x.flat!.dispose();
});

Deno.test("RandomSearch with stochastic re-evaluates the parameters every step", async () => {
  const x = new Parameter([0, 0]);
  const opt = new RandomSearch([x], { stochastic: true, seed: 3 });
  const closure = scripted(x.flat!, [[5, 4], [9, 8], [1, 2]]);
  assert.equal(await opt.step(closure).item(), 4);
  assert.equal(await opt.step(closure).item(), 8); // 8 > 4 but < the fresh baseline 9
  assertClose(await x.read(), SAMPLE(1, 0, 2, "normal", 3), { rtol: 1e-6 });
  assert.equal(await opt.step(closure).item(), 1);
  assertClose(await x.read(), SAMPLE(1, 0, 2, "normal", 3), { rtol: 1e-6 });
  x.flat!.dispose();
});

Deno.test("RandomSearch decides the first step from per-example losses", async () => {
  // Means 2.3 + 1e-7 and 2.3: a float32 mean cannot separate them, the differences can.
  const x = new Parameter([0, 0]);
  const opt = new RandomSearch([x], { seed: 5 });
  const base = [2.3, 2.3, 2.3, 2.3];
  const cand = base.map((v, i) => i === 0 ? Math.fround(v + 4.8e-7) : v);
  await opt.step(scripted(x.flat!, [[...base, ...cand]], 4)).item();
  assert.deepEqual([...await x.read()], [0, 0]); // worse by one ulp: rejected
  x.flat!.dispose();
});

Deno.test("RandomSearch leaves untrained parameters at the model's values", async () => {
  const a = new Parameter([1, 2, 3]);
  const b = new Parameter([7, 8], [2], false);
  const c = new Parameter([9]);
  const flat = new FlatParameters([a, b, c]);
  const opt = new RandomSearch([a, b], { seed: 6 }); // b is frozen, c is not optimised
  opt.step(scripted(flat, [[1, 0]])).dispose();
  assertClose(await a.read(), SAMPLE(0, 0, 3, "normal", 6), { rtol: 1e-6 });
  assert.deepEqual([...await b.read()], [7, 8]);
  assert.deepEqual([...await c.read()], [9]);
  b.load([5, 6]);
  c.load([4]);
  opt.step(scripted(flat, [[1]])).dispose();
  assert.deepEqual([...await b.read(1)], [5, 6]); // the candidate sees the model's values
  assert.deepEqual([...await c.read(1)], [4]);
  flat.dispose();
});

Deno.test("RandomShrinkingSearch samples around the best point with one radius per group", async () => {
  const a = new Parameter([1, 2, 3]);
  const b = new Parameter([4, 5]);
  const flat = new FlatParameters([a, b]);
  const opt = new RandomShrinkingSearch([a, b], { lr: 0.5, nsteps: 2, seed: 8 });
  const s = (step: number, j: number) => noise("RandomShrinkingSearch", "normal", 8, step, 0, j);
  const closure = scripted(flat, [[1, 2], [3], [3], [3], [0]]);
  const radii = [0.5, 0.25, 0, 0, 0]; // clamped at 0 after nsteps (the original went negative)
  const lrs = [0.25, 0, 0, 0, 0];
  for (let step = 0; step < 5; step++) {
    opt.step(closure).dispose();
    const r = Math.fround(radii[step]);
    assertClose(
      await a.read(1),
      [1, 2, 3].map((v, j) => Math.fround(v + Math.fround(r * s(step, j)))),
      { rtol: 1e-6 },
      `a at step ${step}`,
    );
    assertClose(
      await b.read(1),
      [4, 5].map((v, j) => Math.fround(v + Math.fround(r * s(step, b.offset + j)))),
      { rtol: 1e-6 },
      `b at step ${step}`,
    );
    assert.equal(opt.paramGroups[0].lr, lrs[step]);
  }
  assert.deepEqual([...await a.read()], [1, 2, 3]); // worse candidates, then radius 0
  flat.dispose();
});

Deno.test("RandomShrinkingSearch without nsteps reads lr every step", async () => {
  const x = new Parameter([0, 0]);
  const opt = new RandomShrinkingSearch([x], { lr: 1, seed: 1 });
  const closure = scripted(x.flat!, [[0, 1], [1]]);
  opt.step(closure).dispose();
  opt.paramGroups[0].lr = 0.01; // what a scheduler does
  opt.step(closure).dispose();
  const s = [0, 1].map((j) => noise("RandomShrinkingSearch", "normal", 1, 1, 0, j));
  assertClose(await x.read(1), s.map((v) => Math.fround(0.01 * v)), { rtol: 1e-6 });
  assert.equal(opt.paramGroups[0].lr, 0.01);
  x.flat!.dispose();
});

type AnySearch = RandomSearch | RandomShrinkingSearch;

/** Runs `evals` evaluations (rows); returns the last reported loss and the final point's loss. */
async function budget(
  problem: ZoProblem,
  opt: AnySearch,
  x: Parameter,
  evals: number,
): Promise<{ reported: number; final: () => Promise<number> }> {
  const closure = problem.closure(x);
  const k = opt.candidates;
  let loss = null;
  for (let used = 1 + k; used <= evals; used += k) {
    loss?.dispose();
    loss = opt.step(closure);
  }
  const reported = await loss!.item();
  return { reported, final: async () => problem.loss(await x.read()) };
}

Deno.test("RandomSearch reproduces the restoration benchmark of the original over seeds", async () => {
  // The original's notebook shows one unseeded run: 0.1257. The minimum of 1000 fresh N(0, 1)
  // samples has mean ≈ 0.179 and standard deviation ≈ 0.044 (CPU simulation, 2000 runs), so
  // 0.1257 was a lucky draw (≈ 12th percentile). Candidates do not depend on the current point,
  // so several per step change nothing but speed: 37 candidates give 1 + 27 · 37 = 1000 rows.
  const mins: number[] = [];
  for (let seed = 0; seed < 24; seed++) {
    const x = RESTORATION.init(seed);
    const opt = new RandomSearch([x], { seed, candidates: 37 });
    mins.push((await budget(RESTORATION, opt, x, 1000)).reported);
    x.flat!.dispose();
  }
  const mean = mins.reduce((a, b) => a + b) / mins.length;
  assert.ok(mean > 0.15 && mean < 0.21, `mean minimum ${mean}`);
  assert.ok(Math.min(...mins) <= 0.1257, `minima ${mins}`);
  const ones: number[] = []; // one candidate per step, as the original: 1 + 999 rows
  for (let seed = 0; seed < 2; seed++) {
    const x = RESTORATION.init(seed);
    const { reported, final } = await budget(RESTORATION, new RandomSearch([x], { seed }), x, 1000);
    assert.ok(Math.abs(reported - await final()) < 1e-6, `seed ${seed}: ${reported} vs ${final}`);
    ones.push(reported);
    x.flat!.dispose();
  }
  assert.ok(ones.every((m) => m > 0.1 && m < 0.25), `minima ${ones}`);
  RESTORATION.dispose();
});

Deno.test("RandomShrinkingSearch beats the original's restoration figure 10x over seeds", async () => {
  const mins: number[] = [];
  for (let seed = 0; seed < 3; seed++) {
    const x = RESTORATION.init(seed);
    const opt = new RandomShrinkingSearch([x], { lr: 0.1, seed });
    mins.push((await budget(RESTORATION, opt, x, 1000)).reported);
    x.flat!.dispose();
  }
  const mean = mins.reduce((a, b) => a + b) / mins.length;
  assert.ok(mean <= 0.0126, `mean minimum ${mean} (${mins})`);
  RESTORATION.dispose();
});

const BUDGETS: [string, ZoProblem, (x: Parameter) => AnySearch, number, number][] = [
  ["RandomSearch", QUADRATIC, (x) => new RandomSearch([x], { seed: 7 }), 1000, 0.7],
  ["RandomSearch", ROSENBROCK, (x) => new RandomSearch([x], { seed: 7 }), 1000, 0.05],
  ["RandomSearch", RESTORATION, (x) => new RandomSearch([x], { seed: 7 }), 1000, 0.2],
  [
    "RandomShrinkingSearch",
    QUADRATIC,
    (x) => new RandomShrinkingSearch([x], { lr: 0.1, nsteps: 500, seed: 7 }),
    500,
    2e-3,
  ],
  [
    "RandomShrinkingSearch",
    ROSENBROCK,
    (x) => new RandomShrinkingSearch([x], { lr: 0.1, candidates: 4, seed: 7 }),
    1000,
    0.01,
  ],
  [
    "RandomShrinkingSearch",
    RESTORATION,
    (x) => new RandomShrinkingSearch([x], { lr: 0.1, nsteps: 500, seed: 7 }),
    500,
    3e-4,
  ],
];

for (const [name, problem, make, evals, factor] of BUDGETS) {
  Deno.test(`${name} shrinks the ${problem.name} loss ${factor}x in ${evals} evaluations`, async () => {
    const x = problem.init();
    const opt = make(x);
    const { final } = await budget(problem, opt, x, evals);
    const ratio = await final() / problem.loss(problem.init().initialValues!);
    assert.ok(ratio <= factor, `loss ratio ${ratio} > ${factor}`);
    opt.dispose();
    x.flat!.dispose();
    problem.dispose();
  });
}

Deno.test("RandomShrinkingSearch stateDict round-trip continues the exact trajectory", async () => {
  const run = (x: Parameter, opt: RandomShrinkingSearch, steps: number) => {
    const closure = QUADRATIC.closure(x);
    for (let i = 0; i < steps; i++) opt.step(closure).dispose();
  };
  const make = (x: Parameter) =>
    new RandomShrinkingSearch([x], { lr: 0.2, nsteps: 40, candidates: 2, seed: 9 });
  const a = QUADRATIC.init();
  run(a, make(a), 30);
  const b = QUADRATIC.init();
  const first = make(b);
  run(b, first, 15);
  const saved = await first.stateDict();
  const second = new RandomShrinkingSearch([b], { lr: 5, nsteps: 3, candidates: 2, seed: 123 });
  second.loadStateDict(saved);
  run(b, second, 15);
  assert.deepEqual([...await b.read()], [...await a.read()]);
  assert.equal(second.paramGroups[0].lr, 0.2 * 10 / 40);
  a.flat!.dispose();
  b.flat!.dispose();
});

Deno.test("RandomSearch stateDict round-trip keeps the lowest loss", async () => {
  const x = new Parameter([0, 0]);
  const opt = new RandomSearch([x], { seed: 2 });
  opt.step(scripted(x.flat!, [[3, 2]])).dispose();
  const saved = await opt.stateDict();
  const other = new RandomSearch([x], { seed: 99 });
  other.loadStateDict(saved);
  const loss = other.step(scripted(x.flat!, [[2.5]])); // no baseline: compared with 2
  assert.equal(await loss.item(), 2);
  assertClose(await x.read(1), SAMPLE(1, 0, 2, "normal", 2), { rtol: 1e-6 });
  x.flat!.dispose();
});

Deno.test("RandomSearch and RandomShrinkingSearch reject bad options and closures", () => {
  const x = new Parameter([1, 2]);
  assert.throws(
    () => new RandomShrinkingSearch([x], { lr: -1 }),
    (e: Error) =>
      e instanceof RangeError &&
      e.message === "RandomShrinkingSearch: lr must be >= 0, received -1",
  );
  assert.throws(() => new RandomShrinkingSearch([x], { nsteps: 0 }), /nsteps must be/);
  assert.throws(() => new RandomShrinkingSearch([x], { nsteps: 2.5 }), /nsteps must be/);
  assert.throws(() => new RandomSearch([x], { sampler: "cauchy" as "normal" }), /sampler/);
  assert.throws(
    () => new RandomSearch([x], { candidates: 0 }),
    (e: Error) =>
      e instanceof RangeError &&
      e.message === "RandomSearch: candidates must be an integer >= 1, received 0",
  );
  assert.throws(() => new RandomSearch([x], { seed: -1 }), /seed/);
  const opt = new RandomSearch([x]);
  assert.throws(() => opt.step(), TypeError);
  assert.throws(() => opt.step(() => tensor([1, 2, 3])), /must return 2 losses/);
  x.flat!.dispose();
});
