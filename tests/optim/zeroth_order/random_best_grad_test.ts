import { diffStats } from "../../../src/gpu/stats.ts";
import { Parameter } from "../../../src/params/flat.ts";
import { Adam } from "../../../src/optim/first_order/adam.ts";
import { RandomBestGrad } from "../../../src/optim/zeroth_order/random_best_grad.ts";
import { SGD } from "../../../src/optim/first_order/sgd.ts";
import { streamOf } from "../../../src/optim/population/population_optimizer.ts";
import { randomNormalAt, randomRademacherAt, randomUniformAt } from "../../../src/rng.ts";
import { tensor } from "../../../src/tensor.ts";
import { assert, assertClose, gpu } from "../../_util.ts";
import { counted, QUADRATIC, RESTORATION, ROSENBROCK, type ZoProblem } from "../_zo_problems.ts";

const STREAM = streamOf("RandomBestGrad");

/** Element j of trial `id` at step `step` (CPU twin of the GPU noise). */
function noise(sampler: string, seed: number, step: number, id: number, j: number): number {
  const c = { seed, stream: STREAM, counter: step, row: id };
  if (sampler === "uniform") return Math.fround(randomUniformAt(c, j) * 2 - 1);
  if (sampler === "rademacher") return randomRademacherAt(c, j);
  return randomNormalAt(c, j);
}

/** Σ_k coef[k] · s_k for a parameter of `n` elements. */
function mix(coef: number[], n: number, seed: number, step: number, sampler = "normal"): number[] {
  return Array.from(
    { length: n },
    (_, j) => coef.reduce((a, c, k) => a + (c === 0 ? 0 : c * noise(sampler, seed, step, k, j)), 0),
  );
}

/** A closure returning fixed losses: the baseline, then one per trial. */
function fixed(base: number, trials: number[]) {
  return () => tensor([base, ...trials], [1 + trials.length]);
}

Deno.test("RandomBestGrad evaluates bestOf + 1 rows in one closure call with no readback", () => {
  const x = QUADRATIC.init();
  const opt = new RandomBestGrad([x], { magn: 1e-3, bestOf: 6, opt: new SGD([x], { lr: 0.01 }) });
  const { closure, calls } = counted(QUADRATIC.closure(x));
  opt.step(closure).dispose(); // compile and allocate
  const before = gpu.stats.snapshot();
  for (let i = 0; i < 1000; i++) {
    opt.zeroGrad();
    opt.step(closure).dispose();
    if (i % 200 === 199) gpu.flush();
  }
  const d = diffStats(before, gpu.stats.snapshot());
  assert.equal(calls(), 1001);
  assert.equal(d.readbacks, 0);
  assert.equal(d.bytesInUse, 0);
  assert.equal(d.buffersCreated, 0);
  assert.equal(x.flat!.rows, 7);
  opt.dispose();
  x.flat!.dispose();
});

Deno.test("RandomBestGrad trials are x + magn·s_k and it returns the last trial's loss", async () => {
  const x = new Parameter([0.5, -0.25, 1, 2, 3]);
  const opt = new RandomBestGrad([x], { magn: 0.01, bestOf: 3, seed: 5, sampler: "uniform" });
  const loss = opt.step(fixed(1, [2, 3, 0.75]));
  assert.equal(await loss.item(), 0.75);
  for (let k = 0; k < 3; k++) {
    const trial = await x.read(1 + k);
    const expected = [0.5, -0.25, 1, 2, 3].map((v, j) =>
      Math.fround(v + Math.fround(0.01 * noise("uniform", 5, 0, k, j)))
    );
    assert.deepEqual([...trial], expected, `trial ${k}`);
  }
  assert.deepEqual([...await x.read()], [0.5, -0.25, 1, 2, 3]); // the model row is untouched
  opt.flat.dispose();
});

interface Case {
  what: string;
  options?: { avgBest?: boolean; negateWorst?: boolean };
  base: number;
  trials: number[];
  /** Coefficients c_k of grad = Σ c_k s_k. */
  coef: number[];
}

const AVG = { avgBest: true };
const THIRD = -1 / 3;
const CASES: Case[] = [
  {
    what: "takes −s of the most improving trial",
    base: 5,
    trials: [6, 3, 4, 2.5],
    coef: [0, 0, 0, -1],
  },
  {
    what: "takes the first of equally improving trials",
    base: 5,
    trials: [6, 4, 4, 7],
    coef: [0, -1, 0, 0],
  },
  { what: "gives zero when only ties are good", base: 5, trials: [5, 5, 6, 5], coef: [0, 0, 0, 0] },
  {
    what: "negates the first worst trial when none is good",
    base: 5,
    trials: [6, 8, 7, 8],
    coef: [0, 1, 0, 0],
  },
  {
    what: "gives zero when none is good without negateWorst",
    options: { negateWorst: false },
    base: 5,
    trials: [6, 8, 7, 8],
    coef: [0, 0, 0, 0],
  },
  {
    what: "with avgBest averages every good trial, ties included",
    options: AVG,
    base: 5,
    trials: [4, 5, 6, 3],
    coef: [THIRD, THIRD, 0, THIRD],
  },
  {
    what: "with avgBest negates the worst when none is good",
    options: AVG,
    base: 5,
    trials: [6, 9, 7, 8],
    coef: [0, 1, 0, 0],
  },
  {
    what: "never counts NaN or infinite trials as good",
    options: AVG,
    base: 5,
    trials: [NaN, 4, Infinity, 6],
    coef: [0, -1, 0, 0],
  },
  {
    what: "ranks a NaN trial as the worst",
    base: 5,
    trials: [6, NaN, Infinity, 7],
    coef: [0, 1, 0, 0],
  },
  {
    what: "takes the first finite trial against a NaN baseline",
    base: NaN,
    trials: [NaN, 3, 2, 7],
    coef: [0, -1, 0, 0],
  },
];

for (const { what, options = {}, base, trials, coef } of CASES) {
  Deno.test(`RandomBestGrad ${what}`, async () => {
    const x = new Parameter([1, 2, 3, 4, 5, 6, 7]);
    const opt = new RandomBestGrad([x], { magn: 0.1, bestOf: 4, seed: 3, ...options });
    opt.step(fixed(0, [0, 0, 0, 0])).dispose(); // step 0; the case runs at step 1
    opt.zeroGrad();
    const loss = opt.step(fixed(base, trials));
    assert.ok(Object.is(await loss.item(), trials[3]));
    const grad = (await opt.flat.readGrad(x))!;
    assertClose(grad, mix(coef, 7, 3, 1), { rtol: 1e-6, atol: 1e-6 });
    opt.flat.dispose();
  });
}

Deno.test("RandomBestGrad compares per-example losses ([bestOf + 1, B])", async () => {
  const x = new Parameter([1, 2, 3]);
  const opt = new RandomBestGrad([x], { magn: 0.1, bestOf: 3, seed: 6 });
  // Row means 2 (baseline), 1.75, 2.25, 1.5: trial 2 improves most.
  const loss = opt.step(() => tensor([1, 3, 0, 3.5, 2, 2.5, 1, 2], [4, 2]));
  assert.equal(await loss.item(), 1.5);
  assertClose((await opt.flat.readGrad(x))!, mix([0, 0, -1], 3, 6, 0), { atol: 1e-6 });
  opt.flat.dispose();
});

Deno.test("RandomBestGrad accumulates gradients until zeroGrad()", async () => {
  const x = new Parameter([1, 1, 1]);
  const opt = new RandomBestGrad([x], { magn: 0.1, bestOf: 2, seed: 2 });
  opt.step(fixed(1, [0, 2])).dispose(); // −s_0 of step 0
  opt.step(fixed(0, [1, 2])).dispose(); // +s_1 of step 1
  const grad = (await opt.flat.readGrad(x))!;
  const expected = mix([-1, 0], 3, 2, 0).map((v, j) => v + mix([0, 1], 3, 2, 1)[j]);
  assertClose(grad, expected, { rtol: 1e-6, atol: 1e-6 });
  opt.zeroGrad();
  opt.step(fixed(0, [1, 2])).dispose();
  assertClose((await opt.flat.readGrad(x))!, mix([0, 1], 3, 2, 2), { rtol: 1e-6, atol: 1e-6 });
  opt.flat.dispose();
});

Deno.test("RandomBestGrad applies avgBest and negateWorst per param group", async () => {
  const a = new Parameter([1, 2, 3, 4, 5]);
  const b = new Parameter([1, 2, 3]);
  const opt = new RandomBestGrad([{ params: [a], avgBest: true }, { params: [b] }], {
    magn: 0.1,
    bestOf: 3,
    seed: 8,
    sampler: "rademacher",
  });
  opt.step(() => tensor([5, 4, 3, 6])).dispose();
  const j = (p: Parameter) => Array.from({ length: p.numel }, (_, i) => p.offset + i);
  const expect = (p: Parameter, coef: number[]) =>
    j(p).map((e) => coef.reduce((s, c, k) => s + c * noise("rademacher", 8, 0, k, e), 0));
  assertClose((await opt.flat.readGrad(a))!, expect(a, [-0.5, -0.5, 0]), { atol: 1e-6 });
  assertClose((await opt.flat.readGrad(b))!, expect(b, [0, -1, 0]), { atol: 1e-6 });
  opt.flat.dispose();
});

// Measured with seeds 7, 1, 2 (loss ratio after the budget): quadratic ≤ 2.1e-4, Rosenbrock
// ≤ 8.4e-3, restoration ≤ 1.5e-3; the factors leave a margin of about 5x or more.
const BUDGETS: [ZoProblem, { lr: number; avgBest: boolean }, number, number][] = [
  [QUADRATIC, { lr: 0.01, avgBest: false }, 3300, 2e-3],
  [ROSENBROCK, { lr: 0.1, avgBest: false }, 2200, 0.05],
  [RESTORATION, { lr: 0.05, avgBest: true }, 1100, 0.01],
];

for (const [problem, { lr, avgBest }, evals, factor] of BUDGETS) {
  Deno.test(`RandomBestGrad + Adam shrinks the ${problem.name} loss ${factor}x in ${evals} evaluations`, async () => {
    const x = problem.init();
    const bestOf = 10;
    const adam = new Adam([x], { lr });
    const opt = new RandomBestGrad([x], { magn: 1e-3, bestOf, avgBest, opt: adam, seed: 7 });
    const closure = problem.closure(x);
    for (let i = 0; i < evals / (bestOf + 1); i++) {
      opt.zeroGrad();
      opt.step(closure).dispose();
    }
    const ratio = problem.loss(await x.read()) / problem.loss(problem.init().initialValues!);
    assert.ok(ratio <= factor, `loss ratio ${ratio} > ${factor}`);
    opt.dispose();
    x.flat!.dispose();
  });
}

Deno.test("RandomBestGrad stateDict round-trip continues the exact trajectory", async () => {
  const run = (x: Parameter, opt: RandomBestGrad, steps: number) => {
    const closure = QUADRATIC.closure(x);
    for (let i = 0; i < steps; i++) {
      opt.zeroGrad();
      opt.step(closure).dispose();
    }
  };
  const make = (x: Parameter) =>
    new RandomBestGrad([x], {
      magn: 1e-3,
      bestOf: 4,
      avgBest: true,
      seed: 9,
      opt: new Adam([x], { lr: 0.05 }),
    });
  const a = QUADRATIC.init();
  run(a, make(a), 30);
  const b = QUADRATIC.init();
  const first = make(b);
  run(b, first, 15);
  const saved = await first.stateDict();
  const second = new RandomBestGrad([b], { bestOf: 4, seed: 123, opt: new Adam([b], { lr: 1 }) });
  second.loadStateDict(saved);
  run(b, second, 15);
  assert.deepEqual([...await b.read()], [...await a.read()]);
  a.flat!.dispose();
  b.flat!.dispose();
});

Deno.test("RandomBestGrad rejects bad options, closures and inner optimizers", () => {
  const x = new Parameter([1, 2]);
  const y = new Parameter([3]);
  new SGD([x, y]); // one model
  assert.throws(
    () => new RandomBestGrad([x], { magn: -1 }),
    (e: Error) => e instanceof RangeError && /magn must be > 0, received -1/.test(e.message),
  );
  assert.throws(
    () => new RandomBestGrad([x], { magn: 0 }),
    (e: Error) => e instanceof RangeError && /magn must be > 0, received 0/.test(e.message),
  );
  for (const bestOf of [0, 257, 1.5]) {
    assert.throws(
      () => new RandomBestGrad([x], { bestOf }),
      (e: Error) => e instanceof RangeError && e.message.includes(`received ${bestOf}`),
    );
  }
  assert.throws(() => new RandomBestGrad([x], { sampler: "cauchy" as "normal" }), /sampler/);
  const opt = new RandomBestGrad([x], { bestOf: 3 });
  assert.throws(() => opt.step(), TypeError);
  assert.throws(() => opt.step(() => tensor([1, 2, 3])), /must return 4 losses/);
  const wide = new RandomBestGrad([{ params: [x] }, { params: [y], avgBest: true }], {
    bestOf: 200,
  });
  assert.throws(() => wide.step(() => tensor(new Array(201).fill(0))), /bestOf <= 128/);
  x.flat!.setRows(2);
  assert.throws(() => new RandomBestGrad([x], { opt: new SGD([x], { row: 1 }) }), /row 1/);
  x.flat!.dispose();
});
