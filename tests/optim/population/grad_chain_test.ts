import { diffStats } from "../../../src/gpu/stats.ts";
import { Parameter } from "../../../src/params/flat.ts";
import { Adam } from "../../../src/optim/first_order/adam.ts";
import { GradChain } from "../../../src/optim/population/grad_chain.ts";
import { UpdateToGrad } from "../../../src/optim/population/update_to_grad.ts";
import { Lion } from "../../../src/optim/first_order/lion.ts";
import type { Optimizer } from "../../../src/optim/optimizer.ts";
import { RandomGrad } from "../../../src/optim/zeroth_order/random_grad.ts";
import { SGD } from "../../../src/optim/first_order/sgd.ts";
import { Generator } from "../../../src/rng.ts";
import { assert, assertClose, gpu } from "../../_util.ts";
import { RandomWalk } from "../../../src/optim/zeroth_order/random_walk.ts";
import { counted, QUADRATIC, RESTORATION, ROSENBROCK, type ZoProblem } from "../_zo_problems.ts";

const f = Math.fround;
const N = 6;

/** Integer gradients, so SGD(lr 1)'s identity link is exact in float32. */
function integerGrads(steps: number): number[][] {
  const g = new Generator(21);
  return Array.from({ length: steps }, () => Array.from({ length: N }, () => g.int(9) - 4));
}

async function trajectory(make: (x: Parameter) => Optimizer<object>, grads: number[][]) {
  const x = new Parameter([3, -2, 1, 0, 5, -7]);
  const opt = make(x);
  const out: number[][] = [];
  for (const g of grads) {
    opt.zeroGrad();
    opt.flat.setGrad(x, g);
    opt.step();
    out.push([...await x.read()]);
  }
  x.flat!.dispose();
  return out;
}

for (
  const [name, make] of [
    ["Lion(lr 1)", (x: Parameter) => new Lion([x], { lr: 1 })],
    ["SGD(lr 0.5, momentum 0.5)", (x: Parameter) => new SGD([x], { lr: 0.5, momentum: 0.5 })],
  ] as const
) {
  Deno.test(`GradChain([SGD(lr 1), ${name}]) follows ${name}'s trajectory exactly`, async () => {
    const grads = integerGrads(12);
    const alone = await trajectory(make, grads);
    const chained = await trajectory(
      (x) => new GradChain([x], [new SGD([x], { lr: 1 }), make(x)]),
      grads,
    );
    assert.deepEqual(chained, alone);
  });
}

Deno.test("GradChain([SGD(lr 1), Adam]) follows Adam's trajectory to float rounding", async () => {
  const g = new Generator(5);
  const grads = Array.from({ length: 12 }, () => Array.from({ length: N }, () => g.normal()));
  const alone = await trajectory((x) => new Adam([x], { lr: 0.1 }), grads);
  const chained = await trajectory(
    (x) => new GradChain([x], [new SGD([x], { lr: 1 }), new Adam([x], { lr: 0.1 })]),
    grads,
  );
  chained.forEach((row, i) => assertClose(row, alone[i], { rtol: 1e-5, atol: 1e-5 }, `step ${i}`));
});

/** CPU reference of the two chains, in float32 arithmetic. */
function cpuChain(order: "sgd-lion" | "lion-sgd", grads: number[][]): number[][] {
  const x = [3, -2, 1, 0, 5, -7].map(f);
  const buf = new Array(N).fill(0);
  const m = new Array(N).fill(0);
  const sgdUpdate = (g: number, i: number, first: boolean, lr: number) => {
    buf[i] = first ? g : f(f(buf[i] * 0.9) + g);
    return f(lr * f(g + f(0.9 * buf[i])));
  };
  const lionUpdate = (g: number, i: number, lr: number) => {
    const c = f(f(m[i] * 0.9) + f(0.1 * g));
    m[i] = f(f(m[i] * 0.99) + f(0.01 * g));
    return f(lr * Math.sign(c));
  };
  return grads.map((gs, t) => {
    for (let i = 0; i < N; i++) {
      if (order === "sgd-lion") {
        const g1 = f(x[i] - f(x[i] - sgdUpdate(gs[i], i, t === 0, 1)));
        x[i] = f(x[i] - lionUpdate(g1, i, 0.01));
      } else {
        const g1 = f(x[i] - f(x[i] - lionUpdate(gs[i], i, 0.01)));
        x[i] = f(x[i] - sgdUpdate(g1, i, t === 0, 0.1));
      }
    }
    return [...x];
  });
}

for (const order of ["sgd-lion", "lion-sgd"] as const) {
  Deno.test(`GradChain of Nesterov SGD and Lion (${order}) matches a CPU reference`, async () => {
    const g = new Generator(8);
    const grads = Array.from({ length: 15 }, () => Array.from({ length: N }, () => g.normal()));
    const sgd = (x: Parameter, lr: number) => new SGD([x], { lr, momentum: 0.9, nesterov: true });
    const lion = (x: Parameter) => new Lion([x], { lr: 0.01 });
    const got = await trajectory(
      (x) =>
        new GradChain([x], order === "sgd-lion" ? [sgd(x, 1), lion(x)] : [lion(x), sgd(x, 0.1)]),
      grads,
    );
    const expected = cpuChain(order, grads);
    got.forEach((row, i) => assertClose(row, expected[i], { rtol: 1e-5, atol: 1e-6 }, `step ${i}`));
  });
}

Deno.test("GradChain evaluates every derivative-free link in one closure call", () => {
  const x = QUADRATIC.init();
  const chain = new GradChain([x], [
    new RandomGrad([x], { magn: 1e-3, opt: new SGD([x], { lr: 1 }), seed: 1 }),
    new RandomGrad([x], { magn: 1e-3, opt: new SGD([x], { lr: 1 }), seed: 2 }),
    new Adam([x], { lr: 0.05 }),
  ]);
  assert.ok(chain.merged);
  assert.equal(chain.scratchRows(), 2);
  const { closure, calls } = counted(QUADRATIC.closure(x));
  chain.step(closure).dispose();
  const before = gpu.stats.snapshot();
  for (let i = 0; i < 20; i++) chain.step(closure).dispose();
  const d = diffStats(before, gpu.stats.snapshot());
  assert.equal(calls(), 21);
  assert.equal(d.readbacks, 0);
  assert.equal(x.flat!.rows, 3);
  chain.dispose();
  x.flat!.dispose();
});

Deno.test("[RandomGrad + SGD(lr 1), Adam] is RandomGrad + Adam up to rounding", async () => {
  const a = RESTORATION.init(3);
  const b = RESTORATION.init(3);
  const direct = new RandomGrad([a], { magn: 1e-2, opt: new Adam([a], { lr: 0.05 }), seed: 4 });
  const chain = new GradChain([b], [
    new RandomGrad([b], { magn: 1e-2, opt: new SGD([b], { lr: 1 }), seed: 4 }),
    new Adam([b], { lr: 0.05 }),
  ]);
  const [ca, cb] = [RESTORATION.closure(a), RESTORATION.closure(b)];
  for (let i = 0; i < 30; i++) {
    direct.zeroGrad();
    direct.step(ca).dispose();
    chain.zeroGrad();
    chain.step(cb).dispose();
  }
  assertClose(await b.read(), await a.read(), { rtol: 1e-4, atol: 1e-5 });
  a.flat!.dispose();
  b.flat!.dispose();
});

Deno.test("UpdateToGrad sets or adds the update as a gradient and resets the parameters", async () => {
  const x = new Parameter([1, 2, 3, 4]);
  const sgd = new SGD([x], { lr: 0.5 });
  const wrapper = new UpdateToGrad([x], sgd, { lr: 2 });
  x.flat!.setGrad(x, [1, 1, 1, 1]);
  wrapper.step();
  assert.deepEqual([...await x.read()], [1, 2, 3, 4]);
  assert.deepEqual([...(await x.flat!.readGrad(x))!], [1, 1, 1, 1]); // (x − (x − 0.5·1))·2
  const adder = new UpdateToGrad([x], sgd, { gradMode: "add", reset: false });
  adder.step(); // update 0.5 · 1 → grad 1 + 0.5; the move is kept
  assert.deepEqual([...(await x.flat!.readGrad(x))!], [1.5, 1.5, 1.5, 1.5]);
  assert.deepEqual([...await x.read()], [0.5, 1.5, 2.5, 3.5]);
  x.flat!.dispose();
});

Deno.test("a chain whose first link keeps its move evaluates link by link", () => {
  const x = QUADRATIC.init();
  const chain = new GradChain([x], [
    new RandomGrad([x], { magn: 1e-3, opt: new SGD([x], { lr: 1 }) }),
    new RandomGrad([x], { magn: 1e-3, opt: new SGD([x], { lr: 1 }), seed: 3 }),
    new SGD([x], { lr: 0.01 }),
  ], { reset: [false, true] });
  assert.equal(chain.merged, false);
  const { closure, calls } = counted(QUADRATIC.closure(x));
  chain.step(closure).dispose();
  assert.equal(calls(), 2);
  x.flat!.dispose();
});

Deno.test("GradChain stateDict round-trip continues the exact trajectory", async () => {
  const make = (x: Parameter) =>
    new GradChain([x], [
      new RandomGrad([x], { magn: 1e-3, opt: new SGD([x], { lr: 1, momentum: 0.5 }), seed: 6 }),
      new Adam([x], { lr: 0.05 }),
    ]);
  const run = (x: Parameter, chain: GradChain, n: number) => {
    const closure = QUADRATIC.closure(x);
    for (let i = 0; i < n; i++) chain.step(closure).dispose();
  };
  const a = QUADRATIC.init();
  run(a, make(a), 20);
  const b = QUADRATIC.init();
  const first = make(b);
  run(b, first, 10);
  const saved = await first.stateDict();
  const second = make(b);
  second.loadStateDict(saved);
  run(b, second, 10);
  assert.deepEqual([...await b.read()], [...await a.read()]);
  a.flat!.dispose();
  b.flat!.dispose();
});

Deno.test("GradChain and UpdateToGrad reject bad options", () => {
  const x = new Parameter([1]);
  const sgd = new SGD([x]);
  assert.throws(() => new GradChain([x], [sgd]), RangeError);
  assert.throws(() => new GradChain([x], [sgd, sgd], { lrs: [1, 2] }), /lrs must have 1 entries/);
  assert.throws(() => new UpdateToGrad([x], sgd, { gradMode: "mul" as "set" }), /gradMode/);
  assert.throws(() => new UpdateToGrad([x], new RandomGrad([x]), { mode: "step" }), /first-order/);
  x.flat!.dispose();
});

Deno.test("a first-order link in closure mode reports its row's loss from a merged evaluation", async () => {
  const x = RESTORATION.init(2); // mseLoss: one loss per row, a population tensor
  const before = RESTORATION.loss(x.initialValues!); // torch's step(closure) reports the loss before the update
  const chain = new GradChain([x], [
    new RandomWalk([x], { lr: 1e-2, seed: 2 }),
    new SGD([x], { lr: 0.1 }),
  ], { modes: ["auto", "closure"] });
  const loss = chain.step(RESTORATION.closure(x));
  const expected = before;
  assert.ok(Math.abs((await loss.item()) - expected) < 1e-5, `${await loss.item()} vs ${expected}`);
  x.flat!.dispose();
});

const BUDGETS: [ZoProblem, number, number][] = [
  [QUADRATIC, 1000, 0.05],
  [ROSENBROCK, 1500, 0.5],
  [RESTORATION, 1000, 0.05],
];

for (const [problem, evals, factor] of BUDGETS) {
  Deno.test(`GradChain [RandomWalk, momentum SGD(lr 1), Adam] shrinks the ${problem.name} loss ${factor}x in ${evals} evaluations`, async () => {
    const x = problem.init(1);
    const chain = new GradChain([x], [
      new RandomWalk([x], { lr: 1e-2, seed: 1 }),
      new SGD([x], { lr: 1, momentum: 0.5 }),
      new Adam([x], { lr: problem === ROSENBROCK ? 0.01 : 0.02 }),
    ]);
    const closure = problem.closure(x);
    for (let i = 0; i < evals / 2; i++) {
      chain.zeroGrad();
      chain.step(closure).dispose();
    }
    const ratio = problem.loss(await x.read()) / problem.loss(problem.init(1).initialValues!);
    assert.ok(ratio <= factor, `loss ratio ${ratio} > ${factor}`);
    chain.dispose();
    x.flat!.dispose();
  });
}
