// Golden trajectories: every case of tests/golden/optimizers.json (20 steps of real PyTorch,
// made by tests/golden/generate.py) replayed through our fused WGSL updates.

import { Parameter } from "../../../src/params/flat.ts";
import { Adam, AdamW } from "../../../src/optim/first_order/adam.ts";
import { Lion } from "../../../src/optim/first_order/lion.ts";
import type { Optimizer } from "../../../src/optim/optimizer.ts";
import { SGD } from "../../../src/optim/first_order/sgd.ts";
import golden from "../../golden/optimizers.json" with { type: "json" };
import { assertClose } from "../../_util.ts";

type Case = (typeof golden.cases)[number];

const CHECKED_STEPS = new Set([1, 2, 3, 5, 10, 15, 20]);

const CAMEL: Record<string, string> = { weight_decay: "weightDecay" };

function options(raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (k !== "params") out[CAMEL[k] ?? k] = v;
  return out;
}

// deno-lint-ignore no-explicit-any
const CLASSES: Record<string, new (params: any, options: any) => Optimizer<object>> = {
  SGD,
  Adam,
  AdamW,
  Lion,
};

function build(c: Case) {
  const params: Record<string, Parameter> = {};
  for (const [name, values] of Object.entries(c.init)) {
    params[name] = new Parameter(values, (c.shapes as Record<string, number[]>)[name]);
  }
  const groups = c.groups.map((g) => ({
    ...options(g as Record<string, unknown>),
    params: g.params.map((n) => params[n]),
  }));
  const opt = new CLASSES[c.optimizer](groups, options(c.defaults));
  return { params, opt };
}

for (const c of golden.cases) {
  Deno.test(`${c.optimizer} matches torch after 20 steps (${c.name})`, async () => {
    const { params, opt } = build(c);
    try {
      for (let step = 1; step <= c.steps.length; step++) {
        const record = c.steps[step - 1];
        opt.zeroGrad();
        for (const [name, grad] of Object.entries(record.grads)) {
          if (grad !== null) opt.flat.setGrad(params[name], grad);
        }
        opt.step();
        if (!CHECKED_STEPS.has(step)) continue;
        for (const [name, expected] of Object.entries(record.params)) {
          assertClose(
            await params[name].read(),
            expected,
            { rtol: 1e-5, atol: 1e-6 },
            `step ${step} ${name}`,
          );
        }
      }
    } finally {
      opt.dispose();
      opt.flat.dispose();
    }
  });
}
