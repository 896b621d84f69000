import { diffStats } from "../../../src/gpu/stats.ts";
import { FlatParameters, Parameter } from "../../../src/params/flat.ts";
import { SequentialSearch } from "../../../src/optim/zeroth_order/sequential_search.ts";
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

Deno.test("SequentialSearch evaluates the candidates in one closure call with no readback", () => {
  const x = QUADRATIC.init();
  const opt = new SequentialSearch([x], { lr: 0.1, domain: [-1, 1], candidates: 3 });
  const { closure, calls } = counted(QUADRATIC.closure(x));
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

Deno.test("SequentialSearch scans one coordinate at a time with a candidate every step", async () => {
  const x = new Parameter([5, 6]);
  const opt = new SequentialSearch([x], { lr: 0.1, domain: [0, 0.3] });
  const flat = x.flat!;
  const rows: number[] = [];
  const seen: number[][] = [];
  const { closure, calls } = counted(() => {
    rows.push(flat.active.count);
    return constant(flat)();
  });
  for (let i = 0; i < 9; i++) {
    opt.step(closure).dispose();
    seen.push([...await x.read(1)]);
  }
  // 0.3 is included (the original's 0.1 + 0.1 + 0.1 > 0.3 dropped it); no step only moves
  // the cursor.
  const v = [0, 0.1, 0.2, 0.3].map(Math.fround);
  assert.deepEqual(seen, [
    [v[0], 6],
    [v[1], 6],
    [v[2], 6],
    [v[3], 6],
    [5, v[0]],
    [5, v[1]],
    [5, v[2]],
    [5, v[3]],
    [v[0], 6], // a new sweep
  ]);
  assert.equal(calls(), 9);
  assert.deepEqual(rows, [2, 1, 1, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(opt.cursor, [0, 1]);
  flat.dispose();
});

Deno.test("SequentialSearch takes domain values as lo + i·lr", async () => {
  const x = new Parameter([0]);
  const opt = new SequentialSearch([x], { lr: 0.1, domain: [-1, 1] });
  const values: number[] = [];
  for (let i = 0; i < 22; i++) {
    opt.step(constant(x.flat!)).dispose();
    values.push((await x.read(1))[0]);
  }
  const expected = Array.from({ length: 21 }, (_, i) => Math.fround(-1 + i * 0.1));
  assert.deepEqual(values, [...expected, Math.fround(-1)]);
  assert.equal(values[20], 1);
  x.flat!.dispose();
});

Deno.test("SequentialSearch keeps strictly lower points and scans from the best one", async () => {
  const x = new Parameter([5, 6]);
  const opt = new SequentialSearch([x], { lr: 1, domain: [0, 1] });
  const flat = x.flat!;
  const closure = scripted(flat, [[3, 2], [2], [NaN], [1]]);
  const expected: [number, number[], number[]][] = [
    [2, [0, 6], [0, 6]], // x0 = 0 accepted
    [2, [1, 6], [0, 6]], // tie rejected
    [NaN, [0, 0], [0, 6]], // NaN rejected; the candidate starts from the best point
    [1, [0, 1], [0, 1]],
  ];
  for (const [step, [loss, candidate, home]] of expected.entries()) {
    const reported = await opt.step(closure).item();
    assert.ok(Object.is(reported, loss), `step ${step}: returned ${reported}`);
    assert.deepEqual([...await x.read(1)], candidate, `candidate at step ${step}`);
    assert.deepEqual([...await x.read()], home, `home at step ${step}`);
  }
  flat.dispose();
});

Deno.test("SequentialSearch walks groups in order with their own lr and domain", async () => {
  const a = new Parameter([9]);
  const frozen = new Parameter([7], [1], false);
  const b = new Parameter([8]);
  const flat = new FlatParameters([a, frozen, b]);
  const opt = new SequentialSearch([
    { params: [b], lr: 0.5, domain: [1, 2] },
    { params: [a, frozen], lr: 1, domain: [-1, 0] },
  ], { candidates: 5 });
  frozen.load([3]);
  opt.step(constant(flat)).dispose();
  const rows = await Promise.all([1, 2, 3, 4, 5].map((r) => flat.readRow(r)));
  assert.deepEqual(rows.map((r) => [...r]), [
    [9, 3, 1],
    [9, 3, 1.5],
    [9, 3, 2],
    [-1, 3, 8],
    [0, 3, 8],
  ]);
  opt.paramGroups[0].lr = 0.25; // read every step (schedulers)
  opt.step(constant(flat)).dispose();
  const next = await Promise.all([1, 2, 3].map((r) => flat.readRow(r)));
  assert.deepEqual(next.map((r) => [...r]), [[9, 3, 1], [9, 3, 1.25], [9, 3, 1.5]]);
  flat.dispose();
});

const BUDGETS: [ZoProblem, number, [number, number], number, number][] = [
  [QUADRATIC, 0.1, [-1, 1], 211, 0.01], // one sweep
  [ROSENBROCK, 0.05, [-2, 2], 1000, 0.03],
  [RESTORATION, 0.1, [-1, 1], 211, 1e-6], // the targets are on the grid
];

for (const [problem, lr, domain, evals, factor] of BUDGETS) {
  Deno.test(`SequentialSearch shrinks the ${problem.name} loss ${factor}x in ${evals} evaluations`, async () => {
    const x = problem.init();
    const opt = new SequentialSearch([x], { lr, domain });
    const closure = problem.closure(x);
    for (let used = 2; used <= evals; used++) opt.step(closure).dispose();
    const ratio = problem.loss(await x.read()) / problem.loss(problem.init().initialValues!);
    assert.ok(ratio <= factor, `loss ratio ${ratio} > ${factor}`);
    opt.dispose();
    x.flat!.dispose();
    problem.dispose();
  });
}

Deno.test("SequentialSearch stateDict round-trip continues the exact trajectory", async () => {
  const run = (x: Parameter, opt: SequentialSearch, steps: number) => {
    const closure = QUADRATIC.closure(x);
    for (let i = 0; i < steps; i++) opt.step(closure).dispose();
  };
  const make = (x: Parameter) => new SequentialSearch([x], { lr: 0.1, domain: [-1, 1] });
  const a = QUADRATIC.init();
  run(a, make(a), 60);
  const b = QUADRATIC.init();
  const first = make(b);
  run(b, first, 30);
  const saved = await first.stateDict();
  const second = new SequentialSearch([b], { lr: 1, domain: [0, 1] });
  second.loadStateDict(saved);
  assert.deepEqual(second.cursor, first.cursor);
  run(b, second, 30);
  assert.deepEqual([...await b.read()], [...await a.read()]);
  a.flat!.dispose();
  b.flat!.dispose();
});

Deno.test("SequentialSearch rejects bad options", () => {
  const x = new Parameter([1, 2]);
  assert.throws(
    () => new SequentialSearch([x], { domain: [-1, 1] }),
    (e: Error) =>
      e instanceof RangeError &&
      e.message === "SequentialSearch: lr must be > 0, received undefined",
  );
  assert.throws(() => new SequentialSearch([x], { lr: 0, domain: [-1, 1] }), /lr must be > 0/);
  assert.throws(() => new SequentialSearch([x], { lr: 0.1 }), /domain must be/);
  assert.throws(() => new SequentialSearch([x], { lr: 0.1, domain: [2, 1] }), /\[2, 1\]/);
  assert.throws(
    () => new SequentialSearch([x], { lr: 0.1, domain: [0, 1], candidates: 0 }),
    /candidates/,
  );
  x.flat!.dispose();
});
