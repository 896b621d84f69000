// User-supplied samplers: a function fills each candidate's perturbation row on the GPU; the
// optimizers use exactly those values (stored for the step) instead of built-in noise.

import { Parameter } from "../../../src/params/flat.ts";
import { fill } from "../../../src/ops/elementwise.ts";
import { fillUniform } from "../../../src/ops/random.ts";
import type { SamplerDraw, SamplerFn } from "../../../src/optim/population/noise.ts";
import { RandomBestGrad } from "../../../src/optim/zeroth_order/random_best_grad.ts";
import { RandomGrad } from "../../../src/optim/zeroth_order/random_grad.ts";
import { RandomSearch } from "../../../src/optim/zeroth_order/random_search.ts";
import { RandomWalk } from "../../../src/optim/zeroth_order/random_walk.ts";
import { SPSA } from "../../../src/optim/zeroth_order/spsa.ts";
import { randomUniformAt } from "../../../src/rng.ts";
import { tensor } from "../../../src/tensor.ts";
import { assert, assertClose } from "../../_util.ts";

/** U(−0.5, 0.5) from the counter-based generator, keyed by the draw. */
const halfUniform: SamplerFn = (out, d) =>
  void fillUniform(out, {
    seed: d.seed,
    stream: d.stream,
    counter: d.step,
    rowBase: d.candidate,
    lo: -0.5,
    hi: 0.5,
  });

function expected(d: SamplerDraw, j: number): number {
  return Math.fround(
    -0.5 +
      Math.fround(
        randomUniformAt({ seed: d.seed, stream: d.stream, counter: d.step, row: d.candidate }, j),
      ),
  );
}

Deno.test("RandomGrad uses a user-supplied sampler's values as ±s", async () => {
  const x = new Parameter([1, 2, 3, 4, 5]);
  const draws: SamplerDraw[] = [];
  const sampler: SamplerFn = (out, d) => {
    draws.push(d);
    halfUniform(out, d);
  };
  const opt = new RandomGrad([x], { magn: 0.1, sampler, seed: 8 });
  opt.step(() => tensor([2, 1])).dispose(); // better: grad = −s
  assert.deepEqual(draws, [{ seed: 8, stream: opt.stream, step: 0, candidate: 0 }]);
  const s = [0, 1, 2, 3, 4].map((j) => expected(draws[0], j));
  assertClose((await opt.flat.readGrad(x))!, s.map((v) => -v), { rtol: 1e-6 });
  assertClose(await x.read(1), [1, 2, 3, 4, 5].map((v, j) => v + 0.1 * s[j]), { rtol: 1e-6 });
  opt.flat.dispose();
});

Deno.test("RandomSearch replaces the row by the sampler's values", async () => {
  const x = new Parameter([9, 9, 9]);
  const opt = new RandomSearch([x], { sampler: (out) => void fill(out, 0.25), candidates: 2 });
  opt.step(() => tensor([5, 1, 2])).dispose(); // baseline 5, candidates 1 and 2: the first wins
  assert.deepEqual([...await x.read()], [0.25, 0.25, 0.25]);
  opt.flat.dispose();
});

Deno.test("RandomWalk steps by lr times the sampler's values", async () => {
  const x = new Parameter([1, 1, 1, 1]);
  const opt = new RandomWalk([x], { lr: 0.5, sampler: (out) => void fill(out, 2) });
  opt.step(() => tensor([3, 1])).dispose(); // candidate better: accepted
  assert.deepEqual([...await x.read()], [2, 2, 2, 2]);
  opt.flat.dispose();
});

Deno.test("RandomBestGrad and SPSA combine the stored values of every candidate", async () => {
  const x = new Parameter([0, 0, 0, 0]);
  const byCandidate: SamplerFn = (out, d) => void fill(out, d.candidate + 1);
  const best = new RandomBestGrad([x], { magn: 0.1, bestOf: 3, sampler: byCandidate });
  best.step(() => tensor([5, 4, 1, 6])).dispose(); // candidate 1 (value 2) is the best
  assert.deepEqual([...(await best.flat.readGrad(x))!], [-2, -2, -2, -2]);
  const spsa = new SPSA([x], { magn: 0.5, n: 2, lr: 1, sampler: byCandidate, formula: "rdsa" });
  spsa.zeroGrad();
  const before = await x.read();
  // pairs (L+, L−): (3, 1) then (0, 2); rdsa: x −= lr · Σ (L+ − L−)·magn·r_i / (2n)
  spsa.step(() => tensor([3, 1, 0, 2])).dispose();
  const step = (2 * 0.5 * 1 + -2 * 0.5 * 2) / 4;
  assertClose(await x.read(), [...before].map((v) => v - step), { rtol: 1e-6 });
  x.flat!.dispose();
});

Deno.test("groups must share one sampler function", () => {
  const a = new Parameter([1]);
  const b = new Parameter([1]);
  const flat = new RandomGrad([a, b]).flat;
  const opt = new RandomGrad([{ params: [a], sampler: halfUniform }, {
    params: [b],
    sampler: (o) => void fill(o, 1),
  }]);
  assert.throws(() => opt.step(() => tensor([1, 2])), /same sampler function/);
  assert.throws(() => new RandomGrad([a], { sampler: 42 as unknown as "normal" }), /or a function/);
  flat.dispose();
});
