// Fitness shaping and the CMA-ES constants, against their definitions and pycma 4.5's values
// (tests/golden/pycma_reference.json, made by bench/pycma_reference.py).

import { cmaConstants } from "../../../src/optim/es/cma_es.ts";
import { sepCmaConstants } from "../../../src/optim/es/sep_cma_es.ts";
import { centeredRanks, cmaWeights, nesUtilities } from "../../../src/optim/es/utilities.ts";
import { symmetricEigen } from "../../../src/optim/es/_eigen.ts";
import { assert, assertClose, normalData } from "../../_util.ts";
import pycma from "../../golden/pycma_reference.json" with { type: "json" };

Deno.test("centeredRanks goes from ½ to −½ in equal steps and sums to 0", () => {
  assertClose(centeredRanks(5), [0.5, 0.25, 0, -0.25, -0.5]);
  assert.ok(Math.abs(centeredRanks(64).reduce((a, b) => a + b)) < 1e-6);
  assert.throws(() => centeredRanks(1), RangeError);
});

Deno.test("nesUtilities weigh the better half, decrease with rank and sum to 0", () => {
  const u = nesUtilities(10);
  const raw = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => Math.max(0, Math.log(6) - Math.log(i)));
  const total = raw.reduce((a, b) => a + b);
  assertClose(u, raw.map((r) => r / total - 0.1));
  assert.ok(Math.abs(u.reduce((a, b) => a + b)) < 1e-6);
  for (let i = 1; i < 10; i++) assert.ok(u[i] <= u[i - 1]);
});

for (
  const [key, n, lambda] of [["N20_popsize12", 20, 12], ["N10_default_popsize", 10, 10]] as const
) {
  const ref = pycma.constants[key];
  Deno.test(`cmaWeights and cmaConstants match pycma for N = ${n}, λ = ${lambda}`, () => {
    const c = cmaConstants(n, lambda);
    assert.equal(c.mu, ref.full.mu);
    assertClose([c.mueff], [ref.full.mueff], { rtol: 1e-12 });
    assertClose(c.weights, ref.full.weights_all, { rtol: 1e-10, atol: 1e-12 });
    assertClose(
      [c.c1, c.cmu, c.cc, c.cs, c.damps, c.chiN],
      [ref.full.c1, ref.full.cmu, ref.full.cc, ref.full.cs, ref.full.damps, ref.full.chiN],
      { rtol: 1e-6 }, // pycma's chiN is this series to 3 terms; the rest are exact
    );
    assertClose(cmaWeights(lambda).weights.slice(0, c.mu), ref.full.weights_mu, { rtol: 1e-12 });
  });

  Deno.test(`sepCmaConstants use pycma's separable rates for N = ${n}, λ = ${lambda}`, () => {
    const c = sepCmaConstants(n, lambda);
    assertClose(
      [c.c1, c.cmu, c.cc, c.cs, c.damps],
      [ref.sep.c1_sep, ref.sep.cmu_sep, ref.sep.cc_sep, ref.sep.cs, ref.sep.damps],
      { rtol: 1e-10 },
    );
    assertClose(c.weights.slice(0, c.mu), ref.sep.weights_mu, { rtol: 1e-12 });
    assert.ok(c.weights.slice(c.mu).every((w) => w === 0)); // positive weights only
  });
}

Deno.test("symmetricEigen: V diag(λ) Vᵀ rebuilds the matrix, V is orthonormal, λ ascend", () => {
  for (const n of [1, 2, 7, 40]) {
    // A random symmetric matrix.
    const r = normalData(n, n * n);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = r[i * n + j] + (i === j ? 3 : 0);
    }
    const { values, vectors: v } = symmetricEigen(a, n);
    for (let j = 1; j < n; j++) assert.ok(values[j - 1] <= values[j], `λ ${j} out of order`);
    let worst = 0;
    let worstOrtho = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let rebuilt = 0;
        let dot = 0;
        for (let k = 0; k < n; k++) {
          rebuilt += v[i * n + k] * values[k] * v[j * n + k];
          dot += v[k * n + i] * v[k * n + j];
        }
        worst = Math.max(worst, Math.abs(rebuilt - a[i * n + j]));
        worstOrtho = Math.max(worstOrtho, Math.abs(dot - (i === j ? 1 : 0)));
      }
    }
    assert.ok(worst < 1e-10, `n = ${n}: |VΛVᵀ − A| = ${worst}`);
    assert.ok(worstOrtho < 1e-12, `n = ${n}: |VᵀV − I| = ${worstOrtho}`);
  }
  // Known cases: [[2, 1], [1, 2]] has eigenvalues 1 and 3; diag(5, 2, 2) a repeated one.
  const { values } = symmetricEigen(Float64Array.of(2, 1, 1, 2), 2);
  assert.ok(Math.abs(values[0] - 1) < 1e-14 && Math.abs(values[1] - 3) < 1e-14, `${values}`);
  const diag = symmetricEigen(Float64Array.of(5, 0, 0, 0, 2, 0, 0, 0, 2), 3);
  assertClose(Array.from(diag.values), [2, 2, 5], { atol: 1e-15 });
});
