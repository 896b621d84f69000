import { diffStats } from "../../../src/gpu/stats.ts";
import { Parameter } from "../../../src/params/flat.ts";
import { Adam } from "../../../src/optim/first_order/adam.ts";
import { RandomGrad } from "../../../src/optim/zeroth_order/random_grad.ts";
import { SGD } from "../../../src/optim/first_order/sgd.ts";
import { streamOf } from "../../../src/optim/population/population_optimizer.ts";
import {
  Generator,
  randomNormalAt,
  randomRademacherAt,
  randomUniformAt,
} from "../../../src/rng.ts";
import { mseLoss } from "../../../src/ops/loss.ts";
import { tensor } from "../../../src/tensor.ts";
import { assert, assertClose, gpu } from "../../_util.ts";
import { counted, QUADRATIC, RESTORATION, ROSENBROCK, type ZoProblem } from "../_zo_problems.ts";

const STREAM = streamOf("RandomGrad");

function noise(sampler: string, seed: number, step: number, j: number): number {
  const c = { seed, stream: STREAM, counter: step, row: 0 };
  if (sampler === "uniform") return Math.fround(randomUniformAt(c, j) * 2 - 1);
  if (sampler === "rademacher") return randomRademacherAt(c, j);
  return randomNormalAt(c, j);
}

/** A closure returning fixed losses for the two evaluated rows. */
function fixed(base: number[], cand: number[]) {
  return () => tensor([...base, ...cand], base.length === 1 ? [2] : [2, base.length]);
}

Deno.test("RandomGrad evaluates both rows in one closure call with no readback", () => {
  const x = QUADRATIC.init();
  const opt = new RandomGrad([x], { magn: 1e-3, opt: new SGD([x], { lr: 0.01 }) });
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
  assert.equal(x.flat!.rows, 2);
  opt.dispose();
  x.flat!.dispose();
});

for (const sampler of ["normal", "uniform", "rademacher"] as const) {
  Deno.test(`RandomGrad sets grad = −s when the probe is better and +s when worse (${sampler})`, async () => {
    const x = new Parameter([1, 2, 3, 4, 5, 6, 7]);
    const opt = new RandomGrad([x], { magn: 0.1, sampler, seed: 11 });
    for (
      const [step, losses, sign] of [[0, [2, 1], -1], [1, [1, 2], 1], [2, [1, 1], -1]] as const
    ) {
      opt.zeroGrad();
      opt.step(fixed([losses[0]], [losses[1]])).dispose();
      const grad = (await opt.flat.readGrad(x))!;
      const expected = Array.from({ length: 7 }, (_, j) => sign * noise(sampler, 11, step, j));
      assertClose(grad, expected, { rtol: 1e-6, atol: 1e-7 }, `step ${step}`);
    }
    opt.flat.dispose();
  });
}

Deno.test("RandomGrad returns the perturbed loss and its probe is x + magn·s", async () => {
  const x = new Parameter([0.5, -0.25, 1]);
  const zero = tensor([0, 0, 0]);
  const opt = new RandomGrad([x], { magn: 0.01, seed: 5 });
  const loss = opt.step(() => mseLoss(x.view(), zero));
  const probe = await x.read(1);
  const s = [0, 1, 2].map((j) => noise("normal", 5, 0, j));
  assert.deepEqual(
    [...probe],
    [0.5, -0.25, 1].map((v, j) => Math.fround(v + Math.fround(0.01 * s[j]))),
  );
  const expected = probe.reduce((a, v) => a + v * v, 0) / 3;
  assert.ok(Math.abs((await loss.item()) - expected) < 1e-6);
  assert.deepEqual([...await x.read()], [0.5, -0.25, 1]); // the model row is untouched
  zero.dispose();
  opt.flat.dispose();
});

Deno.test("RandomGrad accumulates gradients until zeroGrad()", async () => {
  const x = new Parameter([1, 1]);
  const opt = new RandomGrad([x], { magn: 0.1, seed: 2 });
  opt.step(fixed([1], [0])).dispose(); // better: −s0
  opt.step(fixed([0], [1])).dispose(); // worse: +s1
  const grad = (await opt.flat.readGrad(x))!;
  const expected = [0, 1].map((j) => -noise("normal", 2, 0, j) + noise("normal", 2, 1, j));
  assert.ok(grad.every((g, j) => Math.abs(g - expected[j]) < 1e-6));
  opt.flat.dispose();
});

Deno.test("RandomGrad with stepOpposite false leaves a zero gradient after a worse probe", async () => {
  const x = new Parameter([1, 1, 1]);
  const opt = new RandomGrad([x], { magn: 0.1, stepOpposite: false });
  opt.step(fixed([0], [1])).dispose();
  assert.deepEqual([...(await opt.flat.readGrad(x))!], [0, 0, 0]);
  opt.flat.dispose();
});

Deno.test("RandomGrad never accepts a NaN or infinite probe loss", async () => {
  const x = new Parameter([1, 2]);
  const opt = new RandomGrad([x], { magn: 0.1, seed: 4 });
  for (const [step, bad] of [[0, NaN], [1, Infinity], [2, -Infinity]] as const) {
    opt.zeroGrad();
    opt.step(fixed([5], [bad])).dispose();
    const grad = (await opt.flat.readGrad(x))!;
    assertClose(
      grad,
      [0, 1].map((j) => noise("normal", 4, step, j)),
      { rtol: 1e-6 },
      `loss ${bad}`,
    );
  }
  opt.zeroGrad();
  opt.step(fixed([NaN], [3])).dispose(); // a finite probe beats a NaN baseline
  assertClose((await opt.flat.readGrad(x))!, [0, 1].map((j) => -noise("normal", 4, 3, j)), {
    rtol: 1e-6,
  });
  opt.flat.dispose();
});

Deno.test("RandomGrad decides from per-example losses exactly as float64 does", async () => {
  // Losses near 2.3 whose batch means differ by a few float32 ulps: the sign of the mean
  // difference in float64 (exact here: each f32 difference is exact) is the reference.
  const B = 32;
  const g = new Generator(99);
  const x = new Parameter([0, 0, 0, 0]);
  const opt = new RandomGrad([x], { magn: 1e-5, seed: 1 });
  let naiveWrong = 0;
  for (let trial = 0; trial < 40; trial++) {
    const base = new Float32Array(B).map(() => 2.3 + 0.2 * g.uniform());
    const cand = base.map((v) =>
      Math.fround(v + (g.int(7) - 3) * 2.4e-7 * (g.uniform() < 0.3 ? 1 : 0))
    );
    let diff = 0;
    for (let i = 0; i < B; i++) diff += cand[i] - base[i];
    const meanOf = (a: Float32Array) => {
      let s = 0;
      for (const v of a) s = Math.fround(s + v);
      return Math.fround(s / B);
    };
    if ((meanOf(cand) > meanOf(base)) !== (diff > 0)) naiveWrong++;
    opt.zeroGrad();
    opt.step(fixed([...base], [...cand])).dispose();
    const grad = (await opt.flat.readGrad(x))![0];
    const s0 = noise("normal", 1, trial, 0);
    assert.ok(
      Math.abs(grad - (diff > 0 ? s0 : -s0)) < 1e-6,
      `trial ${trial}: Σ diff = ${diff}, grad ${grad}`,
    );
  }
  assert.ok(naiveWrong > 0, "the trials should include cases a float32 mean comparison gets wrong");
  opt.flat.dispose();
});

const BUDGETS: [ZoProblem, Record<string, number>, number, number][] = [
  [QUADRATIC, { magn: 1e-3, lr: 0.05 }, 1000, 1e-2],
  [ROSENBROCK, { magn: 1e-3, lr: 0.01 }, 1500, 0.05],
  [RESTORATION, { magn: 1e-3, lr: 0.05 }, 500, 0.01],
];

for (const [problem, { magn, lr }, evals, factor] of BUDGETS) {
  Deno.test(`RandomGrad + Adam shrinks the ${problem.name} loss ${factor}x in ${evals} evaluations`, async () => {
    const x = problem.init();
    const opt = new RandomGrad([x], { magn, opt: new Adam([x], { lr }), seed: 7 });
    const closure = problem.closure(x);
    for (let i = 0; i < evals / 2; i++) {
      opt.zeroGrad();
      opt.step(closure).dispose();
    }
    const ratio = problem.loss(await x.read()) / problem.loss(problem.init().initialValues!);
    assert.ok(ratio <= factor, `loss ratio ${ratio} > ${factor}`);
    opt.dispose();
    x.flat!.dispose();
  });
}

Deno.test("RandomGrad stateDict round-trip continues the exact trajectory", async () => {
  const run = (x: Parameter, opt: RandomGrad, steps: number) => {
    const closure = QUADRATIC.closure(x);
    for (let i = 0; i < steps; i++) {
      opt.zeroGrad();
      opt.step(closure).dispose();
    }
  };
  const make = (x: Parameter) =>
    new RandomGrad([x], { magn: 1e-3, seed: 9, opt: new Adam([x], { lr: 0.05 }) });
  const a = QUADRATIC.init();
  run(a, make(a), 30);
  const b = QUADRATIC.init();
  const first = make(b);
  run(b, first, 15);
  const saved = await first.stateDict();
  const second = new RandomGrad([b], { seed: 123, opt: new Adam([b], { lr: 1 }) });
  second.loadStateDict(saved);
  run(b, second, 15);
  assert.deepEqual([...await b.read()], [...await a.read()]);
  a.flat!.dispose();
  b.flat!.dispose();
});

Deno.test("RandomGrad rejects bad options, closures and inner optimizers", () => {
  const x = new Parameter([1, 2]);
  assert.throws(
    () => new RandomGrad([x], { magn: -1 }),
    (e: Error) => e instanceof RangeError && /magn/.test(e.message),
  );
  assert.throws(
    () => new RandomGrad([x], { magn: 0 }),
    (e: Error) => e instanceof RangeError && /magn must be > 0, received 0/.test(e.message),
  );
  assert.throws(() => new RandomGrad([x], { sampler: "cauchy" as "normal" }), /sampler/);
  assert.throws(() => new RandomGrad([x], { seed: -1 }), /seed/);
  const opt = new RandomGrad([x]);
  assert.throws(() => opt.step(), TypeError);
  assert.throws(() => opt.step(() => tensor([1, 2, 3])), /must return 2 losses/);
  x.flat!.setRows(2);
  assert.throws(() => new RandomGrad([x], { opt: new SGD([x], { row: 1 }) }), /row 1/);
  x.flat!.dispose();
});
