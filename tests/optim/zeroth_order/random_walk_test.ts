import type { KernelSpec } from "../../../src/gpu/kernel.ts";
import { diffStats } from "../../../src/gpu/stats.ts";
import { FlatParameters, Parameter } from "../../../src/params/flat.ts";
import { RandomWalk, type RandomWalkOptions } from "../../../src/optim/zeroth_order/random_walk.ts";
import { streamOf } from "../../../src/optim/population/population_optimizer.ts";
import {
  Generator,
  randomNormalAt,
  randomRademacherAt,
  randomUniformAt,
} from "../../../src/rng.ts";
import { type Tensor, tensor } from "../../../src/tensor.ts";
import { assert, assertClose, gpu } from "../../_util.ts";
import { counted, QUADRATIC, RESTORATION, ROSENBROCK, type ZoProblem } from "../_zo_problems.ts";

const STREAM = streamOf("RandomWalk");
const f = Math.fround;

function noise(sampler: unknown, seed: number, step: number, id: number, j: number): number {
  const c = { seed, stream: STREAM, counter: step, row: id };
  if (sampler === "uniform") return f(randomUniformAt(c, j) * 2 - 1);
  if (sampler === "rademacher") return randomRademacherAt(c, j);
  return randomNormalAt(c, j);
}

type Hyper = RandomWalkOptions;
const DEFAULTS: Hyper = {
  lr: 1e-3,
  order: 1,
  moveOpposite: true,
  propagateOpposite: false,
  L1: 0,
  L2: 0,
  weightDecay: 0,
  sampler: "normal",
};

/** One parameter tensor of the CPU walk: its offset in the row and its group's options. */
interface Part {
  offset: number;
  x: number[];
  dirs: number[][];
  o: Hyper;
}

/** The original's RandomWalk (spec §1.5) in float32 on the CPU, with the GPU's noise twin. */
class CpuWalk {
  lowest = Infinity;
  step = 0;
  cands: number[][][] = []; // [b][part][i], the last step's candidate rows
  constructor(
    readonly parts: Part[],
    readonly bestOf: number,
    readonly stochastic: boolean,
    readonly seed: number,
  ) {}

  reg(xs: number[][]): number {
    const terms: number[] = [];
    this.parts.forEach((part, t) => {
      const n = xs[t].length;
      if (part.o.L1 !== 0) terms.push(part.o.L1 * xs[t].reduce((a, v) => a + Math.abs(v), 0) / n);
      if (part.o.L2 !== 0) terms.push(part.o.L2 * xs[t].reduce((a, v) => a + v * v, 0) / n);
    });
    return terms.length === 0 ? 0 : terms.reduce((a, v) => a + v, 0) / terms.length;
  }

  /** One step given the closure's losses (baseline first when it is evaluated); the report. */
  run(losses: number[]): number {
    const K = this.bestOf;
    const baseline = this.stochastic || this.step === 0;
    if (baseline) this.lowest = losses[0] + this.reg(this.parts.map((p) => p.x));
    const cand = losses.slice(baseline ? 1 : 0);
    const candDirs: number[][][][] = []; // [b][part][d][i]
    this.cands = [];
    for (let b = 0; b < K; b++) {
      const rows: number[][] = [];
      const dirs: number[][][] = [];
      for (const part of this.parts) {
        const D = part.o.order - 1;
        const c: number[][] = Array.from({ length: D + 1 }, () => []);
        const row = part.x.map((v, i) => {
          c[D][i] = f(
            f(part.o.lr) * noise(part.o.sampler, this.seed, this.step, b, part.offset + i),
          );
          for (let d = D - 1; d >= 0; d--) c[d][i] = f(part.dirs[d][i] + c[d + 1][i]);
          return f(f(v + c[0][i]) * f(1 - part.o.weightDecay));
        });
        rows.push(row);
        dirs.push(c.slice(0, D));
      }
      this.cands.push(rows);
      candDirs.push(dirs);
      cand[b] += this.reg(rows);
    }
    let m = -1;
    let w = -1;
    cand.forEach((l, b) => {
      if (Number.isFinite(l) && (m < 0 || l < cand[m])) m = b;
      const lv = Number.isFinite(l) ? l : 3e38;
      if (w < 0 || lv > (Number.isFinite(cand[w]) ? cand[w] : 3e38)) w = b;
    });
    if (m >= 0 && (!Number.isFinite(this.lowest) || cand[m] <= this.lowest)) {
      this.lowest = cand[m];
      this.parts.forEach((part, t) => {
        part.x = [...this.cands[m][t]];
        part.dirs = candDirs[m][t].map((d) => [...d]);
      });
    } else {
      for (const part of this.parts) {
        if (!part.o.moveOpposite) continue;
        const D = part.o.order - 1;
        const a = part.x.map((_, i) =>
          f(f(part.o.lr) * noise(part.o.sampler, this.seed, this.step, w, part.offset + i))
        );
        if (D === 0) {
          part.x = part.x.map((v, i) => f(v - a[i]));
          continue;
        }
        part.dirs[D - 1] = part.dirs[D - 1].map((v, i) => f(v - a[i]));
        if (part.o.propagateOpposite) {
          for (let d = D - 2; d >= 0; d--) {
            part.dirs[d] = part.dirs[d].map((v, i) => f(v + part.dirs[d + 1][i]));
          }
        }
      }
    }
    this.step++;
    return m >= 0 ? cand[m] : cand[0];
  }
}

interface Case {
  name: string;
  groups: { values: number[]; o: Partial<Hyper> }[];
  bestOf: number;
  stochastic: boolean;
  /** Candidate losses per step (the baseline, when evaluated, is `base`). */
  steps: { base: number; cand: number[] }[];
}

const TOL = { rtol: 2e-5, atol: 2e-6 };

/** Runs a case on the GPU and on the CPU walk with fixed losses; compares every step. */
async function runCase(c: Case): Promise<void> {
  const params = c.groups.map((g) => new Parameter(g.values));
  const flat = new FlatParameters(params, gpu);
  const seed = 17;
  const opt = new RandomWalk(
    c.groups.map((g, i) => ({ params: [params[i]], ...g.o })),
    { seed, bestOf: c.bestOf, stochastic: c.stochastic },
  );
  const cpu = new CpuWalk(
    c.groups.map((g, i) => {
      const o = { ...DEFAULTS, ...g.o };
      return {
        offset: params[i].offset,
        x: g.values.map(f),
        dirs: Array.from({ length: o.order - 1 }, () => g.values.map(() => 0)),
        o,
      };
    }),
    c.bestOf,
    c.stochastic,
    seed,
  );
  for (const [t, { base, cand }] of c.steps.entries()) {
    const losses = c.stochastic || t === 0 ? [base, ...cand] : cand;
    const { closure, calls } = counted(() => tensor(losses));
    const report = opt.step(closure);
    const expected = cpu.run(losses);
    const label = `${c.name}, step ${t}`;
    assert.equal(calls(), 1);
    const got = await report.item();
    if (Number.isFinite(expected)) assertClose([got], [expected], TOL, `${label} report`);
    else assert.ok(!Number.isFinite(got), `${label} report ${got}, expected ${expected}`);
    report.dispose();
    for (const [i, p] of params.entries()) {
      for (let b = 0; b < c.bestOf; b++) {
        assertClose(await p.read(1 + b), cpu.cands[b][i], TOL, `${label} candidate ${b}`);
      }
      assertClose(await p.read(), cpu.parts[i].x, TOL, `${label} home of group ${i}`);
    }
    const dict = await opt.stateDict();
    for (const [i, part] of cpu.parts.entries()) {
      for (const [d, dir] of part.dirs.entries()) {
        const saved = dict.state[i]?.[`${d} direction`] as Float32Array;
        assertClose(saved, dir, TOL, `${label} direction ${d} of group ${i}`);
      }
    }
  }
  opt.dispose();
  flat.dispose();
}

const X = [0.5, -1, 2, 0.25, -0.75, 1.5, 3];

const CASES: Case[] = [
  {
    name: "order 1 (accept, reject, tie, NaN and infinite losses)",
    groups: [{ values: X, o: { lr: 0.1 } }],
    bestOf: 1,
    stochastic: true,
    steps: [
      { base: 2, cand: [1] }, // accept
      { base: 1, cand: [3] }, // reject: x −= lr·s_0
      { base: 1, cand: [1] }, // a tie is accepted
      { base: 5, cand: [NaN] }, // never accepted
      { base: 5, cand: [Infinity] },
      { base: NaN, cand: [7] }, // a finite candidate beats a NaN baseline
    ],
  },
  {
    name: "order 1 without moveOpposite, weight decay, NaN candidates",
    groups: [{ values: X, o: { lr: 0.2, moveOpposite: false, weightDecay: 0.1 } }],
    bestOf: 2,
    stochastic: true,
    steps: [
      { base: 2, cand: [3, 1] },
      { base: 1, cand: [3, 2] },
      { base: 1, cand: [NaN, 0.5] },
      { base: 1, cand: [NaN, NaN] },
    ],
  },
  {
    name: "order 2 (second-order walk)",
    groups: [{ values: X, o: { lr: 0.05, order: 2 } }],
    bestOf: 2,
    stochastic: true,
    steps: [
      { base: 2, cand: [1, 1.5] },
      { base: 1, cand: [0.5, 0.25] },
      { base: 0.25, cand: [3, 4] }, // reject: v −= lr·s_worst
      { base: 0.25, cand: [2, 1] },
      { base: 0.25, cand: [0.1, 0.2] },
    ],
  },
  {
    name: "order 3 with propagateOpposite, not stochastic",
    groups: [{
      values: X,
      o: { lr: 0.1, order: 3, propagateOpposite: true, sampler: "rademacher", weightDecay: 0.01 },
    }],
    bestOf: 3,
    stochastic: false,
    steps: [
      { base: 5, cand: [4, 3, 6] },
      { base: 0, cand: [2, 2.5, 2] },
      { base: 0, cand: [3.5, 4, 9] }, // against the stale lowest 2
      { base: 0, cand: [4, 5, 6] },
      { base: 0, cand: [1, 8, 1] },
    ],
  },
  {
    name: "two groups of different orders",
    groups: [
      { values: X, o: { lr: 0.1, moveOpposite: false } },
      { values: [1, 2, 3, 4, 5], o: { lr: 0.05, order: 2, sampler: "uniform" } },
    ],
    bestOf: 1,
    stochastic: true,
    steps: [
      { base: 2, cand: [1] },
      { base: 1, cand: [2] },
      { base: 1, cand: [0.5] },
      { base: 0.5, cand: [0.6] },
    ],
  },
  {
    name: "L1 and L2 penalties",
    groups: [
      { values: X, o: { lr: 0.3, L1: 0.5 } },
      { values: [1, -2, 3, -4, 5], o: { lr: 0.3, L1: 0.2, L2: 0.1 } },
    ],
    bestOf: 2,
    stochastic: true,
    // equal raw losses: the penalties decide
    steps: Array.from({ length: 6 }, () => ({ base: 1, cand: [1, 1] })),
  },
];

for (const c of CASES) {
  Deno.test(`RandomWalk follows the original's update rule: ${c.name}`, async () => {
    await runCase(c);
  });
}

Deno.test("RandomWalk evaluates every candidate in one closure call with no readback", () => {
  for (const stochastic of [true, false]) {
    const x = QUADRATIC.init();
    const opt = new RandomWalk([x], { lr: 0.01, order: 2, bestOf: 3, L1: 1e-3, stochastic });
    const { closure, calls } = counted(QUADRATIC.closure(x));
    opt.step(closure).dispose(); // compile and allocate
    const before = gpu.stats.snapshot();
    for (let i = 0; i < 1000; i++) {
      opt.step(closure).dispose();
      if (i % 200 === 199) gpu.flush();
    }
    const d = diffStats(before, gpu.stats.snapshot());
    assert.equal(calls(), 1001);
    assert.equal(d.readbacks, 0);
    assert.equal(d.bytesInUse, 0);
    assert.equal(d.buffersCreated, 0);
    assert.equal(x.flat!.rows, 4);
    opt.dispose();
    x.flat!.dispose();
  }
});

Deno.test("RandomWalk evaluates bestOf + 1 rows when stochastic and bestOf rows otherwise", () => {
  for (const stochastic of [true, false]) {
    const x = new Parameter([1, 2, 3]);
    const opt = new RandomWalk([x], { bestOf: 2, stochastic });
    const rows: number[] = [];
    const closure = () => {
      const { start, count } = x.flat!.active;
      rows.push(count);
      return tensor(Array.from({ length: count }, (_, r) => start + r));
    };
    for (let i = 0; i < 3; i++) opt.step(closure).dispose();
    assert.deepEqual(rows, stochastic ? [3, 3, 3] : [3, 2, 2]);
    x.flat!.dispose();
  }
});

const BUDGETS: [ZoProblem, Partial<Hyper> & { bestOf?: number }, number, number][] = [
  [QUADRATIC, { lr: 0.02 }, 1000, 0.02],
  [ROSENBROCK, { lr: 0.02, order: 2, bestOf: 2 }, 1500, 1e-3],
  [RESTORATION, { lr: 0.03 }, 1000, 0.02],
];

for (const [problem, { bestOf = 1, ...hyper }, evals, factor] of BUDGETS) {
  Deno.test(`RandomWalk shrinks the ${problem.name} loss ${factor}x in ${evals} evaluations`, async () => {
    const x = problem.init();
    const opt = new RandomWalk([x], { ...hyper, bestOf, seed: 3 });
    const closure = problem.closure(x);
    for (let i = 0; i < evals / (bestOf + 1); i++) opt.step(closure).dispose();
    const ratio = problem.loss(await x.read()) / problem.loss(problem.init().initialValues!);
    assert.ok(ratio <= factor, `loss ratio ${ratio} > ${factor}`);
    opt.dispose();
    x.flat!.dispose();
  });
}

const MIN_SPEC: KernelSpec = {
  file: "tests/optim/zeroth_order/random_walk_test.ts",
  code: `
struct Params { off: u32, n: u32 }
@group(0) @binding(0) var<storage, read> losses: array<f32>;
@group(0) @binding(1) var<storage, read_write> best: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(1)
fn track_min() {
  var m = best[0];
  for (var i = 0u; i < p.n; i++) { m = min(m, losses[p.off + i]); }
  best[0] = m;
}`,
  entryPoint: "track_min",
  storage: ["read", "write"],
  params: { off: "u32", n: "u32" },
};

/** The smallest loss any evaluation returned, tracked on the GPU; and the evaluation count. */
function tracked(closure: () => Tensor) {
  const best = tensor([3e38]).keep();
  let evals = 0;
  return {
    closure: () => {
      const loss = closure();
      gpu.dispatch(gpu.kernel(MIN_SPEC), [loss.buffer, best.buffer], {
        off: loss.offset,
        n: loss.numel,
      }, [1]);
      evals += loss.numel;
      return loss;
    },
    evals: () => evals,
    best,
  };
}

/**
 * The original's rule (spec §1.5, defaults: order 1, bestOf 1, stochastic) on the restoration
 * problem in float64 with its own noise: the smallest loss of the first `budget` evaluations
 * (closure calls: a baseline and a candidate per step).
 */
function originalRestoration(seed: number, lr: number, budget = 1000): number {
  const noise = new Generator(seed, 99);
  let x = [...new Generator(seed, 15).normals(10)]; // as RESTORATION.init(seed)
  let evals = 0;
  let best = Infinity;
  const evaluate = (y: number[]) => {
    evals++;
    const l = RESTORATION.loss(y);
    best = Math.min(best, l);
    return l;
  };
  while (evals < budget) {
    const lowest = evaluate(x);
    if (evals === budget) break;
    const d = [...noise.normals(10)].map((v) => lr * v);
    const cand = x.map((v, i) => v + d[i]);
    x = evaluate(cand) > lowest ? x.map((v, i) => v - d[i]) : cand;
  }
  return best;
}

Deno.test("RandomWalk(lr 0.1) matches the original on the restoration benchmark (1,000 evaluations)", async () => {
  // Spec §1.15 quotes 0.0065 for the original from one notebook run. Averaged over 500 seeds
  // the original's rule gives 0.0119 (median 0.0117; 0.0065 is about its 5th percentile), so
  // the port is held to that average: the mean over 10 seeds (its own sampling error is ≈ 8%)
  // must not exceed it by more than 15%. Measured: 0.0108.
  const reference = Array.from({ length: 500 }, (_, s) => originalRestoration(1000 + s, 0.1))
    .reduce((a, v) => a + v, 0) / 500;
  assert.ok(reference > 0.011 && reference < 0.013, `reference ${reference}`);
  const seeds = 10;
  let sum = 0;
  for (let seed = 0; seed < seeds; seed++) {
    const x = RESTORATION.init(seed);
    const opt = new RandomWalk([x], { lr: 0.1, seed });
    const t = tracked(RESTORATION.closure(x));
    while (t.evals() < 1000) opt.step(t.closure).dispose();
    assert.equal(t.evals(), 1000);
    sum += await t.best.item();
    t.best.dispose();
    opt.dispose();
    x.flat!.dispose();
  }
  const mean = sum / seeds;
  assert.ok(mean <= 1.15 * reference, `mean min loss ${mean} > 1.15 × ${reference}`);
});

Deno.test("RandomWalk stateDict round-trip continues the exact trajectory", async () => {
  const run = (x: Parameter, opt: RandomWalk, steps: number) => {
    const closure = QUADRATIC.closure(x);
    for (let i = 0; i < steps; i++) opt.step(closure).dispose();
  };
  const options = { lr: 0.02, order: 3, bestOf: 2, stochastic: false, seed: 9 };
  const a = QUADRATIC.init();
  run(a, new RandomWalk([a], options), 30);
  const b = QUADRATIC.init();
  const first = new RandomWalk([b], options);
  run(b, first, 15);
  const saved = await first.stateDict();
  assert.ok(saved.state[0]["1 direction"] instanceof Float32Array);
  assert.ok((saved.state[0]["0 direction"] as Float32Array).some((v) => v !== 0));
  const second = new RandomWalk([b], { order: 3, bestOf: 2, stochastic: false, seed: 123 });
  second.loadStateDict(saved);
  run(b, second, 15);
  assert.deepEqual([...await b.read()], [...await a.read()]);
  first.dispose();
  second.dispose();
  a.flat!.dispose();
  b.flat!.dispose();
});

Deno.test("RandomWalk grows its directions when the order is raised", async () => {
  const x = new Parameter([1, 2, 3]);
  const opt = new RandomWalk([x], { lr: 0.1, order: 2, seed: 1 });
  const closure = () => tensor([1, 0]);
  opt.step(closure).dispose(); // accepted: dir_0 = lr·s_0
  const v = (await opt.stateDict()).state[0]["0 direction"] as Float32Array;
  opt.paramGroups[0].order = 3;
  opt.step(closure).dispose(); // dir_1 = lr·s_1 (from zero), dir_0 = v + dir_1
  const dict = await opt.stateDict();
  const a = [0, 1, 2].map((j) => f(0.1 * noise("normal", 1, 1, 0, j)));
  assertClose(dict.state[0]["1 direction"] as Float32Array, a, TOL);
  assertClose(dict.state[0]["0 direction"] as Float32Array, a.map((ai, j) => f(v[j] + ai)), TOL);
  opt.dispose();
  x.flat!.dispose();
});

Deno.test("RandomWalk rejects bad options and closures", () => {
  const x = new Parameter([1, 2]);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ lr: -1 }, /lr must be >= 0, received -1/],
    [{ order: 0 }, /order must be an integer >= 1, received 0/],
    [{ order: 1.5 }, /order/],
    [{ bestOf: 0 }, /bestOf must be an integer in \[1, 250\], received 0/],
    [{ bestOf: 251 }, /bestOf/],
    [{ L1: -0.1 }, /L1/],
    [{ L2: NaN }, /L2/],
    [{ weightDecay: 1 }, /weightDecay must be in \[0, 1\), received 1/],
    [{ sampler: "cauchy" }, /sampler/],
    [{ seed: -1 }, /seed/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => new RandomWalk([x], options as Partial<Hyper>),
      (e: Error) => e instanceof RangeError && message.test(e.message),
      JSON.stringify(options),
    );
  }
  const opt = new RandomWalk([x], { bestOf: 2 });
  assert.throws(() => opt.step(), TypeError);
  assert.throws(() => opt.step(() => tensor([1, 2])), /must return 3 losses/);
  opt.dispose();
  x.flat!.dispose();
});
