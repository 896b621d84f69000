// Learning-rate schedulers against golden sequences of torch 1.13 (tests/golden/generate.py), plus
// state-dict round trips, multiple groups, validation and OneCycleLR's limits. Pure TypeScript:
// no GPU (tests/_util.ts would open the device, so the closeness check lives here).

import assert from "node:assert/strict";
import golden from "../../golden/schedulers.json" with { type: "json" };
import {
  CosineAnnealingLR,
  ExponentialLR,
  LambdaLR,
  LinearLR,
  type LRScheduler,
  type LRSchedulerState,
  OneCycleLR,
  type Schedulable,
  StepLR,
} from "../../../src/optim/first_order/lr_scheduler.ts";

const RTOL = 1e-6;
const ATOL = 1e-15;

type Group = { lr: number; momentum?: number; betas?: readonly [number, number] };
type Fake = { paramGroups: Group[] };

function sgd(lr = 0.1, momentum = 0.9): Fake {
  return { paramGroups: [{ lr, momentum }] };
}

function adam(lr = 0.1): Fake {
  return { paramGroups: [{ lr, betas: [0.9, 0.999] }] };
}

/** Cycled momentum of group `i`: `betas[0]` when the group has betas, else `momentum`. */
function momentumOf(opt: Fake, i = 0): number {
  const g = opt.paramGroups[i];
  return g.betas ? g.betas[0] : g.momentum!;
}

function assertCloseSeq(actual: number[], expected: number[], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  actual.forEach((a, i) => {
    const e = expected[i];
    assert.ok(
      Math.abs(a - e) <= ATOL + RTOL * Math.abs(e),
      `${label}: step ${i} got ${a}, expected ${e} (rtol ${RTOL})`,
    );
  });
}

/** The same lambda as generate.py: 0.95^epoch / (1 + epoch // 4). */
const goldenLambda = (epoch: number) => 0.95 ** epoch / (1 + Math.floor(epoch / 4));

/** torch keyword arguments (snake_case, `T_max`) to our camelCase options. */
function camelOptions(kwargs: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(kwargs).map((
      [k, v],
    ) => [k.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), v]),
  );
}

type Case = (typeof golden.cases)[number];

function makeGolden(c: Case, opt: Fake): LRScheduler {
  const options = camelOptions(c.kwargs as Record<string, unknown>);
  switch (c.scheduler) {
    case "StepLR":
      return new StepLR(opt, options as { stepSize: number });
    case "ExponentialLR":
      return new ExponentialLR(opt, options as { gamma: number });
    case "CosineAnnealingLR":
      return new CosineAnnealingLR(opt, options as { tMax: number });
    case "LambdaLR":
      return new LambdaLR(opt, { lrLambda: goldenLambda });
    case "LinearLR":
      return new LinearLR(opt, options);
    case "OneCycleLR":
      return new OneCycleLR(opt, options as { maxLr: number });
  }
  throw new Error(`no scheduler for golden case ${c.scheduler}`);
}

Deno.test("the golden fixtures cover every scheduler", () => {
  const names = new Set(golden.cases.map((c) => c.scheduler));
  for (
    const s of [
      "StepLR",
      "ExponentialLR",
      "CosineAnnealingLR",
      "LambdaLR",
      "LinearLR",
      "OneCycleLR",
    ]
  ) assert.ok(names.has(s), s);
  assert.equal(golden.cases.length, 10);
});

for (const c of golden.cases) {
  Deno.test(`${c.scheduler} matches torch ${golden.meta.torch} on "${c.name}"`, () => {
    const opt = c.optimizer === "Adam" ? adam(c.lr) : sgd(c.lr, c.momentum);
    const sched = makeGolden(c, opt);
    const lrs = [opt.paramGroups[0].lr];
    const momenta = [momentumOf(opt)];
    assert.deepEqual(sched.getLastLr(), [opt.paramGroups[0].lr]);
    for (let i = 1; i < c.lrs.length; i++) {
      sched.step();
      lrs.push(opt.paramGroups[0].lr);
      momenta.push(momentumOf(opt));
      assert.deepEqual(sched.getLastLr(), [opt.paramGroups[0].lr]);
    }
    assertCloseSeq(lrs, c.lrs, `${c.name} lr`);
    assertCloseSeq(momenta, c.momenta, `${c.name} momentum`);
    assert.equal(sched.lastEpoch, c.lrs.length - 1);
    if (c.optimizer === "Adam") assert.equal(opt.paramGroups[0].betas![1], 0.999);
  });
}

/** One factory per scheduler type (and OneCycleLR on both kinds of momentum). */
const FACTORIES: [string, () => Fake, (opt: Fake) => LRScheduler][] = [
  ["StepLR", sgd, (o) => new StepLR(o, { stepSize: 3, gamma: 0.5 })],
  ["ExponentialLR", sgd, (o) => new ExponentialLR(o, { gamma: 0.9 })],
  ["CosineAnnealingLR", sgd, (o) => new CosineAnnealingLR(o, { tMax: 4, etaMin: 0.01 })],
  ["LambdaLR", sgd, (o) => new LambdaLR(o, { lrLambda: goldenLambda })],
  ["LinearLR", sgd, (o) => new LinearLR(o, { startFactor: 0.25, totalIters: 8 })],
  ["OneCycleLR", sgd, (o) => new OneCycleLR(o, { maxLr: 1, totalSteps: 25 })],
  ["OneCycleLR (betas)", adam, (o) =>
    new OneCycleLR(o, {
      maxLr: 0.5,
      epochs: 5,
      stepsPerEpoch: 5,
      threePhase: true,
      annealStrategy: "linear",
    })],
];

for (const [name, makeOpt, make] of FACTORIES) {
  Deno.test(`${name} stateDict/loadStateDict continues the sequence in a fresh optimizer`, () => {
    const optA = makeOpt();
    const a = make(optA);
    for (let i = 0; i < 9; i++) a.step();
    const state: LRSchedulerState = JSON.parse(JSON.stringify(a.stateDict()));
    assert.equal(state.lastEpoch, 9);
    assert.equal(typeof state.scheduler, "string");

    const optB = makeOpt();
    const b = make(optB);
    b.loadStateDict(state);
    assert.equal(b.lastEpoch, a.lastEpoch);
    assert.deepEqual(b.getLastLr(), a.getLastLr());
    assert.deepEqual(optB.paramGroups, optA.paramGroups);
    for (let i = 0; i < 14; i++) {
      a.step();
      b.step();
      assert.equal(optB.paramGroups[0].lr, optA.paramGroups[0].lr, `step ${i}`);
      assert.equal(momentumOf(optB), momentumOf(optA), `momentum at step ${i}`);
    }
    assert.deepEqual(b.stateDict(), a.stateDict());
  });
}

Deno.test("StepLR loadStateDict restores the saved hyperparameters over the constructor's", () => {
  const optA = sgd();
  const a = new StepLR(optA, { stepSize: 2, gamma: 0.5 });
  a.step();
  const optB = sgd(0.7);
  const b = new StepLR(optB, { stepSize: 5, gamma: 0.9 });
  b.loadStateDict(a.stateDict());
  assert.equal(b.stepSize, 2);
  assert.equal(b.gamma, 0.5);
  for (let i = 0; i < 6; i++) {
    a.step();
    b.step();
    assert.equal(optB.paramGroups[0].lr, optA.paramGroups[0].lr);
  }
});

Deno.test("loadStateDict rejects another scheduler's state and mismatched group counts", () => {
  const step = new StepLR(sgd(), { stepSize: 2 });
  const exp = new ExponentialLR(sgd(), { gamma: 0.5 });
  assert.throws(() => exp.loadStateDict(step.stateDict()), {
    name: "TypeError",
    message: /ExponentialLR: cannot load a state dict saved by StepLR/,
  });
  const two = { paramGroups: [{ lr: 0.1 }, { lr: 0.2 }] };
  assert.throws(() => new StepLR(two, { stepSize: 2 }).loadStateDict(step.stateDict()), {
    name: "TypeError",
    message: /baseLrs must hold 2 numbers/,
  });
  const bad = { ...step.stateDict(), stepSize: 0 };
  const fresh = new StepLR(sgd(), { stepSize: 3 });
  assert.throws(() => fresh.loadStateDict(bad), { name: "RangeError", message: /stepSize/ });
  assert.equal(fresh.stepSize, 3);
});

Deno.test("LambdaLR stateDict holds no functions and keeps the constructor's lambdas", () => {
  const a = new LambdaLR(sgd(), { lrLambda: (e) => 1 / (e + 1) });
  a.step();
  const state = a.stateDict();
  assert.ok(!Object.values(state).some((v) => typeof v === "function"));
  assert.deepEqual(JSON.parse(JSON.stringify(state)), state);
});

Deno.test("StepLR schedules two param groups with different lrs independently", () => {
  const opt = { paramGroups: [{ lr: 0.1, momentum: 0.9 }, { lr: 0.01, momentum: 0.5 }] };
  const sched = new StepLR(opt, { stepSize: 2, gamma: 0.5 });
  assert.deepEqual(sched.baseLrs, [0.1, 0.01]);
  for (let t = 1; t <= 7; t++) {
    sched.step();
    const factor = 0.5 ** Math.floor(t / 2);
    assertCloseSeq(sched.getLastLr(), [0.1 * factor, 0.01 * factor], `t=${t}`);
    assert.deepEqual(sched.getLastLr(), opt.paramGroups.map((g) => g.lr));
  }
  assert.deepEqual(opt.paramGroups.map((g) => g.momentum), [0.9, 0.5]);
});

Deno.test("CosineAnnealingLR follows the closed form per group", () => {
  const opt = { paramGroups: [{ lr: 0.1 }, { lr: 0.02 }] };
  const sched = new CosineAnnealingLR(opt, { tMax: 6, etaMin: 0.001 });
  for (let t = 1; t <= 18; t++) {
    sched.step();
    const expected = [0.1, 0.02].map((b) =>
      0.001 + (b - 0.001) * (1 + Math.cos(Math.PI * t / 6)) / 2
    );
    assertCloseSeq(sched.getLastLr(), expected, `t=${t}`);
  }
});

Deno.test("LambdaLR takes one lambda per group and OneCycleLR one maxLr per group", () => {
  const opt = { paramGroups: [{ lr: 0.1 }, { lr: 0.2 }] };
  const lambda = new LambdaLR(opt, { lrLambda: [(e) => 0.5 ** e, (e) => 1 + e] });
  lambda.step();
  lambda.step();
  assertCloseSeq(lambda.getLastLr(), [0.025, 0.6], "LambdaLR");

  const opt2 = { paramGroups: [{ lr: 0.1, momentum: 0.9 }, { lr: 0.2, momentum: 0.9 }] };
  const one = new OneCycleLR(opt2, { maxLr: [1, 0.1], totalSteps: 10, maxMomentum: [0.95, 0.9] });
  assertCloseSeq(one.getLastLr(), [1 / 25, 0.1 / 25], "OneCycleLR start");
  assert.deepEqual(opt2.paramGroups.map((g) => g.momentum), [0.95, 0.9]);
  for (let i = 0; i < 2; i++) one.step(); // peak at pctStart * 10 - 1 = 2
  assertCloseSeq(one.getLastLr(), [1, 0.1], "OneCycleLR peak");
  assertCloseSeq(opt2.paramGroups.map((g) => g.momentum!), [0.85, 0.85], "momentum at peak");
  for (let i = 0; i < 7; i++) one.step();
  assertCloseSeq(one.getLastLr(), [1 / 25 / 1e4, 0.1 / 25 / 1e4], "OneCycleLR end");
});

Deno.test("schedulers on one optimizer chain like torch's", () => {
  const opt = sgd();
  const exp = new ExponentialLR(opt, { gamma: 0.9 });
  const step = new StepLR(opt, { stepSize: 3, gamma: 0.5 });
  for (let t = 1; t <= 10; t++) {
    exp.step();
    step.step();
    assertCloseSeq([opt.paramGroups[0].lr], [0.1 * 0.9 ** t * 0.5 ** Math.floor(t / 3)], `t=${t}`);
  }
});

Deno.test("LRScheduler keeps an existing initialLr and resumes from lastEpoch like torch", () => {
  const opt = { paramGroups: [{ lr: 0.05, initialLr: 0.1 }] };
  const sched = new CosineAnnealingLR(opt, { tMax: 10, lastEpoch: 3 });
  assert.deepEqual(sched.baseLrs, [0.1]);
  assert.equal(sched.lastEpoch, 4);
  assertCloseSeq(sched.getLastLr(), [0.1 * (1 + Math.cos(Math.PI * 4 / 10)) / 2], "resumed");
  sched.step();
  assertCloseSeq(sched.getLastLr(), [0.1 * (1 + Math.cos(Math.PI * 5 / 10)) / 2], "next");
  assert.throws(() => new StepLR({ paramGroups: [{ lr: 0.1 }] }, { stepSize: 1, lastEpoch: 2 }), {
    name: "TypeError",
    message: /initialLr/,
  });
});

Deno.test("OneCycleLR throws a RangeError when stepped past totalSteps and stays unchanged", () => {
  const opt = sgd();
  const sched = new OneCycleLR(opt, { maxLr: 1, totalSteps: 5 });
  for (let i = 0; i < 5; i++) sched.step(); // torch allows lastEpoch up to totalSteps
  assert.equal(sched.lastEpoch, 5);
  const before = structuredClone(opt.paramGroups);
  assert.throws(() => sched.step(), {
    name: "RangeError",
    message: "OneCycleLR: tried to step 7 times, but totalSteps is 5",
  });
  assert.equal(sched.lastEpoch, 5);
  assert.deepEqual(opt.paramGroups, before);
  assert.throws(() => sched.step(), RangeError);
});

Deno.test("OneCycleLR throws a TypeError on an optimizer without momentum or betas", () => {
  assert.throws(() => new OneCycleLR({ paramGroups: [{ lr: 0.1 }] }, { maxLr: 1, totalSteps: 9 }), {
    name: "TypeError",
    message: /OneCycleLR: cycleMomentum needs .* momentum or betas/,
  });
  const opt = { paramGroups: [{ lr: 0.1 }] };
  const sched = new OneCycleLR(opt, { maxLr: 1, totalSteps: 9, cycleMomentum: false });
  sched.step();
  assert.deepEqual(Object.keys(opt.paramGroups[0]).sort(), ["initialLr", "lr"]);
});

Deno.test("OneCycleLR replaces betas with a new tuple instead of mutating a shared one", () => {
  const shared: [number, number] = [0.9, 0.999];
  const opt = { paramGroups: [{ lr: 0.1, betas: shared }, { lr: 0.1, betas: shared }] };
  const sched = new OneCycleLR(opt, { maxLr: 0.01, totalSteps: 10 });
  sched.step();
  assert.deepEqual(shared, [0.9, 0.999]);
  assert.notEqual(opt.paramGroups[0].betas, opt.paramGroups[1].betas);
  assert.ok(opt.paramGroups[0].betas[0] < 0.95);
});

Deno.test("schedulers throw RangeErrors naming the bad option and value", () => {
  const cases: [() => unknown, string][] = [
    [
      () => new StepLR(sgd(), { stepSize: 0 }),
      "StepLR: stepSize must be an integer >= 1, received 0",
    ],
    [() => new StepLR(sgd(), { stepSize: 2.5 }), "StepLR: stepSize must be an integer >= 1"],
    [() => new StepLR(sgd(), { stepSize: 2, gamma: 0 }), "StepLR: gamma must be > 0, received 0"],
    [
      () => new StepLR(sgd(), { stepSize: 2, lastEpoch: -2 }),
      "StepLR: lastEpoch must be an integer >= -1, received -2",
    ],
    [
      () => new ExponentialLR(sgd(), { gamma: -1 }),
      "ExponentialLR: gamma must be > 0, received -1",
    ],
    [
      () => new ExponentialLR(sgd(), { gamma: NaN }),
      "ExponentialLR: gamma must be > 0, received NaN",
    ],
    [
      () => new CosineAnnealingLR(sgd(), { tMax: 0 }),
      "CosineAnnealingLR: tMax must be an integer >= 1, received 0",
    ],
    [
      () => new CosineAnnealingLR(sgd(), { tMax: 5, etaMin: -1 }),
      "CosineAnnealingLR: etaMin must be >= 0, received -1",
    ],
    [
      () => new LinearLR(sgd(), { startFactor: 0 }),
      "LinearLR: startFactor must be in (0, 1], received 0",
    ],
    [
      () => new LinearLR(sgd(), { startFactor: 1.5 }),
      "LinearLR: startFactor must be in (0, 1], received 1.5",
    ],
    [
      () => new LinearLR(sgd(), { endFactor: -0.1 }),
      "LinearLR: endFactor must be in [0, 1], received -0.1",
    ],
    [
      () => new LinearLR(sgd(), { totalIters: 0 }),
      "LinearLR: totalIters must be an integer >= 1, received 0",
    ],
    [
      () => new LambdaLR({ paramGroups: [{ lr: 1 }, { lr: 2 }] }, { lrLambda: [(e) => e] }),
      "LambdaLR: lrLambda must have one function per param group (2), received 1",
    ],
    [
      () => new OneCycleLR(sgd(), { maxLr: 1 }),
      "OneCycleLR: totalSteps must be an integer >= 1 (or give epochs and stepsPerEpoch), received undefined",
    ],
    [
      () => new OneCycleLR(sgd(), { maxLr: 1, totalSteps: 0 }),
      "OneCycleLR: totalSteps must be an integer >= 1",
    ],
    [
      () => new OneCycleLR(sgd(), { maxLr: 1, epochs: 3 }),
      "OneCycleLR: stepsPerEpoch must be an integer >= 1, received undefined",
    ],
    [
      () => new OneCycleLR(sgd(), { maxLr: 1, epochs: 0, stepsPerEpoch: 4 }),
      "OneCycleLR: epochs must be an integer >= 1, received 0",
    ],
    [
      () => new OneCycleLR(sgd(), { maxLr: 1, totalSteps: 9, pctStart: 1 }),
      "OneCycleLR: pctStart must be in (0, 1), received 1",
    ],
    [
      () => new OneCycleLR(sgd(), { maxLr: 1, totalSteps: 9, pctStart: 0 }),
      "OneCycleLR: pctStart must be in (0, 1), received 0",
    ],
    [
      () => new OneCycleLR(sgd(), { maxLr: 1, totalSteps: 10, pctStart: 0.1 }),
      "OneCycleLR: pctStart 0.1 with totalSteps 10 makes a phase zero steps long",
    ],
    [
      () => new OneCycleLR(sgd(), { maxLr: 1, totalSteps: 9, annealStrategy: "exp" as "cos" }),
      'OneCycleLR: annealStrategy must be "cos" or "linear", received "exp"',
    ],
    [
      () => new OneCycleLR(sgd(), { maxLr: 0, totalSteps: 9 }),
      "OneCycleLR: maxLr must be > 0, received 0",
    ],
    [
      () => new OneCycleLR(sgd(), { maxLr: [1, 2], totalSteps: 9 }),
      "OneCycleLR: maxLr must have one value per param group (1), received 2",
    ],
    [
      () => new OneCycleLR(sgd(), { maxLr: 1, totalSteps: 9, divFactor: 0 }),
      "OneCycleLR: divFactor must be > 0, received 0",
    ],
    [
      () => new OneCycleLR(sgd(), { maxLr: 1, totalSteps: 9, finalDivFactor: -1 }),
      "OneCycleLR: finalDivFactor must be > 0, received -1",
    ],
    [
      () => new OneCycleLR(sgd(), { maxLr: 1, totalSteps: 9, baseMomentum: -0.5 }),
      "OneCycleLR: baseMomentum must be >= 0, received -0.5",
    ],
  ];
  for (const [fn, message] of cases) {
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof RangeError, `${message}: got ${e}`);
      assert.ok(e.message.startsWith(message), `expected "${message}", got "${e.message}"`);
      return true;
    });
  }
});

Deno.test("schedulers throw TypeErrors for an optimizer without numeric lr or a non-function lambda", () => {
  assert.throws(() => new StepLR({ paramGroups: [] }, { stepSize: 1 }), {
    name: "TypeError",
    message: "StepLR: optimizer must have a non-empty paramGroups array",
  });
  const noLr = { paramGroups: [{ lr: "0.1" }] } as unknown as Schedulable;
  assert.throws(() => new ExponentialLR(noLr, { gamma: 0.5 }), {
    name: "TypeError",
    message: "ExponentialLR: paramGroups[0].lr must be a finite number",
  });
  const notFn = 0.5 as unknown as () => number;
  assert.throws(() => new LambdaLR(sgd(), { lrLambda: notFn }), TypeError);
});

// Compile-time check: an optimizer whose groups are declared as an intersection with an index
// signature (like src/optim/optimizer.ts's ParamGroup) or as an interface fits Schedulable.
type TorchLikeGroup<O> = O & { params: number[]; [extra: string]: unknown };
interface SgdLike {
  lr: number;
  momentum: number;
  nesterov: boolean;
}
interface AdamLikeGroup {
  params: number[];
  lr: number;
  betas: [number, number];
  eps: number;
}
class FakeSgd {
  readonly paramGroups: TorchLikeGroup<SgdLike>[] = [{
    params: [],
    lr: 0.1,
    momentum: 0.9,
    nesterov: false,
  }];
}
class FakeAdam {
  readonly paramGroups: AdamLikeGroup[] = [{ params: [], lr: 0.1, betas: [0.9, 0.99], eps: 1e-8 }];
}

Deno.test("OneCycleLR accepts optimizer classes with typed param groups", () => {
  const sgdOpt = new FakeSgd();
  new OneCycleLR(sgdOpt, { maxLr: 1, totalSteps: 4 }).step();
  assert.ok(sgdOpt.paramGroups[0].momentum < 0.95);
  const adamOpt = new FakeAdam();
  new OneCycleLR(adamOpt, { maxLr: 1, totalSteps: 4 }).step();
  assert.equal(adamOpt.paramGroups[0].betas[1], 0.99);
});
