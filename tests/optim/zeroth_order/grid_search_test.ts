import { diffStats } from "../../../src/gpu/stats.ts";
import { FlatParameters, Parameter } from "../../../src/params/flat.ts";
import { GridSearch } from "../../../src/optim/zeroth_order/grid_search.ts";
import { tensor } from "../../../src/tensor.ts";
import { assert, gpu } from "../../_util.ts";
import { counted, QUADRATIC, RESTORATION, ROSENBROCK, type ZoProblem } from "../_zo_problems.ts";

/** A closure returning scripted losses, one list per step (one loss per evaluated row). */
function scripted(flat: FlatParameters, steps: number[][]) {
  let i = 0;
  return () => {
    const losses = steps[i++];
    assert.equal(losses.length, flat.active.count, `step ${i - 1}: rows evaluated`);
    return tensor(losses, [flat.active.count]);
  };
}

/** A closure with a constant loss for every evaluated row. */
function constant(flat: FlatParameters, value = 1) {
  return () => tensor(new Array(flat.active.count).fill(value), [flat.active.count]);
}

const f32 = (values: number[]) => values.map(Math.fround);

Deno.test("GridSearch evaluates the candidates in one closure call with no readback", () => {
  const x = ROSENBROCK.init();
  const opt = new GridSearch([x], { domain: [-2, 2], step: 0.1, candidates: 2 });
  const { closure, calls } = counted(ROSENBROCK.closure(x));
  opt.step(closure).dispose();
  const before = gpu.stats.snapshot();
  for (let i = 0; i < 500; i++) {
    opt.step(closure).dispose();
    if (i % 100 === 99) gpu.flush();
  }
  const d = diffStats(before, gpu.stats.snapshot());
  assert.equal(calls(), 501);
  assert.equal(d.readbacks, 0);
  assert.equal(d.bytesInUse, 0);
  assert.equal(d.buffersCreated, 0);
  opt.dispose();
  x.flat!.dispose();
});

Deno.test("GridSearch enumerates the grid with the last element fastest, c = 0 at the lower bound", async () => {
  const x = new Parameter([5, 5]);
  const opt = new GridSearch([x], { domain: [-1, 1], step: 1 });
  const flat = x.flat!;
  const seen: number[][] = [];
  const closure = constant(flat);
  for (let i = 0; i < 9; i++) {
    opt.step(closure).dispose();
    seen.push([...await x.read(1)]);
  }
  assert.deepEqual(seen, [
    [-1, -1],
    [-1, 0],
    [-1, 1],
    [0, -1],
    [0, 0],
    [0, 1],
    [1, -1],
    [1, 0],
    [1, 1],
  ]);
  assert.deepEqual([...await x.read()], [5, 5]); // equal losses are rejected
  flat.dispose();
});

Deno.test("GridSearch computes the digits of powers of the base exactly", async () => {
  // The original took int(log(c) / log(B)) digits: 1000 in base 10 and 243 in base 3 lost
  // their leading digit and mapped to the wrong point.
  const x = new Parameter([0, 0, 0, 0]);
  const opt = new GridSearch([x], { domain: [0, 0.9], step: 0.1 });
  assert.equal(opt.combinations, 10000n);
  opt.combination = 1000n;
  opt.step(constant(x.flat!)).dispose();
  assert.deepEqual([...await x.read(1)], f32([0.1, 0, 0, 0]));
  assert.equal(opt.combination, 1001n);
  x.flat!.dispose();
  const y = new Parameter([0, 0, 0, 0, 0, 0]);
  const other = new GridSearch([y], { domain: [-1, 1], step: 1 });
  other.combination = 243n;
  other.step(constant(y.flat!)).dispose();
  assert.deepEqual([...await y.read(1)], [0, -1, -1, -1, -1, -1]);
  assert.throws(() => (other.combination = 729n), RangeError);
  y.flat!.dispose();
});

Deno.test("GridSearch treats a group's tensors as one vector and enumerates several groups", async () => {
  const a = new Parameter([9, 9]);
  const b = new Parameter([9]);
  const c = new Parameter([9]);
  const flat = new FlatParameters([a, b, c]);
  const opt = new GridSearch([
    { params: [a, b], domain: [0, 1], step: 1 }, // the original raised IndexError here
    { params: [c], domain: [-1, 1], step: 1 },
  ]);
  assert.equal(opt.combinations, 2n ** 3n * 3n);
  opt.combination = 5n * 3n + 2n; // digits (1, 0, 1 | 2)
  opt.step(constant(flat)).dispose();
  assert.deepEqual([...await a.read(1)], [1, 0]);
  assert.deepEqual([...await b.read(1)], [1]);
  assert.deepEqual([...await c.read(1)], [1]);
  opt.step(constant(flat)).dispose(); // 18: (1, 1, 0 | 0)
  assert.deepEqual([...await a.read(1)], [1, 1]);
  assert.deepEqual([...await b.read(1)], [0]);
  assert.deepEqual([...await c.read(1)], [-1]);
  flat.dispose();
});

Deno.test("GridSearch evaluates the parameters once and refines without a wasted step", async () => {
  const x = new Parameter([0.25]);
  const opt = new GridSearch([x], { domain: [-1, 1], step: 1 });
  const flat = x.flat!;
  const rows: number[] = [];
  const values: number[] = [];
  const { closure, calls } = counted(() => {
    rows.push(flat.active.count);
    return tensor(new Array(flat.active.count).fill(1), [flat.active.count]);
  });
  for (let i = 0; i < 6; i++) {
    opt.step(closure).dispose();
    values.push((await x.read(1))[0]);
  }
  assert.equal(calls(), 6);
  assert.deepEqual(rows, [2, 1, 1, 1, 1, 1]);
  assert.deepEqual(values, [-1, 0, 1, -1, -0.5, 0]); // the step halved after the third point
  assert.equal(opt.paramGroups[0].step, 0.5);
  assert.equal(opt.combinations, 5n);
  flat.dispose();
});

Deno.test("GridSearch accepts only strictly lower losses and returns the candidate's loss", async () => {
  const x = new Parameter([0.25]);
  const opt = new GridSearch([x], { domain: [0, 3], step: 1 });
  const closure = scripted(x.flat!, [[2, 2], [1], [NaN], [Infinity], [1.5]]);
  const expected: [number, number][] = [[2, 0.25], [1, 1], [NaN, 1], [Infinity, 1], [1.5, 1]];
  for (const [step, [loss, home]] of expected.entries()) {
    const reported = await opt.step(closure).item();
    // zo_decide's compensated mean turns an infinite loss into NaN: only "not finite" is kept.
    const same = Number.isFinite(loss) ? reported === loss : !Number.isFinite(reported);
    assert.ok(same, `step ${step}: returned ${reported}`);
    assert.deepEqual([...await x.read()], [home], `step ${step}`);
  }
  x.flat!.dispose();
});

Deno.test("GridSearch with several candidates tries consecutive points in one call", async () => {
  const x = new Parameter([0.25]);
  const opt = new GridSearch([x], { domain: [0, 4], step: 1, candidates: 3 });
  const closure = scripted(x.flat!, [[5, 4, 3, 4], [2, 6, 2], [9, 1, 0]]);
  assert.equal(await opt.step(closure).item(), 3);
  assert.deepEqual([...await x.read()], [1]);
  assert.equal(await opt.step(closure).item(), 2); // points 3, 4, then 0 (step halved)
  assert.deepEqual([...await x.read()], [3]);
  assert.equal(opt.paramGroups[0].step, 0.5);
  assert.equal(await opt.step(closure).item(), 0);
  assert.deepEqual([...await x.read()], [1.5]); // points 0.5, 1, 1.5 of the finer grid
  x.flat!.dispose();
});

Deno.test("GridSearch leaves untrained parameters at the model's values", async () => {
  const a = new Parameter([1, 2]);
  const b = new Parameter([7], [1], false);
  const flat = new FlatParameters([a, b]);
  const opt = new GridSearch([a, b], { domain: [0, 1], step: 1 });
  b.load([3]);
  opt.step(scripted(flat, [[1, 0]])).dispose();
  assert.deepEqual([...await a.read()], [0, 0]);
  assert.deepEqual([...await b.read(1)], [3]);
  assert.deepEqual([...await b.read()], [3]);
  flat.dispose();
});

const BUDGETS: [ZoProblem, [number, number], number, number, number][] = [
  [QUADRATIC, [0, 1], 1, 1025, 0.4], // the whole grid {0, 1}^10
  [ROSENBROCK, [-2, 2], 0.5, 82, 1e-6], // 9 x 9 points, (1, 1) among them
  [RESTORATION, [0, 1], 1, 1025, 0.05],
];

for (const [problem, domain, step, evals, factor] of BUDGETS) {
  Deno.test(`GridSearch shrinks the ${problem.name} loss ${factor}x in ${evals} evaluations`, async () => {
    const x = problem.init();
    const opt = new GridSearch([x], { domain, step, candidates: 16 });
    const closure = problem.closure(x);
    for (let used = 17; used <= evals; used += 16) opt.step(closure).dispose();
    const ratio = problem.loss(await x.read()) / problem.loss(problem.init().initialValues!);
    assert.ok(ratio <= factor, `loss ratio ${ratio} > ${factor}`);
    opt.dispose();
    x.flat!.dispose();
    problem.dispose();
  });
}

Deno.test("GridSearch stateDict round-trip continues the exact trajectory", async () => {
  const run = (x: Parameter, opt: GridSearch, steps: number) => {
    const closure = ROSENBROCK.closure(x);
    for (let i = 0; i < steps; i++) opt.step(closure).dispose();
  };
  const make = (x: Parameter) => new GridSearch([x], { domain: [-2, 2], step: 0.7 });
  const a = ROSENBROCK.init();
  const reference = make(a);
  run(a, reference, 40);
  const b = ROSENBROCK.init();
  const first = make(b);
  run(b, first, 30); // past the first refinement (25 points)
  const saved = await first.stateDict();
  assert.equal(saved.extra!.combination, "5");
  const second = new GridSearch([b], { domain: [-1, 1], step: 1 });
  second.loadStateDict(saved);
  assert.equal(second.paramGroups[0].step, 0.35);
  run(b, second, 10);
  assert.deepEqual([...await b.read()], [...await a.read()]);
  assert.equal(second.combination, reference.combination);
  a.flat!.dispose();
  b.flat!.dispose();
});

Deno.test("GridSearch rejects bad options", () => {
  const x = new Parameter([1, 2]);
  assert.throws(
    () => new GridSearch([x], { step: 0.1 }),
    (e: Error) =>
      e instanceof RangeError &&
      e.message === "GridSearch: domain must be [lo, hi] with finite lo <= hi, received undefined",
  );
  assert.throws(() => new GridSearch([x], { domain: [1, -1], step: 0.1 }), /received \[1, -1\]/);
  assert.throws(
    () => new GridSearch([x], { domain: [-1, 1], step: 0 }),
    (e: Error) =>
      e instanceof RangeError && e.message === "GridSearch: step must be > 0, received 0",
  );
  assert.throws(() => new GridSearch([x], { domain: [-1, 1] }), /step must be > 0/);
  assert.throws(
    () => new GridSearch([x], { domain: [-1, 1], step: 1, candidates: 1.5 }),
    /candidates/,
  );
  x.flat!.dispose();
});
