import { diffStats } from "../../../src/gpu/stats.ts";
import { Parameter } from "../../../src/params/flat.ts";
import { Adam } from "../../../src/optim/first_order/adam.ts";
import { SGD } from "../../../src/optim/first_order/sgd.ts";
import { SPSA } from "../../../src/optim/zeroth_order/spsa.ts";
import { streamOf } from "../../../src/optim/population/population_optimizer.ts";
import { randomNormalAt, randomRademacherAt, randomUniformAt } from "../../../src/rng.ts";
import { tensor } from "../../../src/tensor.ts";
import { assert, assertClose, gpu } from "../../_util.ts";
import { counted, QUADRATIC, RESTORATION, ROSENBROCK, type ZoProblem } from "../_zo_problems.ts";

const STREAM = streamOf("SPSA");

/** Element j of perturbation `id` at step `step` (CPU twin of the GPU noise). */
function noise(sampler: string, seed: number, step: number, id: number, j: number): number {
  const c = { seed, stream: STREAM, counter: step, row: id };
  if (sampler === "uniform") return Math.fround(randomUniformAt(c, j) * 2 - 1);
  if (sampler === "normal") return randomNormalAt(c, j);
  return randomRademacherAt(c, j);
}

/**
 * The estimate ĝ in float64 for losses [L+_0, L−_0, L+_1, …] (pairs with a NaN or infinite
 * loss skipped).
 */
function estimate(
  losses: number[],
  o: { n: number; magn: number; formula: string; sampler: string; seed: number; step: number },
  size: number,
  offset = 0,
): number[] {
  return Array.from({ length: size }, (_, i) => {
    const j = offset + i;
    let sum = 0;
    for (let i = 0; i < o.n; i++) {
      const d = losses[2 * i] - losses[2 * i + 1];
      if (!Number.isFinite(d)) continue;
      const r = noise(o.sampler, o.seed, o.step, i, j);
      sum += o.formula === "spsa" ? d / (2 * o.magn * r) : d * o.magn * r / 2;
    }
    return sum / o.n;
  });
}

Deno.test("SPSA evaluates 2n rows in one closure call with no readback", () => {
  for (const opt of [undefined, "sgd"]) {
    const x = QUADRATIC.init();
    const inner = opt === undefined ? undefined : new SGD([x], { lr: 0.01 });
    const spsa = new SPSA([x], { lr: 1e-3, n: 3, opt: inner });
    const { closure, calls } = counted(QUADRATIC.closure(x));
    spsa.step(closure).dispose(); // compile and allocate
    const before = gpu.stats.snapshot();
    for (let i = 0; i < 1000; i++) {
      spsa.zeroGrad();
      spsa.step(closure).dispose();
      if (i % 200 === 199) gpu.flush();
    }
    const d = diffStats(before, gpu.stats.snapshot());
    assert.equal(calls(), 1001);
    assert.equal(d.readbacks, 0);
    assert.equal(d.bytesInUse, 0);
    assert.equal(d.buffersCreated, 0);
    assert.equal(x.flat!.rows, 7);
    spsa.dispose();
    x.flat!.dispose();
  }
});

Deno.test("SPSA probes x ± magn·r_i and returns min(L+, L−) of the last pair", async () => {
  const x = new Parameter([0.5, -0.25, 1, 2, 3]);
  const opt = new SPSA([x], { magn: 0.01, n: 2, seed: 5, sampler: "uniform", grad: true });
  const loss = opt.step(() => tensor([3, 1, 4, 3.5]));
  assert.equal(await loss.item(), 3.5);
  for (let k = 0; k < 4; k++) {
    const row = await x.read(1 + k);
    const sign = k % 2 === 0 ? 1 : -1;
    const expected = [0.5, -0.25, 1, 2, 3].map((v, j) =>
      Math.fround(v + Math.fround(sign * 0.01 * noise("uniform", 5, 0, k >> 1, j)))
    );
    assert.deepEqual([...row], expected, `row ${1 + k}`);
  }
  assert.deepEqual([...await x.read()], [0.5, -0.25, 1, 2, 3]); // x is untouched with grad: true
  opt.flat.dispose();
});

for (const formula of ["spsa", "rdsa"] as const) {
  for (const sampler of ["rademacher", "normal", "uniform"] as const) {
    Deno.test(`SPSA ${formula} estimate matches the CPU twin (${sampler})`, async () => {
      const x = new Parameter([1, 2, 3, 4, 5, 6, 7]);
      const o = { n: 3, magn: 0.1, formula, sampler, seed: 11, step: 1 };
      const opt = new SPSA([x], { ...o, grad: true });
      opt.step(() => tensor([0, 0, 0, 0, 0, 0])).dispose(); // step 0; the case runs at step 1
      opt.zeroGrad();
      const losses = [3, 1, 2, 2.5, 4, 4];
      opt.step(() => tensor(losses)).dispose();
      const grad = (await opt.flat.readGrad(x))!;
      const rtol = sampler === "normal" ? 1e-4 : 1e-6;
      assertClose(grad, estimate(losses, o, 7), { rtol, atol: 1e-7 });
      opt.flat.dispose();
    });
  }
}

Deno.test("SPSA without an inner optimizer updates x −= lr·ĝ", async () => {
  const init = [1, -2, 3, 0.5, 0, 6, 7, 8, 9];
  const x = new Parameter(init);
  const o = { n: 2, magn: 0.05, formula: "spsa", sampler: "rademacher", seed: 3, step: 0 };
  const opt = new SPSA([x], { lr: 0.1, n: 2, magn: 0.05, seed: 3 });
  const losses = [2, 1, 1.5, 3];
  opt.step(() => tensor(losses)).dispose();
  const g = estimate(losses, o, 9);
  assertClose(await x.read(), init.map((v, j) => v - 0.1 * g[j]), { rtol: 1e-6, atol: 1e-6 });
  assert.equal(await opt.flat.readGrad(x), null); // no gradient is set
  opt.flat.dispose();
});

Deno.test("SPSA applies lr, magn and formula per param group", async () => {
  const a = new Parameter([1, 2, 3, 4, 5]);
  const b = new Parameter([1, 2, 3]);
  const opt = new SPSA([{ params: [a], magn: 0.2 }, { params: [b], formula: "rdsa", lr: 0.5 }], {
    n: 2,
    magn: 0.1,
    lr: 0.25,
    seed: 8,
  });
  const losses = [3, 1, 2, 2.5];
  opt.step(() => tensor(losses)).dispose();
  const o = { n: 2, sampler: "rademacher", seed: 8, step: 0 };
  const ga = estimate(losses, { ...o, magn: 0.2, formula: "spsa" }, 5, a.offset);
  const gb = estimate(losses, { ...o, magn: 0.1, formula: "rdsa" }, 3, b.offset);
  assertClose(await a.read(), [1, 2, 3, 4, 5].map((v, i) => v - 0.25 * ga[i]), { rtol: 1e-6 });
  assertClose(await b.read(), [1, 2, 3].map((v, i) => v - 0.5 * gb[i]), { rtol: 1e-6 });
  opt.flat.dispose();
});

Deno.test("SPSA accumulates gradients until zeroGrad(), then steps the inner optimizer", async () => {
  const x = new Parameter([0, 0, 0]);
  const o = { n: 1, magn: 0.5, formula: "spsa", sampler: "rademacher", seed: 2 };
  const opt = new SPSA([x], { magn: 0.5, seed: 2, opt: new SGD([x], { lr: 0.25 }) });
  opt.step(() => tensor([2, 1])).dispose();
  opt.step(() => tensor([1, 3])).dispose();
  const g0 = estimate([2, 1], { ...o, step: 0 }, 3);
  const g1 = estimate([1, 3], { ...o, step: 1 }, 3);
  const grad = g0.map((v, j) => v + g1[j]);
  assertClose((await opt.flat.readGrad(x))!, grad, { rtol: 1e-6 });
  // SGD saw g0, then g0 + g1.
  assertClose(await x.read(), grad.map((v, j) => -0.25 * (g0[j] + v)), { rtol: 1e-6 });
  opt.flat.dispose();
});

Deno.test("SPSA skips pairs with a NaN or infinite loss and reports the finite one", async () => {
  const x = new Parameter([1, 2, 3, 4]);
  const o = { n: 3, magn: 0.1, formula: "spsa", sampler: "rademacher", seed: 4, step: 0 };
  const opt = new SPSA([x], { n: 3, magn: 0.1, seed: 4, grad: true });
  const losses = [NaN, 1, 2, 4, 2.5, Infinity];
  const loss = opt.step(() => tensor(losses));
  assert.equal(await loss.item(), 2.5);
  assertClose((await opt.flat.readGrad(x))!, estimate(losses, o, 4), { rtol: 1e-6 });
  opt.flat.dispose();
});

Deno.test("SPSA takes loss differences from per-example losses ([2n, B])", async () => {
  const x = new Parameter([1, 2]);
  const o = { n: 2, magn: 0.1, formula: "spsa", sampler: "rademacher", seed: 6, step: 0 };
  const opt = new SPSA([x], { n: 2, magn: 0.1, seed: 6, grad: true });
  // Row means 2, 1.75 and 2.25, 1.5.
  const loss = opt.step(() => tensor([1, 3, 0, 3.5, 2, 2.5, 1, 2], [4, 2]));
  assert.equal(await loss.item(), 1.5);
  assertClose((await opt.flat.readGrad(x))!, estimate([2, 1.75, 2.25, 1.5], o, 2), { rtol: 1e-6 });
  opt.flat.dispose();
});

Deno.test("SPSA accepts formula names in any case", async () => {
  const grads: Float32Array[] = [];
  for (const formula of ["rdsa", "RDSA", "Rdsa"]) {
    const x = new Parameter([1, 2, 3]);
    const opt = new SPSA([x], { formula: formula as "rdsa", seed: 1, grad: true });
    opt.step(() => tensor([2, 1])).dispose();
    grads.push((await opt.flat.readGrad(x))!);
    opt.flat.dispose();
  }
  assert.ok(grads[0].some((v) => v !== 0));
  assert.deepEqual(grads[1], grads[0]);
  assert.deepEqual(grads[2], grads[0]);
});

Deno.test("SPSA's Rademacher estimate of a quadratic's gradient is unbiased", async () => {
  // f(x) = Σ 0.5·(1 + i mod 5)·(x_i − sin i)², at x = 0: ∇f_i = −(1 + i mod 5)·sin i. The
  // central difference of a quadratic is exact, so ĝ_j = ∇f_j + Σ_{k≠j} r_k r_j ∇f_k, whose
  // mean over M draws has standard deviation sqrt(Σ_{k≠j} ∇f_k² / M).
  const x = QUADRATIC.init();
  const n = 32, steps = 200, draws = n * steps;
  const opt = new SPSA([x], { magn: 1e-2, n, seed: 13, grad: true }); // x is never moved
  const closure = QUADRATIC.closure(x);
  for (let i = 0; i < steps; i++) opt.step(closure).dispose(); // gradients accumulate
  const mean = [...(await opt.flat.readGrad(x))!].map((v) => v / steps);
  const truth = Array.from({ length: 10 }, (_, i) => -(1 + (i % 5)) * Math.sin(i));
  const total = truth.reduce((a, g) => a + g * g, 0);
  for (let j = 0; j < 10; j++) {
    const sd = Math.sqrt((total - truth[j] ** 2) / draws);
    assert.ok(
      Math.abs(mean[j] - truth[j]) < 4 * sd,
      `element ${j}: mean ${mean[j]}, gradient ${truth[j]}, sd ${sd}`,
    );
  }
  opt.dispose();
  x.flat!.dispose();
});

// [problem, options, evaluations, factor]. Measured with seeds 7, 1, 2 (3 for Rosenbrock):
// quadratic ≤ 5.8e-7, restoration ≤ 1.8e-4 (both formulas), Rosenbrock ≤ 9.9e-4.
const BUDGETS: [ZoProblem, { n: number; lr: number; formula: "spsa" | "rdsa" }, number, number][] =
  [
    [QUADRATIC, { n: 1, lr: 0.03, formula: "spsa" }, 400, 1e-5],
    [RESTORATION, { n: 1, lr: 0.3, formula: "spsa" }, 200, 2e-3],
    [RESTORATION, { n: 1, lr: 3e5, formula: "rdsa" }, 200, 2e-3], // lr ≈ 0.3 / magn²
  ];

for (const [problem, { n, lr, formula }, evals, factor] of BUDGETS) {
  Deno.test(`SPSA (${formula}) shrinks the ${problem.name} loss ${factor}x in ${evals} evaluations`, async () => {
    const x = problem.init();
    const opt = new SPSA([x], { lr, magn: 1e-3, n, formula, seed: 7 });
    const closure = problem.closure(x);
    for (let i = 0; i < evals / (2 * n); i++) opt.step(closure).dispose();
    const ratio = problem.loss(await x.read()) / problem.loss(problem.init().initialValues!);
    assert.ok(ratio <= factor, `loss ratio ${ratio} > ${factor}`);
    opt.dispose();
    x.flat!.dispose();
  });
}

Deno.test("SPSA + Adam shrinks the Rosenbrock loss 0.01x in 6000 evaluations", async () => {
  const x = ROSENBROCK.init();
  const opt = new SPSA([x], { magn: 1e-3, n: 4, opt: new Adam([x], { lr: 0.1 }), seed: 7 });
  const closure = ROSENBROCK.closure(x);
  for (let i = 0; i < 6000 / 8; i++) {
    opt.zeroGrad();
    opt.step(closure).dispose();
  }
  const ratio = ROSENBROCK.loss(await x.read()) / ROSENBROCK.loss([-1.5, 2]);
  assert.ok(ratio <= 0.01, `loss ratio ${ratio} > 0.01`);
  opt.dispose();
  x.flat!.dispose();
});

Deno.test("SPSA stateDict round-trip continues the exact trajectory", async () => {
  for (const inner of [false, true]) {
    const run = (x: Parameter, opt: SPSA, steps: number) => {
      const closure = QUADRATIC.closure(x);
      for (let i = 0; i < steps; i++) {
        opt.zeroGrad();
        opt.step(closure).dispose();
      }
    };
    const make = (x: Parameter, seed: number, lr: number) =>
      new SPSA([x], { lr, n: 2, seed, opt: inner ? new Adam([x], { lr }) : undefined });
    const a = QUADRATIC.init();
    run(a, make(a, 9, 0.02), 30);
    const b = QUADRATIC.init();
    const first = make(b, 9, 0.02);
    run(b, first, 15);
    const saved = await first.stateDict();
    const second = make(b, 123, 1);
    second.loadStateDict(saved);
    run(b, second, 15);
    assert.deepEqual([...await b.read()], [...await a.read()], inner ? "with Adam" : "direct");
    a.flat!.dispose();
    b.flat!.dispose();
  }
});

Deno.test("SPSA rejects bad options, closures and inner optimizers", () => {
  const x = new Parameter([1, 2]);
  assert.throws(
    () => new SPSA([x], { lr: -1 }),
    (e: Error) => e instanceof RangeError && e.message === "SPSA: lr must be >= 0, received -1",
  );
  for (const magn of [0, -1, NaN]) {
    assert.throws(() => new SPSA([x], { magn }), RangeError, `magn ${magn}`);
  }
  for (const n of [0, 257, 1.5]) {
    assert.throws(
      () => new SPSA([x], { n }),
      (e: Error) => e instanceof RangeError && e.message.includes(`n must be`),
    );
  }
  assert.throws(
    () => new SPSA([x], { formula: "fdsa" as "spsa" }),
    (e: Error) => e instanceof RangeError && /formula .* received fdsa/.test(e.message),
  );
  assert.throws(() => new SPSA([x], { sampler: "cauchy" as "normal" }), /sampler/);
  assert.throws(() => new SPSA([x], { opt: new SGD([x]), grad: false }), TypeError);
  const opt = new SPSA([x], { n: 2 });
  assert.throws(() => opt.step(), TypeError);
  assert.throws(() => opt.step(() => tensor([1, 2, 3])), /must return 4 losses/);
  x.flat!.setRows(2);
  assert.throws(() => new SPSA([x], { opt: new SGD([x], { row: 1 }) }), /row 1/);
  x.flat!.dispose();
});
