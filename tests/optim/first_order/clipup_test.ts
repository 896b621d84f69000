// ClipUp against a plain TypeScript reference of its update.

import { Parameter } from "../../../src/params/flat.ts";
import { ClipUp } from "../../../src/optim/first_order/clipup.ts";
import { Generator } from "../../../src/rng.ts";
import { assert, assertClose } from "../../_util.ts";

/** v ← βv − α g/‖g‖; v ← v·min(1, vmax/‖v‖); x ← x + v, over every parameter together. */
function reference(
  x: number[],
  grads: number[][],
  o: { lr: number; momentum: number; maxSpeed: number },
) {
  const v = x.map(() => 0);
  const out: number[][] = [];
  for (const g of grads) {
    const gn = Math.hypot(...g);
    for (let j = 0; j < x.length; j++) v[j] = o.momentum * v[j] - (gn > 0 ? o.lr * g[j] / gn : 0);
    const vn = Math.hypot(...v);
    const scale = vn > o.maxSpeed ? o.maxSpeed / vn : 1;
    for (let j = 0; j < x.length; j++) {
      v[j] *= scale;
      x[j] += v[j];
    }
    out.push([...x]);
  }
  return out;
}

Deno.test("ClipUp follows its update rule, with norms over all parameters together", async () => {
  const g = new Generator(4);
  const a = new Parameter([0.5, -1, 2]);
  const b = new Parameter([1, 0, -0.5, 0.25, 3]);
  const o = { lr: 0.3, momentum: 0.8, maxSpeed: 0.45 };
  const opt = new ClipUp([a, b], o);
  const grads = Array.from(
    { length: 8 },
    (_, i) => i === 3 ? new Array(8).fill(0) : Array.from({ length: 8 }, () => g.normal()),
  );
  const expected = reference([0.5, -1, 2, 1, 0, -0.5, 0.25, 3], grads, o);
  for (let i = 0; i < grads.length; i++) {
    opt.zeroGrad();
    opt.flat.setGrad(a, grads[i].slice(0, 3));
    opt.flat.setGrad(b, grads[i].slice(3));
    opt.step();
    assertClose(
      [...await a.read(), ...await b.read()],
      expected[i],
      { rtol: 1e-5, atol: 1e-6 },
      `step ${i}`,
    );
  }
  const saved = await opt.stateDict();
  assert.ok(saved.state[0].velocity instanceof Float32Array);
  opt.dispose();
  a.flat!.dispose();
});

Deno.test("ClipUp rejects a zero step, a zero speed limit and a momentum of 1", () => {
  const x = new Parameter([1]);
  assert.throws(() => new ClipUp([x], { lr: 0 }), /lr must be > 0, received 0/);
  assert.throws(() => new ClipUp([x], { maxSpeed: -1 }), /maxSpeed must be > 0, received -1/);
  assert.throws(() => new ClipUp([x], { momentum: 1 }), /momentum must be in \[0, 1\)/);
  x.flat!.dispose();
});
