// One table drives the generic tests of every inner optimizer: convergence, checkpoints,
// option validation, zero readbacks.

import { diffStats } from "../../../src/gpu/stats.ts";
import { FlatParameters, Parameter } from "../../../src/params/flat.ts";
import { Adam, AdamW } from "../../../src/optim/first_order/adam.ts";
import { Lion } from "../../../src/optim/first_order/lion.ts";
import type { Optimizer, OptimizerStateDict } from "../../../src/optim/optimizer.ts";
import { SGD } from "../../../src/optim/first_order/sgd.ts";
import { assert, gpu } from "../../_util.ts";
import { computeGrad, type Problem, QUADRATIC, ROSENBROCK, variables } from "../_problems.ts";

type Make = (params: Parameter[], options?: Record<string, unknown>) => Optimizer<object>;

interface Row {
  name: string;
  make: Make;
  /** Options per problem, steps, and the factor by which the loss must shrink. */
  runs: { problem: Problem; options: Record<string, unknown>; steps: number; factor: number }[];
  /** Invalid options and the option name the RangeError must mention. */
  invalid: [Record<string, unknown>, string][];
}

const TABLE: Row[] = [
  {
    name: "SGD",
    make: (p, o) => new SGD(p, o),
    runs: [
      { problem: QUADRATIC, options: { lr: 0.05, momentum: 0.9 }, steps: 500, factor: 1e-10 },
      {
        problem: QUADRATIC,
        options: { lr: 0.05, momentum: 0.9, nesterov: true },
        steps: 250,
        factor: 1e-10,
      },
      { problem: ROSENBROCK, options: { lr: 2e-4, momentum: 0.9 }, steps: 2000, factor: 1e-2 },
    ],
    invalid: [
      [{ lr: -1 }, "lr"],
      [{ momentum: -0.5 }, "momentum"],
      [{ nesterov: true }, "nesterov"],
      [{ nesterov: true, momentum: 0.9, dampening: 0.1 }, "nesterov"],
      [{ weightDecay: -1 }, "weightDecay"],
    ],
  },
  {
    name: "Adam",
    make: (p, o) => new Adam(p, o),
    runs: [
      { problem: QUADRATIC, options: { lr: 0.05 }, steps: 500, factor: 1e-10 },
      { problem: ROSENBROCK, options: { lr: 0.02 }, steps: 2000, factor: 1e-4 },
    ],
    invalid: [[{ lr: -1 }, "lr"], [{ betas: [1, 0.9] }, "betas[0]"], [
      { betas: [0.9, -0.1] },
      "betas[1]",
    ], [
      { eps: -1 },
      "eps",
    ]],
  },
  {
    name: "AdamW",
    make: (p, o) => new AdamW(p, o),
    runs: [
      { problem: QUADRATIC, options: { lr: 0.05, weightDecay: 0 }, steps: 500, factor: 1e-10 },
      { problem: ROSENBROCK, options: { lr: 0.02, weightDecay: 0 }, steps: 2000, factor: 1e-4 },
    ],
    invalid: [[{ lr: -1e-3 }, "lr"], [{ weightDecay: -1 }, "weightDecay"], [
      { betas: [0.9, 1] },
      "betas[1]",
    ]],
  },
  {
    name: "Lion",
    make: (p, o) => new Lion(p, o),
    runs: [
      { problem: QUADRATIC, options: { lr: 0.01 }, steps: 500, factor: 1e-3 },
      { problem: ROSENBROCK, options: { lr: 0.003 }, steps: 2000, factor: 1e-2 },
    ],
    invalid: [[{ lr: -1 }, "lr"], [{ betas: [1.5, 0.99] }, "betas[0]"]],
  },
];

/** Runs `steps` steps with GPU-computed gradients; no readback. */
function run(problem: Problem, x: Parameter, opt: Optimizer<object>, steps: number): void {
  for (let i = 0; i < steps; i++) {
    opt.zeroGrad();
    computeGrad(problem, x, opt.row);
    opt.step();
    if (i % 250 === 249) gpu.flush();
  }
}

for (const row of TABLE) {
  for (const { problem, options, steps, factor } of row.runs) {
    Deno.test(`${row.name} ${JSON.stringify(options)} shrinks the ${problem.name} loss ${factor}x in ${steps} steps`, async () => {
      const x = variables(problem);
      const opt = row.make([x], options);
      run(problem, x, opt, steps);
      const ratio = problem.loss(await x.read()) / problem.loss(problem.start);
      assert.ok(ratio <= factor, `loss ratio ${ratio} > ${factor}`);
      opt.dispose();
      x.flat!.dispose();
    });
  }

  Deno.test(`${row.name} stateDict round-trip continues the exact trajectory`, async () => {
    const { problem, options } = row.runs.at(-1)!;
    const straight = variables(problem);
    const a = row.make([straight], options);
    run(problem, straight, a, 20);
    const expected = await straight.read();

    const resumed = variables(problem);
    const b = row.make([resumed], options);
    run(problem, resumed, b, 10);
    const saved: OptimizerStateDict = await b.stateDict();
    b.dispose();
    const c = row.make([resumed], { lr: 123 }); // options come back from the checkpoint
    c.loadStateDict(saved);
    assert.equal(c.paramGroups[0].lr, options.lr);
    run(problem, resumed, c, 10);
    assert.deepEqual([...await resumed.read()], [...expected]);
    for (const o of [a, c]) o.dispose();
    straight.flat!.dispose();
    resumed.flat!.dispose();
  });

  Deno.test(`${row.name} rejects invalid options with a RangeError naming the option`, () => {
    const x = new Parameter([1, 2]);
    const spare = new Parameter([0]);
    const flat = new FlatParameters([x, spare]);
    for (const [bad, option] of row.invalid) {
      assert.throws(
        () => row.make([x], bad),
        (e: Error) =>
          e instanceof RangeError && e.message.includes(option) && e.message.startsWith(row.name),
        `${JSON.stringify(bad)} should name ${option}`,
      );
      const opt = row.make([x]);
      assert.throws(() => opt.addParamGroup({ params: [spare], ...bad }), RangeError);
    }
    flat.dispose();
  });

  Deno.test(`${row.name} step performs zero readbacks and zero submits`, () => {
    const x = variables(QUADRATIC);
    const opt = row.make([x], row.runs[0].options);
    run(QUADRATIC, x, opt, 2); // compile and allocate state first
    const before = gpu.stats.snapshot();
    run(QUADRATIC, x, opt, 5);
    const d = diffStats(before, gpu.stats.snapshot());
    assert.equal(d.readbacks, 0);
    assert.equal(d.submits, 0);
    assert.equal(d.bytesInUse, 0);
    assert.equal(d.dispatches, 10); // one gradient and one fused update per step
    opt.dispose();
    x.flat!.dispose();
  });
}

Deno.test("SGD reads group.lr at every step, so schedulers can change it", async () => {
  const x = new Parameter([1, 1]);
  const opt = new SGD([x], { lr: 0.1 });
  for (const lr of [0.1, 0.5, 0.25]) {
    opt.paramGroups[0].lr = lr;
    opt.zeroGrad();
    opt.flat.setGrad(x, [1, -2]);
    opt.step();
  }
  const v = await x.read();
  assert.ok(Math.abs(v[0] - (1 - 0.85)) < 1e-6 && Math.abs(v[1] - (1 + 1.7)) < 1e-6, `${v}`);
  opt.flat.dispose();
});

Deno.test("a parameter without a gradient is skipped, weight decay included", async () => {
  const x = new Parameter([2, 2]);
  const opt = new AdamW([x], { lr: 0.1, weightDecay: 0.5 });
  opt.zeroGrad();
  opt.step();
  assert.deepEqual([...await x.read()], [2, 2]);
  opt.flat.setGrad(x, [5, 5]);
  opt.zeroGrad({ setToNone: false }); // torch: existing gradients become zeros and stay present
  assert.deepEqual([...(await opt.flat.readGrad(x))!], [0, 0]);
  opt.step(); // g = 0: only the decoupled decay moves x
  assert.deepEqual([...await x.read()], [Math.fround(2 * 0.95), Math.fround(2 * 0.95)]);
  opt.flat.dispose();
});

Deno.test("two optimizers over the same parameters keep separate state", async () => {
  const x = new Parameter([0, 0, 0]);
  const a = new Adam([x], { lr: 0.1 });
  const b = new Adam([x], { lr: 0.1 });
  for (let i = 0; i < 3; i++) {
    a.zeroGrad();
    a.flat.setGrad(x, [1, 2, 3]);
    a.step();
  }
  b.flat.setGrad(x, [-1, -1, -1]);
  b.step();
  const [sa, sb] = [await a.stateDict(), await b.stateDict()];
  assert.equal(sa.state[0].step, 3);
  assert.equal(sb.state[0].step, 1);
  assert.notDeepEqual([...(sa.state[0].expAvg as Float32Array)], [
    ...(sb.state[0].expAvg as Float32Array),
  ]);
  a.dispose();
  b.dispose();
  x.flat!.dispose();
});

Deno.test("an optimizer bound to row 1 updates only that row, from that row's gradient", async () => {
  const x = new Parameter([1, 1]);
  const flat = new SGD([x]).flat;
  flat.setRows(2);
  const opt = new SGD([x], { lr: 0.5, row: 1 });
  flat.setGrad(x, [1, 1], 0); // row 0's gradient must not be used
  flat.setGrad(x, [2, -2], 1);
  opt.step();
  assert.deepEqual([...await x.read(0)], [1, 1]);
  assert.deepEqual([...await x.read(1)], [0, 2]);
  opt.zeroGrad();
  assert.ok(flat.hasGrad(x, 0) && !flat.hasGrad(x, 1));
  assert.throws(() => new SGD([x], { row: 2 }), RangeError);
  flat.dispose();
});

Deno.test("optimizers reject duplicate, empty and foreign parameter lists", () => {
  const x = new Parameter([1]);
  const y = new Parameter([1]);
  new SGD([x]);
  new SGD([y]);
  assert.throws(() => new SGD([]), TypeError);
  assert.throws(() => new SGD([{ params: [x] }, { params: [x] }]), /more than one param group/);
  assert.throws(() => new SGD([x, y]), /same model/);
  x.flat!.dispose();
  y.flat!.dispose();
});

Deno.test("loadStateDict into a mismatched model throws a clear TypeError", async () => {
  const x = new Parameter([1, 2, 3]);
  const opt = new Adam([x]);
  opt.flat.setGrad(x, [1, 1, 1]);
  opt.step();
  const saved = await opt.stateDict();
  const other = new Parameter([1, 2]);
  assert.throws(() => new Adam([other]).loadStateDict(saved), /expected 2/);
  const z = new Parameter([0]);
  new FlatParameters([z]);
  assert.throws(() => new Adam([{ params: [z] }, { params: [new Parameter([1])] }]), /same model/);
  x.flat!.dispose();
  other.flat!.dispose();
  z.flat!.dispose();
});

Deno.test("per-group options: two groups with different lr step independently", async () => {
  const a = new Parameter([1]);
  const b = new Parameter([1]);
  const flat = new SGD([a, b]).flat;
  const opt = new SGD([{ params: [a] }, { params: [b], lr: 0.5 }], { lr: 0.1 });
  flat.setGrad(a, [1]);
  flat.setGrad(b, [1]);
  opt.step();
  assert.ok(Math.abs((await a.read())[0] - 0.9) < 1e-7);
  assert.ok(Math.abs((await b.read())[0] - 0.5) < 1e-7);
  flat.dispose();
});
