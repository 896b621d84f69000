import { diffStats } from "../../../src/gpu/stats.ts";
import { Parameter } from "../../../src/params/flat.ts";
import { Adam } from "../../../src/optim/first_order/adam.ts";
import { RandomGrad } from "../../../src/optim/zeroth_order/random_grad.ts";
import { SGD } from "../../../src/optim/first_order/sgd.ts";
import { SwarmOfOptimizers, type SwarmOptions } from "../../../src/optim/population/swarm.ts";
import { tensor } from "../../../src/tensor.ts";
import { assert, gpu } from "../../_util.ts";
import { counted, QUADRATIC, RESTORATION, ROSENBROCK, type ZoProblem } from "../_zo_problems.ts";

/** Three RandomGrads without inner optimizers (their rows never move by themselves). */
function trio(options: SwarmOptions = {}, shape: number[] = [2, 3]) {
  const x = new Parameter([1, 2, 3, 4, 5, 6], shape);
  const members = [0, 1, 2].map((seed) => new RandomGrad([x], { magn: 0.1, seed }));
  const swarm = new SwarmOfOptimizers([x], members, options);
  return { x, swarm, flat: x.flat! };
}

/** Evaluated rows: 3 member rows, then 3 probes; member i reports probe i's loss. */
function probes(losses: number[]) {
  return () => tensor([0, 0, 0, ...losses]);
}

const A = [10, 11, 12, 13, 14, 15];
const B = [20, 21, 22, 23, 24, 25];
const C = [30, 31, 32, 33, 34, 35];

/** Runs the first step, then loads distinct values into the members' rows 1..3. */
function start(swarm: SwarmOfOptimizers, x: Parameter) {
  swarm.step(probes([1, 2, 3])).dispose();
  [A, B, C].forEach((v, i) => x.load(v, i + 1));
}

Deno.test("a swarm of 10 RandomGrads is one closure call of 20 rows with no readback", async () => {
  const x = QUADRATIC.init();
  const members = Array.from(
    { length: 10 },
    (_, i) => new RandomGrad([x], { magn: 1e-3, seed: i, opt: new Adam([x], { lr: 0.05 }) }),
  );
  const swarm = new SwarmOfOptimizers([x], members, { oldSteps: 5, dieAfter: 20, crossoverP: 0.9 });
  let rows = 0;
  const inner = QUADRATIC.closure(x);
  const { closure, calls } = counted(() => {
    rows = x.flat!.active.count;
    return inner();
  });
  swarm.step(closure).dispose();
  const before = gpu.stats.snapshot();
  for (let i = 0; i < 50; i++) swarm.step(closure).dispose();
  const d = diffStats(before, gpu.stats.snapshot());
  assert.equal(calls(), 51);
  assert.equal(rows, 20);
  assert.equal(d.readbacks, 0);
  assert.equal(d.bytesInUse, 0);
  const ratio = QUADRATIC.loss(await x.read()) /
    QUADRATIC.loss(x.initialValues ?? new Array(10).fill(0));
  assert.ok(ratio < 0.5, `loss ratio ${ratio}`);
  swarm.dispose();
  x.flat!.dispose();
});

Deno.test("the swarm ranks members by their reported losses and the best row becomes the model", async () => {
  const { x, swarm, flat } = trio();
  start(swarm, x);
  const loss = swarm.step(probes([5, 0.5, 2]));
  assert.equal(await loss.item(), 0.5);
  const s = await swarm.inspect();
  assert.equal(s.best, 1);
  assert.equal(s.second, 2);
  assert.deepEqual([...await x.read(0)], B);
  flat.dispose();
});

Deno.test("a NaN or infinite reported loss never ranks best", async () => {
  const { x, swarm, flat } = trio();
  start(swarm, x);
  swarm.step(probes([NaN, Infinity, 7])).dispose();
  assert.equal((await swarm.inspect()).best, 2);
  assert.deepEqual([...await x.read(0)], C);
  flat.dispose();
});

Deno.test("members age, old losers build a bad streak, and die after dieAfter", async () => {
  const { x, swarm, flat } = trio({ oldSteps: 2, dieAfter: 1, crossoverP: 0 });
  start(swarm, x); // step 1: ages 1
  swarm.step(probes([1, 2, 3])).dispose(); // age 2: not old yet
  let s = await swarm.inspect();
  assert.deepEqual(s.age, [2, 2, 2]);
  assert.deepEqual(s.streak, [0, 0, 0]);
  swarm.step(probes([1, 2, 3])).dispose(); // age 3: old; 1 and 2 are not best
  s = await swarm.inspect();
  assert.deepEqual(s.streak, [0, 1, 1]);
  assert.deepEqual(s.dead, [false, false, false]);
  swarm.step(probes([1, 2, 3])).dispose(); // streak 2 > 1: members 1 and 2 die
  s = await swarm.inspect();
  assert.deepEqual(s.dead, [false, true, true]);
  assert.deepEqual(s.age, [4, 0, 0]); // respawned members start young
  assert.deepEqual(s.streak, [0, 0, 0]);
  // crossoverP 0: each respawns as a copy of the best
  assert.deepEqual([...await x.read(2)], A);
  assert.deepEqual([...await x.read(3)], A);
  flat.dispose();
});

Deno.test('respawn "original" keeps the streak, so a member respawns every step', async () => {
  const { x, swarm, flat } = trio({ oldSteps: 0, dieAfter: 0, crossoverP: 0, respawn: "original" });
  start(swarm, x);
  swarm.step(probes([1, 2, 3])).dispose();
  let s = await swarm.inspect();
  assert.deepEqual(s.dead, [false, true, true]);
  swarm.step(probes([1, 2, 3])).dispose();
  s = await swarm.inspect();
  assert.deepEqual(s.dead, [false, true, true]);
  assert.deepEqual(s.streak, [0, 3, 3]);
  flat.dispose();
});

async function respawnWith(crossover: SwarmOptions["crossover"]) {
  const { x, swarm, flat } = trio({ oldSteps: 0, dieAfter: 0, crossoverP: 1, crossover });
  start(swarm, x);
  swarm.step(probes([1, 2, 3])).dispose(); // best 0 (A), second 1 (B); members 1 and 2 die
  const rows = [await x.read(2), await x.read(3)];
  flat.dispose();
  return rows.map((r) => [...r]);
}

Deno.test("respawn by crossover: mean gives (best + second) / 2", async () => {
  for (const row of await respawnWith("mean")) {
    assert.deepEqual(
      row,
      A.map((a, i) => (a + B[i]) / 2),
    );
  }
});

Deno.test("respawn by crossover: swap copies one parent whole", async () => {
  for (const row of await respawnWith("swap")) {
    assert.ok(row.join() === A.join() || row.join() === B.join(), `${row}`);
  }
});

Deno.test("respawn by crossover: uniform takes each element from one parent", async () => {
  for (const row of await respawnWith("uniform")) {
    assert.ok(row.every((v, i) => v === A[i] || v === B[i]), `${row}`);
  }
});

Deno.test("respawn by crossover: onepoint takes a leading block from the second best", async () => {
  for (const row of await respawnWith("onepoint")) {
    // shape [2, 3]: the block [:k1, :k2] with k1 in [0, 0], so it is empty unless dims allow it
    const fromB = row.map((v, i) => v === B[i]);
    const rowsIn = [0, 1].map((r) => fromB.slice(3 * r, 3 * r + 3));
    // B's elements form a leading block: if (r, c) is from B, so are (r', c') with r' <= r, c' <= c
    for (let r = 0; r < 2; r++) {
      for (let c = 0; c < 3; c++) {
        if (rowsIn[r][c]) {
          for (let rr = 0; rr <= r; rr++) {
            for (let cc = 0; cc <= c; cc++) assert.ok(rowsIn[rr][cc]);
          }
        }
      }
    }
    assert.ok(row.every((v, i) => v === A[i] || v === B[i]));
  }
});

Deno.test("a respawn with crossoverP 1 mixes strategies by the default weights", async () => {
  const x = new Parameter(new Array(8).fill(0), [2, 4]);
  const members = Array.from({ length: 8 }, (_, i) => new RandomGrad([x], { magn: 0.1, seed: i }));
  const swarm = new SwarmOfOptimizers([x], members, { oldSteps: 0, dieAfter: 0, crossoverP: 1 });
  const losses = () => tensor([...new Array(8).fill(0), 1, 2, 3, 4, 5, 6, 7, 8]);
  swarm.step(losses).dispose();
  for (let i = 0; i < 8; i++) x.load(new Array(8).fill(i === 0 ? 1 : i === 1 ? 3 : 100), i + 1);
  const kinds = new Set<string>();
  for (let step = 0; step < 6; step++) {
    swarm.step(losses).dispose();
    for (let r = 3; r <= 8; r++) {
      const row = [...await x.read(r)];
      kinds.add(
        row.every((v) => v === 2)
          ? "mean"
          : row.every((v) => v === 1 || v === 3)
          ? "copy-ish"
          : "other",
      );
    }
    // Member 1 (the second best) dies too: restore both parents' values for the next round.
    for (let i = 1; i < 8; i++) x.load(new Array(8).fill(i === 1 ? 3 : 100), i + 1);
  }
  assert.ok(kinds.has("mean") && kinds.has("copy-ish") && !kinds.has("other"), [...kinds].join());
  x.flat!.dispose();
});

const BUDGETS: [ZoProblem, number, number][] = [
  [QUADRATIC, 300, 0.05],
  [ROSENBROCK, 600, 0.3],
  [RESTORATION, 300, 0.05],
];

for (const [problem, steps, factor] of BUDGETS) {
  Deno.test(`a swarm of 4 RandomGrad + Adam shrinks the ${problem.name} loss ${factor}x in ${steps * 8} evaluations`, async () => {
    const x = problem.init();
    const members = Array.from(
      { length: 4 },
      (_, i) => new RandomGrad([x], { magn: 1e-3, seed: i, opt: new Adam([x], { lr: 0.02 }) }),
    );
    const swarm = new SwarmOfOptimizers([x], members, {
      oldSteps: 5,
      dieAfter: 20,
      crossoverP: 0.9,
    });
    const closure = problem.closure(x);
    for (let i = 0; i < steps; i++) swarm.step(closure).dispose();
    const ratio = problem.loss(await x.read()) / problem.loss(problem.init().initialValues!);
    assert.ok(ratio <= factor, `loss ratio ${ratio} > ${factor}`);
    swarm.dispose();
    x.flat!.dispose();
  });
}

Deno.test("gravity, noise, mean momentum and mean aggregation run without readback", async () => {
  const x = RESTORATION.init(1);
  const members = Array.from(
    { length: 3 },
    (_, i) => new RandomGrad([x], { magn: 1e-3, seed: i, opt: new SGD([x], { lr: 0.01 }) }),
  );
  const swarm = new SwarmOfOptimizers([x], members, {
    gravity: 0.1,
    gravityMode: "mean",
    noise: 1e-4,
    meanMomentum: 0.5,
    aggMode: "mean",
  });
  const closure = RESTORATION.closure(x);
  swarm.step(closure).dispose();
  const before = gpu.stats.snapshot();
  for (let i = 0; i < 20; i++) swarm.step(closure).dispose();
  assert.equal(diffStats(before, gpu.stats.snapshot()).readbacks, 0);
  const values = await x.read();
  assert.ok(values.every(Number.isFinite));
  swarm.dispose();
  x.flat!.dispose();
});

Deno.test("SwarmOfOptimizers stateDict round-trip continues the exact trajectory", async () => {
  const make = (x: Parameter) =>
    new SwarmOfOptimizers(
      [x],
      [0, 1, 2].map((i) =>
        new RandomGrad([x], { magn: 1e-3, seed: i, opt: new Adam([x], { lr: 0.05 }) })
      ),
      {
        oldSteps: 2,
        dieAfter: 3,
        crossoverP: 0.5,
      },
    );
  const run = (x: Parameter, s: SwarmOfOptimizers, n: number) => {
    const closure = QUADRATIC.closure(x);
    for (let i = 0; i < n; i++) s.step(closure).dispose();
  };
  const a = QUADRATIC.init();
  run(a, make(a), 20);
  const b = QUADRATIC.init();
  const first = make(b);
  run(b, first, 10);
  const saved = await first.stateDict();
  // The members' rows belong to the swarm's checkpoint, not the model's: scramble them.
  for (let r = 1; r < b.flat!.rows; r++) b.flat!.loadRow(r, new Array(10).fill(7));
  const second = make(b);
  second.loadStateDict(saved);
  run(b, second, 10);
  assert.deepEqual([...await b.read()], [...await a.read()]);
  a.flat!.dispose();
  b.flat!.dispose();
});

Deno.test("SwarmOfOptimizers rejects bad members and options", () => {
  const x = new Parameter([1]);
  const rg = () => new RandomGrad([x]);
  assert.throws(() => new SwarmOfOptimizers([x], [rg()]), RangeError);
  assert.throws(() => new SwarmOfOptimizers([x], [rg(), new SGD([x])]), TypeError);
  assert.throws(() => new SwarmOfOptimizers([x], [rg(), rg()], { crossoverP: 2 }), /crossoverP/);
  assert.throws(() => new SwarmOfOptimizers([x], [rg(), rg()], { dieAfter: -1 }), /dieAfter/);
  assert.throws(
    () => new SwarmOfOptimizers([x], [rg(), rg()], { crossover: "blend" as "mean" }),
    /crossover/,
  );
  assert.throws(
    () => new SwarmOfOptimizers([x], [rg(), rg()], { aggMode: "median" as "best" }),
    /aggMode/,
  );
  x.flat!.dispose();
});
