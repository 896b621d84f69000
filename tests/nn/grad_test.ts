// lossAndGrad against real PyTorch gradients (tests/golden/gradients.json, written by
// tests/golden/generate_grads.py), against finite differences, and row by row in a population.

import { lossAndGrad } from "../../src/nn/grad.ts";
import { crossEntropy, mseLoss } from "../../src/ops/loss.ts";
import { Module } from "../../src/nn/module.ts";
import { Sequential } from "../../src/nn/sequential.ts";
import { type Tensor, tensor } from "../../src/tensor.ts";
import { assert, assertClose, gpu } from "../_util.ts";
import { goldenSetup } from "./_grad_models.ts";

interface GradCase {
  name: string;
  model: "mnistCnn" | "small";
  softmaxHead?: boolean;
  reduction: "mean" | "sum" | "none";
  batch: number;
  loss: number[];
  grads: Record<string, number[]>;
}

const golden = JSON.parse(
  await Deno.readTextFile(new URL("../golden/gradients.json", import.meta.url)),
) as { cases: GradCase[] };

/** Float32 tolerance for a sum of many products: relative to the gradient's largest entry. */
function tolerance(expected: ArrayLike<number>): { rtol: number; atol: number } {
  let max = 0;
  for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(expected[i]));
  return { rtol: 1e-4, atol: 2e-5 * max + 1e-7 };
}

for (const c of golden.cases) {
  Deno.test(`lossAndGrad matches torch.autograd: ${c.name}`, async () => {
    const { model, x, y } = goldenSetup(c.model, c.batch, c.softmaxHead);
    const lossFn = c.model === "mnistCnn" ? crossEntropy : mseLoss;
    const loss = lossAndGrad(model, x, y, lossFn, { reduction: c.reduction });
    assertClose(await loss.read(), c.loss, { rtol: 1e-5, atol: 1e-6 }, `${c.name} loss`);
    const flat = model.flat;
    for (const [name, p] of model.namedParameters()) {
      const expected = c.grads[name];
      const got = await flat.readGrad(p);
      assert.ok(got !== null, `${name} has a gradient`);
      assertClose(got, expected, tolerance(expected), `${c.name} ${name}`);
    }
    for (const t of [loss, x, y]) t.dispose();
    flat.dispose();
  });
}

Deno.test("lossAndGrad gives every row of a population its own gradient, in one batched pass", async () => {
  const P = 3;
  const { model, x, y } = goldenSetup("mnistCnn", 2);
  const flat = model.flat;
  flat.setRows(P);
  // Rows 1 and 2: row 0 scaled, so each row has other gradients.
  const row0 = await flat.readRow(0);
  flat.loadRow(1, row0.map((v) => v * 0.5));
  flat.loadRow(2, row0.map((v, i) => v * (i % 3 === 0 ? -1 : 1.5)));
  const expected: Float32Array[][] = [];
  let single = 0;
  for (let r = 0; r < P; r++) {
    flat.setActive(1, r);
    const start = gpu.stats.dispatches;
    lossAndGrad(model, x, y, crossEntropy).dispose();
    single = gpu.stats.dispatches - start;
    expected.push(await Promise.all(flat.params.map(async (p) => (await flat.readGrad(p, r))!)));
  }
  flat.setActive(P, 0);
  const start = gpu.stats.dispatches;
  const losses = lossAndGrad(model, x, y, crossEntropy);
  assert.equal(gpu.stats.dispatches - start, single, "as many dispatches for 3 rows as for 1");
  assert.deepEqual(losses.shape, [P]);
  for (let r = 0; r < P; r++) {
    for (const [i, p] of flat.params.entries()) {
      const got = (await flat.readGrad(p, r))!;
      assertClose(got, expected[r][i], { rtol: 1e-5, atol: 1e-7 }, `row ${r} param ${i}`);
    }
  }
  for (const t of [losses, x, y]) t.dispose();
  flat.dispose();
});

Deno.test("lossAndGrad agrees with central finite differences of the forward loss", async () => {
  const { model, x, y } = goldenSetup("small", 2);
  const loss = lossAndGrad(model, x, y, mseLoss, { reduction: "sum" });
  loss.dispose();
  const flat = model.flat;
  const eps = 2e-3;
  for (const [name, p] of model.namedParameters()) {
    const grad = (await flat.readGrad(p))!;
    const values = await p.read();
    for (const j of [0, Math.floor(p.numel / 2), p.numel - 1]) {
      const at = (delta: number) => {
        const moved = Float32Array.from(values);
        moved[j] += delta;
        p.load(moved);
        return mseLoss(model.forward(x), y, { reduction: "sum" });
      };
      const [plus, minus] = [at(eps), at(-eps)];
      const fd = ((await plus.item()) - (await minus.item())) / (2 * eps);
      plus.dispose();
      minus.dispose();
      p.load(values);
      assert.ok(
        Math.abs(fd - grad[j]) <= 2e-2 * Math.abs(fd) + 2e-3,
        `${name}[${j}]: finite difference ${fd}, lossAndGrad ${grad[j]}`,
      );
    }
  }
  for (const t of [x, y]) t.dispose();
  flat.dispose();
});

Deno.test("lossAndGrad names what it cannot differentiate", () => {
  const { model, x, y } = goldenSetup("small", 2);
  assert.throws(
    () => lossAndGrad(model, x, y, ((a: unknown) => a) as unknown as typeof mseLoss),
    /can differentiate crossEntropy and mseLoss/,
  );
  class Doubler extends Module {
    forward(t: Tensor): Tensor {
      return t;
    }
  }
  const odd = new Sequential(model, new Doubler());
  assert.throws(() => lossAndGrad(odd, x, y, mseLoss), /no backward pass for Doubler/);
  const t = tensor([1, 2], [2]);
  assert.throws(() => lossAndGrad(model, x, t, mseLoss), /mseLoss/);
  for (const v of [x, y, t]) v.dispose();
  model.flat.dispose();
});
