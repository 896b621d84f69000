// The original's two gradient-based uses of its composites, with gradients from lossAndGrad:
// a swarm of SGDs (all members' forward and backward in one batched pass) and the chain
// Nesterov SGD(lr=1, momentum=0.9) → Lion(lr=1e-2) (against PyTorch, tests/golden).

import { Lion } from "../../../src/optim/first_order/lion.ts";
import { SGD } from "../../../src/optim/first_order/sgd.ts";
import { GradChain } from "../../../src/optim/population/grad_chain.ts";
import { SwarmOfOptimizers } from "../../../src/optim/population/swarm.ts";
import { RandomGrad } from "../../../src/optim/zeroth_order/random_grad.ts";
import { lossAndGrad } from "../../../src/nn/grad.ts";
import { crossEntropy, mseLoss } from "../../../src/ops/loss.ts";
import { assert, assertClose } from "../../_util.ts";
import { goldenSetup } from "../../nn/_grad_models.ts";

const golden = JSON.parse(
  await Deno.readTextFile(new URL("../../golden/gradients.json", import.meta.url)),
) as { chain: { steps: number; batch: number; params: Record<string, number[]>[] } };

Deno.test("a swarm of 10 SGDs steps every member as SGD alone would, in one batched pass per step", async () => {
  const lrs = Array.from({ length: 10 }, (_, i) => 0.02 * (i + 1));
  const { model, x, y } = goldenSetup("mnistCnn", 4);
  const params = model.parameters();
  const start = await model.flat.readRow(0);
  const swarm = new SwarmOfOptimizers(
    params,
    lrs.map((lr) => new SGD(params, { lr, momentum: 0.5 })),
  );
  let calls = 0;
  const closure = () => {
    calls++;
    return lossAndGrad(model, x, y, crossEntropy);
  };
  const steps = 3;
  for (let s = 0; s < steps; s++) swarm.step(closure).dispose();
  assert.equal(calls, steps, "one closure call per step for all ten members");
  const { best } = await swarm.inspect();
  const flat = model.flat;
  const members = await flat.readRows(1, lrs.length);
  assertClose(await flat.readRow(0), members[best], { rtol: 0, atol: 0 }, "model row = best");
  // Each member against SGD alone on a fresh copy of the model, from the same start.
  for (const i of [0, 4, 9]) {
    const alone = goldenSetup("mnistCnn", 4);
    alone.model.flat.loadRow(0, start);
    const sgd = new SGD(alone.model.parameters(), { lr: lrs[i], momentum: 0.5 });
    for (let s = 0; s < steps; s++) {
      sgd.zeroGrad();
      sgd.step(() => lossAndGrad(alone.model, alone.x, alone.y, crossEntropy))?.dispose();
    }
    assertClose(
      members[i],
      await alone.model.flat.readRow(0),
      { rtol: 1e-4, atol: 1e-6 },
      `member ${i}`,
    );
    for (const t of [alone.x, alone.y]) t.dispose();
    alone.model.flat.dispose();
  }
  swarm.dispose();
  for (const t of [x, y]) t.dispose();
  flat.dispose();
});

Deno.test("a gradient swarm says so when the closure computes no gradients", () => {
  const { model, x, y } = goldenSetup("small", 2);
  const params = model.parameters();
  const swarm = new SwarmOfOptimizers(params, [new SGD(params), new SGD(params)]);
  assert.throws(
    () => swarm.step(() => mseLoss(model.forward(x), y)),
    /computed no gradients for row 1; return lossAndGrad/,
  );
  for (const t of [x, y]) t.dispose();
  model.flat.dispose();
});

Deno.test("a swarm mixing gradient-based and derivative-free members explains why it cannot", () => {
  const { model, x, y } = goldenSetup("small", 2);
  const params = model.parameters();
  assert.throws(
    () =>
      new SwarmOfOptimizers(params, [
        new SGD(params),
        new RandomGrad(params, { magn: 1e-3, opt: new SGD(params) }),
      ]),
    /member 0 \(SGD\) is gradient-based and member 1 \(RandomGrad\) derivative-free/,
  );
  for (const t of [x, y]) t.dispose();
  model.flat.dispose();
});

for (const style of ["step()", "step(closure)"]) {
  Deno.test(`GradChain([SGD(lr 1, momentum 0.9, nesterov), Lion(lr 1e-2)]) on backprop gradients matches PyTorch, ${style}`, async () => {
    const { model, x, y } = goldenSetup("small", golden.chain.batch);
    const params = model.parameters();
    const chain = new GradChain(params, [
      new SGD(params, { lr: 1, momentum: 0.9, nesterov: true }),
      new Lion(params, { lr: 1e-2 }),
    ]);
    for (let s = 0; s < golden.chain.steps; s++) {
      if (style === "step()") {
        chain.zeroGrad();
        lossAndGrad(model, x, y, mseLoss).dispose();
        chain.step().dispose();
      } else {
        const loss = chain.step(() => {
          chain.zeroGrad();
          return lossAndGrad(model, x, y, mseLoss);
        });
        assert.deepEqual(loss.shape, [], "the closure's loss");
        loss.dispose();
      }
      const state = await model.stateDict();
      for (const [name, expected] of Object.entries(golden.chain.params[s])) {
        // Lion moves every element by ±lr: a sign that float32 rounding could flip would be off
        // by 2·lr; none is.
        assertClose(state[name], expected, { rtol: 1e-5, atol: 1e-5 }, `step ${s + 1} ${name}`);
      }
    }
    chain.dispose();
    for (const t of [x, y]) t.dispose();
    model.flat.dispose();
  });
}
