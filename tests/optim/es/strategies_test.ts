// One generation of each evolution strategy against a plain TypeScript reference (the noise
// from the TypeScript twin of the GPU generator), plus checkpoints, errors and the estimator's
// mean on a linear function.

import { diffStats } from "../../../src/gpu/stats.ts";
import { Parameter } from "../../../src/params/flat.ts";
import { SGD } from "../../../src/optim/first_order/sgd.ts";
import { cmaConstants, CMAES, CMAES_MAX_DIMENSION } from "../../../src/optim/es/cma_es.ts";
import { OpenAIES } from "../../../src/optim/es/openai_es.ts";
import { PGPE } from "../../../src/optim/es/pgpe.ts";
import { sepCmaConstants, SepCMAES } from "../../../src/optim/es/sep_cma_es.ts";
import { SNES } from "../../../src/optim/es/snes.ts";
import { centeredRanks, nesUtilities } from "../../../src/optim/es/utilities.ts";
import { streamOf } from "../../../src/optim/population/population_optimizer.ts";
import type { PopulationOptimizer } from "../../../src/optim/population/population_optimizer.ts";
import { randomNormalAt } from "../../../src/rng.ts";
import { mnistCnn } from "../../../src/nn/models.ts";
import { manualSeed } from "../../../src/nn/init.ts";
import { crossEntropy } from "../../../src/ops/loss.ts";
import { tensor } from "../../../src/tensor.ts";
import { assert, assertClose, gpu, normalData } from "../../_util.ts";
import { QUADRATIC } from "../_zo_problems.ts";

const M = [0.5, -0.3, 0.1, 0.9, -0.7, 0.2];
const N = M.length;
const LOSSES = [3, 1, 4, 1.5, 5, 9, 2, 6];
const P = LOSSES.length;
const SEED = 7;
const TOL = { rtol: 2e-4, atol: 2e-5 }; // the GPU's Box–Muller and ours differ in the last bits

/** z of noise id `k` in the first generation of `name`. */
function z(name: string, k: number): number[] {
  const c = { seed: SEED, stream: streamOf(name), counter: 0, row: k };
  return M.map((_, j) => randomNormalAt(c, j));
}

/** Rank of each loss (0 = lowest, ties by index). */
function ranks(f: number[]): number[] {
  const order = f.map((_, k) => k).sort((a, b) => f[a] - f[b] || a - b);
  const r = new Array(f.length);
  order.forEach((k, i) => (r[k] = i));
  return r;
}

/** Asks, checks the candidates against `expected`, tells the fixed losses. */
async function generation(opt: PopulationOptimizer<object>, expected: number[][]) {
  const population = opt.ask();
  assert.equal(population.size, P);
  const rows = await population.read();
  rows.forEach((row, k) => assertClose(row, expected[k], TOL, `candidate ${k}`));
  const report = opt.tell(LOSSES);
  assertClose([await report.item()], [LOSSES.reduce((a, b) => a + b) / P], { rtol: 1e-6 });
  report.dispose();
}

Deno.test("OpenAIES: one generation writes ĝ = −1/(Pσ) Σ (u⁺ − u⁻) z into the gradient", async () => {
  const x = new Parameter(M);
  const sigma = 0.2;
  const es = new OpenAIES([x], { popSize: P, sigma, seed: SEED, opt: new SGD([x], { lr: 1 }) });
  const zs = Array.from({ length: P / 2 }, (_, k) => z("OpenAIES", k));
  const candidates = zs.flatMap((zk) => [
    M.map((m, j) => m + sigma * zk[j]),
    M.map((m, j) => m - sigma * zk[j]),
  ]);
  await generation(es, candidates);
  const u = ranks(LOSSES).map((r) => centeredRanks(P)[r]);
  const g = M.map((_, j) =>
    -zs.reduce((a, zk, k) => a + (u[2 * k] - u[2 * k + 1]) * zk[j], 0) / (P * sigma)
  );
  assertClose([...await x.read()], M.map((m, j) => m - g[j]), TOL); // SGD(lr 1): m − ĝ
  es.dispose();
  x.flat!.dispose();
});

Deno.test("PGPE: one generation moves the center by ∇m and the stdevs by the clamped ∇s", async () => {
  const x = new Parameter(M);
  const s0 = 0.3;
  const [stdLr, delta] = [0.5, 0.2];
  const es = new PGPE([x], {
    popSize: P,
    sigma: s0,
    stdLr,
    stdMaxChange: delta,
    seed: SEED,
    opt: new SGD([x], { lr: 1 }),
  });
  const zs = Array.from({ length: P / 2 }, (_, k) => z("PGPE", k));
  await generation(
    es,
    zs.flatMap((zk) => [M.map((m, j) => m + s0 * zk[j]), M.map((m, j) => m - s0 * zk[j])]),
  );
  const u = ranks(LOSSES).map((r) => centeredRanks(P)[r]);
  const gm = M.map((_, j) =>
    s0 * zs.reduce((a, zk, k) => a + (u[2 * k] - u[2 * k + 1]) * zk[j], 0) / P
  );
  const gs = M.map((_, j) =>
    s0 * zs.reduce((a, zk, k) => a + (u[2 * k] + u[2 * k + 1]) * (zk[j] ** 2 - 1), 0) / P
  );
  assertClose([...await x.read()], M.map((m, j) => m + gm[j]), TOL);
  const s = gs.map((g) => Math.min(s0 * (1 + delta), Math.max(s0 * (1 - delta), s0 + stdLr * g)));
  assertClose([...await es.stdevs()], s, TOL);
  es.dispose();
  x.flat!.dispose();
});

Deno.test("SNES: one generation takes the natural-gradient steps of the center and the stdevs", async () => {
  const x = new Parameter(M);
  const s0 = 0.4;
  const es = new SNES([x], { popSize: P, sigma: s0, lrMean: 0.8, lrStd: 0.3, seed: SEED });
  const zs = Array.from({ length: P }, (_, k) => z("SNES", k));
  await generation(es, zs.map((zk) => M.map((m, j) => m + s0 * zk[j])));
  const u = ranks(LOSSES).map((r) => nesUtilities(P)[r]);
  const m = M.map((mj, j) => mj + 0.8 * s0 * zs.reduce((a, zk, k) => a + u[k] * zk[j], 0));
  const s = M.map((_, j) =>
    s0 * Math.exp(0.15 * zs.reduce((a, zk, k) => a + u[k] * (zk[j] ** 2 - 1), 0))
  );
  assertClose([...await x.read()], m, TOL);
  assertClose([...await es.stdevs()], s, TOL);
  es.dispose();
  x.flat!.dispose();
});

/** The first generation of (sep-)CMA-ES from C = I: ⟨z⟩, p_σ, h_σ and σ. */
function cmaStart(
  name: string,
  weights: Float64Array,
  c: { cs: number; damps: number; mueff: number },
) {
  const order = ranks(LOSSES).map((_, i) => ranks(LOSSES).indexOf(i));
  const zs = order.map((k) => z(name, k)); // by rank
  const zw = M.map((_, j) => zs.reduce((a, zk, i) => a + Math.max(0, weights[i]) * zk[j], 0));
  const ps = zw.map((v) => Math.sqrt(c.cs * (2 - c.cs) * c.mueff) * v);
  const norm = Math.hypot(...ps);
  const chi = Math.sqrt(N) * (1 - 1 / (4 * N) + 1 / (21 * N * N));
  const hsig = norm / Math.sqrt(1 - (1 - c.cs) ** 2) < (1.4 + 2 / (N + 1)) * chi ? 1 : 0;
  const sigmaFactor = Math.exp(Math.min(1, c.cs / c.damps * (norm / chi - 1)));
  return { zs, zw, hsig, sigmaFactor };
}

Deno.test("SepCMAES: one generation updates m, σ and the diagonal C as sep-CMA-ES does", async () => {
  const x = new Parameter(M);
  const sigma = 0.5;
  const es = new SepCMAES([x], { popSize: P, sigma, seed: SEED });
  await generation(
    es,
    Array.from({ length: P }, (_, k) => M.map((m, j) => m + sigma * z("SepCMAES", k)[j])),
  );
  const c = sepCmaConstants(N, P);
  const { zs, zw, hsig, sigmaFactor } = cmaStart("SepCMAES", c.weights, c);
  const pc = zw.map((v) => hsig * Math.sqrt(c.cc * (2 - c.cc) * c.mueff) * v);
  const c1a = c.c1 * (1 - (1 - hsig ** 2) * c.cc * (2 - c.cc));
  const C = M.map((_, j) => {
    const zz = zs.reduce((a, zk, i) => a + c.weights[i] * (zk[j] ** 2 - 1), 0);
    return 1 - c1a - c.cmu + c.c1 * pc[j] ** 2 + c.cmu * (zz + 1);
  });
  assertClose([...await x.read()], M.map((m, j) => m + sigma * zw[j]), TOL);
  assertClose([await es.currentSigma()], [sigma * sigmaFactor], TOL);
  assertClose([...await es.variances()], C, TOL);
  es.dispose();
  x.flat!.dispose();
});

Deno.test("CMAES: one generation updates m, σ and C with active weights", async () => {
  const x = new Parameter(M);
  const sigma = 0.5;
  const es = new CMAES([x], { popSize: P, sigma, seed: SEED });
  const zk = (k: number) => z("CMAES", k);
  const population = es.ask();
  const rows = await population.read();
  rows.forEach((row, k) =>
    assertClose(row, M.map((m, j) => m + sigma * zk(k)[j]), { rtol: 1e-6, atol: 1e-7 })
  );
  es.tell(LOSSES).dispose();
  const c = cmaConstants(N, P);
  const { zs, zw, hsig, sigmaFactor } = cmaStart("CMAES", c.weights, c);
  const pc = zw.map((v) => hsig * Math.sqrt(c.cc * (2 - c.cc) * c.mueff) * v);
  const sumW = c.weights.reduce((a, w) => a + w, 0);
  const decay = 1 + c.c1 * (1 - hsig) * c.cc * (2 - c.cc) - c.c1 - c.cmu * sumW;
  const C = new Float64Array(N * N);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      let v = (i === j ? decay : 0) + c.c1 * pc[i] * pc[j];
      zs.forEach((zr, r) => {
        const w = c.weights[r] >= 0
          ? c.weights[r]
          : c.weights[r] * N / zr.reduce((a, b) => a + b * b, 0);
        v += c.cmu * w * zr[i] * zr[j];
      });
      C[i * N + j] = v;
    }
  }
  const m0 = M.map(Math.fround); // the parameter's float32 values are the starting mean
  assertClose([...es.mean], m0.map((m, j) => m + sigma * zw[j]), { rtol: 1e-9, atol: 1e-12 });
  assertClose([...await x.read()], M.map((m, j) => m + sigma * zw[j]), { rtol: 1e-6, atol: 1e-7 });
  assertClose([es.currentSigma], [sigma * sigmaFactor], { rtol: 1e-12 });
  assertClose(es.covariance, C, { rtol: 1e-9, atol: 1e-12 });
  es.dispose();
  x.flat!.dispose();
});

Deno.test("OpenAIES with raw fitness: the mean estimate on a linear function is its slope", async () => {
  // f(x) = aᵀx + c. With mirrored pairs, f⁺ − f⁻ = 2σ aᵀz, so E[ĝ] = a exactly and c cancels.
  const a = [1, -2, 0.5, 0, 3, -1, 2, -0.5];
  const x = new Parameter(new Array(a.length).fill(0.25));
  const pairs = 2048;
  const es = new OpenAIES([x], {
    popSize: 2 * pairs,
    sigma: 0.1,
    fitnessShaping: "raw",
    seed: 3,
    opt: new SGD([x], { lr: 1 }),
  });
  const estimates: number[][] = [];
  for (let g = 0; g < 4; g++) {
    const before = [...await x.read()];
    const points = await es.ask().read();
    es.tell(points.map((p) => p.reduce((s, v, j) => s + a[j] * v, 7))).dispose();
    const after = await x.read();
    estimates.push(before.map((b, j) => b - after[j])); // SGD(lr 1) moved by −ĝ
  }
  const mean = a.map((_, j) => estimates.reduce((s, e) => s + e[j], 0) / estimates.length);
  // ĝ_j averages 4·2048 terms (aᵀz)z_j; its standard error is |a|/√(4·2048) ≈ 0.05.
  assertClose(mean, a, { atol: 0.25, rtol: 0 });
  es.dispose();
  x.flat!.dispose();
});

type Make = (x: Parameter) => PopulationOptimizer<object>;
const STRATEGIES: [string, Make][] = [
  ["OpenAIES", (x) => new OpenAIES([x], { popSize: 8, sigma: 0.1, lr: 0.05, seed: 1 })],
  ["PGPE", (x) => new PGPE([x], { popSize: 8, sigma: 0.2, lr: 0.03, seed: 1 })],
  ["SNES", (x) => new SNES([x], { sigma: 0.5, seed: 1 })],
  ["SepCMAES", (x) => new SepCMAES([x], { sigma: 0.5, seed: 1 })],
];

for (const [name, make] of STRATEGIES) {
  Deno.test(`${name}: generations run on the GPU with no readback and shrink a quadratic`, async () => {
    const x = QUADRATIC.init();
    const es = make(x);
    const closure = QUADRATIC.closure(x);
    es.step(closure).dispose();
    const before = gpu.stats.snapshot();
    for (let g = 0; g < 150; g++) es.step(closure).dispose();
    const d = diffStats(before, gpu.stats.snapshot());
    assert.equal(d.readbacks, 0);
    assert.equal(d.bytesInUse, 0);
    const ratio = QUADRATIC.loss(await x.read()) / QUADRATIC.loss(new Array(10).fill(0));
    assert.ok(ratio < 0.1, `loss ratio ${ratio}`);
    es.dispose();
    x.flat!.dispose();
  });

  Deno.test(`${name}: stateDict round-trip continues the exact trajectory`, async () => {
    const run = (x: Parameter, es: PopulationOptimizer<object>, n: number) => {
      const closure = QUADRATIC.closure(x);
      for (let i = 0; i < n; i++) es.step(closure).dispose();
    };
    const a = QUADRATIC.init();
    const whole = make(a);
    run(a, whole, 12);
    const b = QUADRATIC.init();
    const first = make(b);
    run(b, first, 6);
    const saved = await first.stateDict();
    const second = make(b);
    second.loadStateDict(saved);
    run(b, second, 6);
    assert.deepEqual([...await b.read()], [...await a.read()]);
    for (const o of [whole, first, second]) o.dispose();
    a.flat!.dispose();
    b.flat!.dispose();
  });
}

Deno.test("CMAES: stateDict round-trip continues the exact trajectory", async () => {
  const f = (p: Float32Array) => QUADRATIC.loss(p);
  const run = async (es: CMAES, n: number) => {
    for (let i = 0; i < n; i++) es.tell((await es.ask().read()).map(f)).dispose();
  };
  const a = new Parameter(new Array(10).fill(0));
  const whole = new CMAES([a], { sigma: 0.5, seed: 2 });
  await run(whole, 30);
  const b = new Parameter(new Array(10).fill(0));
  const first = new CMAES([b], { sigma: 0.5, seed: 2 });
  await run(first, 15);
  const saved = await first.stateDict();
  const second = new CMAES([b], { sigma: 0.5, seed: 2 });
  second.loadStateDict(saved);
  await run(second, 15);
  assert.deepEqual([...second.mean], [...whole.mean]);
  assert.deepEqual([...await b.read()], [...await a.read()]);
  a.flat!.dispose();
  b.flat!.dispose();
});

Deno.test("CMAES refuses a state dict of another size or with a bad σ, changing nothing", async () => {
  const x = new Parameter(new Array(4).fill(0));
  const es = new CMAES([x], { sigma: 0.5, seed: 2 });
  es.tell((await es.ask().read()).map((p) => QUADRATIC.loss(p))).dispose();
  const saved = await es.stateDict();
  const before = JSON.stringify([...es.mean]);
  const extra = saved.extra as Record<string, unknown>;
  assert.throws(
    () => es.loadStateDict({ ...saved, extra: { ...extra, C: new Float64Array(9) } }),
    /CMAES\.loadStateDict: C must be 16 float64 values for N = 4, received 9/,
  );
  assert.throws(
    () => es.loadStateDict({ ...saved, extra: { ...extra, sigma: NaN } }),
    /sigma must be a finite number > 0, received NaN/,
  );
  assert.equal(JSON.stringify([...es.mean]), before);
  es.loadStateDict(saved); // the real one still loads
  es.dispose();
  x.flat!.dispose();
});

Deno.test("CMAES refuses N above CMAES_MAX_DIMENSION with the memory it would need", () => {
  const x = new Parameter(new Float32Array(CMAES_MAX_DIMENSION + 1));
  assert.throws(
    () => new CMAES([x]),
    /CMAES: 8193 parameters need two 8193 × 8193 float64 matrices \(1\.0 GiB\); the limit is N = 8192\. Use SepCMAES/,
  );
  x.flat?.dispose();
});

Deno.test("CMAES ranks on the host: GPU losses and step() are refused with a way forward", async () => {
  const x = QUADRATIC.init();
  const es = new CMAES([x], { sigma: 0.5 });
  const closure = QUADRATIC.closure(x);
  assert.throws(() => es.step(closure), /stepAsync/);
  es.ask();
  const loss = closure();
  assert.throws(() => es.tell(loss), /tell the losses as numbers/);
  loss.dispose();
  const report = await es.stepAsync(closure); // reads the P losses back
  assert.ok(Number.isFinite(await report.item()));
  report.dispose();
  x.flat!.dispose();
});

Deno.test("CMAES reads a starting mean that lives on the GPU once, in prepare()", async () => {
  const x = new Parameter([1, 2, 3]);
  new SGD([x]); // puts x on the GPU
  const es = new CMAES([x], { sigma: 0.1 });
  assert.throws(() => es.ask(), /prepare/);
  await es.prepare();
  assert.deepEqual([...es.mean], [1, 2, 3]);
  x.flat!.dispose();
});

Deno.test("the strategies reject bad options with the value named", () => {
  const x = new Parameter([1, 2]);
  assert.throws(
    () => new OpenAIES([x], { popSize: 7 }),
    /popSize must be an even integer >= 2, received 7/,
  );
  assert.throws(() => new OpenAIES([x], { sigma: 0 }), /sigma must be > 0, received 0/);
  assert.throws(() => new OpenAIES([x], { sigmaDecay: 1.5 }), /sigmaDecay/);
  assert.throws(() => new OpenAIES([x], { fitnessShaping: "nes" as "raw" }), /fitnessShaping/);
  assert.throws(() => new PGPE([x], { stdMaxChange: 1 }), /stdMaxChange/);
  assert.throws(() => new SNES([x], { popSize: 1 }), /popSize must be an integer >= 2/);
  assert.throws(() => new SepCMAES([x], { sigma: -1 }), /sigma must be > 0/);
  assert.throws(() => new CMAES([x], { mean: [1] }), /mean must have 2 values/);
  x.flat!.dispose();
});

Deno.test("an ES generation whose rows and activations pass the binding limit is split, bit for bit", async () => {
  // With the binding limit lowered to 96 KiB, the CNN's rows (63 KB each) are sampled one per
  // dispatch and its activations at P = 6, B = 8 are evaluated in row chunks.
  const run = async (limit: number | null) => {
    const saved = gpu.maxBindingSize;
    if (limit !== null) gpu.maxBindingSize = limit;
    try {
      manualSeed(5);
      const model = mnistCnn();
      const es = new OpenAIES(model.parameters(), { popSize: 6, sigma: 0.05, seed: 2 });
      const x = tensor(normalData(3, 8 * 784), [8, 1, 28, 28]);
      const y = tensor(Array.from({ length: 8 }, (_, i) => i % 10), [8]);
      const before = gpu.stats.snapshot();
      for (let g = 0; g < 2; g++) {
        es.step(() => crossEntropy(model.forward(x), y, { reduction: "none" })).dispose();
      }
      const dispatches = diffStats(before, gpu.stats.snapshot()).dispatches;
      const out = [...await model.flat.readRow(0)];
      es.dispose();
      x.dispose();
      y.dispose();
      model.flat.dispose();
      return { out, dispatches };
    } finally {
      gpu.maxBindingSize = saved;
    }
  };
  const whole = await run(null);
  const split = await run(96 * 1024);
  assert.ok(split.dispatches > whole.dispatches, `${split.dispatches} vs ${whole.dispatches}`);
  assert.deepEqual(split.out, whole.out);
});
